// Kernels of the string functions (catalog: fenl/functions_string.cc).
#include <algorithm>
#include <climits>
#include <string>
#include <string_view>

#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

// Byte offset of the `ci`-th UTF-8 character of s (clamped to s.size()).
size_t utf8_offset(std::string_view s, int64_t ci) {
  size_t p = 0;
  while (ci > 0 && p < s.size()) {
    ++p;
    while (p < s.size() && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) ++p;
    --ci;
  }
  return p;
}

int64_t utf8_length(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Case mapping for the scripts most text uses (ASCII, Latin-1, Latin Extended-A, Greek,
// Cyrillic), including the full mapping of 'ß' to "SS"; other code points are unchanged.
uint32_t map_case(uint32_t c, bool up) {
  if (up) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 0x20;
    if (c == 0xFF) return 0x178;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & ~1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 0) ? c - 1 : c;
    if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? 0x3A3 : c - 0x20;
    if (c == 0x3AC) return 0x386;
    if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
    if (c >= 0x430 && c <= 0x44F) return c - 0x20;
    if (c >= 0x450 && c <= 0x45F) return c - 0x50;
    return c;
  }
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c == 0x178) return 0xFF;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1u;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

void convert_case(std::string_view s, bool up, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(up ? (b >= 'a' && b <= 'z' ? b - 32 : b)
                                  : (b >= 'A' && b <= 'Z' ? b + 32 : b));
      ++i;
      continue;
    }
    size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (len == 1 || i + len > s.size()) {  // invalid byte: copy through
      out += s[i++];
      continue;
    }
    uint32_t c = b & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    bool ok = true;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cb = static_cast<unsigned char>(s[i + k]);
      ok = ok && (cb & 0xC0) == 0x80;
      c = (c << 6) | (cb & 0x3F);
    }
    if (!ok) {
      out += s[i++];
      continue;
    }
    if (up && c == 0xDF) {
      out += "SS";
    } else {
      append_utf8(out, map_case(c, up));
    }
    i += len;
  }
}

Result<Column> len_kernel(const ColumnList& args, const Types& types, const Type& result) {
  Ctx x = make_ctx(args, types, result);
  Column out = result_column(x, {0});
  for (int64_t i = 0; i < x.n; ++i)
    out.ints()[static_cast<size_t>(i)] = static_cast<int64_t>(args[0].string_at(i).size());
  return out;
}

Column change_case(const ColumnList& args, bool up) {
  int64_t n = args.empty() ? 0 : args[0].size();
  Column out(DataType::of(TypeId::kString));
  std::string buf;
  for (int64_t i = 0; i < n; ++i) {
    if (!args[0].is_valid(i)) {
      out.append_null();
      continue;
    }
    std::string_view s = args[0].string_at(i);
    convert_case(s, up, buf);
    out.append_string(buf);
  }
  return out;
}

Result<Column> upper_kernel(const ColumnList& args, const Types&, const Type&) {
  return change_case(args, true);
}

Result<Column> lower_kernel(const ColumnList& args, const Types&, const Type&) {
  return change_case(args, false);
}

Result<Column> substring_kernel(const ColumnList& args, const Types&, const Type&) {
  int64_t n = args.empty() ? 0 : args[0].size();
  Column out(DataType::of(TypeId::kString));
  for (int64_t i = 0; i < n; ++i) {
    if (!args[0].is_valid(i)) {
      out.append_null();
      continue;
    }
    std::string_view s = args[0].string_at(i);
    int64_t len = utf8_length(s);
    auto norm = [&](const Column& c, int64_t dflt) -> int64_t {
      if (!c.is_valid(i)) return dflt;
      int64_t v = c.int_at(i);
      if (v < 0) v += len;
      if (v < 0) return INT64_MAX;
      return std::min(v, len);
    };
    int64_t b = norm(args[1], 0), e = norm(args[2], len);
    if (e == INT64_MAX) e = len;
    if (b == INT64_MAX || e <= b) {
      out.append_string("");
      continue;
    }
    size_t bo = utf8_offset(s, b), eo = utf8_offset(s, e);
    out.append_string(s.substr(bo, eo - bo));
  }
  return out;
}

constexpr KernelDef kString[] = {
    {"len", len_kernel},
    {"upper", upper_kernel},
    {"lower", lower_kernel},
    {"substring", substring_kernel},
};

}  // namespace

std::span<const KernelDef> string_kernels() {
  return kString;
}

}  // namespace tideline::engine
