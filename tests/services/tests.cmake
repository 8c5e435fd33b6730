# Real Apache Cassandra and Apache Pulsar servers for the tests labelled `cassandra` and
# `pulsar` (docs/services.md). Each server is a CTest fixture: its start test runs once
# before the first test that requires it, its stop test after the last one, whether or not
# they passed. Tests of other parts use a server with
#   set_tests_properties(my.test PROPERTIES FIXTURES_REQUIRED cassandra_server LABELS "cassandra;slow")
# (resp. pulsar_server / "pulsar;slow"). `scripts/test.sh --fast` skips all of them.
set(tl_services_dir ${CMAKE_SOURCE_DIR}/scripts/services)
set(tl_services_tests ${CMAKE_CURRENT_LIST_DIR})

foreach(server cassandra pulsar)
  # Start includes the one-time download from Maven Central on a fresh machine; the script
  # bounds its own wait for the server (TIDELINE_START_TIMEOUT, 240 s).
  add_test(NAME services.${server}.start COMMAND ${tl_services_dir}/${server}.sh start --lease)
  set_tests_properties(services.${server}.start PROPERTIES
    FIXTURES_SETUP ${server}_server LABELS "${server};slow" TIMEOUT 900)

  add_test(NAME services.${server}.stop COMMAND ${tl_services_dir}/${server}.sh stop --lease)
  set_tests_properties(services.${server}.stop PROPERTIES
    FIXTURES_CLEANUP ${server}_server LABELS "${server};slow" TIMEOUT 120)

  add_test(NAME services.${server}.running COMMAND ${tl_services_tests}/check_running.sh ${server})
  set_tests_properties(services.${server}.running PROPERTIES
    FIXTURES_REQUIRED ${server}_server LABELS "${server};slow" TIMEOUT 60)

  # Smoke test with the official Python client only (reference peer from the venv).
  add_test(NAME services.${server}.smoke
    COMMAND ${tl_services_dir}/venv-python ${tl_services_tests}/${server}_smoke.py)
  set_tests_properties(services.${server}.smoke PROPERTIES
    FIXTURES_REQUIRED ${server}_server LABELS "${server};slow" TIMEOUT 300)
endforeach()

# The secured profile of both servers (docs/services.md, "Secured servers"): TLS, Cassandra
# password authentication with client certificates, Pulsar token authentication and
# authorization. Separate processes on other ports, so they run next to the plain ones.
# Fixtures cassandra_secure_server / pulsar_secure_server, labels "<server>;secure;slow".
foreach(server cassandra pulsar)
  add_test(NAME services.${server}.secure.start
    COMMAND ${tl_services_dir}/${server}.sh start --lease --secure)
  set_tests_properties(services.${server}.secure.start PROPERTIES
    FIXTURES_SETUP ${server}_secure_server LABELS "${server};secure;slow" TIMEOUT 900)

  add_test(NAME services.${server}.secure.stop
    COMMAND ${tl_services_dir}/${server}.sh stop --lease --secure)
  set_tests_properties(services.${server}.secure.stop PROPERTIES
    FIXTURES_CLEANUP ${server}_secure_server LABELS "${server};secure;slow" TIMEOUT 120)

  add_test(NAME services.${server}.secure.running
    COMMAND ${tl_services_tests}/check_running.sh ${server} --secure)
  set_tests_properties(services.${server}.secure.running PROPERTIES
    FIXTURES_REQUIRED ${server}_secure_server LABELS "${server};secure;slow" TIMEOUT 60)
endforeach()

# A two-node Cassandra cluster (cassandra.sh --node 1|2; docs/services.md, "Two-node
# cluster"): node 1 on 127.0.0.1, node 2 on 127.0.0.2, both on native port 9242. Fixture
# cassandra_cluster, labels "cassandra;cluster;slow". Node 2 starts after node 1 (its seed).
add_test(NAME services.cassandra.cluster.start1
  COMMAND ${tl_services_dir}/cassandra.sh start --lease --node 1)
add_test(NAME services.cassandra.cluster.start2
  COMMAND ${tl_services_dir}/cassandra.sh start --lease --node 2)
set_tests_properties(services.cassandra.cluster.start1 services.cassandra.cluster.start2
  PROPERTIES FIXTURES_SETUP cassandra_cluster LABELS "cassandra;cluster;slow" TIMEOUT 900
  ENVIRONMENT "TIDELINE_CASSANDRA_HEAP=768M")
set_tests_properties(services.cassandra.cluster.start2 PROPERTIES
  DEPENDS services.cassandra.cluster.start1)
add_test(NAME services.cassandra.cluster.stop2
  COMMAND ${tl_services_dir}/cassandra.sh stop --lease --node 2)
add_test(NAME services.cassandra.cluster.stop1
  COMMAND ${tl_services_dir}/cassandra.sh stop --lease --node 1)
set_tests_properties(services.cassandra.cluster.stop1 services.cassandra.cluster.stop2
  PROPERTIES FIXTURES_CLEANUP cassandra_cluster LABELS "cassandra;cluster;slow" TIMEOUT 120)
