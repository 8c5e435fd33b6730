#include "engine/kernels.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>

#include "common/time.h"
#include "fenl/hash.h"

namespace tideline::engine {

using fenl::Kind;
using fenl::Type;

Column alloc_column(const TypePtr& t, int64_t n) {
  Column c(t);
  switch (storage_of(t->id)) {
    case Storage::kInts:
      c.ints().assign(static_cast<size_t>(n), 0);
      break;
    case Storage::kFloats:
      c.floats().assign(static_cast<size_t>(n), 0.0);
      break;
    case Storage::kString:
      c.offsets().assign(static_cast<size_t>(n) + 1, 0);
      break;
    case Storage::kChildren:
      for (size_t f = 0; f < c.num_children(); ++f) c.child(f) = alloc_column(t->fields[f].type, n);
      break;
    case Storage::kNone:
      break;
  }
  c.set_size(n);
  return c;
}

namespace {

inline bool valid(const Column& c, int64_t i) {
  return c.is_valid(i);
}

void null_out(Column& c, int64_t i) {
  c.set_valid(i, false);
}

}  // namespace

Column gather(const Column& src, const std::vector<int32_t>& idx) {
  const int64_t n = static_cast<int64_t>(idx.size());
  Column out(src.type());
  switch (storage_of(src.type_id())) {
    case Storage::kInts: {
      auto& o = out.ints();
      o.resize(static_cast<size_t>(n));
      const auto& s = src.ints();
      for (int64_t i = 0; i < n; ++i)
        o[static_cast<size_t>(i)] = idx[static_cast<size_t>(i)] >= 0
                                        ? s[static_cast<size_t>(idx[static_cast<size_t>(i)])]
                                        : 0;
      break;
    }
    case Storage::kFloats: {
      auto& o = out.floats();
      o.resize(static_cast<size_t>(n));
      const auto& s = src.floats();
      for (int64_t i = 0; i < n; ++i)
        o[static_cast<size_t>(i)] = idx[static_cast<size_t>(i)] >= 0
                                        ? s[static_cast<size_t>(idx[static_cast<size_t>(i)])]
                                        : 0.0;
      break;
    }
    case Storage::kString: {
      auto& off = out.offsets();
      off.resize(static_cast<size_t>(n) + 1);
      auto& chars = out.chars();
      off[0] = 0;
      for (int64_t i = 0; i < n; ++i) {
        int32_t j = idx[static_cast<size_t>(i)];
        if (j >= 0 && src.is_valid(j)) chars.append(src.string_at(j));
        off[static_cast<size_t>(i) + 1] = static_cast<uint32_t>(chars.size());
      }
      break;
    }
    case Storage::kChildren:
      for (size_t f = 0; f < src.num_children(); ++f) out.child(f) = gather(src.child(f), idx);
      break;
    case Storage::kNone:
      break;
  }
  out.set_size(n);
  bool any_null = false;
  bool src_all = src.validity().empty() && src.type_id() != TypeId::kNull;
  for (int64_t i = 0; i < n && !any_null; ++i) {
    int32_t j = idx[static_cast<size_t>(i)];
    any_null = j < 0 || (!src_all && !src.is_valid(j));
  }
  if (any_null) {
    auto& v = out.validity();
    v.assign(static_cast<size_t>((n + 63) / 64), 0);
    for (int64_t i = 0; i < n; ++i) {
      int32_t j = idx[static_cast<size_t>(i)];
      if (j >= 0 && (src_all || src.is_valid(j)))
        v[static_cast<size_t>(i) >> 6] |= uint64_t{1} << (i & 63);
    }
  }
  return out;
}

Column broadcast(const Column& one, int64_t n) {
  std::vector<int32_t> idx(static_cast<size_t>(n), 0);
  return gather(one, idx);
}

Column literal_column(const Value& v, const Type& t) {
  Column c(fenl::physical_type(t));
  if (t.kind == Kind::kRecord) {
    for (size_t f = 0; f < c.num_children(); ++f) c.child(f).append_null();
    c.append_record_row(false);
    return c;
  }
  append_value(c, v);
  return c;
}

void and_validity(Column& out, const std::vector<const Column*>& ins) {
  const int64_t n = out.size();
  bool any = false;
  for (const Column* c : ins) any = any || !c->all_valid();
  if (!any) {
    out.validity().clear();
    return;
  }
  std::vector<uint64_t> v(static_cast<size_t>((n + 63) / 64), ~uint64_t{0});
  for (const Column* c : ins) {
    if (c->type_id() == TypeId::kNull) {
      std::fill(v.begin(), v.end(), 0);
      break;
    }
    if (c->validity().empty()) continue;
    for (size_t w = 0; w < v.size(); ++w) v[w] &= c->validity()[w];
  }
  if (n % 64 && !v.empty()) v.back() &= (uint64_t{1} << (n % 64)) - 1;
  out.validity() = std::move(v);
}

namespace {

int64_t wrap_int(int64_t v, Kind k) {
  switch (k) {
    case Kind::kI32:
      return static_cast<int32_t>(v);
    case Kind::kU32:
      return static_cast<uint32_t>(v);
    default:
      return v;
  }
}

bool fits(Kind k, __int128 v) {
  switch (k) {
    case Kind::kI32:
      return v >= INT32_MIN && v <= INT32_MAX;
    case Kind::kU32:
      return v >= 0 && v <= UINT32_MAX;
    case Kind::kI64:
      return v >= INT64_MIN && v <= INT64_MAX;
    case Kind::kU64:
      return v >= 0 && v <= static_cast<__int128>(UINT64_MAX);
    default:
      return true;
  }
}

__int128 as_wide(int64_t raw, Kind k) {
  if (k == Kind::kU64) return static_cast<__int128>(static_cast<uint64_t>(raw));
  return raw;
}

std::string format_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string format_int(int64_t v, Kind k) {
  if (k == Kind::kU64) return std::to_string(static_cast<uint64_t>(v));
  return std::to_string(v);
}

// Fills `out` row by row via `f(i) -> bool ok`; rows where f returns false become null.
template <typename F>
void fill_rows(Column& out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) {
    if (out.is_valid(i) && !f(i)) null_out(out, i);
  }
}

}  // namespace

