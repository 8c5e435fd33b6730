// The processor stage: input topic -> Fenl query (incremental) -> output topic, with
// event-time watermarks, checkpoints and a step journal for exactly-once results
// (docs/formats/checkpoint.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "common/failpoint.h"
#include "common/fnv.h"
#include "common/progress.h"
#include "common/time.h"
#include "engine/kernels.h"
#include "engine/query.h"
#include "io/state_store.h"
#include "pipeline/checkpoint.h"
#include "pipeline/message_decoder.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_metrics.h"
#include "pipeline/stage_util.h"

namespace tideline::pipeline {

using namespace detail;  // NOLINT(google-build-using-namespace): this part's own helpers
using std::chrono::milliseconds;

namespace {

int64_t monotonic_ms() {
  return monotonic_ns() / kNanosPerMilli;
}

// How a step's effects become durable (docs/formats/checkpoint.md, "Protocol").
enum class Durability {
  kAtomic,        // embedded: output, journal, checkpoint and acks in one transaction
  kJournalFirst,  // clusters: journal record first, then output with sequence ids
  kNone,          // not an Exclusive subscription: state in memory, at-least-once
};

// Messages asked for per receive.
constexpr size_t kReceiveMax = 4096;

// How long a replay waits for a message its journal names before giving up.
constexpr int64_t kReplayWaitMs = 30000;

class Processor {
 public:
  Processor(const PipelineConfig& c, const StageOptions& o)
      : c_(c), o_(o), sm_("processor", c, o) {}

  Result<StageReport> run() {
    int64_t t0 = monotonic_ns();
    TL_RETURN_IF_ERROR(setup());
    TL_RETURN_IF_ERROR(recover());
    auto backlog = consumer_->backlog();
    ProgressBar bar("process", o_.follow || !backlog ? -1 : *backlog);
    bar.set_detail([this] { return sm_.progress_detail(); });
    while (!stopped(o_)) {
      TL_ASSIGN_OR_RETURN(auto msgs, consumer_->receive(kReceiveMax, milliseconds(o_.idle_ms)));
      const bool idle = msgs.empty();
      sm_.on_received(msgs);
      // Fewer than asked for: the source had nothing more at this moment (caught up).
      if (msgs.size() < kReceiveMax) caught_up_ms_ = monotonic_ms();
      TL_RETURN_IF_ERROR(run_step(msgs, idle, nullptr));
      sm_.set_watermark(session_->watermark(), latest_any_);
      roll_delay_window();
      sm_.refresh_backlog(*consumer_);
      bar.update(rep_.rows_in);
      if (!o_.follow && idle) break;
    }
    if (dirty_) TL_RETURN_IF_ERROR(checkpoint_alone());  // clean shutdown (drained or signalled)
    bar.finish();
    report_delays();
    if (rereads_ > 0)
      spdlog::info("processor: {} redelivered events were covered by the checkpoint (not re-read)",
                   rereads_);
    TL_RETURN_IF_ERROR(producer_->close());
    TL_RETURN_IF_ERROR(consumer_->close());
    if (dlq_) TL_RETURN_IF_ERROR(dlq_->close());
    rep_.seconds = seconds_since(t0);
    return rep_;
  }

