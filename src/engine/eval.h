#pragma once
// The Fenl engine's execution core (docs/fenl.md, "Operator model").
//
// A session runs the plan over its input in *chunks*: each chunk holds the input rows with
// time in [from, to) and evaluates every plan node once over them, columnar. Every
// expression evaluates to a Stream: a domain (rows ordered by (time, subsort, key_hash), with
// dense entity indices) plus one value column and a `new` flag per row. Operators combine
// streams by merging domains and "spreading" each argument into the merged domain (discrete
// values are null off their own rows, continuous values carry forward per entity).
//
// What survives from one chunk to the next is explicit and held as values, never as row
// indices (the chunk's rows are freed after it):
//  - the entity dictionaries (GroupingState),
//  - per stateful operator, an OperatorState (src/engine/operators/operator.h) keyed by the
//    node's stable id and its tick-context id,
//  - per continuous stream, its latest value per entity (CarryState), read when a later
//    chunk spreads the stream into rows before the stream's own first row in that chunk.
// The batch case is one chunk covering all input; it keeps no state and may use plan
// rewrites (tick-window fusion, final-only aggregation).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
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
  // changes once interned; the vector object lives as long as the session). Code reading
  // subsort or key_hash calls ensure_keys() first, or reads single rows with subsort_at /
  // key_hash_at. Not thread-safe (the evaluator is single-threaded).
  mutable std::optional<uint64_t> lazy_subsort_base;
  mutable const std::vector<uint64_t>* lazy_entity_hashes = nullptr;
  void ensure_keys() const {
    if (lazy_subsort_base || lazy_entity_hashes) materialize_keys();
  }
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

struct CarryState;

struct Stream {
  DomainPtr domain;  // null: a constant without rows of its own (values has 1 row)
  Column values;
  std::vector<uint8_t> is_new;  // one per domain row
  bool continuous = false;
  // A continuous stream's values per entity from earlier chunks (null in a session's only
  // chunk, and for constants).
  const CarryState* carry = nullptr;
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

// A table's rows of one chunk, sorted by (time, subsort, key_hash).
struct PreparedTable {
  DomainPtr domain;
  Column record;  // all columns, as the table's record type
};

// Per-entity scratch values with epoch stamps: begin() clears it in O(1), so per-chunk
// work stays proportional to the chunk, not to the number of entities ever seen.
class EntityScratch {
 public:
  void begin(size_t entities) {
    if (stamp_.size() < entities) {
      stamp_.resize(entities, 0);
      value_.resize(entities, -1);
    }
    if (++epoch_ == 0) {
      std::fill(stamp_.begin(), stamp_.end(), 0);
      epoch_ = 1;
    }
  }
  bool has(uint32_t e) const { return e < stamp_.size() && stamp_[e] == epoch_; }
  int64_t get(uint32_t e) const { return has(e) ? value_[e] : -1; }
  void set(uint32_t e, int64_t v) {
    if (e >= stamp_.size()) {
      stamp_.resize(e + 1, 0);
      value_.resize(e + 1, -1);
    }
    stamp_[e] = epoch_;
    value_[e] = v;
  }

