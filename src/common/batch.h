#pragma once
// Columnar data shared by every part: types, columns with validity bitmaps, batches.
//
// This is the interchange format between I/O (CSV, Avro, stores) and the Fenl engine.
// Physical storage is deliberately few-shaped so kernels stay simple and tight:
//   kBool, kI32, kI64, kU32, kU64 (bit pattern), kTimestamp (ns), kDuration (ns) -> `ints`
//   kF32, kF64                                                                 -> `floats`
//   kString                                  -> `offsets` (length + 1 entries) into `chars`
//   kRecord                                  -> `children`, one per field, each of `length`
//   kNull                                    -> no buffers; every row is null
// A value's slot holds an unspecified but initialized value when the row is null.
// Thread-safety: none; a Column is a plain value type.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace tideline {

enum class TypeId : uint8_t {
  kNull,
  kBool,
  kI32,
  kI64,
  kU32,
  kU64,
  kF32,
  kF64,
  kString,
  kTimestamp,
  kDuration,
  kRecord,
};

std::string_view type_id_name(TypeId id);
inline bool is_integer(TypeId t) {
  return t == TypeId::kI32 || t == TypeId::kI64 || t == TypeId::kU32 || t == TypeId::kU64;
}
inline bool is_float(TypeId t) {
  return t == TypeId::kF32 || t == TypeId::kF64;
}
inline bool is_numeric(TypeId t) {
  return is_integer(t) || is_float(t);
}
// Which physical buffer a type uses.
enum class Storage : uint8_t { kNone, kInts, kFloats, kString, kChildren };
Storage storage_of(TypeId id);

struct DataType;
using TypePtr = std::shared_ptr<const DataType>;

struct Field {
  std::string name;
  TypePtr type;
};

struct DataType {
  TypeId id = TypeId::kNull;
  std::vector<Field> fields;  // kRecord only, in order

  // Shared instances of the primitive types.
  static TypePtr of(TypeId id);
  static TypePtr record(std::vector<Field> fields);

  // Index of a field by name, or -1.
  int field_index(std::string_view name) const;
  // `i64`, `string`, `{a: i64, b: string}`.
  std::string to_string() const;
};

bool type_equals(const DataType& a, const DataType& b);

class Column {
 public:
  Column() = default;
  explicit Column(TypePtr type);

  const TypePtr& type() const { return type_; }
  TypeId type_id() const { return type_->id; }
  int64_t size() const { return length_; }

  // Validity: bit i of `validity` set = row i holds a value. Empty bitmap = all valid.
  bool is_valid(int64_t i) const {
    if (type_->id == TypeId::kNull) return false;
    return validity_.empty() || ((validity_[static_cast<size_t>(i) >> 6] >> (i & 63)) & 1);
  }
  bool all_valid() const { return type_->id != TypeId::kNull && validity_.empty(); }
  int64_t null_count() const;

  int64_t int_at(int64_t i) const { return ints_[static_cast<size_t>(i)]; }
  double float_at(int64_t i) const { return floats_[static_cast<size_t>(i)]; }
  std::string_view string_at(int64_t i) const {
    auto b = offsets_[static_cast<size_t>(i)], e = offsets_[static_cast<size_t>(i) + 1];
    return std::string_view(chars_).substr(b, e - b);
  }
  const Column& child(size_t f) const { return children_[f]; }
  Column& child(size_t f) { return children_[f]; }
  size_t num_children() const { return children_.size(); }

  void reserve(int64_t n);
  // Appends; the caller uses the setter that matches storage_of(type).
  void append_null();
  void append_int(int64_t v);
  void append_float(double v);
  void append_string(std::string_view v);
  // For records: append a row whose validity is `valid`; the caller appends to every child.
  void append_record_row(bool valid);
  // Appends row `i` of `other` (same type).
  void append_from(const Column& other, int64_t i);

  // Raw buffers for kernels. Invariants: ints/floats have `size()` entries for their types,
  // offsets has size()+1 entries for strings, children each have size() rows.
  std::vector<int64_t>& ints() { return ints_; }
  const std::vector<int64_t>& ints() const { return ints_; }
  std::vector<double>& floats() { return floats_; }
  const std::vector<double>& floats() const { return floats_; }
  std::vector<uint32_t>& offsets() { return offsets_; }
  const std::vector<uint32_t>& offsets() const { return offsets_; }
  std::string& chars() { return chars_; }
  const std::string& chars() const { return chars_; }
  std::vector<uint64_t>& validity() { return validity_; }
  const std::vector<uint64_t>& validity() const { return validity_; }
  std::vector<Column>& children() { return children_; }
  // Sets the logical length after a kernel filled the buffers directly.
  void set_size(int64_t n) { length_ = n; }
  // Marks row i null/valid, materializing the bitmap if needed (length must cover i).
  void set_valid(int64_t i, bool valid);

 private:
  void push_validity(bool valid);

  TypePtr type_ = DataType::of(TypeId::kNull);
  int64_t length_ = 0;
  std::vector<uint64_t> validity_;
  std::vector<int64_t> ints_;
  std::vector<double> floats_;
  std::vector<uint32_t> offsets_{0};
  std::string chars_;
  std::vector<Column> children_;
};

// A set of equally long columns described by a record type.
struct Batch {
  TypePtr schema;  // kRecord
  std::vector<Column> columns;
  int64_t num_rows = 0;

  static Batch empty(TypePtr schema);
  Status validate() const;
};

// A single dynamically typed value, for row-at-a-time edges (stores, CLI printing).
// Timestamps and durations travel as int64 nanoseconds with their TypeId known from context.
using Value = std::variant<std::monostate, bool, int64_t, double, std::string>;
inline bool is_null(const Value& v) {
  return std::holds_alternative<std::monostate>(v);
}
Value value_at(const Column& c, int64_t i);    // records are not supported here
void append_value(Column& c, const Value& v);  // converts ints/floats/bools per column type
std::string value_to_string(const Value& v);

}  // namespace tideline
