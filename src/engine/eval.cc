#include "engine/eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <unordered_set>

#include "common/time.h"
#include "engine/kernels.h"

namespace tideline::engine {

Column json_field(const Column& c, std::string_view name);

using fenl::Kind;
using fenl::Node;
using fenl::NodePtr;
using fenl::Op;

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

namespace {

inline bool triple_less(const Domain& a, size_t i, const Domain& b, size_t j) {
  if (a.time[i] != b.time[j]) return a.time[i] < b.time[j];
  if (a.subsort[i] != b.subsort[j]) return a.subsort[i] < b.subsort[j];
  return a.key_hash[i] < b.key_hash[j];
}
inline bool triple_eq(const Domain& a, size_t i, const Domain& b, size_t j) {
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

std::vector<int32_t> iota_idx(size_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

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

bool Evaluator::needs_context(const Node& n) {
  if (auto it = needs_ctx_.find(&n); it != needs_ctx_.end()) return it->second;
  bool r = n.op == Op::kCall && fenl::is_tick(n.fn);
  for (const auto& a : n.args) r = r || needs_context(*a);
  needs_ctx_[&n] = r;
  return r;
}

bool Evaluator::table_read_whole(int table) {
  if (auto it = table_whole_.find(table); it != table_whole_.end()) return it->second;
  // A table's record is read whole unless every use is a field access or a presence test.
  bool whole = plan_.root->op == Op::kTable && plan_.root->table == table;
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> todo{plan_.root.get()};
  while (!todo.empty() && !whole) {
    const Node* n = todo.back();
    todo.pop_back();
    if (!seen.insert(n).second) continue;
    for (const auto& a : n->args) {
      if (a->op == Op::kTable && a->table == table) {
        bool presence =
            n->op == Op::kCall && (n->fn == "is_valid" || n->fn == "is_null" || n->fn == "count");
        if (n->op != Op::kField && !presence) whole = true;
      }
      todo.push_back(a.get());
    }
  }
  table_whole_[table] = whole;
  return whole;
}

void Evaluator::set_final_only(std::optional<int64_t> cutoff) {
  final_cutoff_ = cutoff;
  final_only_.clear();
  final_root_when_ = nullptr;
  const Node& root = *plan_.root;
  // `v | when(is_valid(T))` with v a record over T's rows only: every row of v is a row of
  // T, so the final value is v's at each entity's last row, and v's record stands in for
  // the root (eval_when then returns v as it is).
  const Node* rec = &root;
  if (root.op == Op::kCall && root.fn == "when" && root.args.size() == 2 &&
      root.args[1]->op == Op::kRecord) {
    const Node& c = *root.args[0];
    bool has_tick = false;
    if (c.op == Op::kCall && c.fn == "is_valid" && c.args.size() == 1 &&
        c.args[0]->op == Op::kTable && fusable(*root.args[1], c.args[0]->table, false, has_tick)) {
      rec = root.args[1].get();
    }
  }
  if (rec->op != Op::kRecord) return;
  // Parents of every node (edges counted with multiplicity): an aggregation read by
  // anything besides the root record must keep its per-row values.
  std::unordered_map<const Node*, int> parents;
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> todo{&root};
  while (!todo.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    if (!seen.insert(n).second) continue;
    for (const auto& a : n->args) {
      ++parents[a.get()];
      todo.push_back(a.get());
    }
  }
  if (rec != &root) {
    if (parents[rec] != 1) return;
    final_root_when_ = &root;
  }
  for (const auto& a : rec->args) {
    if (a->op == Op::kCall && fenl::is_aggregation(a->fn) && parents[a.get()] == 1)
      final_only_.insert(a.get());
  }
}

Result<StreamPtr> Evaluator::eval(const NodePtr& node, const DomainPtr& ctx) {
  if (node->op == Op::kTable) {
    // One shared stream per table: the prepared record column is moved in, never copied.
    auto& slot = table_streams_[node->table];
    if (!slot) {
      auto& t = tables_[static_cast<size_t>(node->table)];
      auto s = std::make_shared<Stream>();
      s->domain = t.domain;
      s->values = std::move(t.record);
      s->is_new.assign(t.domain->size(), 1);
      s->continuous = false;
      slot = s;
    }
    return slot;
  }
  if (node->op == Op::kField && node->args[0]->op == Op::kTable &&
      node->args[0]->type->kind == Kind::kRecord && !table_read_whole(node->args[0]->table)) {
    const int ti = node->args[0]->table;
    const int idx = node->args[0]->type->field_index(node->names[0]);
    auto& cached = table_fields_[{ti, idx}];
    if (cached) return cached;
    TL_ASSIGN_OR_RETURN(StreamPtr t_p, eval(node->args[0], ctx));
    Stream& t = *table_streams_.at(ti);
    if (t.values.validity().empty() && idx >= 0) {
      Column& child = t.values.child(static_cast<size_t>(idx));
      auto f = std::make_shared<Stream>();
      f->domain = t.domain;
      f->is_new = t.is_new;
      f->continuous = t.continuous;
      f->values = std::move(child);
      child = Column(DataType::of(TypeId::kNull));
      child.set_size(t.values.size());
      cached = std::move(f);
      return cached;
    }
  }
  DomainPtr c = needs_context(*node) ? ctx : nullptr;
  auto key = std::make_pair(node.get(), c.get());
  auto& memo = fuse_ticks_ ? fused_memo_ : memo_;
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  TL_ASSIGN_OR_RETURN(Stream s, eval_uncached(*node, c));
  if (s.domain) keep_alive_.push_back(s.domain);
  auto p = std::make_shared<const Stream>(std::move(s));
  memo[key] = p;
  return p;
}

Result<Stream> Evaluator::eval_uncached(const Node& n, const DomainPtr& ctx) {
  switch (n.op) {
    case Op::kLiteral: {
      Stream s;
      s.values = literal_column(n.literal, *n.type);
      s.continuous = true;
      return s;
    }
    case Op::kTable: {
      const auto& t = tables_[static_cast<size_t>(n.table)];
      Stream s;
      s.domain = t.domain;
      s.values = t.record;
      s.is_new.assign(t.domain->size(), 1);
      s.continuous = false;
      return s;
    }
    case Op::kField: {
      TL_ASSIGN_OR_RETURN(StreamPtr b_p, eval(n.args[0], ctx));
      const Stream& b = *b_p;

      Stream s;
      s.domain = b.domain;
      s.is_new = b.is_new;
      s.continuous = b.continuous;
      if (n.args[0]->type->kind == Kind::kJson) {
        s.values = json_field(b.values, n.names[0]);
        return s;
      }
      int idx = n.args[0]->type->field_index(n.names[0]);
      s.values = b.values.child(static_cast<size_t>(idx));
      if (!b.values.validity().empty()) {
        and_validity(s.values, {&s.values, &b.values});
      }
      return s;
    }
    case Op::kRecord: {
      std::vector<StreamPtr> args;
      for (const auto& a : n.args) {
        TL_ASSIGN_OR_RETURN(StreamPtr s, eval(a, ctx));
        args.push_back(std::move(s));
      }
      std::vector<const Stream*> ptrs;
      for (const auto& a : args) ptrs.push_back(a.get());
      ColumnList cols;
      Stream s;
      TL_ASSIGN_OR_RETURN(s.domain, align(ptrs, cols, s.is_new));
      Column rec(fenl::physical_type(*n.type));
      int64_t rows = cols.empty() ? 0 : cols[0].size();
      for (size_t f = 0; f < cols.size(); ++f) rec.child(f) = cols.take(f);
      rec.set_size(rows);
      s.values = std::move(rec);
      s.continuous = n.continuous;
      return s;
    }
    case Op::kCast: {
      TL_ASSIGN_OR_RETURN(StreamPtr b, eval(n.args[0], ctx));
      Stream s;
      s.domain = b->domain;
      s.is_new = b->is_new;
      s.continuous = b->continuous;
      s.values = cast_column(b->values, *n.args[0]->type, *n.type);
      return s;
    }
    case Op::kCall:
      return eval_call(n, ctx);
  }
  return error(StatusCode::kInternal, "unknown node");
}

Result<Stream> Evaluator::eval_call(const Node& n, const DomainPtr& ctx) {
  const std::string& fn = n.fn;
  if (fenl::is_aggregation(fn)) return eval_aggregation(n, ctx);
  if (fenl::is_tick(fn)) return eval_tick(n, ctx);
  if (fn == "when" || fn == "if" || fn == "null_if") return eval_when(n, ctx);
  if (fn == "shift_to") return eval_shift_to(n, ctx);
  if (fn == "shift_until") return eval_shift_until(n, ctx);
  if (fn == "lag") return eval_lag(n, ctx);
  if (fn == "lookup") return eval_lookup(n, ctx);
  if (fn == "with_key") return eval_with_key(n, ctx);
  if (fn == "since" || fn == "sliding") {
    return error(StatusCode::kTypeError,
                 "'" + fn + "' can only be used as an aggregation's window");
  }
  if (fn == "time_of") {
    TL_ASSIGN_OR_RETURN(StreamPtr x_p, eval(n.args[0], ctx));
    const Stream& x = *x_p;
    Stream s;
    s.domain = x.domain;
    s.continuous = false;
    if (!x.domain) {
      s.values = literal_column(Value{}, *n.type);
      return s;
    }
    s.is_new = x.is_new;
    Column c =
        alloc_column(DataType::of(TypeId::kTimestamp), static_cast<int64_t>(x.domain->size()));
    std::copy(x.domain->time.begin(), x.domain->time.end(), c.ints().begin());
    s.values = std::move(c);
    return s;
  }
  if (fn == "extend" || fn == "select_fields" || fn == "remove_fields") {
    std::vector<StreamPtr> args;
    for (const auto& a : n.args) {
      TL_ASSIGN_OR_RETURN(StreamPtr s, eval(a, ctx));
      args.push_back(std::move(s));
    }
    std::vector<const Stream*> ptrs;
    for (const auto& a : args) ptrs.push_back(a.get());
    ColumnList cols;
    Stream s;
    TL_ASSIGN_OR_RETURN(s.domain, align(ptrs, cols, s.is_new));
    int64_t rows = cols[0].size();
    Column rec(fenl::physical_type(*n.type));
    for (size_t f = 0; f < n.type->fields.size(); ++f) {
      const std::string& name = n.type->fields[f].name;
      for (size_t a = 0; a < n.args.size(); ++a) {
        const auto& at = *n.args[a]->type;
        int idx = at.kind == Kind::kRecord ? at.field_index(name) : -1;
        if (idx < 0) continue;
        Column child = cols[a].child(static_cast<size_t>(idx));
        if (!cols[a].validity().empty()) and_validity(child, {&child, &cols[a]});
        rec.child(f) = std::move(child);
        break;
      }
      if (rec.child(f).size() != rows) {
        rec.child(f) = alloc_column(rec.child(f).type(), rows);
        for (int64_t i = 0; i < rows; ++i) rec.child(f).set_valid(i, false);
      }
    }
    rec.set_size(rows);
    if (fn != "extend") rec.validity() = cols[0].validity();
    s.values = std::move(rec);
    s.continuous = n.continuous;
    return s;
  }
  // Element-wise function.
  std::vector<StreamPtr> args;
  for (const auto& a : n.args) {
    TL_ASSIGN_OR_RETURN(StreamPtr s, eval(a, ctx));
    args.push_back(std::move(s));
  }
  std::vector<const Stream*> ptrs;
  std::vector<fenl::TypeRef> types;
  for (size_t i = 0; i < args.size(); ++i) {
    ptrs.push_back(args[i].get());
    types.push_back(n.args[i]->type);
  }
  ColumnList cols;
  Stream s;
  TL_ASSIGN_OR_RETURN(s.domain, align(ptrs, cols, s.is_new));
  TL_ASSIGN_OR_RETURN(s.values, call_kernel(fn, cols, types, *n.type));
  s.continuous = n.continuous;
  return s;
}

// ---------------------------------------------------------------------------------------
// Aggregations (SEMANTICS §4).

namespace {

struct AggPlan {
  const Domain* u;
  size_t entities;
  const std::vector<uint8_t>* consume;  // input new and valid
  const std::vector<uint8_t>* reset;    // window condition true (may be empty)
  size_t segments;                      // 1 for since / no window
  // Final-only evaluation (Evaluator::set_final_only): rows [0, limit) are driven, and an
  // entity's value is emitted only at its last row, to slot final_slot[e].
  const std::vector<int32_t>* final_last = nullptr;
  const std::vector<uint32_t>* final_slot = nullptr;
  size_t limit = 0;
};

// Drives per-entity accumulators over the union domain. Acc must be default-constructible
// as the empty state; add(acc, row), merge(into, from) (from is newer), emit(row, acc).
// Accumulators of one aggregation: one per entity and window segment. Sliding windows keep
// `segments` accumulators per entity; `open_segment` is the one receiving input.
template <typename Acc>
struct AccumulatorState : OperatorState {
  size_t segments = 1;
  std::vector<Acc> accumulators;
  std::vector<uint32_t> open_segment;
};

// Drives per-entity accumulators over the union domain. Acc must be default-constructible
// as the empty state; add(acc, row), merge(into, from) (from is newer), emit(row, acc).
template <typename Acc, typename Add, typename Merge, typename Emit>
void drive(AccumulatorState<Acc>& st, const AggPlan& p, Add add, Merge merge, Emit emit) {
  const size_t segs = p.segments;
  st.segments = segs;
  st.accumulators.assign(p.entities * segs, Acc{});
  st.open_segment.assign(segs > 1 ? p.entities : 0, 0);
  std::vector<Acc>& state = st.accumulators;
  std::vector<uint32_t>& cur = st.open_segment;
  const bool has_reset = !p.reset->empty();
  if (p.final_last) {
    const auto& last = *p.final_last;
    const auto& slot = *p.final_slot;
    for (size_t i = 0; i < p.limit; ++i) {
      size_t e = p.u->entity[i];
      const bool at_last = static_cast<size_t>(last[e]) == i;
      if (segs == 1) {
        Acc& a = state[e];
        if ((*p.consume)[i]) add(a, i);
        if (at_last) emit(slot[e], a);
        if (has_reset && (*p.reset)[i]) a = Acc{};
        continue;
      }
      size_t base = e * segs;
      if ((*p.consume)[i]) add(state[base + cur[e]], i);
      if (at_last) {
        Acc total{};
        for (size_t k = 1; k <= segs; ++k) merge(total, state[base + (cur[e] + k) % segs]);
        emit(slot[e], total);
      }
      if (has_reset && (*p.reset)[i]) {
        cur[e] = static_cast<uint32_t>((cur[e] + 1) % segs);
        state[base + cur[e]] = Acc{};
      }
    }
    return;
  }
  for (size_t i = 0; i < p.u->size(); ++i) {
    size_t e = p.u->entity[i];
    if (segs == 1) {
      Acc& a = state[e];
      if ((*p.consume)[i]) add(a, i);
      emit(i, a);
      if (has_reset && (*p.reset)[i]) a = Acc{};
      continue;
    }
    size_t base = e * segs;
    if ((*p.consume)[i]) add(state[base + cur[e]], i);
    Acc total{};
    for (size_t k = 1; k <= segs; ++k) merge(total, state[base + (cur[e] + k) % segs]);
    emit(i, total);
    if (has_reset && (*p.reset)[i]) {
      cur[e] = static_cast<uint32_t>((cur[e] + 1) % segs);
      state[base + cur[e]] = Acc{};
    }
  }
}

struct IntAcc {
  bool has = false;
  int64_t v = 0;
};
struct FloatAcc {
  bool has = false;
  double v = 0;
};
struct CountAcc {
  uint64_t c = 0;
};
struct MeanAcc {
  uint64_t c = 0;
  double mean = 0;
};
struct VarAcc {
  uint64_t c = 0;
  double mean = 0;
  double m2 = 0;
};
struct IdxAcc {
  int32_t idx = -1;
};

// first/last: while running, the chosen row of the input per entity; afterwards `values`
// holds those rows' values (null where the window is empty).
struct FirstLastState : AccumulatorState<IdxAcc> {
  Column values;
};

// lag: the last n+1 consumed inputs per entity (a ring of rows while running, `values`
// afterwards, entity-major, oldest slot first per `count`).
struct LagState : OperatorState {
  size_t capacity = 0;
  std::vector<int32_t> ring;
  std::vector<uint64_t> count;
  Column values;
};

// shift_until: rows waiting for their entity's predicate, in arrival order.
struct ShiftUntilState : OperatorState {
  std::vector<std::vector<int32_t>> pending;  // per entity, rows while running
  std::vector<uint32_t> entities;             // afterwards: owner of each pending value
  Column values;                              // afterwards: the pending values
};

int64_t saturating_add(int64_t a, int64_t b, Kind k) {
  switch (k) {
    case Kind::kI64: {
      int64_t r;
      if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
      return r;
    }
    case Kind::kU64: {
      uint64_t r;
      if (__builtin_add_overflow(static_cast<uint64_t>(a), static_cast<uint64_t>(b), &r)) return -1;
      return static_cast<int64_t>(r);
    }
    case Kind::kI32:
      return std::clamp<int64_t>(a + b, INT32_MIN, INT32_MAX);
    case Kind::kU32:
      return std::min<int64_t>(a + b, UINT32_MAX);
    default:
      return a + b;
  }
}

double as_double(const Column& c, Kind k, size_t i) {
  if (fenl::is_float_kind(k)) return c.float_at(static_cast<int64_t>(i));
  if (k == Kind::kU64)
    return static_cast<double>(static_cast<uint64_t>(c.int_at(static_cast<int64_t>(i))));
  return static_cast<double>(c.int_at(static_cast<int64_t>(i)));
}

// The smallest time >= t at which tick function `fn` (minutely ... yearly) fires.
int64_t next_tick_at(const std::string& fn, int64_t t) {
  int64_t step = 0;
  if (fn == "minutely")
    step = kNanosPerMinute;
  else if (fn == "hourly")
    step = kNanosPerHour;
  else if (fn == "daily")
    step = kNanosPerDay;
  if (step) return floor_div(t + step - 1, step) * step;
  int64_t days = floor_div(t, kNanosPerDay);
  CivilDate c = civil_from_days(days);
  int64_t cand;
  if (fn == "monthly") {
    cand = days_from_civil(c.year, c.month, 1) * kNanosPerDay;
    if (cand < t) {
      unsigned m = c.month == 12 ? 1 : c.month + 1;
      int64_t y = c.month == 12 ? c.year + 1 : c.year;
      cand = days_from_civil(y, m, 1) * kNanosPerDay;
    }
  } else {
    cand = days_from_civil(c.year, 1, 1) * kNanosPerDay;
    if (cand < t) cand = days_from_civil(c.year + 1, 1, 1) * kNanosPerDay;
  }
  return cand;
}

// since(<tick>) resets for a fused aggregation over domain `d` (see Evaluator::fuse_ticks_):
// a tick at T closes the window after the rows at or before T (data rows sort before tick
// rows at equal times), so an entity's window restarts between consecutive rows at tp and
// t exactly when some tick T has tp <= T < t. The reset is marked on the earlier row
// (aggregations clear after emitting a reset row), so the later row starts a new window.
std::vector<uint8_t> tick_crossings(const Domain& d, const std::string& fn, size_t entities) {
  const size_t rows = d.size();
  std::vector<uint8_t> reset(rows, 0);
  if (rows == 0) return reset;
  // bucket(t) counts the ticks before t (from a fixed origin); rows are in time order.
  int64_t step = fn == "minutely" ? kNanosPerMinute
                 : fn == "hourly" ? kNanosPerHour
                 : fn == "daily"  ? kNanosPerDay
                                  : 0;
  std::vector<int32_t> last_row(entities, -1);
  std::vector<int64_t> last_bucket(entities, 0);
  int64_t bucket = 0;
  int64_t boundary = next_tick_at(fn, d.time.front());
  for (size_t i = 0; i < rows; ++i) {
    const int64_t t = d.time[i];
    if (step) {
      bucket = floor_div(t - 1, step);
    } else {
      while (t > boundary) {
        ++bucket;
        boundary = next_tick_at(fn, boundary + 1);
      }
    }
    const uint32_t e = d.entity[i];
    if (last_row[e] >= 0 && last_bucket[e] != bucket) reset[static_cast<size_t>(last_row[e])] = 1;
    last_row[e] = static_cast<int32_t>(i);
    last_bucket[e] = bucket;
  }
  return reset;
}
}  // namespace

Result<Stream> Evaluator::eval_aggregation(const Node& n, const DomainPtr& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr x_p, eval(n.args[0], ctx));
  const Stream& x = *x_p;
  const NodePtr& win = n.args.size() > 1 ? n.args[1] : nullptr;
  StreamPtr cond_p = std::make_shared<Stream>();
  bool has_window = win && win->op == Op::kCall && (win->fn == "since" || win->fn == "sliding");
  size_t segments = 1;
  // since(<tick>) inside a fusing `when`: resets come from x's row times (tick_crossings).
  const bool fused = fuse_ticks_ && has_window && win->fn == "since" && x.domain &&
                     win->args[0]->op == Op::kCall && fenl::is_tick(win->args[0]->fn);
  const Domain* state_key = fused ? &fused_state_key_ : ctx.get();
  if (has_window && !fused) {
    const NodePtr& c = win->fn == "since" ? win->args[0] : win->args[1];
    if (win->fn == "sliding") segments = static_cast<size_t>(std::max<int64_t>(1, win->const_int));
    DomainPtr wctx = x.domain ? x.domain : ctx;
    TL_ASSIGN_OR_RETURN(cond_p, eval(c, wctx));
  }
  const Stream& cond = *cond_p;
  std::vector<const Stream*> ptrs{&x};
  if (has_window && !fused) ptrs.push_back(&cond);
  DomainPtr u;
  for (const Stream* s : ptrs) u = unite(u, s->domain);
  Stream out;
  out.continuous = true;
  out.domain = u;
  if (!u) {
    out.values = literal_column(Value{}, *n.type);
    return out;
  }
  const size_t rows = u->size();
  std::vector<uint8_t> x_new, c_new;
  // The input usually lives in the aggregation's domain already: read it in place.
  Column xs_spread;
  if (x.domain != u && n.fn == "count" && x.values.type_id() != TypeId::kNull) {
    // count reads only validity: spread a bool column with x's validity instead of x's
    // values (often a whole table record, strings included).
    Stream proxy;
    proxy.domain = x.domain;
    proxy.is_new = x.is_new;
    proxy.continuous = x.continuous;
    proxy.values = alloc_column(DataType::of(TypeId::kBool), x.values.size());
    if (!x.values.all_valid()) proxy.values.validity() = x.values.validity();
    xs_spread = spread(proxy, u, &x_new);
  } else if (x.domain != u) {
    xs_spread = spread(x, u, &x_new);
  }
  const Column& xs = x.domain == u ? x.values : xs_spread;
  const std::vector<uint8_t>& xn = x.domain == u ? x.is_new : x_new;
  std::vector<uint8_t> consume(rows), reset;
  if (xs.all_valid()) {
    for (size_t i = 0; i < rows; ++i) consume[i] = xn[i];
  } else {
    for (size_t i = 0; i < rows; ++i) consume[i] = xn[i] && xs.is_valid(static_cast<int64_t>(i));
  }
  out.is_new = xn;
  if (fused) {
    reset =
        tick_crossings(*u, win->args[0]->fn, groupings_[static_cast<size_t>(u->grouping)].size());
  } else if (has_window) {
    Column cs = spread(cond, u, &c_new);
    reset.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      reset[i] = cs.is_valid(static_cast<int64_t>(i)) && cs.int_at(static_cast<int64_t>(i)) != 0;
      out.is_new[i] |= c_new[i];
    }
  }
  AggPlan p{u.get(), groupings_[static_cast<size_t>(u->grouping)].size(), &consume, &reset,
            segments};
  // Final-only: the value at each entity's last row (at or before the cutoff) is all that
  // is read, so only those rows are emitted, into a compact domain of just those rows.
  const bool final_only = final_only_.count(&n) > 0;
  std::vector<int32_t> final_last, final_rows;
  std::vector<uint32_t> final_slot;
  size_t out_rows = rows;
  if (final_only) {
    size_t limit = rows;
    if (final_cutoff_)
      limit = static_cast<size_t>(std::upper_bound(u->time.begin(), u->time.end(), *final_cutoff_) -
                                  u->time.begin());
    final_last.assign(p.entities, -1);
    for (size_t i = 0; i < limit; ++i) final_last[u->entity[i]] = static_cast<int32_t>(i);
    final_slot.assign(p.entities, 0);
    for (size_t i = 0; i < limit; ++i) {
      uint32_t e = u->entity[i];
      if (static_cast<size_t>(final_last[e]) != i) continue;
      final_slot[e] = static_cast<uint32_t>(final_rows.size());
      final_rows.push_back(static_cast<int32_t>(i));
    }
    p.final_last = &final_last;
    p.final_slot = &final_slot;
    p.limit = limit;
    out_rows = final_rows.size();
  }
  if (segments > 1 && p.entities * segments > 100'000'000) {
    return error(StatusCode::kInvalidArgument,
                 "sliding window state too large: " + std::to_string(p.entities) + " entities x " +
                     std::to_string(segments) + " segments");
  }
  const std::string& fn = n.fn;
  Kind ik = n.args[0]->type->kind;
  Kind rk = n.type->kind;
  Column res = alloc_column(fenl::physical_type(*n.type), static_cast<int64_t>(out_rows));
  auto null_at = [&](size_t i) { res.set_valid(static_cast<int64_t>(i), false); };
  if (fn == "count" || fn == "count_if") {
    bool is_if = fn == "count_if";
    drive(
        state_.state_for<AccumulatorState<CountAcc>>(n, state_key), p,
        [&](CountAcc& a, size_t i) {
          if (!is_if || xs.int_at(static_cast<int64_t>(i)) != 0) ++a.c;
        },
        [](CountAcc& t, const CountAcc& f) { t.c += f.c; },
        [&](size_t i, const CountAcc& a) { res.ints()[i] = static_cast<int64_t>(a.c); });
  } else if (fn == "sum" && !fenl::is_float_kind(rk)) {
    drive(
        state_.state_for<AccumulatorState<IntAcc>>(n, state_key), p,
        [&](IntAcc& a, size_t i) {
          a.v = a.has ? saturating_add(a.v, xs.int_at(static_cast<int64_t>(i)), rk)
                      : xs.int_at(static_cast<int64_t>(i));
          a.has = true;
        },
        [&](IntAcc& t, const IntAcc& f) {
          if (!f.has) return;
          t.v = t.has ? saturating_add(t.v, f.v, rk) : f.v;
          t.has = true;
        },
        [&](size_t i, const IntAcc& a) {
          if (a.has)
            res.ints()[i] = a.v;
          else
            null_at(i);
        });
  } else if (fn == "sum") {
    drive(
        state_.state_for<AccumulatorState<FloatAcc>>(n, state_key), p,
        [&](FloatAcc& a, size_t i) {
          a.v = a.has ? a.v + xs.float_at(static_cast<int64_t>(i))
                      : xs.float_at(static_cast<int64_t>(i));
          a.has = true;
        },
        [&](FloatAcc& t, const FloatAcc& f) {
          if (!f.has) return;
          t.v = t.has ? t.v + f.v : f.v;
          t.has = true;
        },
        [&](size_t i, const FloatAcc& a) {
          if (a.has)
            res.floats()[i] = a.v;
          else
            null_at(i);
        });
  } else if ((fn == "min" || fn == "max") && fenl::is_float_kind(rk)) {
    bool is_min = fn == "min";
    auto pick = [is_min](double a, double b) { return is_min ? std::fmin(a, b) : std::fmax(a, b); };
    drive(
        state_.state_for<AccumulatorState<FloatAcc>>(n, state_key), p,
        [&](FloatAcc& a, size_t i) {
          double v = xs.float_at(static_cast<int64_t>(i));
          a.v = a.has ? pick(a.v, v) : v;
          a.has = true;
        },
        [&](FloatAcc& t, const FloatAcc& f) {
          if (!f.has) return;
          t.v = t.has ? pick(t.v, f.v) : f.v;
          t.has = true;
        },
        [&](size_t i, const FloatAcc& a) {
          if (a.has)
            res.floats()[i] = a.v;
          else
            null_at(i);
        });
  } else if (fn == "min" || fn == "max") {
    bool is_min = fn == "min";
    bool uns = rk == Kind::kU64;
    auto better = [is_min, uns](int64_t a, int64_t b) {  // is b better than a
      bool lt = uns ? static_cast<uint64_t>(b) < static_cast<uint64_t>(a) : b < a;
      bool gt = uns ? static_cast<uint64_t>(b) > static_cast<uint64_t>(a) : b > a;
      return is_min ? lt : gt;
    };
    drive(
        state_.state_for<AccumulatorState<IntAcc>>(n, state_key), p,
        [&](IntAcc& a, size_t i) {
          int64_t v = xs.int_at(static_cast<int64_t>(i));
          if (!a.has || better(a.v, v)) a.v = v;
          a.has = true;
        },
        [&](IntAcc& t, const IntAcc& f) {
          if (!f.has) return;
          if (!t.has || better(t.v, f.v)) t.v = f.v;
          t.has = true;
        },
        [&](size_t i, const IntAcc& a) {
          if (a.has)
            res.ints()[i] = a.v;
          else
            null_at(i);
        });
  } else if (fn == "mean") {
    drive(
        state_.state_for<AccumulatorState<MeanAcc>>(n, state_key), p,
        [&](MeanAcc& a, size_t i) {
          double v = as_double(xs, ik, i);
          ++a.c;
          a.mean += (v - a.mean) / static_cast<double>(a.c);
        },
        [](MeanAcc& t, const MeanAcc& f) {
          if (f.c == 0) return;
          if (t.c == 0) {
            t = f;
            return;
          }
          double c = static_cast<double>(t.c + f.c);
          t.mean = (t.mean * static_cast<double>(t.c) + f.mean * static_cast<double>(f.c)) / c;
          t.c += f.c;
        },
        [&](size_t i, const MeanAcc& a) {
          if (a.c)
            res.floats()[i] = a.mean;
          else
            null_at(i);
        });
  } else if (fn == "variance" || fn == "stddev") {
    bool sd = fn == "stddev";
    drive(
        state_.state_for<AccumulatorState<VarAcc>>(n, state_key), p,
        [&](VarAcc& a, size_t i) {
          double v = as_double(xs, ik, i);
          ++a.c;
          double d = v - a.mean;
          a.mean += d / static_cast<double>(a.c);
          a.m2 += d * (v - a.mean);
        },
        [](VarAcc& t, const VarAcc& f) {
          if (f.c == 0) return;
          if (t.c == 0) {
            t = f;
            return;
          }
          double na = static_cast<double>(t.c), nb = static_cast<double>(f.c);
          double d = f.mean - t.mean;
          double c = na + nb;
          t.m2 += f.m2 + d * d * na * nb / c;
          t.mean += d * nb / c;
          t.c += f.c;
        },
        [&](size_t i, const VarAcc& a) {
          if (a.c >= 2) {
            double var = a.m2 / static_cast<double>(a.c);
            res.floats()[i] = sd ? std::pow(var, 0.5) : var;
          } else {
            null_at(i);
          }
        });
  } else if (fn == "first" || fn == "last") {
    bool is_first = fn == "first";
    std::vector<int32_t> idx(out_rows, -1);
    auto& st = state_.state_for<FirstLastState>(n, state_key);
    drive(
        st, p,
        [&](IdxAcc& a, size_t i) {
          if (!is_first || a.idx < 0) a.idx = static_cast<int32_t>(i);
        },
        [&](IdxAcc& t, const IdxAcc& f) {
          if (f.idx < 0) return;
          if (!is_first || t.idx < 0) t.idx = f.idx;
        },
        [&](size_t i, const IdxAcc& a) { idx[i] = a.idx; });
    res = gather(xs, idx);
    std::vector<int32_t> chosen(st.accumulators.size());
    for (size_t e = 0; e < chosen.size(); ++e) chosen[e] = st.accumulators[e].idx;
    st.values = gather(xs, chosen);
  } else {
    return error(StatusCode::kUnimplemented, "aggregation '" + fn + "' is not implemented");
  }
  out.values = std::move(res);
  if (final_only) {
    auto dom = std::make_shared<Domain>();
    dom->grouping = u->grouping;
    std::vector<uint8_t> is_new(final_rows.size());
    for (size_t k = 0; k < final_rows.size(); ++k) {
      push_row(*dom, *u, static_cast<size_t>(final_rows[k]));
      is_new[k] = out.is_new[static_cast<size_t>(final_rows[k])];
    }
    out.domain = dom;
    out.is_new = std::move(is_new);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Ticks (SEMANTICS §4.4).

Result<Stream> Evaluator::eval_tick(const Node& n, const DomainPtr& ctx) {
  if (!ctx) {
    return error(StatusCode::kTypeError,
                 "'" + n.fn +
                     "()' needs an input: use it inside an aggregation's window "
                     "(since/sliding) or as the condition of when/if");
  }
  const Domain& d = *ctx;
  auto dom = std::make_shared<Domain>();
  dom->grouping = d.grouping;
  Stream s;
  s.continuous = false;
  s.domain = dom;
  if (d.size() == 0) {
    s.values = bool_column(0, true);
    return s;
  }
  const GroupingState& g = groupings_[static_cast<size_t>(d.grouping)];
  int64_t t_min = d.time.front(), t_max = d.time.back();
  // Entities ordered by their first row time.
  std::vector<int64_t> first(g.size(), std::numeric_limits<int64_t>::max());
  std::vector<uint32_t> order;
  for (size_t i = 0; i < d.size(); ++i) {
    uint32_t e = d.entity[i];
    if (e >= first.size()) first.resize(e + 1, std::numeric_limits<int64_t>::max());
    if (first[e] == std::numeric_limits<int64_t>::max()) {
      first[e] = d.time[i];
      order.push_back(e);
    }
  }
  auto next_tick = [&](int64_t t) { return next_tick_at(n.fn, t); };
  std::vector<std::pair<uint64_t, uint32_t>> active;  // sorted by hash
  size_t next_entity = 0;
  const size_t kMaxRows = 100'000'000;
  for (int64_t t = next_tick(t_min); t <= t_max; t = t >= t_max ? INT64_MAX : next_tick(t + 1)) {
    size_t before = active.size();
    while (next_entity < order.size() && first[order[next_entity]] <= t) {
      uint32_t e = order[next_entity++];
      active.emplace_back(g.hashes[e], e);
    }
    if (active.size() != before) {
      std::sort(active.begin() + static_cast<ptrdiff_t>(before), active.end());
      std::inplace_merge(active.begin(), active.begin() + static_cast<ptrdiff_t>(before),
                         active.end());
    }
    for (const auto& [h, e] : active) {
      dom->time.push_back(t);
      dom->subsort.push_back(std::numeric_limits<uint64_t>::max());
      dom->key_hash.push_back(h);
      dom->entity.push_back(e);
    }
    if (dom->size() > kMaxRows)
      return error(StatusCode::kInvalidArgument, "too many tick rows from '" + n.fn + "()'");
  }
  s.values = bool_column(static_cast<int64_t>(dom->size()), true);
  s.is_new.assign(dom->size(), 1);
  return s;
}

// ---------------------------------------------------------------------------------------
// when / if / null_if.

bool Evaluator::when_fuses_ticks(const Node& when) const {
  if (when.fn != "when" || when.args.size() != 2) return false;
  const Node& c = *when.args[0];
  if (c.op != Op::kCall || c.fn != "is_valid" || c.args.size() != 1 || c.args[0]->op != Op::kTable)
    return false;
  bool has_tick = false;
  return fusable(*when.args[1], c.args[0]->table, false, has_tick) && has_tick;
}

// Whether `n` evaluates over table `table`'s domain only (or is constant) when
// since(<tick>) aggregations are fused, and no fused aggregation's per-row values reach
// an operator that would observe the tick rows of the unfused evaluation: another
// aggregation (it would consume tick-row values), or anything but element-wise calls,
// records and fields.
bool Evaluator::fusable(const Node& n, int table, bool in_aggregation, bool& has_tick) const {
  switch (n.op) {
    case Op::kLiteral:
      return true;
    case Op::kTable:
      return n.table == table;
    case Op::kField:
    case Op::kRecord:
    case Op::kCast:
      break;
    case Op::kCall: {
      if (fenl::is_aggregation(n.fn)) {
        if (n.args.empty() || !fusable(*n.args[0], table, true, has_tick)) return false;
        if (n.args.size() == 1) return true;
        const Node& w = *n.args[1];
        if (w.op != Op::kCall || w.fn != "since" || w.args.size() != 1) return false;
        const Node& t = *w.args[0];
        if (t.op == Op::kCall && fenl::is_tick(t.fn)) {
          if (in_aggregation) return false;
          has_tick = true;
          return true;
        }
        return fusable(t, table, true, has_tick);
      }
      static const std::unordered_set<std::string_view> kDomainChanging{
          "when",    "shift_to", "shift_until", "lag",   "lookup",  "with_key", "since",
          "sliding", "minutely", "hourly",      "daily", "monthly", "yearly"};
      if (kDomainChanging.count(n.fn)) return false;
      break;
    }
  }
  for (const auto& a : n.args)
    if (!fusable(*a, table, in_aggregation, has_tick)) return false;
  return true;
}

Result<Stream> Evaluator::eval_when(const Node& n, const DomainPtr& ctx) {
  StreamPtr v_p;
  if (!fuse_ticks_ && when_fuses_ticks(n)) {
    fuse_ticks_ = true;
    auto r = eval(n.args[1], ctx);
    fuse_ticks_ = false;
    if (!r) return std::unexpected(r.error());
    v_p = *r;
  } else {
    TL_ASSIGN_OR_RETURN(v_p, eval(n.args[1], ctx));
  }
  const Stream& v = *v_p;
  if (&n == final_root_when_) return v;  // see set_final_only
  TL_ASSIGN_OR_RETURN(StreamPtr c_p, eval(n.args[0], v.domain ? v.domain : ctx));
  const Stream& c = *c_p;
  ColumnList cols;
  std::vector<uint8_t> is_new;
  TL_ASSIGN_OR_RETURN(DomainPtr u, align({&c, &v}, cols, is_new));
  if (n.fn != "when") {
    Stream s;
    s.domain = u;
    s.is_new = std::move(is_new);
    s.continuous = n.continuous;
    TL_ASSIGN_OR_RETURN(s.values,
                        call_kernel(n.fn, cols, {n.args[0]->type, n.args[1]->type}, *n.type));
    return s;
  }
  Stream s;
  s.continuous = false;
  if (!u) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  std::vector<int32_t> keep;
  keep.reserve(u->size());
  for (size_t i = 0; i < u->size(); ++i) {
    if (cols[0].is_valid(static_cast<int64_t>(i)) && cols[0].int_at(static_cast<int64_t>(i)) != 0)
      keep.push_back(static_cast<int32_t>(i));
  }
  if (keep.size() == u->size()) {  // every row kept: the aligned value is the result
    s.domain = u;
    s.is_new = std::move(is_new);
    s.values = std::move(cols[1]);
    return s;
  }
  s.is_new.resize(keep.size());
  for (size_t k = 0; k < keep.size(); ++k) s.is_new[k] = is_new[static_cast<size_t>(keep[k])];
  // `when(is_valid(T), ...)` over a union typically keeps exactly T's rows: reuse T's domain
  // (same rows, same order), so operators after it need no new union with T.
  if (DomainPtr side = side_with_rows(u, keep)) {
    s.domain = side;
  } else {
    auto dom = std::make_shared<Domain>();
    dom->grouping = u->grouping;
    dom->time.reserve(keep.size());
    dom->subsort.reserve(keep.size());
    dom->key_hash.reserve(keep.size());
    dom->entity.reserve(keep.size());
    for (int32_t i : keep) push_row(*dom, *u, static_cast<size_t>(i));
    s.domain = dom;
  }
  s.values = gather(cols[1], keep);
  return s;
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

// ---------------------------------------------------------------------------------------
// shift_to / shift_until (SEMANTICS §6).

Result<Stream> Evaluator::eval_shift_to(const Node& n, const DomainPtr& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr t_p, eval(n.args[0], ctx));
  const Stream& t = *t_p;
  TL_ASSIGN_OR_RETURN(StreamPtr v_p, eval(n.args[1], ctx));
  const Stream& v = *v_p;
  ColumnList cols;
  std::vector<uint8_t> is_new;
  TL_ASSIGN_OR_RETURN(DomainPtr u, align({&t, &v}, cols, is_new));
  Stream s;
  s.continuous = false;
  if (!u) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  u->ensure_keys();
  std::vector<std::pair<int64_t, int32_t>> rows;
  for (size_t i = 0; i < u->size(); ++i) {
    if (!cols[0].is_valid(static_cast<int64_t>(i))) continue;
    int64_t target = cols[0].int_at(static_cast<int64_t>(i));
    if (target >= u->time[i]) rows.emplace_back(target, static_cast<int32_t>(i));
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto dom = std::make_shared<Domain>();
  dom->grouping = u->grouping;
  std::vector<int32_t> idx;
  uint64_t sub = 0;
  for (const auto& [target, i] : rows) {
    dom->time.push_back(target);
    dom->subsort.push_back(sub++);
    dom->key_hash.push_back(u->key_hash[static_cast<size_t>(i)]);
    dom->entity.push_back(u->entity[static_cast<size_t>(i)]);
    idx.push_back(i);
  }
  s.domain = dom;
  s.values = gather(cols[1], idx);
  s.is_new.assign(dom->size(), 1);
  return s;
}

Result<Stream> Evaluator::eval_shift_until(const Node& n, const DomainPtr& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr p_p, eval(n.args[0], ctx));
  const Stream& p = *p_p;
  TL_ASSIGN_OR_RETURN(StreamPtr v_p, eval(n.args[1], ctx));
  const Stream& v = *v_p;
  ColumnList cols;
  std::vector<uint8_t> is_new;
  TL_ASSIGN_OR_RETURN(DomainPtr u, align({&p, &v}, cols, is_new));
  Stream s;
  s.continuous = false;
  if (!u) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  u->ensure_keys();
  auto& st = state_.state_for<ShiftUntilState>(n, ctx.get());
  st.pending.assign(groupings_[static_cast<size_t>(u->grouping)].size(), {});
  std::vector<std::vector<int32_t>>& pending = st.pending;
  auto dom = std::make_shared<Domain>();
  dom->grouping = u->grouping;
  std::vector<int32_t> idx;
  uint64_t sub = 0;
  for (size_t i = 0; i < u->size(); ++i) {
    uint32_t e = u->entity[i];
    if (e >= pending.size()) pending.resize(e + 1);
    pending[e].push_back(static_cast<int32_t>(i));
    if (cols[0].is_valid(static_cast<int64_t>(i)) && cols[0].int_at(static_cast<int64_t>(i)) != 0) {
      for (int32_t r : pending[e]) {
        dom->time.push_back(u->time[i]);
        dom->subsort.push_back(sub++);
        dom->key_hash.push_back(u->key_hash[i]);
        dom->entity.push_back(e);
        idx.push_back(r);
      }
      pending[e].clear();
    }
  }
  s.domain = dom;
  s.values = gather(cols[1], idx);
  s.is_new.assign(dom->size(), 1);
  std::vector<int32_t> waiting;
  st.entities.clear();
  for (uint32_t e = 0; e < pending.size(); ++e) {
    for (int32_t r : pending[e]) {
      waiting.push_back(r);
      st.entities.push_back(e);
    }
  }
  st.values = gather(cols[1], waiting);
  return s;
}

// ---------------------------------------------------------------------------------------
// lag (SEMANTICS §6): ring of the last n+1 consumed inputs per entity.

Result<Stream> Evaluator::eval_lag(const Node& n, const DomainPtr& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr x_p, eval(n.args[1], ctx));
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
  const size_t ents = groupings_[static_cast<size_t>(x.domain->grouping)].size();
  if (ents * cap > 100'000'000) {
    return error(StatusCode::kInvalidArgument, "lag state too large: " + std::to_string(ents) +
                                                   " entities x " + std::to_string(cap) +
                                                   " values");
  }
  auto& st = state_.state_for<LagState>(n, ctx.get());
  st.capacity = cap;
  st.ring.assign(ents * cap, -1);
  st.count.assign(ents, 0);
  std::vector<int32_t>& ring = st.ring;
  std::vector<uint64_t>& count = st.count;
  std::vector<int32_t> idx(x.domain->size(), -1);
  for (size_t i = 0; i < x.domain->size(); ++i) {
    size_t e = x.domain->entity[i];
    if (x.is_new[i] && x.values.is_valid(static_cast<int64_t>(i))) {
      ring[e * cap + count[e] % cap] = static_cast<int32_t>(i);
      ++count[e];
    }
    if (count[e] >= cap) idx[i] = ring[e * cap + count[e] % cap];
  }
  s.values = gather(x.values, idx);
  st.values = gather(x.values, ring);
  return s;
}

// ---------------------------------------------------------------------------------------
// lookup / with_key (SEMANTICS §6).

Result<Stream> Evaluator::eval_lookup(const Node& n, const DomainPtr& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr k_p, eval(n.args[0], ctx));
  const Stream& k = *k_p;
  TL_ASSIGN_OR_RETURN(StreamPtr v_p, eval(n.args[1], nullptr));
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
  std::vector<int32_t> idx(kd.size(), -1);
  if (v.domain && v.domain->grouping >= 0) {
    const GroupingState& fg = groupings_[static_cast<size_t>(v.domain->grouping)];
    const Domain& vd = *v.domain;
    std::vector<int32_t> last(fg.size(), -1);
    size_t j = 0;
    for (size_t i = 0; i < kd.size(); ++i) {
      while (j < vd.size() && (vd.time[j] < kd.time[i] ||
                               (vd.time[j] == kd.time[i] && vd.subsort[j] <= kd.subsort[i]))) {
        if (vd.entity[j] >= last.size()) last.resize(vd.entity[j] + 1, -1);
        last[vd.entity[j]] = static_cast<int32_t>(j);
        ++j;
      }
      uint64_t h = hash_value_at(k.values, *n.args[0]->type, static_cast<int64_t>(i));
      uint32_t fe = fg.index.find(h);
      if (fe == EntityIndex::kMissing || fe >= last.size()) continue;
      int32_t r = last[fe];
      if (r < 0) continue;
      if (!v.continuous && !(vd.time[static_cast<size_t>(r)] == kd.time[i] &&
                             vd.subsort[static_cast<size_t>(r)] == kd.subsort[i])) {
        continue;
      }
      idx[i] = r;
    }
    s.values = gather(v.values, idx);
  } else if (!v.domain) {
    s.values = broadcast(v.values, static_cast<int64_t>(kd.size()));
  } else {
    s.values = gather(v.values, idx);
  }
  return s;
}

Result<Stream> Evaluator::eval_with_key(const Node& n, const DomainPtr& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr k_p, eval(n.args[0], ctx));
  const Stream& k = *k_p;
  TL_ASSIGN_OR_RETURN(StreamPtr v_p, eval(n.args[1], ctx));
  const Stream& v = *v_p;
  ColumnList cols;
  std::vector<uint8_t> is_new;
  TL_ASSIGN_OR_RETURN(DomainPtr u, align({&k, &v}, cols, is_new));
  Stream s;
  s.continuous = n.continuous;
  if (!u) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  GroupingState& g = groupings_[static_cast<size_t>(n.grouping)];
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
  std::vector<int32_t> order = iota_idx(rows);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    size_t x = static_cast<size_t>(a), y = static_cast<size_t>(b);
    if (u->time[x] != u->time[y]) return u->time[x] < u->time[y];
    if (u->subsort[x] != u->subsort[y]) return u->subsort[x] < u->subsort[y];
    return hashes[x] < hashes[y];
  });
  auto dom = std::make_shared<Domain>();
  dom->grouping = n.grouping;
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

}  // namespace tideline::engine
