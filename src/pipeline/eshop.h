#pragma once
// A synthetic e-shop clickstream shaped like the public UCI "clickstream data for online
// shopping" set (a clothing shop, 2008 April-August), with the original demo's 16 columns.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tideline::pipeline {

// Column names in file order.
const std::vector<std::string>& eshop_columns();

struct EshopOptions {
  int64_t rows = 10000;
  uint64_t seed = 42;
  bool header = false;
  // At most this many distinct `session` ids (0 = one per visit): visit v gets session
  // ((v - 1) mod sessions) + 1, so a long stream keeps a bounded set of session entities
  // (memory benchmarks). so_key stays unique (it numbers visits).
  int64_t sessions = 0;
};

struct EshopStats {
  int64_t rows = 0;
  int64_t sessions = 0;
  int64_t days = 0;
};

// Writes the data set as CSV to `path` ("-" = stdout). Deterministic for (rows, seed).
Result<EshopStats> generate_eshop(const std::string& path, const EshopOptions& options);

}  // namespace tideline::pipeline
