#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "io/cql/cql.h"
#include "io/embedded/embedded.h"
#include "io/pulsar/pulsar.h"
#include "pipeline/pipeline.h"

namespace tideline::pipeline {

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(StatusCode::kIoError, fmt::format("cannot read {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

io::cql::CqlOptions cql_options(const PipelineConfig& config) {
  io::cql::CqlOptions o;
  o.contact_points = config.cassandra_contact_points;
  o.local_dc = config.cassandra_local_dc;
  o.username = config.cassandra_username;
  o.password = config.cassandra_password;
  o.consistency = config.cassandra_consistency;
  o.tls.enabled = config.cassandra_tls;
  o.tls.ca_file = config.cassandra_tls_ca_file;
  o.tls.verify_peer = !config.cassandra_tls_allow_insecure;
  o.tls.verify_hostname =
      config.cassandra_tls_verify_hostname && !config.cassandra_tls_allow_insecure;
  o.tls.cert_file = config.cassandra_tls_cert_file;
  o.tls.key_file = config.cassandra_tls_key_file;
  return o;
}

// Names the keys that fix a failed connection to Cassandra (TLS, credentials).
Status explain_cassandra_failure(Status s) {
  s = io::net::explain_tls_failure(
      std::move(s),
      {.ca_file = "tideline.cassandra.tls.ca.file",
       .verify_hostname = "tideline.cassandra.tls.verify.hostname",
       .host = "tideline.cassandra.contact.points",
       .cert_file = "tideline.cassandra.tls.cert.file and tideline.cassandra.tls.key.file"});
  if (s.message().find("Bad_credentials") != std::string::npos) {
    return Status(s.code(), s.message() +
                                " [authentication failed: check tideline.cassandra.username and "
                                "tideline.cassandra.password]");
  }
  return s;
}

}  // namespace

Result<std::unique_ptr<io::StateStore>> open_state_store(const PipelineConfig& config) {
  switch (config.state_store) {
    case StateStoreKind::kEmbedded:
      return std::unique_ptr<io::StateStore>();
    case StateStoreKind::kFile:
      return embedded::open_state_store(config.checkpoint_dir);
    case StateStoreKind::kCassandra: {
      auto store = io::cql::open_cql_state_store(cql_options(config), config.state_table);
      if (!store) {
        return std::unexpected(
            explain_cassandra_failure(store.error()).with_context("opening Cassandra"));
      }
      // A node restart in the middle of a run: the store reconnects on its next call, and the
      // processor waits for it instead of exiting.
      return io::retry_transient(std::move(*store),
                                 std::chrono::milliseconds(config.state_retry_ms));
    }
  }
  return std::unique_ptr<io::StateStore>();
}

Result<std::unique_ptr<io::TableStore>> open_table_store(const PipelineConfig& config) {
  if (config.backend == Backend::kEmbedded) return embedded::open_table_store(config.data_dir);
  io::cql::CqlOptions o = cql_options(config);
  auto store = io::cql::open_cql_table_store(o);
  if (!store) {
    return std::unexpected(
        explain_cassandra_failure(store.error()).with_context("opening Cassandra"));
  }
  return store;
}

Result<std::unique_ptr<io::TopicService>> open_topic_service(const PipelineConfig& config) {
  if (config.backend == Backend::kEmbedded) return embedded::open_topic_service(config.data_dir);
  pulsar::PulsarOptions o;
  const PulsarClientConf& cc = config.pulsar;
  if (!cc.broker_service_url.empty()) o.broker_service_url = cc.broker_service_url;
  if (!cc.web_service_url.empty()) o.web_service_url = cc.web_service_url;
  o.auth_plugin = cc.auth_plugin;
  o.auth_params = cc.auth_params;
  o.tls.ca_file = cc.tls_trust_certs_file_path;
  o.tls.verify_peer = !cc.tls_allow_insecure_connection;
  o.tls.verify_hostname = cc.tls_enable_hostname_verification;
  o.compression = cc.compression_type;
  o.operation_timeout = std::chrono::milliseconds(cc.operation_timeout_ms);
  auto service = pulsar::open_pulsar_topic_service(o);
  if (!service) return std::unexpected(service.error().with_context("opening Pulsar"));
  return service;
}

namespace {

Result<Column> conform_column(const Column& in, const TypePtr& target, std::string_view name) {
  TypeId from = in.type_id(), to = target->id;
  if (from == to && from != TypeId::kRecord) return in;
  Column out(target);
  const int64_t n = in.size();
  out.reserve(n);
  Storage fs = storage_of(from), ts = storage_of(to);
  if (from == TypeId::kNull) {
    for (int64_t i = 0; i < n; ++i) out.append_null();
    return out;
  }
  if (ts == Storage::kInts && fs == Storage::kInts) {
    out.ints() = in.ints();
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  if (ts == Storage::kFloats && fs == Storage::kInts) {
    auto& f = out.floats();
    f.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) f[static_cast<size_t>(i)] = static_cast<double>(in.int_at(i));
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  if (ts == Storage::kInts && fs == Storage::kFloats) {
    auto& v = out.ints();
    v.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[static_cast<size_t>(i)] = static_cast<int64_t>(in.float_at(i));
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  if (ts == Storage::kFloats && fs == Storage::kFloats) {
    out.floats() = in.floats();
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  return error(StatusCode::kInvalidArgument,
               fmt::format("field '{}': cannot convert {} to {}", name, in.type()->to_string(),
                           target->to_string()));
}

}  // namespace

namespace {

// conform_batch: `take(idx, type, name)` gives the conformed column `idx` of the input.
template <typename Take>
Result<Batch> conform_with(const Batch& in, const TypePtr& target, bool allow_missing,
                           Take&& take) {
  Batch out;
  out.schema = target;
  out.num_rows = in.num_rows;
  for (const auto& f : target->fields) {
    int idx = in.schema->field_index(f.name);
    if (idx < 0) {
      if (!allow_missing) {
        return error(StatusCode::kInvalidArgument, fmt::format("field '{}' is missing (have {})",
                                                               f.name, in.schema->to_string()));
      }
      Column c(f.type);
      c.reserve(in.num_rows);
      for (int64_t i = 0; i < in.num_rows; ++i) c.append_null();
      out.columns.push_back(std::move(c));
      continue;
    }
    TL_ASSIGN_OR_RETURN(auto c, take(static_cast<size_t>(idx), f.type, f.name));
    out.columns.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Result<Batch> conform_batch(const Batch& in, const TypePtr& target, bool allow_missing) {
  return conform_with(in, target, allow_missing,
                      [&](size_t idx, const TypePtr& type, std::string_view name) {
                        return conform_column(in.columns[idx], type, name);
                      });
}

Result<Batch> conform_batch(Batch&& in, const TypePtr& target, bool allow_missing) {
  return conform_with(
      in, target, allow_missing,
      [&](size_t idx, const TypePtr& type, std::string_view name) -> Result<Column> {
        Column& c = in.columns[idx];
        // Field names are unique, so each input column is taken at most once.
        if (c.type_id() == type->id && c.type_id() != TypeId::kRecord) return std::move(c);
        return conform_column(c, type, name);
      });
}

}  // namespace tideline::pipeline
