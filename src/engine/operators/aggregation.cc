// Aggregations and their windows (docs/fenl.md#aggregations): count, count_if, sum, min,
// max, mean, variance, stddev, first, last; windows since(condition) and
// sliding(n, condition).
//
// An aggregation runs over the union of its input's rows and its window condition's rows.
// Per entity (and per window segment for sliding windows) it keeps an accumulator; a row
// whose input is new and valid is added, every row emits the accumulated value, and a row
// whose window condition is true closes the window after emitting (sliding(n) keeps n
// segments and merges them). State kept between chunks (docs/formats/engine-state.md,
// kinds 1 and 2): the accumulators, each entity's open segment, and for first/last the
// chosen values themselves.

#include <algorithm>
#include <cmath>

#include "common/time.h"
#include "engine/operators/families.h"
#include "engine/operators/operator.h"

namespace tideline::engine {

using fenl::Kind;
using fenl::Node;
using fenl::NodePtr;
using fenl::Op;

namespace {

// sliding(n) accepts n up to 100000 (the compiler's limit).
constexpr uint32_t kMaxSegments = 100'000;

// Accumulators: default-constructed = empty window. `kLayout` identifies the snapshot layout.
struct CountAcc {
  static constexpr uint8_t kLayout = 1;
  uint64_t c = 0;
  void write(StateWriter& w) const { w.u64(c); }
  Status read(StateReader& r) { return r.u64(c); }
};
struct IntAcc {
  static constexpr uint8_t kLayout = 2;
  bool has = false;
  int64_t v = 0;
  void write(StateWriter& w) const {
    w.u8(has);
    w.i64(v);
  }
  Status read(StateReader& r) {
    uint8_t h = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u8(h));
    has = h != 0;
    return r.i64(v);
  }
};
struct FloatAcc {
  static constexpr uint8_t kLayout = 3;
  bool has = false;
  double v = 0;
  void write(StateWriter& w) const {
    w.u8(has);
    w.f64(v);
  }
  Status read(StateReader& r) {
    uint8_t h = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u8(h));
    has = h != 0;
    return r.f64(v);
  }
};
struct MeanAcc {
  static constexpr uint8_t kLayout = 4;
  uint64_t c = 0;
  double mean = 0;
  void write(StateWriter& w) const {
    w.u64(c);
    w.f64(mean);
  }
  Status read(StateReader& r) {
    TL_RETURN_STATUS_IF_ERROR(r.u64(c));
    return r.f64(mean);
  }
};
struct VarAcc {
  static constexpr uint8_t kLayout = 5;
  uint64_t c = 0;
  double mean = 0;
  double m2 = 0;
  void write(StateWriter& w) const {
    w.u64(c);
    w.f64(mean);
    w.f64(m2);
  }
  Status read(StateReader& r) {
    TL_RETURN_STATUS_IF_ERROR(r.u64(c));
    TL_RETURN_STATUS_IF_ERROR(r.f64(mean));
    return r.f64(m2);
  }
};
// first/last: a reference to the chosen value (gather_refs encoding; -1 = none).
// (FirstLastState snapshots these as value slots; the generic layout below is unused.)
struct RefAcc {
  static constexpr uint8_t kLayout = 0;
  int64_t ref = -1;
  void write(StateWriter& w) const { w.i64(ref); }
  Status read(StateReader& r) { return r.i64(ref); }
};

// Accumulators of one aggregation: one per entity and window segment. Sliding windows keep
// `segments` accumulators per entity; `open_segment` is the one receiving input.
template <typename Acc>
struct AccumulatorState : OperatorState {
  size_t segments = 0;
  std::vector<Acc> accumulators;
  std::vector<uint32_t> open_segment;

