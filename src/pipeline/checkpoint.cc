// Checkpoint and step-record encoding and the job state (docs/formats/checkpoint.md).
#include "pipeline/checkpoint.h"

#include <fmt/format.h>

#include <cstring>

namespace tideline::pipeline {

namespace {

constexpr std::string_view kCheckpointMagic = "TLCKPT03";
constexpr std::string_view kCheckpointMagicV2 = "TLCKPT02";
constexpr uint32_t kCheckpointVersion = 3;
constexpr std::string_view kStatePrefix = "state/";
constexpr std::string_view kStepMagic = "TLSTEP01";
constexpr std::string_view kCheckpointName = "checkpoint";
constexpr std::string_view kJournalPrefix = "journal/";

class Writer {
 public:
  void raw(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i32(int32_t v) { raw(&v, 4); }
  void i64(int64_t v) { raw(&v, 8); }
  void u64(uint64_t v) { raw(&v, 8); }
  void positions(const Positions& p) {
    u32(static_cast<uint32_t>(p.size()));
    for (const auto& [part, id] : p) {
      i32(part);
      i64(id.ledger_id);
      i64(id.entry_id);
      i32(id.batch_index);
    }
  }
  void totals(const Totals& t) {
    i64(t.events);
    i64(t.output_rows);
    i64(t.late_events);
    i64(t.dead_letters);
  }
  std::string out;
};

// Bounds-checked reads; errors name the record and the byte offset.
class Reader {
 public:
  Reader(std::string_view in, std::string_view what) : in_(in), what_(what) {}
  Status raw(void* p, size_t n) {
    if (in_.size() - at_ < n) return fail(fmt::format("truncated (needs {} more bytes)", n));
    std::memcpy(p, in_.data() + at_, n);
    at_ += n;
    return {};
  }
  Status u32(uint32_t& v) { return raw(&v, 4); }
  Status i32(int32_t& v) { return raw(&v, 4); }
  Status i64(int64_t& v) { return raw(&v, 8); }
  Status u64(uint64_t& v) { return raw(&v, 8); }
  Status magic(std::string_view m) {
    if (in_.substr(at_, m.size()) != m) return fail(fmt::format("not a {} record", what_));
    at_ += m.size();
    return {};
  }
  Status positions(Positions& p) {
    uint32_t n = 0;
    TL_RETURN_IF_ERROR(u32(n));
    if (n > (in_.size() - at_) / 24) return fail(fmt::format("{} positions exceed the data", n));
    for (uint32_t i = 0; i < n; ++i) {
      io::MessageId id;
      TL_RETURN_IF_ERROR(i32(id.partition));
      TL_RETURN_IF_ERROR(i64(id.ledger_id));
      TL_RETURN_IF_ERROR(i64(id.entry_id));
      TL_RETURN_IF_ERROR(i32(id.batch_index));
      p[id.partition] = id;
    }
    return {};
  }
  Status totals(Totals& t) {
    TL_RETURN_IF_ERROR(i64(t.events));
    TL_RETURN_IF_ERROR(i64(t.output_rows));
    TL_RETURN_IF_ERROR(i64(t.late_events));
    return i64(t.dead_letters);
  }
  Status bytes64(std::string& s) {
    uint64_t n = 0;
    TL_RETURN_IF_ERROR(u64(n));
    if (n > in_.size() - at_) return fail(fmt::format("{} bytes exceed the data", n));
    s.assign(in_.substr(at_, n));
    at_ += n;
    return {};
  }
  Status end() {
    if (at_ != in_.size()) return fail(fmt::format("{} bytes after the record", in_.size() - at_));
    return {};
  }
  Status fail(const std::string& why) const {
    return Status(StatusCode::kCorruption, fmt::format("{}: byte {}: {}", what_, at_, why));
  }

