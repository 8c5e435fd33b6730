#include "fenl/types.h"

#include <array>

namespace tideline::fenl {

TypeRef Type::of(Kind k) {
  static const auto kTypes = [] {
    std::array<TypeRef, static_cast<size_t>(Kind::kWindow) + 1> a;
    for (size_t i = 0; i < a.size(); ++i) {
      auto t = std::make_shared<Type>();
      t->kind = static_cast<Kind>(i);
      a[i] = t;
    }
    return a;
  }();
  return kTypes[static_cast<size_t>(k)];
}

TypeRef Type::record(std::vector<TypeField> fields) {
  auto t = std::make_shared<Type>();
  t->kind = Kind::kRecord;
  t->fields = std::move(fields);
  return t;
}

int Type::field_index(std::string_view name) const {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string Type::to_string() const {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "bool";
    case Kind::kI32:
      return "i32";
    case Kind::kI64:
      return "i64";
    case Kind::kU32:
      return "u32";
    case Kind::kU64:
      return "u64";
    case Kind::kF32:
      return "f32";
    case Kind::kF64:
      return "f64";
    case Kind::kString:
      return "string";
    case Kind::kTimestamp:
      return "timestamp_ns";
    case Kind::kDurationS:
      return "duration_s";
    case Kind::kDurationMs:
      return "duration_ms";
    case Kind::kDurationUs:
      return "duration_us";
    case Kind::kDurationNs:
      return "duration_ns";
    case Kind::kIntervalDays:
      return "interval_days";
    case Kind::kIntervalMonths:
      return "interval_months";
    case Kind::kJson:
      return "json";
    case Kind::kWindow:
      return "window";
    case Kind::kRecord: {
      std::string s = "{";
      for (size_t i = 0; i < fields.size(); ++i) {
        if (i) s += ", ";
        s += fields[i].name + ": " + fields[i].type->to_string();
      }
      return s + "}";
    }
  }
  return "?";
}

bool same_type(const Type& a, const Type& b) {
  if (a.kind != b.kind) return false;
  if (a.kind != Kind::kRecord) return true;
  if (a.fields.size() != b.fields.size()) return false;
  for (size_t i = 0; i < a.fields.size(); ++i) {
    if (a.fields[i].name != b.fields[i].name || !same_type(*a.fields[i].type, *b.fields[i].type)) {
      return false;
    }
  }
  return true;
}

bool is_key_type(const Type& t) {
  if (t.kind == Kind::kRecord) {
    for (const auto& f : t.fields) {
      if (!is_key_type(*f.type)) return false;
    }
    return true;
  }
  return t.kind == Kind::kBool || is_number(t.kind) || t.kind == Kind::kString ||
         t.kind == Kind::kTimestamp || is_duration(t.kind) || t.kind == Kind::kNull;
}

int64_t duration_unit_ns(Kind k) {
  switch (k) {
    case Kind::kDurationS:
      return 1'000'000'000;
    case Kind::kDurationMs:
      return 1'000'000;
    case Kind::kDurationUs:
      return 1'000;
    default:
      return 1;
  }
}

TypePtr physical_type(const Type& t) {
  switch (t.kind) {
    case Kind::kNull:
      return DataType::of(TypeId::kNull);
    case Kind::kBool:
      return DataType::of(TypeId::kBool);
    case Kind::kI32:
      return DataType::of(TypeId::kI32);
    case Kind::kI64:
      return DataType::of(TypeId::kI64);
    case Kind::kU32:
      return DataType::of(TypeId::kU32);
    case Kind::kU64:
      return DataType::of(TypeId::kU64);
    case Kind::kF32:
      return DataType::of(TypeId::kF32);
    case Kind::kF64:
      return DataType::of(TypeId::kF64);
    case Kind::kString:
    case Kind::kJson:
      return DataType::of(TypeId::kString);
    case Kind::kTimestamp:
      return DataType::of(TypeId::kTimestamp);
    case Kind::kDurationS:
    case Kind::kDurationMs:
    case Kind::kDurationUs:
    case Kind::kDurationNs:
      return DataType::of(TypeId::kDuration);
    case Kind::kIntervalDays:
    case Kind::kIntervalMonths:
    case Kind::kWindow:
      return DataType::of(TypeId::kI64);
    case Kind::kRecord: {
      std::vector<Field> fs;
      fs.reserve(t.fields.size());
      for (const auto& f : t.fields) fs.push_back({f.name, physical_type(*f.type)});
      return DataType::record(std::move(fs));
    }
  }
  return DataType::of(TypeId::kNull);
}

TypeRef logical_type(const DataType& t) {
  switch (t.id) {
    case TypeId::kNull:
      return Type::of(Kind::kNull);
    case TypeId::kBool:
      return Type::of(Kind::kBool);
    case TypeId::kI32:
      return Type::of(Kind::kI32);
    case TypeId::kI64:
      return Type::of(Kind::kI64);
    case TypeId::kU32:
      return Type::of(Kind::kU32);
    case TypeId::kU64:
      return Type::of(Kind::kU64);
    case TypeId::kF32:
      return Type::of(Kind::kF32);
    case TypeId::kF64:
      return Type::of(Kind::kF64);
    case TypeId::kString:
      return Type::of(Kind::kString);
    case TypeId::kTimestamp:
      return Type::of(Kind::kTimestamp);
    case TypeId::kDuration:
      return Type::of(Kind::kDurationNs);
    case TypeId::kRecord: {
      std::vector<TypeField> fs;
      for (const auto& f : t.fields) fs.push_back({f.name, logical_type(*f.type)});
      return Type::record(std::move(fs));
    }
  }
  return Type::of(Kind::kNull);
}

namespace {

struct TypeName {
  std::string_view name;
  Kind kind;
};
constexpr TypeName kTypeNames[] = {
    {"bool", Kind::kBool},
    {"i32", Kind::kI32},
    {"i64", Kind::kI64},
    {"u32", Kind::kU32},
    {"u64", Kind::kU64},
    {"f32", Kind::kF32},
    {"f64", Kind::kF64},
    {"string", Kind::kString},
    {"large_string", Kind::kString},
    {"timestamp_s", Kind::kTimestamp},
    {"timestamp_ms", Kind::kTimestamp},
    {"timestamp_us", Kind::kTimestamp},
    {"timestamp_ns", Kind::kTimestamp},
    {"duration_s", Kind::kDurationS},
    {"duration_ms", Kind::kDurationMs},
    {"duration_us", Kind::kDurationUs},
    {"duration_ns", Kind::kDurationNs},
    {"interval_days", Kind::kIntervalDays},
    {"interval_months", Kind::kIntervalMonths},
};

}  // namespace

TypeRef parse_type_name(std::string_view n) {
  for (const auto& e : kTypeNames) {
    if (e.name == n) return Type::of(e.kind);
  }
  return nullptr;
}

std::vector<std::string> type_names() {
  std::vector<std::string> out;
  for (const auto& e : kTypeNames) out.emplace_back(e.name);
  return out;
}

namespace {

int int_width(Kind k) {
  return (k == Kind::kI32 || k == Kind::kU32) ? 32 : 64;
}

}  // namespace

TypeRef least_upper_bound(const TypeRef& a, const TypeRef& b) {
  if (a->kind == Kind::kNull) return b;
  if (b->kind == Kind::kNull) return a;
  if (a->kind != Kind::kRecord && a->kind == b->kind) return a;
  Kind x = a->kind, y = b->kind;
  if (is_int(x) && is_int(y)) {
    if (is_signed_int(x) == is_signed_int(y)) return int_width(x) >= int_width(y) ? a : b;
    // Engine anomalies around u64 (see docs/fenl.md#types).
    if (x == Kind::kU64 && is_signed_int(y)) return Type::of(Kind::kI64);
    if (is_signed_int(x) && y == Kind::kU64) return Type::of(Kind::kF64);
    return Type::of(Kind::kI64);  // signed with u32
  }
  if (is_float_kind(x) && is_float_kind(y)) return Type::of(Kind::kF64);
  if (is_number(x) && is_number(y)) return Type::of(Kind::kF64);
  if (x == Kind::kString && y == Kind::kTimestamp) return b;
  if (x == Kind::kTimestamp && y == Kind::kString) return a;
  if (is_duration(x) && is_duration(y)) return duration_unit_ns(x) <= duration_unit_ns(y) ? a : b;
  if (x == Kind::kRecord && y == Kind::kRecord) {
    if (a->fields.size() != b->fields.size()) return nullptr;
    std::vector<TypeField> fs;
    for (const auto& f : a->fields) {
      int j = b->field_index(f.name);
      if (j < 0) return nullptr;
      auto t = least_upper_bound(f.type, b->fields[static_cast<size_t>(j)].type);
      if (!t) return nullptr;
      fs.push_back({f.name, t});
    }
    return Type::record(std::move(fs));
  }
  return nullptr;
}

bool implicitly_castable(const Type& from, const Type& to) {
  if (same_type(from, to) || from.kind == Kind::kNull) return true;
  Kind f = from.kind, t = to.kind;
  if (is_signed_int(f))
    return (is_signed_int(t) && int_width(t) >= int_width(f)) || t == Kind::kF64;
  if (is_unsigned_int(f)) {
    return (is_unsigned_int(t) && int_width(t) >= int_width(f)) ||
           (is_signed_int(t) && int_width(t) > int_width(f)) || t == Kind::kF64;
  }
  if (is_float_kind(f)) return t == Kind::kF64;
  if (f == Kind::kString && t == Kind::kTimestamp) return true;
  if (is_duration(f) && is_duration(t)) return duration_unit_ns(t) <= duration_unit_ns(f);
  return false;
}

bool explicitly_castable(const Type& from, const Type& to) {
  if (implicitly_castable(from, to)) return true;
  Kind f = from.kind, t = to.kind;
  if (t == Kind::kString) return f != Kind::kRecord && f != Kind::kWindow;
  if (is_number(f) && (is_number(t) || t == Kind::kBool || t == Kind::kTimestamp)) return true;
  if (f == Kind::kBool && is_number(t)) return true;
  if (f == Kind::kString && (is_number(t) || t == Kind::kBool)) return true;
  if (f == Kind::kTimestamp && (t == Kind::kI64 || t == Kind::kU64 || is_float_kind(t)))
    return true;
  if (is_timedelta(f) && (is_number(t) || is_duration(t))) return true;
  if (is_int(f) && is_duration(t)) return true;
  if (f == Kind::kJson && t == Kind::kString) return true;
  return false;
}

}  // namespace tideline::fenl