Column cast_column(const Column& c, const Type& from, const Type& to) {
  const int64_t n = c.size();
  Kind f = from.kind, t = to.kind;
  TypePtr pt = fenl::physical_type(to);
  if (f == Kind::kNull) {
    Column out = alloc_column(pt, n);
    for (int64_t i = 0; i < n; ++i) null_out(out, i);
    return out;
  }
  if (t == Kind::kRecord) {
    // Record -> record with the same names (LUB): cast field by field in target order.
    Column out(pt);
    for (size_t i = 0; i < to.fields.size(); ++i) {
      int j = from.field_index(to.fields[i].name);
      out.child(i) = cast_column(c.child(static_cast<size_t>(j)),
                                 *from.fields[static_cast<size_t>(j)].type, *to.fields[i].type);
    }
    out.set_size(n);
    out.validity() = c.validity();
    return out;
  }
  if (t == Kind::kString) {
    Column out(pt);
    for (int64_t i = 0; i < n; ++i) {
      if (!c.is_valid(i)) {
        out.append_null();
        continue;
      }
      if (f == Kind::kString || f == Kind::kJson)
        out.append_string(c.string_at(i));
      else if (is_float_kind(f))
        out.append_string(format_float(c.float_at(i)));
      else if (f == Kind::kBool)
        out.append_string(c.int_at(i) ? "true" : "false");
      else if (f == Kind::kTimestamp)
        out.append_string(format_timestamp(c.int_at(i)));
      else
        out.append_string(format_int(c.int_at(i), f));
    }
    return out;
  }
  Column out = alloc_column(pt, n);
  out.validity() = c.validity();
  if (f == Kind::kString) {
    fill_rows(out, n, [&](int64_t i) {
      std::string_view s = c.string_at(i);
      if (t == Kind::kTimestamp) {
        auto ts = parse_timestamp(s);
        if (!ts) return false;
        out.ints()[static_cast<size_t>(i)] = *ts;
        return true;
      }
      if (t == Kind::kBool) {
        if (s == "true" || s == "TRUE" || s == "True")
          out.ints()[static_cast<size_t>(i)] = 1;
        else if (s == "false" || s == "FALSE" || s == "False")
          out.ints()[static_cast<size_t>(i)] = 0;
        else
          return false;
        return true;
      }
      if (is_float_kind(t)) {
        double d;
        auto r = std::from_chars(s.data(), s.data() + s.size(), d);
        if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
        out.floats()[static_cast<size_t>(i)] = t == Kind::kF32 ? static_cast<float>(d) : d;
        return true;
      }
      if (t == Kind::kU64) {
        uint64_t u;
        auto r = std::from_chars(s.data(), s.data() + s.size(), u);
        if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
        out.ints()[static_cast<size_t>(i)] = static_cast<int64_t>(u);
        return true;
      }
      int64_t v;
      auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !fits(t, v)) return false;
      out.ints()[static_cast<size_t>(i)] = v;
      return true;
    });
    return out;
  }
  bool from_float = is_float_kind(f);
  bool to_float = is_float_kind(t);
  // Scale between duration units (engine quirk: a cast to a coarser unit multiplies).
  int64_t scale = 1;
  if (fenl::is_duration(f) && fenl::is_duration(t)) {
    int64_t uf = fenl::duration_unit_ns(f), ut = fenl::duration_unit_ns(t);
    scale = uf >= ut ? uf / ut : ut / uf;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!out.is_valid(i)) continue;
    if (from_float) {
      double d = c.float_at(i);
      if (to_float) {
        out.floats()[static_cast<size_t>(i)] = t == Kind::kF32 ? static_cast<float>(d) : d;
      } else if (t == Kind::kBool) {
        out.ints()[static_cast<size_t>(i)] = d != 0.0;
      } else {
        if (!std::isfinite(d) || d >= 1.8e19 || d <= -9.3e18 ||
            !fits(t, static_cast<__int128>(std::trunc(d)))) {
          null_out(out, i);
        } else {
          out.ints()[static_cast<size_t>(i)] =
              static_cast<int64_t>(static_cast<__int128>(std::trunc(d)));
        }
      }
      continue;
    }
    int64_t raw = c.int_at(i);
    if (to_float) {
      double d = f == Kind::kU64 ? static_cast<double>(static_cast<uint64_t>(raw))
                                 : static_cast<double>(raw);
      out.floats()[static_cast<size_t>(i)] = t == Kind::kF32 ? static_cast<float>(d) : d;
      continue;
    }
    if (t == Kind::kBool) {
      out.ints()[static_cast<size_t>(i)] = raw != 0;
      continue;
    }
    __int128 w = as_wide(raw, f) * scale;
    if (fenl::is_int(t) && !fits(t, w)) {
      null_out(out, i);
      continue;
    }
    out.ints()[static_cast<size_t>(i)] = static_cast<int64_t>(w);
  }
  return out;
}

