#pragma once
// Scrapes an HTTP endpoint with libcurl (a real client, as Prometheus would), for the tests of
// the metrics endpoint.

#include <curl/curl.h>

#include <cstdint>
#include <string>

namespace tideline::testing {

struct Scrape {
  bool ok = false;  // the transfer completed (any status)
  long status = 0;
  std::string content_type;
  std::string body;
  std::string error;
};

inline Scrape curl_get(const std::string& url, long timeout_ms = 5000) {
  Scrape s;
  CURL* h = curl_easy_init();
  if (!h) {
    s.error = "curl_easy_init failed";
    return s;
  }
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(
      h, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* out) -> size_t {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s.body);
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) {
    s.ok = true;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s.status);
    char* ct = nullptr;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) s.content_type = ct;
  } else {
    s.error = curl_easy_strerror(rc);
  }
  curl_easy_cleanup(h);
  return s;
}

inline std::string metrics_url(uint16_t port) {
  return "http://127.0.0.1:" + std::to_string(port) + "/metrics";
}

}  // namespace tideline::testing
