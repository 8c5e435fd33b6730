#include "engine/state_io.h"

#include <cstring>

namespace tideline::engine {

void StateWriter::type(const DataType& t) {
  u8(static_cast<uint8_t>(t.id));
  if (t.id != TypeId::kRecord) return;
  u32(static_cast<uint32_t>(t.fields.size()));
  for (const auto& f : t.fields) {
    bytes(f.name);
    type(*f.type);
  }
}

void StateWriter::column(const Column& c) {
  type(*c.type());
  i64(c.size());
  // All-valid bitmaps are written empty, so equal values give equal bytes however the
  // column was built (gathers and appends may keep an all-ones bitmap).
  const auto& bits = c.validity();
  const int64_t n = c.size();
  bool all_valid = bits.size() * 64 >= static_cast<size_t>(n);  // else written as it is
  for (int64_t w = 0; all_valid && w < n / 64; ++w)
    all_valid = bits[static_cast<size_t>(w)] == ~uint64_t{0};
  if (all_valid && n % 64 && !bits.empty()) {
    const uint64_t mask = (uint64_t{1} << (n % 64)) - 1;
    all_valid = (bits[static_cast<size_t>(n / 64)] & mask) == mask;
  }
  if (bits.empty() || all_valid) {
    u64(0);
  } else if (bits.size() * 64 < static_cast<size_t>(n)) {
    vec(bits);
  } else {
    std::vector<uint64_t> words(bits.begin(), bits.begin() + (n + 63) / 64);
    if (n % 64) words.back() &= (uint64_t{1} << (n % 64)) - 1;  // no bits past the end
    vec(words);
  }
  switch (storage_of(c.type_id())) {
    case Storage::kInts: {
      std::vector<int64_t> v(c.ints().begin(), c.ints().begin() + c.size());
      vec(v);
      break;
    }
    case Storage::kFloats: {
      std::vector<double> v(c.floats().begin(), c.floats().begin() + c.size());
      vec(v);
      break;
    }
    case Storage::kString: {
      std::vector<uint32_t> off(c.offsets().begin(), c.offsets().begin() + c.size() + 1);
      vec(off);
      bytes(std::string_view(c.chars()).substr(0, off.back()));
      break;
    }
    case Storage::kChildren:
      for (size_t f = 0; f < c.num_children(); ++f) column(c.child(f));
      break;
    case Storage::kNone:
      break;
  }
}

Status StateReader::raw(void* p, size_t n) {
  if (n > data_.size() - pos_)
    return fail("truncated: " + std::to_string(n) + " bytes needed, " +
                std::to_string(data_.size() - pos_) + " left");
  if (n) std::memcpy(p, data_.data() + pos_, n);
  pos_ += n;
  return {};
}

Status StateReader::bytes(std::string& s) {
  uint64_t n = 0;
  TL_RETURN_STATUS_IF_ERROR(u64(n));
  if (n > data_.size() - pos_)
    return fail("string of " + std::to_string(n) + " bytes exceeds the data");
  s.assign(data_.substr(pos_, n));
  pos_ += n;
  return {};
}

Status StateReader::magic(std::string_view m) {
  if (data_.size() - pos_ < m.size() || data_.substr(pos_, m.size()) != m)
    return fail("expected marker '" + std::string(m) + "'");
  pos_ += m.size();
  return {};
}

Result<TypePtr> StateReader::type(int depth) {
  if (depth > 64) return error(fail("type nested too deeply"));
  uint8_t id = 0;
  TL_RETURN_IF_ERROR(u8(id));
  if (id > static_cast<uint8_t>(TypeId::kRecord))
    return error(fail("unknown type id " + std::to_string(id)));
  TypeId t = static_cast<TypeId>(id);
  if (t != TypeId::kRecord) return DataType::of(t);
  uint32_t n = 0;
  TL_RETURN_IF_ERROR(u32(n));
  if (n > 65536) return error(fail("record with " + std::to_string(n) + " fields"));
  std::vector<Field> fields;
  for (uint32_t i = 0; i < n; ++i) {
    Field f;
    TL_RETURN_IF_ERROR(bytes(f.name));
    TL_ASSIGN_OR_RETURN(f.type, type(depth + 1));
    fields.push_back(std::move(f));
  }
  return DataType::record(std::move(fields));
}

Result<Column> StateReader::column(const DataType* expect) {
  const size_t at = pos_;
  TL_ASSIGN_OR_RETURN(TypePtr t, type());
  if (expect && !type_equals(*t, *expect))
    return error(corruption("engine state: byte " + std::to_string(at) + ": column of type " +
                            t->to_string() + ", expected " + expect->to_string()));
  Column c(t);
  int64_t n = 0;
  TL_RETURN_IF_ERROR(i64(n));
  if (n < 0 || n > INT32_MAX) return error(fail("column length " + std::to_string(n)));
  TL_RETURN_IF_ERROR(vec(c.validity()));
  if (!c.validity().empty() && c.validity().size() != static_cast<size_t>((n + 63) / 64))
    return error(fail("validity bitmap does not match the column length"));
  switch (storage_of(t->id)) {
    case Storage::kInts:
      TL_RETURN_IF_ERROR(vec(c.ints()));
      if (c.ints().size() != static_cast<size_t>(n)) return error(fail("value count mismatch"));
      break;
    case Storage::kFloats:
      TL_RETURN_IF_ERROR(vec(c.floats()));
      if (c.floats().size() != static_cast<size_t>(n)) return error(fail("value count mismatch"));
      break;
    case Storage::kString: {
      TL_RETURN_IF_ERROR(vec(c.offsets()));
      TL_RETURN_IF_ERROR(bytes(c.chars()));
      const auto& off = c.offsets();
      if (off.size() != static_cast<size_t>(n) + 1 || off[0] != 0 || off.back() != c.chars().size())
        return error(fail("string offsets do not match"));
      for (size_t i = 1; i < off.size(); ++i)
        if (off[i] < off[i - 1]) return error(fail("string offsets not monotone"));
      break;
    }
    case Storage::kChildren:
      for (size_t f = 0; f < c.num_children(); ++f) {
        TL_ASSIGN_OR_RETURN(Column ch, column(t->fields[f].type.get()));
        if (ch.size() != n) return error(fail("record child length mismatch"));
        c.child(f) = std::move(ch);
      }
      break;
    case Storage::kNone:
      break;
  }
  c.set_size(n);
  return c;
}

}  // namespace tideline::engine
