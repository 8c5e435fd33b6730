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

// Position of each listed entity in `ents` (-1: not listed), for grouping per-entity records.
std::vector<int32_t> list_positions(std::span<const uint32_t> ents) {
  size_t n = 0;
  for (uint32_t e : ents) n = std::max<size_t>(n, size_t{e} + 1);
  std::vector<int32_t> pos(n, -1);
  for (size_t i = 0; i < ents.size(); ++i) pos[ents[i]] = static_cast<int32_t>(i);
  return pos;
}

struct ShiftToState : OperatorState {
  struct Pending {
    int64_t target;
    uint32_t entity;
    uint64_t hash;
    int64_t ref;
    uint64_t seq;  // arrival number: restores keep the arrival order across entities
  };
  std::vector<Pending> pending;  // arrival order
  ValueStore store;
  uint64_t sub = 0;
  uint64_t arrivals = 0;

  StateKind kind() const override { return StateKind::kShiftTo; }
  void write_global(StateWriter& w) const override {
    w.u64(sub);
    w.u64(arrivals);
  }
  Status read_global(StateReader& r, bool merge) override {
    uint64_t s = 0, a = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u64(s));
    TL_RETURN_STATUS_IF_ERROR(r.u64(a));
    sub = merge ? std::max(sub, s) : s;
    arrivals = merge ? std::max(arrivals, a) : a;
    return {};
  }
  void write_entities(StateWriter& w, std::span<const uint32_t> ents) const override {
    const std::vector<int32_t> pos = list_positions(ents);
    std::vector<std::vector<const Pending*>> by(ents.size());
    for (const Pending& p : pending)
      if (p.entity < pos.size() && pos[p.entity] >= 0)
        by[static_cast<size_t>(pos[p.entity])].push_back(&p);
    std::vector<uint32_t> counts;
    std::vector<int64_t> targets, refs;
    std::vector<uint64_t> seqs;
    for (const auto& rows : by) {
      counts.push_back(static_cast<uint32_t>(rows.size()));
      for (const Pending* p : rows) {
        targets.push_back(p->target);
        seqs.push_back(p->seq);
        refs.push_back(p->ref);
      }
    }
    w.vec(counts);
    w.vec(targets);
    w.vec(seqs);
    store.write_refs(w, refs);
  }
  Status read_entities(StateReader& r, std::span<const uint32_t> ents,
                       const std::vector<uint64_t>& hashes) override {
    std::vector<uint32_t> counts;
    std::vector<int64_t> targets, refs;
    std::vector<uint64_t> seqs;
    TL_RETURN_STATUS_IF_ERROR(r.vec(counts));
    TL_RETURN_STATUS_IF_ERROR(r.vec(targets));
    TL_RETURN_STATUS_IF_ERROR(r.vec(seqs));
    if (counts.size() != ents.size()) return r.fail("pending counts do not match the entities");
    uint64_t total = 0;
    for (uint32_t c : counts) total += c;
    if (targets.size() != total || seqs.size() != total)
      return r.fail("pending rows do not match their counts");
    TL_RETURN_STATUS_IF_ERROR(store.read_refs(r, total, refs));
    const std::vector<int32_t> pos = list_positions(ents);
    std::erase_if(pending,
                  [&](const Pending& p) { return p.entity < pos.size() && pos[p.entity] >= 0; });
    size_t k = 0;
    for (size_t i = 0; i < ents.size(); ++i) {
      if (ents[i] >= hashes.size()) return r.fail("pending entity out of range");
      for (uint32_t j = 0; j < counts[i]; ++j, ++k) {
        if (refs[k] == -1) return r.fail("pending row without a value");
        pending.push_back({targets[k], ents[i], hashes[ents[i]], refs[k], seqs[k]});
      }
    }
    std::stable_sort(pending.begin(), pending.end(),
                     [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
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
  void write_global(StateWriter& w) const override { w.u64(sub); }
  Status read_global(StateReader& r, bool merge) override {
    uint64_t s = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u64(s));
    sub = merge ? std::max(sub, s) : s;
    return {};
  }
  void write_entities(StateWriter& w, std::span<const uint32_t> ents) const override {
    std::vector<uint32_t> counts;
    std::vector<int64_t> refs;
    for (uint32_t e : ents) {
      const size_t c = e < pending.size() ? pending[e].size() : 0;
      counts.push_back(static_cast<uint32_t>(c));
      if (c) refs.insert(refs.end(), pending[e].begin(), pending[e].end());
    }
    w.vec(counts);
    store.write_refs(w, refs);
  }
  Status read_entities(StateReader& r, std::span<const uint32_t> ents,
                       const std::vector<uint64_t>& hashes) override {
    std::vector<uint32_t> counts;
    TL_RETURN_STATUS_IF_ERROR(r.vec(counts));
    if (counts.size() != ents.size()) return r.fail("waiting counts do not match the entities");
    uint64_t total = 0;
    for (uint32_t c : counts) total += c;
    if (total > r.remaining()) return r.fail("waiting values exceed the data");
    std::vector<int64_t> refs;
    TL_RETURN_STATUS_IF_ERROR(store.read_refs(r, total, refs));
    size_t k = 0;
    for (size_t i = 0; i < ents.size(); ++i) {
      const uint32_t e = ents[i];
      if (e >= hashes.size()) return r.fail("waiting entity out of range");
      if (e >= pending.size()) pending.resize(size_t{e} + 1);
      waiting -= pending[e].size();
      pending[e].clear();
      for (uint32_t j = 0; j < counts[i]; ++j, ++k) {
        if (refs[k] == -1) return r.fail("waiting row without a value");
        pending[e].push_back(refs[k]);
      }
      waiting += pending[e].size();
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
  TL_ASSIGN_OR_RETURN(ShiftToState * st, ev.state_for<ShiftToState>(n, ctx.key, u->grouping));
  std::vector<ShiftToState::Pending> all = std::move(st->pending);
  st->pending.clear();
  for (size_t i = 0; i < u->size(); ++i) {
    if (!cols[0].is_valid(static_cast<int64_t>(i))) continue;
    int64_t target = cols[0].int_at(static_cast<int64_t>(i));
    if (target >= u->time[i])
      all.push_back(
          {target, u->entity[i], u->key_hash[i], static_cast<int64_t>(i), st->arrivals++});
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
  TL_ASSIGN_OR_RETURN(ShiftUntilState * st, ev.state_for<ShiftUntilState>(n, ctx.key, u->grouping));
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
