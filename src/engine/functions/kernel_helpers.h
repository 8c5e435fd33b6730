#pragma once
// Building blocks shared by the kernel families (functions/<family>.cc): the argument
// context, the result column with the inputs' validity, and the typed loops for binary
// arithmetic, unary numerics and comparisons. Templates and inline so that each kernel's
// loop is compiled with its own operation (no per-row indirect calls).

#include <bit>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "common/batch.h"
#include "engine/kernels.h"
#include "fenl/types.h"

namespace tideline::engine::kernel {

using fenl::Kind;
using fenl::Type;

struct Ctx {
  const ColumnList& args;
  const std::vector<fenl::TypeRef>& types;
  const Type& result;
  int64_t n;
};

inline Ctx make_ctx(const ColumnList& args, const std::vector<fenl::TypeRef>& types,
                    const Type& result) {
  return Ctx{args, types, result, args.empty() ? 0 : args[0].size()};
}

inline void null_out(Column& c, int64_t i) {
  c.set_valid(i, false);
}

inline uint64_t as_u(int64_t v) {
  return static_cast<uint64_t>(v);
}

inline int64_t wrap_int(int64_t v, Kind k) {
  switch (k) {
    case Kind::kI32:
      return static_cast<int32_t>(v);
    case Kind::kU32:
      return static_cast<uint32_t>(v);
    default:
      return v;
  }
}

// A result column of x.n rows, null where any of the arguments `null_from` is null.
inline Column result_column(const Ctx& x, std::initializer_list<size_t> null_from) {
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
inline int compare_at(const Column& a, const Column& b, Kind k, int64_t i) {
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

}  // namespace tideline::engine::kernel
