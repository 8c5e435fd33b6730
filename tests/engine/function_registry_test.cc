// The Fenl catalog (fenl/functions.h), the engine's kernels (engine/functions/registry.h)
// and its operators (engine/eval.h find_operator) must agree: a function the engine cannot
// run would only fail when a query calls it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/eval.h"
#include "engine/functions/registry.h"
#include "fenl/functions.h"
#include "fenl/plan.h"

namespace tideline::engine {
namespace {

using fenl::FnKind;

TEST(FenlKernelRegistry, EveryElementwiseFunctionHasAKernel) {
  size_t elementwise = 0;
  for (const fenl::FunctionDef& f : fenl::all_functions()) {
    if (f.kind != FnKind::kElementwise) continue;
    ++elementwise;
    const KernelDef* k = find_kernel(f.name);
    ASSERT_NE(k, nullptr) << "function '" << f.name
                          << "' is element-wise but has no kernel in src/engine/functions/";
    EXPECT_EQ(k->name, f.name);
    EXPECT_NE(k->fn, nullptr) << f.name;
  }
  EXPECT_GT(elementwise, 0u);
}

TEST(FenlKernelRegistry, EveryKernelIsAnElementwiseFunction) {
  ASSERT_FALSE(all_kernels().empty());
  for (const KernelDef& k : all_kernels()) {
    const fenl::FunctionDef* f = fenl::find_function(k.name);
    ASSERT_NE(f, nullptr) << "kernel '" << k.name << "' has no entry in the Fenl catalog";
    EXPECT_EQ(f->kind, FnKind::kElementwise)
        << "kernel '" << k.name << "' belongs to a function the engine does not run as a kernel";
  }
}

// Aggregations, windows, ticks and kOperator functions run as operators. shift_by is
// compiled to shift_to, so the engine never sees it.
TEST(FenlKernelRegistry, EveryOtherFunctionHasAnOperator) {
  for (const fenl::FunctionDef& f : fenl::all_functions()) {
    if (f.kind == FnKind::kElementwise || f.name == "shift_by") continue;
    EXPECT_NE(find_operator(f.name), nullptr)
        << "function '" << f.name << "' is not element-wise but has no engine operator";
  }
}

TEST(FenlKernelRegistry, EveryOperatorIsACatalogFunction) {
  for (const OperatorDef& op : all_operators()) {
    const fenl::FunctionDef* f = fenl::find_function(op.name);
    ASSERT_NE(f, nullptr) << "operator '" << op.name << "' has no entry in the Fenl catalog";
    // if/null_if are element-wise (kernels) that the when operator runs after alignment.
    if (f->kind == FnKind::kElementwise) {
      EXPECT_NE(find_kernel(op.name), nullptr) << op.name;
    }
  }
}

TEST(FenlKernelRegistry, NamesAreUnique) {
  std::set<std::string_view> functions;
  for (const fenl::FunctionDef& f : fenl::all_functions())
    EXPECT_TRUE(functions.insert(f.name).second) << "function '" << f.name << "' twice";
  std::set<std::string_view> kernels;
  for (const KernelDef& k : all_kernels())
    EXPECT_TRUE(kernels.insert(k.name).second) << "kernel '" << k.name << "' twice";
}

TEST(FenlKernelRegistry, SignaturesNameTheirFunction) {
  for (const fenl::FunctionDef& f : fenl::all_functions()) {
    std::string_view sig = f.signature;
    ASSERT_GT(sig.size(), f.name.size()) << f.name;
    EXPECT_EQ(sig.substr(0, f.name.size()), f.name);
    char next = sig[f.name.size()];
    EXPECT_TRUE(next == '<' || next == '(') << sig;
    EXPECT_FALSE(f.doc.empty()) << f.name;
    EXPECT_EQ(fenl::find_function(f.name), &f);
  }
  EXPECT_EQ(fenl::find_function("no_such_function"), nullptr);
  EXPECT_EQ(find_kernel("no_such_function"), nullptr);
}

TEST(FenlKernelRegistry, KindPredicatesAgreeWithTheCatalog) {
  for (const fenl::FunctionDef& f : fenl::all_functions()) {
    EXPECT_EQ(fenl::is_aggregation(f.name), f.kind == FnKind::kAggregation) << f.name;
    EXPECT_EQ(fenl::is_tick(f.name), f.kind == FnKind::kTick) << f.name;
  }
  EXPECT_FALSE(fenl::is_aggregation("no_such_function"));
  EXPECT_FALSE(fenl::is_tick("no_such_function"));
}

TEST(FenlKernelRegistry, UnknownKernelIsUnimplemented) {
  Column a(DataType::of(TypeId::kI64));
  a.append_int(1);
  auto r = call_kernel("when", std::vector<Column>{a, a},
                       {fenl::Type::of(fenl::Kind::kBool), fenl::Type::of(fenl::Kind::kI64)},
                       *fenl::Type::of(fenl::Kind::kI64));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tideline::engine
