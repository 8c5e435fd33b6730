// lookup(key, value) and with_key(key, value) (docs/fenl.md#lookup, #with-key).
//
// lookup reads, at each row of `key`, the value of the entity named by the key in another
// grouping: its latest value at or before the row when `value` is continuous, else only a
// value at exactly the same row. Values from earlier chunks come from the value stream's
// carry. with_key re-keys rows into another grouping (interning new entities) and re-sorts
// them by the new key's hash. Neither keeps state of its own between chunks.

#include <algorithm>
#include <numeric>

#include "engine/operators/families.h"
#include "engine/operators/operator.h"

namespace tideline::engine {

using fenl::Node;

namespace {

Result<Stream> eval_lookup(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr k_p, ev.eval(n.args[0], ctx));
  const Stream& k = *k_p;
  TL_ASSIGN_OR_RETURN(StreamPtr v_p, ev.eval(n.args[1], Ctx{}));
  const Stream& v = *v_p;
  Stream s;
  s.continuous = n.continuous;
  s.domain = k.domain;
  s.is_new = k.is_new;
  if (!k.domain) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  const Domain& kd = *k.domain;
  kd.ensure_keys();
  if (v.domain) v.domain->ensure_keys();
  if (v.domain && v.domain->grouping >= 0) {
    const GroupingState& fg = ev.groupings()[static_cast<size_t>(v.domain->grouping)];
    const Domain& vd = *v.domain;
    EntityScratch& last = ev.scratch();
    last.begin(fg.size());
    std::vector<int64_t> idx(kd.size(), -1);
    size_t j = 0;
    for (size_t i = 0; i < kd.size(); ++i) {
      while (j < vd.size() && (vd.time[j] < kd.time[i] ||
                               (vd.time[j] == kd.time[i] && vd.subsort[j] <= kd.subsort[i]))) {
        last.set(vd.entity[j], static_cast<int64_t>(j));
        ++j;
      }
      uint64_t h = hash_value_at(k.values, *n.args[0]->type, static_cast<int64_t>(i));
      uint32_t fe = fg.index.find(h);
      if (fe == EntityIndex::kMissing) continue;
      int64_t r = last.get(fe);
      if (r < 0) {
        // No row of this entity yet in the chunk: its value from earlier chunks.
        if (v.continuous && v.carry && v.carry->slot_of(fe) >= 0)
          idx[i] = stored_ref(v.carry->slot_of(fe));
        continue;
      }
      if (!v.continuous && !(vd.time[static_cast<size_t>(r)] == kd.time[i] &&
                             vd.subsort[static_cast<size_t>(r)] == kd.subsort[i])) {
        continue;
      }
      idx[i] = r;
    }
    s.values = v.carry ? gather_refs(v.values, v.carry->values, idx)
                       : gather_refs(v.values, Column(v.values.type()), idx);
  } else if (!v.domain) {
    s.values = broadcast(v.values, static_cast<int64_t>(kd.size()));
  } else {
    std::vector<int32_t> none(kd.size(), -1);
    s.values = gather(v.values, none);
  }
  return s;
}

Result<Stream> eval_with_key(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(Aligned a, eval_aligned(ev, n, ctx, 2));
  const ColumnList& cols = a.cols;
  const std::vector<uint8_t>& is_new = a.is_new;
  const DomainPtr& u = a.domain;
  Stream s;
  s.continuous = n.continuous;
  if (!u) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  GroupingState& g = ev.groupings()[static_cast<size_t>(n.grouping)];
  if (!g.key_type) {
    g.key_type = n.args[0]->type;
    g.keys = Column(fenl::physical_type(*g.key_type));
  }
  u->ensure_keys();
  const size_t rows = u->size();
  std::vector<uint64_t> hashes(rows);
  std::vector<uint32_t> ents(rows);
  for (size_t i = 0; i < rows; ++i) {
    hashes[i] = hash_value_at(cols[0], *n.args[0]->type, static_cast<int64_t>(i));
    ents[i] = g.intern(hashes[i], cols[0], static_cast<int64_t>(i));
  }
  std::vector<int32_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    size_t x = static_cast<size_t>(a), y = static_cast<size_t>(b);
    if (u->time[x] != u->time[y]) return u->time[x] < u->time[y];
    if (u->subsort[x] != u->subsort[y]) return u->subsort[x] < u->subsort[y];
    return hashes[x] < hashes[y];
  });
  auto dom = std::make_shared<Domain>();
  dom->grouping = n.grouping;
  dom->time.reserve(rows);
  dom->subsort.reserve(rows);
  dom->key_hash.reserve(rows);
  dom->entity.reserve(rows);
  s.is_new.reserve(rows);
  for (int32_t r : order) {
    size_t i = static_cast<size_t>(r);
    dom->time.push_back(u->time[i]);
    dom->subsort.push_back(u->subsort[i]);
    dom->key_hash.push_back(hashes[i]);
    dom->entity.push_back(ents[i]);
    s.is_new.push_back(is_new[i]);
  }
  s.domain = dom;
  s.values = gather(cols[1], order);
  return s;
}

const OperatorDef kLookupOps[] = {
    {"lookup", eval_lookup},
    {"with_key", eval_with_key},
};

}  // namespace

std::span<const OperatorDef> lookup_operators() {
  return kLookupOps;
}

}  // namespace tideline::engine