 private:
  Status setup() {
    TL_ASSIGN_OR_RETURN_S(topics_, open_topic_service(c_));
    in_topic_ = c_.topic_url(c_.topic_input);
    out_topic_ = c_.topic_url(c_.topic_output);
    TL_ASSIGN_OR_RETURN_S(in_codec_, topic_codec(*topics_, in_topic_, c_.input_schema));
    decoder_.emplace(*topics_, in_topic_, in_codec_);  // each message with its writer schema
    TL_ASSIGN_OR_RETURN_S(out_codec_, topic_codec(*topics_, out_topic_, c_.output_schema));
    TL_ASSIGN_OR_RETURN_S(auto query_text, read_text_file(c_.query_file));
    engine::TableSpec table{.name = c_.query_table,
                            .schema = in_codec_->type(),
                            .time_column = c_.time_column,
                            .key_column = c_.key_column,
                            .subsort_column = "",
                            .grouping = ""};
    // Compiled once, before anything is consumed: a query that does not type-check against
    // the input topic's schema fails here with its diagnostic.
    auto query = engine::compile(query_text, {table}, {}, {});
    if (!query) return query.error().with_context(c_.query_file);
    query_ = std::move(*query);
    TL_ASSIGN_OR_RETURN_S(session_, engine::start_session(query_));

    // One job state per owner of the input: an Exclusive subscription, of every partition or
    // of the partitions in tideline.processor.partitions (each owner is its own job: it alone
    // gets its partitions' messages, in order). With Shared, Failover or Key_Shared the
    // messages a processor gets change as processors come and go (and Key_Shared orders only
    // each key's messages), so those keep their state in memory only.
    if (c_.processor_subscription_type != io::SubscriptionType::kExclusive) {
      mode_ = Durability::kNone;
      spdlog::warn(
          "processor: subscription type is not Exclusive: no checkpoints; a restarted processor "
          "starts from an empty state (stateful results are only restart-safe with Exclusive; "
          "to scale out, give each processor its partitions with tideline.processor.partitions)");
    } else if (c_.state_store == StateStoreKind::kEmbedded && topics_->atomic_work() &&
               topics_->state_store()) {
      // The job state lives with the topics: output, journal, checkpoint and acknowledgements
      // commit together.
      mode_ = Durability::kAtomic;
      atomic_ = topics_->atomic_work();
      TL_RETURN_IF_ERROR(atomic_->enable());
      state_store_ = topics_->state_store();
    } else {
      mode_ = Durability::kJournalFirst;
      TL_ASSIGN_OR_RETURN_S(own_state_store_, open_state_store(c_));
      if (!own_state_store_) {
        return invalid_argument(
            "tideline.processor.state.store=embedded needs the embedded topic log");
      }
      state_store_ = own_state_store_.get();
    }
    job_ = in_topic_ + "|" + c_.processor_subscription;
    if (!c_.processor_partitions.empty())
      job_ += "|partitions=" + format_partition_list(c_.processor_partitions);
    if (state_store_) job_state_.emplace(*state_store_, job_);

    TL_ASSIGN_OR_RETURN_S(consumer_,
                          topics_->subscribe(in_topic_, {.subscription = c_.processor_subscription,
                                                         .type = c_.processor_subscription_type,
                                                         .partitions = c_.processor_partitions}));
    io::ProducerOptions po;
    if (mode_ == Durability::kJournalFirst) {
      // Replayed steps re-send their rows under the same sequence ids: the broker drops them
      // when the producer keeps its name and deduplication is on.
      TL_RETURN_IF_ERROR(topics_->enable_deduplication(out_topic_));
      po.name = fmt::format("tideline-processor-{:016x}", fnv1a_64(job_));
    }
    TL_ASSIGN_OR_RETURN_S(producer_, topics_->create_producer(out_topic_, po));
    time_col_ = in_codec_->type()->field_index(c_.time_column);
    const TypePtr& out_type = out_codec_->type();
    out_key_ = out_type->field_index("_key");
    out_time_ = out_type->field_index("_time");
    TL_ASSIGN_OR_RETURN_S(int nparts, topics_->partitions(in_topic_));
    parts_.assign(static_cast<size_t>(std::max(nparts, 1)), {INT64_MIN, monotonic_ms(), true});
    if (!c_.processor_partitions.empty()) {
      // Another processor's partitions say nothing about this one's watermark.
      for (auto& p : parts_) p.owned = false;
      for (int32_t i : c_.processor_partitions)
        if (static_cast<size_t>(i) < parts_.size()) parts_[static_cast<size_t>(i)].owned = true;
    }
    last_cp_ms_ = monotonic_ms();
    return {};
  }

