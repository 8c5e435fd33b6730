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
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/time.h"
#include "io/embedded/embedded.h"
#include "io/embedded/job_state.h"
#include "io/embedded/sqlite.h"

namespace tideline::embedded {

namespace {

using io::Message;
using io::MessageId;

constexpr std::string_view kFormat = "tideline-embedded-log";
constexpr int kFormatVersion = 2;

constexpr std::string_view kSchemaSql = R"sql(
CREATE TABLE namespaces (tenant TEXT NOT NULL, namespace TEXT NOT NULL,
                         PRIMARY KEY (tenant, namespace)) WITHOUT ROWID;
CREATE TABLE topics (topic_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                     partitions INTEGER NOT NULL, schema_json TEXT);
CREATE TABLE partitions (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                         next_entry_id INTEGER NOT NULL,
                         PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;
CREATE TABLE messages (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                       entry_id INTEGER NOT NULL, key BLOB NOT NULL, payload BLOB NOT NULL,
                       event_time_ms INTEGER NOT NULL, publish_time_ms INTEGER NOT NULL,
                       properties BLOB,
                       PRIMARY KEY (topic_id, partition, entry_id)) WITHOUT ROWID;
CREATE TABLE subscriptions (sub_id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL,
                            name TEXT NOT NULL, type TEXT NOT NULL, holder_pid INTEGER,
                            holder_start INTEGER, holder_token INTEGER,
                            UNIQUE (topic_id, name));
CREATE TABLE cursors (sub_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                      mark_delete INTEGER NOT NULL, delivered_through INTEGER NOT NULL,
                      redeliveries INTEGER NOT NULL,
                      PRIMARY KEY (sub_id, partition)) WITHOUT ROWID;
CREATE TABLE individual_acks (sub_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                              entry_id INTEGER NOT NULL,
                              PRIMARY KEY (sub_id, partition, entry_id)) WITHOUT ROWID;
)sql";

// messages.properties: u32 count, then per pair u32 length + key bytes, u32 length + value
// bytes, little-endian (docs/formats/embedded_log.md).
std::string encode_properties(const io::Properties& props) {
  std::string out;
  auto put_u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put_u32(static_cast<uint32_t>(props.size()));
  for (const auto& [k, v] : props) {
    put_u32(static_cast<uint32_t>(k.size()));
    out += k;
    put_u32(static_cast<uint32_t>(v.size()));
    out += v;
  }
  return out;
}

Result<io::Properties> decode_properties(std::string_view in) {
  size_t at = 0;
  auto get_u32 = [&](uint32_t& v) {
    if (in.size() - at < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<uint32_t>(static_cast<uint8_t>(in[at + i])) << (8 * i);
    at += 4;
    return true;
  };
  auto get_str = [&](std::string& s) {
    uint32_t n = 0;
    if (!get_u32(n) || in.size() - at < n) return false;
    s.assign(in.substr(at, n));
    at += n;
    return true;
  };
  uint32_t count = 0;
  io::Properties out;
  if (!get_u32(count)) return error(StatusCode::kCorruption, "message properties: truncated");
  for (uint32_t i = 0; i < count; ++i) {
    std::string k, v;
    if (!get_str(k) || !get_str(v))
      return error(StatusCode::kCorruption,
                   fmt::format("message properties: truncated at byte {}", at));
    out.emplace_back(std::move(k), std::move(v));
  }
  if (at != in.size())
    return error(StatusCode::kCorruption,
                 fmt::format("message properties: {} bytes after the last pair", in.size() - at));
  return out;
}

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
  TL_ASSIGN_OR_RETURN(Statement p, db.prepare("INSERT INTO partitions VALUES (?, ?, 0)"));
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

class LogProducer final : public io::Producer {
 public:
  LogProducer(std::shared_ptr<Database> db, TopicInfo info, std::string topic)
      : db_(std::move(db)), info_(info), topic_(std::move(topic)), next_(info.partitions) {}

  Status init() {
    TL_ASSIGN_OR_RETURN_S(
        select_next_,
        db_->prepare("SELECT partition, next_entry_id FROM partitions WHERE topic_id = ?"));
    TL_ASSIGN_OR_RETURN_S(insert_,
                          db_->prepare("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    TL_ASSIGN_OR_RETURN_S(update_next_,
                          db_->prepare("UPDATE partitions SET next_entry_id = ? WHERE topic_id = ? "
                                       "AND partition = ?"));
    return {};
  }

  Status send(std::span<const io::OutgoingMessage> messages) override {
    if (!db_)
      return Status(StatusCode::kCancelled, fmt::format("producer for {} is closed", topic_));
    if (messages.empty()) return {};
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    select_next_.bind_int(1, info_.topic_id);
    while (true) {
      auto row = select_next_.step();
      if (!row) return row.error();
      if (!*row) break;
      int64_t p = select_next_.col_int(0);
      if (p >= 0 && p < info_.partitions) next_[static_cast<size_t>(p)] = select_next_.col_int(1);
    }
    select_next_.reset();
    std::vector<int64_t> start = next_;
    const int64_t publish_ms = wall_ms();
    const auto n = static_cast<uint32_t>(info_.partitions);
    // Group by partition (stable, so per-partition order is the send order): each partition's
    // rows then go to the end of its key range one after another instead of alternating
    // between ranges of the B-tree.
    route_.resize(messages.size());
    counts_.assign(n + 1, 0);
    for (size_t i = 0; i < messages.size(); ++i) {
      const auto& key = messages[i].key;
      route_[i] = key.empty() ? round_robin_++ % n : io::pulsar_key_hash(key) % n;
      ++counts_[route_[i] + 1];
    }
    for (uint32_t p = 0; p < n; ++p) counts_[p + 1] += counts_[p];
    order_.resize(messages.size());
    for (size_t i = 0; i < messages.size(); ++i) order_[counts_[route_[i]]++] = i;
    for (size_t i : order_) {
      const auto& m = messages[i];
      const uint32_t p = route_[i];
      insert_.bind_int(1, info_.topic_id);
      insert_.bind_int(2, p);
      insert_.bind_int(3, next_[p]++);
      insert_.bind_blob(4, m.key);
      insert_.bind_blob(5, m.payload);
      insert_.bind_int(6, m.event_time_ms);
      insert_.bind_int(7, publish_ms);
      if (m.properties.empty()) {
        insert_.bind_null(8);
      } else {
        props_ = encode_properties(m.properties);
        insert_.bind_blob(8, props_);
      }
      TL_RETURN_STATUS_IF_ERROR(insert_.run());
    }
    for (size_t p = 0; p < next_.size(); ++p) {
      if (next_[p] == start[p]) continue;
      update_next_.bind_int(1, next_[p]);
      update_next_.bind_int(2, info_.topic_id);
      update_next_.bind_int(3, static_cast<int64_t>(p));
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
  std::vector<int64_t> next_;
  uint32_t round_robin_ = 0;
  std::vector<uint32_t> route_;  // scratch of send(): partition per message
  std::vector<size_t> counts_;   // scratch: partition offsets
  std::vector<size_t> order_;    // scratch: message indices grouped by partition
  std::string props_;            // scratch: encoded properties of one message
  Statement select_next_, insert_, update_next_;
};

// Per-partition cursor state. The consumer is the only writer of its subscription's rows
// while it holds the subscription, so this mirror is authoritative.
struct Cursor {
  int64_t mark_delete = -1;
  std::set<int64_t> acked;           // individually acknowledged entries > mark_delete + 1
  int64_t read_next = 0;             // next entry id to fetch
  int64_t delivered_through = -1;    // as persisted
  int64_t redelivered_through = -1;  // entries <= this are redeliveries
  int32_t redeliveries = 0;
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
        TL_RETURN_STATUS_IF_ERROR(db_->exec(
            fmt::format("INSERT INTO cursors SELECT {0}, partition, {1}, {1}, 0 FROM partitions "
                        "WHERE topic_id = {2}",
                        sub_id_, latest ? "next_entry_id - 1" : "-1", info_.topic_id)));
      }
      find.reset();
      TL_RETURN_STATUS_IF_ERROR(txn.commit());
    }
    TL_ASSIGN_OR_RETURN_S(
        fetch_,
        db_->prepare("SELECT entry_id, key, payload, event_time_ms, publish_time_ms, properties "
                     "FROM messages WHERE topic_id = ? AND partition = ? AND "
                     "entry_id >= ? ORDER BY entry_id LIMIT ?"));
    TL_ASSIGN_OR_RETURN_S(data_version_, db_->prepare("PRAGMA data_version"));
    TL_ASSIGN_OR_RETURN_S(set_delivered_,
                          db_->prepare("UPDATE cursors SET delivered_through = ? WHERE sub_id = ? "
                                       "AND partition = ?"));
    TL_ASSIGN_OR_RETURN_S(set_mark_delete_,
                          db_->prepare("UPDATE cursors SET mark_delete = ? WHERE sub_id = ? "
                                       "AND partition = ?"));
    TL_ASSIGN_OR_RETURN_S(delete_acks_,
                          db_->prepare("DELETE FROM individual_acks WHERE sub_id = ? AND "
                                       "partition = ? AND entry_id <= ?"));
    TL_ASSIGN_OR_RETURN_S(insert_ack_,
                          db_->prepare("INSERT OR IGNORE INTO individual_acks VALUES (?, ?, ?)"));
    TL_ASSIGN_OR_RETURN_S(
        select_next_,
        db_->prepare("SELECT partition, next_entry_id FROM partitions WHERE topic_id = ?"));
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
    TL_ASSIGN_OR_RETURN(Statement load,
                        db_->prepare("SELECT partition, mark_delete, delivered_through, "
                                     "redeliveries FROM cursors WHERE sub_id = ?"));
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
      c.redeliveries = static_cast<int32_t>(load.col_int(3));
      c.read_next = c.mark_delete + 1;
      if (c.delivered_through > c.mark_delete) {
        ++c.redeliveries;
        c.redelivered_through = c.delivered_through;
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
    TL_ASSIGN_OR_RETURN(
        Statement acks,
        db_->prepare("SELECT partition, entry_id FROM individual_acks WHERE sub_id = ?"));
    acks.bind_int(1, sub_id_);
    while (true) {
      TL_ASSIGN_OR_RETURN(bool row, acks.step());
      if (!row) break;
      int64_t p = acks.col_int(0);
      if (p >= 0 && p < info_.partitions) {
        cursors_[static_cast<size_t>(p)].acked.insert(acks.col_int(1));
      }
    }
    acks.reset();
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

  Status acknowledge(std::span<const MessageId> ids) override {
    if (!attached_) return closed_error();
    if (!active_) return standby_error();
    std::vector<bool> touched(cursors_.size(), false);
    std::vector<bool> had_acks(cursors_.size(), false);
    std::vector<int64_t> old_mark(cursors_.size());
    for (size_t p = 0; p < cursors_.size(); ++p) {
      had_acks[p] = !cursors_[p].acked.empty();
      old_mark[p] = cursors_[p].mark_delete;
    }
    std::vector<MessageId> fresh;
    for (const auto& id : ids) {
      if (id.partition < 0 || id.partition >= info_.partitions) {
        return invalid_argument(
            fmt::format("acknowledge: partition {} out of range for {} ({} "
                        "partitions)",
                        id.partition, topic_, info_.partitions));
      }
      Cursor& c = cursors_[static_cast<size_t>(id.partition)];
      if (id.entry_id <= c.mark_delete) continue;  // duplicate acknowledgement
      if (!c.acked.insert(id.entry_id).second) continue;
      touched[static_cast<size_t>(id.partition)] = true;
      fresh.push_back(id);
    }
    if (fresh.empty() && !needs_full_sync_) return {};
    for (size_t p = 0; p < cursors_.size(); ++p) {
      if (!touched[p]) continue;
      Cursor& c = cursors_[p];
      while (!c.acked.empty() && *c.acked.begin() == c.mark_delete + 1) {
        ++c.mark_delete;
        c.acked.erase(c.acked.begin());
      }
    }
    if (needs_full_sync_) return sync_all_acks();
    Status st = persist_acks(old_mark, had_acks, fresh);
    if (!st.ok()) needs_full_sync_ = true;  // memory is ahead of the database
    return st;
  }

  Status persist_acks(const std::vector<int64_t>& old_mark, const std::vector<bool>& had_acks,
                      const std::vector<MessageId>& fresh) {
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    for (size_t p = 0; p < cursors_.size(); ++p) {
      const Cursor& c = cursors_[p];
      if (c.mark_delete == old_mark[p]) continue;
      set_mark_delete_.bind_int(1, c.mark_delete);
      set_mark_delete_.bind_int(2, sub_id_);
      set_mark_delete_.bind_int(3, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(set_mark_delete_.run());
      if (had_acks[p]) {
        delete_acks_.bind_int(1, sub_id_);
        delete_acks_.bind_int(2, static_cast<int64_t>(p));
        delete_acks_.bind_int(3, c.mark_delete);
        TL_RETURN_STATUS_IF_ERROR(delete_acks_.run());
      }
    }
    for (const auto& id : fresh) {
      if (id.entry_id <= cursors_[static_cast<size_t>(id.partition)].mark_delete) continue;
      insert_ack_.bind_int(1, sub_id_);
      insert_ack_.bind_int(2, id.partition);
      insert_ack_.bind_int(3, id.entry_id);
      TL_RETURN_STATUS_IF_ERROR(insert_ack_.run());
    }
    return txn.commit();
  }

  // Rewrites the whole acknowledgement state after a failed acknowledge() transaction.
  Status sync_all_acks() {
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    for (size_t p = 0; p < cursors_.size(); ++p) {
      const Cursor& c = cursors_[p];
      set_mark_delete_.bind_int(1, c.mark_delete);
      set_mark_delete_.bind_int(2, sub_id_);
      set_mark_delete_.bind_int(3, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(set_mark_delete_.run());
      delete_acks_.bind_int(1, sub_id_);
      delete_acks_.bind_int(2, static_cast<int64_t>(p));
      delete_acks_.bind_int(3, c.mark_delete);
      TL_RETURN_STATUS_IF_ERROR(delete_acks_.run());
      for (int64_t e : c.acked) {
        insert_ack_.bind_int(1, sub_id_);
        insert_ack_.bind_int(2, static_cast<int64_t>(p));
        insert_ack_.bind_int(3, e);
        TL_RETURN_STATUS_IF_ERROR(insert_ack_.run());
      }
    }
    TL_RETURN_STATUS_IF_ERROR(txn.commit());
    needs_full_sync_ = false;
    return {};
  }

  Result<int64_t> backlog() override {
    if (!attached_) return error(closed_error());
    if (!active_) {  // read the holder's persisted state
      TL_ASSIGN_OR_RETURN(
          Statement st,
          db_->prepare("SELECT (SELECT coalesce(sum(p.next_entry_id - c.mark_delete - 1), 0) "
                       "FROM cursors c JOIN partitions p ON p.topic_id = ?1 AND "
                       "p.partition = c.partition WHERE c.sub_id = ?2) - "
                       "(SELECT count(*) FROM individual_acks WHERE sub_id = ?2)"));
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
      total += std::max<int64_t>(
          0, select_next_.col_int(1) - (c.mark_delete + 1) - static_cast<int64_t>(c.acked.size()));
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

  Status fetch(size_t max_messages, std::vector<Message>& out) {
    const size_t n = cursors_.size();
    for (size_t i = 0; i < n && out.size() < max_messages; ++i) {
      const size_t p = (rr_start_ + i) % n;
      Cursor& c = cursors_[p];
      const size_t want = max_messages - out.size();
      // Acknowledged entries are skipped, so ask for enough rows to cover them.
      auto skip_from = c.acked.lower_bound(c.read_next);
      const auto skippable = static_cast<size_t>(std::distance(skip_from, c.acked.end()));
      fetch_.bind_int(1, info_.topic_id);
      fetch_.bind_int(2, static_cast<int64_t>(p));
      fetch_.bind_int(3, c.read_next);
      fetch_.bind_int(4, static_cast<int64_t>(want + skippable));
      while (out.size() < max_messages) {
        auto row = fetch_.step();
        if (!row) return row.error();
        if (!*row) break;
        const int64_t e = fetch_.col_int(0);
        c.read_next = e + 1;
        if (!c.acked.empty() && c.acked.count(e)) continue;
        Message& m = out.emplace_back();
        m.id = MessageId{static_cast<int32_t>(p), 0, e};
        m.key = std::string(fetch_.col_blob(1));
        m.payload = std::string(fetch_.col_blob(2));
        m.event_time_ms = fetch_.col_int(3);
        m.publish_time_ms = fetch_.col_int(4);
        m.redelivery_count = e <= c.redelivered_through ? c.redeliveries : 0;
        if (!fetch_.is_null(5)) {
          auto props = decode_properties(fetch_.col_blob(5));
          if (!props) {
            return props.error().with_context(
                fmt::format("{} partition {} entry {}", topic_, p, e));
          }
          m.properties = std::move(*props);
        }
      }
      fetch_.reset();
    }
    rr_start_ = (rr_start_ + 1) % n;
    return {};
  }

  // Records what was handed out before returning it, so a crash leads to redelivery.
  Status persist_delivered(const std::vector<Message>& out) {
    std::vector<int64_t> high(cursors_.size(), -1);
    for (const auto& m : out) {
      auto& h = high[static_cast<size_t>(m.id.partition)];
      h = std::max(h, m.id.entry_id);
    }
    bool any = false;
    for (size_t p = 0; p < cursors_.size(); ++p) any |= high[p] > cursors_[p].delivered_through;
    if (!any) return {};
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    for (size_t p = 0; p < cursors_.size(); ++p) {
      if (high[p] <= cursors_[p].delivered_through) continue;
      set_delivered_.bind_int(1, high[p]);
      set_delivered_.bind_int(2, sub_id_);
      set_delivered_.bind_int(3, static_cast<int64_t>(p));
      TL_RETURN_STATUS_IF_ERROR(set_delivered_.run());
    }
    TL_RETURN_STATUS_IF_ERROR(txn.commit());
    for (size_t p = 0; p < cursors_.size(); ++p) {
      cursors_[p].delivered_through = std::max(cursors_[p].delivered_through, high[p]);
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
  Statement holder_, fetch_, data_version_, set_delivered_, set_mark_delete_, delete_acks_,
      insert_ack_, select_next_;
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
        db_->prepare("SELECT coalesce(sum(next_entry_id), 0) FROM partitions WHERE topic_id = ?"));
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
