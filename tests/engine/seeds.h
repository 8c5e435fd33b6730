#pragma once
// How many random seeds the engine's property tests run (case_equivalence_test.cc,
// state_test.cc). CTest runs a few (the whole engine_tests binary must stay fast under
// ASan/UBSan, which is ~40x slower than Release here); a soak asks for more:
//
//   TIDELINE_EQUIVALENCE_SEEDS=N        seeds per case (and data seeds per operator family)
//   TIDELINE_EQUIVALENCE_FIRST_SEED=S   first seed (default 1), to replay a reported failure
//
// e.g. TIDELINE_EQUIVALENCE_SEEDS=200 build/tests/engine_tests
//        --gtest_filter='CaseEquivalence.*:*StateFamily*'

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace tideline::engine {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
#else
inline constexpr bool kSanitizedBuild = false;
#endif

inline uint32_t env_u32(const char* name, uint32_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long n = std::strtoul(v, &end, 10);
  if (*end != '\0') {
    ADD_FAILURE() << name << "=" << v << " is not a number";
    return fallback;
  }
  return static_cast<uint32_t>(n);
}

// TIDELINE_EQUIVALENCE_SEEDS when set (at least 1), else `fallback`.
inline uint32_t seeds_or(uint32_t fallback) {
  return std::max<uint32_t>(1, env_u32("TIDELINE_EQUIVALENCE_SEEDS", fallback));
}
inline bool soak() {
  return std::getenv("TIDELINE_EQUIVALENCE_SEEDS") != nullptr;
}
inline uint32_t first_seed() {
  return env_u32("TIDELINE_EQUIVALENCE_FIRST_SEED", 1);
}

}  // namespace tideline::engine
