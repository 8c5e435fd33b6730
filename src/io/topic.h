#pragma once
// The topic port: what the pipeline needs from Pulsar. Implemented by the embedded log
// (io/embedded) and by the Pulsar binary-protocol client (io/pulsar).
// Topic names are Pulsar's: `persistent://tenant/namespace/topic`; a partitioned topic with
// N partitions has partitions `<topic>-partition-0` .. `-partition-(N-1)`.
// Thread-safety: services may be shared; producers and consumers are used by one thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tideline::io {

struct MessageId {
  int32_t partition = 0;
  int64_t ledger_id = 0;     // embedded: always 0
  int64_t entry_id = 0;      // embedded: per-partition sequence number, starting at 0
  int32_t batch_index = -1;  // position inside a batch entry, -1 = the entry is one message
  bool operator==(const MessageId&) const = default;
};

// Whether `a` comes before `b` in their partition's delivery order (same partition).
inline bool precedes(const MessageId& a, const MessageId& b) {
  if (a.ledger_id != b.ledger_id) return a.ledger_id < b.ledger_id;
  if (a.entry_id != b.entry_id) return a.entry_id < b.entry_id;
  return a.batch_index < b.batch_index;
}

// Message properties (Pulsar's string key/value pairs), in the order they were set.
using Properties = std::vector<std::pair<std::string, std::string>>;

struct OutgoingMessage {
  OutgoingMessage() = default;
  OutgoingMessage(std::string k, std::string p, int64_t time_ms = 0)
      : key(std::move(k)), payload(std::move(p)), event_time_ms(time_ms) {}
  std::string key;            // routing key; messages with equal keys keep their order
  std::string payload;        // Avro datum when the topic has a schema
  int64_t event_time_ms = 0;  // 0 = unset
  Properties properties;
  // Producer sequence id for broker deduplication (Pulsar: with a fixed producer name and
  // deduplication on, a sequence id at or below the highest stored one is dropped); -1 =
  // the producer numbers messages itself. Ids must increase within a producer.
  int64_t sequence_id = -1;
};

struct Message {
  MessageId id;
  std::string key;
  std::string payload;
  int64_t event_time_ms = 0;
  int64_t publish_time_ms = 0;
  int32_t redelivery_count = 0;
  Properties properties;
  // The version of the topic schema its producer registered (Pulsar: the opaque bytes of
  // MessageMetadata.schema_version, for TopicService::get_schema_version); empty when unknown
  // (no schema, or the embedded log): the payload is then read with the topic's schema.
  std::string schema_version;
  // Non-empty when the client received the entry but could not unpack it (bad compressed
  // data, a malformed batch): the reason, naming topic, partition and entry. `payload` then
  // holds the entry's raw bytes. Such a message must not be decoded: the caller sends it to
  // the dead-letter topic and acknowledges it like any other.
  std::string unreadable;
};

enum class SubscriptionType { kExclusive, kShared, kFailover, kKeyShared };
enum class InitialPosition { kEarliest, kLatest };

class Producer {
 public:
  virtual ~Producer() = default;
  // Routes each message to a partition by hash of its key (murmur3_32(key) mod N, as Pulsar's
  // default router does for keyed messages) and makes it durable before returning.
  virtual Status send(std::span<const OutgoingMessage> messages) = 0;
  virtual Status flush() = 0;
  virtual Status close() = 0;
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  // Up to `max_messages`, waiting at most `timeout` for the first one. Returns an empty
  // vector on timeout. Messages of one partition come in order; unacknowledged messages are
  // redelivered after the consumer is closed or its process dies (redelivery_count + 1).
  virtual Result<std::vector<Message>> receive(size_t max_messages,
                                               std::chrono::milliseconds timeout) = 0;
  virtual Status acknowledge(std::span<const MessageId> ids) = 0;
  // Number of messages published but not yet acknowledged by this subscription.
  virtual Result<int64_t> backlog() = 0;
  virtual Status close() = 0;
};