  // Restores the checkpoint and replays the journal (docs/formats/checkpoint.md, "Recovery").
  Status recover() {
    if (!job_state_) return {};
    TL_ASSIGN_OR_RETURN_S(auto saved, job_state_->load_checkpoint());
    if (o_.reset_state) {
      spdlog::warn("processor: --reset-state: discarding the checkpoint and journal of {}", job_);
      TL_RETURN_IF_ERROR(in_unit([&] { return job_state_->reset(); }));
      return {};
    }
    int64_t after = 0;
    if (saved) {
      if (saved->fingerprint != query_->fingerprint()) {
        return invalid_argument(fmt::format(
            "the checkpoint of {} was written by a different query or input schema "
            "(fingerprint {}, this query {}); start the processor with --reset-state to "
            "discard it",
            job_, saved->fingerprint, query_->fingerprint()));
      }
      TL_ASSIGN_OR_RETURN_S(auto images, job_state_->load_images(*saved));
      Status st =
          session_->restore_chain(std::vector<std::string_view>(images.begin(), images.end()));
      if (!st.ok()) return st.with_context("checkpoint of " + job_);
      // Later checkpoints continue the restored chain (the session's next delta follows its
      // last image).
      chain_ = saved->chain;
      chain_images_ = saved->images;
      chain_base_bytes_ = images.front().size();
      chain_delta_bytes_ = saved->chain_bytes - chain_base_bytes_;
      positions_ = saved->positions;
      totals_ = saved->totals;
      step_ = saved->step;
      after = saved->step;
      spdlog::info("processor: resumed from the checkpoint at step {} ({} events, {} rows out)",
                   step_, totals_.events, totals_.output_rows);
    }
    TL_ASSIGN_OR_RETURN_S(auto journal, job_state_->load_journal(after));
    if (!saved && !journal.empty() && journal.front().step != 1) {
      return Status(StatusCode::kCorruption,
                    fmt::format("job {}: the journal starts at step {} but there is no checkpoint",
                                job_, journal.front().step));
    }
    if (journal.empty()) return {};
    spdlog::info("processor: replaying {} journal steps ({} .. {})", journal.size(),
                 journal.front().step, journal.back().step);
    // Received messages not yet used by a replayed step, and per partition the latest
    // message received.
    std::vector<io::Message> pending;
    Positions seen = positions_;
    for (const StepRecord& r : journal) {
      int64_t waited_since = monotonic_ms();
      while (true) {
        const io::MessageId* missing = nullptr;
        for (const auto& [p, id] : r.positions) {
          auto s = seen.find(p);
          if (s == seen.end() || !covered_by(id, s->second)) {
            missing = &id;
            break;
          }
        }
        if (!missing) break;
        if (stopped(o_)) return Status(StatusCode::kCancelled, "stopped by signal during replay");
        if (monotonic_ms() - waited_since > kReplayWaitMs) {
          return Status(StatusCode::kTimeout,
                        fmt::format("job {}: replaying step {}: partition {} entry {}:{} was not "
                                    "redelivered within {} s (was the input topic deleted?)",
                                    job_, r.step, missing->partition, missing->ledger_id,
                                    missing->entry_id, kReplayWaitMs / 1000));
        }
        TL_ASSIGN_OR_RETURN_S(auto msgs, consumer_->receive(kReceiveMax, milliseconds(200)));
        if (!msgs.empty()) waited_since = monotonic_ms();
        for (auto& m : msgs) {
          auto [it, fresh] = seen.try_emplace(m.id.partition, m.id);
          if (!fresh && io::precedes(it->second, m.id)) it->second = m.id;
          pending.push_back(std::move(m));
        }
      }
      std::vector<io::Message> mine, rest;
      for (auto& m : pending) {
        auto pos = r.positions.find(m.id.partition);
        if (pos != r.positions.end() && covered_by(m.id, pos->second))
          mine.push_back(std::move(m));
        else
          rest.push_back(std::move(m));
      }
      pending = std::move(rest);
      TL_RETURN_IF_ERROR(run_step(mine, false, &r));
    }
    spdlog::info("processor: replayed the journal up to step {}", step_);
    if (!pending.empty()) TL_RETURN_IF_ERROR(run_step(pending, false, nullptr));
    return {};
  }

