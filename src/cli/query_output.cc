#include "cli/query_output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/time.h"

namespace tideline::cli {

namespace {

constexpr int64_t kChunkRows = 1 << 17;

enum class CellKind : uint8_t { kBool, kInt, kUInt, kFloat, kString, kTimestamp, kNull, kDict };

bool kind_of(TypeId id, CellKind& k) {
  switch (id) {
    case TypeId::kBool:
      k = CellKind::kBool;
      return true;
    case TypeId::kI32:
    case TypeId::kI64:
    case TypeId::kU32:
    case TypeId::kDuration:
      k = CellKind::kInt;
      return true;
    case TypeId::kU64:
      k = CellKind::kUInt;
      return true;
    case TypeId::kF32:
    case TypeId::kF64:
      k = CellKind::kFloat;
      return true;
    case TypeId::kString:
      k = CellKind::kString;
      return true;
    case TypeId::kTimestamp:
      k = CellKind::kTimestamp;
      return true;
    case TypeId::kNull:
      k = CellKind::kNull;
      return true;
    default:
      return false;
  }
}

constexpr char kDigits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

inline char* put2(char* p, unsigned v) {
  std::memcpy(p, kDigits2 + 2 * v, 2);
  return p + 2;
}

// Formats timestamps, reusing the date part while consecutive values share a day.
class TimestampFormatter {
 public:
  char* put(char* p, int64_t ts) {
    int64_t days = floor_div(ts, kNanosPerDay);
    if (days != days_) {
      days_ = days;
      CivilDate c = civil_from_days(days);
      // Years are 1677..2262 for int64 nanoseconds: always four digits.
      unsigned y = static_cast<unsigned>(c.year);
      put2(put2(date_, y / 100), y % 100);
      date_[4] = '-';
      put2(date_ + 5, c.month);
      date_[7] = '-';
      put2(date_ + 8, c.day);
      date_[10] = 'T';
    }
    std::memcpy(p, date_, 11);
    p += 11;
    int64_t rem = ts - days * kNanosPerDay;
    unsigned secs = static_cast<unsigned>(rem / kNanosPerSecond);
    unsigned nanos = static_cast<unsigned>(rem % kNanosPerSecond);
    p = put2(p, secs / 3600);
    *p++ = ':';
    p = put2(p, secs / 60 % 60);
    *p++ = ':';
    p = put2(p, secs % 60);
    *p++ = '.';
    // 9 digits: 1 + 4 pairs.
    *p++ = static_cast<char>('0' + nanos / 100000000);
    nanos %= 100000000;
    p = put2(p, nanos / 1000000);
    p = put2(p, nanos / 10000 % 100);
    p = put2(p, nanos / 100 % 100);
    p = put2(p, nanos % 100);
    *p++ = 'Z';
    return p;
  }

