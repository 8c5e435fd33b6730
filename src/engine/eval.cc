// The evaluator's core: memoized evaluation of plan nodes over one chunk, dispatching calls
// through the operator registry (operators/*.cc) or to element-wise kernels.

#include "engine/eval.h"

#include <unordered_set>

#include "engine/operators/families.h"
#include "engine/operators/operator.h"

namespace tideline::engine {

using fenl::Kind;
using fenl::Node;
using fenl::NodePtr;
using fenl::Op;

std::span<const OperatorDef> all_operators() {
  static const std::vector<OperatorDef> kAll = [] {
    std::vector<OperatorDef> v;
    for (auto family : {aggregation_operators, tick_operators, when_operators, shift_operators,
                        lag_operators, lookup_operators, record_operators})
      for (const OperatorDef& d : family()) v.push_back(d);
    return v;
  }();
  return kAll;
}

const OperatorDef* find_operator(std::string_view name) {
  static const std::unordered_map<std::string_view, const OperatorDef*> kByName = [] {
    std::unordered_map<std::string_view, const OperatorDef*> m;
    for (const OperatorDef& d : all_operators()) m.emplace(d.name, &d);
    return m;
  }();
  auto it = kByName.find(name);
  return it == kByName.end() ? nullptr : it->second;
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
        bool presence = n->op == Op::kCall && (n->fn == "is_valid" || n->fn == "is_null" ||
                                               n->fn == "is_not_null" || n->fn == "count");
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
  // the root (the when operator then returns v as it is).
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

Result<StreamPtr> Evaluator::eval(const NodePtr& node, const Ctx& ctx) {
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
  const Ctx c = needs_context(*node) ? ctx : Ctx{};
  auto key = std::make_pair(node.get(), c.domain.get());
  auto& memo = fuse_ticks_ ? fused_memo_ : memo_;
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  TL_ASSIGN_OR_RETURN(Stream s, eval_uncached(*node, c));
  if (s.domain) keep_alive_.push_back(s.domain);
  // A continuous stream reads its values from earlier chunks (when there were any) and,
  // when later chunks follow, records its latest ones after this chunk.
  CarryState* carry = nullptr;
  if (s.continuous && s.domain && !fuse_ticks_) {
    const std::pair<int, int> ck{id(*node), c.key};
    if (chunk_.keep_state) {
      carry = &state_.carries[ck];
    } else if (auto it = state_.carries.find(ck); it != state_.carries.end()) {
      s.carry = &it->second;
    }
    if (carry) s.carry = carry;
  }
  auto p = std::make_shared<const Stream>(std::move(s));
  memo[key] = p;
  if (carry) carried_.emplace_back(carry, p);
  return p;
}

void Evaluator::commit_carries() {
  // Every stream read its carry during the chunk; only now do they advance.
  for (auto& [carry, stream] : carried_) carry->update(*stream, scratch_);
  carried_.clear();
}

Result<Stream> Evaluator::eval_uncached(const Node& n, const Ctx& ctx) {
  switch (n.op) {
    case Op::kLiteral: {
      Stream s;
      s.values = literal_column(n.literal, *n.type);
      s.continuous = true;
      return s;
    }
    case Op::kTable:
      return error(StatusCode::kInternal, "table streams are not memoized per context");
    case Op::kField:
      return eval_field(*this, n, ctx);
    case Op::kRecord:
      return eval_record(*this, n, ctx);
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
      if (const OperatorDef* op = find_operator(n.fn)) return op->eval(*this, n, ctx);
      return eval_elementwise(*this, n, ctx);
  }
  return error(StatusCode::kInternal, "unknown node");
}

}  // namespace tideline::engine
