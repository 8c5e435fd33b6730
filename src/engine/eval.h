#pragma once
// Batch evaluator of a Fenl plan over fully loaded tables (SEMANTICS §3-§7).
//
// Every expression evaluates to a Stream: a domain (sorted row keys (time, subsort,
// key_hash) with dense entity indices) plus one value column and a `new` flag per row.
// Operators combine streams by merging domains and "spreading" each argument into the
// merged domain (discrete values are null off their own rows, continuous values carry
// forward per entity). Stateful operators (aggregations, lag, shift_until) keep their
// per-entity state in OperatorState objects held by an ExecState that the session owns:
// flat arrays indexed by entity, left describing each operator as of the last input row.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "engine/kernels.h"
#include "fenl/plan.h"

namespace tideline::engine {

struct Domain {
  std::vector<int64_t> time;
  // subsort and key_hash only order rows against other domains (unions, lookups, shifts);
  // a prepared table leaves them lazy (see ensure_keys) and many queries never need them.
  mutable std::vector<uint64_t> subsort;
  mutable std::vector<uint64_t> key_hash;
  std::vector<uint32_t> entity;
  int grouping = -1;
  size_t size() const { return time.size(); }

  // Lazy row keys: subsort[i] = *lazy_subsort_base + i, key_hash[i] =
  // (*lazy_entity_hashes)[entity[i]] (an entity's hash in its grouping, which never
  // changes once interned; the session sizes its groupings once, before preparing tables,
  // so the pointer stays valid). Code reading subsort or key_hash calls ensure_keys()
  // first, or reads single rows with subsort_at / key_hash_at.
  // Not thread-safe (the evaluator is single-threaded).
  mutable std::optional<uint64_t> lazy_subsort_base;
  mutable const std::vector<uint64_t>* lazy_entity_hashes = nullptr;
  void ensure_keys() const {
    if (lazy_subsort_base || lazy_entity_hashes) materialize_keys();
  }
  // One row's keys, without materializing a lazy domain.
  uint64_t subsort_at(size_t i) const {
    return lazy_subsort_base ? *lazy_subsort_base + i : subsort[i];
  }
  uint64_t key_hash_at(size_t i) const {
    return lazy_entity_hashes ? (*lazy_entity_hashes)[entity[i]] : key_hash[i];
  }

 private:
  void materialize_keys() const;
};
using DomainPtr = std::shared_ptr<const Domain>;

struct Stream {
  DomainPtr domain;  // null: a constant without rows of its own (values has 1 row)
  Column values;
  std::vector<uint8_t> is_new;  // one per domain row
  bool continuous = false;
};

using StreamPtr = std::shared_ptr<const Stream>;

// Open-addressing map from key hash to dense entity index. Key hashes are already well
// mixed, so they index the table directly (linear probing, load factor <= 1/2).
class EntityIndex {
 public:
  static constexpr uint32_t kMissing = UINT32_MAX;
  uint32_t find(uint64_t hash) const {
    if (slots_.empty()) return kMissing;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == kMissing) return kMissing;
      if (s.hash == hash) return s.value;
    }
  }
  // Returns the index for `hash`, inserting `next` if absent (and setting *inserted).
  uint32_t insert(uint64_t hash, uint32_t next, bool* inserted);

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t value = kMissing;
  };
  void grow();
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Entity space of one grouping: key hash -> dense index, plus each entity's key value.
struct GroupingState {
  fenl::TypeRef key_type;
  EntityIndex index;
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

// Per-entity state of one stateful operator: one plan node, in one tick context. Concrete
// kinds (accumulators per window segment, lag rings, shift_until buffers) are defined next
// to their operators in eval.cc; after a run, row references are resolved to values.
struct OperatorState {
  virtual ~OperatorState() = default;
};

// Everything an evaluation reads and leaves behind. Owned by the session; the Evaluator
// that fills it must live as long (operator keys refer to its tick-context domains).
struct ExecState {
  std::vector<GroupingState> groupings;
  std::vector<PreparedTable> tables;
  std::map<std::pair<const fenl::Node*, const Domain*>, std::unique_ptr<OperatorState>> operators;

