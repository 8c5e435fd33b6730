#pragma once
// The operator families (one file each under src/engine/operators/) and their registry
// lists; engine/eval.cc joins them into the operator registry.

#include <span>

#include "engine/eval.h"

namespace tideline::engine {

std::span<const OperatorDef>
aggregation_operators();                          // aggregation.cc: count ... last, since, sliding
std::span<const OperatorDef> tick_operators();    // tick.cc: minutely ... yearly
std::span<const OperatorDef> when_operators();    // when.cc: when, if, null_if
std::span<const OperatorDef> shift_operators();   // shift.cc: shift_to, shift_until
std::span<const OperatorDef> lag_operators();     // lag.cc: lag
std::span<const OperatorDef> lookup_operators();  // lookup.cc: lookup, with_key
std::span<const OperatorDef>
record_operators();  // scalar.cc: extend, select/remove_fields, time_of

// The first `count` arguments of `n` (all by default) evaluated in `ctx` and aligned into
// their union domain (null: all constant). `cols` may borrow from the argument streams,
// which `args` keeps alive.
struct Aligned {
  std::vector<StreamPtr> args;
  ColumnList cols;
  std::vector<uint8_t> is_new;
  DomainPtr domain;
};
Result<Aligned> eval_aligned(Evaluator& ev, const fenl::Node& n, const Ctx& ctx,
                             size_t count = SIZE_MAX);

// Non-call nodes and element-wise calls (scalar.cc).
Result<Stream> eval_field(Evaluator& ev, const fenl::Node& n, const Ctx& ctx);
Result<Stream> eval_record(Evaluator& ev, const fenl::Node& n, const Ctx& ctx);
Result<Stream> eval_elementwise(Evaluator& ev, const fenl::Node& n, const Ctx& ctx);

// The smallest time >= t at which tick function `fn` (minutely ... yearly) fires (tick.cc).
int64_t next_tick_at(std::string_view fn, int64_t t);

}  // namespace tideline::engine
