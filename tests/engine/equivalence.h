#pragma once
// The incremental engine's core property (docs/fenl.md "Operator model"): running a query
// over its input split into random arrival chunks, advanced at random watermarks, with the
// session snapshotted, destroyed and restored into a new one at random points, yields
// exactly the batch result: the same rows in the same order (history), or the same latest
// row per entity (final, upserted by key).

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/time.h"
#include "engine/kernels.h"
#include "engine/query.h"
#include "engine/random_gen.h"

namespace tideline::engine {

struct TableInput {
  TableSpec spec;
  Batch batch;
};

struct EquivalenceStats {
  int advances = 0;
  int restores = 0;
  int pushes = 0;
};

inline Batch slice_rows(const Batch& b, int64_t from, int64_t to) {
  std::vector<int32_t> idx;
  for (int64_t i = from; i < to; ++i) idx.push_back(static_cast<int32_t>(i));
  Batch out;
  out.schema = b.schema;
  for (const auto& c : b.columns) out.columns.push_back(gather(c, idx));
  out.num_rows = to - from;
  return out;
}

// Times of a batch's rows as the engine reads them (INT64_MAX: no usable time).
inline std::vector<int64_t> batch_times(const TableInput& t) {
  const Column& c =
      t.batch.columns[static_cast<size_t>(t.batch.schema->field_index(t.spec.time_column))];
  std::vector<int64_t> out(static_cast<size_t>(t.batch.num_rows), INT64_MAX);
  for (int64_t i = 0; i < t.batch.num_rows; ++i) {
    if (!c.is_valid(i)) continue;
    if (storage_of(c.type_id()) == Storage::kInts) {
      out[static_cast<size_t>(i)] = c.int_at(i);
    } else if (storage_of(c.type_id()) == Storage::kFloats) {
      out[static_cast<size_t>(i)] = static_cast<int64_t>(c.float_at(i));
    } else if (c.type_id() == TypeId::kString) {
      auto p = parse_timestamp(c.string_at(i));
      if (p) out[static_cast<size_t>(i)] = *p;
    }
  }
  return out;
}

// How the incremental run interrupts itself at its random restore points:
//  - kSnapshot: snapshot(), a new session, restore();
//  - kDeltaChain: checkpoint(kFull) or checkpoint(kDelta) appended to a chain (a full image
//    every few checkpoints); at some of the points a new session restore_chain()s the chain
//    and continues it with further deltas;
//  - kSplitMerge: snapshot_partial() for 1 to 4 random Key_Shared hash-range sets covering
//    all 65536 slots, a new session restore_merge()s them in random order.
enum class RestoreMode { kSnapshot, kDeltaChain, kSplitMerge };

// One restore point of `mode` (see RestoreMode); `chain` is the delta chain so far.
inline std::string interrupt(std::unique_ptr<Session>& s,
                             const std::shared_ptr<const CompiledQuery>& cq, RestoreMode mode,
                             std::mt19937& rng, std::vector<std::string>& chain) {
  auto fresh = [&]() -> std::string {
    auto n = start_session(cq);
    if (!n) return "start_session failed";
    s = std::move(*n);
    return "";
  };
  if (mode == RestoreMode::kSnapshot) {
    auto bytes = s->snapshot();
    if (!bytes) return "snapshot: " + bytes.error().message();
    if (auto e = fresh(); !e.empty()) return e;
    Status rs = s->restore(*bytes);
    return rs.ok() ? "" : "restore: " + rs.message();
  }
  if (mode == RestoreMode::kDeltaChain) {
    const bool full = chain.empty() || rng() % 6 == 0;
    auto img = s->checkpoint(full ? ImageKind::kFull : ImageKind::kDelta);
    if (!img) return "checkpoint: " + img.error().message();
    if (full) chain.clear();
    chain.push_back(std::move(*img));
    if (rng() % 2) return "";  // keep going on the same session
    if (auto e = fresh(); !e.empty()) return e;
    std::vector<std::string_view> views(chain.begin(), chain.end());
    Status rs = s->restore_chain(views);
    return rs.ok() ? ""
                   : "restore_chain (" + std::to_string(chain.size()) + " images): " + rs.message();
  }
  // Split into 1..4 range sets: random cut points, each set takes every other range.
  const size_t parts = 1 + rng() % 4;
  std::vector<uint32_t> cuts{0};
  for (size_t i = 0; i < 2 * parts; ++i) cuts.push_back(static_cast<uint32_t>(rng() % 65536));
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(65536);
  std::vector<std::vector<KeyHashRange>> sets(parts);
  for (size_t i = 0; i + 1 < cuts.size(); ++i)
    if (cuts[i] < cuts[i + 1]) sets[i % parts].push_back({cuts[i], cuts[i + 1] - 1});
  std::vector<std::string> images;
  for (auto& set : sets) {
    auto img = s->snapshot_partial(key_hash_ranges(set));
    if (!img) return "snapshot_partial: " + img.error().message();
    images.push_back(std::move(*img));
  }
  std::shuffle(images.begin(), images.end(), rng);
  if (auto e = fresh(); !e.empty()) return e;
  std::vector<std::string_view> views(images.begin(), images.end());
  Status rs = s->restore_merge(views);
  return rs.ok() ? "" : "restore_merge (" + std::to_string(parts) + " partials): " + rs.message();
}

// Returns "" when the incremental runs equal the batch run, else what differed. A query that
// fails in batch must fail incrementally too (and vice versa).
inline std::string check_incremental(const std::string& query,
                                     const std::vector<TableInput>& tables,
                                     const std::vector<ViewSpec>& views, const ResultOptions& ro,
                                     uint32_t seed, EquivalenceStats* stats = nullptr,
                                     QueryOptions qo = {},
                                     RestoreMode mode = RestoreMode::kSnapshot) {
  std::vector<TableSpec> specs;
  for (const auto& t : tables) specs.push_back(t.spec);
  auto cq = compile(query, specs, views, qo);
  if (!cq) return "";  // compile errors are not this property's business
  // Batch.
  auto bs = start_session(*cq);
  if (!bs) return "start_session failed";
  for (const auto& t : tables) {
    Status st = (*bs)->add_input(t.spec.name, t.batch);
    if (!st.ok()) return "batch push: " + st.message();
  }
  auto expected = (*bs)->finish(ro);
  // Incremental.
  std::mt19937 rng(seed);
  std::mt19937 mode_rng(seed ^ 0x9e3779b9u);  // the restore mode's own choices
  std::vector<std::string> chain;
  auto session = start_session(*cq);
  if (!session) return "start_session failed";
  std::unique_ptr<Session> s = std::move(*session);
  struct Cursor {
    std::vector<int64_t> cuts;  // chunk boundaries
    size_t next = 0;            // next chunk
    std::vector<int64_t> times;
  };
  std::vector<Cursor> cur(tables.size());
  for (size_t i = 0; i < tables.size(); ++i) {
    const int64_t n = tables[i].batch.num_rows;
    cur[i].times = batch_times(tables[i]);
    const int64_t chunks = 1 + static_cast<int64_t>(rng() % 50);
    std::vector<int64_t> cuts{0, n};
    for (int64_t k = 1; k < chunks && n > 1; ++k)
      cuts.push_back(1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - 1)));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    cur[i].cuts = cuts;
  }
  auto unpushed_min = [&] {
    int64_t m = INT64_MAX;
    for (const auto& c : cur)
      if (c.next + 1 < c.cuts.size())
        for (int64_t r = c.cuts[c.next]; r < c.cuts.back(); ++r)
          m = std::min(m, c.times[static_cast<size_t>(r)]);
    return m;
  };
  std::vector<std::string> got_rows;
  std::map<std::string, std::string> got_final;
  auto collect = [&](const Batch& b) {
    for (auto& r : result_rows(b, 1)) got_rows.push_back(r);  // without _time for final
    if (ro.results == ResultBehavior::kHistory) return;
    for (int64_t i = 0; i < b.num_rows; ++i) {
      std::string key = cell_text(b.columns[1], i);
      std::string row;
      for (size_t c = 2; c < b.columns.size(); ++c) row += cell_text(b.columns[c], i) + "|";
      got_final[key] = row;
    }
  };
  std::vector<std::string> history_rows;  // with _time, for history
  ResultOptions step = ro;
  step.final_at.reset();
  TimestampNs w = INT64_MIN;
  Status failure;
  while (true) {
    std::vector<size_t> open;
    for (size_t i = 0; i < cur.size(); ++i)
      if (cur[i].next + 1 < cur[i].cuts.size()) open.push_back(i);
    if (open.empty()) break;
    size_t ti = open[rng() % open.size()];
    Cursor& c = cur[ti];
    Batch part = slice_rows(tables[ti].batch, c.cuts[c.next], c.cuts[c.next + 1]);
    ++c.next;
    Status st = s->push(tables[ti].spec.name, std::move(part));
    if (!st.ok()) return "push: " + st.message();
    if (stats) ++stats->pushes;
    if (rng() % 2 == 0) {
      const int64_t bound = unpushed_min();
      if (bound != INT64_MAX && bound >= w) {
        // A watermark in [w, bound]: often exactly at a row time, sometimes between.
        int64_t span = bound == w || w == INT64_MIN ? 0 : bound - w;
        int64_t pick =
            w == INT64_MIN
                ? bound - static_cast<int64_t>(rng() % 3) * 43'200'000'000'000LL
                : w + (span > 0
                           ? static_cast<int64_t>(rng() % static_cast<uint64_t>(std::min<int64_t>(
                                                              span, INT64_MAX / 2)))
                           : 0);
        if (rng() % 3 == 0) pick = bound;
        pick = std::clamp(pick, w, bound);
        // With final_at, the calls before finish() stay at or before final_at + 1ns, so
        // upserting every call's final rows gives the final values as of final_at.
        if (ro.final_at) pick = std::min(pick, std::max(w, *ro.final_at + 1));
        auto out = s->advance(pick, step);
        if (!out) {
          failure = out.error();
          break;
        }
        w = pick;
        if (stats) ++stats->advances;
        for (auto& r : result_rows(*out)) history_rows.push_back(r);
        collect(*out);
      }
    }
    if (rng() % 4 == 0) {
      std::string e = interrupt(s, *cq, mode, mode_rng, chain);
      if (!e.empty()) return e;
      if (stats) ++stats->restores;
    }
  }
  Result<Batch> last = failure.ok() ? s->finish(ro) : Result<Batch>(std::unexpected(failure));
  if (!expected || !last) {
    if (!expected && !last) return "";
    return std::string("batch ") +
           (expected ? "succeeded" : "failed: " + expected.error().message()) + ", incremental " +
           (last ? "succeeded" : "failed: " + last.error().message());
  }
  for (auto& r : result_rows(*last)) history_rows.push_back(r);
  collect(*last);
  if (ro.results == ResultBehavior::kHistory) {
    std::vector<std::string> want = result_rows(*expected);
    if (want == history_rows) return "";
    std::string msg = "history differs: batch " + std::to_string(want.size()) +
                      " rows, incremental " + std::to_string(history_rows.size());
    for (size_t i = 0; i < std::max(want.size(), history_rows.size()); ++i) {
      std::string a = i < want.size() ? want[i] : "<none>";
      std::string b = i < history_rows.size() ? history_rows[i] : "<none>";
      if (a != b) {
        msg += "; first difference at row " + std::to_string(i) + ": batch " + a +
               " vs incremental " + b;
        break;
      }
    }
    return msg;
  }
  std::map<std::string, std::string> want;
  for (int64_t i = 0; i < expected->num_rows; ++i) {
    std::string row;
    for (size_t c = 2; c < expected->columns.size(); ++c)
      row += cell_text(expected->columns[c], i) + "|";
    want[cell_text(expected->columns[1], i)] = row;
  }
  if (want != got_final) {
    std::string msg = "final results differ: batch " + std::to_string(want.size()) +
                      " entities, incremental " + std::to_string(got_final.size());
    for (const auto& [k, v] : want) {
      auto it = got_final.find(k);
      if (it == got_final.end() || it->second != v) {
        msg += "; entity " + k + ": batch " + v + " vs incremental " +
               (it == got_final.end() ? "<none>" : it->second);
        break;
      }
    }
    return msg;
  }
  return "";
}

}  // namespace tideline::engine