 private:
  std::string_view in_;
  std::string_view what_;
  size_t at_ = 0;
};

std::string journal_name(int64_t step) {
  return fmt::format("journal/{:020d}", step);
}

std::string chain_prefix(uint64_t chain) {
  return fmt::format("state/{:020d}/", chain);
}

}  // namespace

std::string encode_checkpoint(const Checkpoint& cp) {
  Writer w;
  w.raw(kCheckpointMagic.data(), kCheckpointMagic.size());
  w.u32(kCheckpointVersion);
  w.u64(cp.fingerprint);
  w.i64(cp.step);
  w.positions(cp.positions);
  w.totals(cp.totals);
  w.i64(cp.created_ms);
  w.u64(cp.chain);
  w.u32(cp.images);
  w.u64(cp.chain_bytes);
  return std::move(w.out);
}

Result<Checkpoint> decode_checkpoint(std::string_view bytes) {
  Reader r(bytes, "checkpoint");
  Checkpoint cp;
  if (bytes.substr(0, kCheckpointMagicV2.size()) == kCheckpointMagicV2)
    return error(StatusCode::kInvalidArgument,
                 "checkpoint record version 2 (one whole engine snapshot of state format 1) is "
                 "not read by this build (record version 3, incremental engine state); start "
                 "the processor with --reset-state to discard it");
  TL_RETURN_IF_ERROR(r.magic(kCheckpointMagic));
  uint32_t version = 0;
  TL_RETURN_IF_ERROR(r.u32(version));
  if (version != kCheckpointVersion)
    return error(
        r.fail(fmt::format("version {} (this build reads {})", version, kCheckpointVersion)));
  TL_RETURN_IF_ERROR(r.u64(cp.fingerprint));
  TL_RETURN_IF_ERROR(r.i64(cp.step));
  TL_RETURN_IF_ERROR(r.positions(cp.positions));
  TL_RETURN_IF_ERROR(r.totals(cp.totals));
  TL_RETURN_IF_ERROR(r.i64(cp.created_ms));
  TL_RETURN_IF_ERROR(r.u64(cp.chain));
  TL_RETURN_IF_ERROR(r.u32(cp.images));
  TL_RETURN_IF_ERROR(r.u64(cp.chain_bytes));
  TL_RETURN_IF_ERROR(r.end());
  if (cp.images == 0) return error(r.fail("a checkpoint without engine state images"));
  return cp;
}

std::string encode_step(const StepRecord& s) {
  Writer w;
  w.raw(kStepMagic.data(), kStepMagic.size());
  w.i64(s.step);
  w.positions(s.positions);
  w.i64(s.watermark);
  w.totals(s.totals);
  return std::move(w.out);
}

Result<StepRecord> decode_step(std::string_view bytes) {
  Reader r(bytes, "step record");
  StepRecord s;
  TL_RETURN_IF_ERROR(r.magic(kStepMagic));
  TL_RETURN_IF_ERROR(r.i64(s.step));
  TL_RETURN_IF_ERROR(r.positions(s.positions));
  TL_RETURN_IF_ERROR(r.i64(s.watermark));
  TL_RETURN_IF_ERROR(r.totals(s.totals));
  TL_RETURN_IF_ERROR(r.end());
  return s;
}

Result<std::optional<Checkpoint>> JobState::load_checkpoint() {
  TL_ASSIGN_OR_RETURN(auto bytes, store_.get(job_, kCheckpointName));
  if (!bytes) return std::optional<Checkpoint>();
  auto cp = decode_checkpoint(*bytes);
  if (!cp) return error(cp.error().with_context("job " + job_));
  return std::optional<Checkpoint>(std::move(*cp));
}

Result<std::vector<StepRecord>> JobState::load_journal(int64_t after) {
  TL_ASSIGN_OR_RETURN(auto entries, store_.scan(job_, kJournalPrefix));
  std::vector<StepRecord> out;
  for (const auto& [name, value] : entries) {
    auto r = decode_step(value);
    if (!r) return error(r.error().with_context(fmt::format("job {} {}", job_, name)));
    if (r->step <= after) continue;
    if (!out.empty() && r->step != out.back().step + 1) {
      return error(StatusCode::kCorruption,
                   fmt::format("job {}: the journal skips from step {} to step {}", job_,
                               out.back().step, r->step));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

Status JobState::append(const StepRecord& r) {
  return store_.put(job_, journal_name(r.step), encode_step(r));
}

Status JobState::put_image(uint64_t chain, uint32_t index, std::string_view image) {
  return store_.put(job_, chain_prefix(chain) + fmt::format("{:020d}", index), image);
}

Result<std::vector<std::string>> JobState::load_images(const Checkpoint& cp) {
  TL_ASSIGN_OR_RETURN(auto entries, store_.scan(job_, chain_prefix(cp.chain)));
  std::vector<std::string> images;
  uint64_t total = 0;
  for (auto& [name, value] : entries) {
    if (images.size() == cp.images) break;  // later images: left by a crash, not included
    const std::string want = chain_prefix(cp.chain) + fmt::format("{:020d}", images.size());
    if (name != want)
      return error(StatusCode::kCorruption,
                   fmt::format("job {}: engine state chain {}: image {} is missing (found {})",
                               job_, cp.chain, images.size(), name));
    total += value.size();
    images.push_back(std::move(value));
  }
  if (images.size() != cp.images)
    return error(StatusCode::kCorruption,
                 fmt::format("job {}: engine state chain {} has {} of the checkpoint's {} images",
                             job_, cp.chain, images.size(), cp.images));
  if (total != cp.chain_bytes)
    return error(StatusCode::kCorruption,
                 fmt::format("job {}: engine state chain {} holds {} bytes, the checkpoint says {}",
                             job_, cp.chain, total, cp.chain_bytes));
  return images;
}

Status JobState::save_checkpoint(const Checkpoint& cp) {
  TL_RETURN_IF_ERROR(store_.put(job_, kCheckpointName, encode_checkpoint(cp)));
  TL_RETURN_IF_ERROR(store_.erase(job_, kJournalPrefix, journal_name(cp.step)));
  // A new chain: the older ones (lower numbers) are no longer referred to.
  if (cp.images == 1 && cp.chain > 0)
    TL_RETURN_IF_ERROR(store_.erase(job_, kStatePrefix, chain_prefix(cp.chain - 1) + "~"));
  return {};
}

Status JobState::reset() {
  TL_RETURN_IF_ERROR(store_.erase(job_, kCheckpointName));
  TL_RETURN_IF_ERROR(store_.erase(job_, kStatePrefix));
  return store_.erase(job_, kJournalPrefix);
}

}  // namespace tideline::pipeline
