#pragma once
// The pipeline's configuration: the original project's main-cfg.properties keys (ad.*, as.*,
// kaskada.*), Pulsar's client.conf keys, and Tideline's own tideline.* keys.
// Relative paths in a config file are resolved against the directory of that file.
// Secrets (ad.client.secret, authParams) are kept but never printed: describe() redacts them.

#include <string>
#include <vector>

#include "common/properties.h"
#include "common/status.h"
#include "io/topic.h"

namespace tideline::pipeline {

enum class Backend { kEmbedded, kClusters };

struct PulsarClientConf {
  std::string path;
  std::string broker_service_url;         // brokerServiceUrl, e.g. pulsar://127.0.0.1:6650
  std::string web_service_url;            // webServiceUrl, e.g. http://127.0.0.1:8080
  std::string auth_plugin;                // authPlugin
  std::string auth_params;                // authParams (secret)
  std::string tls_trust_certs_file_path;  // tlsTrustCertsFilePath
  bool tls_allow_insecure_connection = false;
  bool tls_enable_hostname_verification = false;
  // compressionType (the Java client's producer setting): NONE, LZ4, ZLIB, ZSTD or SNAPPY,
  // upper case; every Tideline producer compresses its payloads with it.
  std::string compression_type = "NONE";
  // operationTimeoutMs (the Java client's setting): how long a request, a send's receipt or
  // the recreation of a producer or consumer after a lost connection (a broker restart) may
  // take before the operation fails.
  int64_t operation_timeout_ms = 30000;
};

enum class StateStoreKind { kEmbedded, kCassandra, kFile };

struct PipelineConfig {
  std::string source;  // the file the config came from
  std::vector<std::string> warnings;

  // Astra DB / Cassandra (ad.*)
  std::string ad_client_id;
  std::string ad_client_secret;  // secret
  std::string ad_secure_bundle;
  std::string keyspace;
  std::string table_input;
  std::string table_output;

  // Astra Streaming / Pulsar (as.*)
  std::string client_conf_path;
  std::string tenant;
  std::string ns;
  std::string topic_input;
  std::string topic_output;
  bool topic_schema = true;

  // Kaskada (kaskada.*): kept for compatibility; Tideline runs the engine in-process.
  std::string kaskada_deployment;
  std::string kaskada_endpoint;
  bool kaskada_table_recreate = false;
  bool kaskada_materialization_recreate = false;

  PulsarClientConf pulsar;

