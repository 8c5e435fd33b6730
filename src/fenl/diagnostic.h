#pragma once
// Compile diagnostics with source positions, rendered as
//   Parse error at 3:14: expected ')' but found 'in'
//     let x = f(1 in x
//                 ^
// Thread-safety: plain values.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "fenl/ast.h"

namespace tideline::fenl {

enum class Stage { kParse, kType, kWarning };

struct Diagnostic {
  Stage stage = Stage::kParse;
  Span span;
  std::string message;
  std::string source_name;  // "" for the query, else the view's name
};

// 1-based line and column (in bytes) of `offset` in `text`.
std::pair<int, int> line_column(std::string_view text, int32_t offset);
// Renders one diagnostic with its line and caret.
std::string render(const Diagnostic& d, std::string_view text);
// Status carrying all rendered diagnostics (kParseError or kTypeError by the first one).
Status to_status(const std::vector<Diagnostic>& ds, std::string_view text);
// Up to three of `candidates` close to `name` (by edit distance), quoted and comma-separated,
// for "nearest matches" hints; "" if none is close.
std::string nearest_names(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace tideline::fenl
