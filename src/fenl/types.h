#pragma once
// Fenl's logical types. Physical storage maps onto common/batch.h columns:
// integers, bools, timestamps, durations and intervals live in `ints` (durations and
// intervals as a count of their unit), floats in `floats`, strings and json in `chars`.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch.h"

namespace tideline::fenl {

enum class Kind : uint8_t {
  kNull,
  kBool,
  kI32,
  kI64,
  kU32,
  kU64,
  kF32,
  kF64,
  kString,
  kTimestamp,  // nanoseconds
  kDurationS,
  kDurationMs,
  kDurationUs,
  kDurationNs,
  kIntervalDays,
  kIntervalMonths,
  kJson,
  kRecord,
  kWindow,  // pseudo type of since()/sliding()
};

struct Type;
using TypeRef = std::shared_ptr<const Type>;

struct TypeField {
  std::string name;
  TypeRef type;
};

struct Type {
  Kind kind = Kind::kNull;
  std::vector<TypeField> fields;  // kRecord only

  static TypeRef of(Kind k);
  static TypeRef record(std::vector<TypeField> fields);
  int field_index(std::string_view name) const;
  std::string to_string() const;
};

bool same_type(const Type& a, const Type& b);

inline bool is_int(Kind k) {
  return k == Kind::kI32 || k == Kind::kI64 || k == Kind::kU32 || k == Kind::kU64;
}
inline bool is_signed_int(Kind k) {
  return k == Kind::kI32 || k == Kind::kI64;
}
inline bool is_unsigned_int(Kind k) {
  return k == Kind::kU32 || k == Kind::kU64;
}
inline bool is_float_kind(Kind k) {
  return k == Kind::kF32 || k == Kind::kF64;
}
inline bool is_number(Kind k) {
  return is_int(k) || is_float_kind(k);
}
inline bool is_duration(Kind k) {
  return k >= Kind::kDurationS && k <= Kind::kDurationNs;
}
inline bool is_interval(Kind k) {
  return k == Kind::kIntervalDays || k == Kind::kIntervalMonths;
}
inline bool is_timedelta(Kind k) {
  return is_duration(k) || is_interval(k);
}
inline bool is_ordered(Kind k) {
  return is_number(k) || k == Kind::kTimestamp || is_timedelta(k);
}
bool is_key_type(const Type& t);
// Nanoseconds per unit of a duration kind.
int64_t duration_unit_ns(Kind k);

// The physical column type used to hold values of `t`.
TypePtr physical_type(const Type& t);
// The logical type of a physical column type (durations become duration_ns).
TypeRef logical_type(const DataType& t);

// Parses a type name usable after `as` (`i64`, `timestamp_ns`, ...). Null if unknown.
TypeRef parse_type_name(std::string_view name);
// Every name parse_type_name accepts, for suggestions.
std::vector<std::string> type_names();

// Least upper bound of two types for one type variable, or null if incompatible.
TypeRef least_upper_bound(const TypeRef& a, const TypeRef& b);
// Whether a value of type `from` may be implicitly passed where `to` is required.
bool implicitly_castable(const Type& from, const Type& to);
// Whether `e as to` is allowed.
bool explicitly_castable(const Type& from, const Type& to);

}  // namespace tideline::fenl
