// Pulsar admin REST client; the calls are listed in docs/formats/pulsar.md.
#include "io/pulsar/admin.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <charconv>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "io/pulsar/client.h"

namespace tideline::pulsar {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t write_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Path segments of Pulsar names are [A-Za-z0-9_.=:-] in practice; anything else is escaped.
std::string escape_segment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '=' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string reason_of(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("reason") && j["reason"].is_string()) {
    return j["reason"].get<std::string>();
  }
  std::string b = body.substr(0, 300);
  for (char& c : b) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return b.empty() ? "(empty body)" : b;
}

int64_t json_int(const nlohmann::json& j, const char* name) {
  if (j.is_object() && j.contains(name) && j[name].is_number()) return j[name].get<int64_t>();
  return 0;
}

}  // namespace

std::string TopicName::full() const {
  return fmt::format("{}://{}/{}/{}", domain, tenant, ns, local);
}

std::string TopicName::rest_path() const {
  return fmt::format("{}/{}/{}/{}", domain, escape_segment(tenant), escape_segment(ns),
                     escape_segment(local));
}

std::string TopicName::partition(int index) const {
  return fmt::format("{}-partition-{}", full(), index);
}

Result<TopicName> parse_topic_name(std::string_view topic) {
  TopicName t;
  std::string_view rest = topic;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    t.domain = std::string(rest.substr(0, scheme));
    rest.remove_prefix(scheme + 3);
    if (t.domain != "persistent" && t.domain != "non-persistent") {
      return error(
          invalid_argument(fmt::format("topic '{}': unknown domain '{}'", topic, t.domain)));
    }
  }
  const size_t slashes = static_cast<size_t>(std::count(rest.begin(), rest.end(), '/'));
  if (slashes == 0 && topic.find("://") == std::string_view::npos) {
    t.tenant = "public";
    t.ns = "default";
    t.local = std::string(rest);
  } else if (slashes == 2) {
    const size_t a = rest.find('/');
    const size_t b = rest.find('/', a + 1);
    t.tenant = std::string(rest.substr(0, a));
    t.ns = std::string(rest.substr(a + 1, b - a - 1));
    t.local = std::string(rest.substr(b + 1));
  } else {
    return error(invalid_argument(
        fmt::format("topic '{}': expected persistent://tenant/namespace/topic", topic)));
  }
  if (t.tenant.empty() || t.ns.empty() || t.local.empty()) {
    return error(
        invalid_argument(fmt::format("topic '{}': empty tenant, namespace or name", topic)));
  }
  return t;
}

AdminClient::AdminClient(AdminOptions options) : options_(std::move(options)) {
  while (!options_.web_service_url.empty() && options_.web_service_url.back() == '/') {
    options_.web_service_url.pop_back();
  }
  global_init();
}

Result<AdminClient::Response> AdminClient::call(std::string_view method, std::string_view path,
                                                std::optional<std::string_view> json_body) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return error(internal_error("curl_easy_init failed"));
  const std::string url = options_.web_service_url + std::string(path);
  const std::string method_s(method);
  Response r;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (json_body) headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string auth;
  if (!options_.token.empty()) {
    auth = "Authorization: Bearer " + options_.token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers,
                                                                           curl_slist_free_all);
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_s.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  // The broker answers admin writes with a 307 to the topic's owner in a cluster.
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_POSTREDIR, static_cast<long>(CURL_REDIR_POST_ALL));
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  if (json_body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body->size()));
  }
  if (!options_.tls.ca_file.empty())
    curl_easy_setopt(h, CURLOPT_CAINFO, options_.tls.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.tls.verify_peer ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
                   options_.tls.verify_peer && options_.tls.verify_hostname ? 2L : 0L);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    const StatusCode code = rc == CURLE_OPERATION_TIMEDOUT ? StatusCode::kTimeout
                            : rc == CURLE_COULDNT_CONNECT  ? StatusCode::kUnavailable
                                                           : StatusCode::kIoError;
    return error(code, fmt::format("{} {}{}: {}{}", method, options_.web_service_url, path,
                                   curl_easy_strerror(rc), tls_failure(rc, errbuf)));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

