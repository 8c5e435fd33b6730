// libFuzzer target for the Avro codec, schemas and payloads.
// Input: first byte selects the mode.
//   even: one of the built-in schemas (e-shop, every type) decodes the rest as a payload;
//         a decoded record must re-encode, and decode(encode(x)) must re-encode to the same
//         bytes (canonical form is a fixed point).
//   odd:  the bytes up to the first NUL are a schema (JSON), the rest a payload.
// A failed decode must leave the batch unchanged.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "avro_fuzz_schemas.h"
#include "io/avro/avro.h"

namespace {

using namespace tideline;
using tideline::avro::Codec;

void check_decode(const Codec& codec, std::string_view payload, bool round_trip) {
  Batch batch = Batch::empty(codec.type());
  Status s = codec.decode_into(payload, batch);
  if (!s.ok()) {
    if (batch.num_rows != 0 || !batch.validate().ok()) std::abort();
    for (const auto& c : batch.columns) {
      if (c.size() != 0) std::abort();
    }
    return;
  }
  if (batch.num_rows != 1 || !batch.validate().ok()) std::abort();
  if (!round_trip) return;
  std::string first;
  if (!codec.encode_row(batch, 0, first).ok()) std::abort();
  Batch again = Batch::empty(codec.type());
  if (!codec.decode_into(first, again).ok()) std::abort();
  std::string second;
  if (!codec.encode_row(again, 0, second).ok()) std::abort();
  if (first != second) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    check_decode(*fuzz::builtin_codec((data[0] >> 1) % 2), rest, true);
    return 0;
  }
  size_t nul = rest.find('\0');
  std::string_view schema = rest.substr(0, nul);
  std::string_view payload =
      nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  auto codec = Codec::make(schema);
  if (!codec) {
    if (codec.error().code() != StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  check_decode(**codec, payload, true);
  (void)avro::schema_from_pulsar_envelope(schema);
  return 0;
}