  // Tideline's own keys (tideline.*)
  Backend backend = Backend::kEmbedded;
  std::string data_dir;                     // tideline.data.dir (embedded)
  std::string query_file;                   // tideline.processor.query
  std::string query_table = "kasTblInput";  // tideline.processor.table
  std::string time_column = "event_time";   // tideline.processor.time.column
  std::string key_column = "so_key";        // tideline.processor.key.column
  // Subscriptions of the processor (on the input topic) and the consumer (on the output
  // topic). Two pipelines reading one topic need distinct subscriptions, else the first one
  // to acknowledge a message takes it from the other.
  std::string processor_subscription = "tideline-processor";  // tideline.processor.subscription
  std::string consumer_subscription = "tideline-consumer";    // tideline.consumer.subscription
  // Subscription types (tideline.processor.subscription.type / tideline.consumer.subscription.
  // type: Exclusive, Shared, Failover, Key_Shared). Scale-out is Pulsar's: several processors
  // on one Key_Shared subscription split the input by message key (each key's messages go
  // to one of them, in order), which keeps per-entity state whole when the query's entity
  // is the message key (the producer keys messages by the input table's key column; a
  // query that re-keys with with_key needs Exclusive). Consumers only upsert, so Shared
  // suffices for them. The embedded log serves one active consumer per subscription.
  io::SubscriptionType processor_subscription_type = io::SubscriptionType::kExclusive;
  io::SubscriptionType consumer_subscription_type = io::SubscriptionType::kExclusive;
  // tideline.processor.partitions (or main-proc --partitions): the input partitions this
  // processor owns ("0,1" or "0-1"), with the Exclusive subscription type: several processors
  // share one subscription name, each consuming its partitions in order, each its own job with
  // its own checkpoint and journal (docs/formats/checkpoint.md, "Scale-out"). Empty = all.
  std::vector<int32_t> processor_partitions;
  // The processor's streaming behaviour (docs/formats/checkpoint.md, docs/configuration.md).
  // Where the processor keeps checkpoints and its step journal: embedded = the topic log's
  // database (atomic with the output; the embedded default), cassandra = the table
  // `state_table` (the clusters default), file = `checkpoint_dir/job_state.sqlite`.
  StateStoreKind state_store = StateStoreKind::kEmbedded;  // tideline.processor.state.store
  std::string state_table;                // tideline.processor.state.table ("keyspace.table")
  std::string checkpoint_dir;             // tideline.processor.checkpoint.dir (default data dir)
  int64_t checkpoint_interval_ms = 1000;  // tideline.processor.checkpoint.interval.ms
  // tideline.processor.state.retry.ms: how long a job state operation on Cassandra is retried
  // while the node is unavailable (a restart) before the processor fails.
  int64_t state_retry_ms = 60000;
  int64_t checkpoint_events = 0;  // tideline.processor.checkpoint.events (0 = no limit)
  // tideline.processor.checkpoint.full.every: a full engine image at least every this many
  // checkpoints, deltas in between (1 = always full; docs/formats/checkpoint.md).
  int64_t checkpoint_full_every = 32;
  int64_t allowed_lateness_ms = 0;   // tideline.processor.allowed.lateness.ms
  int64_t partition_idle_ms = 2000;  // tideline.processor.idle.timeout.ms
  bool late_to_dead_letter = true;   // tideline.processor.late.events = dead-letter | drop
  std::string input_stmt;            // tideline.cql.input.stmt
  std::string output_stmt;           // tideline.cql.output.stmt
  std::string input_schema;          // tideline.schema.input (Pulsar envelope JSON)
  std::string output_schema;         // tideline.schema.output
  int topic_partitions = 3;          // tideline.topic.partitions
  std::string cassandra_contact_points = "127.0.0.1:9042";  // tideline.cassandra.contact.points
  std::string cassandra_local_dc = "datacenter1";           // tideline.cassandra.local.dc
  std::string cassandra_username;                           // tideline.cassandra.username
  std::string cassandra_password;                           // tideline.cassandra.password (secret)
  bool cassandra_tls = false;                               // tideline.cassandra.tls
  std::string cassandra_tls_ca_file;                        // tideline.cassandra.tls.ca.file
  bool cassandra_tls_verify_hostname = true;  // tideline.cassandra.tls.verify.hostname
  bool cassandra_tls_allow_insecure = false;  // tideline.cassandra.tls.allow.insecure
  std::string cassandra_tls_cert_file;        // tideline.cassandra.tls.cert.file (mutual TLS)
  std::string cassandra_tls_key_file;         // tideline.cassandra.tls.key.file
  std::string cassandra_consistency = "LOCAL_QUORUM";  // tideline.cassandra.consistency
  // Operability (docs/metrics.md): the port of the Prometheus endpoint on 127.0.0.1 that a
  // long-running workload serves (0 = none; main-proc --metrics-port overrides it), and the
  // interval of the one-line progress report in the log (0 = none).
  int metrics_port = 0;                    // tideline.metrics.port
  int64_t log_report_interval_ms = 10000;  // tideline.log.report.interval.ms

  std::string topic_url(const std::string& topic) const {
    return "persistent://" + tenant + "/" + ns + "/" + topic;
  }
  // Multi-line human description with secrets redacted.
  std::string describe() const;
};

// Loads and validates a config file. A missing file or required key is an InvalidArgument
// error of one line naming the key and the file; unknown keys become warnings.
Result<PipelineConfig> load_config(const std::string& path);
Result<PipelineConfig> config_from_properties(const Properties& props, const std::string& path);

// "0,2" or "0-1,3" as ascending distinct partition indexes (>= 0); errors say which item is
// wrong. The number of partitions is checked when subscribing.
Result<std::vector<int32_t>> parse_partition_list(std::string_view text);
// The canonical text of `partitions` ("0,1,3").
std::string format_partition_list(const std::vector<int32_t>& partitions);

}  // namespace tideline::pipeline
