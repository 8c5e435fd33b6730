// TopicService over Pulsar: routing, durability, acknowledgement and redelivery follow the
// embedded log (io/embedded/topic_log.cc); wire details in docs/formats/pulsar.md.
#include "io/pulsar/pulsar.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/time.h"
#include "io/pulsar/admin.h"
#include "io/pulsar/client.h"
#include "io/pulsar/compression.h"

namespace tideline::pulsar {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// SENDs without a receipt per connection before send() waits for receipts.
constexpr size_t kMaxInFlight = 1000;
constexpr size_t kFlushBytes = 256 * 1024;
// Permits per partition consumer; FLOW is sent again when half were handed out.
constexpr uint32_t kPermits = 1000;
// A send() that needs more reconnects than this fails.
constexpr int kMaxReconnectsPerSend = 10;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  return std::max(0ms,
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

proto::CommandSubscribe::SubType sub_type(io::SubscriptionType t) {
  switch (t) {
    case io::SubscriptionType::kExclusive:
      return proto::CommandSubscribe::Exclusive;
    case io::SubscriptionType::kShared:
      return proto::CommandSubscribe::Shared;
    case io::SubscriptionType::kFailover:
      return proto::CommandSubscribe::Failover;
    case io::SubscriptionType::kKeyShared:
      return proto::CommandSubscribe::Key_Shared;
  }
  return proto::CommandSubscribe::Shared;
}

// The partition topics of `topic` (itself when it is not partitioned).
std::vector<std::string> partition_topics(const TopicName& name, int partitions) {
  std::vector<std::string> out;
  if (partitions == 0) {
    out.push_back(name.full());
  } else {
    for (int i = 0; i < partitions; ++i) out.push_back(name.partition(i));
  }
  return out;
}

// Send errors after which the same message may succeed on a new producer (the broker is
// restarting or overloaded); the others (schema, authorization, checksum, terminated topic)
// fail the send.
bool transient_send_error(int error) {
  switch (error) {
    case proto::MetadataError:
    case proto::PersistenceError:
    case proto::ServiceNotReady:
    case proto::TooManyRequests:
      return true;
    default:
      return false;
  }
}

class PulsarProducer final : public io::Producer {
 public:
  // A message sent but without a receipt yet; kept for resending after a reconnect (only
  // during send(), whose span it points into).
  struct Pending {
    uint64_t sequence_id;
    size_t index;  // into the span given to send()
    uint64_t publish_time;
  };
  struct Partition {
    std::string topic;
    BrokerConnection* conn = nullptr;
    uint64_t producer_id = 0;
    std::string producer_name;
    uint64_t next_sequence = 0;
    std::deque<Pending> pending;
    bool lost = false;  // closed by the broker or its connection failed: recreate
  };

  PulsarProducer(ClientOptions options, std::string topic, std::string name)
      : pool_(std::move(options)), topic_(std::move(topic)), name_(std::move(name)) {}
  ~PulsarProducer() override { (void)close(); }

  Status open(const std::vector<std::string>& topics) {
    for (const std::string& t : topics) {
      Partition p;
      p.topic = t;
      partitions_.push_back(std::move(p));
      TL_RETURN_IF_ERROR(create(partitions_.back()));
    }
    return {};
  }

  Status send(std::span<const io::OutgoingMessage> messages) override {
    if (!broken_.ok()) return broken_;
    if (closed_) return invalid_argument(fmt::format("producer of {} is closed", topic_));
    reconnects_ = 0;
    Status st = send_impl(messages);
    for (Partition& p : partitions_) p.pending.clear();
    if (!st.ok()) broken_ = st;
    return st;
  }

  Status flush() override { return broken_; }

  Status close() override {
    if (closed_) return {};
    closed_ = true;
    Status result;
    for (Partition& p : partitions_) {
      if (p.lost || p.conn == nullptr || failed_.count(p.conn)) continue;
      proto::BaseCommand cmd;
      cmd.set_type(proto::BaseCommand::CLOSE_PRODUCER);
      const uint64_t req = p.conn->next_request_id();
      cmd.mutable_close_producer()->set_producer_id(p.producer_id);
      cmd.mutable_close_producer()->set_request_id(req);
      auto r = p.conn->request(cmd, req);
      if (!r && result.ok() && broken_.ok()) result = r.error();
    }
    pool_.close();
    return result;
  }

 private:
  // LOOKUP and PRODUCER for one partition.
  Status create(Partition& p) {
    p.conn = nullptr;
    // A fresh id per creation (see PulsarConsumer::subscribe_partition).
    p.producer_id = next_producer_id_++;
    TL_ASSIGN_OR_RETURN(BrokerConnection * conn, pool_.lookup(p.topic));
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::PRODUCER);
    const uint64_t req = conn->next_request_id();
    auto* c = cmd.mutable_producer();
    c->set_topic(p.topic);
    c->set_producer_id(p.producer_id);
    c->set_request_id(req);
    // A fixed name makes the broker's deduplication apply across restarts (same name, same
    // sequence ids = the same messages).
    if (!name_.empty()) {
      c->set_producer_name(name_);
      c->set_user_provided_producer_name(true);
    }
    TL_ASSIGN_OR_RETURN(Frame frame, conn->request(cmd, req));
    if (frame.command.type() != proto::BaseCommand::PRODUCER_SUCCESS) {
      return corruption(fmt::format("{}: PRODUCER {}: answered with {}", conn->url(), p.topic,
                                    command_name(frame.command.type())));
    }
    // producer_ready = false (exclusive access pending) does not occur: Shared access mode.
    p.producer_name = frame.command.producer_success().producer_name();
    p.conn = conn;
    p.lost = false;
    return {};
  }

  // Compresses with the configured codec (docs/formats/pulsar.md "Compression"); fails only
  // for a payload the codec cannot take.
  Status queue_send(Partition& p, const io::OutgoingMessage& m, const Pending& pending) {
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::SEND);
    auto* s = cmd.mutable_send();
    s->set_producer_id(p.producer_id);
    s->set_sequence_id(pending.sequence_id);
    s->set_num_messages(1);
    proto::MessageMetadata meta;
    meta.set_producer_name(p.producer_name);
    meta.set_sequence_id(pending.sequence_id);
    meta.set_publish_time(pending.publish_time);
    if (!m.key.empty()) meta.set_partition_key(m.key);
    if (m.event_time_ms > 0) meta.set_event_time(static_cast<uint64_t>(m.event_time_ms));
    for (const auto& [k, v] : m.properties) {
      auto* kv = meta.add_properties();
      kv->set_key(k);
      kv->set_value(v);
    }
    if (pool_.options().compression == proto::NONE) {
      p.conn->queue_payload(cmd, meta, m.payload);
      return {};
    }
    meta.set_compression(pool_.options().compression);
    meta.set_uncompressed_size(static_cast<uint32_t>(m.payload.size()));
    TL_RETURN_IF_ERROR(compress(pool_.options().compression, m.payload, compressed_));
    p.conn->queue_payload(cmd, meta, compressed_);
    return {};
  }

