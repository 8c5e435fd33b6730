#pragma once
// Processor checkpoints: the engine state plus the input position of every partition,
// written atomically (docs/formats/checkpoint.md).
// Thread-safety: one store per thread.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "io/topic.h"

namespace tideline::pipeline {

struct Checkpoint {
  uint64_t fingerprint = 0;
  int64_t sequence = 0;
  // Per partition: the last message the checkpoint covers.
  std::map<int32_t, io::MessageId> positions;
  int64_t events = 0;
  int64_t output_rows = 0;
  int64_t late_events = 0;
  std::string snapshot;
  int64_t created_ms = 0;
};

// Whether message `id` is at or before `pos` in its partition's order.
inline bool covered_by(const io::MessageId& id, const io::MessageId& pos) {
  return id.ledger_id < pos.ledger_id ||
         (id.ledger_id == pos.ledger_id && id.entry_id <= pos.entry_id);
}

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  virtual Result<std::optional<Checkpoint>> load(const std::string& job) = 0;
  virtual Status save(const std::string& job, const Checkpoint& cp) = 0;
  virtual Status remove(const std::string& job) = 0;
};

// The SQLite store `<dir>/checkpoints.sqlite` (the directory is created if missing).
Result<std::unique_ptr<CheckpointStore>> open_checkpoint_store(const std::string& dir);

}  // namespace tideline::pipeline