struct ProducerOptions {
  // A fixed producer name (Pulsar: the broker deduplicates by producer name and sequence id
  // when deduplication is on). Empty = the broker assigns a unique name.
  std::string name;
};

struct SubscribeOptions {
  std::string subscription;
  SubscriptionType type = SubscriptionType::kShared;
  InitialPosition initial_position = InitialPosition::kEarliest;
  // The partitions of a partitioned topic to consume (indexes, ascending); empty = all. With
  // an Exclusive subscription several consumers then share one subscription name, each
  // owning its partitions (exclusivity is per partition), and each gets its partitions'
  // messages in order. A message's MessageId::partition stays its index in the topic.
  std::vector<int32_t> partitions = {};
};

// Optional capability of a topic service (embedded log): atomic units of work. Once
// enable() was called, the service's producers and consumers created afterwards share one
// connection (use them and the service from one thread), and everything they send or
// acknowledge, and every write to the service's state store, between begin() and commit()
// becomes durable together or not at all. Destroying the service with an open unit rolls it
// back. After rollback() a consumer that acknowledged inside the unit must be closed (its
// in-memory cursor still counts those acknowledgements).
class AtomicWork {
 public:
  virtual ~AtomicWork() = default;
  virtual Status enable() = 0;
  virtual Status begin() = 0;
  virtual Status commit() = 0;
  virtual void rollback() = 0;
};

class StateStore;  // io/state_store.h

class TopicService {
 public:
  virtual ~TopicService() = default;
  // Optional capabilities: nullptr when the backend does not have them.
  virtual AtomicWork* atomic_work() { return nullptr; }
  // A job state store in the same backend (the embedded log's database).
  virtual StateStore* state_store() { return nullptr; }
  virtual Status create_namespace(std::string_view tenant, std::string_view ns) = 0;
  // No-op when it exists with the same partition count.
  virtual Status create_partitioned_topic(std::string_view topic, int partitions) = 0;
  virtual Result<int> partitions(std::string_view topic) = 0;
  // Pulsar schema envelope JSON: {"type":"AVRO","schema":"...","properties":{}}.
  virtual Status set_schema(std::string_view topic, std::string_view envelope_json) = 0;
  virtual Result<std::optional<std::string>> get_schema(std::string_view topic) = 0;
  // The envelope of the schema version `version` (Message::schema_version) of `topic`, fetched
  // once and cached by the service. nullopt when the topic has no such version (deleted, or
  // never registered): a message naming it cannot be decoded. Errors are failures to ask
  // (network, authorization). Services without schema versions answer kUnimplemented.
  virtual Result<std::optional<std::string>> get_schema_version(std::string_view topic,
                                                                std::string_view version) {
    (void)topic;
    (void)version;
    return error(unimplemented("this topic service has no schema versions"));
  }
  Result<std::unique_ptr<Producer>> create_producer(std::string_view topic) {
    return create_producer(topic, ProducerOptions{});
  }
  virtual Result<std::unique_ptr<Producer>> create_producer(std::string_view topic,
                                                            const ProducerOptions& options) = 0;
  // Makes the broker drop messages whose (producer name, sequence id) it has stored already,
  // for every topic of `topic`'s namespace (Pulsar: namespace deduplication policy). The
  // embedded log needs none (its processor commits atomically) and returns OK.
  virtual Status enable_deduplication(std::string_view topic) = 0;
  virtual Result<std::unique_ptr<Consumer>> subscribe(std::string_view topic,
                                                      const SubscribeOptions& options) = 0;
  // Total messages stored in all partitions.
  virtual Result<int64_t> message_count(std::string_view topic) = 0;
};

// murmur3 32-bit hash with seed 0 over the key bytes, masked to 31 bits, as Pulsar's Java
// client routes keyed messages (signSafeMod(murmur3_32(key), N)).
uint32_t pulsar_key_hash(std::string_view key);

}  // namespace tideline::io
