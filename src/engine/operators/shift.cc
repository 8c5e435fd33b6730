// shift_to(time, value) and shift_until(predicate, value) (docs/fenl.md#shifts);
// shift_by compiles to shift_to.
//
// shift_to moves each row of `value` to the time given by `time` at that row (rows whose
// target lies before their own time, or is null, are dropped); shifted rows with equal
// targets keep their original order. shift_until holds each entity's rows until the
// entity's next row where `predicate` is true and releases them at that row's time.
// Released rows get consecutive subsorts from a counter that runs across chunks. State
// between chunks (docs/formats/engine-state.md, kinds 4 and 5): the waiting rows with their
// values, and the counter.

#include <algorithm>

#include "engine/operators/families.h"
#include "engine/operators/operator.h"

namespace tideline::engine {

using fenl::Node;

namespace {

struct ShiftToState : OperatorState {
  struct Pending {
    int64_t target;
    uint32_t entity;
    uint64_t hash;
    int64_t ref;
  };
  std::vector<Pending> pending;  // arrival order
  ValueStore store;
  uint64_t sub = 0;

  StateKind kind() const override { return StateKind::kShiftTo; }
  void snapshot(StateWriter& w) const override {
    w.u64(sub);
    w.u64(pending.size());
    for (const Pending& p : pending) {
      w.i64(p.target);
      w.u32(p.entity);
      w.u64(p.hash);
      w.i64(ValueStore::slot_of(p.ref));
    }
    w.column(store.values);
  }
  Status restore(StateReader& r) override {
    TL_RETURN_STATUS_IF_ERROR(r.u64(sub));
    uint64_t n = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u64(n));
    if (n > (uint64_t{1} << 31)) return r.fail("too many pending shifted rows");
    pending.resize(n);
    std::vector<int64_t> slots(n);
    for (size_t i = 0; i < n; ++i) {
      Pending& p = pending[i];
      TL_RETURN_STATUS_IF_ERROR(r.i64(p.target));
      TL_RETURN_STATUS_IF_ERROR(r.u32(p.entity));
      TL_RETURN_STATUS_IF_ERROR(r.u64(p.hash));
      TL_RETURN_STATUS_IF_ERROR(r.i64(slots[i]));
    }
    TL_ASSIGN_OR_RETURN(store.values, r.column());
    for (size_t i = 0; i < n; ++i) {
      TL_RETURN_STATUS_IF_ERROR(store.ref_from(r, slots[i], false, pending[i].ref));
    }
    return {};
  }
};

struct ShiftUntilState : OperatorState {
  std::vector<std::vector<int64_t>> pending;  // per entity, arrival order
  ValueStore store;
  uint64_t sub = 0;
  size_t waiting = 0;
  EntityScratch touched;