  // One processing step (docs/formats/checkpoint.md, "Protocol"). `replay`: the journal
  // record of the step being repeated (its watermark is used and its totals checked).
  Status run_step(std::vector<io::Message>& msgs, bool idle, const StepRecord* replay) {
    std::sort(msgs.begin(), msgs.end(), [](const io::Message& a, const io::Message& b) {
      return a.id.partition != b.id.partition ? a.id.partition < b.id.partition
                                              : io::precedes(a.id, b.id);
    });
    const int64_t now = monotonic_ms();
    const Totals before = totals_;
    const TypePtr& in_type = in_codec_->type();
    Batch batch = Batch::empty(in_type);
    dead_.clear();
    bool consumed = false;
    const int64_t wm = session_->watermark();
    // The messages to decode: all but those the positions cover.
    fresh_.clear();
    for (auto& m : msgs) {
      unacked_.push_back(m.id);
      dirty_ = true;
      if (mode_ != Durability::kNone) {
        // Exclusive: a partition's messages come in order, so a message at or before the
        // partition's position is in the state already (redelivered after a restart).
        auto pos = positions_.find(m.id.partition);
        if (pos != positions_.end() && covered_by(m.id, pos->second)) {
          ++rereads_;
          continue;
        }
        positions_[m.id.partition] = m.id;
      }
      consumed = true;
      fresh_.push_back(&m);
    }
    // One columnar decode; row r of `batch` is the r-th message of fresh_ not in bad_.
    bad_.clear();
    TL_RETURN_IF_ERROR(decoder_->decode_batch(fresh_, batch, bad_));
    size_t next_bad = 0;
    int64_t r = -1;  // the current message's row
    for (size_t i = 0; i < fresh_.size(); ++i) {
      const io::Message& m = *fresh_[i];
      if (next_bad < bad_.size() && bad_[next_bad].index == i) {
        dead_.push_back({&m, "decode", std::move(bad_[next_bad].why)});
        ++next_bad;
        ++totals_.dead_letters;
        if (!replay) sm_.on_dead_letter(DeadLetterReason::kDecode);
        continue;
      }
      ++r;
      ++totals_.events;
      ++events_since_cp_;
      if (m.id.partition >= 0 && static_cast<size_t>(m.id.partition) >= parts_.size())
        parts_.resize(static_cast<size_t>(m.id.partition) + 1, {INT64_MIN, now, true});
      Partition* part =
          m.id.partition >= 0 ? &parts_[static_cast<size_t>(m.id.partition)] : nullptr;
      if (part) {
        // The end of a silence of the whole input (a producer stall, a broker restart): every
        // partition gets a fresh idle timeout from now. A partition silent only because the
        // whole input was is not idle, and its first messages after the silence may come
        // later than other partitions' (a producer re-sending to it after reconnecting).
        if (last_heard_any_ms_ != 0 && now - last_heard_any_ms_ >= c_.partition_idle_ms)
          for (auto& q : parts_) q.heard_ms = std::max(q.heard_ms, now);
        last_heard_any_ms_ = now;
        part->heard_ms = now;
      }
      if (time_col_ < 0) continue;
      const Column& tc = batch.columns[static_cast<size_t>(time_col_)];
      if (!tc.is_valid(r)) continue;
      const int64_t t = tc.int_at(r);
      if (t >= wm) {
        if (part) part->latest = std::max(part->latest, t);
        latest_any_ = std::max(latest_any_, t);
        if (!replay && m.publish_time_ms > 0) {
          incoming_.push_back({t, m.publish_time_ms});
        }
        continue;
      }
      // Late: older than the watermark the previous step left. Never merged out of order.
      ++totals_.late_events;
      if (!replay) sm_.on_late_event();
      late_rows_.push_back(static_cast<int32_t>(r));
      Status why = invalid_argument(fmt::format("late event: time {} is before the watermark {}",
                                                format_timestamp(t), format_timestamp(wm)));
      if (c_.late_to_dead_letter) {
        dead_.push_back({&m, "late", std::move(why)});
        ++totals_.dead_letters;
        if (!replay) sm_.on_dead_letter(DeadLetterReason::kLate);
      } else if (!replay) {
        spdlog::warn("processor: dropped {} partition {} entry {}: {}", in_topic_, m.id.partition,
                     m.id.entry_id, why.message());
      }
    }
    if (!late_rows_.empty()) {
      std::vector<int32_t> keep;
      size_t next_late = 0;
      for (int32_t i = 0; i < static_cast<int32_t>(batch.num_rows); ++i) {
        if (next_late < late_rows_.size() && late_rows_[next_late] == i) {
          ++next_late;
          continue;
        }
        keep.push_back(i);
      }
      Batch kept;
      kept.schema = batch.schema;
      for (const auto& col : batch.columns) kept.columns.push_back(engine::gather(col, keep));
      kept.num_rows = static_cast<int64_t>(keep.size());
      batch = std::move(kept);
      late_rows_.clear();
    }
    rep_.rows_in += batch.num_rows;
    sm_.on_events_in(batch.num_rows);
    if (batch.num_rows > 0) TL_RETURN_IF_ERROR(session_->push(c_.query_table, std::move(batch)));

    const int64_t w = replay ? replay->watermark : next_watermark(idle, now);
    Batch out;
    bool advanced = false;
    if (w != INT64_MIN && w > session_->watermark()) {
      TL_ASSIGN_OR_RETURN_S(Batch result, session_->advance(w));
      advanced = true;
      if (result.num_rows > 0) {
        TL_ASSIGN_OR_RETURN_S(out, conform_batch(std::move(result), out_codec_->type(), true));
        totals_.output_rows += out.num_rows;
        rep_.rows_out += out.num_rows;
      }
    }
    rep_.dead_letters += totals_.dead_letters - before.dead_letters;
    const bool record = mode_ != Durability::kNone && (consumed || advanced);
    StepRecord rec;
    if (record) {
      rec.step = ++step_;
      rec.positions = positions_;
      rec.watermark = advanced ? w : INT64_MIN;
      rec.totals = totals_;
    }
    if (replay) {
      if (rec.step != replay->step || !(rec.totals == replay->totals)) {
        return Status(
            StatusCode::kInternal,
            fmt::format("job {}: replaying step {} diverged from its journal record: events {} "
                        "(recorded {}), output rows {} ({}), late {} ({}), dead letters {} ({}); "
                        "nothing was published",
                        job_, replay->step, totals_.events, replay->totals.events,
                        totals_.output_rows, replay->totals.output_rows, totals_.late_events,
                        replay->totals.late_events, totals_.dead_letters,
                        replay->totals.dead_letters));
      }
    }
    const bool cp_due =
        dirty_ && (monotonic_ms() - last_cp_ms_ >= c_.checkpoint_interval_ms ||
                   (c_.checkpoint_events > 0 && events_since_cp_ >= c_.checkpoint_events) ||
                   (idle && !o_.follow));
    switch (mode_) {
      case Durability::kAtomic: {
        if (!record && !cp_due) return {};
        TL_RETURN_IF_ERROR(atomic_->begin());
        Status st = [&]() -> Status {
          if (!replay) TL_RETURN_IF_ERROR(publish(out, before.output_rows));
          if (record) TL_RETURN_IF_ERROR(job_state_->append(rec));
          if (cp_due) TL_RETURN_IF_ERROR(take_checkpoint());
          failpoint("processor.before_commit");
          return {};
        }();
        if (!st.ok()) {
          atomic_->rollback();
          return st;
        }
        TL_RETURN_IF_ERROR(atomic_->commit());
        if (cp_due) after_checkpoint();
        if (advanced) record_delays(w);
        return {};
      }
      case Durability::kJournalFirst:
      case Durability::kNone:  // never records (no job state): publish, then acknowledge
        if (record) {
          TL_RETURN_IF_ERROR(job_state_->append(rec));
          failpoint("processor.after_journal");
        }
        // A replayed step publishes again under the same sequence ids (deduplicated).
        TL_RETURN_IF_ERROR(publish(out, before.output_rows));
        if (advanced) record_delays(w);
        if (cp_due) {
          TL_RETURN_IF_ERROR(take_checkpoint());
          after_checkpoint();
        }
        return {};
    }
    return {};
  }

