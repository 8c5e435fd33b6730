// SQLite topic log; format, acknowledgement and redelivery rules in
// docs/formats/embedded_log.md.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/time.h"
#include "io/embedded/embedded.h"
#include "io/embedded/entry_format.h"
#include "io/embedded/job_state.h"
#include "io/embedded/sqlite.h"

namespace tideline::embedded {

namespace {

using io::Message;
using io::MessageId;

constexpr std::string_view kFormat = "tideline-embedded-log";
constexpr int kFormatVersion = 3;

constexpr std::string_view kSchemaSql = R"sql(
CREATE TABLE namespaces (tenant TEXT NOT NULL, namespace TEXT NOT NULL,
                         PRIMARY KEY (tenant, namespace)) WITHOUT ROWID;
CREATE TABLE topics (topic_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                     partitions INTEGER NOT NULL, schema_json TEXT);
CREATE TABLE partitions (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                         next_entry_id INTEGER NOT NULL, message_count INTEGER NOT NULL,
                         PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;
CREATE TABLE messages (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                       entry_id INTEGER NOT NULL, first_message INTEGER NOT NULL,
                       num_messages INTEGER NOT NULL, publish_time_ms INTEGER NOT NULL,
                       body BLOB NOT NULL, PRIMARY KEY (topic_id, partition, entry_id));
CREATE TABLE subscriptions (sub_id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL,
                            name TEXT NOT NULL, type TEXT NOT NULL, holder_pid INTEGER,
                            holder_start INTEGER, holder_token INTEGER,
                            UNIQUE (topic_id, name));
CREATE TABLE cursors (sub_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                      mark_delete INTEGER NOT NULL, acked_messages INTEGER NOT NULL,
                      delivered_through INTEGER NOT NULL, delivered_batch INTEGER NOT NULL,
                      redeliveries INTEGER NOT NULL,
                      PRIMARY KEY (sub_id, partition)) WITHOUT ROWID;
CREATE TABLE individual_acks (sub_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                              entry_id INTEGER NOT NULL, acked_count INTEGER NOT NULL, acked BLOB,
                              PRIMARY KEY (sub_id, partition, entry_id)) WITHOUT ROWID;
)sql";

// Stored in subscriptions.type; the names must never change.
std::string_view subscription_type_name(io::SubscriptionType t) {
  switch (t) {
    case io::SubscriptionType::kExclusive:
      return "Exclusive";
    case io::SubscriptionType::kShared:
      return "Shared";
    case io::SubscriptionType::kFailover:
      return "Failover";
    case io::SubscriptionType::kKeyShared:
      return "Key_Shared";
  }
  return "Shared";
}

int64_t wall_ms() {
  return floor_div(now_ns(), kNanosPerMilli);
}

// Start time of a live process (field 22 of /proc/<pid>/stat, clock ticks since boot), or
// nullopt when it does not exist or is a zombie. Returns 0 when /proc is unavailable and the
// process exists (pid reuse then goes undetected).
std::optional<int64_t> process_start_time(int64_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  if (!f) {
    if (std::filesystem::exists("/proc/self/stat")) return std::nullopt;
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return 0;
    return std::nullopt;
  }
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 > s.size()) return std::nullopt;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  in >> field;  // field 3: state
  if (field == "Z" || field == "X" || field == "x") return std::nullopt;
  for (int i = 4; i <= 22; ++i) in >> field;
  int64_t start = 0;
  std::from_chars(field.data(), field.data() + field.size(), start);
  return start;
}

bool holder_alive(int64_t pid, int64_t start) {
  auto s = process_start_time(pid);
  return s && (*s == start || *s == 0);
}

std::string normalize_topic(std::string_view topic) {
  if (topic.find("://") != std::string_view::npos) return std::string(topic);
  if (topic.find('/') == std::string_view::npos) {
    return fmt::format("persistent://public/default/{}", topic);
  }
  return fmt::format("persistent://{}", topic);
}

struct TopicInfo {
  int64_t topic_id = 0;
  int partitions = 0;
};

Result<std::optional<TopicInfo>> find_topic(Database& db, std::string_view name) {
  TL_ASSIGN_OR_RETURN(Statement st,
                      db.prepare("SELECT topic_id, partitions FROM topics WHERE name = ?"));
  st.bind_text(1, name);
  TL_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return std::nullopt;
  return TopicInfo{st.col_int(0), static_cast<int>(st.col_int(1))};
}

// Inside a write transaction.
Result<TopicInfo> insert_topic(Database& db, std::string_view name, int partitions) {
  TL_ASSIGN_OR_RETURN(Statement st,
                      db.prepare("INSERT INTO topics (name, partitions) VALUES (?, ?)"));
  st.bind_text(1, name);
  st.bind_int(2, partitions);
  TL_RETURN_IF_ERROR(st.run());
  TopicInfo info{sqlite3_last_insert_rowid(db.handle()), partitions};
  TL_ASSIGN_OR_RETURN(Statement p, db.prepare("INSERT INTO partitions VALUES (?, ?, 0, 0)"));
  for (int i = 0; i < partitions; ++i) {
    p.bind_int(1, info.topic_id);
    p.bind_int(2, i);
    TL_RETURN_IF_ERROR(p.run());
  }
  return info;
}

// Finds the topic, creating it with one partition when missing (Pulsar's default
// auto-creation of non-partitioned topics).
Result<TopicInfo> ensure_topic(Database& db, std::string_view name) {
  TL_ASSIGN_OR_RETURN(auto found, find_topic(db, name));
  if (found) return *found;
  TL_ASSIGN_OR_RETURN(Transaction txn, Transaction::begin(db));
  TL_ASSIGN_OR_RETURN(found, find_topic(db, name));
  if (found) return *found;
  TL_ASSIGN_OR_RETURN(TopicInfo info, insert_topic(db, name, 1));
  TL_RETURN_IF_ERROR(txn.commit());
  return info;
}

// Entry limits (docs/formats/embedded_log.md, "Publishing"): big enough that a SQLite row
// carries many messages, small enough that a consumer holds little of an entry in memory.
constexpr uint32_t kMaxEntryMessages = 1000;
constexpr size_t kMaxEntryBytes = size_t{1} << 20;

class LogProducer final : public io::Producer {
 public:
  LogProducer(std::shared_ptr<Database> db, TopicInfo info, std::string topic)
      : db_(std::move(db)),
        info_(info),
        topic_(std::move(topic)),
        next_(info.partitions),
        count_(info.partitions) {}