  void mark_failed(BrokerConnection* conn) {
    if (!failed_.insert(conn).second) return;
    failed_urls_.push_back(conn->url());
    for (Partition& p : partitions_) {
      if (p.conn == conn) p.lost = true;
    }
  }

  // Recreates a lost partition producer (retrying for up to the operation timeout) and
  // resends its messages without receipts, with their sequence ids: they may be stored twice
  // when the broker persisted them but the receipt was lost (at least once).
  Status ensure_ready(Partition& p, std::span<const io::OutgoingMessage> messages) {
    if (!p.lost) return {};
    if (++reconnects_ > kMaxReconnectsPerSend) {
      return unavailable(fmt::format("producer of {}: more than {} reconnects in one send", topic_,
                                     kMaxReconnectsPerSend));
    }
    for (const std::string& url : failed_urls_) pool_.drop(url);
    failed_urls_.clear();
    failed_.clear();
    const auto deadline = Clock::now() + pool_.options().operation_timeout;
    auto pause = std::chrono::milliseconds(100);
    while (true) {
      Status st = create(p);
      if (st.ok()) break;
      spdlog::warn("pulsar producer of {}: recreating {}: {}", topic_, p.topic, st.message());
      if (Clock::now() + pause >= deadline) {
        return st.with_context(fmt::format("recreating the producer of {}", p.topic));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    }
    for (const Pending& pending : p.pending) {
      TL_RETURN_IF_ERROR(queue_send(p, messages[pending.index], pending));
    }
    if (!p.conn->flush().ok()) mark_failed(p.conn);
    return {};
  }

  Status send_impl(std::span<const io::OutgoingMessage> messages) {
    const size_t n = partitions_.size();
    for (size_t i = 0; i < messages.size(); ++i) {
      const io::OutgoingMessage& m = messages[i];
      const size_t index = n == 1          ? 0
                           : m.key.empty() ? round_robin_++ % n
                                           : io::pulsar_key_hash(m.key) % n;
      Partition& p = partitions_[index];
      TL_RETURN_IF_ERROR(ensure_ready(p, messages));
      // Explicit sequence ids (deduplication) must increase; the producer's own continue after
      // the highest one used.
      const uint64_t seq =
          m.sequence_id >= 0 ? static_cast<uint64_t>(m.sequence_id) : p.next_sequence;
      p.next_sequence = std::max(p.next_sequence, seq + 1);
      p.pending.push_back({seq, i, static_cast<uint64_t>(wall_ms())});
      if (p.lost) continue;  // resent by ensure_ready
      TL_RETURN_IF_ERROR(queue_send(p, m, p.pending.back()));
      if (p.conn->queued_bytes() >= kFlushBytes && !p.conn->flush().ok()) mark_failed(p.conn);
      while (p.pending.size() >= kMaxInFlight) {
        TL_RETURN_IF_ERROR(ensure_ready(p, messages));
        if (!p.conn->flush().ok()) {
          mark_failed(p.conn);
          continue;
        }
        TL_RETURN_IF_ERROR(read_receipt(p));
      }
    }
    for (Partition& p : partitions_) {
      if (!p.lost && !p.conn->flush().ok()) mark_failed(p.conn);
    }
    for (Partition& p : partitions_) {
      while (!p.pending.empty()) {
        TL_RETURN_IF_ERROR(ensure_ready(p, messages));
        TL_RETURN_IF_ERROR(read_receipt(p));
      }
    }
    return {};
  }

  // Reads one frame from `p`'s connection and applies it to whichever partition it names.
  Status read_receipt(Partition& p) {
    if (p.lost) return {};
    BrokerConnection* conn = p.conn;
    const auto timeout = pool_.options().operation_timeout;
    auto frame = conn->read_frame(timeout);
    if (!frame || !*frame) {
      spdlog::warn("pulsar producer of {}: {}; recreating", topic_,
                   frame ? fmt::format("{}: no receipt within {} ms", conn->url(), timeout.count())
                         : frame.error().message());
      mark_failed(conn);
      return {};
    }
    const auto& c = (*frame)->command;
    switch (c.type()) {
      case proto::BaseCommand::SEND_RECEIPT: {
        Partition* q = by_id(c.send_receipt().producer_id());
        if (q == nullptr) return {};
        const uint64_t seq = c.send_receipt().sequence_id();
        while (!q->pending.empty() && q->pending.front().sequence_id <= seq) {
          q->pending.pop_front();
        }
        return {};
      }
      case proto::BaseCommand::SEND_ERROR: {
        const auto& e = c.send_error();
        Partition* q = by_id(e.producer_id());
        if (q && q->conn && transient_send_error(e.error())) {
          // The broker could not store it now (e.g. shutting down for a restart, bookies
          // unavailable): nothing after the failed message is stored either. Recreate the
          // producer and resend everything without a receipt, as the Java client does.
          spdlog::warn("pulsar producer of {}: SEND to {} (sequence {}): {}: {}; recreating",
                       topic_, q->topic, e.sequence_id(), server_error_name(e.error()),
                       e.message());
          mark_failed(q->conn);
          return {};
        }
        return io_error(fmt::format("{}: SEND to {} (sequence {}): {}: {}", conn->url(),
                                    q ? q->topic : topic_, e.sequence_id(),
                                    server_error_name(e.error()), e.message()));
      }
      case proto::BaseCommand::CLOSE_PRODUCER:
        // The topic is moving (unload, failover): recreate after a new lookup.
        if (Partition* q = by_id(c.close_producer().producer_id())) q->lost = true;
        return {};
      default:
        return {};  // not for a producer; ignored
    }
  }

  Partition* by_id(uint64_t id) {
    for (Partition& p : partitions_) {
      if (p.producer_id == id) return &p;
    }
    return nullptr;
  }

  ConnectionPool pool_;
  std::string topic_;
  std::string name_;  // fixed producer name, empty = assigned by the broker
  std::vector<Partition> partitions_;
  std::string compressed_;  // reused by queue_send (queue_payload copies it into the frame)
  size_t round_robin_ = 0;
  int reconnects_ = 0;
  uint64_t next_producer_id_ = 1;
  std::set<BrokerConnection*> failed_;  // failed connections, dropped by ensure_ready()
  std::vector<std::string> failed_urls_;
  Status broken_;
  bool closed_ = false;
};

class PulsarConsumer final : public io::Consumer {
 public:
  struct Partition {
    int32_t index = 0;  // partition index (0 for a non-partitioned topic)
    std::string topic;
    BrokerConnection* conn = nullptr;
    uint64_t consumer_id = 0;
    uint32_t to_flow = 0;  // permits used since the last FLOW
    bool lost = false;     // closed by the broker or its connection failed: resubscribe
  };
  struct EntryKey {
    int32_t partition;
    int64_t ledger;
    int64_t entry;
    auto operator<=>(const EntryKey&) const = default;
  };

