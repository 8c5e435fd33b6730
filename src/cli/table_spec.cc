#include "cli/table_spec.h"

namespace tideline::cli {

Result<TableArg> parse_table_arg(const std::string& spec) {
  TableArg t;
  size_t start = 0;
  bool first = true;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string part = spec.substr(start, comma - start);
    start = comma + 1;
    size_t eq = part.find('=');
    if (eq == std::string::npos) {
      return error(StatusCode::kInvalidArgument,
                   "--table '" + spec + "': expected KEY=VALUE in '" + part + "'");
    }
    std::string k = part.substr(0, eq), v = part.substr(eq + 1);
    if (first) {
      t.name = k;
      t.path = v;
      first = false;
    } else if (k == "time") {
      t.time_column = v;
    } else if (k == "key") {
      t.key_column = v;
    } else if (k == "subsort") {
      t.subsort_column = v;
    } else if (k == "grouping") {
      t.grouping = v;
    } else {
      return error(StatusCode::kInvalidArgument,
                   "--table '" + spec + "': unknown option '" + k + "'");
    }
    if (comma == spec.size()) break;
  }
  if (t.name.empty() || t.path.empty() || t.time_column.empty() || t.key_column.empty()) {
    return error(
        StatusCode::kInvalidArgument,
        "--table '" + spec + "': expected NAME=PATH,time=COL,key=COL[,subsort=COL][,grouping=G]");
  }
  return t;
}

}  // namespace tideline::cli
