// lag(n, input) (docs/fenl.md#lag): at each row, the input's value n new, valid rows back
// for the row's entity (null until there are that many). Continuous. State between chunks
// (docs/formats/engine-state.md, kind 3): per entity a ring of the last n+1 consumed values
// and the number consumed.

#include "engine/operators/families.h"
#include "engine/operators/operator.h"

namespace tideline::engine {

using fenl::Node;

namespace {

struct LagState : OperatorState {
  size_t capacity = 0;
  std::vector<int64_t> ring;  // entity-major refs (gather_refs encoding), -1 empty
  std::vector<uint64_t> count;
  ValueStore store;
  EntityScratch touched;

  StateKind kind() const override { return StateKind::kLag; }
  void write_global(StateWriter& w) const override { w.u32(static_cast<uint32_t>(capacity)); }
  Status read_global(StateReader& r, bool merge) override {
    (void)merge;
    uint32_t cap = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u32(cap));
    if (cap == 0 || cap > (1u << 20)) return r.fail("lag capacity " + std::to_string(cap));
    if (!count.empty() && cap != capacity)
      return r.fail("lag capacity " + std::to_string(cap) + ", the state has " +
                    std::to_string(capacity));
    capacity = cap;
    return {};
  }
  void write_entities(StateWriter& w, std::span<const uint32_t> ents) const override {
    std::vector<uint64_t> counts;
    std::vector<int64_t> refs;
    refs.reserve(ents.size() * capacity);
    for (uint32_t e : ents) {
      const bool known = e < count.size();
      counts.push_back(known ? count[e] : 0);
      for (size_t k = 0; k < capacity; ++k) refs.push_back(known ? ring[e * capacity + k] : -1);
    }
    w.vec(counts);
    store.write_refs(w, refs);
  }
  Status read_entities(StateReader& r, std::span<const uint32_t> ents,
                       const std::vector<uint64_t>& hashes) override {
    (void)hashes;
    std::vector<uint64_t> counts;
    TL_RETURN_STATUS_IF_ERROR(r.vec(counts));
    if (counts.size() != ents.size()) return r.fail("lag counts do not match the entity count");
    std::vector<int64_t> refs;
    TL_RETURN_STATUS_IF_ERROR(store.read_refs(r, ents.size() * capacity, refs));
    size_t need = count.size();
    for (uint32_t e : ents) need = std::max<size_t>(need, size_t{e} + 1);
    count.resize(need, 0);
    ring.resize(need * capacity, -1);
    for (size_t i = 0; i < ents.size(); ++i) {
      count[ents[i]] = counts[i];
      for (size_t k = 0; k < capacity; ++k) {
        const int64_t ref = refs[i * capacity + k];
        // A ring slot the consumed count says is filled must hold a value (or be null, -1).
        ring[ents[i] * capacity + k] = ref;
      }
    }
    return {};
  }
};

Result<Stream> eval_lag(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr x_p, ev.eval(n.args[1], ctx));
  const Stream& x = *x_p;
  Stream s;
  s.continuous = true;
  s.domain = x.domain;
  s.is_new = x.is_new;
  if (!x.domain) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  const size_t cap = static_cast<size_t>(n.const_int) + 1;
  const size_t ents = ev.groupings()[static_cast<size_t>(x.domain->grouping)].size();
  if (ents * cap > 100'000'000) {
    return error(StatusCode::kInvalidArgument, "lag state too large: " + std::to_string(ents) +
                                                   " entities x " + std::to_string(cap) +
                                                   " values");
  }
  TL_ASSIGN_OR_RETURN(LagState * st, ev.state_for<LagState>(n, ctx.key, x.domain->grouping));
  st->capacity = cap;
  if (st->count.size() < ents) {
    st->count.resize(ents, 0);
    st->ring.resize(ents * cap, -1);
  }
  std::vector<int64_t>& ring = st->ring;
  std::vector<uint64_t>& count = st->count;
  std::vector<int64_t> idx(x.domain->size(), -1);
  for (size_t i = 0; i < x.domain->size(); ++i) {
    size_t e = x.domain->entity[i];
    if (x.is_new[i] && x.values.is_valid(static_cast<int64_t>(i))) {
      ring[e * cap + count[e] % cap] = static_cast<int64_t>(i);
      ++count[e];
    }
    if (count[e] >= cap) idx[i] = ring[e * cap + count[e] % cap];
  }
  s.values = gather_refs(x.values, st->store.values, idx);
  if (ev.chunk().keep_state) {
    st->touched.begin(ents);
    std::vector<int64_t*> refs;
    for (size_t i = 0; i < x.domain->size(); ++i) {
      uint32_t e = x.domain->entity[i];
      if (st->touched.has(e)) continue;
      st->touched.set(e, 0);
      for (size_t k = 0; k < cap; ++k) refs.push_back(&ring[e * cap + k]);
    }
    st->store.store(x.values, refs);
    if (static_cast<size_t>(st->store.values.size()) > 2 * ring.size() + 4096) {
      std::vector<int64_t*> all;
      for (int64_t& r : ring) all.push_back(&r);
      st->store.compact(all, ring.size());
    }
  }
  return s;
}

const OperatorDef kLagOps[] = {{"lag", eval_lag}};

}  // namespace

std::span<const OperatorDef> lag_operators() {
  return kLagOps;
}

Result<std::unique_ptr<OperatorState>> make_lag_state() {
  return std::unique_ptr<OperatorState>(new LagState());
}

}  // namespace tideline::engine