  PulsarConsumer(ClientOptions options, std::shared_ptr<AdminClient> admin, TopicName name,
                 bool partitioned, io::SubscribeOptions sub)
      : pool_(std::move(options)),
        admin_(std::move(admin)),
        name_(std::move(name)),
        partitioned_(partitioned),
        sub_(std::move(sub)) {}
  ~PulsarConsumer() override { (void)close(); }

  // `indexes[i]`: the partition index of `topics[i]` (a subset of the topic's partitions
  // when SubscribeOptions::partitions is set).
  Status open(const std::vector<std::string>& topics, const std::vector<int32_t>& indexes) {
    for (size_t i = 0; i < topics.size(); ++i) {
      Partition p;
      p.index = indexes[i];
      p.topic = topics[i];
      if (static_cast<size_t>(p.index) >= slot_by_index_.size())
        slot_by_index_.resize(static_cast<size_t>(p.index) + 1, SIZE_MAX);
      slot_by_index_[static_cast<size_t>(p.index)] = partitions_.size();
      partitions_.push_back(std::move(p));
      TL_RETURN_IF_ERROR(subscribe_partition(partitions_.back()));
    }
    return {};
  }

  // The position in partitions_ of partition `index`; partitions_.size() when this consumer
  // does not consume it.
  size_t slot_of(int32_t index) const {
    if (!partitioned_) return 0;
    if (index < 0 || static_cast<size_t>(index) >= slot_by_index_.size()) return partitions_.size();
    const size_t s = slot_by_index_[static_cast<size_t>(index)];
    return s == SIZE_MAX ? partitions_.size() : s;
  }

