#pragma once
// The clusters backend's topic service: io::TopicService over Apache Pulsar's binary protocol
// (producers, consumers) and its admin REST API (namespaces, topics, schemas, statistics).
// Formats and calls: docs/formats/pulsar.md.
// Thread-safety as io::TopicService: the service may be shared; each producer and consumer
// is used by one thread and owns its broker connections.

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "io/net/net.h"
#include "io/topic.h"

namespace tideline::pulsar {

struct PulsarOptions {
  std::string broker_service_url = "pulsar://127.0.0.1:6650";
  std::string web_service_url = "http://127.0.0.1:8080";
  std::string auth_plugin;  // empty, or the token plugin
  std::string auth_params;  // token:<jwt> | file:///path | <jwt> (secret)
  io::net::TlsOptions tls;  // trust store and verification (enabled follows the URL scheme)
  std::chrono::milliseconds operation_timeout{30000};
  // Producers' payload compression: NONE (or empty), LZ4, ZLIB, ZSTD or SNAPPY
  // (docs/formats/pulsar.md "Compression"); an unknown name fails open_pulsar_topic_service.
  std::string compression;
};

Result<std::unique_ptr<io::TopicService>> open_pulsar_topic_service(const PulsarOptions& options);

// Asks the broker to redeliver every message `consumer` (made by this service) received but
// did not acknowledge; messages buffered in the consumer are dropped (they come again).
Status redeliver_unacknowledged(io::Consumer& consumer);

}  // namespace tideline::pulsar
