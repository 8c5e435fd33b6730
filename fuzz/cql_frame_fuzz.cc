// libFuzzer target for the CQL native protocol v4 response codec (docs/formats/cql.md).
// Input: a response frame (9-byte header + body; the header's length is ignored and the
// rest of the input is the body). The header is decoded, the envelope stripped, and the body
// decoded as the opcode says (RESULT, ERROR, SUPPORTED, AUTHENTICATE; any other opcode is
// tried as a RESULT).
// Properties: no crash or leak; a decoded Rows result re-encodes, and decoding that encoding
// gives the same bytes again (a fixed point); cells of supported types convert into columns
// of the right length.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/cql/frame.h"

namespace {

using namespace tideline;
using namespace tideline::io::cql;

void check_rows(const Rows& rows) {
  std::string first = encode_rows_result(rows);
  auto again = decode_result(first);
  if (!again || again->kind != ResultKind::kRows) std::abort();
  if (encode_rows_result(again->rows) != first) std::abort();
  if (rows.metadata.columns.size() != static_cast<size_t>(rows.metadata.column_count)) return;
  for (int32_t c = 0; c < rows.metadata.column_count; ++c) {
    const ColumnType& t = rows.metadata.columns[static_cast<size_t>(c)].type;
    auto cql = supported_type(t);
    if (!cql) continue;
    Column col(DataType::of(io::type_for_cql(*cql)));
    int64_t appended = 0;
    for (int32_t r = 0; r < rows.row_count; ++r) {
      if (append_cell(col, t, rows.cell(r, c)).ok()) ++appended;
    }
    if (col.size() != appended) std::abort();
  }
}

void check_body(const FrameHeader& h, std::string_view body) {
  auto proper = strip_response_envelope(h, body);
  if (!proper) return;
  if (h.opcode == static_cast<uint8_t>(Opcode::kError)) {
    auto e = decode_error(*proper);
    if (e) (void)server_error_status(*e, "fuzz:9042");
    return;
  }
  if (h.opcode == static_cast<uint8_t>(Opcode::kSupported)) {
    BodyReader r(*proper, h.opcode);
    (void)r.string_multimap();
    return;
  }
  if (h.opcode == static_cast<uint8_t>(Opcode::kAuthenticate)) {
    BodyReader r(*proper, h.opcode);
    (void)r.string();
    return;
  }
  auto r = decode_result(std::string(*proper));
  if (r && r->kind == ResultKind::kRows) check_rows(r->rows);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeaderSize) {
    (void)decode_response_header({data, size});
    return 0;
  }
  auto h = decode_response_header({data, kHeaderSize});
  std::string_view body(reinterpret_cast<const char*>(data) + kHeaderSize, size - kHeaderSize);
  if (h) {
    check_body(*h, body);
  } else {
    // Still exercise the body decoders on inputs with a bad header.
    FrameHeader plain;
    plain.opcode = static_cast<uint8_t>(Opcode::kResult);
    check_body(plain, body);
  }
  return 0;
}