uint64_t hash_value_at(const Column& c, const Type& t, int64_t i) {
  if (!c.is_valid(i)) return 0;
  switch (t.kind) {
    case Kind::kString:
    case Kind::kJson:
      return fenl::hash_string(c.string_at(i));
    case Kind::kBool:
      return fenl::hash_int(static_cast<uint64_t>(c.int_at(i)), 8);
    case Kind::kI32:
    case Kind::kU32:
      return fenl::hash_int(static_cast<uint64_t>(c.int_at(i)), 32);
    case Kind::kF32:
      return fenl::hash_float(c.float_at(i), true);
    case Kind::kF64:
      return fenl::hash_float(c.float_at(i), false);
    case Kind::kRecord: {
      uint64_t h = 0;
      for (size_t f = 0; f < t.fields.size(); ++f) {
        h = (629 + hash_value_at(c.child(f), *t.fields[f].type, i)) * 37 + h;
      }
      return h;
    }
    case Kind::kNull:
      return 0;
    default:
      return fenl::hash_int(static_cast<uint64_t>(c.int_at(i)), 64);
  }
}

std::vector<uint64_t> hash_column(const Column& c, const Type& t) {
  std::vector<uint64_t> out(static_cast<size_t>(c.size()));
  for (int64_t i = 0; i < c.size(); ++i) out[static_cast<size_t>(i)] = hash_value_at(c, t, i);
  return out;
}

