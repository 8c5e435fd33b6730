#pragma once
// The processor's durable state: checkpoints and the step journal, their encoding, and the
// job's view of a state store (docs/formats/checkpoint.md).
// Thread-safety: one JobState per thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "io/state_store.h"
#include "io/topic.h"

namespace tideline::pipeline {

// Per partition: the last message covered (checkpoint) or consumed (step record).
using Positions = std::map<int32_t, io::MessageId>;

// Whether message `id` is at or before `pos` in its partition's order.
inline bool covered_by(const io::MessageId& id, const io::MessageId& pos) {
  return !io::precedes(pos, id);
}

// Running totals carried by checkpoints and step records.
struct Totals {
  int64_t events = 0;
  int64_t output_rows = 0;
  int64_t late_events = 0;
  int64_t dead_letters = 0;
  bool operator==(const Totals&) const = default;
};

struct Checkpoint {
  uint64_t fingerprint = 0;
  int64_t step = 0;  // the last step included (0 = none)
  Positions positions;
  Totals totals;
  int64_t created_ms = 0;
  // The engine state: images 0 .. images-1 of chain `chain` (a full image, then deltas),
  // `chain_bytes` in total, stored as separate entries (JobState::put_image).
  uint64_t chain = 0;
  uint32_t images = 0;
  uint64_t chain_bytes = 0;
};

struct StepRecord {
  int64_t step = 0;
  Positions positions;
  int64_t watermark = INT64_MIN;  // INT64_MIN = the step did not advance
  Totals totals;                  // after the step
};

std::string encode_checkpoint(const Checkpoint& cp);
Result<Checkpoint> decode_checkpoint(std::string_view bytes);
std::string encode_step(const StepRecord& r);
Result<StepRecord> decode_step(std::string_view bytes);

// One job's checkpoint and journal in a state store (scope = the job name).
class JobState {
 public:
  JobState(io::StateStore& store, std::string job) : store_(store), job_(std::move(job)) {}
  const std::string& job() const { return job_; }
  Result<std::optional<Checkpoint>> load_checkpoint();
  // The journal records after step `after`, in step order.
  Result<std::vector<StepRecord>> load_journal(int64_t after);
  Status append(const StepRecord& r);
  // Stores image `index` of engine state chain `chain` (docs/formats/checkpoint.md,
  // "Incremental engine state"); overwrites an image a crash left behind under that name.
  Status put_image(uint64_t chain, uint32_t index, std::string_view image);
  // The images `cp` includes, in chain order; kCorruption when one is missing or the total
  // size differs from the checkpoint's.
  Result<std::vector<std::string>> load_images(const Checkpoint& cp);
  // Replaces the checkpoint and deletes the journal records it includes, and (when the
  // checkpoint starts a new chain) the images of every older chain.
  Status save_checkpoint(const Checkpoint& cp);
  // Deletes the checkpoint and the whole journal (--reset-state).
  Status reset();

 private:
  io::StateStore& store_;
  std::string job_;
};

}  // namespace tideline::pipeline
