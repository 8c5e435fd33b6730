// libFuzzer target for the Fenl front end (lexer, parser, name resolution, type checker).
// Properties checked beyond "no crash / no sanitizer report":
//  * a failed parse yields a diagnostic whose span lies inside the input and whose rendering
//    starts with "Parse error at L:C";
//  * parsing is deterministic (the same text gives the same tree);
//  * compiling a parsed query against a fixed catalog either yields a record-typed plan or a
//    parse/type error status — never another code.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fenl/parser.h"
#include "fenl/plan.h"

namespace {

using namespace tideline;
using namespace tideline::fenl;

const std::vector<TableDecl>& tables() {
  static const std::vector<TableDecl> kTables = [] {
    auto t = Type::record({{"time", Type::of(Kind::kTimestamp)},
                           {"key", Type::of(Kind::kString)},
                           {"n", Type::of(Kind::kI64)},
                           {"x", Type::of(Kind::kF64)},
                           {"flag", Type::of(Kind::kBool)},
                           {"s", Type::of(Kind::kString)}});
    auto u = Type::record({{"time", Type::of(Kind::kTimestamp)},
                           {"id", Type::of(Kind::kI64)},
                           {"v", Type::of(Kind::kU32)}});
    return std::vector<TableDecl>{{"Input", t, "time", "key", "", ""},
                                  {"Other", u, "time", "id", "", "others"}};
  }();
  return kTables;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_expression(text);
  if (!parsed) {
    const Diagnostic& d = parsed.error();
    if (d.span.begin < 0 || static_cast<size_t>(d.span.begin) > size || d.span.end < d.span.begin)
      std::abort();
    std::string rendered = render(d, text);
    if (rendered.rfind("Parse error at ", 0) != 0) std::abort();
    return 0;
  }
  auto again = parse_expression(text);
  if (!again || debug_string(**again) != debug_string(**parsed)) std::abort();
  static const std::vector<ViewDecl> kViews = {{"total", "sum(Input.n)"}};
  auto plan = compile_plan(text, tables(), kViews);
  if (plan) {
    if (!plan->root || plan->root->type->kind != Kind::kRecord) std::abort();
  } else if (plan.error().code() != StatusCode::kTypeError &&
             plan.error().code() != StatusCode::kParseError) {
    std::abort();
  }
  return 0;
}
