#pragma once
// Force-included into every translation unit of the fuzz build (scripts/fuzz.sh), never into
// the normal g++ build.
//
// libstdc++ 12's <expected> is only enabled when __cpp_concepts >= 202002L (P0848,
// conditionally trivial special members). Clang 16 implements P0848 but still reports
// 201907L (the macro was bumped in a later release), so with libstdc++ 12 std::expected is
// missing under clang 16 although the compiler can handle it. Clang 14 and 15 lack P0848
// and cannot be used. Raising the macro for clang >= 16 only is therefore safe.
#if defined(__clang__) && __clang_major__ >= 16 && defined(__cpp_concepts) && \
    __cpp_concepts < 202002L
#undef __cpp_concepts
#define __cpp_concepts 202002L
#endif
