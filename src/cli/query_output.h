#pragma once
// Fast result writers for `tideline query`: CSV without per-cell allocation (formatted in
// chunks, on two threads for large results) and the .tlc columnar format.

#include <cstdio>
#include <span>

#include "common/batch.h"
#include "common/status.h"

namespace tideline::cli {

// True when write_csv_fast can write every column of `b` (flat columns; no records).
bool csv_fast_supported(const Batch& b);

// Writes a header line and every row of `b` as CSV to `out`, byte-identical to the query
// command's reference writer: nulls are empty cells, timestamps are
// YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ, floats the shortest round-trip form (".0" appended to
// integral values, NaN, inf, -inf), bools true/false, strings quoted when they hold
// , " CR or LF. `threads` > 1 formats chunks in parallel (output order is kept).
// `dictionaries` as for io::write_columnar: a non-null entry makes that (u32) column print
// the string it indexes.
Status write_csv_fast(const Batch& b, std::FILE* out, int threads,
                      std::span<const Column* const> dictionaries = {});

}  // namespace tideline::cli
