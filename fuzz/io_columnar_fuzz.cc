// libFuzzer target for the Tideline columnar file reader (.tlc, docs/formats/columnar.md).
// Properties checked beyond "no crash / no sanitizer report":
//  * a rejected file is a kCorruption error naming a byte offset ("<name>: byte N: ...");
//  * an accepted file gives a valid batch; reading on two threads gives the same batch;
//  * writing the batch and reading it back gives the same values (round trip);
//  * a dictionary column kept encoded decodes to the same strings.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/columnar_file.h"

namespace {

using namespace tideline;

bool same(const Batch& a, const Batch& b) {
  if (a.num_rows != b.num_rows || a.columns.size() != b.columns.size()) return false;
  if (!type_equals(*a.schema, *b.schema)) return false;
  for (size_t c = 0; c < a.columns.size(); ++c) {
    for (int64_t r = 0; r < a.num_rows; ++r) {
      bool va = a.columns[c].is_valid(r), vb = b.columns[c].is_valid(r);
      if (va != vb) return false;
      if (!va) continue;
      Value x = value_at(a.columns[c], r), y = value_at(b.columns[c], r);
      if (x.index() != y.index()) return false;
      if (std::holds_alternative<double>(x)) {
        double dx = std::get<double>(x), dy = std::get<double>(y);
        if (!(dx == dy || (dx != dx && dy != dy))) return false;
      } else if (x != y) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto r = io::read_columnar(in, "fuzz", 1);
  if (!r) {
    if (r.error().code() != StatusCode::kCorruption) std::abort();
    if (r.error().message().rfind("fuzz: byte ", 0) != 0 &&
        r.error().message().find("fuzz: no column") == std::string::npos)
      std::abort();
    return 0;
  }
  if (!r->batch.validate().ok()) std::abort();
  auto r2 = io::read_columnar(in, "fuzz", 2);
  if (!r2 || !same(r->batch, r2->batch)) std::abort();
  // Keeping a column dictionary-encoded must not fail where decoding succeeded, and the
  // codes must index the kept values.
  for (const auto& f : r->file_schema->fields) {
    auto k = io::read_columnar(in, "fuzz", 1, nullptr, &f.name);
    if (!k) std::abort();
    if (!k->dictionary_values) continue;
    int c = k->batch.schema->field_index(f.name);
    const Column& codes = k->batch.columns[static_cast<size_t>(c)];
    for (int64_t i = 0; i < codes.size(); ++i) {
      if (!codes.is_valid(i)) continue;
      if (codes.int_at(i) < 0 || codes.int_at(i) >= k->dictionary_values->size()) std::abort();
      if (k->dictionary_values->string_at(codes.int_at(i)) !=
          r->batch.columns[static_cast<size_t>(c)].string_at(i))
        std::abort();
    }
  }
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  if (!f) return 0;
  Status st = io::write_columnar(f, r->batch, r->meta, "fuzz");
  std::fclose(f);
  if (!st.ok()) std::abort();
  auto back =
      io::read_columnar(std::span<const uint8_t>(reinterpret_cast<uint8_t*>(buf), len), "fuzz", 1);
  if (!back || !same(r->batch, back->batch)) std::abort();
  std::free(buf);
  return 0;
}
