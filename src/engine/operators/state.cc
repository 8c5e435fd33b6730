// The state factory for restore: a fresh OperatorState of each snapshot kind.

#include "engine/operators/operator.h"

namespace tideline::engine {

Result<std::unique_ptr<OperatorState>> make_aggregation_state(StateKind kind, uint8_t layout);
Result<std::unique_ptr<OperatorState>> make_tick_state();
Result<std::unique_ptr<OperatorState>> make_shift_state(StateKind kind);
Result<std::unique_ptr<OperatorState>> make_lag_state();

Result<std::unique_ptr<OperatorState>> make_state(StateKind kind, uint8_t layout) {
  switch (kind) {
    case StateKind::kAccumulators:
    case StateKind::kFirstLast:
      return make_aggregation_state(kind, layout);
    case StateKind::kLag:
      return make_lag_state();
    case StateKind::kShiftTo:
    case StateKind::kShiftUntil:
      return make_shift_state(kind);
    case StateKind::kTick:
      return make_tick_state();
  }
  return error(StatusCode::kCorruption, "engine state: unknown operator state kind " +
                                            std::to_string(static_cast<int>(kind)));
}

void ValueStore::write_refs(StateWriter& w, std::span<const int64_t> refs) const {
  std::vector<uint8_t> has(refs.size());
  std::vector<int32_t> rows;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (refs[i] > -2) continue;
    has[i] = 1;
    rows.push_back(static_cast<int32_t>(ref_slot(refs[i])));
  }
  w.vec(has);
  w.column(rows.empty() ? Column(DataType::of(TypeId::kNull)) : gather(values, rows));
}

Status ValueStore::read_refs(StateReader& r, size_t n, std::vector<int64_t>& out) {
  std::vector<uint8_t> has;
  TL_RETURN_STATUS_IF_ERROR(r.vec(has));
  if (has.size() != n) return r.fail("value flags do not match the entity count");
  TL_ASSIGN_OR_RETURN(Column vals, r.column());
  int64_t present = 0;
  for (uint8_t h : has) present += h ? 1 : 0;
  if (vals.size() != present) return r.fail("values do not match their flags");
  int64_t base = values.size();
  if (present > 0) {
    if (values.size() == 0) {
      values = std::move(vals);
      base = 0;
    } else {
      if (!type_equals(*values.type(), *vals.type()))
        return r.fail("values of type " + vals.type()->to_string() + ", stored " +
                      values.type()->to_string());
      append_column(values, vals);
    }
  }
  out.assign(n, -1);
  int64_t k = 0;
  for (size_t i = 0; i < n; ++i)
    if (has[i]) out[i] = stored_ref(base + k++);
  return {};
}

}  // namespace tideline::engine
