#pragma once
// Resolved, type-checked Fenl expression graph (the "plan" the engine executes).
// Nodes are immutable and shared (a let binding used twice is one node), so the engine
// evaluates each node once per context.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/batch.h"
#include "fenl/ast.h"
#include "fenl/types.h"

namespace tideline::fenl {

enum class Op : uint8_t {
  kLiteral,  // literal value (continuous, no rows of its own)
  kTable,    // table `table` as a record of all its columns
  kField,    // args[0].field
  kRecord,   // {names[i]: args[i]}
  kCast,     // args[0] as type
  kCall,     // catalog function `fn` with bound, implicitly cast args (defaults filled)
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct Node {
  Op op = Op::kLiteral;
  TypeRef type;
  std::string fn;                  // kCall: function name
  std::vector<NodePtr> args;       // kCall: parameters in signature order
  std::vector<std::string> names;  // kRecord field names; select/remove field names; kField name
  Value literal;                   // kLiteral
  int table = -1;                  // kTable: index into the table list
  int grouping = -1;               // -1: no grouping (literal-only)
  bool continuous = false;
  int64_t const_int = 0;  // lag n, sliding n
  Span span;
};

struct TableInfo {
  std::string name;
  TypeRef type;  // record of all columns
  std::string time_column;
  std::string key_column;
  std::string subsort_column;
  int grouping = 0;
};

struct GroupingInfo {
  std::string name;
  TypeRef key_type;
};

struct Plan {
  NodePtr root;  // record-typed
  std::vector<TableInfo> tables;
  std::vector<GroupingInfo> groupings;
  std::vector<std::string> warnings;
};

struct TableDecl {
  std::string name;
  TypeRef type;  // record of all columns
  std::string time_column;
  std::string key_column;
  std::string subsort_column;
  std::string grouping;  // empty = table name
};

struct ViewDecl {
  std::string name;
  std::string expression;
};

// Parses, resolves and type-checks `query`. Errors: Status with kParseError or kTypeError
// whose message holds every diagnostic rendered with line:column and caret.
// With `require_record` a non-record result is an error (E0013); otherwise it becomes the
// single field `result`.
Result<Plan> compile_plan(std::string_view query, const std::vector<TableDecl>& tables,
                          const std::vector<ViewDecl>& views, bool require_record = false);

// Whether `fn` is an aggregation (takes a `window` parameter).
bool is_aggregation(std::string_view fn);
bool is_tick(std::string_view fn);

}  // namespace tideline::fenl