  Status init() {
    TL_ASSIGN_OR_RETURN_S(select_next_,
                          db_->prepare("SELECT partition, next_entry_id, message_count FROM "
                                       "partitions WHERE topic_id = ?"));
    TL_ASSIGN_OR_RETURN_S(insert_, db_->prepare("INSERT INTO messages (topic_id, partition, "
                                                "entry_id, first_message, num_messages, "
                                                "publish_time_ms, body) VALUES (?, ?, ?, ?, ?, "
                                                "?, ?)"));
    TL_ASSIGN_OR_RETURN_S(update_next_,
                          db_->prepare("UPDATE partitions SET next_entry_id = ?, message_count = ? "
                                       "WHERE topic_id = ? AND partition = ?"));
    return {};
  }

  Status send(std::span<const io::OutgoingMessage> messages) override {
    if (!db_)
      return Status(StatusCode::kCancelled, fmt::format("producer for {} is closed", topic_));
    if (messages.empty()) return {};
    for (const auto& m : messages) {
      if (m.key.size() > kMaxEntryBytes * 256 || m.payload.size() > kMaxEntryBytes * 256) {
        return invalid_argument(
            fmt::format("producer for {}: a message larger than 256 MiB", topic_));
      }
    }
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    select_next_.bind_int(1, info_.topic_id);
    while (true) {
      auto row = select_next_.step();
      if (!row) return row.error();
      if (!*row) break;
      int64_t p = select_next_.col_int(0);
      if (p >= 0 && p < info_.partitions) {
        next_[static_cast<size_t>(p)] = select_next_.col_int(1);
        count_[static_cast<size_t>(p)] = select_next_.col_int(2);
      }
    }
    select_next_.reset();
    std::vector<int64_t> start = next_;
    const int64_t publish_ms = wall_ms();
    const auto n = static_cast<uint32_t>(info_.partitions);
    // Group by partition (stable, so per-partition order is the send order); each group
    // becomes one or more consecutive entries of its partition.
    route_.resize(messages.size());
    offsets_.assign(n + 1, 0);
    for (size_t i = 0; i < messages.size(); ++i) {
      const auto& key = messages[i].key;
      route_[i] = key.empty() ? round_robin_++ % n : io::pulsar_key_hash(key) % n;
      ++offsets_[route_[i] + 1];
    }
    for (uint32_t p = 0; p < n; ++p) offsets_[p + 1] += offsets_[p];
    order_.resize(messages.size());
    for (size_t i = 0; i < messages.size(); ++i) order_[offsets_[route_[i]]++] = i;
    size_t i = 0;
    while (i < order_.size()) {
      const uint32_t p = route_[order_[i]];
      begin_entry(body_);
      uint32_t k = 0;
      while (i < order_.size() && route_[order_[i]] == p && k < kMaxEntryMessages) {
        const auto& m = messages[order_[i]];
        if (k > 0 && body_.size() + entry_message_size(m) > kMaxEntryBytes) break;
        append_entry_message(body_, m, props_);
        ++k;
        ++i;
      }
      finish_entry(body_, k);
      insert_.bind_int(1, info_.topic_id);
      insert_.bind_int(2, p);
      insert_.bind_int(3, next_[p]++);
      insert_.bind_int(4, count_[p]);
      insert_.bind_int(5, k);
      insert_.bind_int(6, publish_ms);
      insert_.bind_blob(7, body_);
      TL_RETURN_STATUS_IF_ERROR(insert_.run());
      count_[p] += k;
    }
    for (size_t p = 0; p < next_.size(); ++p) {
      if (next_[p] == start[p]) continue;
      update_next_.bind_int(1, next_[p]);
      update_next_.bind_int(2, count_[p]);
      update_next_.bind_int(3, info_.topic_id);
      update_next_.bind_int(4, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(update_next_.run());
    }
    return txn.commit();
  }

  Status flush() override { return {}; }  // send() is durable on return

  Status close() override {
    select_next_ = Statement();
    insert_ = Statement();
    update_next_ = Statement();
    db_.reset();
    return {};
  }

 private:
  std::shared_ptr<Database> db_;
  TopicInfo info_;
  std::string topic_;
  std::vector<int64_t> next_;   // next entry id per partition (read in each send())
  std::vector<int64_t> count_;  // messages per partition (read in each send())
  uint32_t round_robin_ = 0;
  std::vector<uint32_t> route_;  // scratch of send(): partition per message
  std::vector<size_t> offsets_;  // scratch: partition offsets
  std::vector<size_t> order_;    // scratch: message indices grouped by partition
  std::string body_;             // scratch: the entry body being built
  std::string props_;            // scratch: encoded properties of one message
  Statement select_next_, insert_, update_next_;
};

// Acknowledgement state of one entry above mark_delete (delivered or acknowledged by this
// consumer, or loaded from individual_acks).
struct EntryAcks {
  int32_t num = 0;             // messages in the entry
  int32_t acked = 0;           // how many of them are acknowledged
  std::vector<uint64_t> bits;  // acknowledged batch indices; empty while acked == 0
  bool stored = false;         // individual_acks has a row for it
  bool dirty = false;          // changed since it was last written
  bool complete() const { return acked >= num; }
  bool is_acked(uint32_t i) const {
    return acked > 0 && (acked >= num || ((bits[i / 64] >> (i % 64)) & 1) != 0);
  }
};

// individual_acks.acked: ceil(num/8) bytes, bit i%8 of byte i/8 = batch index i.
std::string encode_ack_bitmap(const EntryAcks& a) {
  std::string out((static_cast<size_t>(a.num) + 7) / 8, '\0');
  for (size_t j = 0; j < out.size(); ++j)
    out[j] = static_cast<char>((a.bits[j / 8] >> (8 * (j % 8))) & 0xff);
  return out;
}

// Per-partition cursor state. The consumer is the only writer of its subscription's rows
// while it holds the subscription, so this mirror is authoritative.
struct Cursor {
  int64_t mark_delete = -1;
  int64_t acked_messages = 0;            // messages in the entries <= mark_delete
  std::map<int64_t, EntryAcks> entries;  // entries > mark_delete that were read or acked
  bool stale_rows = false;               // individual_acks rows <= mark_delete to delete
  int64_t read_next = 0;                 // next entry id to fetch
  // The last message handed out, as persisted: (entry, batch index).
  int64_t delivered_through = -1;
  int64_t delivered_batch = -1;
  // Messages up to (redelivered_through, redelivered_batch) are redeliveries.
  int64_t redelivered_through = -1;
  int64_t redelivered_batch = -1;
  int32_t redeliveries = 0;
  // The rest of an entry that max_messages cut (validated; delivered first next time).
  int64_t pending_entry = -1;  // -1 = none
  int64_t pending_publish_ms = 0;
  std::string pending_body;
  size_t pending_offset = 0;
  uint32_t pending_index = 0;
  uint32_t pending_count = 0;
};

class LogConsumer final : public io::Consumer {
 public:
  LogConsumer(std::shared_ptr<Database> db, TopicInfo info, std::string topic,
              io::SubscribeOptions options)
      : db_(std::move(db)),
        info_(info),
        topic_(std::move(topic)),
        options_(std::move(options)),
        cursors_(static_cast<size_t>(info.partitions)) {}