  StateKind kind() const override { return StateKind::kShiftUntil; }
  void snapshot(StateWriter& w) const override {
    w.u64(sub);
    std::vector<uint32_t> ents;
    for (uint32_t e = 0; e < pending.size(); ++e)
      if (!pending[e].empty()) ents.push_back(e);
    w.vec(ents);
    for (uint32_t e : ents) {
      std::vector<int64_t> slots;
      for (int64_t ref : pending[e]) slots.push_back(ValueStore::slot_of(ref));
      w.vec(slots);
    }
    w.column(store.values);
  }
  Status restore(StateReader& r) override {
    TL_RETURN_STATUS_IF_ERROR(r.u64(sub));
    std::vector<uint32_t> ents;
    TL_RETURN_STATUS_IF_ERROR(r.vec(ents));
    std::vector<std::vector<int64_t>> slots(ents.size());
    for (auto& s : slots) TL_RETURN_STATUS_IF_ERROR(r.vec(s));
    TL_ASSIGN_OR_RETURN(store.values, r.column());
    pending.clear();
    waiting = 0;
    for (size_t k = 0; k < ents.size(); ++k) {
      if (ents[k] > (1u << 31)) return r.fail("entity out of range");
      if (ents[k] >= pending.size()) pending.resize(ents[k] + 1);
      for (int64_t sl : slots[k]) {
        int64_t ref = -1;
        TL_RETURN_STATUS_IF_ERROR(store.ref_from(r, sl, false, ref));
        pending[ents[k]].push_back(ref);
        ++waiting;
      }
    }
    return {};
  }
};

Result<Stream> eval_shift_to(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(Aligned a, eval_aligned(ev, n, ctx, 2));
  const ColumnList& cols = a.cols;
  const DomainPtr& u = a.domain;
  Stream s;
  s.continuous = false;
  if (!u) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  u->ensure_keys();
  TL_ASSIGN_OR_RETURN(ShiftToState * st, ev.state_for<ShiftToState>(n, ctx.key));
  std::vector<ShiftToState::Pending> all = std::move(st->pending);
  st->pending.clear();
  for (size_t i = 0; i < u->size(); ++i) {
    if (!cols[0].is_valid(static_cast<int64_t>(i))) continue;
    int64_t target = cols[0].int_at(static_cast<int64_t>(i));
    if (target >= u->time[i])
      all.push_back({target, u->entity[i], u->key_hash[i], static_cast<int64_t>(i)});
  }
  const Chunk& chunk = ev.chunk();
  std::vector<ShiftToState::Pending> emit;
  for (auto& p : all) {
    if (chunk.terminal || p.target < chunk.to)
      emit.push_back(p);
    else
      st->pending.push_back(p);
  }
  std::stable_sort(emit.begin(), emit.end(),
                   [](const auto& a, const auto& b) { return a.target < b.target; });
  auto dom = std::make_shared<Domain>();
  dom->grouping = u->grouping;
  std::vector<int64_t> refs;
  refs.reserve(emit.size());
  for (const auto& p : emit) {
    dom->time.push_back(p.target);
    dom->subsort.push_back(st->sub++);
    dom->key_hash.push_back(p.hash);
    dom->entity.push_back(p.entity);
    refs.push_back(p.ref);
  }
  s.domain = dom;
  s.values = gather_refs(cols[1], st->store.values, refs);
  s.is_new.assign(dom->size(), 1);
  if (chunk.keep_state) {
    std::vector<int64_t*> waiting;
    for (auto& p : st->pending) waiting.push_back(&p.ref);
    st->store.store(cols[1], waiting);
    st->store.compact(waiting, waiting.size());
  }
  return s;
}

Result<Stream> eval_shift_until(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(Aligned a, eval_aligned(ev, n, ctx, 2));
  const ColumnList& cols = a.cols;
  const DomainPtr& u = a.domain;
  Stream s;
  s.continuous = false;
  if (!u) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  u->ensure_keys();
  TL_ASSIGN_OR_RETURN(ShiftUntilState * st, ev.state_for<ShiftUntilState>(n, ctx.key));
  auto& pending = st->pending;
  const size_t entities = ev.groupings()[static_cast<size_t>(u->grouping)].size();
  if (pending.size() < entities) pending.resize(entities);
  auto dom = std::make_shared<Domain>();
  dom->grouping = u->grouping;
  std::vector<int64_t> refs;
  for (size_t i = 0; i < u->size(); ++i) {
    uint32_t e = u->entity[i];
    if (e >= pending.size()) pending.resize(e + 1);
    pending[e].push_back(static_cast<int64_t>(i));
    ++st->waiting;
    if (cols[0].is_valid(static_cast<int64_t>(i)) && cols[0].int_at(static_cast<int64_t>(i)) != 0) {
      for (int64_t r : pending[e]) {
        dom->time.push_back(u->time[i]);
        dom->subsort.push_back(st->sub++);
        dom->key_hash.push_back(u->key_hash[i]);
        dom->entity.push_back(e);
        refs.push_back(r);
      }
      st->waiting -= pending[e].size();
      pending[e].clear();
    }
  }
  s.domain = dom;
  s.values = gather_refs(cols[1], st->store.values, refs);
  s.is_new.assign(dom->size(), 1);
  if (ev.chunk().keep_state) {
    st->touched.begin(pending.size());
    std::vector<int64_t*> chunk_refs;
    for (size_t i = 0; i < u->size(); ++i) {
      uint32_t e = u->entity[i];
      if (st->touched.has(e)) continue;
      st->touched.set(e, 0);
      for (int64_t& r : pending[e]) chunk_refs.push_back(&r);
    }
    st->store.store(cols[1], chunk_refs);
    if (static_cast<size_t>(st->store.values.size()) > 2 * st->waiting + 4096) {
      std::vector<int64_t*> all;
      for (auto& q : pending)
        for (int64_t& r : q) all.push_back(&r);
      st->store.compact(all, st->waiting);
    }
  }
  return s;
}

const OperatorDef kShiftOps[] = {
    {"shift_to", eval_shift_to},
    {"shift_until", eval_shift_until},
};

}  // namespace

std::span<const OperatorDef> shift_operators() {
  return kShiftOps;
}

Result<std::unique_ptr<OperatorState>> make_shift_state(StateKind kind) {
  if (kind == StateKind::kShiftTo) return std::unique_ptr<OperatorState>(new ShiftToState());
  return std::unique_ptr<OperatorState>(new ShiftUntilState());
}

}  // namespace tideline::engine
