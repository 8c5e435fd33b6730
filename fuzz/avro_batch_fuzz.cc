// libFuzzer target for the columnar Avro paths (Codec::decode_batch, Codec::encode_batch).
// Input: the first byte picks one of the built-in schemas; the rest is a sequence of
// payloads, each a length byte and that many bytes (a short last one takes what is left).
// Properties: decode_batch gives exactly the rows and errors of decode_into called payload
// by payload (a bad payload costs only its row), the batch validates, and encode_batch of
// the decoded rows gives exactly the bytes of encode_row row by row.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "avro_fuzz_schemas.h"
#include "io/avro/avro.h"

namespace {

using namespace tideline;
using tideline::avro::Codec;

// Equal values; doubles bit for bit (a decoded NaN equals itself).
bool same_value(const Value& a, const Value& b) {
  if (std::holds_alternative<double>(a) && std::holds_alternative<double>(b)) {
    const double x = std::get<double>(a), y = std::get<double>(b);
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a == b;
}

void same_column(const Column& a, const Column& b) {
  if (a.size() != b.size()) std::abort();
  for (int64_t r = 0; r < a.size(); ++r) {
    if (a.is_valid(r) != b.is_valid(r)) std::abort();
    if (a.type_id() != TypeId::kRecord && !same_value(value_at(a, r), value_at(b, r))) std::abort();
  }
  if (a.type_id() == TypeId::kRecord) {
    for (size_t f = 0; f < a.num_children(); ++f) same_column(a.child(f), b.child(f));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Codec& codec = *fuzz::builtin_codec(data[0] % 2);
  std::vector<std::string_view> payloads;
  for (size_t at = 1; at < size;) {
    const size_t n = std::min<size_t>(data[at], size - at - 1);
    payloads.emplace_back(reinterpret_cast<const char*>(data) + at + 1, n);
    at += 1 + n;
  }
  Batch row_wise = Batch::empty(codec.type());
  std::vector<std::pair<size_t, std::string>> expected;
  for (size_t i = 0; i < payloads.size(); ++i) {
    Status s = codec.decode_into(payloads[i], row_wise);
    if (!s.ok()) expected.emplace_back(i, s.message());
  }
  Batch batched = Batch::empty(codec.type());
  std::vector<avro::DecodeError> errors;
  if (!codec.decode_batch(payloads, batched, errors).ok()) std::abort();
  if (!batched.validate().ok() || batched.num_rows != row_wise.num_rows) std::abort();
  if (errors.size() != expected.size()) std::abort();
  for (size_t e = 0; e < errors.size(); ++e) {
    if (errors[e].index != expected[e].first || errors[e].why.message() != expected[e].second)
      std::abort();
  }
  for (size_t c = 0; c < batched.columns.size(); ++c)
    same_column(batched.columns[c], row_wise.columns[c]);
  avro::EncodedRows enc;
  if (!codec.encode_batch(batched, enc).ok() || enc.size() != static_cast<size_t>(batched.num_rows))
    std::abort();
  std::string one;
  for (int64_t r = 0; r < batched.num_rows; ++r) {
    one.clear();
    if (!codec.encode_row(batched, r, one).ok()) std::abort();
    if (enc.row(static_cast<size_t>(r)) != one) std::abort();
  }
  return 0;
}