  ~LogConsumer() override { (void)close(); }

  // Creates the subscription if needed and tries to become its active consumer. Exclusive:
  // fails while another live consumer holds it. Other types: becomes a standby that takes
  // over (in receive()) once the holder closes or dies.
  Status attach() {
    std::random_device rd;
    token_ = static_cast<int64_t>((uint64_t(rd()) << 31) ^ rd()) & 0x7fffffffffffffff;
    self_start_ = process_start_time(getpid()).value_or(0);
    {
      TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
      TL_ASSIGN_OR_RETURN_S(
          Statement find,
          db_->prepare("SELECT sub_id FROM subscriptions WHERE topic_id = ? AND name = ?"));
      find.bind_int(1, info_.topic_id);
      find.bind_text(2, options_.subscription);
      TL_ASSIGN_OR_RETURN_S(bool exists, find.step());
      if (exists) {
        sub_id_ = find.col_int(0);
      } else {
        TL_ASSIGN_OR_RETURN_S(
            Statement ins,
            db_->prepare("INSERT INTO subscriptions (topic_id, name, type) VALUES (?, ?, ?)"));
        ins.bind_int(1, info_.topic_id);
        ins.bind_text(2, options_.subscription);
        ins.bind_text(3, subscription_type_name(options_.type));
        TL_RETURN_STATUS_IF_ERROR(ins.run());
        sub_id_ = sqlite3_last_insert_rowid(db_->handle());
        const bool latest = options_.initial_position == io::InitialPosition::kLatest;
        TL_RETURN_STATUS_IF_ERROR(db_->exec(fmt::format(
            "INSERT INTO cursors (sub_id, partition, mark_delete, acked_messages, "
            "delivered_through, delivered_batch, redeliveries) SELECT {0}, partition, {1}, "
            "{2}, {1}, -1, 0 "
            "FROM partitions WHERE topic_id = {3}",
            sub_id_, latest ? "next_entry_id - 1" : "-1", latest ? "message_count" : "0",
            info_.topic_id)));
      }
      find.reset();
      TL_RETURN_STATUS_IF_ERROR(txn.commit());
    }
    TL_ASSIGN_OR_RETURN_S(
        fetch_,
        db_->prepare("SELECT entry_id, num_messages, publish_time_ms, body FROM messages WHERE "
                     "topic_id = ? AND partition = ? AND entry_id >= ? ORDER BY entry_id"));
    TL_ASSIGN_OR_RETURN_S(entry_size_,
                          db_->prepare("SELECT num_messages FROM messages WHERE topic_id = ? AND "
                                       "partition = ? AND entry_id = ?"));
    TL_ASSIGN_OR_RETURN_S(data_version_, db_->prepare("PRAGMA data_version"));
    TL_ASSIGN_OR_RETURN_S(
        set_delivered_,
        db_->prepare(
            "UPDATE cursors SET delivered_through = ?, delivered_batch = ? WHERE sub_id = ? "
            "AND partition = ?"));
    TL_ASSIGN_OR_RETURN_S(set_mark_delete_,
                          db_->prepare("UPDATE cursors SET mark_delete = ?, acked_messages = ? "
                                       "WHERE sub_id = ? AND partition = ?"));
    TL_ASSIGN_OR_RETURN_S(delete_all_acks_,
                          db_->prepare("DELETE FROM individual_acks WHERE sub_id = ? AND "
                                       "partition = ?"));
    TL_ASSIGN_OR_RETURN_S(delete_acks_,
                          db_->prepare("DELETE FROM individual_acks WHERE sub_id = ? AND "
                                       "partition = ? AND entry_id <= ?"));
    TL_ASSIGN_OR_RETURN_S(insert_ack_,
                          db_->prepare("INSERT OR REPLACE INTO individual_acks (sub_id, partition, "
                                       "entry_id, acked_count, acked) VALUES (?, ?, ?, ?, ?)"));
    TL_ASSIGN_OR_RETURN_S(
        select_next_,
        db_->prepare("SELECT partition, message_count FROM partitions WHERE topic_id = ?"));
    TL_ASSIGN_OR_RETURN_S(holder_,
                          db_->prepare("SELECT holder_pid, holder_start FROM subscriptions "
                                       "WHERE sub_id = ?"));
    attached_ = true;
    TL_ASSIGN_OR_RETURN_S(bool active, try_acquire());
    if (!active) {
      if (options_.type == io::SubscriptionType::kExclusive) {
        attached_ = false;
        return Status(StatusCode::kUnavailable,
                      fmt::format("subscription '{}' on {} already has an active consumer "
                                  "(pid {}); the embedded log allows one active consumer per "
                                  "subscription",
                                  options_.subscription, topic_, holder_pid_));
      }
      spdlog::info("subscription '{}' on {}: standby until process {} releases it",
                   options_.subscription, topic_, holder_pid_);
    }
    return {};
  }