std::string AdminClient::tls_failure(int rc, const char* detail) const {
  const std::string d = detail != nullptr ? detail : "";
  if (rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CONNECT_ERROR &&
      rc != CURLE_SSL_CACERT_BADFILE) {
    return d.empty() ? std::string() : " (" + d + ")";
  }
  std::string host = options_.web_service_url;
  if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
  host = host.substr(0, host.find_first_of(":/"));
  if (d.find("subject name") != std::string::npos ||
      d.find("does not match") != std::string::npos) {
    return fmt::format(
        " ({}): the server's certificate does not match the host name '{}' [to fix: connect by "
        "a host name the certificate lists (webServiceUrl), or set "
        "tlsEnableHostnameVerification=false in client.conf]",
        d, host);
  }
  if (d.find("certificate problem") != std::string::npos) {
    return fmt::format(
        " ({}): the server's certificate is not signed by a CA in {} [to fix: set "
        "tlsTrustCertsFilePath in client.conf to the CA that signed it]",
        d,
        options_.tls.ca_file.empty() ? std::string("the system's CA certificates")
                                     : "'" + options_.tls.ca_file + "'");
  }
  return d.empty() ? std::string() : " (" + d + ")";
}

Status AdminClient::http_error(std::string_view method, std::string_view path,
                               const Response& r) const {
  const StatusCode code = r.status == 404                      ? StatusCode::kNotFound
                          : r.status == 409                    ? StatusCode::kAlreadyExists
                          : r.status == 401 || r.status == 403 ? StatusCode::kInvalidArgument
                          : r.status >= 500                    ? StatusCode::kUnavailable
                                                               : StatusCode::kInvalidArgument;
  std::string hint;
  if (r.status == 401 || r.status == 403) {
    // Pulsar answers a refused token with 401 and no body, a role without the permission with
    // 401 or 403 and "Unauthorized to ..." (naming the operation and the topic or namespace).
    const std::string reason = reason_of(r.body);
    const bool authorization =
        r.status == 403 || (!r.body.empty() && reason.find("Unauthorized to") != std::string::npos);
    hint = " [" + auth_failure_hint(options_.token, authorization) + "]";
  }
  return {code,
          fmt::format("{} {}: HTTP {}: {}{}", method, path, r.status, reason_of(r.body), hint)};
}

Status AdminClient::create_namespace(std::string_view tenant, std::string_view ns) {
  const std::string path =
      fmt::format("/admin/v2/namespaces/{}/{}", escape_segment(tenant), escape_segment(ns));
  TL_ASSIGN_OR_RETURN(Response r, call("PUT", path, std::nullopt));
  if (r.status / 100 == 2 || r.status == 409) return {};
  return http_error("PUT", path, r);
}

Status AdminClient::set_namespace_deduplication(std::string_view tenant, std::string_view ns,
                                                bool on) {
  const std::string path = fmt::format("/admin/v2/namespaces/{}/{}/deduplication",
                                       escape_segment(tenant), escape_segment(ns));
  TL_ASSIGN_OR_RETURN(Response r, call("POST", path, on ? "true" : "false"));
  if (r.status / 100 == 2) return {};
  return http_error("POST", path, r);
}

Status AdminClient::delete_namespace(std::string_view tenant, std::string_view ns, bool force) {
  const std::string path = fmt::format("/admin/v2/namespaces/{}/{}{}", escape_segment(tenant),
                                       escape_segment(ns), force ? "?force=true" : "");
  TL_ASSIGN_OR_RETURN(Response r, call("DELETE", path, std::nullopt));
  if (r.status / 100 == 2) return {};
  return http_error("DELETE", path, r);
}

Status AdminClient::create_partitioned_topic(const TopicName& topic, int partitions) {
  if (partitions < 1) {
    return invalid_argument(
        fmt::format("topic {}: partition count {} must be at least 1", topic.full(), partitions));
  }
  const std::string path = fmt::format("/admin/v2/{}/partitions", topic.rest_path());
  TL_ASSIGN_OR_RETURN(Response r, call("PUT", path, std::to_string(partitions)));
  if (r.status / 100 == 2) return {};
  if (r.status != 409) return http_error("PUT", path, r);
  TL_ASSIGN_OR_RETURN(int existing, this->partitions(topic));
  if (existing == partitions) return {};
  return {StatusCode::kAlreadyExists, fmt::format("topic {} exists with {} partitions, not {}",
                                                  topic.full(), existing, partitions)};
}