  // LOOKUP, SUBSCRIBE and the first FLOW of one partition consumer.
  Status subscribe_partition(Partition& p) {
    p.conn = nullptr;
    // A fresh id per subscription: the broker may still be closing the previous one, and
    // frames for the old id are then ignored.
    p.consumer_id = next_consumer_id_++;
    TL_ASSIGN_OR_RETURN(BrokerConnection * conn, pool_.lookup(p.topic));
    {
      proto::BaseCommand cmd;
      cmd.set_type(proto::BaseCommand::SUBSCRIBE);
      const uint64_t req = conn->next_request_id();
      auto* s = cmd.mutable_subscribe();
      s->set_topic(p.topic);
      s->set_subscription(sub_.subscription);
      s->set_subtype(sub_type(sub_.type));
      s->set_consumer_id(p.consumer_id);
      s->set_request_id(req);
      s->set_durable(true);
      s->set_initialposition(sub_.initial_position == io::InitialPosition::kEarliest
                                 ? proto::CommandSubscribe::Earliest
                                 : proto::CommandSubscribe::Latest);
      TL_RETURN_IF_ERROR(conn->request(cmd, req));
    }
    p.conn = conn;
    p.lost = false;
    p.to_flow = 0;
    return flow(p, kPermits);
  }

  // A connection failed: its partition consumers are resubscribed by recover().
  void mark_failed(BrokerConnection* conn) {
    if (!failed_.insert(conn).second) return;
    failed_urls_.push_back(conn->url());
    for (Partition& p : partitions_) {
      if (p.conn == conn) p.lost = true;
    }
  }

  // Resubscribes lost partition consumers, retrying with growing pauses for up to the
  // operation timeout (a topic being unloaded answers ServiceNotReady for a while). Their
  // buffered and unacknowledged messages are forgotten: the broker delivers them again.
  Status recover() {
    if (failed_urls_.empty() && std::none_of(partitions_.begin(), partitions_.end(),
                                             [](const Partition& p) { return p.lost; })) {
      return {};
    }
    for (const std::string& url : failed_urls_) pool_.drop(url);
    failed_urls_.clear();
    failed_.clear();
    for (Partition& p : partitions_) {
      if (!p.lost) continue;
      std::erase_if(queue_, [&](const io::Message& m) { return m.id.partition == p.index; });
      std::erase_if(outstanding_, [&](const auto& kv) { return kv.first.partition == p.index; });
      const auto deadline = Clock::now() + pool_.options().operation_timeout;
      auto pause = std::chrono::milliseconds(100);
      while (true) {
        Status st = subscribe_partition(p);
        if (st.ok()) break;
        spdlog::warn("pulsar consumer of {}: resubscribing {}: {}", name_.full(), p.topic,
                     st.message());
        if (Clock::now() + pause >= deadline) {
          return st.with_context(fmt::format("resubscribing to {}", p.topic));
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(1000));
      }
    }
    return {};
  }

  // A frame from `conn`, or nullopt on timeout or when the connection failed (then marked).
  std::optional<Frame> read_from(BrokerConnection* conn, std::chrono::milliseconds t) {
    if (failed_.count(conn)) return std::nullopt;
    auto f = conn->read_frame(t);
    if (!f) {
      spdlog::warn("pulsar consumer of {}: {}; resubscribing", name_.full(), f.error().message());
      mark_failed(conn);
      return std::nullopt;
    }
    return std::move(*f);
  }

  Result<std::vector<io::Message>> receive(size_t max_messages,
                                           std::chrono::milliseconds timeout) override {
    if (closed_) return error(invalid_argument("consumer is closed"));
    if (!broken_.ok()) return error(broken_);
    auto r = receive_impl(max_messages, timeout);
    if (!r) broken_ = r.error();
    return r;
  }

