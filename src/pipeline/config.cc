#include "pipeline/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <tuple>

#include "common/logging.h"

namespace tideline::pipeline {

namespace fs = std::filesystem;

namespace {

const std::set<std::string, std::less<>>& known_keys() {
  static const std::set<std::string, std::less<>> kKeys = {
      "ad.client.id", "ad.client.secret", "ad.secure.bundle", "ad.keyspace", "ad.table.input",
      "ad.table.output", "as.client.conf", "as.tenant", "as.namespace", "as.topic.input",
      "as.topic.output", "as.topic.schema", "kaskada.deployment", "kaskada.endpoint",
      "kaskada.table.recreate", "kaskada.materialization.recreate",
      // historical spelling used by one version of the original
      "kaskada.recreate_table", "tideline.backend", "tideline.data.dir", "tideline.processor.query",
      "tideline.processor.table", "tideline.processor.time.column", "tideline.processor.key.column",
      "tideline.processor.subscription", "tideline.consumer.subscription",
      "tideline.cql.input.stmt", "tideline.cql.output.stmt", "tideline.schema.input",
      "tideline.schema.output", "tideline.topic.partitions", "tideline.cassandra.contact.points",
      "tideline.cassandra.local.dc", "tideline.cassandra.username", "tideline.cassandra.password",
      "tideline.cassandra.tls", "tideline.cassandra.tls.ca.file",
      "tideline.cassandra.tls.verify.hostname", "tideline.cassandra.tls.allow.insecure",
      "tideline.cassandra.tls.cert.file", "tideline.cassandra.tls.key.file",
      "tideline.cassandra.consistency", "tideline.processor.subscription.type",
      "tideline.consumer.subscription.type", "tideline.processor.checkpoint.dir",
      "tideline.processor.checkpoint.interval.ms", "tideline.processor.checkpoint.events",
      "tideline.processor.checkpoint.full.every", "tideline.processor.allowed.lateness.ms",
      "tideline.processor.idle.timeout.ms", "tideline.processor.late.events",
      "tideline.processor.state.store", "tideline.processor.state.table",
      "tideline.processor.partitions", "tideline.processor.state.retry.ms", "tideline.metrics.port",
      "tideline.log.report.interval.ms"};
  return kKeys;
}

const std::set<std::string, std::less<>>& known_client_keys() {
  static const std::set<std::string, std::less<>> kKeys = {"brokerServiceUrl",
                                                           "webServiceUrl",
                                                           "authPlugin",
                                                           "authParams",
                                                           "tlsTrustCertsFilePath",
                                                           "tlsAllowInsecureConnection",
                                                           "tlsEnableHostnameVerification",
                                                           "useTls",
                                                           "compressionType",
                                                           "operationTimeoutMs"};
  return kKeys;
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_absolute()) return p;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

}  // namespace

Result<std::vector<int32_t>> parse_partition_list(std::string_view text) {
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item(text.substr(pos, comma - pos));
    long long a = -1, b = -1;
    char tail = 0;
    const int n = std::sscanf(item.c_str(), " %lld - %lld %c", &a, &b, &tail);
    if (n == 1) {
      b = a;
      if (std::sscanf(item.c_str(), " %lld %c", &a, &tail) != 1) a = -1;
    }
    if ((n != 1 && n != 2) || a < 0 || b < a || b > 65535) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("expected partition indexes like 0,2 or 0-1; '{}' is not an index "
                               "or an ascending range of indexes",
                               item));
    }
    for (long long i = a; i <= b; ++i) out.push_back(static_cast<int32_t>(i));
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i] == out[i - 1]) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("partition {} is listed twice", out[i]));
    }
  }
  return out;
}

std::string format_partition_list(const std::vector<int32_t>& partitions) {
  std::string s;
  for (int32_t p : partitions) s += fmt::format("{}{}", s.empty() ? "" : ",", p);
  return s;
}

Result<PipelineConfig> load_config(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return error(StatusCode::kInvalidArgument, fmt::format("config file not found: {}", path));
  }
  TL_ASSIGN_OR_RETURN(auto props, Properties::load_file(path));
  return config_from_properties(props, path);
}