Result<int> AdminClient::partitions(const TopicName& topic) {
  const std::string path = fmt::format("/admin/v2/{}/partitions", topic.rest_path());
  TL_ASSIGN_OR_RETURN(Response r, call("GET", path, std::nullopt));
  if (r.status == 404) return 0;
  if (r.status != 200) return error(http_error("GET", path, r));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("partitions") ||
      !j["partitions"].is_number_integer()) {
    return error(
        corruption(fmt::format("GET {}: unexpected answer {}", path, r.body.substr(0, 200))));
  }
  return j["partitions"].get<int>();
}

Status AdminClient::set_schema(const TopicName& topic, std::string_view envelope_json) {
  auto j = nlohmann::json::parse(envelope_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j.contains("schema")) {
    return invalid_argument(
        fmt::format("topic {}: schema envelope must be a JSON object with \"type\" and \"schema\"",
                    topic.full()));
  }
  if (!j.contains("properties")) j["properties"] = nlohmann::json::object();
  const std::string path =
      fmt::format("/admin/v2/schemas/{}/{}/{}/schema", escape_segment(topic.tenant),
                  escape_segment(topic.ns), escape_segment(topic.local));
  const std::string body = j.dump();
  TL_ASSIGN_OR_RETURN(Response r, call("POST", path, body));
  if (r.status / 100 == 2) return {};
  return http_error("POST", path, r);
}

Result<std::optional<std::string>> AdminClient::get_schema(const TopicName& topic,
                                                           std::optional<int64_t> version) {
  std::string path = fmt::format("/admin/v2/schemas/{}/{}/{}/schema", escape_segment(topic.tenant),
                                 escape_segment(topic.ns), escape_segment(topic.local));
  if (version) path += fmt::format("/{}", *version);
  TL_ASSIGN_OR_RETURN(Response r, call("GET", path, std::nullopt));
  if (r.status == 404) return std::optional<std::string>();
  if (r.status != 200) return error(http_error("GET", path, r));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j.contains("data")) {
    return error(
        corruption(fmt::format("GET {}: unexpected answer {}", path, r.body.substr(0, 200))));
  }
  // A deleted schema (or, for some versions of the broker, an unknown version) is answered
  // with 200 and an empty definition.
  if (j.value("deleted", false) ||
      (j["data"].is_string() && j["data"].get<std::string>().empty())) {
    return std::optional<std::string>();
  }
  nlohmann::json envelope = {{"type", j["type"]},
                             {"schema", j["data"]},
                             {"properties", j.value("properties", nlohmann::json::object())}};
  return std::optional<std::string>(envelope.dump());
}

Result<int64_t> schema_version_number(std::string_view version) {
  if (version.size() != 8) {
    return error(corruption(
        fmt::format("schema version of {} bytes (expected the broker's 8-byte version number)",
                    version.size())));
  }
  uint64_t v = 0;
  for (char c : version) v = (v << 8) | static_cast<uint8_t>(c);
  if (v > static_cast<uint64_t>(INT64_MAX)) {
    return error(corruption("schema version number out of range"));
  }
  return static_cast<int64_t>(v);
}

Result<TopicStats> AdminClient::stats(const TopicName& topic, bool partitioned) {
  const std::string path = fmt::format("/admin/v2/{}/{}", topic.rest_path(),
                                       partitioned ? "partitioned-stats" : "stats");
  TL_ASSIGN_OR_RETURN(Response r, call("GET", path, std::nullopt));
  if (r.status != 200) return error(http_error("GET", path, r));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return error(corruption(fmt::format("GET {}: answer is not a JSON object", path)));
  }
  TopicStats s;
  s.msg_in_counter = json_int(j, "msgInCounter");
  if (j.contains("subscriptions") && j["subscriptions"].is_object()) {
    for (const auto& [name, sub] : j["subscriptions"].items()) {
      s.msg_backlog[name] = json_int(sub, "msgBacklog");
    }
  }
  return s;
}

}  // namespace tideline::pulsar