namespace {

// ---- helpers for call_kernel ----

struct Ctx {
  const ColumnList& args;
  const std::vector<fenl::TypeRef>& types;
  const Type& result;
  int64_t n;
};

Column result_column(const Ctx& x, std::initializer_list<size_t> null_from) {
  Column out = alloc_column(fenl::physical_type(x.result), x.n);
  std::vector<const Column*> ins;
  for (size_t a : null_from) ins.push_back(&x.args[a]);
  and_validity(out, ins);
  return out;
}

template <typename FI, typename FF>
Column arith(const Ctx& x, FI fi, FF ff) {
  Column out = result_column(x, {0, 1});
  const Column& a = x.args[0];
  const Column& b = x.args[1];
  Kind k = x.result.kind;
  if (fenl::is_float_kind(k)) {
    auto& o = out.floats();
    const auto& av = a.floats();
    const auto& bv = b.floats();
    for (int64_t i = 0; i < x.n; ++i)
      o[static_cast<size_t>(i)] = ff(av[static_cast<size_t>(i)], bv[static_cast<size_t>(i)]);
    if (k == Kind::kF32) {
      for (auto& v : o) v = static_cast<float>(v);
    }
  } else {
    auto& o = out.ints();
    const auto& av = a.ints();
    const auto& bv = b.ints();
    for (int64_t i = 0; i < x.n; ++i) {
      o[static_cast<size_t>(i)] =
          wrap_int(fi(av[static_cast<size_t>(i)], bv[static_cast<size_t>(i)]), k);
    }
  }
  return out;
}

// Three-way comparison of row i of two same-typed columns (ordered or equality types).
int compare_at(const Column& a, const Column& b, Kind k, int64_t i) {
  switch (k) {
    case Kind::kF32:
    case Kind::kF64: {
      // IEEE total order: NaN greatest, -0 < +0.
      auto key = [](double d) {
        int64_t bits = std::bit_cast<int64_t>(d);
        return bits ^ static_cast<int64_t>(static_cast<uint64_t>(bits >> 63) >> 1);
      };
      int64_t x = key(a.float_at(i)), y = key(b.float_at(i));
      return x < y ? -1 : x > y;
    }
    case Kind::kU64: {
      uint64_t x = static_cast<uint64_t>(a.int_at(i)), y = static_cast<uint64_t>(b.int_at(i));
      return x < y ? -1 : x > y;
    }
    case Kind::kString:
    case Kind::kJson: {
      auto x = a.string_at(i), y = b.string_at(i);
      return x < y ? -1 : x > y;
    }
    case Kind::kNull:
      return 0;
    default: {
      int64_t x = a.int_at(i), y = b.int_at(i);
      return x < y ? -1 : x > y;
    }
  }
}

bool record_equal(const Column& a, const Column& b, const Type& t, int64_t i) {
  for (size_t f = 0; f < t.fields.size(); ++f) {
    bool va = a.child(f).is_valid(i), vb = b.child(f).is_valid(i);
    if (va != vb) return false;
    if (!va) continue;
    const Type& ft = *t.fields[f].type;
    if (ft.kind == Kind::kRecord) {
      if (!record_equal(a.child(f), b.child(f), ft, i)) return false;
    } else if (compare_at(a.child(f), b.child(f), ft.kind, i) != 0) {
      return false;
    }
  }
  return true;
}

template <typename P>
Column compare(const Ctx& x, P pred) {
  Column out = result_column(x, {0, 1});
  Kind k = x.types[0]->kind;
  auto& o = out.ints();
  for (int64_t i = 0; i < x.n; ++i) {
    int c = k == Kind::kRecord ? (record_equal(x.args[0], x.args[1], *x.types[0], i) ? 0 : 1)
                               : compare_at(x.args[0], x.args[1], k, i);
    o[static_cast<size_t>(i)] = pred(c);
  }
  return out;
}

template <typename FI, typename FF>
Column unary_num(const Ctx& x, FI fi, FF ff) {
  Column out = result_column(x, {0});
  Kind k = x.result.kind;
  const Column& a = x.args[0];
  if (fenl::is_float_kind(k)) {
    for (int64_t i = 0; i < x.n; ++i) out.floats()[static_cast<size_t>(i)] = ff(a.float_at(i));
  } else {
    for (int64_t i = 0; i < x.n; ++i)
      out.ints()[static_cast<size_t>(i)] = wrap_int(fi(a.int_at(i)), k);
  }
  return out;
}

template <typename F>
Column time_part(const Ctx& x, F f) {
  Column out = result_column(x, {0});
  for (int64_t i = 0; i < x.n; ++i) {
    int64_t t = x.args[0].int_at(i);
    int64_t days = floor_div(t, kNanosPerDay);
    CivilDate cd = civil_from_days(days);
    out.ints()[static_cast<size_t>(i)] = f(cd, days);
  }
  return out;
}

int64_t add_months(int64_t t, int64_t months) {
  int64_t days = floor_div(t, kNanosPerDay);
  int64_t rem = t - days * kNanosPerDay;
  CivilDate cd = civil_from_days(days);
  int64_t m0 = cd.year * 12 + (cd.month - 1) + months;
  int64_t y = floor_div(m0, 12);
  unsigned m = static_cast<unsigned>(m0 - y * 12 + 1);
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned dim = kDays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) dim = 29;
  unsigned d = std::min(cd.day, dim);
  return days_from_civil(y, m, d) * kNanosPerDay + rem;
}

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