Result<PipelineConfig> config_from_properties(const Properties& props, const std::string& path) {
  PipelineConfig c;
  c.source = path;
  std::string base = fs::path(path).parent_path().string();
  if (base.empty()) base = ".";

  for (const auto& k : props.keys()) {
    if (!known_keys().count(k)) {
      const auto* e = props.entry(k);
      c.warnings.push_back(
          fmt::format("{}:{}: unknown key '{}' (ignored)", path, e ? e->line : 0, k));
    }
  }

  auto required = [&](std::string_view key, std::string& out) -> Status {
    auto v = props.get(key);
    if (!v || v->empty()) {
      return invalid_argument(fmt::format("missing required key '{}' in {}", key, path));
    }
    out = *v;
    return {};
  };
  auto optional = [&](std::string_view key, std::string& out) {
    if (auto v = props.get(key)) out = *v;
  };

  std::string backend = props.get_or("tideline.backend", "embedded");
  if (backend == "embedded") {
    c.backend = Backend::kEmbedded;
  } else if (backend == "clusters" || backend == "cluster") {
    c.backend = Backend::kClusters;
  } else {
    return error(
        StatusCode::kInvalidArgument,
        fmt::format("key 'tideline.backend' in {}: expected 'embedded' or 'clusters', got '{}'",
                    path, backend));
  }

  TL_RETURN_IF_ERROR(required("ad.keyspace", c.keyspace));
  TL_RETURN_IF_ERROR(required("ad.table.input", c.table_input));
  TL_RETURN_IF_ERROR(required("ad.table.output", c.table_output));
  TL_RETURN_IF_ERROR(required("as.tenant", c.tenant));
  TL_RETURN_IF_ERROR(required("as.namespace", c.ns));
  TL_RETURN_IF_ERROR(required("as.topic.input", c.topic_input));
  TL_RETURN_IF_ERROR(required("as.topic.output", c.topic_output));
  optional("ad.client.id", c.ad_client_id);
  optional("ad.client.secret", c.ad_client_secret);
  optional("ad.secure.bundle", c.ad_secure_bundle);
  c.ad_secure_bundle = resolve(base, c.ad_secure_bundle);
  c.topic_schema = parse_loose_bool(props.get_or("as.topic.schema", "true"));
  optional("kaskada.deployment", c.kaskada_deployment);
  optional("kaskada.endpoint", c.kaskada_endpoint);
  c.kaskada_table_recreate = parse_loose_bool(
      props.get_or("kaskada.table.recreate", props.get_or("kaskada.recreate_table", "false")));
  c.kaskada_materialization_recreate =
      parse_loose_bool(props.get_or("kaskada.materialization.recreate", "false"));

  c.data_dir = resolve(base, props.get_or("tideline.data.dir", "data"));
  c.query_file = resolve(base, props.get_or("tideline.processor.query", "fenl/eshop_output.fenl"));
  optional("tideline.processor.table", c.query_table);
  optional("tideline.processor.time.column", c.time_column);
  optional("tideline.processor.key.column", c.key_column);
  optional("tideline.processor.subscription", c.processor_subscription);
  optional("tideline.consumer.subscription", c.consumer_subscription);
  for (auto [key, value] : {std::pair<std::string_view, const std::string*>{
                                "tideline.processor.subscription", &c.processor_subscription},
                            {"tideline.consumer.subscription", &c.consumer_subscription}}) {
    if (value->empty() || value->find_first_of(" \t/") != std::string::npos) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key '{}' in {}: expected a subscription name without spaces or "
                               "'/', got '{}'",
                               key, path, *value));
    }
  }
  for (auto [key, value] :
       {std::pair<std::string_view, io::SubscriptionType*>{"tideline.processor.subscription.type",
                                                           &c.processor_subscription_type},
        {"tideline.consumer.subscription.type", &c.consumer_subscription_type}}) {
    std::string text = props.get_or(std::string(key), "Exclusive");
    std::string low;
    for (char ch : text)
      if (ch != '_' && ch != '-')
        low += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (low == "exclusive") {
      *value = io::SubscriptionType::kExclusive;
    } else if (low == "shared") {
      *value = io::SubscriptionType::kShared;
    } else if (low == "failover") {
      *value = io::SubscriptionType::kFailover;
    } else if (low == "keyshared") {
      *value = io::SubscriptionType::kKeyShared;
    } else {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key '{}' in {}: expected Exclusive, Shared, Failover or "
                               "Key_Shared, got '{}'",
                               key, path, text));
    }
  }
  c.checkpoint_dir =
      resolve(base, props.get_or("tideline.processor.checkpoint.dir",
                                 c.data_dir.empty() ? "tideline-checkpoints" : c.data_dir));
  for (auto [key, value, lo] :
       {std::tuple<std::string_view, int64_t*, int64_t>{"tideline.processor.checkpoint.interval.ms",
                                                        &c.checkpoint_interval_ms, 1},
        {"tideline.processor.checkpoint.events", &c.checkpoint_events, 0},
        {"tideline.processor.state.retry.ms", &c.state_retry_ms, 0},
        {"tideline.processor.checkpoint.full.every", &c.checkpoint_full_every, 1},
        {"tideline.processor.allowed.lateness.ms", &c.allowed_lateness_ms, 0},
        {"tideline.processor.idle.timeout.ms", &c.partition_idle_ms, 1},
        {"tideline.log.report.interval.ms", &c.log_report_interval_ms, 0}}) {
    auto text = props.get(std::string(key));
    if (!text) continue;
    try {
      size_t used = 0;
      *value = std::stoll(*text, &used);
      if (used != text->size() || *value < lo) throw 0;
    } catch (...) {
      return error(
          StatusCode::kInvalidArgument,
          fmt::format("key '{}' in {}: expected an integer >= {}, got '{}'", key, path, lo, *text));
    }
  }
  {
    std::string store = props.get_or("tideline.processor.state.store",
                                     c.backend == Backend::kEmbedded ? "embedded" : "cassandra");
    if (store == "cassandra") {
      c.state_store = StateStoreKind::kCassandra;
    } else if (store == "file") {
      c.state_store = StateStoreKind::kFile;
    } else if (store == "embedded") {
      c.state_store = StateStoreKind::kEmbedded;
    } else {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.processor.state.store' in {}: expected cassandra, "
                               "file or embedded, got '{}'",
                               path, store));
    }
    if (c.state_store == StateStoreKind::kEmbedded && c.backend != Backend::kEmbedded) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.processor.state.store' in {}: 'embedded' needs "
                               "tideline.backend=embedded",
                               path));
    }
    c.state_table = props.get_or("tideline.processor.state.table", "tideline_job_state");
    if (c.state_table.find('.') == std::string::npos)
      c.state_table = c.keyspace + "." + c.state_table;
  }
  if (auto parts = props.get("tideline.processor.partitions"); parts && !parts->empty()) {
    auto parsed = parse_partition_list(*parts);
    if (!parsed) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.processor.partitions' in {}: {}", path,
                               parsed.error().message()));
    }
    if (c.processor_subscription_type != io::SubscriptionType::kExclusive) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.processor.partitions' in {}: needs "
                               "tideline.processor.subscription.type=Exclusive",
                               path));
    }
    c.processor_partitions = std::move(*parsed);
  }
  {
    std::string late = props.get_or("tideline.processor.late.events", "dead-letter");
    if (late == "dead-letter" || late == "dead_letter" || late == "dlq") {
      c.late_to_dead_letter = true;
    } else if (late == "drop") {
      c.late_to_dead_letter = false;
    } else {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.processor.late.events' in {}: expected "
                               "'dead-letter' or 'drop', got '{}'",
                               path, late));
    }
  }
  c.input_stmt = resolve(base, props.get_or("tideline.cql.input.stmt", "cql/input_tbl.stmt"));
  c.output_stmt = resolve(base, props.get_or("tideline.cql.output.stmt", "cql/output_tbl.stmt"));
  c.input_schema =
      resolve(base, props.get_or("tideline.schema.input", "pulsar-schema/input_topic.json"));
  c.output_schema =
      resolve(base, props.get_or("tideline.schema.output", "pulsar-schema/output_topic.json"));
  {
    std::string p = props.get_or("tideline.topic.partitions", "3");
    try {
      size_t used = 0;
      c.topic_partitions = std::stoi(p, &used);
      if (used != p.size() || c.topic_partitions < 1 || c.topic_partitions > 1024) throw 0;
    } catch (...) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.topic.partitions' in {}: expected 1..1024, got '{}'",
                               path, p));
    }
  }
  {
    std::string p = props.get_or("tideline.metrics.port", "0");
    try {
      size_t used = 0;
      c.metrics_port = std::stoi(p, &used);
      if (used != p.size() || c.metrics_port < 0 || c.metrics_port > 65535) throw 0;
    } catch (...) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.metrics.port' in {}: expected a port 0..65535 "
                               "(0 = no metrics endpoint), got '{}'",
                               path, p));
    }
  }
  optional("tideline.cassandra.contact.points", c.cassandra_contact_points);
  optional("tideline.cassandra.local.dc", c.cassandra_local_dc);
  optional("tideline.cassandra.username", c.cassandra_username);
  optional("tideline.cassandra.password", c.cassandra_password);
  c.cassandra_tls = parse_loose_bool(props.get_or("tideline.cassandra.tls", "false"));
  c.cassandra_tls_ca_file = resolve(base, props.get_or("tideline.cassandra.tls.ca.file", ""));
  c.cassandra_tls_verify_hostname =
      parse_loose_bool(props.get_or("tideline.cassandra.tls.verify.hostname", "true"));
  c.cassandra_tls_allow_insecure =
      parse_loose_bool(props.get_or("tideline.cassandra.tls.allow.insecure", "false"));
  c.cassandra_tls_cert_file = resolve(base, props.get_or("tideline.cassandra.tls.cert.file", ""));
  c.cassandra_tls_key_file = resolve(base, props.get_or("tideline.cassandra.tls.key.file", ""));
  optional("tideline.cassandra.consistency", c.cassandra_consistency);
  {
    static const char* kLevels[] = {"ANY", "ONE",          "TWO",         "THREE",    "QUORUM",
                                    "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"};
    std::string up = c.cassandra_consistency;
    for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (std::find(std::begin(kLevels), std::end(kLevels), up) == std::end(kLevels)) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'tideline.cassandra.consistency' in {}: expected one of "
                               "ONE, QUORUM, LOCAL_QUORUM, LOCAL_ONE, ALL, ..., got '{}'",
                               path, c.cassandra_consistency));
    }
    c.cassandra_consistency = up;
  }

  // Pulsar client.conf: required for clusters, optional for embedded.
  std::string client_conf;
  optional("as.client.conf", client_conf);
  c.client_conf_path = resolve(base, client_conf);
  if (c.backend == Backend::kClusters && c.client_conf_path.empty()) {
    return error(
        StatusCode::kInvalidArgument,
        fmt::format("missing required key 'as.client.conf' in {} (needed by the clusters backend)",
                    path));
  }
  if (!c.client_conf_path.empty()) {
    std::error_code ec;
    if (!fs::exists(c.client_conf_path, ec)) {
      return error(
          StatusCode::kInvalidArgument,
          fmt::format("key 'as.client.conf' in {}: file not found: {}", path, c.client_conf_path));
    }
    TL_ASSIGN_OR_RETURN(auto cc, Properties::load_file(c.client_conf_path));
    c.pulsar.path = c.client_conf_path;
    for (const auto& k : cc.keys()) {
      if (!known_client_keys().count(k)) {
        c.warnings.push_back(fmt::format("{}: unknown key '{}' (ignored)", c.client_conf_path, k));
      }
    }
    c.pulsar.broker_service_url = cc.get_or("brokerServiceUrl", "");
    c.pulsar.web_service_url = cc.get_or("webServiceUrl", "");
    c.pulsar.auth_plugin = cc.get_or("authPlugin", "");
    c.pulsar.auth_params = cc.get_or("authParams", "");
    c.pulsar.tls_trust_certs_file_path =
        resolve(fs::path(c.client_conf_path).parent_path().string(),
                cc.get_or("tlsTrustCertsFilePath", ""));
    c.pulsar.tls_allow_insecure_connection =
        parse_loose_bool(cc.get_or("tlsAllowInsecureConnection", "false"));
    c.pulsar.tls_enable_hostname_verification =
        parse_loose_bool(cc.get_or("tlsEnableHostnameVerification", "false"));
    c.pulsar.compression_type = cc.get_or("compressionType", "NONE");
    {
      const std::string t = cc.get_or("operationTimeoutMs", "30000");
      char* end = nullptr;
      const long long v = std::strtoll(t.c_str(), &end, 10);
      if (t.empty() || *end != '\0' || v < 1 || v > 3600000) {
        return error(StatusCode::kInvalidArgument,
                     fmt::format("key 'operationTimeoutMs' in {}: expected milliseconds between 1 "
                                 "and 3600000, got '{}'",
                                 c.client_conf_path, t));
      }
      c.pulsar.operation_timeout_ms = v;
    }
    for (auto& ch : c.pulsar.compression_type) {
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    static const char* const kCodecs[] = {"NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY"};
    if (std::find(std::begin(kCodecs), std::end(kCodecs), c.pulsar.compression_type) ==
        std::end(kCodecs)) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("key 'compressionType' in {}: expected NONE, LZ4, ZLIB, ZSTD or "
                               "SNAPPY, got '{}'",
                               c.client_conf_path, cc.get_or("compressionType", "")));
    }
    if (c.backend == Backend::kClusters) {
      if (c.pulsar.broker_service_url.empty()) {
        return error(
            StatusCode::kInvalidArgument,
            fmt::format("missing required key 'brokerServiceUrl' in {}", c.client_conf_path));
      }
      if (c.pulsar.web_service_url.empty()) {
        return error(StatusCode::kInvalidArgument,
                     fmt::format("missing required key 'webServiceUrl' in {}", c.client_conf_path));
      }
    }
  }
  return c;
}

