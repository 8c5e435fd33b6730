// libFuzzer target for Avro schema resolution (avro::Resolver in src/io/avro/avro.h).
// Input: byte 0 selects the mode.
//   even: one of the built-in writer schemas (byte 0 / 2 picks it) resolved to the e-shop
//         style reader decodes the rest as a writer payload.
//   odd:  the bytes up to the first NUL are a writer schema (JSON) resolved to the reader,
//         the rest a payload.
// Properties: a failed make() is kInvalidArgument; a decode adds exactly one row or fails
// with kCorruption and leaves the batch unchanged; a decoded row re-encodes with the reader
// codec and decodes back to the same bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/avro/avro.h"

namespace {

using namespace tideline;
using tideline::avro::Codec;
using tideline::avro::Resolver;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kReader = R"({"type":"record","name":"EShopEvent","fields":[
  {"name":"so_key","type":"string"},
  {"name":"event_time","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"price","type":["null","double"],"default":null},
  {"name":"qty","type":"long","default":1},
  {"name":"kind","type":{"type":"enum","name":"K","symbols":["A","B","C"],"default":"C"},
   "default":"A"},
  {"name":"tag","type":{"type":"fixed","name":"T","size":2},"default":"\u00ff\u0001"},
  {"name":"in","type":["null",{"type":"record","name":"I","fields":[
      {"name":"x","type":"int","default":0},{"name":"y","type":"bytes","default":""}]}],
   "default":null}]})";

constexpr std::string_view kWriters[] = {
    // The original demo producer's record: other name, plain long millis, other order.
    R"({"type":"record","name":"Record","fields":[{"name":"qty","type":"int"},
      {"name":"event_time","type":"long"},{"name":"so_key","type":"string"},
      {"name":"price","type":"float"}]})",
    // Unions, enums and writer-only containers.
    R"({"type":"record","name":"W","fields":[{"name":"so_key","type":["null","string","long"]},
      {"name":"junk","type":{"type":"array","items":["null","long",{"type":"map","values":"bytes"}]}},
      {"name":"event_time","type":["long","int","null"]},
      {"name":"kind","type":{"type":"enum","name":"K","symbols":["D","B","A"]}},
      {"name":"in","type":{"type":"record","name":"J","fields":[{"name":"x","type":"int"},
        {"name":"z","type":"double"}]}}]})",
    // Timestamps in another unit, a fixed and a nullable record.
    R"({"type":"record","name":"X","fields":[{"name":"so_key","type":"bytes"},
      {"name":"event_time","type":{"type":"long","logicalType":"timestamp-micros"}},
      {"name":"tag","type":{"type":"fixed","name":"T","size":2}},
      {"name":"in","type":["null",{"type":"record","name":"I","fields":[
        {"name":"y","type":"string"}]}]}]})",
};

const std::shared_ptr<const Codec>& reader() {
  static const std::shared_ptr<const Codec> codec = *Codec::make(kReader);
  return codec;
}

void run(std::string_view writer, std::string_view payload) {
  auto r = Resolver::make(writer, reader());
  if (!r) {
    check(r.error().code() == StatusCode::kInvalidArgument);
    return;
  }
  Batch b = Batch::empty(reader()->type());
  Status st = (*r)->decode_into(payload, b);
  if (!st.ok()) {
    check(st.code() == StatusCode::kCorruption);
    check(b.num_rows == 0);
    return;
  }
  check(b.num_rows == 1);
  std::string encoded;
  check(reader()->encode_row(b, 0, encoded).ok());
  Batch again = Batch::empty(reader()->type());
  check(reader()->decode_into(encoded, again).ok());
  std::string twice;
  check(reader()->encode_row(again, 0, twice).ok());
  check(twice == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    run(kWriters[(data[0] / 2) % std::size(kWriters)], input);
    return 0;
  }
  const size_t nul = input.find('\0');
  if (nul == std::string_view::npos) return 0;
  run(input.substr(0, nul), input.substr(nul + 1));
  return 0;
}