// Minimal JSON scanner: finds top-level field `name` of an object and renders its value
// (strings unquoted). Returns false when not found or the text is not a JSON object.
struct JsonScan {
  std::string_view s;
  size_t p = 0;
  void ws() {
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
  }
  bool string(std::string* out) {
    if (p >= s.size() || s[p] != '"') return false;
    ++p;
    while (p < s.size() && s[p] != '"') {
      if (s[p] == '\\') {
        if (p + 1 >= s.size()) return false;
        char e = s[p + 1];
        if (out) {
          switch (e) {
            case 'n':
              *out += '\n';
              break;
            case 't':
              *out += '\t';
              break;
            case 'r':
              *out += '\r';
              break;
            case 'b':
              *out += '\b';
              break;
            case 'f':
              *out += '\f';
              break;
            default:
              *out += e;
          }
        }
        p += 2;
        continue;
      }
      if (out) *out += s[p];
      ++p;
    }
    if (p >= s.size()) return false;
    ++p;
    return true;
  }
  bool value(int depth = 0) {
    if (depth > 64) return false;
    ws();
    if (p >= s.size()) return false;
    char c = s[p];
    if (c == '"') return string(nullptr);
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++p;
      ws();
      if (p < s.size() && s[p] == close) {
        ++p;
        return true;
      }
      for (;;) {
        ws();
        if (c == '{') {
          if (!string(nullptr)) return false;
          ws();
          if (p >= s.size() || s[p] != ':') return false;
          ++p;
        }
        if (!value(depth + 1)) return false;
        ws();
        if (p < s.size() && s[p] == ',') {
          ++p;
          continue;
        }
        if (p < s.size() && s[p] == close) {
          ++p;
          return true;
        }
        return false;
      }
    }
    size_t b = p;
    while (p < s.size() && s[p] != ',' && s[p] != '}' && s[p] != ']' && s[p] != ' ' && s[p] != '\n')
      ++p;
    std::string_view tok = s.substr(b, p - b);
    if (tok == "true" || tok == "false" || tok == "null") return true;
    if (tok.empty()) return false;
    double d;
    auto r = std::from_chars(tok.data(), tok.data() + tok.size(), d);
    return r.ec == std::errc() && r.ptr == tok.data() + tok.size();
  }
  bool field(std::string_view name, std::string* out, bool* is_null) {
    ws();
    if (p >= s.size() || s[p] != '{') return false;
    ++p;
    ws();
    if (p < s.size() && s[p] == '}') return false;
    bool found = false;
    for (;;) {
      ws();
      std::string key;
      if (!string(&key)) return false;
      ws();
      if (p >= s.size() || s[p] != ':') return false;
      ++p;
      ws();
      size_t b = p;
      if (!value()) return false;
      if (key == name && !found) {
        found = true;
        std::string_view raw = s.substr(b, p - b);
        if (!raw.empty() && raw[0] == '"') {
          out->clear();
          size_t save = p;
          p = b;
          string(out);
          p = save;
        } else {
          *out = std::string(raw);
          *is_null = raw == "null";
        }
      }
      ws();
      if (p < s.size() && s[p] == ',') {
        ++p;
        continue;
      }
      if (p < s.size() && s[p] == '}') {
        ++p;
        ws();
        return found && p == s.size();
      }
      return false;
    }
  }
};

}  // namespace