std::string PipelineConfig::describe() const {
  std::string s;
  auto line = [&](std::string_view k, std::string_view v) {
    s += fmt::format("  {} = {}\n", k, v);
  };
  s += fmt::format("config {}\n", source);
  line("backend", backend == Backend::kEmbedded ? "embedded" : "clusters");
  if (backend == Backend::kEmbedded) line("data dir", data_dir);
  line("keyspace", keyspace);
  line("input table", table_input);
  line("output table", table_output);
  line("input topic", topic_url(topic_input));
  line("output topic", topic_url(topic_output));
  line("query", query_file);
  line("processor subscription", processor_subscription);
  if (!processor_partitions.empty())
    line("processor partitions", format_partition_list(processor_partitions));
  line("consumer subscription", consumer_subscription);
  if (metrics_port > 0) line("metrics", fmt::format("http://127.0.0.1:{}/metrics", metrics_port));
  if (!ad_client_id.empty()) line("ad.client.id", ad_client_id);
  if (!ad_client_secret.empty()) line("ad.client.secret", redact(ad_client_secret));
  if (backend == Backend::kClusters) {
    line("cassandra", cassandra_contact_points);
    line("pulsar broker", pulsar.broker_service_url);
    line("pulsar admin", pulsar.web_service_url);
    if (!pulsar.auth_plugin.empty()) line("authPlugin", pulsar.auth_plugin);
    if (!pulsar.auth_params.empty()) line("authParams", redact(pulsar.auth_params));
    if (pulsar.compression_type != "NONE") line("compressionType", pulsar.compression_type);
    if (pulsar.operation_timeout_ms != 30000)
      line("operationTimeoutMs", std::to_string(pulsar.operation_timeout_ms));
  }
  return s;
}

}  // namespace tideline::pipeline
