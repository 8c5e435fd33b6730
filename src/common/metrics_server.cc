#include "common/metrics_server.h"

namespace tideline {

HttpHandler metrics_handler(const MetricsRegistry& registry) {
  return [&registry](const HttpRequest& req) {
    std::string path = req.path();
    if (path == "/metrics") {
      return HttpResponse{
          .status = 200, .content_type = kPrometheusContentType, .body = registry.expose()};
    }
    if (path == "/healthz") return HttpResponse{.status = 200, .body = "ok\n"};
    return HttpResponse{.status = 404, .body = "not found (try /metrics or /healthz)\n"};
  };
}

Result<std::unique_ptr<HttpServer>> serve_metrics(const MetricsRegistry& registry, uint16_t port) {
  HttpServerOptions options;
  options.port = port;
  return HttpServer::start(metrics_handler(registry), options);
}

}  // namespace tideline
