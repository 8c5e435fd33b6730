#pragma once
// Column helpers of the Fenl engine (gather, casts, validity, key hashes) and the entry to
// its element-wise kernels (call_kernel; the kernels are in engine/functions/, one file per
// family). Kernels loop over whole columns with typed buffers (no per-row virtual calls).
// Inputs are aligned columns of equal length; results follow docs/fenl.md#nulls (null in -> null
// out unless the function says otherwise).

#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "fenl/types.h"

namespace tideline::engine {

// Argument columns of a kernel: each either borrowed (pointing into a stream that outlives
// the list) or owned by the list. Lets aligned arguments that are already in the target
// domain be passed without copying.
class ColumnList {
 public:
  ColumnList() = default;
  // Borrows every column of `cols` (which must outlive the list).
  explicit ColumnList(const std::vector<Column>& cols) {
    for (const auto& c : cols) borrow(c);
  }
  void borrow(const Column& c) {
    ptrs_.push_back(&c);
    owned_.emplace_back(false);
  }
  void own(Column c) {
    store_.push_back(std::move(c));
    ptrs_.push_back(&store_.back());
    owned_.emplace_back(true);
  }
  const Column& operator[](size_t i) const { return *ptrs_[i]; }
  size_t size() const { return ptrs_.size(); }
  bool empty() const { return ptrs_.empty(); }
  // Column i as a value: moved out when owned, copied when borrowed.
  Column take(size_t i) {
    return owned_[i] ? std::move(const_cast<Column&>(*ptrs_[i])) : *ptrs_[i];
  }

 private:
  std::deque<Column> store_;  // stable addresses
  std::vector<const Column*> ptrs_;
  std::vector<bool> owned_;
};

// A column of `n` rows of physical type `t`, every row valid, fixed-width buffers sized.
Column alloc_column(const TypePtr& t, int64_t n);
// Row i of the result = src[idx[i]], or null when idx[i] < 0.
Column gather(const Column& src, const std::vector<int32_t>& idx);
// `n` copies of row 0 of `one`.
Column broadcast(const Column& one, int64_t n);
// Column holding a literal value of logical type `t`.
Column literal_column(const Value& v, const fenl::Type& t);
// Element-wise cast (docs/fenl.md#casts: unconvertible values become null).
Column cast_column(const Column& c, const fenl::Type& from, const fenl::Type& to);
// Sets out's validity to the AND of the inputs' validity.
void and_validity(Column& out, const std::vector<const Column*>& ins);
// Element-wise function `fn` of the catalog over aligned argument columns (its kernel in
// engine/functions/registry.h; kUnimplemented if it has none). `arg_types` and `result` are
// the logical types after implicit casts.
Result<Column> call_kernel(std::string_view fn, const ColumnList& args,
                           const std::vector<fenl::TypeRef>& arg_types, const fenl::Type& result);
inline Result<Column> call_kernel(std::string_view fn, const std::vector<Column>& args,
                                  const std::vector<fenl::TypeRef>& arg_types,
                                  const fenl::Type& result) {
  return call_kernel(fn, ColumnList(args), arg_types, result);
}
// Entity-key hash of every row (null -> 0), as used for key_hash.
std::vector<uint64_t> hash_column(const Column& c, const fenl::Type& t);
uint64_t hash_value_at(const Column& c, const fenl::Type& t, int64_t i);

}  // namespace tideline::engine
