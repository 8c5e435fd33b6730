// Ticks: minutely(), hourly(), daily(), monthly(), yearly() (docs/fenl.md#ticks).
//
// A tick at time T produces one row per entity that has appeared in the tick's context (the
// rows of the aggregation input or `when` value it is used with) at or before T; tick rows
// sort after data rows at the same time (subsort = UINT64_MAX). Ticks fire up to the latest
// input time seen (of any table), and a tick at T is emitted by the chunk whose range holds
// T. State between chunks (docs/formats/engine-state.md, kind 6): the entities that have
// appeared, sorted by key hash.

#include <algorithm>
#include <limits>

#include "common/time.h"
#include "engine/operators/families.h"
#include "engine/operators/operator.h"

namespace tideline::engine {

using fenl::Node;

int64_t next_tick_at(std::string_view fn, int64_t t) {
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

namespace {

struct TickState : OperatorState {
  std::vector<std::pair<uint64_t, uint32_t>> active;  // (key hash, entity), sorted
  std::vector<uint8_t> is_active;                     // by entity

  StateKind kind() const override { return StateKind::kTick; }
  void write_global(StateWriter& w) const override { (void)w; }
  Status read_global(StateReader& r, bool merge) override {
    (void)r;
    (void)merge;
    return {};
  }
  void write_entities(StateWriter& w, std::span<const uint32_t> ents) const override {
    std::vector<uint8_t> on(ents.size());
    for (size_t i = 0; i < ents.size(); ++i)
      on[i] = ents[i] < is_active.size() && is_active[ents[i]] ? 1 : 0;
    w.vec(on);
  }
  Status read_entities(StateReader& r, std::span<const uint32_t> ents,
                       const std::vector<uint64_t>& hashes) override {
    std::vector<uint8_t> on;
    TL_RETURN_STATUS_IF_ERROR(r.vec(on));
    if (on.size() != ents.size()) return r.fail("tick flags do not match the entity count");
    bool removed = false;
    for (size_t i = 0; i < ents.size(); ++i) {
      const uint32_t e = ents[i];
      if (e >= hashes.size()) return r.fail("tick entity out of range");
      if (e >= is_active.size()) is_active.resize(size_t{e} + 1, 0);
      if (on[i] > 1) return r.fail("tick flag " + std::to_string(on[i]));
      if (on[i] && !is_active[e]) active.emplace_back(hashes[e], e);
      if (!on[i] && is_active[e]) removed = true;
      is_active[e] = on[i];
    }
    if (removed) std::erase_if(active, [&](const auto& p) { return !is_active[p.second]; });
    std::sort(active.begin(), active.end());
    return {};
  }
};

Result<Stream> eval_tick(Evaluator& ev, const Node& n, const Ctx& ctx) {
  if (!ctx.domain) {
    return error(StatusCode::kTypeError,
                 "'" + n.fn +
                     "()' needs an input: use it inside an aggregation's window "
                     "(since/sliding) or as the condition of when/if");
  }
  const Domain& d = *ctx.domain;
  const Chunk& chunk = ev.chunk();
  auto dom = std::make_shared<Domain>();
  dom->grouping = d.grouping;
  Stream s;
  s.continuous = false;
  s.domain = dom;
  TL_ASSIGN_OR_RETURN(TickState * st, ev.state_for<TickState>(n, ctx.key, d.grouping));
  const GroupingState& g = ev.groupings()[static_cast<size_t>(d.grouping)];
  // Entities new to the context in this chunk, in order of their first row.
  std::vector<std::pair<int64_t, uint32_t>> fresh;
  if (st->is_active.size() < g.size()) st->is_active.resize(g.size(), 0);
  for (size_t i = 0; i < d.size(); ++i) {
    uint32_t e = d.entity[i];
    if (st->is_active[e]) continue;
    st->is_active[e] = 2;  // seen in this chunk
    fresh.emplace_back(d.time[i], e);
  }
  auto activate = [&](size_t from, size_t to) {
    size_t before = st->active.size();
    for (size_t k = from; k < to; ++k) {
      st->active.emplace_back(g.hashes[fresh[k].second], fresh[k].second);
      st->is_active[fresh[k].second] = 1;
    }
    if (st->active.size() != before) {
      std::sort(st->active.begin() + static_cast<ptrdiff_t>(before), st->active.end());
      std::inplace_merge(st->active.begin(), st->active.begin() + static_cast<ptrdiff_t>(before),
                         st->active.end());
    }
  };
  size_t next_fresh = 0;
  if (!st->active.empty() || !fresh.empty()) {
    // The first tick to consider: the chunk's start, or the context's first row when no
    // entity was active before (no tick rows exist before it).
    int64_t start = chunk.from;
    if (!fresh.empty() && (st->active.empty() || start == INT64_MIN)) start = fresh.front().first;
    if (start == INT64_MIN) start = d.size() ? d.time.front() : 0;
    const int64_t limit = chunk.max_input_time;
    const size_t kMaxRows = 100'000'000;
    for (int64_t t = next_tick_at(n.fn, start); t < chunk.to && t <= limit;
         t = t == INT64_MAX ? t : next_tick_at(n.fn, t + 1)) {
      size_t upto = next_fresh;
      while (upto < fresh.size() && fresh[upto].first <= t) ++upto;
      activate(next_fresh, upto);
      next_fresh = upto;
      for (const auto& [h, e] : st->active) {
        dom->time.push_back(t);
        dom->subsort.push_back(std::numeric_limits<uint64_t>::max());
        dom->key_hash.push_back(h);
        dom->entity.push_back(e);
      }
      if (dom->size() > kMaxRows)
        return error(StatusCode::kInvalidArgument, "too many tick rows from '" + n.fn + "()'");
      if (t >= limit) break;
    }
  }
  activate(next_fresh, fresh.size());
  s.values = bool_column(static_cast<int64_t>(dom->size()), true);
  s.is_new.assign(dom->size(), 1);
  return s;
}

const OperatorDef kTickOps[] = {
    {"minutely", eval_tick}, {"hourly", eval_tick}, {"daily", eval_tick},
    {"monthly", eval_tick},  {"yearly", eval_tick},
};

}  // namespace

std::span<const OperatorDef> tick_operators() {
  return kTickOps;
}

Result<std::unique_ptr<OperatorState>> make_tick_state() {
  return std::unique_ptr<OperatorState>(new TickState());
}

}  // namespace tideline::engine