  // The watermark after a live step: drained (not following) = everything received is final;
  // else the smallest latest time of the active partitions (none active: everything
  // received), less the allowed lateness. A partition is idle when nothing came from it for
  // the idle timeout although the processor caught up with the source since (a receive
  // returned less than it asked for): a partition whose messages wait behind other
  // partitions' backlog is not idle, and excluding it would make its events late. Without an
  // Exclusive subscription a partition's messages may come out of order (a Key_Shared broker holds
  // a key's messages back until another consumer acknowledges earlier ones), so the watermark moves
  // only when the input pauses.
  int64_t next_watermark(bool idle, int64_t now) const {
    const bool durable = mode_ != Durability::kNone;
    if (idle && (!o_.follow || !durable)) {
      const int64_t m = session_->max_input_time();
      return m == INT64_MIN ? INT64_MIN : m + 1;
    }
    if (!durable || latest_any_ == INT64_MIN) return INT64_MIN;
    int64_t lo = INT64_MAX;
    for (const auto& p : parts_)
      if (p.owned && (now - p.heard_ms < c_.partition_idle_ms || caught_up_ms_ <= p.heard_ms))
        lo = std::min(lo, p.latest);
    if (lo == INT64_MAX) return latest_any_ + 1;
    if (lo == INT64_MIN) return INT64_MIN;
    return lo - c_.allowed_lateness_ms * kNanosPerMilli;
  }