  // Becomes the active consumer when the subscription is free or its holder is dead, loading
  // the cursors; false (and holder_pid_ set) while another live consumer holds it.
  Result<bool> try_acquire() {
    auto held_by_other = [&]() -> Result<bool> {
      holder_.bind_int(1, sub_id_);
      TL_ASSIGN_OR_RETURN(bool row, holder_.step());
      bool held = row && !holder_.is_null(0);
      holder_pid_ = held ? holder_.col_int(0) : 0;
      const int64_t start = held ? holder_.col_int(1) : 0;
      holder_.reset();
      if (!row) {
        return error(StatusCode::kNotFound, fmt::format("subscription '{}' on {} vanished",
                                                        options_.subscription, topic_));
      }
      if (held && holder_alive(holder_pid_, start)) return true;
      if (held) {
        spdlog::info("subscription '{}' on {}: taking over from exited process {}",
                     options_.subscription, topic_, holder_pid_);
      }
      return false;
    };
    // Check without the write lock first: a standby polls this.
    TL_ASSIGN_OR_RETURN(bool busy, held_by_other());
    if (busy) return false;
    TL_ASSIGN_OR_RETURN(Transaction txn, Transaction::begin(*db_));
    TL_ASSIGN_OR_RETURN(busy, held_by_other());
    if (busy) return false;
    TL_ASSIGN_OR_RETURN(Statement hold,
                        db_->prepare("UPDATE subscriptions SET holder_pid = ?, holder_start = ?, "
                                     "holder_token = ? WHERE sub_id = ?"));
    hold.bind_int(1, getpid());
    hold.bind_int(2, self_start_);
    hold.bind_int(3, token_);
    hold.bind_int(4, sub_id_);
    TL_RETURN_IF_ERROR(hold.run());

    cursors_.assign(static_cast<size_t>(info_.partitions), Cursor{});
    TL_ASSIGN_OR_RETURN(
        Statement load,
        db_->prepare(
            "SELECT partition, mark_delete, delivered_through, "
            "redeliveries, acked_messages, delivered_batch FROM cursors WHERE sub_id = ?"));
    TL_ASSIGN_OR_RETURN(Statement bump,
                        db_->prepare("UPDATE cursors SET redeliveries = ? WHERE sub_id = ? AND "
                                     "partition = ?"));
    load.bind_int(1, sub_id_);
    int loaded = 0;
    while (true) {
      TL_ASSIGN_OR_RETURN(bool row, load.step());
      if (!row) break;
      int64_t p = load.col_int(0);
      if (p < 0 || p >= info_.partitions) {
        return error(corruption(fmt::format("{}: cursor for partition {} of {} ({} partitions)",
                                            db_->path(), p, topic_, info_.partitions)));
      }
      Cursor& c = cursors_[static_cast<size_t>(p)];
      c.mark_delete = load.col_int(1);
      c.delivered_through = load.col_int(2);
      c.delivered_batch = load.col_int(5);
      c.redeliveries = static_cast<int32_t>(load.col_int(3));
      c.acked_messages = load.col_int(4);
      c.read_next = c.mark_delete + 1;
      if (c.delivered_through > c.mark_delete) {
        ++c.redeliveries;
        c.redelivered_through = c.delivered_through;
        c.redelivered_batch = c.delivered_batch;
        bump.bind_int(1, c.redeliveries);
        bump.bind_int(2, sub_id_);
        bump.bind_int(3, p);
        TL_RETURN_IF_ERROR(bump.run());
      }
      ++loaded;
    }
    load.reset();
    if (loaded != info_.partitions) {
      return error(corruption(fmt::format("{}: subscription '{}' of {} has {} cursors, expected {}",
                                          db_->path(), options_.subscription, topic_, loaded,
                                          info_.partitions)));
    }
    TL_RETURN_IF_ERROR(load_acks());
    TL_RETURN_IF_ERROR(txn.commit());
    active_ = true;
    return true;
  }

  Status standby_error() const {
    return Status(StatusCode::kUnavailable,
                  fmt::format("consumer of subscription '{}' on {} is a standby (process {} "
                              "is the active consumer)",
                              options_.subscription, topic_, holder_pid_));
  }

