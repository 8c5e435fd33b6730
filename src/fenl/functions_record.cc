// Record construction and projection (operators: engine/operators/scalar.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kRecord[] = {
    {"extend", "extend(extension: record, base: record) -> record", FnKind::kOperator,
     "base with the fields of extension added (extension wins)"},
    {"select_fields", "select_fields(record: record, const fields+: string) -> record",
     FnKind::kOperator, "record with only the named fields"},
    {"remove_fields", "remove_fields(record: record, const fields+: string) -> record",
     FnKind::kOperator, "record without the named fields"},
};

}  // namespace

std::span<const FunctionDef> record_functions() {
  return kRecord;
}

}  // namespace tideline::fenl
