// libFuzzer target for the metrics endpoint's HTTP request parser (common/http_server.h):
// any bytes give NeedMore, Ok or Bad without crashing, and
//  - Ok consumes at most the input, ends after an empty line, and yields a token method, an
//    origin-form target of visible ASCII and version HTTP/1.0 or HTTP/1.1;
//  - the result depends only on the head: parsing exactly the consumed bytes gives the same
//    request, and every shorter prefix of them needs more;
//  - the server's response to the bytes is a complete HTTP/1.1 response whose status matches
//    the parse (400 for Bad; 431 only when no head fits in the limit).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/http_server.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  tideline::HttpRequest req;
  size_t used = 0;
  tideline::HttpParse p = tideline::parse_http_request(in, &req, &used);
  if (p == tideline::HttpParse::kOk) {
    check(used <= size && used >= 2 && in[used - 1] == '\n');
    check(!req.method.empty() && !req.target.empty() && req.target[0] == '/');
    for (unsigned char c : req.target) check(c > 0x20 && c < 0x7f);
    check(req.version == "HTTP/1.0" || req.version == "HTTP/1.1");
    tideline::HttpRequest again;
    size_t used2 = 0;
    check(tideline::parse_http_request(in.substr(0, used), &again, &used2) ==
          tideline::HttpParse::kOk);
    check(used2 == used && again.method == req.method && again.target == req.target &&
          again.version == req.version);
    // Prefixes (a few, to keep each input fast).
    for (size_t n : {size_t{0}, used / 2, used - 1}) {
      tideline::HttpRequest r;
      size_t u = 0;
      check(tideline::parse_http_request(in.substr(0, n), &r, &u) ==
            tideline::HttpParse::kNeedMore);
    }
  }
  const size_t limit = 256;
  bool complete = false;
  std::string resp = tideline::respond_http(
      in, limit,
      [](const tideline::HttpRequest& r) {
        return tideline::HttpResponse{.status = r.path() == "/metrics" ? 200 : 404,
                                      .body = r.target};
      },
      &complete);
  if (!complete) {
    check(p == tideline::HttpParse::kNeedMore && size < limit && resp.empty());
  } else {
    check(resp.rfind("HTTP/1.1 ", 0) == 0 && resp.find("\r\n\r\n") != std::string::npos);
    int status = std::atoi(resp.substr(9, 3).c_str());
    if (p == tideline::HttpParse::kBad) check(status == 400);
    if (status == 431) check(p == tideline::HttpParse::kNeedMore || used > limit);
    if (p == tideline::HttpParse::kOk && used <= limit)
      check(status == 200 || status == 404 || status == 405);
  }
  return 0;
}
