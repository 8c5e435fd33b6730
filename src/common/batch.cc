#include "common/batch.h"

#include <fmt/format.h>

#include <array>
#include <cassert>

namespace tideline {

std::string_view type_id_name(TypeId id) {
  switch (id) {
    case TypeId::kNull:
      return "null";
    case TypeId::kBool:
      return "bool";
    case TypeId::kI32:
      return "i32";
    case TypeId::kI64:
      return "i64";
    case TypeId::kU32:
      return "u32";
    case TypeId::kU64:
      return "u64";
    case TypeId::kF32:
      return "f32";
    case TypeId::kF64:
      return "f64";
    case TypeId::kString:
      return "string";
    case TypeId::kTimestamp:
      return "timestamp_ns";
    case TypeId::kDuration:
      return "duration_ns";
    case TypeId::kRecord:
      return "record";
  }
  return "?";
}

Storage storage_of(TypeId id) {
  switch (id) {
    case TypeId::kNull:
      return Storage::kNone;
    case TypeId::kF32:
    case TypeId::kF64:
      return Storage::kFloats;
    case TypeId::kString:
      return Storage::kString;
    case TypeId::kRecord:
      return Storage::kChildren;
    default:
      return Storage::kInts;
  }
}

TypePtr DataType::of(TypeId id) {
  static const auto kTypes = [] {
    std::array<TypePtr, 12> t;
    for (size_t i = 0; i < t.size(); ++i) {
      auto d = std::make_shared<DataType>();
      d->id = static_cast<TypeId>(i);
      t[i] = d;
    }
    return t;
  }();
  return kTypes[static_cast<size_t>(id)];
}

TypePtr DataType::record(std::vector<Field> fields) {
  auto d = std::make_shared<DataType>();
  d->id = TypeId::kRecord;
  d->fields = std::move(fields);
  return d;
}

int DataType::field_index(std::string_view name) const {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string DataType::to_string() const {
  if (id != TypeId::kRecord) return std::string(type_id_name(id));
  std::string s = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) s += ", ";
    s += fields[i].name;
    s += ": ";
    s += fields[i].type->to_string();
  }
  return s + "}";
}

bool type_equals(const DataType& a, const DataType& b) {
  if (a.id != b.id) return false;
  if (a.id != TypeId::kRecord) return true;
  if (a.fields.size() != b.fields.size()) return false;
  for (size_t i = 0; i < a.fields.size(); ++i) {
    if (a.fields[i].name != b.fields[i].name ||
        !type_equals(*a.fields[i].type, *b.fields[i].type)) {
      return false;
    }
  }
  return true;
}

Column::Column(TypePtr type) : type_(std::move(type)) {
  if (type_->id == TypeId::kRecord) {
    children_.reserve(type_->fields.size());
    for (const auto& f : type_->fields) children_.emplace_back(f.type);
  }
}

int64_t Column::null_count() const {
  if (type_->id == TypeId::kNull) return length_;
  if (validity_.empty()) return 0;
  int64_t valid = 0;
  for (int64_t i = 0; i < length_; ++i) valid += is_valid(i);
  return length_ - valid;
}

void Column::reserve(int64_t n) {
  auto un = static_cast<size_t>(n);
  switch (storage_of(type_->id)) {
    case Storage::kInts:
      ints_.reserve(un);
      break;
    case Storage::kFloats:
      floats_.reserve(un);
      break;
    case Storage::kString:
      offsets_.reserve(un + 1);
      break;
    case Storage::kChildren:
      for (auto& c : children_) c.reserve(n);
      break;
    case Storage::kNone:
      break;
  }
}

void Column::push_validity(bool valid) {
  size_t i = static_cast<size_t>(length_);
  if (!valid && validity_.empty()) {
    // Materialize: every earlier row was valid.
    validity_.assign((i >> 6) + 1, ~uint64_t{0});
  }
  if (!validity_.empty()) {
    if ((i >> 6) >= validity_.size()) validity_.push_back(~uint64_t{0});
    if (!valid) validity_[i >> 6] &= ~(uint64_t{1} << (i & 63));
  }
  ++length_;
}

void Column::set_valid(int64_t i, bool valid) {
  auto ui = static_cast<size_t>(i);
  if (validity_.empty()) {
    if (valid) return;
    validity_.assign((static_cast<size_t>(length_) >> 6) + 1, ~uint64_t{0});
  }
  if ((ui >> 6) >= validity_.size()) validity_.resize((ui >> 6) + 1, ~uint64_t{0});
  if (valid) {
    validity_[ui >> 6] |= uint64_t{1} << (ui & 63);
  } else {
    validity_[ui >> 6] &= ~(uint64_t{1} << (ui & 63));
  }
}

