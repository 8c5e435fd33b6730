// The CQL client on a real two-node Cassandra cluster (scripts/services/cassandra.sh --node 1
// and --node 2: 127.0.0.1 and 127.0.0.2, native port 9242), through the binary: prep-env loads
// the e-shop input table at consistency ONE into a keyspace with replication factor 2, and
// node 1 (the only contact point, the node the load is connected to) is stopped in the middle
// of the load. The load must complete through node 2, which the client learned from
// system.peers_v2; once node 1 is back (with its data), every row is there, read by the
// official Python driver at consistency ALL (both replicas answer). Batches are routed by
// token: each row straight to the node that owns its partition key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/run_binary.h"

extern char** environ;

namespace tideline {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::run_tideline;
using testing::slurp;

const std::string kScript = std::string(TIDELINE_SOURCE_DIR) + "/scripts/services/cassandra.sh";

TEST(TwoNodeCluster, LoadSurvivesTheConnectedNodeGoingAwayAndEveryRowIsThere) {
  const std::string ks = "tl_two_" + std::to_string(::getpid());
  const fs::path dir = fs::temp_directory_path() / ("tl-cluster-" + ks);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string conf = std::string(TIDELINE_SOURCE_DIR) + "/conf";
  auto python = [&](const std::string& body) {
    const std::string path = (dir / "peer.py").string();
    std::ofstream(path) << "from cassandra.cluster import Cluster\n"
                           "from cassandra import ConsistencyLevel\n"
                           "from cassandra.query import SimpleStatement\n"
                           "s = Cluster(['127.0.0.1', '127.0.0.2'], port=9242).connect()\n"
                        << body;
    return run_command({TIDELINE_VENV_PYTHON, path});
  };
  auto ksr =
      python("s.execute(\"CREATE KEYSPACE " + ks +
             " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}\")\n");
  ASSERT_EQ(ksr.exit_code, 0) << ksr.err;

  // prep-env -cpt false touches Cassandra only; the clusters backend still wants a
  // client.conf: it names a port nothing listens on, so no Pulsar server can be touched.
  std::ofstream(dir / "client.conf") << "brokerServiceUrl=pulsar://127.0.0.1:1\n"
                                        "webServiceUrl=http://127.0.0.1:1\n";
  const std::string config = (dir / "main.properties").string();
  std::ofstream(config) << "ad.keyspace=" << ks
                        << "\nad.table.input=clicks_in\nad.table.output=clicks_out\n"
                           "as.client.conf=client.conf\nas.tenant=public\nas.namespace=default\n"
                           "as.topic.input=in\nas.topic.output=out\n"
                           "tideline.backend=clusters\n"
                           "tideline.cassandra.contact.points=127.0.0.1:9242\n"
                           "tideline.cassandra.consistency=ONE\n"
                           "tideline.cql.input.stmt="
                        << conf << "/cql/input_tbl.stmt\ntideline.cql.output.stmt=" << conf
                        << "/cql/output_tbl.stmt\ntideline.schema.input=" << conf
                        << "/pulsar-schema/input_topic.json\ntideline.schema.output=" << conf
                        << "/pulsar-schema/output_topic.json\n";
  const int64_t kRows = 120000;
  const std::string csv = (dir / "eshop.csv").string();
  ASSERT_EQ(run_tideline({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "31", "--header",
                          "--out", csv})
                .exit_code,
            0);

  // The load in the background.
  const std::string out_path = (dir / "prep.out").string(), err_path = (dir / "prep.err").string();
  std::vector<std::string> argv{TIDELINE_BINARY, "--log-level", "debug", "prep-env", "-cf",  config,
                                "-cdt",          "true",        "-cpt",  "false",    "-ldr", "true",
                                "-rsf",          csv,           "-ldn",  "-1"};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);

  // Once rows are arriving, node 1 goes away.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int64_t seen = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto c = python("print(s.execute('SELECT COUNT(*) FROM " + ks + ".clicks_in')[0][0])\n");
    if (c.exit_code == 0) seen = std::atoll(c.out.c_str());
    if (seen > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // poll interval
  }
  ASSERT_GT(seen, 0) << slurp(err_path);
  auto stop = run_command({kScript, "stop", "--node", "1"});
  ASSERT_EQ(stop.exit_code, 0) << stop.out << stop.err;

  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const std::string out = slurp(out_path), err = slurp(err_path);
  // Node 1 back, with its data (not wiped), before anything else can fail.
  // --lease: the fixture's cleanup stops it (a node started by hand would be left running).
  auto start = run_command({kScript, "start", "--node", "1", "--keep", "--lease"});
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;

  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out << err;
  EXPECT_NE(out.find("loaded " + std::to_string(kRows) + ", rejected 0"), std::string::npos)
      << out << err;
  // The failover happened (node 1 was stopped while the load was connected to it): the test
  // fails if the load finished before the stop took effect.
  EXPECT_NE(err.find("writing the batch again through another node"), std::string::npos)
      << "rows seen before the stop: " << seen << "\n"
      << err;
  EXPECT_LT(seen, kRows) << "the load had finished before node 1 was stopped";
  // Token-aware routing: batches were split between the two nodes by token, node 2's rows
  // sent over a connection of their own (debug log "routed: <node> <rows>, ...").
  EXPECT_NE(err.find("127.0.0.2:9242 "), std::string::npos) << err;
  EXPECT_NE(err.find("routed: 127.0.0.1:9242 "), std::string::npos) << err;

  // Every key, read page by page at ALL (both replicas answer; the coordinator repairs the
  // rows node 1 missed while it was down). Node 2 may take a moment to see node 1 up again.
  auto count = python(
      "import time\n"
      "st = SimpleStatement('SELECT so_key FROM " +
      ks +
      ".clicks_in', consistency_level=ConsistencyLevel.ALL, fetch_size=2000)\n"
      "for attempt in range(30):\n"
      "    try:\n"
      "        print(sum(1 for _ in s.execute(st, timeout=60)))\n"
      "        break\n"
      "    except Exception as e:\n"
      "        print('retry:', e, file=__import__('sys').stderr)\n"
      "        time.sleep(2)\n");
  ASSERT_EQ(count.exit_code, 0) << count.err;
  EXPECT_EQ(std::atoll(count.out.c_str()), kRows) << count.out << count.err;
  python("s.execute('DROP KEYSPACE IF EXISTS " + ks + "')\n");
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace tideline
