# Integration tests of the clusters backend's wire clients against the real servers of
# tests/services (fixtures cassandra_server / pulsar_server). Each client's integration
# tests are the gtest files tests/io/<client>/*_itest.cc, built into one executable
# <client>_itests and run as one CTest test labelled "<client>;slow" (gtest_discover_tests
# cannot attach a fixture per test). Unit tests of the same clients (tests/io/<client>/
# *_test.cc) need no server and run with the other unit tests.
foreach(client cql pulsar)
  if(client STREQUAL "cql")
    set(server cassandra)
  else()
    set(server pulsar)
  endif()
  file(GLOB itest_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/io/${client}/*_itest.cc)
  if(NOT itest_srcs)
    continue()
  endif()
  add_executable(${client}_itests ${itest_srcs})
  target_include_directories(${client}_itests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${client}_itests PRIVATE tl_${client} tl_pipeline GTest::gtest GTest::gtest_main)
  target_compile_definitions(${client}_itests PRIVATE
    TIDELINE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TIDELINE_BINARY="$<TARGET_FILE:tideline>"
    TIDELINE_VENV_PYTHON="${PROJECT_SOURCE_DIR}/scripts/services/venv-python")
  add_dependencies(${client}_itests tideline)
  add_test(NAME ${client}.integration COMMAND ${client}_itests)
  set_tests_properties(${client}.integration PROPERTIES
    FIXTURES_REQUIRED ${server}_server LABELS "${server};slow" TIMEOUT 600)
endforeach()

# The pipeline on the clusters backend, through the binary: tests/clusters/*_itest.cc,
# needing both servers.
file(GLOB clusters_itest_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_itest.cc)
if(clusters_itest_srcs)
  add_executable(clusters_itests ${clusters_itest_srcs})
  target_include_directories(clusters_itests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(clusters_itests PRIVATE GTest::gtest GTest::gtest_main)
  target_compile_definitions(clusters_itests PRIVATE
    TIDELINE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TIDELINE_BINARY="$<TARGET_FILE:tideline>"
    TIDELINE_VENV_PYTHON="${PROJECT_SOURCE_DIR}/scripts/services/venv-python")
  add_dependencies(clusters_itests tideline)
  add_test(NAME clusters.pipeline COMMAND clusters_itests --gtest_filter=-ClustersFaults.*)
  set_tests_properties(clusters.pipeline PROPERTIES
    FIXTURES_REQUIRED "cassandra_server;pulsar_server" LABELS "cassandra;pulsar;slow" TIMEOUT 900)
  # Fault injection restarts the shared servers (faults_clusters_itest.cc): nothing else may
  # run at the same time.
  add_test(NAME clusters.faults COMMAND clusters_itests --gtest_filter=ClustersFaults.*)
  set_tests_properties(clusters.faults PROPERTIES
    FIXTURES_REQUIRED "cassandra_server;pulsar_server" LABELS "cassandra;pulsar;slow"
    RUN_SERIAL TRUE TIMEOUT 900)
endif()
