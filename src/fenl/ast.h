#pragma once
// Fenl syntax tree. Operators are desugared to calls of their catalog functions at parse
// time (`a + b` -> add(a, b)); pipes and lets stay explicit for name resolution.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tideline::fenl {

// A byte range of the query text.
struct Span {
  int32_t begin = 0;
  int32_t end = 0;
};

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

enum class ExprKind : uint8_t {
  kNumber,  // text = digits (with '.'), suffix = type suffix or empty
  kString,  // text = unescaped value
  kBool,    // text = "true"/"false"
  kNull,
  kName,    // text = identifier
  kInput,   // $input
  kField,   // base.text
  kCall,    // text = function name, args
  kRecord,  // args: each named
  kLet,     // bindings then base = body
  kPipe,    // base | rhs
  kCast,    // base as text
};

struct Arg {
  std::string name;  // keyword / record field name; empty for positional
  ExprPtr value;
  Span name_span;
};

struct Expr {
  ExprKind kind = ExprKind::kNull;
  Span span;
  std::string text;
  std::string suffix;
  std::vector<Arg> args;  // call arguments, record fields, or let bindings (name = value)
  ExprPtr base;
  ExprPtr rhs;
  bool is_operator = false;  // a call written as an operator
};

}  // namespace tideline::fenl