  // Publishes the step's result rows (sequence ids from `first_row`) and dead letters.
  Status publish(const Batch& out, int64_t first_row) {
    // Journal first: deterministic sequence ids, so that a replayed step's rows are dropped
    // by the broker's deduplication.
    const int64_t first_sequence = mode_ == Durability::kJournalFirst ? first_row : -1;
    if (out.num_rows > 0) {
      TL_RETURN_IF_ERROR(publish_batch(*out_codec_, out, out_key_, out_time_, *producer_, scratch_,
                                       first_sequence));
      sm_.on_events_out(out.num_rows, scratch_);
    }
    for (auto& d : dead_) {
      TL_RETURN_IF_ERROR(dead_letter(*topics_, in_topic_, c_.processor_subscription, *d.message,
                                     d.reason, d.why, dlq_));
    }
    dead_.clear();
    return {};
  }

  // Result delay: for every on-time event, the time from its publication on the input topic
  // to the publication of the results it became final in (when the watermark passed it).
  // Producer and processor clocks are the same wall clock here (one machine).
  void record_delays(int64_t w) {
    const int64_t now = now_ns() / kNanosPerMilli;
    auto record = [&](int64_t publish_ms) {
      const int64_t d = std::clamp<int64_t>(now - publish_ms, 0, kDelayBuckets - 1);
      ++delay_counts_[static_cast<size_t>(d)];
      ++delay_total_;
      ++window_counts_[static_cast<size_t>(d)];
      ++window_total_;
      sm_.on_result_delay(static_cast<double>(d) / 1e3);
    };
    while (!waiting_.empty() && waiting_.front().first < w) {
      record(waiting_.front().second);
      std::pop_heap(waiting_.begin(), waiting_.end(), std::greater<>());
      waiting_.pop_back();
    }
    // Events received since the last call that are final already never enter the heap.
    for (const auto& e : incoming_) {
      if (e.first < w) {
        record(e.second);
      } else {
        waiting_.push_back(e);
        std::push_heap(waiting_.begin(), waiting_.end(), std::greater<>());
      }
    }
    incoming_.clear();
  }

