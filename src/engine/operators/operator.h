#pragma once
// State of stateful operators (docs/fenl.md "Operator model", docs/formats/engine-state.md).
//
// Contract of every OperatorState:
//  - it holds values, never references to rows of a finished chunk: an operator that keeps
//    references to the chunk's rows while it runs turns them into stored values before its
//    evaluation returns (when later chunks follow, Chunk::keep_state);
//  - snapshot() writes everything needed to continue; restore() on a fresh state of the
//    same kind reads it back (bounds-checked, kCorruption on bad bytes);
//  - equal states give equal bytes.

#include <memory>

#include "engine/eval.h"
#include "engine/state_io.h"

namespace tideline::engine {

enum class StateKind : uint8_t {
  kAccumulators = 1,
  kFirstLast = 2,
  kLag = 3,
  kShiftTo = 4,
  kShiftUntil = 5,
  kTick = 6,
};

class OperatorState {
 public:
  virtual ~OperatorState() = default;
  virtual StateKind kind() const = 0;
  virtual void snapshot(StateWriter& w) const = 0;
  virtual Status restore(StateReader& r) = 0;
};

// A fresh state of `kind` for restore (the payload then fills it).
Result<std::unique_ptr<OperatorState>> make_state(StateKind kind, uint8_t layout);

// Values an operator keeps across chunks, addressed by slot, with references encoded as in
// gather_refs (>= 0: a row of the current chunk's column, <= -2: a stored slot).
struct ValueStore {
  Column values;
  // Copies the chunk rows named by `refs` (entries >= 0) into the store and rewrites them as
  // stored references. `chunk` is the column the chunk references point into.
  void store(const Column& chunk, std::span<int64_t* const> refs);
  // Keeps only the stored slots still referenced (entries <= -2 of `refs`), renumbering
  // them, once the store holds more than twice as many values as are referenced.
  void compact(std::span<int64_t* const> refs, size_t live);
  // Snapshots hold slots, not references: a stored reference as its slot (-1, empty, stays
  // -1), and a slot read back as a reference, where a slot outside the stored values, or
  // -1 unless `allow_empty`, is corrupt.
  static int64_t slot_of(int64_t ref) { return ref == -1 ? -1 : ref_slot(ref); }
  Status ref_from(StateReader& r, int64_t slot, bool allow_empty, int64_t& ref) const {
    if (slot == -1 && allow_empty) {
      ref = -1;
      return {};
    }
    if (slot < 0 || slot >= values.size()) return r.fail("value slot out of range");
    ref = stored_ref(slot);
    return {};
  }
};

}  // namespace tideline::engine