 private:
  std::vector<uint32_t> stamp_;
  std::vector<int64_t> value_;
  uint32_t epoch_ = 0;
};

class OperatorState;  // engine/operators/operator.h

// The latest value of one continuous stream per entity, as stored values.
struct CarryState {
  Column values;              // slots
  std::vector<int64_t> slot;  // per entity: its slot, or -1
  int64_t live = 0;           // entities with a slot
  int grouping = -1;          // of the stream's domain (images list its entities)
  int64_t slot_of(uint32_t e) const { return e < slot.size() ? slot[e] : -1; }
  // Records the stream's value at each entity's last row of the chunk.
  void update(const Stream& s, EntityScratch& scratch);
};

// Where tick rows come from: the domain whose entities tick, and the stable id of the plan
// node that produced it (state of operators under a context is keyed by it).
struct Ctx {
  DomainPtr domain;
  int key = -1;
};
inline constexpr int kFusedCtx = -2;  // state key of fused (terminal-only) evaluations

// The time range one evaluation covers.
struct Chunk {
  int64_t from = INT64_MIN;            // input rows at or after (the previous frontier)
  int64_t to = INT64_MAX;              // input rows before (the new frontier)
  int64_t max_input_time = INT64_MIN;  // latest input time seen: ticks fire at or before it
  bool terminal = true;                // the input has ended: pending shifted rows flush
  bool keep_state = false;             // later chunks follow: keep carries and stored values
};

// Everything that outlives a chunk, owned by the session.
struct ExecState {
  std::vector<GroupingState> groupings;
  std::map<std::pair<int, int>, std::unique_ptr<OperatorState>> operators;
  std::map<std::pair<int, int>, CarryState> carries;
};

class Evaluator;
// An operator family's evaluation of one call node over the chunk.
using OperatorFn = Result<Stream> (*)(Evaluator& ev, const fenl::Node& n, const Ctx& ctx);
struct OperatorDef {
  std::string_view name;
  OperatorFn eval;
  // The result has exactly the rows of its aligned arguments (tick-window fusion may look
  // through it).
  bool keeps_domain = false;
};
// The operator registry: every non-element-wise function (aggregations, ticks, windows,
// when, shifts, lag, lookup, with_key, record functions, time_of). Element-wise functions
// run as kernels (engine/functions). nullptr: not an operator.
const OperatorDef* find_operator(std::string_view name);
std::span<const OperatorDef> all_operators();

// Evaluates a plan over one chunk's tables. Lives for one chunk; state lives in ExecState.
class Evaluator {
 public:
  Evaluator(const fenl::Plan& plan, const std::unordered_map<const fenl::Node*, int>& ids,
            ExecState& state, std::vector<PreparedTable>& tables, const Chunk& chunk)
      : plan_(plan),
        ids_(ids),
        state_(state),
        groupings_(state.groupings),
        tables_(tables),
        chunk_(chunk) {}
  Result<StreamPtr> eval(const fenl::NodePtr& node, const Ctx& ctx = {});
  // Final results only (terminal single chunk): the root record's aggregation fields that
  // nothing else reads are evaluated for each entity's last row at or before `cutoff` (all
  // rows when unset) and return a compact stream of just those rows (also for a root
  // `record | when(is_valid(T))` whose record reads only T's rows). Call before eval().
  void set_final_only(std::optional<int64_t> cutoff);
  // Tick-window fusion (terminal single chunk only; see operators/when.cc).
  void enable_fusion(bool on) { fusion_allowed_ = on; }
  // After the chunk: records every continuous stream's latest values for the next chunk.
  void commit_carries();
  // Every distinct domain the chunk evaluated (streams, unions, contexts), once each: the
  // session's change tracking marks their entities.
  template <typename F>
  void for_each_domain(F&& f) const {
    std::unordered_set<const Domain*> seen;
    auto visit = [&](const Domain* d) {
      if (d && seen.insert(d).second) f(*d);
    };
    for (const DomainPtr& d : keep_alive_) visit(d.get());
    for (const auto& [k, d] : unions_) visit(d.get());
    for (const auto& [k, s] : memo_) visit(s->domain.get());
    for (const auto& [k, s] : fused_memo_) visit(s->domain.get());
  }

