// when / if / null_if (docs/fenl.md#when), and tick-window fusion.
//
// `when(c, v)` keeps v's rows where c is true; `if` and `null_if` keep every row and null
// the value. Stateless across chunks.
//
// Tick-window fusion (a plan rewrite, terminal single chunk only). `when(is_valid(T), v)`
// keeps only T's rows, so inside v an aggregation windowed by `since(<tick>)` over T's rows
// needs the tick rows only as reset points: fused, it runs over T's own domain and resets
// where an entity's consecutive rows straddle a tick, instead of uniting T with every
// entity's tick rows. Values at T's rows are identical. when_fuses_ticks(n) checks that v
// qualifies (only T's domain, no fused aggregation feeding another aggregation or a
// domain-changing operator). Fused streams are memoized apart and their state is keyed by
// kFusedCtx, so nothing evaluated without fusion ever sees them.

#include <unordered_set>

#include "engine/operators/families.h"

namespace tideline::engine {

using fenl::Node;
using fenl::Op;

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
      // Only element-wise functions keep the domain.
      if (const OperatorDef* op = find_operator(n.fn); op && !op->keeps_domain) return false;
      break;
    }
  }
  for (const auto& a : n.args)
    if (!fusable(*a, table, in_aggregation, has_tick)) return false;
  return true;
}

namespace {

Result<Stream> eval_when(Evaluator& ev, const Node& n, const Ctx& ctx) {
  StreamPtr v_p;
  if (!ev.fusing() && ev.fusion_allowed() && ev.when_fuses_ticks(n)) {
    ev.set_fusing(true);
    auto r = ev.eval(n.args[1], ctx);
    ev.set_fusing(false);
    if (!r) return std::unexpected(r.error());
    v_p = *r;
  } else {
    TL_ASSIGN_OR_RETURN(v_p, ev.eval(n.args[1], ctx));
  }
  const Stream& v = *v_p;
  if (&n == ev.final_root_when()) return v;  // see Evaluator::set_final_only
  Ctx cctx = v.domain ? Ctx{v.domain, ev.id(*n.args[1])} : ctx;
  TL_ASSIGN_OR_RETURN(StreamPtr c_p, ev.eval(n.args[0], cctx));
  const Stream& c = *c_p;
  ColumnList cols;
  std::vector<uint8_t> is_new;
  TL_ASSIGN_OR_RETURN(DomainPtr u, ev.align({&c, &v}, cols, is_new));
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
    s.values = cols.take(1);
    return s;
  }
  s.is_new.resize(keep.size());
  for (size_t k = 0; k < keep.size(); ++k) s.is_new[k] = is_new[static_cast<size_t>(keep[k])];
  // `when(is_valid(T), ...)` over a union typically keeps exactly T's rows: reuse T's domain
  // (same rows, same order), so operators after it need no new union with T.
  if (DomainPtr side = ev.side_with_rows(u, keep)) {
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

const OperatorDef kWhenOps[] = {
    {"when", eval_when},
    {"if", eval_when, true},
    {"null_if", eval_when, true},
};

}  // namespace

std::span<const OperatorDef> when_operators() {
  return kWhenOps;
}

}  // namespace tideline::engine
