find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: the Fenl conformance and query CLI tests are not registered")
  return()
endif()

# The Fenl conformance catalog kept in this repository (tests/conformance/catalog, see the
# README there), judged by the project's own runner. Always registered: a missing or empty
# catalog folder makes the runner fail, it is never skipped.
add_test(NAME fenl_conformance
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/run_catalog.py --quiet
                 --bin $<TARGET_FILE:tideline> ${CMAKE_CURRENT_LIST_DIR}/catalog)
set_tests_properties(fenl_conformance PROPERTIES LABELS "conformance" TIMEOUT 600)

# The external judge: the shared conformance suite's own runner over its own catalog, where
# that suite is installed next to the repository (development machines; not in CI).
set(TIDELINE_SHARED_CONFORMANCE_DIR /work/shared/conformance CACHE PATH
    "The shared Fenl conformance suite (run.py, catalog/); its test is registered only if present")
if(EXISTS ${TIDELINE_SHARED_CONFORMANCE_DIR}/run.py)
  add_test(NAME fenl_conformance_shared
           COMMAND ${Python3_EXECUTABLE} ${TIDELINE_SHARED_CONFORMANCE_DIR}/run.py --quiet
                   --bin $<TARGET_FILE:tideline> ${TIDELINE_SHARED_CONFORMANCE_DIR}/catalog)
  set_tests_properties(fenl_conformance_shared PROPERTIES LABELS "conformance;shared" TIMEOUT 600)
endif()

# The query command's interface: exit codes, diagnostics, formats, views, result options.
add_test(NAME fenl_query_cli
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/query_cli_test.py $<TARGET_FILE:tideline>)
set_tests_properties(fenl_query_cli PROPERTIES LABELS "conformance;cli" TIMEOUT 120)
