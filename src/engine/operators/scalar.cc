// Stateless operators: field access, records, element-wise kernels, record functions
// (extend, select_fields, remove_fields) and time_of. They work row by row on aligned
// arguments and keep nothing between chunks.

#include "engine/operators/families.h"

namespace tideline::engine {

Column json_field(const Column& c, std::string_view name);

using fenl::Kind;
using fenl::Node;

namespace {

Result<Stream> eval_time_of(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr x_p, ev.eval(n.args[0], ctx));
  const Stream& x = *x_p;
  Stream s;
  s.domain = x.domain;
  s.continuous = false;
  if (!x.domain) {
    s.values = literal_column(Value{}, *n.type);
    return s;
  }
  s.is_new = x.is_new;
  Column c = alloc_column(DataType::of(TypeId::kTimestamp), static_cast<int64_t>(x.domain->size()));
  std::copy(x.domain->time.begin(), x.domain->time.end(), c.ints().begin());
  s.values = std::move(c);
  return s;
}

Result<Stream> eval_record_fn(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(Aligned a, eval_aligned(ev, n, ctx));
  const ColumnList& cols = a.cols;
  Stream s;
  s.domain = a.domain;
  s.is_new = std::move(a.is_new);
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
  if (n.fn != "extend") rec.validity() = cols[0].validity();
  s.values = std::move(rec);
  s.continuous = n.continuous;
  return s;
}

const OperatorDef kRecordOps[] = {
    {"extend", eval_record_fn, true},
    {"select_fields", eval_record_fn, true},
    {"remove_fields", eval_record_fn, true},
    {"time_of", eval_time_of, true},
};

}  // namespace

Result<Aligned> eval_aligned(Evaluator& ev, const Node& n, const Ctx& ctx, size_t count) {
  Aligned a;
  for (size_t i = 0; i < n.args.size() && i < count; ++i) {
    TL_ASSIGN_OR_RETURN(StreamPtr s, ev.eval(n.args[i], ctx));
    a.args.push_back(std::move(s));
  }
  std::vector<const Stream*> ptrs;
  for (const auto& s : a.args) ptrs.push_back(s.get());
  TL_ASSIGN_OR_RETURN(a.domain, ev.align(ptrs, a.cols, a.is_new));
  return a;
}

std::span<const OperatorDef> record_operators() {
  return kRecordOps;
}

Result<Stream> eval_field(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr b_p, ev.eval(n.args[0], ctx));
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
  if (!b.values.validity().empty()) and_validity(s.values, {&s.values, &b.values});
  return s;
}

Result<Stream> eval_record(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(Aligned a, eval_aligned(ev, n, ctx));
  ColumnList& cols = a.cols;
  Stream s;
  s.domain = a.domain;
  s.is_new = std::move(a.is_new);
  Column rec(fenl::physical_type(*n.type));
  int64_t rows = cols.empty() ? 0 : cols[0].size();
  for (size_t f = 0; f < cols.size(); ++f) rec.child(f) = cols.take(f);
  rec.set_size(rows);
  s.values = std::move(rec);
  s.continuous = n.continuous;
  return s;
}

Result<Stream> eval_elementwise(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(Aligned a, eval_aligned(ev, n, ctx));
  std::vector<fenl::TypeRef> types;
  for (const auto& arg : n.args) types.push_back(arg->type);
  Stream s;
  s.domain = a.domain;
  s.is_new = std::move(a.is_new);
  TL_ASSIGN_OR_RETURN(s.values, call_kernel(n.fn, a.cols, types, *n.type));
  s.continuous = n.continuous;
  return s;
}

}  // namespace tideline::engine