  // The smallest delay d (ms) with at least a fraction q of the samples <= d.
  static int64_t delay_quantile(const std::vector<int64_t>& counts, int64_t total, double q) {
    const auto need = std::max<int64_t>(static_cast<int64_t>(q * static_cast<double>(total)), 1);
    int64_t seen = 0;
    for (size_t d = 0; d < counts.size(); ++d) {
      seen += counts[d];
      if (seen >= need) return static_cast<int64_t>(d);
    }
    return kDelayBuckets - 1;
  }

  // Publishes the last second's p50/p99 result delay to the metrics, then starts a new window.
  void roll_delay_window() {
    const int64_t now = monotonic_ms();
    if (now - window_started_ms_ < 1000) return;
    if (window_total_ > 0) {
      sm_.set_recent_result_delay(
          static_cast<double>(delay_quantile(window_counts_, window_total_, 0.5)) / 1e3,
          static_cast<double>(delay_quantile(window_counts_, window_total_, 0.99)) / 1e3);
      std::fill(window_counts_.begin(), window_counts_.end(), 0);
      window_total_ = 0;
    }
    window_started_ms_ = now;
  }

  void report_delays() const {
    if (delay_total_ == 0) return;
    auto at = [&](double q) { return delay_quantile(delay_counts_, delay_total_, q); };
    int64_t max = 0;
    for (size_t d = 0; d < delay_counts_.size(); ++d)
      if (delay_counts_[d]) max = static_cast<int64_t>(d);
    spdlog::info(
        "processor: result delay (input publish -> result publish) over {} events: "
        "p50 {} ms, p99 {} ms, max {}{} ms",
        delay_total_, at(0.5), at(0.99), max >= kDelayBuckets - 1 ? ">=" : "", max);
  }

  // Writes the checkpoint (kAtomic: inside the open unit) and acknowledges what it covers.
  Status take_checkpoint() {
    TL_RETURN_IF_ERROR(producer_->flush());
    failpoint("processor.before_checkpoint");
    if (job_state_) {
      // A delta of the engine state, or a full image starting a new chain (compaction:
      // docs/formats/checkpoint.md, "Incremental engine state").
      const bool full = chain_images_ == 0 ||
                        chain_images_ >= static_cast<uint32_t>(c_.checkpoint_full_every) ||
                        chain_delta_bytes_ > chain_base_bytes_;
      const int64_t cp_t0 = monotonic_ns();
      // Until this checkpoint is written the chain is unknown: a failure forces a full image.
      const uint32_t images_before = chain_images_;
      chain_images_ = 0;
      TL_ASSIGN_OR_RETURN_S(
          std::string image,
          session_->checkpoint(full ? engine::ImageKind::kFull : engine::ImageKind::kDelta));
      Checkpoint cp;
      cp.fingerprint = query_->fingerprint();
      cp.step = step_;
      cp.positions = positions_;
      cp.totals = totals_;
      cp.created_ms = now_ns() / kNanosPerMilli;
      const uint64_t chain = full ? chain_ + 1 : chain_;
      const uint32_t index = full ? 0 : images_before;
      TL_RETURN_IF_ERROR(job_state_->put_image(chain, index, image));
      cp.chain = chain;
      cp.images = index + 1;
      cp.chain_bytes = (full ? 0 : chain_base_bytes_ + chain_delta_bytes_) + image.size();
      TL_RETURN_IF_ERROR(job_state_->save_checkpoint(cp));
      chain_ = chain;
      chain_images_ = cp.images;
      if (full) {
        chain_base_bytes_ = image.size();
        chain_delta_bytes_ = 0;
      } else {
        chain_delta_bytes_ += image.size();
      }
      sm_.on_checkpoint(seconds_since(cp_t0), image.size());
    }
    failpoint("processor.before_ack");
    if (!unacked_.empty()) TL_RETURN_IF_ERROR(consumer_->acknowledge(unacked_));
    return {};
  }

  void after_checkpoint() {
    unacked_.clear();
    events_since_cp_ = 0;
    last_cp_ms_ = monotonic_ms();
    dirty_ = false;
  }

  Status checkpoint_alone() {
    TL_RETURN_IF_ERROR(in_unit([&] { return take_checkpoint(); }));
    after_checkpoint();
    return {};
  }

