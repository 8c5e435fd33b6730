// Merging and spreading (docs/fenl.md#row-order, #continuity): domains unite by their row
// keys (time, subsort, key_hash); a stream spread into a larger domain is null off its own
// rows when discrete, and carries its latest value per entity forward when continuous,
// including values from earlier chunks (CarryState).

#include <algorithm>
#include <numeric>

#include "engine/eval.h"
#include "engine/operators/operator.h"

namespace tideline::engine {

void EntityIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.value == kMissing) continue;
    size_t i = s.hash & mask_;
    while (slots_[i].value != kMissing) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

uint32_t EntityIndex::insert(uint64_t hash, uint32_t next, bool* inserted) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.value == kMissing) {
      s.hash = hash;
      s.value = next;
      ++size_;
      *inserted = true;
      return next;
    }
    if (s.hash == hash) {
      *inserted = false;
      return s.value;
    }
  }
}

uint32_t GroupingState::intern(uint64_t hash, const Column& key_col, int64_t row) {
  bool inserted = false;
  uint32_t e = index.insert(hash, static_cast<uint32_t>(hashes.size()), &inserted);
  if (inserted) {
    hashes.push_back(hash);
    keys.append_from(key_col, row);
  }
  return e;
}

void Domain::materialize_keys() const {
  const size_t n = size();
  if (lazy_subsort_base) {
    subsort.resize(n);
    for (size_t i = 0; i < n; ++i) subsort[i] = *lazy_subsort_base + i;
    lazy_subsort_base.reset();
  }
  if (lazy_entity_hashes) {
    key_hash.resize(n);
    const std::vector<uint64_t>& h = *lazy_entity_hashes;
    for (size_t i = 0; i < n; ++i) key_hash[i] = h[entity[i]];
    lazy_entity_hashes = nullptr;
  }
}

bool triple_less(const Domain& a, size_t i, const Domain& b, size_t j) {
  if (a.time[i] != b.time[j]) return a.time[i] < b.time[j];
  if (a.subsort[i] != b.subsort[j]) return a.subsort[i] < b.subsort[j];
  return a.key_hash[i] < b.key_hash[j];
}
bool triple_eq(const Domain& a, size_t i, const Domain& b, size_t j) {
  return a.time[i] == b.time[j] && a.subsort[i] == b.subsort[j] && a.key_hash[i] == b.key_hash[j];
}

void push_row(Domain& d, const Domain& s, size_t i) {
  d.time.push_back(s.time[i]);
  d.subsort.push_back(s.subsort_at(i));
  d.key_hash.push_back(s.key_hash_at(i));
  d.entity.push_back(s.entity[i]);
}

Column bool_column(int64_t n, bool v) {
  Column c = alloc_column(DataType::of(TypeId::kBool), n);
  std::fill(c.ints().begin(), c.ints().end(), v ? 1 : 0);
  return c;
}

void append_column(Column& dst, const Column& src) {
  const int64_t base = dst.size(), n = src.size();
  if (n == 0) return;
  switch (storage_of(dst.type_id())) {
    case Storage::kInts:
      dst.ints().insert(dst.ints().end(), src.ints().begin(), src.ints().begin() + n);
      break;
    case Storage::kFloats:
      dst.floats().insert(dst.floats().end(), src.floats().begin(), src.floats().begin() + n);
      break;
    case Storage::kString: {
      uint32_t off = dst.offsets()[static_cast<size_t>(base)];
      const uint32_t s0 = src.offsets()[0];
      dst.chars().resize(off);
      dst.chars().append(src.chars(), s0, src.offsets()[static_cast<size_t>(n)] - s0);
      dst.offsets().resize(static_cast<size_t>(base) + 1);
      for (int64_t i = 1; i <= n; ++i)
        dst.offsets().push_back(src.offsets()[static_cast<size_t>(i)] - s0 + off);
      break;
    }
    case Storage::kChildren:
      for (size_t f = 0; f < dst.num_children(); ++f) append_column(dst.child(f), src.child(f));
      break;
    case Storage::kNone:
      break;
  }
  bool need_bits = !dst.validity().empty() || !src.all_valid();
  dst.set_size(base + n);
  if (need_bits) {
    auto& v = dst.validity();
    if (v.empty()) v.assign(static_cast<size_t>((base + 63) / 64), ~uint64_t{0});
    v.resize(static_cast<size_t>((base + n + 63) / 64), 0);
    if (base % 64) v[static_cast<size_t>(base / 64)] &= (uint64_t{1} << (base % 64)) - 1;
    for (int64_t i = 0; i < n; ++i) {
      if (src.is_valid(i))
        v[static_cast<size_t>((base + i) >> 6)] |= uint64_t{1} << ((base + i) & 63);
    }
  }
}