  Status acknowledge(std::span<const io::MessageId> ids) override {
    if (closed_) return invalid_argument("consumer is closed");
    if (!broken_.ok()) return broken_;
    std::map<size_t, std::vector<EntryKey>> acks;  // by partition slot
    for (const io::MessageId& id : ids) {
      const EntryKey key{id.partition, id.ledger_id, id.entry_id};
      if (auto it = outstanding_.find(key); it != outstanding_.end()) {
        if (--it->second > 0) continue;  // more messages of this batch are unacknowledged
        outstanding_.erase(it);
      }
      const size_t slot = slot_of(id.partition);
      if (slot >= partitions_.size()) {
        return invalid_argument(fmt::format(
            "acknowledge: message id of partition {}, which this consumer of {} does not consume",
            id.partition, name_.full()));
      }
      acks[slot].push_back(key);
    }
    // One ACK per partition consumer, all written before waiting for the receipts. Acks of a
    // partition consumer that is lost are dropped: its messages come again (at least once).
    struct Wait {
      BrokerConnection* conn;
      uint64_t consumer_id;
      uint64_t request_id;
    };
    std::vector<Wait> waits;
    for (auto& [slot, keys] : acks) {
      Partition& p = partitions_[slot];
      if (p.lost || failed_.count(p.conn)) continue;
      proto::BaseCommand cmd;
      cmd.set_type(proto::BaseCommand::ACK);
      auto* a = cmd.mutable_ack();
      a->set_consumer_id(p.consumer_id);
      a->set_ack_type(proto::CommandAck::Individual);
      for (const EntryKey& k : keys) {
        auto* m = a->add_message_id();
        m->set_ledgerid(static_cast<uint64_t>(k.ledger));
        m->set_entryid(static_cast<uint64_t>(k.entry));
      }
      const uint64_t req = p.conn->next_request_id();
      a->set_request_id(req);
      p.conn->queue(cmd);
      waits.push_back({p.conn, p.consumer_id, req});
    }
    for (const Wait& w : waits) {
      if (!failed_.count(w.conn) && !w.conn->flush().ok()) mark_failed(w.conn);
    }
    for (const Wait& w : waits) {
      if (failed_.count(w.conn)) continue;
      auto f = wait_ack_response(*w.conn, w.consumer_id, w.request_id);
      if (!f) {
        spdlog::warn("pulsar consumer of {}: {}; resubscribing", name_.full(), f.error().message());
        mark_failed(w.conn);
        continue;
      }
      if (!*f) continue;  // the broker closed that consumer meanwhile
      const auto& r = (*f)->command.ackresponse();
      if (r.has_error()) {
        return io_error(fmt::format("{}: ACK on {}: {}: {}", w.conn->url(), name_.full(),
                                    server_error_name(r.error()), r.message()));
      }
    }
    return recover();
  }

  Result<int64_t> backlog() override {
    TL_ASSIGN_OR_RETURN(TopicStats s, admin_->stats(name_, partitioned_));
    auto it = s.msg_backlog.find(sub_.subscription);
    if (it == s.msg_backlog.end()) {
      return error(not_found(fmt::format("subscription {} of {} not found in the topic's stats",
                                         sub_.subscription, name_.full())));
    }
    return it->second;
  }

  Status close() override {
    if (closed_) return {};
    closed_ = true;
    Status result;
    // Handing the unacknowledged messages back before closing makes the broker count the
    // redelivery (redelivery_count + 1, as the embedded log does); a consumer that merely
    // disconnects gets them redelivered with an unchanged count.
    if (broken_.ok()) {
      Status st = send_redeliver();
      if (!st.ok()) result = st;
    }
    for (Partition& p : partitions_) {
      if (p.lost || p.conn == nullptr || failed_.count(p.conn)) continue;
      proto::BaseCommand cmd;
      cmd.set_type(proto::BaseCommand::CLOSE_CONSUMER);
      const uint64_t req = p.conn->next_request_id();
      cmd.mutable_close_consumer()->set_consumer_id(p.consumer_id);
      cmd.mutable_close_consumer()->set_request_id(req);
      auto r = p.conn->request(cmd, req);
      if (!r && result.ok() && broken_.ok()) result = r.error();
    }
    pool_.close();
    queue_.clear();
    return result;
  }

  // REDELIVER_UNACKNOWLEDGED_MESSAGES naming every received, unacknowledged entry.
  Status send_redeliver() {
    std::map<size_t, std::vector<EntryKey>> by_slot;
    for (const auto& [key, count] : outstanding_) {
      by_slot[slot_of(key.partition)].push_back(key);
    }
    for (auto& [slot, keys] : by_slot) {
      if (slot >= partitions_.size()) continue;
      Partition& p = partitions_[slot];
      if (p.lost || p.conn == nullptr || failed_.count(p.conn)) continue;
      for (size_t at = 0; at < keys.size(); at += 1000) {
        proto::BaseCommand cmd;
        cmd.set_type(proto::BaseCommand::REDELIVER_UNACKNOWLEDGED_MESSAGES);
        auto* r = cmd.mutable_redeliverunacknowledgedmessages();
        r->set_consumer_id(p.consumer_id);
        for (size_t i = at; i < std::min(keys.size(), at + 1000); ++i) {
          auto* id = r->add_message_ids();
          id->set_ledgerid(static_cast<uint64_t>(keys[i].ledger));
          id->set_entryid(static_cast<uint64_t>(keys[i].entry));
        }
        p.conn->queue(cmd);
      }
      TL_RETURN_IF_ERROR(p.conn->flush());
    }
    return {};
  }

