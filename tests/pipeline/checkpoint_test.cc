// Checkpoint and step-record encoding (docs/formats/checkpoint.md) and the job state over a
// store: round trips, damaged bytes are Corruption errors naming the byte, the journal is
// returned after the checkpoint's step and is cut by save_checkpoint.
#include "pipeline/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "io/embedded/embedded.h"

namespace tideline::pipeline {
namespace {

Checkpoint sample_checkpoint() {
  Checkpoint cp;
  cp.fingerprint = 0x1234567890abcdefULL;
  cp.step = 42;
  cp.positions[0] = {0, 0, 17, -1};
  cp.positions[3] = {3, 99, 5, 7};
  cp.totals = {1000, 900, 3, 4};
  cp.created_ms = 1700000000000;
  cp.chain = 7;
  cp.images = 3;
  cp.chain_bytes = 300;
  return cp;
}

TEST(CheckpointRecords, RoundTrip) {
  Checkpoint cp = sample_checkpoint();
  auto back = decode_checkpoint(encode_checkpoint(cp));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->fingerprint, cp.fingerprint);
  EXPECT_EQ(back->step, 42);
  EXPECT_EQ(back->positions, cp.positions);
  EXPECT_EQ(back->totals, cp.totals);
  EXPECT_EQ(back->chain, 7u);
  EXPECT_EQ(back->images, 3u);
  EXPECT_EQ(back->chain_bytes, 300u);

  StepRecord r{.step = 7, .positions = cp.positions, .watermark = -5, .totals = {1, 2, 3, 4}};
  auto step = decode_step(encode_step(r));
  ASSERT_TRUE(step) << step.error().message();
  EXPECT_EQ(step->step, 7);
  EXPECT_EQ(step->watermark, -5);
  EXPECT_EQ(step->positions, r.positions);
  EXPECT_EQ(step->totals, r.totals);
}

TEST(CheckpointRecords, DamagedBytesAreCorruptionErrors) {
  const std::string bytes = encode_checkpoint(sample_checkpoint());
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = decode_checkpoint(bytes.substr(0, cut));
    ASSERT_FALSE(r) << "prefix of " << cut << " bytes";
    EXPECT_EQ(r.error().code(), StatusCode::kCorruption);
    EXPECT_NE(r.error().message().find("byte"), std::string::npos) << r.error().message();
  }
  auto trailing = decode_checkpoint(bytes + "x");
  ASSERT_FALSE(trailing);
  EXPECT_NE(trailing.error().message().find("after the record"), std::string::npos);
  std::string other_version = bytes;
  other_version[8] = 9;
  auto v = decode_checkpoint(other_version);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("version 9"), std::string::npos) << v.error().message();
  EXPECT_FALSE(decode_step(bytes)) << "a checkpoint is not a step record";
}

TEST(CheckpointRecords, JobStateJournalAndCheckpoint) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tl-jobstate-cp-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto store = embedded::open_state_store(dir.string());
  ASSERT_TRUE(store);
  JobState job(**store, "in|sub");
  auto step = [](int64_t s) {
    StepRecord r;
    r.step = s;
    return r;
  };
  for (int64_t s = 1; s <= 5; ++s) ASSERT_TRUE(job.append(step(s)).ok());
  auto journal = job.load_journal(0);
  ASSERT_TRUE(journal);
  ASSERT_EQ(journal->size(), 5u);
  Checkpoint cp = sample_checkpoint();
  cp.step = 3;
  ASSERT_TRUE(job.save_checkpoint(cp).ok());
  journal = job.load_journal(cp.step);
  ASSERT_TRUE(journal);
  ASSERT_EQ(journal->size(), 2u);
  EXPECT_EQ(journal->front().step, 4);
  auto loaded = job.load_checkpoint();
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->step, 3);
  // A gap in the journal is corruption, not a silent skip.
  ASSERT_TRUE(job.append(step(7)).ok());
  auto gap = job.load_journal(3);
  ASSERT_FALSE(gap);
  EXPECT_NE(gap.error().message().find("skips from step 5 to step 7"), std::string::npos);
  ASSERT_TRUE(job.reset().ok());
  EXPECT_FALSE(job.load_checkpoint().value());
  EXPECT_TRUE(job.load_journal(0).value().empty());
  fs::remove_all(dir);
}

// Version 2 records (a whole engine snapshot inline) are refused with what to do.
TEST(CheckpointRecords, VersionTwoIsRefused) {
  std::string v2 = encode_checkpoint(sample_checkpoint());
  v2.replace(0, 8, "TLCKPT02");
  auto r = decode_checkpoint(v2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("--reset-state"), std::string::npos) << r.error().message();
}

// Engine state chains: images stored one per entry, loaded in order and checked against the
// checkpoint; a new chain erases the older ones; a missing image is corruption.
TEST(CheckpointRecords, JobStateImageChains) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tl-jobstate-img-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto store = embedded::open_state_store(dir.string());
  ASSERT_TRUE(store);
  JobState job(**store, "in|sub");
  Checkpoint cp = sample_checkpoint();
  cp.chain = 1;
  cp.images = 0;
  cp.chain_bytes = 0;
  for (uint32_t i = 0; i < 4; ++i) {
    const std::string image(10 + i, static_cast<char>('a' + i));
    ASSERT_TRUE(job.put_image(1, i, image).ok());
    cp.images = i + 1;
    cp.chain_bytes += image.size();
    ASSERT_TRUE(job.save_checkpoint(cp).ok());
  }
  ASSERT_TRUE(job.put_image(1, 4, "left by a crash before its checkpoint").ok());
  auto images = job.load_images(cp);
  ASSERT_TRUE(images) << images.error().message();
  ASSERT_EQ(images->size(), 4u);
  EXPECT_EQ((*images)[3], std::string(13, 'd'));
  Checkpoint wrong = cp;
  wrong.chain_bytes += 1;
  auto bad = job.load_images(wrong);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), StatusCode::kCorruption);
  // Compaction: chain 2 starts with a full image; chain 1 goes.
  Checkpoint next = cp;
  next.chain = 2;
  next.images = 1;
  next.chain_bytes = 4;
  ASSERT_TRUE(job.put_image(2, 0, "full").ok());
  ASSERT_TRUE(job.save_checkpoint(next).ok());
  auto old = job.load_images(cp);
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message().find("0 of the checkpoint's 4 images"), std::string::npos)
      << old.error().message();
  auto now = job.load_images(next);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->front(), "full");
  // A missing image in the middle.
  ASSERT_TRUE(job.put_image(2, 2, "second delta").ok());
  next.images = 3;
  auto gap = job.load_images(next);
  ASSERT_FALSE(gap);
  EXPECT_NE(gap.error().message().find("image 1 is missing"), std::string::npos)
      << gap.error().message();
  ASSERT_TRUE(job.reset().ok());
  EXPECT_TRUE((*store)->scan("in|sub", "state/").value().empty());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tideline::pipeline