Column gather_refs(const Column& rows, const Column& stored, const std::vector<int64_t>& refs) {
  const int64_t n = rows.size();
  std::vector<int32_t> idx(refs.size());
  std::vector<int32_t> used;
  for (size_t i = 0; i < refs.size(); ++i) {
    const int64_t r = refs[i];
    if (r >= 0) {
      idx[i] = static_cast<int32_t>(r);
    } else if (r == -1) {
      idx[i] = -1;
    } else {
      idx[i] = static_cast<int32_t>(n + static_cast<int64_t>(used.size()));
      used.push_back(static_cast<int32_t>(ref_slot(r)));
    }
  }
  if (used.empty()) return gather(rows, idx);
  Column both = rows.type_id() == stored.type_id() ? rows : Column(stored.type());
  if (both.size() != n) {  // rows of another physical type (an all-null placeholder)
    for (int64_t i = 0; i < n; ++i) both.append_null();
  }
  append_column(both, gather(stored, used));
  return gather(both, idx);
}

void ValueStore::store(const Column& chunk, std::span<int64_t* const> refs) {
  std::vector<int32_t> rows;
  for (int64_t* r : refs)
    if (*r >= 0) rows.push_back(static_cast<int32_t>(*r));
  if (rows.empty()) return;
  if (values.type_id() != chunk.type_id() || values.size() == 0) {
    if (values.size() == 0) values = Column(chunk.type());
  }
  const int64_t base = values.size();
  append_column(values, gather(chunk, rows));
  int64_t k = 0;
  for (int64_t* r : refs)
    if (*r >= 0) *r = stored_ref(base + k++);
}

void ValueStore::compact(std::span<int64_t* const> refs, size_t live) {
  if (static_cast<size_t>(values.size()) <= 2 * live + 4096) return;
  std::vector<int32_t> keep;
  keep.reserve(live);
  for (int64_t* r : refs) {
    if (*r > -2) continue;
    keep.push_back(static_cast<int32_t>(ref_slot(*r)));
    *r = stored_ref(static_cast<int64_t>(keep.size()) - 1);
  }
  values = gather(values, keep);
}

void CarryState::update(const Stream& s, EntityScratch& scratch) {
  if (!s.domain || s.domain->size() == 0) return;
  const Domain& d = *s.domain;
  grouping = d.grouping;
  if (values.type_id() != s.values.type_id()) {
    values = Column(s.values.type());
    std::fill(slot.begin(), slot.end(), -1);
    live = 0;
  }
  scratch.begin(slot.size());
  std::vector<int32_t> rows;
  std::vector<uint32_t> ents;
  for (size_t i = d.size(); i-- > 0;) {
    const uint32_t e = d.entity[i];
    if (scratch.has(e)) continue;
    scratch.set(e, 0);
    rows.push_back(static_cast<int32_t>(i));
    ents.push_back(e);
  }
  const int64_t base = values.size();
  append_column(values, gather(s.values, rows));
  for (size_t k = 0; k < ents.size(); ++k) {
    const uint32_t e = ents[k];
    if (e >= slot.size()) slot.resize(e + 1, -1);
    if (slot[e] < 0) ++live;
    slot[e] = base + static_cast<int64_t>(k);
  }
  if (values.size() > 2 * live + 4096) {
    std::vector<int32_t> keep;
    for (int64_t& sl : slot) {
      if (sl < 0) continue;
      keep.push_back(static_cast<int32_t>(sl));
      sl = static_cast<int64_t>(keep.size()) - 1;
    }
    values = gather(values, keep);
  }
}

DomainPtr Evaluator::unite(const DomainPtr& a, const DomainPtr& b) {
  if (!a) return b;
  if (!b || a == b) return a;
  auto key = std::make_pair(std::min(a.get(), b.get()), std::max(a.get(), b.get()));
  if (auto it = unions_.find(key); it != unions_.end()) return it->second;
  a->ensure_keys();
  b->ensure_keys();
  auto u = std::make_shared<Domain>();
  u->grouping = a->grouping;
  const size_t cap = a->size() + b->size();
  u->time.reserve(cap);
  u->subsort.reserve(cap);
  u->key_hash.reserve(cap);
  u->entity.reserve(cap);
  // The merge also yields where each side's rows land, so spreading either side into the
  // union needs no second walk.
  std::vector<int32_t> map_a, map_b;
  map_a.reserve(cap);
  map_b.reserve(cap);
  size_t i = 0, j = 0;
  while (i < a->size() || j < b->size()) {
    if (j >= b->size() || (i < a->size() && triple_less(*a, i, *b, j))) {
      map_a.push_back(static_cast<int32_t>(i));
      map_b.push_back(-1);
      push_row(*u, *a, i++);
    } else if (i >= a->size() || triple_less(*b, j, *a, i)) {
      map_a.push_back(-1);
      map_b.push_back(static_cast<int32_t>(j));
      push_row(*u, *b, j++);
    } else {
      map_a.push_back(static_cast<int32_t>(i));
      map_b.push_back(static_cast<int32_t>(j));
      push_row(*u, *a, i++);
      ++j;
    }
  }
  DomainPtr up = u;
  unions_[key] = up;
  // A union absorbs its parts: uniting it with either again is the union itself.
  unions_[std::make_pair(std::min(up.get(), a.get()), std::max(up.get(), a.get()))] = up;
  unions_[std::make_pair(std::min(up.get(), b.get()), std::max(up.get(), b.get()))] = up;
  maps_[std::make_pair(a.get(), up.get())] = std::move(map_a);
  maps_[std::make_pair(b.get(), up.get())] = std::move(map_b);
  union_sides_[a.get()] = a;
  union_sides_[b.get()] = b;
  keep_alive_.push_back(up);
  return up;
}

