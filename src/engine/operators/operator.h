#pragma once
// State of stateful operators (docs/fenl.md "Operator model", docs/formats/engine-state.md).
//
// Contract of every OperatorState:
//  - it holds values, never references to rows of a finished chunk: an operator that keeps
//    references to the chunk's rows while it runs turns them into stored values before its
//    evaluation returns (when later chunks follow, Chunk::keep_state);
//  - its state is split in a global part (configuration and counters, written whole in every
//    image) and a per-entity part (docs/formats/engine-state.md, "Images"):
//    write_entities(ents) writes the state of exactly the listed entities, as values (never
//    value-store slots); read_entities(ents) *sets* those entities' state (an entity the
//    image lists gets exactly what the image holds; others keep theirs), so a full image,
//    a chain of deltas and a merge of partial images all restore through the same code;
//  - an entity's state changes only while the operator processes one of the entity's rows
//    (the session's change tracking relies on it);
//  - reads are bounds-checked (kCorruption on bad bytes); equal states give equal bytes.

#include <memory>
#include <span>
#include <vector>

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
  int grouping = -1;  // the grouping whose entities index the state (-1: none yet)
  virtual StateKind kind() const = 0;
  virtual void write_global(StateWriter& w) const = 0;
  // `merge`: a later partial image of a merge; counters take the maximum and the
  // configuration must equal this state's (else kCorruption).
  virtual Status read_global(StateReader& r, bool merge) = 0;
  // `ents`: this session's entity indices, in the image's list order; `hashes`: the key
  // hash of every entity of the operator's grouping.
  virtual void write_entities(StateWriter& w, std::span<const uint32_t> ents) const = 0;
  virtual Status read_entities(StateReader& r, std::span<const uint32_t> ents,
                               const std::vector<uint64_t>& hashes) = 0;
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
  // Image encoding of values named by references (stored references or -1 = none):
  // `vec<u8>` has-value per reference, then a column of the present values in order.
  void write_refs(StateWriter& w, std::span<const int64_t> refs) const;
  // Reads `n` such references back: present values are appended to the store and `out`
  // gets their stored references (-1 for none).
  Status read_refs(StateReader& r, size_t n, std::vector<int64_t>& out);
};

}  // namespace tideline::engine
