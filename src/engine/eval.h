#pragma once
// Batch evaluator of a Fenl plan over fully loaded tables (SEMANTICS §3-§7).
//
// Every expression evaluates to a Stream: a domain (sorted row keys (time, subsort,
// key_hash) with dense entity indices) plus one value column and a `new` flag per row.
// Operators combine streams by merging domains and "spreading" each argument into the
// merged domain (discrete values are null off their own rows, continuous values carry
// forward per entity). Per-entity state (aggregations, lag, shift_until buffers) lives in
// flat arrays indexed by entity, owned by the Evaluator for the duration of one run.

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "fenl/plan.h"

namespace tideline::engine {

struct Domain {
  std::vector<int64_t> time;
  std::vector<uint64_t> subsort;
  std::vector<uint64_t> key_hash;
  std::vector<uint32_t> entity;
  int grouping = -1;
  size_t size() const { return time.size(); }
};
using DomainPtr = std::shared_ptr<const Domain>;

struct Stream {
  DomainPtr domain;  // null: a constant without rows of its own (values has 1 row)
  Column values;
  std::vector<uint8_t> is_new;  // one per domain row
  bool continuous = false;
};

// Entity space of one grouping: key hash -> dense index, plus each entity's key value.
struct GroupingState {
  fenl::TypeRef key_type;
  std::unordered_map<uint64_t, uint32_t> index;
  std::vector<uint64_t> hashes;
  Column keys;  // one row per entity
  uint32_t intern(uint64_t hash, const Column& key_col, int64_t row);
  size_t size() const { return hashes.size(); }
};

// A table after preparation: rows sorted by (time, subsort, key_hash).
struct PreparedTable {
  DomainPtr domain;
  Column record;  // all columns, as the table's record type
};

class Evaluator {
 public:
  Evaluator(const fenl::Plan& plan, std::vector<GroupingState>& groupings, std::vector<PreparedTable>& tables)
      : plan_(plan), groupings_(groupings), tables_(tables) {}
  Result<Stream> eval(const fenl::NodePtr& node, const DomainPtr& ctx = nullptr);

 private:
  Result<Stream> eval_uncached(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_call(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_aggregation(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_tick(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_when(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_shift_to(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_shift_until(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_lag(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_lookup(const fenl::Node& node, const DomainPtr& ctx);
  Result<Stream> eval_with_key(const fenl::Node& node, const DomainPtr& ctx);
  // Evaluates args and spreads them into their union domain.
  Result<DomainPtr> align(const std::vector<const Stream*>& streams, std::vector<Column>& cols,
                          std::vector<uint8_t>& is_new);
  DomainPtr unite(const DomainPtr& a, const DomainPtr& b);
  const std::vector<int32_t>& mapping(const DomainPtr& sub, const DomainPtr& sup);
  Column spread(const Stream& s, const DomainPtr& u, std::vector<uint8_t>* is_new);
  bool needs_context(const fenl::Node& n);

  const fenl::Plan& plan_;
  std::vector<GroupingState>& groupings_;
  std::vector<PreparedTable>& tables_;
  std::map<std::pair<const fenl::Node*, const Domain*>, Stream> memo_;
  std::map<std::pair<const Domain*, const Domain*>, DomainPtr> unions_;
  std::map<std::pair<const Domain*, const Domain*>, std::vector<int32_t>> maps_;
  std::unordered_map<const fenl::Node*, bool> needs_ctx_;
  std::vector<DomainPtr> keep_alive_;
};

}  // namespace tideline::engine