  void grow(size_t entities, size_t segs) {
    if (segments != segs) {  // first use (a restored state of the same plan matches)
      segments = segs;
      accumulators.clear();
      open_segment.clear();
    }
    if (accumulators.size() < entities * segments) accumulators.resize(entities * segments);
    if (segments > 1 && open_segment.size() < entities) open_segment.resize(entities, 0);
  }
  StateKind kind() const override { return StateKind::kAccumulators; }
  void write_global(StateWriter& w) const override {
    w.u8(Acc::kLayout);
    w.u32(static_cast<uint32_t>(segments));
  }
  Status read_global(StateReader& r, bool merge) override {
    uint8_t layout = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u8(layout));
    if (layout != Acc::kLayout)
      return r.fail("accumulator layout " + std::to_string(layout) + ", expected " +
                    std::to_string(Acc::kLayout));
    return read_segments(r, merge);
  }
  // Segments of the image; a state that already holds accumulators keeps its own count.
  Status read_segments(StateReader& r, bool merge) {
    (void)merge;
    uint32_t segs = 0;
    TL_RETURN_STATUS_IF_ERROR(r.u32(segs));
    if (segs > kMaxSegments)
      return r.fail("window segments " + std::to_string(segs) + " out of range");
    if (!accumulators.empty() && segs != segments)
      return r.fail("window segments " + std::to_string(segs) + ", the state has " +
                    std::to_string(segments));
    segments = segs;
    return {};
  }
  void write_open(StateWriter& w, std::span<const uint32_t> ents) const {
    std::vector<uint32_t> open;
    if (segments > 1)
      for (uint32_t e : ents) open.push_back(e < open_segment.size() ? open_segment[e] : 0);
    w.vec(open);
  }
  // Reads the open segments and makes room for the listed entities.
  Status read_open(StateReader& r, std::span<const uint32_t> ents) {
    std::vector<uint32_t> open;
    TL_RETURN_STATUS_IF_ERROR(r.vec(open));
    if (open.size() != (segments > 1 ? ents.size() : 0))
      return r.fail("open segments do not match the entity count");
    size_t need = 0;
    for (uint32_t e : ents) need = std::max<size_t>(need, size_t{e} + 1);
    if (accumulators.size() < need * segments) accumulators.resize(need * segments);
    if (segments > 1 && open_segment.size() < need) open_segment.resize(need, 0);
    for (size_t i = 0; i < open.size(); ++i) {
      if (open[i] >= segments) return r.fail("open segment out of range");
      open_segment[ents[i]] = open[i];
    }
    return {};
  }
  void write_entities(StateWriter& w, std::span<const uint32_t> ents) const override {
    write_open(w, ents);
    for (uint32_t e : ents)
      for (size_t k = 0; k < segments; ++k) {
        const size_t at = size_t{e} * segments + k;
        (at < accumulators.size() ? accumulators[at] : Acc{}).write(w);
      }
  }
  Status read_entities(StateReader& r, std::span<const uint32_t> ents,
                       const std::vector<uint64_t>& hashes) override {
    (void)hashes;
    TL_RETURN_STATUS_IF_ERROR(read_open(r, ents));
    // Every accumulator takes at least 8 bytes: a count beyond the bytes left is corrupt.
    if (ents.size() * segments > r.remaining() / 8)
      return r.fail("accumulator count exceeds the data");
    for (uint32_t e : ents)
      for (size_t k = 0; k < segments; ++k) {
        Acc a{};
        TL_RETURN_STATUS_IF_ERROR(a.read(r));
        accumulators[size_t{e} * segments + k] = a;
      }
    return {};
  }
};

struct FirstLastState : AccumulatorState<RefAcc> {
  ValueStore store;
  EntityScratch touched;

  StateKind kind() const override { return StateKind::kFirstLast; }
  void write_global(StateWriter& w) const override { w.u32(static_cast<uint32_t>(segments)); }
  Status read_global(StateReader& r, bool merge) override { return read_segments(r, merge); }
  void write_entities(StateWriter& w, std::span<const uint32_t> ents) const override {
    write_open(w, ents);
    std::vector<int64_t> refs;
    refs.reserve(ents.size() * segments);
    for (uint32_t e : ents)
      for (size_t k = 0; k < segments; ++k) {
        const size_t at = size_t{e} * segments + k;
        refs.push_back(at < accumulators.size() ? accumulators[at].ref : -1);
      }
    store.write_refs(w, refs);
  }
  Status read_entities(StateReader& r, std::span<const uint32_t> ents,
                       const std::vector<uint64_t>& hashes) override {
    (void)hashes;
    TL_RETURN_STATUS_IF_ERROR(read_open(r, ents));
    std::vector<int64_t> refs;
    TL_RETURN_STATUS_IF_ERROR(store.read_refs(r, ents.size() * segments, refs));
    for (size_t i = 0; i < ents.size(); ++i)
      for (size_t k = 0; k < segments; ++k)
        accumulators[size_t{ents[i]} * segments + k].ref = refs[i * segments + k];
    return {};
  }
  // After the chunk: the chosen rows of the chunk become stored values.
  void keep(const Column& xs, const Domain& u) {
    touched.begin(accumulators.size() / std::max<size_t>(segments, 1));
    std::vector<int64_t*> refs;
    for (size_t i = 0; i < u.size(); ++i) {
      const uint32_t e = u.entity[i];
      if (touched.has(e)) continue;
      touched.set(e, 0);
      for (size_t k = 0; k < segments; ++k) refs.push_back(&accumulators[e * segments + k].ref);
    }
    store.store(xs, refs);
    if (static_cast<size_t>(store.values.size()) > 2 * accumulators.size() + 4096) {
      std::vector<int64_t*> all;
      for (RefAcc& a : accumulators) all.push_back(&a.ref);
      store.compact(all, accumulators.size());
    }
  }
};

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

