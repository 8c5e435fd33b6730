# The shared Fenl conformance suite (/work/shared/conformance), run against the built
# `tideline query` command. The runner and its comparison rules are used as they are.
set(TIDELINE_CONFORMANCE_DIR ${PROJECT_SOURCE_DIR}/../shared/conformance)
if(EXISTS ${TIDELINE_CONFORMANCE_DIR}/run.py)
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_Interpreter_FOUND)
    add_test(NAME fenl_conformance
             COMMAND ${Python3_EXECUTABLE} ${TIDELINE_CONFORMANCE_DIR}/run.py --quiet
                     --bin $<TARGET_FILE:tideline> ${TIDELINE_CONFORMANCE_DIR}/catalog)
    set_tests_properties(fenl_conformance PROPERTIES LABELS "conformance" TIMEOUT 600)
  endif()
endif()

# The query command's interface: exit codes, diagnostics, formats, views, result options.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME fenl_query_cli
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/query_cli_test.py $<TARGET_FILE:tideline>)
  set_tests_properties(fenl_query_cli PROPERTIES LABELS "conformance;cli" TIMEOUT 120)
endif()
