// libFuzzer target for the embedded log's entry body framing (io/embedded/entry_format.h):
// any input validates or fails with kCorruption; a valid body yields exactly its count of
// messages, staying inside the input, and re-encoding them reproduces the input byte for
// byte (the framing has one encoding per content).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/embedded/entry_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tideline;
  const std::string body(reinterpret_cast<const char*>(data), size);  // exact-size heap copy
  embedded::EntryReader reader(body);
  Status st = reader.validate(-1);
  if (!st.ok()) {
    if (st.code() != StatusCode::kCorruption || st.message().empty()) std::abort();
    return 0;
  }
  if (reader.count() == 0) std::abort();
  std::string again, scratch;
  embedded::begin_entry(again);
  embedded::EntryMessageView v;
  uint32_t n = 0;
  const char* lo = body.data();
  const char* hi = body.data() + body.size();
  while (reader.next(v)) {
    for (std::string_view part : {v.key, v.payload, v.properties}) {
      if (!part.empty() && (part.data() < lo || part.data() + part.size() > hi)) std::abort();
    }
    io::OutgoingMessage m(std::string(v.key), std::string(v.payload), v.event_time_ms);
    if (!v.properties.empty()) {
      auto props = embedded::decode_properties(v.properties);
      if (!props) std::abort();  // validate() accepted them
      m.properties = std::move(*props);
    }
    if (embedded::entry_message_size(m) !=
        20 + v.key.size() + v.payload.size() + v.properties.size()) {
      std::abort();
    }
    embedded::append_entry_message(again, m, scratch);
    ++n;
  }
  if (n != reader.count() || reader.offset() != body.size()) std::abort();
  embedded::finish_entry(again, n);
  if (again != body) std::abort();
  // A stated count different from the body's is refused.
  embedded::EntryReader other(body);
  if (other.validate(static_cast<int64_t>(n) + 1).ok()) std::abort();
  return 0;
}