  Status redeliver() {
    if (closed_) return invalid_argument("consumer is closed");
    if (!broken_.ok()) return broken_;
    TL_RETURN_IF_ERROR(send_redeliver());
    // Buffered messages will come again; their permits are given back.
    for (const io::Message& m : queue_) {
      Partition& p = partitions_[slot_of(m.id.partition)];
      ++p.to_flow;
    }
    queue_.clear();
    outstanding_.clear();
    for (Partition& p : partitions_) TL_RETURN_IF_ERROR(maybe_flow(p));
    return {};
  }

 private:
  // The ACK_RESPONSE for `req`; nullopt when the broker closed the consumer meanwhile.
  Result<std::optional<Frame>> wait_ack_response(BrokerConnection& conn, uint64_t consumer_id,
                                                 uint64_t req) {
    const auto deadline = Clock::now() + pool_.options().operation_timeout;
    while (true) {
      // The broker does not answer acks of a consumer it closed.
      if (Partition* p = by_id(consumer_id); p == nullptr || p->lost) {
        return std::optional<Frame>();
      }
      TL_ASSIGN_OR_RETURN(auto f, conn.read_frame(remaining(deadline)));
      if (!f) {
        return error(unavailable(
            fmt::format("{}: ACK on {}: no ACK_RESPONSE (timed out)", conn.url(), name_.full())));
      }
      if (f->command.type() == proto::BaseCommand::ACK_RESPONSE &&
          f->command.ackresponse().request_id() == req) {
        return f;
      }
      TL_RETURN_IF_ERROR(handle(conn, std::move(*f)));
    }
  }

  Status flow(Partition& p, uint32_t permits) {
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::FLOW);
    cmd.mutable_flow()->set_consumer_id(p.consumer_id);
    cmd.mutable_flow()->set_messagepermits(permits);
    return p.conn->send(cmd);
  }

  Status maybe_flow(Partition& p) {
    if (p.to_flow < kPermits / 2) return {};
    const uint32_t n = p.to_flow;
    p.to_flow = 0;
    return flow(p, n);
  }

  Partition* by_id(uint64_t id) {
    for (Partition& p : partitions_) {
      if (p.consumer_id == id) return &p;
    }
    return nullptr;
  }

  // Turns a frame into queued messages (MESSAGE) or an error (CLOSE_CONSUMER).
  Status handle(BrokerConnection& conn, Frame frame) {
    const auto& c = frame.command;
    if (c.type() == proto::BaseCommand::CLOSE_CONSUMER) {
      // The topic is moving (unload, failover): subscribe again after a new lookup.
      if (Partition* p = by_id(c.close_consumer().consumer_id())) p->lost = true;
      return {};
    }
    if (c.type() != proto::BaseCommand::MESSAGE) return {};
    Partition* p = by_id(c.message().consumer_id());
    if (p == nullptr) return {};
    const auto& id = c.message().message_id();
    const auto& meta = frame.metadata;
    io::Message base;
    base.id = io::MessageId{p->index, static_cast<int64_t>(id.ledgerid()),
                            static_cast<int64_t>(id.entryid())};
    base.publish_time_ms = static_cast<int64_t>(meta.publish_time());
    base.redelivery_count = static_cast<int32_t>(c.message().redelivery_count());
    base.schema_version = meta.schema_version();
    const EntryKey key{p->index, base.id.ledger_id, base.id.entry_id};
    // An entry the client cannot unpack is handed out as one unreadable message (its raw
    // payload and the reason) for the caller's dead-letter path: one bad producer must not
    // stop the subscription.
    auto unreadable = [&](const Status& why) {
      io::Message m = base;
      m.key = meta.partition_key();
      m.event_time_ms = static_cast<int64_t>(meta.event_time());
      m.payload = std::move(frame.payload);
      m.unreadable = fmt::format("{} partition {} entry {}:{}: {}", p->topic, p->index,
                                 id.ledgerid(), id.entryid(), why.message());
      spdlog::warn("pulsar consumer of {}: unreadable entry: {}", name_.full(), m.unreadable);
      queue_.push_back(std::move(m));
      // The permits of the entry's other messages are given back now; its one message's
      // permit when it is handed out.
      if (meta.has_num_messages_in_batch() && meta.num_messages_in_batch() > 1) {
        p->to_flow += static_cast<uint32_t>(meta.num_messages_in_batch() - 1);
      }
      outstanding_[key] = 1;
      return maybe_flow(*p);
    };
    if (meta.compression() != proto::NONE) {
      // The whole payload (all messages of a batch) is compressed as one block.
      std::string plain;
      Status st = decompress(meta.compression(), frame.payload, meta.uncompressed_size(), plain);
      if (!st.ok()) return unreadable(st);
      frame.payload = std::move(plain);
    }
    if (!meta.has_num_messages_in_batch()) {
      io::Message m = base;
      m.key = meta.partition_key();
      m.payload = std::move(frame.payload);
      m.event_time_ms = static_cast<int64_t>(meta.event_time());
      for (const auto& kv : meta.properties()) m.properties.emplace_back(kv.key(), kv.value());
      queue_.push_back(std::move(m));
      outstanding_[key] = 1;
      return {};
    }
    auto batch = parse_batch(frame.payload, meta.num_messages_in_batch());
    if (!batch) return unreadable(batch.error());
    const auto& ack_set = c.message().ack_set();
    int32_t delivered = 0;
    for (size_t i = 0; i < batch->size(); ++i) {
      auto& single = (*batch)[i];
      // ack_set: bit i set = message i still unacknowledged (absent = all).
      const bool pending =
          ack_set.empty() ||
          (i / 64 < static_cast<size_t>(ack_set.size()) &&
           ((static_cast<uint64_t>(ack_set[static_cast<int>(i / 64)]) >> (i % 64)) & 1));
      if (!pending || single.metadata.compacted_out()) {
        ++p->to_flow;
        continue;
      }
      io::Message m = base;
      m.id.batch_index = static_cast<int32_t>(i);
      m.key = single.metadata.partition_key();
      for (const auto& kv : single.metadata.properties())
        m.properties.emplace_back(kv.key(), kv.value());
      m.payload = std::move(single.payload);
      m.event_time_ms = single.metadata.has_event_time()
                            ? static_cast<int64_t>(single.metadata.event_time())
                            : static_cast<int64_t>(meta.event_time());
      queue_.push_back(std::move(m));
      ++delivered;
    }
    if (delivered > 0) {
      outstanding_[key] = delivered;
    } else {
      // Every message of the entry was acknowledged before (ack_set) or compacted out.
      outstanding_.erase(key);
    }
    return maybe_flow(*p);
  }