const std::vector<int32_t>& Evaluator::mapping(const DomainPtr& sub, const DomainPtr& sup) {
  auto key = std::make_pair(sub.get(), sup.get());
  if (auto it = maps_.find(key); it != maps_.end()) return it->second;
  sub->ensure_keys();
  sup->ensure_keys();
  std::vector<int32_t> m(sup->size(), -1);
  size_t i = 0;
  for (size_t j = 0; j < sup->size() && i < sub->size(); ++j) {
    while (i < sub->size() && triple_less(*sub, i, *sup, j)) ++i;
    if (i < sub->size() && triple_eq(*sub, i, *sup, j)) m[j] = static_cast<int32_t>(i++);
  }
  return maps_[key] = std::move(m);
}

Column Evaluator::spread(const Stream& s, const DomainPtr& u, std::vector<uint8_t>* is_new) {
  size_t n = u ? u->size() : 1;
  if (!s.domain) {
    if (is_new) is_new->assign(n, 0);
    return broadcast(s.values, static_cast<int64_t>(n));
  }
  if (s.domain == u) {
    if (is_new) *is_new = s.is_new;
    return s.values;
  }
  const auto& m = mapping(s.domain, u);
  if (is_new) {
    is_new->assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      if (m[i] >= 0) (*is_new)[i] = s.is_new[static_cast<size_t>(m[i])];
    }
  }
  if (!s.continuous) return gather(s.values, m);
  if (!s.carry || s.carry->live == 0) {
    // Nothing from earlier chunks: the latest own row per entity, or null.
    std::vector<int32_t> last(groupings_[static_cast<size_t>(u->grouping)].size() + 1, -1);
    std::vector<int32_t> idx(n);
    for (size_t i = 0; i < n; ++i) {
      uint32_t e = u->entity[i];
      if (e >= last.size()) last.resize(e + 1, -1);
      if (m[i] >= 0) last[e] = m[i];
      idx[i] = last[e];
    }
    return gather(s.values, idx);
  }
  // Rows before the stream's first own row of an entity in this chunk take the entity's
  // value from earlier chunks.
  scratch_.begin(groupings_[static_cast<size_t>(u->grouping)].size());
  std::vector<int64_t> refs(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t e = u->entity[i];
    if (m[i] >= 0) scratch_.set(e, m[i]);
    int64_t r = scratch_.get(e);
    if (r < 0) {
      const int64_t sl = s.carry->slot_of(e);
      if (sl >= 0) r = stored_ref(sl);
    }
    refs[i] = r;
  }
  return gather_refs(s.values, s.carry->values, refs);
}

Result<DomainPtr> Evaluator::align(const std::vector<const Stream*>& streams, ColumnList& cols,
                                   std::vector<uint8_t>& is_new) {
  DomainPtr u;
  for (const Stream* s : streams) u = unite(u, s->domain);
  size_t n = u ? u->size() : 1;
  is_new.assign(u ? n : 0, 0);
  cols = ColumnList();
  std::vector<uint8_t> nw;
  for (const Stream* s : streams) {
    if (u && s->domain == u) {
      cols.borrow(s->values);  // already in the union domain: no copy
      for (size_t i = 0; i < n; ++i) is_new[i] |= s->is_new[i];
      continue;
    }
    cols.own(spread(*s, u, u ? &nw : nullptr));
    if (u) {
      for (size_t i = 0; i < n; ++i) is_new[i] |= nw[i];
    }
  }
  return u;
}

DomainPtr Evaluator::side_with_rows(const DomainPtr& u, const std::vector<int32_t>& rows) const {
  for (const auto& [key, m] : maps_) {
    if (key.second != u.get() || m.size() != u->size()) continue;
    auto side = union_sides_.find(key.first);
    if (side == union_sides_.end() || side->second->size() != rows.size()) continue;
    // m[i] = row of the side that lands at union row i, or -1. Equal counts and every kept
    // row mapping to the next side row in order means the kept rows are exactly the side.
    bool same = true;
    for (size_t k = 0; k < rows.size() && same; ++k)
      same = m[static_cast<size_t>(rows[k])] == static_cast<int32_t>(k);
    if (same) return side->second;
  }
  return nullptr;
}

}  // namespace tideline::engine