  Result<std::vector<Message>> receive(size_t max_messages,
                                       std::chrono::milliseconds timeout) override {
    if (!attached_) return error(closed_error());
    std::vector<Message> out;
    if (max_messages == 0) return out;
    max_messages = std::min<size_t>(max_messages, size_t{1} << 24);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto sleep = std::chrono::milliseconds(1);
    int64_t seen_version = -1;
    while (!active_) {  // standby: poll for the holder to go away
      TL_ASSIGN_OR_RETURN(bool acquired, try_acquire());
      if (acquired) break;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return out;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(50), deadline - now));
    }
    while (true) {
      TL_ASSIGN_OR_RETURN(bool v, data_version_.step());
      int64_t version = v ? data_version_.col_int(0) : 0;
      data_version_.reset();
      if (version != seen_version) {
        seen_version = version;
        TL_RETURN_IF_ERROR(fetch(max_messages, out));
        if (!out.empty()) {
          TL_RETURN_IF_ERROR(persist_delivered(out));
          return out;
        }
      }
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return out;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          {sleep, std::max(left, std::chrono::milliseconds(1))}));
      sleep = std::min(sleep * 2, std::chrono::milliseconds(20));
    }
  }

  // Loads individual_acks into the cursors (inside try_acquire()'s transaction).
  Status load_acks() {
    TL_ASSIGN_OR_RETURN_S(
        Statement acks,
        db_->prepare("SELECT a.partition, a.entry_id, a.acked_count, a.acked, m.num_messages "
                     "FROM individual_acks a LEFT JOIN messages m ON m.topic_id = ?1 AND "
                     "m.partition = a.partition AND m.entry_id = a.entry_id WHERE a.sub_id = ?2"));
    acks.bind_int(1, info_.topic_id);
    acks.bind_int(2, sub_id_);
    while (true) {
      TL_ASSIGN_OR_RETURN_S(bool row, acks.step());
      if (!row) break;
      const int64_t p = acks.col_int(0);
      const int64_t e = acks.col_int(1);
      auto bad = [&](std::string_view what) {
        return corruption(
            fmt::format("{}: acknowledgements of subscription '{}' on {} partition "
                        "{} entry {}: {}",
                        db_->path(), options_.subscription, topic_, p, e, what));
      };
      if (p < 0 || p >= info_.partitions) return bad("no such partition");
      Cursor& c = cursors_[static_cast<size_t>(p)];
      if (e <= c.mark_delete) {  // left over; deleted with the next mark-delete move
        c.stale_rows = true;
        continue;
      }
      if (acks.is_null(4)) return bad("the entry does not exist");
      const int64_t num = acks.col_int(4);
      const int64_t count = acks.col_int(2);
      if (num < 1 || num > int64_t{1} << 24 || count < 1 || count > num)
        return bad(fmt::format("{} of {} messages acknowledged", count, num));
      EntryAcks a;
      a.num = static_cast<int32_t>(num);
      a.bits.assign((static_cast<size_t>(num) + 63) / 64, 0);
      a.stored = true;
      if (acks.is_null(3)) {
        if (count != num) return bad("no bitmap for a partly acknowledged entry");
        for (int64_t i = 0; i < num; ++i) a.bits[static_cast<size_t>(i / 64)] |= 1ull << (i % 64);
      } else {
        std::string_view bm = acks.col_blob(3);
        if (bm.size() != (static_cast<size_t>(num) + 7) / 8) return bad("bitmap length");
        int64_t set = 0;
        for (int64_t i = 0; i < num; ++i) {
          if ((static_cast<uint8_t>(bm[static_cast<size_t>(i / 8)]) >> (i % 8)) & 1) {
            a.bits[static_cast<size_t>(i / 64)] |= 1ull << (i % 64);
            ++set;
          }
        }
        if (set != count) return bad("bitmap and acked_count differ");
      }
      a.acked = static_cast<int32_t>(count);
      c.entries.emplace(e, std::move(a));
    }
    return {};
  }

  Status acknowledge(std::span<const MessageId> ids) override {
    if (!attached_) return closed_error();
    if (!active_) return standby_error();
    Status st = apply_acks(ids);
    if (!st.ok()) {
      // Part of `ids` may already be applied in memory: write everything next time.
      if (!dirty_.empty()) needs_full_sync_ = true;
      dirty_.clear();
      return st;
    }
    if (dirty_.empty() && !needs_full_sync_) return {};
    std::vector<int64_t> old_mark(cursors_.size());
    for (size_t p = 0; p < cursors_.size(); ++p) old_mark[p] = cursors_[p].mark_delete;
    for (const auto& [p, e] : dirty_) {
      Cursor& c = cursors_[static_cast<size_t>(p)];
      while (!c.entries.empty() && c.entries.begin()->first == c.mark_delete + 1 &&
             c.entries.begin()->second.complete()) {
        ++c.mark_delete;
        c.acked_messages += c.entries.begin()->second.num;
        if (c.entries.begin()->second.stored) c.stale_rows = true;
        c.entries.erase(c.entries.begin());
      }
    }
    if (needs_full_sync_) {
      dirty_.clear();
      return sync_all_acks();
    }
    st = persist_acks(old_mark);
    dirty_.clear();
    if (!st.ok()) needs_full_sync_ = true;  // memory is ahead of the database
    return st;
  }

  // Applies acknowledgements to the in-memory cursors, recording changed entries in dirty_.
  Status apply_acks(std::span<const MessageId> ids) {
    EntryAcks* last = nullptr;  // consecutive ids usually share an entry
    int32_t last_p = -1;
    int64_t last_e = -1;
    for (const auto& id : ids) {
      if (id.partition < 0 || id.partition >= info_.partitions) {
        return invalid_argument(
            fmt::format("acknowledge: partition {} out of range for {} ({} "
                        "partitions)",
                        id.partition, topic_, info_.partitions));
      }
      Cursor& c = cursors_[static_cast<size_t>(id.partition)];
      if (id.entry_id <= c.mark_delete) continue;  // duplicate acknowledgement
      if (last == nullptr || id.partition != last_p || id.entry_id != last_e) {
        TL_ASSIGN_OR_RETURN_S(last, entry_acks(c, id.partition, id.entry_id));
        last_p = id.partition;
        last_e = id.entry_id;
      }
      EntryAcks& a = *last;
      if (id.batch_index >= a.num) {
        return invalid_argument(
            fmt::format("acknowledge: {} partition {} entry {} has {} messages, not batch index {}",
                        topic_, id.partition, id.entry_id, a.num, id.batch_index));
      }
      if (a.complete()) continue;
      if (a.bits.empty()) a.bits.assign((static_cast<size_t>(a.num) + 63) / 64, 0);
      if (id.batch_index < 0) {  // the whole entry
        for (int32_t i = 0; i < a.num; ++i) a.bits[static_cast<size_t>(i / 64)] |= 1ull << (i % 64);
        a.acked = a.num;
      } else {
        uint64_t& w = a.bits[static_cast<size_t>(id.batch_index / 64)];
        const uint64_t bit = 1ull << (id.batch_index % 64);
        if (w & bit) continue;
        w |= bit;
        ++a.acked;
      }
      if (!a.dirty) {
        a.dirty = true;
        dirty_.emplace_back(id.partition, id.entry_id);
      }
    }
    return {};
  }

  // The acknowledgement state of entry `e` (> mark_delete), created from the entry's size
  // when it was neither read nor acknowledged yet.
  Result<EntryAcks*> entry_acks(Cursor& c, int32_t p, int64_t e) {
    auto it = c.entries.find(e);
    if (it != c.entries.end()) return &it->second;
    entry_size_.bind_int(1, info_.topic_id);
    entry_size_.bind_int(2, p);
    entry_size_.bind_int(3, e);
    auto row = entry_size_.step();
    const int64_t num = row && *row ? entry_size_.col_int(0) : 0;
    entry_size_.reset();
    if (!row) return error(row.error());
    if (num < 1) {
      return error(invalid_argument(
          fmt::format("acknowledge: {} partition {} has no entry {}", topic_, p, e)));
    }
    EntryAcks a;
    a.num = static_cast<int32_t>(num);
    return &c.entries.emplace(e, std::move(a)).first->second;
  }

  Status write_entry_acks(int32_t p, int64_t e, EntryAcks& a) {
    insert_ack_.bind_int(1, sub_id_);
    insert_ack_.bind_int(2, p);
    insert_ack_.bind_int(3, e);
    insert_ack_.bind_int(4, a.acked);
    if (a.complete()) {
      insert_ack_.bind_null(5);
    } else {
      bitmap_ = encode_ack_bitmap(a);
      insert_ack_.bind_blob(5, bitmap_);
    }
    TL_RETURN_IF_ERROR(insert_ack_.run());
    a.stored = true;
    a.dirty = false;
    return {};
  }

  Status persist_acks(const std::vector<int64_t>& old_mark) {
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    for (size_t p = 0; p < cursors_.size(); ++p) {
      Cursor& c = cursors_[p];
      if (c.mark_delete == old_mark[p]) continue;
      set_mark_delete_.bind_int(1, c.mark_delete);
      set_mark_delete_.bind_int(2, c.acked_messages);
      set_mark_delete_.bind_int(3, sub_id_);
      set_mark_delete_.bind_int(4, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(set_mark_delete_.run());
      if (c.stale_rows) {
        delete_acks_.bind_int(1, sub_id_);
        delete_acks_.bind_int(2, static_cast<int64_t>(p));
        delete_acks_.bind_int(3, c.mark_delete);
        TL_RETURN_STATUS_IF_ERROR(delete_acks_.run());
      }
    }
    for (const auto& [p, e] : dirty_) {
      Cursor& c = cursors_[static_cast<size_t>(p)];
      auto it = c.entries.find(e);
      if (it == c.entries.end() || !it->second.dirty) continue;  // now <= mark_delete
      TL_RETURN_IF_ERROR(write_entry_acks(p, e, it->second));
    }
    TL_RETURN_STATUS_IF_ERROR(txn.commit());
    for (auto& c : cursors_) c.stale_rows = false;
    return {};
  }

  // Rewrites the whole acknowledgement state after a failed acknowledge() transaction.
  Status sync_all_acks() {
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    for (size_t p = 0; p < cursors_.size(); ++p) {
      Cursor& c = cursors_[p];
      set_mark_delete_.bind_int(1, c.mark_delete);
      set_mark_delete_.bind_int(2, c.acked_messages);
      set_mark_delete_.bind_int(3, sub_id_);
      set_mark_delete_.bind_int(4, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(set_mark_delete_.run());
      delete_all_acks_.bind_int(1, sub_id_);
      delete_all_acks_.bind_int(2, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(delete_all_acks_.run());
      for (auto& [e, a] : c.entries) {
        a.stored = false;
        if (a.acked == 0) continue;
        TL_RETURN_IF_ERROR(write_entry_acks(static_cast<int32_t>(p), e, a));
      }
    }
    TL_RETURN_STATUS_IF_ERROR(txn.commit());
    for (auto& c : cursors_) c.stale_rows = false;
    needs_full_sync_ = false;
    return {};
  }

  Result<int64_t> backlog() override {
    if (!attached_) return error(closed_error());
    if (!active_) {  // read the holder's persisted state
      TL_ASSIGN_OR_RETURN(
          Statement st,
          db_->prepare("SELECT (SELECT coalesce(sum(p.message_count - c.acked_messages), 0) "
                       "FROM cursors c JOIN partitions p ON p.topic_id = ?1 AND "
                       "p.partition = c.partition WHERE c.sub_id = ?2) - "
                       "(SELECT coalesce(sum(acked_count), 0) FROM individual_acks "
                       "WHERE sub_id = ?2)"));
      st.bind_int(1, info_.topic_id);
      st.bind_int(2, sub_id_);
      TL_RETURN_IF_ERROR(st.step());
      return st.col_int(0);
    }
    select_next_.bind_int(1, info_.topic_id);
    int64_t total = 0;
    while (true) {
      auto row = select_next_.step();
      if (!row) return error(row.error());
      if (!*row) break;
      int64_t p = select_next_.col_int(0);
      if (p < 0 || p >= info_.partitions) continue;
      const Cursor& c = cursors_[static_cast<size_t>(p)];
      int64_t acked = c.acked_messages;
      for (const auto& [e, a] : c.entries) acked += a.acked;
      total += std::max<int64_t>(0, select_next_.col_int(1) - acked);
    }
    select_next_.reset();
    return total;
  }

  Status close() override {
    if (!attached_) return {};
    Status synced = active_ && needs_full_sync_ ? sync_all_acks() : Status();
    attached_ = false;
    active_ = false;
    holder_ = Statement();
    fetch_ = Statement();
    data_version_ = Statement();
    set_delivered_ = Statement();
    set_mark_delete_ = Statement();
    delete_acks_ = Statement();
    insert_ack_ = Statement();
    select_next_ = Statement();
    entry_size_ = Statement();
    delete_all_acks_ = Statement();
    Status st;
    {
      auto release = db_->prepare(
          "UPDATE subscriptions SET holder_pid = NULL, holder_start = NULL, holder_token = NULL "
          "WHERE sub_id = ? AND holder_token = ?");
      if (release) {
        release->bind_int(1, sub_id_);
        release->bind_int(2, token_);
        st = release->run();
      } else {
        st = release.error();
      }
    }
    db_.reset();
    return synced.ok() ? st : synced;
  }

 private:
  Status closed_error() const {
    return Status(StatusCode::kCancelled,
                  fmt::format("consumer of subscription '{}' on {} is closed",
                              options_.subscription, topic_));
  }

  // Hands out the messages of entry `e` of partition `p` from `reader` (validated, positioned)
  // until `out` holds max_messages; returns whether the entry was used up.
  bool emit(size_t p, Cursor& c, int64_t e, int64_t publish_ms, EntryReader& reader,
            size_t max_messages, std::vector<Message>& out, Status& st) {
    auto it = c.entries.find(e);
    const EntryAcks* acks = it == c.entries.end() ? nullptr : &it->second;
    const bool before = e < c.redelivered_through;
    const bool within = e == c.redelivered_through;
    EntryMessageView v;
    while (out.size() < max_messages) {
      const uint32_t index = reader.index();
      if (!reader.next(v)) return true;
      if (acks && acks->is_acked(index)) continue;
      Message& m = out.emplace_back();
      m.id = MessageId{static_cast<int32_t>(p), 0, e, static_cast<int32_t>(index)};
      m.key.assign(v.key);
      m.payload.assign(v.payload);
      m.event_time_ms = v.event_time_ms;
      m.publish_time_ms = publish_ms;
      m.redelivery_count = before || (within && index <= c.redelivered_batch) ? c.redeliveries : 0;
      if (!v.properties.empty()) {
        auto props = decode_properties(v.properties);
        if (!props) {  // validate() decoded them already; kept for safety
          st = props.error().with_context(fmt::format("{} partition {} entry {}", topic_, p, e));
          return true;
        }
        m.properties = std::move(*props);
      }
    }
    return reader.index() >= reader.count();
  }

  Status fetch(size_t max_messages, std::vector<Message>& out) {
    const size_t n = cursors_.size();
    Status st;
    for (size_t i = 0; i < n && out.size() < max_messages; ++i) {
      const size_t p = (rr_start_ + i) % n;
      Cursor& c = cursors_[p];
      if (c.pending_entry >= 0) {
        EntryReader reader(c.pending_body);
        reader.resume(c.pending_count, c.pending_offset, c.pending_index);
        const bool done =
            emit(p, c, c.pending_entry, c.pending_publish_ms, reader, max_messages, out, st);
        if (!st.ok()) return st;
        if (done) {
          c.pending_entry = -1;
          c.pending_body.clear();
        } else {
          c.pending_offset = reader.offset();
          c.pending_index = reader.index();
          continue;
        }
      }
      fetch_.bind_int(1, info_.topic_id);
      fetch_.bind_int(2, static_cast<int64_t>(p));
      fetch_.bind_int(3, c.read_next);
      while (out.size() < max_messages) {
        auto row = fetch_.step();
        if (!row) {
          fetch_.reset();
          return row.error();
        }
        if (!*row) break;
        const int64_t e = fetch_.col_int(0);
        const int64_t num = fetch_.col_int(1);
        auto known = c.entries.find(e);
        if (known != c.entries.end() && known->second.complete()) {
          c.read_next = e + 1;
          continue;
        }
        std::string_view body = fetch_.col_blob(3);
        EntryReader reader(body);
        Status valid =
            num >= 1 && num <= (int64_t{1} << 24)
                ? reader.validate(num)
                : Status(StatusCode::kCorruption, fmt::format("entry row: num_messages {}", num));
        if (!valid.ok()) {
          fetch_.reset();
          return valid.with_context(
              fmt::format("{}: {} partition {} entry {}", db_->path(), topic_, p, e));
        }
        if (known == c.entries.end()) {
          EntryAcks a;
          a.num = static_cast<int32_t>(num);
          c.entries.emplace(e, std::move(a));
        }
        const int64_t publish_ms = fetch_.col_int(2);
        c.read_next = e + 1;
        const bool done = emit(p, c, e, publish_ms, reader, max_messages, out, st);
        if (!st.ok()) {
          fetch_.reset();
          return st;
        }
        if (!done) {  // keep the rest for the next receive()
          c.pending_entry = e;
          c.pending_publish_ms = publish_ms;
          c.pending_body.assign(body);
          c.pending_offset = reader.offset();
          c.pending_index = reader.index();
          c.pending_count = reader.count();
        }
      }
      fetch_.reset();
    }
    rr_start_ = (rr_start_ + 1) % n;
    return {};
  }

  // Records what was handed out before returning it, so a crash leads to redelivery.
  Status persist_delivered(const std::vector<Message>& out) {
    // Per partition, the last (entry, batch index) handed out; messages of a partition come
    // in order, so that is the last one in `out`.
    std::vector<std::pair<int64_t, int64_t>> high(cursors_.size(), {-1, -1});
    for (const auto& m : out) {
      auto& h = high[static_cast<size_t>(m.id.partition)];
      h = std::max(h, std::pair<int64_t, int64_t>(m.id.entry_id, m.id.batch_index));
    }
    auto newer = [&](size_t p) {
      return high[p] > std::pair(cursors_[p].delivered_through, cursors_[p].delivered_batch);
    };
    bool any = false;
    for (size_t p = 0; p < cursors_.size(); ++p) any |= newer(p);
    if (!any) return {};
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    for (size_t p = 0; p < cursors_.size(); ++p) {
      if (!newer(p)) continue;
      set_delivered_.bind_int(1, high[p].first);
      set_delivered_.bind_int(2, high[p].second);
      set_delivered_.bind_int(3, sub_id_);
      set_delivered_.bind_int(4, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(set_delivered_.run());
    }
    TL_RETURN_STATUS_IF_ERROR(txn.commit());
    for (size_t p = 0; p < cursors_.size(); ++p) {
      if (!newer(p)) continue;
      cursors_[p].delivered_through = high[p].first;
      cursors_[p].delivered_batch = high[p].second;
    }
    return {};
  }

  std::shared_ptr<Database> db_;
  TopicInfo info_;
  std::string topic_;
  io::SubscribeOptions options_;
  std::vector<Cursor> cursors_;
  int64_t sub_id_ = 0;
  int64_t token_ = 0;
  bool attached_ = false;  // between a successful attach() and close()
  bool active_ = false;    // holds the subscription (else a standby)
  int64_t self_start_ = 0;
  int64_t holder_pid_ = 0;  // the other holder, while a standby
  bool needs_full_sync_ = false;
  size_t rr_start_ = 0;
  std::vector<std::pair<int32_t, int64_t>> dirty_;  // scratch of acknowledge(): changed entries
  std::string bitmap_;                              // scratch: an encoded acknowledgement bitmap
  Statement holder_, fetch_, data_version_, set_delivered_, set_mark_delete_, delete_acks_,
      insert_ack_, select_next_, entry_size_, delete_all_acks_;
};

class LogService final : public io::TopicService {
 public:
  LogService(std::string path, std::shared_ptr<Database> db)
      : path_(std::move(path)), db_(std::move(db)) {}

  Status create_namespace(std::string_view tenant, std::string_view ns) override {
    std::lock_guard lock(mu_);
    TL_ASSIGN_OR_RETURN_S(Statement st,
                          db_->prepare("INSERT OR IGNORE INTO namespaces VALUES (?, ?)"));
    st.bind_text(1, tenant);
    st.bind_text(2, ns);
    return st.run();
  }

  Status create_partitioned_topic(std::string_view topic, int partitions) override {
    if (partitions < 1 || partitions > 65536) {
      return invalid_argument(
          fmt::format("topic {}: invalid partition count {}", topic, partitions));
    }
    const std::string name = normalize_topic(topic);
    std::lock_guard lock(mu_);
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    TL_ASSIGN_OR_RETURN_S(auto found, find_topic(*db_, name));
    if (found) {
      if (found->partitions == partitions) return {};
      return Status(StatusCode::kAlreadyExists,
                    fmt::format("topic {} already exists with {} partitions (asked for {})", name,
                                found->partitions, partitions));
    }
    TL_RETURN_STATUS_IF_ERROR(insert_topic(*db_, name, partitions));
    return txn.commit();
  }

  Result<int> partitions(std::string_view topic) override {
    const std::string name = normalize_topic(topic);
    std::lock_guard lock(mu_);
    TL_ASSIGN_OR_RETURN(auto found, find_topic(*db_, name));
    if (!found) return error(StatusCode::kNotFound, fmt::format("topic {} does not exist", name));
    return found->partitions;
  }

  Status set_schema(std::string_view topic, std::string_view envelope_json) override {
    const std::string name = normalize_topic(topic);
    try {
      auto j = nlohmann::json::parse(envelope_json);
      if (!j.is_object() || !j.contains("type")) {
        return invalid_argument(
            fmt::format("schema for {}: expected an object with a \"type\"", name));
      }
    } catch (const nlohmann::json::exception& e) {
      return invalid_argument(fmt::format("schema for {}: invalid JSON: {}", name, e.what()));
    }
    std::lock_guard lock(mu_);
    TL_ASSIGN_OR_RETURN_S(TopicInfo info, ensure_topic(*db_, name));
    TL_ASSIGN_OR_RETURN_S(Statement st,
                          db_->prepare("UPDATE topics SET schema_json = ? WHERE topic_id = ?"));
    st.bind_text(1, envelope_json);
    st.bind_int(2, info.topic_id);
    return st.run();
  }

  Result<std::optional<std::string>> get_schema(std::string_view topic) override {
    const std::string name = normalize_topic(topic);
    std::lock_guard lock(mu_);
    TL_ASSIGN_OR_RETURN(Statement st,
                        db_->prepare("SELECT schema_json FROM topics WHERE name = ?"));
    st.bind_text(1, name);
    TL_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row || st.is_null(0)) return std::optional<std::string>();
    return std::optional<std::string>(std::string(st.col_text(0)));
  }

  Status enable_deduplication(std::string_view) override { return {}; }

  Result<std::unique_ptr<io::Producer>> create_producer(std::string_view topic,
                                                        const io::ProducerOptions&) override {
    const std::string name = normalize_topic(topic);
    TL_ASSIGN_OR_RETURN(auto db, connection());
    TL_ASSIGN_OR_RETURN(TopicInfo info, ensure_topic(*db, name));
    auto p = std::make_unique<LogProducer>(std::move(db), info, name);
    TL_RETURN_IF_ERROR(p->init());
    return p;
  }

  Result<std::unique_ptr<io::Consumer>> subscribe(std::string_view topic,
                                                  const io::SubscribeOptions& options) override {
    if (options.subscription.empty())
      return error(invalid_argument("subscribe: empty subscription name"));
    if (!options.partitions.empty()) {
      // One active consumer per subscription here: nothing to split.
      return error(invalid_argument(fmt::format(
          "subscribe to {}: consuming a subset of partitions needs the clusters backend "
          "(Pulsar); the embedded log serves one consumer per subscription",
          topic)));
    }
    const std::string name = normalize_topic(topic);
    TL_ASSIGN_OR_RETURN(auto db, connection());
    TL_ASSIGN_OR_RETURN(TopicInfo info, ensure_topic(*db, name));
    auto c = std::make_unique<LogConsumer>(std::move(db), info, name, options);
    TL_RETURN_IF_ERROR(c->attach());
    return c;
  }

  Result<int64_t> message_count(std::string_view topic) override {
    const std::string name = normalize_topic(topic);
    std::lock_guard lock(mu_);
    TL_ASSIGN_OR_RETURN(auto found, find_topic(*db_, name));
    if (!found) return error(StatusCode::kNotFound, fmt::format("topic {} does not exist", name));
    TL_ASSIGN_OR_RETURN(
        Statement st,
        db_->prepare("SELECT coalesce(sum(message_count), 0) FROM partitions WHERE topic_id = ?"));
    st.bind_int(1, found->topic_id);
    TL_RETURN_IF_ERROR(st.step());
    return st.col_int(0);
  }

  io::AtomicWork* atomic_work() override { return &atomic_; }

  io::StateStore* state_store() override {
    if (!state_) state_ = make_state_store(db_);
    return state_.get();
  }

 private:
  // A producer's or consumer's connection: its own, or the service's once atomic work is
  // enabled (so that all of them write inside the same transaction).
  Result<std::shared_ptr<Database>> connection() {
    if (atomic_.enabled) return db_;
    TL_ASSIGN_OR_RETURN(auto db, Database::open(path_));
    return std::shared_ptr<Database>(std::move(db));
  }

  // io::AtomicWork over the service's connection: BEGIN IMMEDIATE .. COMMIT; the producers'
  // and consumers' own transactions become savepoints inside it (sqlite.h, Transaction).
  struct Atomic final : io::AtomicWork {
    explicit Atomic(LogService* s) : service(s) {}
    Status enable() override {
      enabled = true;
      return {};
    }
    Status begin() override {
      if (!enabled) return Status(StatusCode::kInternal, "atomic work: begin() before enable()");
      if (txn) return Status(StatusCode::kInternal, "atomic work: begin() inside a unit");
      TL_ASSIGN_OR_RETURN_S(Transaction t, Transaction::begin(*service->db_));
      txn.emplace(std::move(t));
      return {};
    }
    Status commit() override {
      if (!txn) return Status(StatusCode::kInternal, "atomic work: commit() without begin()");
      Transaction t = std::move(*txn);
      txn.reset();
      return t.commit();
    }
    void rollback() override { txn.reset(); }
    LogService* service;
    bool enabled = false;
    std::optional<Transaction> txn;
  };

  std::string path_;
  std::mutex mu_;  // guards db_ (until atomic work is enabled: then one thread only)
  std::shared_ptr<Database> db_;
  std::unique_ptr<io::StateStore> state_;
  Atomic atomic_{this};  // declared last: rolls back an open unit before db_ closes
};

}  // namespace

Result<std::unique_ptr<io::TopicService>> open_topic_service(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return error(StatusCode::kIoError,
                 fmt::format("{}: cannot create data directory: {}", data_dir, ec.message()));
  }
  std::string path = (std::filesystem::path(data_dir) / "topics.sqlite").string();
  TL_ASSIGN_OR_RETURN(auto db, Database::open(path));
  TL_RETURN_IF_ERROR(db->ensure_format(kFormat, kFormatVersion,
                                       std::string(kSchemaSql) + std::string(kJobStateSql)));
  return std::make_unique<LogService>(std::move(path), std::move(db));
}

}  // namespace tideline::embedded
