# The pipeline against the secured servers (fixtures cassandra_secure_server and
# pulsar_secure_server of tests/services/tests.cmake): tests/secure/*_itest.cc in one
# executable, run as three CTest tests (gtest filters) so CTest can run them in parallel:
#   secure.pipeline   prep-env -> producer -> processor -> consumer over TLS with token and
#                     password authentication
#   secure.errors     each misconfiguration fails naming its cause
#   secure.secrets    no secret in the output (debug level) or on /metrics
file(GLOB secure_itest_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_itest.cc)
if(secure_itest_srcs)
  add_executable(secure_itests ${secure_itest_srcs})
  target_include_directories(secure_itests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(secure_itests PRIVATE CURL::libcurl GTest::gtest GTest::gtest_main)
  target_compile_definitions(secure_itests PRIVATE
    TIDELINE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TIDELINE_BINARY="$<TARGET_FILE:tideline>"
    TIDELINE_VENV_PYTHON="${PROJECT_SOURCE_DIR}/scripts/services/venv-python")
  add_dependencies(secure_itests tideline)
  foreach(part pipeline errors secrets)
    if(part STREQUAL "pipeline")
      set(filter "SecurePipeline.*")
    elseif(part STREQUAL "errors")
      set(filter "SecureErrors.*")
    else()
      set(filter "SecureSecrets.*")
    endif()
    add_test(NAME secure.${part} COMMAND secure_itests --gtest_filter=${filter})
    set_tests_properties(secure.${part} PROPERTIES
      FIXTURES_REQUIRED "cassandra_secure_server;pulsar_secure_server"
      LABELS "cassandra;pulsar;secure;slow" TIMEOUT 600)
  endforeach()
endif()