// Drives per-entity accumulators over the union domain: add(acc, row), merge(into, from)
// (from is newer), emit(row, acc).
template <typename Acc, typename Add, typename Merge, typename Emit>
void drive(AccumulatorState<Acc>& st, const AggPlan& p, Add add, Merge merge, Emit emit) {
  st.grow(p.entities, p.segments);
  const size_t segs = st.segments;
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

// since(<tick>) resets for a fused aggregation over domain `d` (see operators/when.cc):
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

Result<Stream> eval_aggregation(Evaluator& ev, const Node& n, const Ctx& ctx) {
  TL_ASSIGN_OR_RETURN(StreamPtr x_p, ev.eval(n.args[0], ctx));
  const Stream& x = *x_p;
  const NodePtr& win = n.args.size() > 1 ? n.args[1] : nullptr;
  StreamPtr cond_p = std::make_shared<Stream>();
  bool has_window = win && win->op == Op::kCall && (win->fn == "since" || win->fn == "sliding");
  size_t segments = 1;
  // since(<tick>) inside a fusing `when`: resets come from x's row times (tick_crossings).
  const bool fused = ev.fusing() && has_window && win->fn == "since" && x.domain &&
                     win->args[0]->op == Op::kCall && fenl::is_tick(win->args[0]->fn);
  const int state_key = fused ? kFusedCtx : ctx.key;
  if (has_window && !fused) {
    const NodePtr& c = win->fn == "since" ? win->args[0] : win->args[1];
    if (win->fn == "sliding") segments = static_cast<size_t>(std::max<int64_t>(1, win->const_int));
    Ctx wctx = x.domain ? Ctx{x.domain, ev.id(*n.args[0])} : ctx;
    TL_ASSIGN_OR_RETURN(cond_p, ev.eval(c, wctx));
  }
  const Stream& cond = *cond_p;
  std::vector<const Stream*> ptrs{&x};
  if (has_window && !fused) ptrs.push_back(&cond);
  DomainPtr u;
  for (const Stream* s : ptrs) u = ev.unite(u, s->domain);
  Stream out;
  out.continuous = true;
  out.domain = u;
  if (!u) {
    // A literal input without a window (docs/fenl.md#aggregations): a literal is never
    // new, so the result is the empty aggregation's, a literal itself — 0 for count and
    // count_if, null for the others.
    Value empty;
    if (n.fn == "count" || n.fn == "count_if") empty = int64_t{0};
    out.values = literal_column(empty, *n.type);
    return out;
  }
  auto& groupings = ev.groupings();
  const size_t rows = u->size();
  std::vector<uint8_t> x_new, c_new;
  // The input usually lives in the aggregation's domain already: read it in place.
  Column xs_spread;
  if (x.domain != u && n.fn == "count" && x.values.type_id() != TypeId::kNull && !x.carry) {
    // count reads only validity: spread a bool column with x's validity instead of x's
    // values (often a whole table record, strings included).
    Stream proxy;
    proxy.domain = x.domain;
    proxy.is_new = x.is_new;
    proxy.continuous = x.continuous;
    proxy.values = alloc_column(DataType::of(TypeId::kBool), x.values.size());
    if (!x.values.all_valid()) proxy.values.validity() = x.values.validity();
    xs_spread = ev.spread(proxy, u, &x_new);
  } else if (x.domain != u) {
    xs_spread = ev.spread(x, u, &x_new);
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
        tick_crossings(*u, win->args[0]->fn, groupings[static_cast<size_t>(u->grouping)].size());
  } else if (has_window) {
    Column cs = ev.spread(cond, u, &c_new);
    reset.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      reset[i] = cs.is_valid(static_cast<int64_t>(i)) && cs.int_at(static_cast<int64_t>(i)) != 0;
      out.is_new[i] |= c_new[i];
    }
  }
  AggPlan p{u.get(), groupings[static_cast<size_t>(u->grouping)].size(), &consume, &reset,
            segments};
  // Final-only: the value at each entity's last row (at or before the cutoff) is all that
  // is read, so only those rows are emitted, into a compact domain of just those rows.
  const bool final_only = ev.final_only(n);
  std::vector<int32_t> final_last, final_rows;
  std::vector<uint32_t> final_slot;
  size_t out_rows = rows;
  if (final_only) {
    size_t limit = rows;
    if (auto cutoff = ev.final_cutoff())
      limit = static_cast<size_t>(std::upper_bound(u->time.begin(), u->time.end(), *cutoff) -
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
    TL_ASSIGN_OR_RETURN(auto* st,
                        ev.state_for<AccumulatorState<CountAcc>>(n, state_key, p.u->grouping));
    drive(
        *st, p,
        [&](CountAcc& a, size_t i) {
          if (!is_if || xs.int_at(static_cast<int64_t>(i)) != 0) ++a.c;
        },
        [](CountAcc& t, const CountAcc& f) { t.c += f.c; },
        [&](size_t i, const CountAcc& a) { res.ints()[i] = static_cast<int64_t>(a.c); });
  } else if (fn == "sum" && !fenl::is_float_kind(rk)) {
    TL_ASSIGN_OR_RETURN(auto* st,
                        ev.state_for<AccumulatorState<IntAcc>>(n, state_key, p.u->grouping));
    drive(
        *st, p,
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
    TL_ASSIGN_OR_RETURN(auto* st,
                        ev.state_for<AccumulatorState<FloatAcc>>(n, state_key, p.u->grouping));
    drive(
        *st, p,
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
    TL_ASSIGN_OR_RETURN(auto* st,
                        ev.state_for<AccumulatorState<FloatAcc>>(n, state_key, p.u->grouping));
    drive(
        *st, p,
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
    TL_ASSIGN_OR_RETURN(auto* st,
                        ev.state_for<AccumulatorState<IntAcc>>(n, state_key, p.u->grouping));
    drive(
        *st, p,
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
    TL_ASSIGN_OR_RETURN(auto* st,
                        ev.state_for<AccumulatorState<MeanAcc>>(n, state_key, p.u->grouping));
    drive(
        *st, p,
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
    TL_ASSIGN_OR_RETURN(auto* st,
                        ev.state_for<AccumulatorState<VarAcc>>(n, state_key, p.u->grouping));
    drive(
        *st, p,
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
    std::vector<int64_t> idx(out_rows, -1);
    TL_ASSIGN_OR_RETURN(auto* st, ev.state_for<FirstLastState>(n, state_key, p.u->grouping));
    drive(
        *st, p,
        [&](RefAcc& a, size_t i) {
          if (!is_first || a.ref == -1) a.ref = static_cast<int64_t>(i);
        },
        [&](RefAcc& t, const RefAcc& f) {
          if (f.ref == -1) return;
          if (!is_first || t.ref == -1) t.ref = f.ref;
        },
        [&](size_t i, const RefAcc& a) { idx[i] = a.ref; });
    res = gather_refs(xs, st->store.values, idx);
    if (ev.chunk().keep_state) st->keep(xs, *u);
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

Result<Stream> eval_window_alone(Evaluator&, const Node& n, const Ctx&) {
  return error(StatusCode::kTypeError,
               "'" + n.fn + "' can only be used as an aggregation's window");
}

const OperatorDef kAggregationOps[] = {
    {"count", eval_aggregation},    {"count_if", eval_aggregation}, {"sum", eval_aggregation},
    {"min", eval_aggregation},      {"max", eval_aggregation},      {"mean", eval_aggregation},
    {"variance", eval_aggregation}, {"stddev", eval_aggregation},   {"first", eval_aggregation},
    {"last", eval_aggregation},     {"since", eval_window_alone},   {"sliding", eval_window_alone},
};

}  // namespace

std::span<const OperatorDef> aggregation_operators() {
  return kAggregationOps;
}

Result<std::unique_ptr<OperatorState>> make_aggregation_state(StateKind kind, uint8_t layout) {
  if (kind == StateKind::kFirstLast) return std::unique_ptr<OperatorState>(new FirstLastState());
  switch (layout) {
    case CountAcc::kLayout:
      return std::unique_ptr<OperatorState>(new AccumulatorState<CountAcc>());
    case IntAcc::kLayout:
      return std::unique_ptr<OperatorState>(new AccumulatorState<IntAcc>());
    case FloatAcc::kLayout:
      return std::unique_ptr<OperatorState>(new AccumulatorState<FloatAcc>());
    case MeanAcc::kLayout:
      return std::unique_ptr<OperatorState>(new AccumulatorState<MeanAcc>());
    case VarAcc::kLayout:
      return std::unique_ptr<OperatorState>(new AccumulatorState<VarAcc>());
  }
  return error(StatusCode::kCorruption,
               "engine state: unknown accumulator layout " + std::to_string(layout));
}

}  // namespace tideline::engine