  // The state of `node` in context `ctx`, created on first use.
  template <typename S>
  S& state_for(const fenl::Node& node, const Domain* ctx) {
    auto& slot = operators[{&node, ctx}];
    if (!slot) slot = std::make_unique<S>();
    return static_cast<S&>(*slot);
  }
};

class Evaluator {
 public:
  Evaluator(const fenl::Plan& plan, ExecState& state)
      : plan_(plan), state_(state), groupings_(state.groupings), tables_(state.tables) {}
  Result<StreamPtr> eval(const fenl::NodePtr& node, const DomainPtr& ctx = nullptr);
  // Final results only: the root record's aggregation fields that nothing else reads are
  // evaluated for each entity's last row at or before `cutoff` (all rows when unset) and
  // return a compact stream of just those rows (also for a root `record | when(is_valid(T))`
  // whose record reads only T's rows). Call before eval().
  void set_final_only(std::optional<int64_t> cutoff);

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
  Result<DomainPtr> align(const std::vector<const Stream*>& streams, ColumnList& cols,
                          std::vector<uint8_t>& is_new);
  DomainPtr unite(const DomainPtr& a, const DomainPtr& b);
  const std::vector<int32_t>& mapping(const DomainPtr& sub, const DomainPtr& sup);
  Column spread(const Stream& s, const DomainPtr& u, std::vector<uint8_t>* is_new);
  bool needs_context(const fenl::Node& n);
  // Tick-window fusion. `when(is_valid(T), v)` keeps only T's rows, so inside v an
  // aggregation windowed by `since(<tick>)` over T's rows needs the tick rows only as reset
  // points: with fusion on, it runs over T's own domain and resets where an entity's
  // consecutive rows straddle a tick, instead of uniting T with every entity's tick rows.
  // Values at T's rows are identical. when_fuses_ticks(n) checks that v qualifies (only
  // T's domain, no fused aggregation feeding another aggregation or a domain-changing
  // operator). Fused streams are memoized apart (fused_memo_), and fused operator state is
  // keyed apart, so nothing evaluated without fusion ever sees them.
  bool when_fuses_ticks(const fenl::Node& when) const;
  bool fusable(const fenl::Node& n, int table, bool in_aggregation, bool& has_tick) const;
  bool fuse_ticks_ = false;
  std::unordered_set<const fenl::Node*> final_only_;
  std::optional<int64_t> final_cutoff_;
  const fenl::Node* final_root_when_ = nullptr;
  std::map<std::pair<const fenl::Node*, const Domain*>, StreamPtr> fused_memo_;
  Domain fused_state_key_;  // stands in for the context in fused operator-state keys

  const fenl::Plan& plan_;
  ExecState& state_;
  std::vector<GroupingState>& groupings_;
  std::vector<PreparedTable>& tables_;
  std::map<std::pair<const fenl::Node*, const Domain*>, StreamPtr> memo_;
  // One stream per table, holding the prepared record. A field of a table that is never
  // read as a whole record is moved out of it on first use (the record keeps an all-null
  // placeholder of the same length) and shared by every reader through table_fields_.
  std::unordered_map<int, std::shared_ptr<Stream>> table_streams_;
  std::map<std::pair<int, int>, StreamPtr> table_fields_;
  std::unordered_map<int, bool> table_whole_;
  bool table_read_whole(int table);
  std::map<std::pair<const Domain*, const Domain*>, DomainPtr> unions_;
  std::map<std::pair<const Domain*, const Domain*>, std::vector<int32_t>> maps_;
  std::unordered_map<const fenl::Node*, bool> needs_ctx_;
  std::vector<DomainPtr> keep_alive_;
  // Every domain that is a side of a union, by address: `when` reuses one when its kept
  // rows are exactly that side's rows (so later operators see the original domain).
  std::map<const Domain*, DomainPtr> union_sides_;
  DomainPtr side_with_rows(const DomainPtr& u, const std::vector<int32_t>& rows) const;
};

}  // namespace tideline::engine