  // Runs `f` as one atomic unit when the backend has them.
  template <typename F>
  Status in_unit(F&& f) {
    if (mode_ != Durability::kAtomic) return f();
    TL_RETURN_IF_ERROR(atomic_->begin());
    Status st = f();
    if (!st.ok()) {
      atomic_->rollback();
      return st;
    }
    return atomic_->commit();
  }

  struct Partition {
    int64_t latest = INT64_MIN;  // latest on-time event time seen
    int64_t heard_ms = 0;        // when a message last came (monotonic)
    bool owned = true;           // consumed by this processor (tideline.processor.partitions)
  };
  struct DeadLetter {
    const io::Message* message;
    std::string_view reason;
    Status why;
  };

  const PipelineConfig& c_;
  const StageOptions& o_;
  StageMetrics sm_;
  StageReport rep_{.stage = "processor"};
  std::unique_ptr<io::TopicService> topics_;
  std::string in_topic_, out_topic_, job_;
  std::shared_ptr<const avro::Codec> in_codec_, out_codec_;
  std::optional<MessageDecoder> decoder_;
  std::shared_ptr<const engine::CompiledQuery> query_;
  std::unique_ptr<engine::Session> session_;
  Durability mode_ = Durability::kNone;
  io::AtomicWork* atomic_ = nullptr;
  io::StateStore* state_store_ = nullptr;
  std::unique_ptr<io::StateStore> own_state_store_;
  std::optional<JobState> job_state_;
  std::unique_ptr<io::Consumer> consumer_;
  std::unique_ptr<io::Producer> producer_, dlq_;
  int time_col_ = -1, out_key_ = -1, out_time_ = -1;
  std::vector<Partition> parts_;
  int64_t latest_any_ = INT64_MIN;
  int64_t caught_up_ms_ = INT64_MIN;  // the last receive that returned less than asked for
  int64_t last_heard_any_ms_ = 0;     // when a message last came from any partition (0 = never)
  Positions positions_;
  Totals totals_;
  int64_t step_ = 0;
  std::vector<io::MessageId> unacked_;  // covered by the next checkpoint, then acknowledged
  // The engine state chain the last checkpoint wrote (0 images: the next one is full).
  uint64_t chain_ = 0;
  uint32_t chain_images_ = 0;
  uint64_t chain_base_bytes_ = 0;
  uint64_t chain_delta_bytes_ = 0;
  int64_t events_since_cp_ = 0, rereads_ = 0, last_cp_ms_ = 0;
  bool dirty_ = false;  // anything to checkpoint or acknowledge
  std::vector<DeadLetter> dead_;
  std::vector<const io::Message*> fresh_;  // scratch of run_step: the messages to decode
  std::vector<avro::DecodeError> bad_;     // scratch of run_step: those that did not decode
  std::vector<int32_t> late_rows_;
  // Min-heap by event time of (event time, publish ms) of on-time events not yet final.
  std::vector<std::pair<int64_t, int64_t>> waiting_;
  // (event time, publish ms) of on-time events received since the last record_delays().
  std::vector<std::pair<int64_t, int64_t>> incoming_;
  // Result delays in 1 ms buckets (the last one collects everything from 60 s on).
  static constexpr int64_t kDelayBuckets = 60001;
  std::vector<int64_t> delay_counts_ = std::vector<int64_t>(kDelayBuckets);
  int64_t delay_total_ = 0;
  std::vector<int64_t> window_counts_ = std::vector<int64_t>(kDelayBuckets);
  int64_t window_total_ = 0;
  int64_t window_started_ms_ = 0;
  std::vector<io::OutgoingMessage> scratch_;
};

}  // namespace

// The processor: one compiled Fenl query run incrementally over the input topic
// (docs/fenl.md "Operator model"), with event-time watermarks across partitions, a step
// journal and checkpoints (docs/formats/checkpoint.md).
Result<StageReport> run_processor(const PipelineConfig& c, const StageOptions& o) {
  Processor p(c, o);
  return p.run();
}

}  // namespace tideline::pipeline