Result<Column> call_kernel(std::string_view fn, const ColumnList& args,
                           const std::vector<fenl::TypeRef>& types, const Type& result) {
  int64_t n = args.empty() ? 0 : args[0].size();
  if (result.kind == Kind::kNull) {  // every input was the null literal
    Column out(DataType::of(TypeId::kNull));
    out.set_size(n);
    return out;
  }
  Ctx x{args, types, result, n};
  Kind rk = result.kind;
  auto as_u = [](int64_t v) { return static_cast<uint64_t>(v); };
  if (fn == "add") {
    return arith(
        x, [&](int64_t a, int64_t b) { return static_cast<int64_t>(as_u(a) + as_u(b)); },
        [](double a, double b) { return a + b; });
  }
  if (fn == "sub") {
    return arith(
        x, [&](int64_t a, int64_t b) { return static_cast<int64_t>(as_u(a) - as_u(b)); },
        [](double a, double b) { return a - b; });
  }
  if (fn == "mul") {
    return arith(
        x, [&](int64_t a, int64_t b) { return static_cast<int64_t>(as_u(a) * as_u(b)); },
        [](double a, double b) { return a * b; });
  }
  if (fn == "div") {
    Column out = arith(
        x,
        [&](int64_t a, int64_t b) -> int64_t {
          if (b == 0) return 0;
          if (rk == Kind::kU64) return static_cast<int64_t>(as_u(a) / as_u(b));
          if (b == -1) return static_cast<int64_t>(0 - as_u(a));
          return a / b;
        },
        [](double a, double b) { return a / b; });
    if (!fenl::is_float_kind(rk)) {
      for (int64_t i = 0; i < n; ++i) {
        if (out.is_valid(i) && args[1].int_at(i) == 0) null_out(out, i);
      }
    }
    return out;
  }
  if (fn == "neg") {
    return unary_num(
        x, [](int64_t a) { return static_cast<int64_t>(0 - static_cast<uint64_t>(a)); },
        [](double a) { return -a; });
  }
  if (fn == "ceil")
    return unary_num(
        x, [](int64_t a) { return a; }, [](double a) { return std::ceil(a); });
  if (fn == "floor")
    return unary_num(
        x, [](int64_t a) { return a; }, [](double a) { return std::floor(a); });
  if (fn == "round")
    return unary_num(
        x, [](int64_t a) { return a; }, [](double a) { return std::round(a); });
  if (fn == "exp")
    return unary_num(
        x, [](int64_t a) { return a; }, [](double a) { return std::exp(a); });
  if (fn == "sqrt") {
    Column out = result_column(x, {0});
    for (int64_t i = 0; i < n; ++i) {
      double v = fenl::is_float_kind(types[0]->kind) ? args[0].float_at(i)
                 : types[0]->kind == Kind::kU64
                     ? static_cast<double>(static_cast<uint64_t>(args[0].int_at(i)))
                     : static_cast<double>(args[0].int_at(i));
      out.floats()[static_cast<size_t>(i)] = std::pow(v, 0.5);
    }
    return out;
  }
  if (fn == "powf")
    return arith(
        x, [](int64_t a, int64_t) { return a; }, [](double a, double b) { return std::pow(a, b); });
  if (fn == "clamp") {
    Column out = result_column(x, {0});
    bool fl = fenl::is_float_kind(rk);
    for (int64_t i = 0; i < n; ++i) {
      if (!out.is_valid(i)) continue;
      bool has_min = args[1].is_valid(i), has_max = args[2].is_valid(i);
      if (has_min && has_max && compare_at(args[1], args[2], rk, i) > 0) {
        null_out(out, i);
        continue;
      }
      const Column* pick = &args[0];
      if (has_min && compare_at(args[0], args[1], rk, i) < 0) pick = &args[1];
      if (has_max && compare_at(*pick, args[2], rk, i) > 0) pick = &args[2];
      if (fl)
        out.floats()[static_cast<size_t>(i)] = pick->float_at(i);
      else
        out.ints()[static_cast<size_t>(i)] = pick->int_at(i);
    }
    return out;
  }
  if (fn == "zip_min" || fn == "zip_max") {
    bool is_min = fn == "zip_min";
    Column out = result_column(x, {0, 1});
    bool fl = fenl::is_float_kind(rk);
    for (int64_t i = 0; i < n; ++i) {
      if (!out.is_valid(i)) continue;
      bool take_a;
      if (fl) {
        double a = args[0].float_at(i), b = args[1].float_at(i);
        take_a = is_min ? a < b : a > b;
        out.floats()[static_cast<size_t>(i)] = take_a ? a : b;
      } else {
        int c = compare_at(args[0], args[1], rk, i);
        take_a = is_min ? c < 0 : c > 0;
        out.ints()[static_cast<size_t>(i)] = take_a ? args[0].int_at(i) : args[1].int_at(i);
      }
    }
    return out;
  }
  if (fn == "eq") return compare(x, [](int c) { return c == 0; });
  if (fn == "neq") return compare(x, [](int c) { return c != 0; });
  if (fn == "lt") return compare(x, [](int c) { return c < 0; });
  if (fn == "lte") return compare(x, [](int c) { return c <= 0; });
  if (fn == "gt") return compare(x, [](int c) { return c > 0; });
  if (fn == "gte") return compare(x, [](int c) { return c >= 0; });
  if (fn == "not")
    return unary_num(
        x, [](int64_t a) { return static_cast<int64_t>(a == 0); }, [](double a) { return a; });
  if (fn == "logical_and" || fn == "logical_or") {
    bool is_and = fn == "logical_and";
    Column out = alloc_column(DataType::of(TypeId::kBool), n);
    for (int64_t i = 0; i < n; ++i) {
      bool va = args[0].is_valid(i), vb = args[1].is_valid(i);
      bool a = va && args[0].int_at(i), b = vb && args[1].int_at(i);
      if (va && vb) {
        out.ints()[static_cast<size_t>(i)] = is_and ? (a && b) : (a || b);
      } else if (is_and && ((va && !a) || (vb && !b))) {
        out.ints()[static_cast<size_t>(i)] = 0;
      } else if (!is_and && ((va && a) || (vb && b))) {
        out.ints()[static_cast<size_t>(i)] = 1;
      } else {
        null_out(out, i);
      }
    }
    return out;
  }
  if (fn == "if" || fn == "null_if") {
    bool want = fn == "if";
    std::vector<int32_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      bool cv = args[0].is_valid(i);
      bool keep = cv && ((args[0].int_at(i) != 0) == want);
      idx[static_cast<size_t>(i)] = keep ? static_cast<int32_t>(i) : -1;
    }
    return gather(args[1], idx);
  }
  if (fn == "else" || fn == "coalesce") {
    // else(default, value) == coalesce(value, default)
    std::vector<const Column*> order;
    if (fn == "else")
      order = {&args[1], &args[0]};
    else
      for (size_t a = 0; a < args.size(); ++a) order.push_back(&args[a]);
    Column out(fenl::physical_type(result));
    for (int64_t i = 0; i < n; ++i) {
      const Column* pick = nullptr;
      for (const Column* c : order) {
        if (c->type_id() != TypeId::kNull && c->is_valid(i)) {
          pick = c;
          break;
        }
      }
      if (pick)
        out.append_from(*pick, i);
      else if (result.kind == Kind::kRecord) {
        for (size_t f = 0; f < out.num_children(); ++f) out.child(f).append_null();
        out.append_record_row(false);
      } else
        out.append_null();
    }
    return out;
  }
  if (fn == "is_valid") {
    Column out = alloc_column(DataType::of(TypeId::kBool), n);
    for (int64_t i = 0; i < n; ++i) out.ints()[static_cast<size_t>(i)] = args[0].is_valid(i);
    return out;
  }
  if (fn == "hash") {
    Column out = alloc_column(DataType::of(TypeId::kU64), n);
    for (int64_t i = 0; i < n; ++i)
      out.ints()[static_cast<size_t>(i)] =
          static_cast<int64_t>(hash_value_at(args[0], *types[0], i));
    return out;
  }
  // Time.
  if (fn == "year") return time_part(x, [](const CivilDate& c, int64_t) { return c.year; });
  if (fn == "month_of_year")
    return time_part(x, [](const CivilDate& c, int64_t) { return c.month; });
  if (fn == "month_of_year0")
    return time_part(x, [](const CivilDate& c, int64_t) { return c.month - 1; });
  if (fn == "day_of_month") return time_part(x, [](const CivilDate& c, int64_t) { return c.day; });
  if (fn == "day_of_month0")
    return time_part(x, [](const CivilDate& c, int64_t) { return c.day - 1; });
  if (fn == "day_of_year" || fn == "day_of_year0") {
    int64_t base = fn == "day_of_year" ? 1 : 0;
    return time_part(x, [base](const CivilDate& c, int64_t days) {
      return days - days_from_civil(c.year, 1, 1) + base;
    });
  }
  if (fn == "seconds") {
    Column out = result_column(x, {0});
    for (int64_t i = 0; i < n; ++i) out.ints()[static_cast<size_t>(i)] = args[0].int_at(i);
    return out;
  }
  if (fn == "days" || fn == "months") {
    Column out = result_column(x, {0});
    int64_t lo = fn == "days" ? 0 : INT32_MIN;
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = args[0].int_at(i);
      out.ints()[static_cast<size_t>(i)] = v;
      if (out.is_valid(i) && (v < lo || v > INT32_MAX)) null_out(out, i);
    }
    return out;
  }
  if (fn == "add_time") {
    Column out = result_column(x, {0, 1});
    Kind dk = types[0]->kind;
    for (int64_t i = 0; i < n; ++i) {
      if (!out.is_valid(i)) continue;
      int64_t d = args[0].int_at(i), t = args[1].int_at(i);
      int64_t r = 0;
      bool overflow = false;
      if (dk == Kind::kIntervalMonths) {
        // Beyond ±100000 years the civil arithmetic below is out of range anyway.
        overflow = d > 1'200'000 || d < -1'200'000;
        if (!overflow) r = add_months(t, d);
      } else {
        int64_t unit = dk == Kind::kIntervalDays ? kNanosPerDay : fenl::duration_unit_ns(dk);
        int64_t delta;
        overflow = __builtin_mul_overflow(d, unit, &delta) || __builtin_add_overflow(t, delta, &r);
      }
      if (overflow) {
        null_out(out, i);
        continue;
      }
      out.ints()[static_cast<size_t>(i)] = r;
    }
    return out;
  }
  if (fn == "seconds_between" || fn == "days_between" || fn == "months_between") {
    Column out = result_column(x, {0, 1});
    for (int64_t i = 0; i < n; ++i) {
      int64_t a = args[0].int_at(i), b = args[1].int_at(i);
      int64_t r;
      int64_t diff = 0;
      if (fn != "months_between" && __builtin_sub_overflow(b, a, &diff)) {
        null_out(out, i);
        continue;
      }
      if (fn == "seconds_between")
        r = diff / kNanosPerSecond;
      else if (fn == "days_between")
        r = diff / kNanosPerDay;
      else {
        CivilDate ca = civil_from_days(floor_div(a, kNanosPerDay));
        CivilDate cb = civil_from_days(floor_div(b, kNanosPerDay));
        r = (cb.year - ca.year) * 12 +
            (static_cast<int64_t>(cb.month) - static_cast<int64_t>(ca.month));
      }
      out.ints()[static_cast<size_t>(i)] = r;
    }
    return out;
  }
  // Strings.
  if (fn == "len") {
    Column out = result_column(x, {0});
    for (int64_t i = 0; i < n; ++i)
      out.ints()[static_cast<size_t>(i)] = static_cast<int64_t>(args[0].string_at(i).size());
    return out;
  }
  if (fn == "upper" || fn == "lower" || fn == "substring") {
    Column out(DataType::of(TypeId::kString));
    std::string buf;
    for (int64_t i = 0; i < n; ++i) {
      if (!args[0].is_valid(i)) {
        out.append_null();
        continue;
      }
      std::string_view s = args[0].string_at(i);
      if (fn == "substring") {
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
        continue;
      }
      convert_case(s, fn == "upper", buf);
      out.append_string(buf);
    }
    return out;
  }
  if (fn == "json") {
    Column out = args[0];
    return out;
  }
  return error(StatusCode::kUnimplemented, "function '" + std::string(fn) + "' has no kernel");
}

// Exposed for field access on json values.
Column json_field(const Column& c, std::string_view name);
Column json_field(const Column& c, std::string_view name) {
  Column out(DataType::of(TypeId::kString));
  for (int64_t i = 0; i < c.size(); ++i) {
    if (!c.is_valid(i)) {
      out.append_null();
      continue;
    }
    JsonScan js{c.string_at(i)};
    std::string v;
    bool is_null = false;
    if (js.field(name, &v, &is_null) && !is_null)
      out.append_string(v);
    else
      out.append_null();
  }
  return out;
}

}  // namespace tideline::engine