 private:
  int64_t days_ = INT64_MIN;
  char date_[11] = {};
};

char* put_double(char* p, double d) {
  if (std::isnan(d)) {
    std::memcpy(p, "NaN", 3);
    return p + 3;
  }
  if (std::isinf(d)) {
    const char* s = d > 0 ? "inf" : "-inf";
    size_t n = std::strlen(s);
    std::memcpy(p, s, n);
    return p + n;
  }
  char* start = p;
  p = fmt::format_to(p, "{}", d);
  bool has = false;
  for (char* q = start; q < p; ++q) {
    char ch = *q;
    if (ch == '.' || ch == 'e' || ch == 'E' || ch == 'n') {
      has = true;
      break;
    }
  }
  if (!has) {
    *p++ = '.';
    *p++ = '0';
  }
  return p;
}

bool needs_quotes(std::string_view s) {
  for (char ch : s) {
    if (ch == ',' || ch == '"' || ch == '\n' || ch == '\r') return true;
  }
  return false;
}

struct ColView {
  const Column* col;
  CellKind kind;
  const Column* dict = nullptr;  // kDict: the strings the u32 values index
};

void put_string(char*& p, std::string_view s) {
  if (!needs_quotes(s)) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  } else {
    *p++ = '"';
    for (char ch : s) {
      if (ch == '"') *p++ = '"';
      *p++ = ch;
    }
    *p++ = '"';
  }
}

// Formats rows [from, to) into `buf` (replaced).
void format_rows(const std::vector<ColView>& cols, int64_t from, int64_t to, std::string& buf) {
  // Upper bound per row for the fixed-width kinds; strings are sized exactly.
  size_t bound = 0;
  for (const auto& c : cols) {
    if (c.kind == CellKind::kString) {
      const auto& off = c.col->offsets();
      bound += 2 * (off[static_cast<size_t>(to)] - off[static_cast<size_t>(from)]) +
               3 * static_cast<size_t>(to - from);
    } else if (c.kind == CellKind::kDict) {
      size_t longest = 0;
      const auto& off = c.dict->offsets();
      for (size_t i = 0; i + 1 < off.size(); ++i)
        longest = std::max<size_t>(longest, off[i + 1] - off[i]);
      bound += (2 * longest + 3) * static_cast<size_t>(to - from);
    } else {
      bound += 40 * static_cast<size_t>(to - from);
    }
  }
  bound += cols.size() * static_cast<size_t>(to - from) + 64;
  buf.resize(bound);
  char* p = buf.data();
  TimestampFormatter tsf;
  for (int64_t r = from; r < to; ++r) {
    for (size_t ci = 0; ci < cols.size(); ++ci) {
      if (ci) *p++ = ',';
      const Column& c = *cols[ci].col;
      if (!c.is_valid(r)) continue;
      switch (cols[ci].kind) {
        case CellKind::kBool:
          if (c.int_at(r)) {
            std::memcpy(p, "true", 4);
            p += 4;
          } else {
            std::memcpy(p, "false", 5);
            p += 5;
          }
          break;
        case CellKind::kInt:
          p = std::to_chars(p, p + 24, c.int_at(r)).ptr;
          break;
        case CellKind::kUInt:
          p = std::to_chars(p, p + 24, static_cast<uint64_t>(c.int_at(r))).ptr;
          break;
        case CellKind::kFloat:
          p = put_double(p, c.float_at(r));
          break;
        case CellKind::kTimestamp:
          p = tsf.put(p, c.int_at(r));
          break;
        case CellKind::kString:
          put_string(p, c.string_at(r));
          break;
        case CellKind::kDict: {
          const Column& d = *cols[ci].dict;
          int64_t k = c.int_at(r);
          if (k >= 0 && k < d.size() && d.is_valid(k)) put_string(p, d.string_at(k));
          break;
        }
        case CellKind::kNull:
          break;
      }
    }
    *p++ = '\n';
  }
  buf.resize(static_cast<size_t>(p - buf.data()));
}

Status write_all(std::FILE* out, const std::string& s) {
  if (!s.empty() && std::fwrite(s.data(), 1, s.size(), out) != s.size())
    return io_error(std::string("writing the result failed: ") + std::strerror(errno));
  return {};
}

}  // namespace

bool csv_fast_supported(const Batch& b) {
  CellKind k;
  for (const auto& c : b.columns) {
    if (!kind_of(c.type_id(), k)) return false;
  }
  return true;
}

Status write_csv_fast(const Batch& b, std::FILE* out, int threads,
                      std::span<const Column* const> dictionaries) {
  std::vector<ColView> cols;
  for (size_t i = 0; i < b.columns.size(); ++i) {
    const Column& c = b.columns[i];
    const Column* dict = dictionaries.empty() ? nullptr : dictionaries[i];
    if (dict) {
      if (c.type_id() != TypeId::kU32 || dict->type_id() != TypeId::kString)
        return invalid_argument("write_csv_fast: a dictionary needs u32 indexes and strings");
      cols.push_back({&c, CellKind::kDict, dict});
      continue;
    }
    CellKind k;
    if (!kind_of(c.type_id(), k))
      return invalid_argument("write_csv_fast: unsupported column type");
    cols.push_back({&c, k});
  }
  std::string head;
  for (size_t c = 0; c < b.schema->fields.size(); ++c) {
    const std::string& name = b.schema->fields[c].name;
    if (c) head += ',';
    if (needs_quotes(name)) {
      head += '"';
      for (char ch : name) {
        if (ch == '"') head += '"';
        head += ch;
      }
      head += '"';
    } else {
      head += name;
    }
  }
  head += '\n';
  TL_RETURN_IF_ERROR(write_all(out, head));
  const int64_t n = b.num_rows;
  std::string a, z;
  if (threads <= 1 || n < 2 * kChunkRows) {
    for (int64_t from = 0; from < n; from += kChunkRows) {
      format_rows(cols, from, std::min(n, from + kChunkRows), a);
      TL_RETURN_IF_ERROR(write_all(out, a));
    }
    return {};
  }
  // Two chunks at a time: the helper thread formats the second while this thread formats
  // the first; both are written in order. The previous pair's write overlaps nothing, but
  // writing to a file is a memcpy into the page cache, much cheaper than formatting.
  for (int64_t from = 0; from < n; from += 2 * kChunkRows) {
    int64_t mid = std::min(n, from + kChunkRows), to = std::min(n, from + 2 * kChunkRows);
    std::thread helper;
    if (mid < to) helper = std::thread([&] { format_rows(cols, mid, to, z); });
    format_rows(cols, from, mid, a);
    if (helper.joinable()) helper.join();
    TL_RETURN_IF_ERROR(write_all(out, a));
    if (mid < to) TL_RETURN_IF_ERROR(write_all(out, z));
  }
  return {};
}

}  // namespace tideline::cli
