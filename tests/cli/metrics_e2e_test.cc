// `main-proc --follow --metrics-port` through the binary: while the processor runs, a real
// HTTP client scrapes its metrics until the events taken in equal the rows produced; SIGTERM
// then stops it cleanly. Its log has the periodic report and no secret of the config.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/run_binary.h"
#include "common/metrics_exposition_reader.h"
#include "common/time.h"
#include "pipeline/curl_scrape.h"

extern char** environ;

namespace tideline {
namespace {

namespace fs = std::filesystem;
using testing::run_tideline;

const char* kSecret = "Sup3rS3cretPassw0rd";

// A socket listening on a port the kernel picked on 127.0.0.1; *port is that port.
int listen_any(uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(fd, 1);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A port that was free a moment ago (the binary binds it right after).
uint16_t free_port() {
  uint16_t port = 0;
  ::close(listen_any(&port));
  return port;
}

// The binary in the background with stdout and stderr to files.
struct Background {
  pid_t pid = -1;
  std::string out_path, err_path;
  Background(const std::vector<std::string>& args, const fs::path& dir) {
    out_path = (dir / "bg.out").string();
    err_path = (dir / "bg.err").string();
    std::vector<std::string> argv{TIDELINE_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  // Sends `sig` and waits; the exit code (128 + signal when killed).
  int stop(int sig) {
    if (pid < 0) return -1;
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool running() {
    int status = 0;
    return pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0;
  }
  ~Background() {
    if (pid > 0) stop(SIGKILL);
  }
};

TEST(MetricsEndpoint, FollowingProcessorServesMetricsUntilStopped) {
  const fs::path dir = fs::temp_directory_path() / ("tl-metrics-e2e-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string conf = std::string(TIDELINE_SOURCE_DIR) + "/conf";
  const std::string config = (dir / "main.properties").string();
  // The config's port is taken (the flag overrides it; without the flag the run fails).
  uint16_t taken = 0;
  const int taken_fd = listen_any(&taken);
  std::ofstream(config) << "ad.keyspace=shop\nad.table.input=clicks_in\n"
                           "ad.table.output=clicks_out\nas.tenant=public\nas.namespace=me\n"
                           "as.topic.input=clicks_in\nas.topic.output=clicks_out\n"
                           "tideline.backend=embedded\ntideline.data.dir=data\n"
                           "tideline.cassandra.password="
                        << kSecret
                        << "\ntideline.log.report.interval.ms=100\n"
                           "tideline.metrics.port="
                        << taken << "\ntideline.processor.query=" << conf
                        << "/fenl/eshop_output.fenl\ntideline.cql.input.stmt=" << conf
                        << "/cql/input_tbl.stmt\ntideline.cql.output.stmt=" << conf
                        << "/cql/output_tbl.stmt\ntideline.schema.input=" << conf
                        << "/pulsar-schema/input_topic.json\ntideline.schema.output=" << conf
                        << "/pulsar-schema/output_topic.json\n";
  const int64_t kRows = 800;
  const std::string csv = (dir / "eshop.csv").string();
  ASSERT_EQ(run_tideline({"gen-eshop", "--rows", std::to_string(kRows), "--out", csv}).exit_code,
            0);
  auto prep = run_tideline({"prep-env", "-cf", config, "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
  ASSERT_EQ(prep.exit_code, 0) << prep.err;
  // --metrics-port 0 turns the endpoint off whatever the config says.
  auto prod = run_tideline({"main-proc", "-cf", config, "-wt", "producer", "--metrics-port", "0"});
  ASSERT_EQ(prod.exit_code, 0) << prod.err;

  const uint16_t port = free_port();
  Background proc({"main-proc", "-cf", config, "-wt", "processor", "--follow", "--idle-ms", "100",
                   "--metrics-port", std::to_string(port)},
                  dir);
  ASSERT_GT(proc.pid, 0);
  // Scrape until the processor took in every row (or the deadline passes).
  double events_in = -1;
  std::string body;
  const int64_t deadline = monotonic_ns() + 120'000'000'000;
  while (monotonic_ns() < deadline && proc.running()) {
    auto s = testing::curl_get(testing::metrics_url(port), 2000);
    if (s.ok && s.status == 200) {
      body = s.body;
      auto e = testing::read_exposition(s.body);
      ASSERT_TRUE(e.ok) << e.error;
      events_in = e.value("tideline_events_in_total", {{"stage", "processor"}});
      if (events_in == kRows) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval, not a wait
  }
  EXPECT_EQ(events_in, kRows) << body << testing::slurp(proc.err_path);
  EXPECT_EQ(body.find(kSecret), std::string::npos);
  auto health = testing::curl_get("http://127.0.0.1:" + std::to_string(port) + "/healthz");
  EXPECT_EQ(health.status, 200);

  // The periodic report (every 100 ms) with every row counted.
  const std::string report = "processor: " + std::to_string(kRows) + " events in (";
  while (monotonic_ns() < deadline &&
         testing::slurp(proc.err_path).find(report) == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(proc.stop(SIGTERM), 0) << testing::slurp(proc.err_path);
  const std::string out = testing::slurp(proc.out_path), err = testing::slurp(proc.err_path);
  EXPECT_NE(out.find(std::to_string(kRows) + " rows in"), std::string::npos) << out;
  EXPECT_NE(err.find("metrics on http://127.0.0.1:" + std::to_string(port) + "/metrics"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(report), std::string::npos) << "the periodic report\n" << err;
  EXPECT_EQ((out + err).find(kSecret), std::string::npos);
  EXPECT_FALSE(testing::curl_get(testing::metrics_url(port), 1000).ok)
      << "the endpoint is gone with the process";

  // The config's port is used without the flag: taken, it fails the run, naming it.
  auto bad = run_tideline({"main-proc", "-cf", config, "-wt", "consumer"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("127.0.0.1:" + std::to_string(taken)), std::string::npos) << bad.err;
  ::close(taken_fd);
  auto usage = run_tideline({"main-proc", "-cf", config, "-wt", "consumer", "--metrics-port", "x"});
  EXPECT_NE(usage.exit_code, 0);
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace tideline
