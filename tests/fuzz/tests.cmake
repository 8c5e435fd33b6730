# Every libFuzzer target (fuzz/*_fuzz.cc) runs for a bounded time as a CTest test labelled
# "fuzz;slow" (skipped by scripts/test.sh --fast). The targets are not built by this tree:
# each test calls scripts/fuzz.sh, which builds the target with clang 16 into the separate
# build-fuzz tree (builds are serialized by a lock there) and then fuzzes it, starting from the
# corpus kept in build-fuzz/corpus/<target> plus the seeds in fuzz/corpus/<target>.
# A crash, sanitizer report or failed property check fails the test; the input is saved in
# build-fuzz/artifacts/<target>/. See docs/fuzzing.md.
set(TIDELINE_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzz target runs under CTest")
file(GLOB tideline_fuzz_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/*_fuzz.cc)
foreach(src ${tideline_fuzz_srcs})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME fuzz_${name}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh ${name} ${TIDELINE_FUZZ_SECONDS})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS "fuzz;slow" TIMEOUT 1200)
endforeach()
