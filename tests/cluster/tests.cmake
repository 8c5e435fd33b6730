# The CQL client against the two-node Cassandra cluster (fixture cassandra_cluster of
# tests/services/tests.cmake), through the binary: tests/cluster/*_itest.cc.
file(GLOB cluster_itest_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_itest.cc)
if(cluster_itest_srcs)
  add_executable(cluster_itests ${cluster_itest_srcs})
  target_include_directories(cluster_itests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(cluster_itests PRIVATE GTest::gtest GTest::gtest_main)
  target_compile_definitions(cluster_itests PRIVATE
    TIDELINE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TIDELINE_BINARY="$<TARGET_FILE:tideline>"
    TIDELINE_VENV_PYTHON="${PROJECT_SOURCE_DIR}/scripts/services/venv-python")
  add_dependencies(cluster_itests tideline)
  add_test(NAME cluster.failover COMMAND cluster_itests)
  set_tests_properties(cluster.failover PROPERTIES
    FIXTURES_REQUIRED cassandra_cluster LABELS "cassandra;cluster;slow" TIMEOUT 600
    ENVIRONMENT "TIDELINE_CASSANDRA_HEAP=768M")
endif()