void Column::append_null() {
  switch (storage_of(type_->id)) {
    case Storage::kInts:
      ints_.push_back(0);
      break;
    case Storage::kFloats:
      floats_.push_back(0);
      break;
    case Storage::kString:
      offsets_.push_back(static_cast<uint32_t>(chars_.size()));
      break;
    case Storage::kChildren:
      for (auto& c : children_) c.append_null();
      break;
    case Storage::kNone:
      ++length_;
      return;
  }
  push_validity(false);
}

void Column::append_int(int64_t v) {
  assert(storage_of(type_->id) == Storage::kInts);
  ints_.push_back(v);
  push_validity(true);
}

void Column::append_float(double v) {
  assert(storage_of(type_->id) == Storage::kFloats);
  floats_.push_back(v);
  push_validity(true);
}

void Column::append_string(std::string_view v) {
  assert(type_->id == TypeId::kString);
  chars_.append(v);
  offsets_.push_back(static_cast<uint32_t>(chars_.size()));
  push_validity(true);
}

void Column::append_record_row(bool valid) {
  assert(type_->id == TypeId::kRecord);
  push_validity(valid);
}

void Column::append_from(const Column& o, int64_t i) {
  if (!o.is_valid(i)) {
    append_null();
    return;
  }
  switch (storage_of(type_->id)) {
    case Storage::kInts:
      append_int(o.int_at(i));
      break;
    case Storage::kFloats:
      append_float(o.float_at(i));
      break;
    case Storage::kString:
      append_string(o.string_at(i));
      break;
    case Storage::kChildren:
      for (size_t f = 0; f < children_.size(); ++f) children_[f].append_from(o.child(f), i);
      append_record_row(true);
      break;
    case Storage::kNone:
      ++length_;
      break;
  }
}

Batch Batch::empty(TypePtr schema) {
  Batch b;
  for (const auto& f : schema->fields) b.columns.emplace_back(f.type);
  b.schema = std::move(schema);
  return b;
}

Status Batch::validate() const {
  if (!schema || schema->id != TypeId::kRecord)
    return internal_error("batch schema is not a record");
  if (columns.size() != schema->fields.size()) {
    return internal_error(fmt::format("batch has {} columns, schema {} fields", columns.size(),
                                      schema->fields.size()));
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].size() != num_rows) {
      return internal_error(fmt::format("column {} has {} rows, batch {}", schema->fields[i].name,
                                        columns[i].size(), num_rows));
    }
  }
  return {};
}

Value value_at(const Column& c, int64_t i) {
  if (!c.is_valid(i)) return std::monostate{};
  switch (c.type_id()) {
    case TypeId::kBool:
      return c.int_at(i) != 0;
    case TypeId::kF32:
    case TypeId::kF64:
      return c.float_at(i);
    case TypeId::kString:
      return std::string(c.string_at(i));
    case TypeId::kRecord:
    case TypeId::kNull:
      return std::monostate{};
    default:
      return c.int_at(i);
  }
}

void append_value(Column& c, const Value& v) {
  if (is_null(v)) {
    c.append_null();
    return;
  }
  switch (storage_of(c.type_id())) {
    case Storage::kInts:
      if (auto* b = std::get_if<bool>(&v)) {
        c.append_int(*b ? 1 : 0);
      } else if (auto* n = std::get_if<int64_t>(&v)) {
        c.append_int(*n);
      } else if (auto* d = std::get_if<double>(&v)) {
        c.append_int(static_cast<int64_t>(*d));
      } else {
        c.append_null();
      }
      break;
    case Storage::kFloats:
      if (auto* d = std::get_if<double>(&v)) {
        c.append_float(*d);
      } else if (auto* n = std::get_if<int64_t>(&v)) {
        c.append_float(static_cast<double>(*n));
      } else {
        c.append_null();
      }
      break;
    case Storage::kString:
      if (auto* s = std::get_if<std::string>(&v)) {
        c.append_string(*s);
      } else {
        c.append_string(value_to_string(v));
      }
      break;
    default:
      c.append_null();
      break;
  }
}

std::string value_to_string(const Value& v) {
  struct V {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t n) const { return std::to_string(n); }
    std::string operator()(double d) const { return fmt::format("{}", d); }
    std::string operator()(const std::string& s) const { return s; }
  };
  return std::visit(V{}, v);
}

}  // namespace tideline
