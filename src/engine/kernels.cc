#include "engine/kernels.h"

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

}  // namespace tideline::engine
