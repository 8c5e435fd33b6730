#pragma once
// Serves a MetricsRegistry over HTTP on 127.0.0.1 (docs/metrics.md):
//   GET /metrics   the registry in the text exposition format (text/plain; version=0.0.4)
//   GET /healthz   "ok"
//   anything else  404 (405 for methods other than GET/HEAD, 400 for malformed requests)

#include <cstdint>
#include <memory>

#include "common/http_server.h"
#include "common/metrics.h"

namespace tideline {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The routes above, for a server or a test. `registry` must outlive the handler.
HttpHandler metrics_handler(const MetricsRegistry& registry);

// Starts the server on `port` (0 = any free port, see HttpServer::port()).
Result<std::unique_ptr<HttpServer>> serve_metrics(const MetricsRegistry& registry, uint16_t port);

}  // namespace tideline
