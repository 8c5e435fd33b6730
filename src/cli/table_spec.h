#pragma once
// The `--table NAME=PATH,time=COL,key=COL[,subsort=COL][,grouping=G]` argument shared by
// `tideline query` and `tideline prepare`.

#include <string>

#include "common/status.h"

namespace tideline::cli {

struct TableArg {
  std::string name;
  std::string path;
  std::string time_column;
  std::string key_column;
  std::string subsort_column;
  std::string grouping;
};

// Errors quote the whole spec and say what was expected.
Result<TableArg> parse_table_arg(const std::string& spec);

}  // namespace tideline::cli
