#pragma once
// Encoding primitives of engine state snapshots (docs/formats/engine-state.md): a writer
// that appends little-endian values and columns to a byte string, and a bounds-checked
// reader whose every failure is a kCorruption status naming the byte offset.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"

namespace tideline::engine {

class StateWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i32(int32_t v) { raw(&v, 4); }
  void i64(int64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void bytes(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  template <typename T>
  void vec(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    u64(v.size());
    raw(v.data(), v.size() * sizeof(T));
  }
  void type(const DataType& t);
  void column(const Column& c);
  void magic(std::string_view m) { out_.append(m); }
  std::string& str() { return out_; }

 private:
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

class StateReader {
 public:
  explicit StateReader(std::string_view data) : data_(data) {}
  Status u8(uint8_t& v) { return raw(&v, 1); }
  Status u32(uint32_t& v) { return raw(&v, 4); }
  Status u64(uint64_t& v) { return raw(&v, 8); }
  Status i32(int32_t& v) { return raw(&v, 4); }
  Status i64(int64_t& v) { return raw(&v, 8); }
  Status f64(double& v) { return raw(&v, 8); }
  Status bytes(std::string& s);
  template <typename T>
  Status vec(std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    uint64_t n = 0;
    TL_RETURN_STATUS_IF_ERROR(u64(n));
    if (n > (data_.size() - pos_) / sizeof(T))
      return fail("vector of " + std::to_string(n) + " elements exceeds the data");
    v.resize(n);
    return raw(v.data(), n * sizeof(T));
  }
  Result<TypePtr> type(int depth = 0);
  // Reads a column; with `expect`, its type must equal it.
  Result<Column> column(const DataType* expect = nullptr);
  Status magic(std::string_view m);
  bool at_end() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  size_t offset() const { return pos_; }
  Status fail(const std::string& what) const {
    return corruption("engine state: byte " + std::to_string(pos_) + ": " + what);
  }

 private:
  Status raw(void* p, size_t n);
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace tideline::engine