  Result<std::vector<io::Message>> receive_impl(size_t max_messages,
                                                std::chrono::milliseconds timeout) {
    std::vector<io::Message> out;
    if (max_messages == 0) return out;
    const auto deadline = Clock::now() + timeout;
    // Read what is available without waiting, then wait for the first message.
    while (queue_.size() < max_messages) {
      TL_RETURN_IF_ERROR(recover());
      bool any = false;
      for (auto& [url, conn] : pool_.connections()) {
        while (queue_.size() < max_messages && !failed_.count(conn.get()) && conn->has_input()) {
          auto f = read_from(conn.get(), pool_.options().operation_timeout);
          if (!f) break;
          TL_RETURN_IF_ERROR(handle(*conn, std::move(*f)));
          any = true;
        }
      }
      if (!queue_.empty() || Clock::now() >= deadline) {
        if (!any) break;
        continue;
      }
      if (any) continue;
      // Nothing buffered: wait on one connection (all of them in turn when there are several).
      const auto conns = pool_.connections().size();
      const auto slice = conns <= 1 ? remaining(deadline) : std::min(remaining(deadline), 10ms);
      for (auto& [url, conn] : pool_.connections()) {
        auto f = read_from(conn.get(), slice);
        if (f) TL_RETURN_IF_ERROR(handle(*conn, std::move(*f)));
        if (!queue_.empty()) break;
      }
      if (!failed_.empty() && remaining(deadline) > 0ms) {
        // Avoid spinning on a failed connection before recover() runs.
        std::this_thread::sleep_for(std::min(remaining(deadline), 10ms));
      }
    }
    const size_t n = std::min(max_messages, queue_.size());
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      io::Message& m = queue_.front();
      Partition& p = partitions_[slot_of(m.id.partition)];
      ++p.to_flow;
      out.push_back(std::move(m));
      queue_.pop_front();
    }
    for (Partition& p : partitions_) {
      if (!p.lost && !failed_.count(p.conn)) TL_RETURN_IF_ERROR(maybe_flow(p));
    }
    return out;
  }

  ConnectionPool pool_;
  std::shared_ptr<AdminClient> admin_;
  TopicName name_;
  bool partitioned_;
  io::SubscribeOptions sub_;
  std::vector<Partition> partitions_;
  std::vector<size_t>
      slot_by_index_;  // partition index -> slot in partitions_ (SIZE_MAX: not ours)
  std::deque<io::Message> queue_;
  // Per received entry: messages handed out but not yet acknowledged.
  std::map<EntryKey, int32_t> outstanding_;
  std::set<BrokerConnection*> failed_;  // failed connections, dropped by recover()
  std::vector<std::string> failed_urls_;
  uint64_t next_consumer_id_ = 1;
  Status broken_;
  bool closed_ = false;
};

class PulsarTopicService final : public io::TopicService {
 public:
  PulsarTopicService(ClientOptions client, std::shared_ptr<AdminClient> admin)
      : client_(std::move(client)), admin_(std::move(admin)) {}