  // --- for operator families -------------------------------------------------------
  const fenl::Plan& plan() const { return plan_; }
  const Chunk& chunk() const { return chunk_; }
  std::vector<GroupingState>& groupings() { return groupings_; }
  int id(const fenl::Node& n) const { return ids_.at(&n); }
  // The state of operator `n` in context `ctx_key`, created on first use. An existing state
  // of another kind (a corrupt restore) is an error.
  // `grouping`: the grouping of the entities the state is indexed by (images list them).
  template <typename S, typename... A>
  Result<S*> state_for(const fenl::Node& n, int ctx_key, int grouping, A&&... args) {
    auto& slot = state_.operators[{id(n), ctx_key}];
    if (!slot) slot = std::make_unique<S>(std::forward<A>(args)...);
    S* s = dynamic_cast<S*>(slot.get());
    if (!s)
      return error(StatusCode::kInternal,
                   "operator state of node @" + std::to_string(id(n)) + " has another kind");
    if (s->grouping != grouping && s->grouping >= 0)
      return error(StatusCode::kInternal,
                   "operator state of node @" + std::to_string(id(n)) + " changed its grouping");
    s->grouping = grouping;
    return s;
  }
  // Spreads args into their union domain.
  Result<DomainPtr> align(const std::vector<const Stream*>& streams, ColumnList& cols,
                          std::vector<uint8_t>& is_new);
  DomainPtr unite(const DomainPtr& a, const DomainPtr& b);
  const std::vector<int32_t>& mapping(const DomainPtr& sub, const DomainPtr& sup);
  Column spread(const Stream& s, const DomainPtr& u, std::vector<uint8_t>* is_new);
  DomainPtr side_with_rows(const DomainPtr& u, const std::vector<int32_t>& rows) const;
  // Fusion and final-only (see set_final_only, operators/when.cc).
  bool fusing() const { return fuse_ticks_; }
  void set_fusing(bool on) { fuse_ticks_ = on; }
  bool fusion_allowed() const { return fusion_allowed_; }
  bool final_only(const fenl::Node& n) const { return final_only_.count(&n) > 0; }
  std::optional<int64_t> final_cutoff() const { return final_cutoff_; }
  const fenl::Node* final_root_when() const { return final_root_when_; }
  bool when_fuses_ticks(const fenl::Node& when) const;
  bool fusable(const fenl::Node& n, int table, bool in_aggregation, bool& has_tick) const;
  void keep_alive(DomainPtr d) { keep_alive_.push_back(std::move(d)); }
  // Per-entity scratch for an operator's own loop (spread uses it too: do not hold it across
  // calls to eval/align/spread).
  EntityScratch& scratch() { return scratch_; }

 private:
  Result<Stream> eval_uncached(const fenl::Node& node, const Ctx& ctx);
  bool needs_context(const fenl::Node& n);
  bool table_read_whole(int table);

  bool fuse_ticks_ = false;
  bool fusion_allowed_ = false;
  std::unordered_set<const fenl::Node*> final_only_;
  std::optional<int64_t> final_cutoff_;
  const fenl::Node* final_root_when_ = nullptr;

  const fenl::Plan& plan_;
  const std::unordered_map<const fenl::Node*, int>& ids_;
  ExecState& state_;
  std::vector<GroupingState>& groupings_;
  std::vector<PreparedTable>& tables_;
  Chunk chunk_;
  EntityScratch scratch_;
  std::map<std::pair<const fenl::Node*, const Domain*>, StreamPtr> memo_;
  std::map<std::pair<const fenl::Node*, const Domain*>, StreamPtr> fused_memo_;
  // Continuous streams of this chunk whose latest values the next chunk needs.
  std::vector<std::pair<CarryState*, StreamPtr>> carried_;
  // One stream per table, holding the prepared record. A field of a table that is never
  // read as a whole record is moved out of it on first use (the record keeps an all-null
  // placeholder of the same length) and shared by every reader through table_fields_.
  std::unordered_map<int, std::shared_ptr<Stream>> table_streams_;
  std::map<std::pair<int, int>, StreamPtr> table_fields_;
  std::unordered_map<int, bool> table_whole_;
  std::map<std::pair<const Domain*, const Domain*>, DomainPtr> unions_;
  std::map<std::pair<const Domain*, const Domain*>, std::vector<int32_t>> maps_;
  std::unordered_map<const fenl::Node*, bool> needs_ctx_;
  std::vector<DomainPtr> keep_alive_;
  // Every domain that is a side of a union, by address: `when` reuses one when its kept
  // rows are exactly that side's rows (so later operators see the original domain).
  std::map<const Domain*, DomainPtr> union_sides_;
};

// Helpers shared by operator families (operators/merge.cc).
bool triple_less(const Domain& a, size_t i, const Domain& b, size_t j);
bool triple_eq(const Domain& a, size_t i, const Domain& b, size_t j);
void push_row(Domain& d, const Domain& s, size_t i);
Column bool_column(int64_t n, bool v);
// Appends all rows of `src` to `dst` (same type), buffer-wise.
void append_column(Column& dst, const Column& src);
// Row i of the result: refs[i] >= 0 is row refs[i] of `rows`, refs[i] <= -2 is row
// (-refs[i] - 2) of `stored`, -1 is null. Work is proportional to refs.size().
Column gather_refs(const Column& rows, const Column& stored, const std::vector<int64_t>& refs);
inline int64_t stored_ref(int64_t slot) {
  return -slot - 2;
}
inline int64_t ref_slot(int64_t ref) {
  return -ref - 2;
}

}  // namespace tideline::engine
