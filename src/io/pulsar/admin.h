#pragma once
// Pulsar admin REST client over libcurl (calls and statuses in docs/formats/pulsar.md).
// Thread-safety: every call uses its own curl handle, so one AdminClient may be shared by
// threads. The token is sent as `Authorization: Bearer` and never appears in errors or logs.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "io/net/net.h"

namespace tideline::pulsar {

// A topic name split into its parts: `persistent://tenant/ns/local`. Accepted input forms:
// a full name, `tenant/ns/local` and `local` (tenant public, namespace default), as the
// embedded log does.
struct TopicName {
  std::string domain = "persistent";
  std::string tenant;
  std::string ns;
  std::string local;
  std::string full() const;                // persistent://tenant/ns/local
  std::string rest_path() const;           // persistent/tenant/ns/local (URL-escaped parts)
  std::string partition(int index) const;  // full() + "-partition-<index>"
};
Result<TopicName> parse_topic_name(std::string_view topic);

// The number a broker's schema version (MessageMetadata.schema_version: 8 bytes, big-endian)
// stands for, as the admin API names versions. Other lengths are kCorruption.
Result<int64_t> schema_version_number(std::string_view version);

struct AdminOptions {
  std::string web_service_url = "http://127.0.0.1:8080";
  std::string token;        // empty = no Authorization header (secret)
  io::net::TlsOptions tls;  // ca_file, verify_peer, verify_hostname apply to https URLs
  std::chrono::milliseconds timeout{30000};
};

struct TopicStats {
  int64_t msg_in_counter = 0;                  // messages received since the topic loaded
  std::map<std::string, int64_t> msg_backlog;  // per subscription
};

class AdminClient {
 public:
  explicit AdminClient(AdminOptions options);

  // 409 (exists) is success.
  Status create_namespace(std::string_view tenant, std::string_view ns);
  // Deletes a namespace and, with `force`, every topic in it (tests clean up with it).
  Status delete_namespace(std::string_view tenant, std::string_view ns, bool force);
  // POST /admin/v2/namespaces/{tenant}/{ns}/deduplication with `true`/`false`.
  Status set_namespace_deduplication(std::string_view tenant, std::string_view ns, bool on);
  // Exists with the same count is success; a different count is kAlreadyExists.
  Status create_partitioned_topic(const TopicName& topic, int partitions);
  // 0 = not a partitioned topic (or no such topic).
  Result<int> partitions(const TopicName& topic);
  Status set_schema(const TopicName& topic, std::string_view envelope_json);
  // The envelope {"type","schema","properties"} of the latest schema, or of version `version`
  // (`GET .../schema/{version}`); nullopt when the topic has no (such) schema.
  Result<std::optional<std::string>> get_schema(const TopicName& topic,
                                                std::optional<int64_t> version = std::nullopt);
  // Partitioned-stats when `partitioned`, else the topic's stats.
  Result<TopicStats> stats(const TopicName& topic, bool partitioned);

  struct Response {
    long status = 0;
    std::string body;
  };
  // One HTTP call; `path` starts with /admin/v2/. Fails only for transport errors.
  Result<Response> call(std::string_view method, std::string_view path,
                        std::optional<std::string_view> json_body);

 private:
  // "<METHOD> <path>: HTTP <status>: <reason>", with what to fix for 401/403 (the token's
  // role and expiry, never the token).
  Status http_error(std::string_view method, std::string_view path, const Response& r) const;
  // Words for a failed transfer `rc` with curl's detail: for certificate failures, which one
  // and the client.conf key that fixes it.
  std::string tls_failure(int rc, const char* detail) const;

  AdminOptions options_;
};

}  // namespace tideline::pulsar