  Status create_namespace(std::string_view tenant, std::string_view ns) override {
    return admin_->create_namespace(tenant, ns);
  }
  Status create_partitioned_topic(std::string_view topic, int partitions) override {
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    return admin_->create_partitioned_topic(name, partitions);
  }
  Result<int> partitions(std::string_view topic) override {
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    return admin_->partitions(name);
  }
  Status set_schema(std::string_view topic, std::string_view envelope_json) override {
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    return admin_->set_schema(name, envelope_json);
  }
  Result<std::optional<std::string>> get_schema(std::string_view topic) override {
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    return admin_->get_schema(name);
  }
  Result<std::optional<std::string>> get_schema_version(std::string_view topic,
                                                        std::string_view version) override {
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    auto number = schema_version_number(version);
    if (!number) return std::optional<std::string>();  // not a version this broker wrote
    const std::string key = fmt::format("{}@{}", name.full(), *number);
    {
      std::lock_guard lock(schemas_mu_);
      if (auto it = schemas_.find(key); it != schemas_.end()) return it->second;
    }
    // Versions are immutable once registered, so an answer (also "no such version") is kept
    // for the service's life; failures to ask are not.
    TL_ASSIGN_OR_RETURN(auto envelope, admin_->get_schema(name, *number));
    std::lock_guard lock(schemas_mu_);
    schemas_.emplace(key, envelope);
    return envelope;
  }
  Status enable_deduplication(std::string_view topic) override {
    TL_ASSIGN_OR_RETURN_S(TopicName name, parse_topic_name(topic));
    return admin_->set_namespace_deduplication(name.tenant, name.ns, true);
  }
  Result<std::unique_ptr<io::Producer>> create_producer(
      std::string_view topic, const io::ProducerOptions& options) override {
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    TL_ASSIGN_OR_RETURN(int n, admin_->partitions(name));
    auto producer = std::make_unique<PulsarProducer>(client_, name.full(), options.name);
    TL_RETURN_IF_ERROR(producer->open(partition_topics(name, n)));
    return std::unique_ptr<io::Producer>(std::move(producer));
  }
  Result<std::unique_ptr<io::Consumer>> subscribe(std::string_view topic,
                                                  const io::SubscribeOptions& options) override {
    if (options.subscription.empty()) {
      return error(
          invalid_argument(fmt::format("subscribe to {}: empty subscription name", topic)));
    }
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    TL_ASSIGN_OR_RETURN(int n, admin_->partitions(name));
    std::vector<std::string> topics = partition_topics(name, n);
    std::vector<int32_t> indexes;
    for (size_t i = 0; i < topics.size(); ++i) indexes.push_back(static_cast<int32_t>(i));
    if (!options.partitions.empty()) {
      std::vector<std::string> mine;
      for (int32_t i : options.partitions) {
        if (n == 0 || i < 0 || i >= n) {
          return error(invalid_argument(
              fmt::format("subscribe to {}: partition {} does not exist ({} has {} partitions)",
                          topic, i, name.full(), n)));
        }
        mine.push_back(topics[static_cast<size_t>(i)]);
      }
      topics = std::move(mine);
      indexes = options.partitions;
    }
    auto consumer = std::make_unique<PulsarConsumer>(client_, admin_, name, n > 0, options);
    TL_RETURN_IF_ERROR(consumer->open(topics, indexes));
    return std::unique_ptr<io::Consumer>(std::move(consumer));
  }
  Result<int64_t> message_count(std::string_view topic) override {
    TL_ASSIGN_OR_RETURN(TopicName name, parse_topic_name(topic));
    TL_ASSIGN_OR_RETURN(int n, admin_->partitions(name));
    TL_ASSIGN_OR_RETURN(TopicStats s, admin_->stats(name, n > 0));
    return s.msg_in_counter;
  }

 private:
  ClientOptions client_;
  std::shared_ptr<AdminClient> admin_;
  std::mutex schemas_mu_;  // the service may be shared by threads
  std::map<std::string, std::optional<std::string>> schemas_;  // "<topic>@<version>"
};

}  // namespace

Result<std::unique_ptr<io::TopicService>> open_pulsar_topic_service(const PulsarOptions& options) {
  ClientOptions client;
  client.service_url = options.broker_service_url;
  client.tls = options.tls;
  client.operation_timeout = options.operation_timeout;
  TL_ASSIGN_OR_RETURN(client.compression, parse_compression(options.compression));
  TL_RETURN_IF_ERROR(parse_broker_url(client.service_url));
  TL_RETURN_IF_ERROR(configure_auth(options.auth_plugin, options.auth_params, client));
  AdminOptions admin;
  admin.web_service_url = options.web_service_url;
  admin.token = client.auth_data;
  admin.tls = options.tls;
  admin.timeout = options.operation_timeout;
  return std::unique_ptr<io::TopicService>(std::make_unique<PulsarTopicService>(
      std::move(client), std::make_shared<AdminClient>(std::move(admin))));
}

Status redeliver_unacknowledged(io::Consumer& consumer) {
  auto* c = dynamic_cast<PulsarConsumer*>(&consumer);
  if (c == nullptr) return invalid_argument("redeliver_unacknowledged: not a Pulsar consumer");
  return c->redeliver();
}

}  // namespace tideline::pulsar
