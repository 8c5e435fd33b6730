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

}  // namespace tideline::engine
