// The pipeline against the secured test servers (scripts/services/{cassandra,pulsar}.sh
// --secure; docs/services.md, "Secured servers"), through the binary as a user runs it:
// Cassandra over TLS with a client certificate and password authentication, Pulsar over
// pulsar+ssl:// and https:// with token authentication and authorization.
//  - SecurePipeline.*: prep-env -> producer -> processor -> consumer; the output table (read by
//    the official Python driver over TLS, an independent peer) equals the input table.
//  - SecureErrors.*: each misconfiguration a user makes fails with a non-zero exit code and a
//    message that names the cause and what to fix.
//  - SecureSecrets.*: the token, the password and the Astra client secret never appear in the
//    stages' output (at debug level) nor on /metrics.
// The servers' material (CA, client certificate, password, tokens) is generated at each start;
// the test reads its paths from `<server>.sh env --secure`.
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
#include <map>
#include <sstream>
#include <thread>

#include "cli/run_binary.h"
#include "pipeline/curl_scrape.h"

extern char** environ;

namespace tideline {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::run_tideline;
using testing::RunResult;
using testing::slurp;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// KEY=VALUE lines of `<server>.sh env --secure`.
std::map<std::string, std::string> service_env(const std::string& server) {
  auto r = run_command({std::string(TIDELINE_SOURCE_DIR) + "/scripts/services/" + server + ".sh",
                        "env", "--secure"});
  std::map<std::string, std::string> env;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

const std::map<std::string, std::string>& cassandra_env() {
  static const auto env = service_env("cassandra");
  return env;
}
const std::map<std::string, std::string>& pulsar_env() {
  static const auto env = service_env("pulsar");
  return env;
}

// The settings a test changes from the working secured configuration.
struct Settings {
  std::string cassandra_contact;  // default localhost:<port>
  std::string cassandra_password;
  std::string cassandra_ca;
  bool cassandra_client_cert = true;
  std::string broker_url,
      web_url;              // default pulsar+ssl://localhost:<port>, https://localhost:<port>
  std::string auth_params;  // default token:<the tideline role's token>
  std::string pulsar_ca;
  std::string extra;  // appended to main.properties
};

class SecureBase : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& ce = cassandra_env();
    const auto& pe = pulsar_env();
    ASSERT_TRUE(ce.count("TIDELINE_CASSANDRA_PASSWORD_FILE")) << "cassandra.sh env --secure";
    ASSERT_TRUE(pe.count("TIDELINE_PULSAR_TOKEN_FILE")) << "pulsar.sh env --secure";
    password_ = trim(slurp(ce.at("TIDELINE_CASSANDRA_PASSWORD_FILE")));
    token_ = trim(slurp(pe.at("TIDELINE_PULSAR_TOKEN_FILE")));
    ASSERT_FALSE(password_.empty());
    ASSERT_FALSE(token_.empty());
    static int counter = 0;
    tag_ = "tl_sec_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    dir_ = fs::temp_directory_path() / ("tl-secure-" + tag_);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "main.properties").string();
  }
  void TearDown() override {
    python("s = session()\ns.execute('DROP KEYSPACE IF EXISTS " + tag_ + "')\n");
    if (!HasFailure()) fs::remove_all(dir_);
  }

  Settings defaults() const {
    const auto& ce = cassandra_env();
    const auto& pe = pulsar_env();
    Settings s;
    s.cassandra_contact = ce.at("TIDELINE_CASSANDRA_HOST") + ":" + ce.at("TIDELINE_CASSANDRA_PORT");
    s.cassandra_password = password_;
    s.cassandra_ca = ce.at("TIDELINE_CASSANDRA_CA_FILE");
    s.broker_url = pe.at("TIDELINE_PULSAR_URL");
    s.web_url = pe.at("TIDELINE_PULSAR_ADMIN_URL");
    s.auth_params = "token:" + token_;
    s.pulsar_ca = pe.at("TIDELINE_PULSAR_CA_FILE");
    return s;
  }

  // Writes main.properties and client.conf for `s`; topics are this test's own, in the
  // namespace the secured Pulsar grants the pipeline's role.
  void write_config(const Settings& s) {
    const auto& ce = cassandra_env();
    const std::string conf = std::string(TIDELINE_SOURCE_DIR) + "/conf";
    std::ofstream(dir_ / "client.conf")
        << "webServiceUrl=" << s.web_url << "/\n"
        << "brokerServiceUrl=" << s.broker_url << "/\n"
        << "authPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken\n"
        << "authParams=" << s.auth_params << "\n"
        << "tlsTrustCertsFilePath=" << s.pulsar_ca << "\n"
        << "tlsAllowInsecureConnection=false\n"
        << "tlsEnableHostnameVerification=true\n";
    std::ofstream out(config_);
    out << "ad.keyspace=" << tag_ << "\n"
        << "ad.table.input=clicks_in\nad.table.output=clicks_out\n"
        << "as.client.conf=client.conf\n"
        << "as.tenant=tideline\nas.namespace=pipeline\n"
        << "as.topic.input=" << tag_ << "_in\nas.topic.output=" << tag_ << "_out\n"
        << "as.topic.schema=true\n"
        << "tideline.backend=clusters\n"
        << "tideline.processor.subscription=" << tag_ << "-processor\n"
        << "tideline.consumer.subscription=" << tag_ << "-consumer\n"
        << "tideline.cassandra.contact.points=" << s.cassandra_contact << "\n"
        << "tideline.cassandra.consistency=ONE\n"
        << "tideline.cassandra.username=" << ce.at("TIDELINE_CASSANDRA_USERNAME") << "\n"
        << "tideline.cassandra.password=" << s.cassandra_password << "\n"
        << "tideline.cassandra.tls=true\n"
        << "tideline.cassandra.tls.ca.file=" << s.cassandra_ca << "\n";
    if (s.cassandra_client_cert) {
      out << "tideline.cassandra.tls.cert.file=" << ce.at("TIDELINE_CASSANDRA_CERT_FILE") << "\n"
          << "tideline.cassandra.tls.key.file=" << ce.at("TIDELINE_CASSANDRA_KEY_FILE") << "\n";
    }
    out << "tideline.processor.query=" << conf << "/fenl/eshop_output.fenl\n"
        << "tideline.cql.input.stmt=" << conf << "/cql/input_tbl.stmt\n"
        << "tideline.cql.output.stmt=" << conf << "/cql/output_tbl.stmt\n"
        << "tideline.schema.input=" << conf << "/pulsar-schema/input_topic.json\n"
        << "tideline.schema.output=" << conf << "/pulsar-schema/output_topic.json\n"
        << s.extra;
  }

  RunResult run(std::vector<std::string> args) { return run_tideline(args); }

  RunResult prep(const std::string& csv) {
    return run({"prep-env", "-cf", config_, "-cdt", "true", "-cpt", "true", "-ldr", "true", "-rsf",
                csv, "-ldn", "-1"});
  }

  std::string gen(int64_t rows, int seed) {
    std::string csv = (dir_ / "eshop.csv").string();
    auto g = run({"gen-eshop", "--rows", std::to_string(rows), "--seed", std::to_string(seed),
                  "--header", "--out", csv});
    EXPECT_EQ(g.exit_code, 0) << g.err;
    return csv;
  }

  // The official Python driver over TLS with the client certificate and the password;
  // `session()` in the script connects.
  RunResult python(const std::string& body) {
    const auto& ce = cassandra_env();
    auto path = (dir_ / "peer.py").string();
    std::ofstream(path) << "import ssl\n"
                           "from cassandra.cluster import Cluster\n"
                           "from cassandra.auth import PlainTextAuthProvider\n"
                           "def session():\n"
                           "    ctx = ssl.create_default_context(cafile='"
                        << ce.at("TIDELINE_CASSANDRA_CA_FILE")
                        << "')\n"
                           "    ctx.load_cert_chain('"
                        << ce.at("TIDELINE_CASSANDRA_CERT_FILE") << "', '"
                        << ce.at("TIDELINE_CASSANDRA_KEY_FILE")
                        << "')\n"
                           "    pw = open('"
                        << ce.at("TIDELINE_CASSANDRA_PASSWORD_FILE")
                        << "').read().strip()\n"
                           "    return Cluster(['"
                        << ce.at("TIDELINE_CASSANDRA_HOST")
                        << "'], port=" << ce.at("TIDELINE_CASSANDRA_PORT")
                        << ", ssl_context=ctx, ssl_options={'server_hostname': '"
                        << ce.at("TIDELINE_CASSANDRA_HOST")
                        << "'}, auth_provider=PlainTextAuthProvider('"
                        << ce.at("TIDELINE_CASSANDRA_USERNAME") << "', pw)).connect()\n"
                        << body;
    return run_command({TIDELINE_VENV_PYTHON, path});
  }

  std::vector<std::string> read_with_python(const std::string& table) {
    auto r =
        python("rows = session().execute('SELECT session, model, price, event_time, so_key FROM " +
               tag_ + "." + table +
               "')\n"
               "print('\\n'.join(sorted(','.join(str(v) for v in r) for r in rows)))\n");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }

  // A token for `role` signed with the broker's key (exp: seconds since the epoch, or none).
  std::string make_token(const std::string& role, const std::string& exp = "",
                         const std::string& key = "") {
    std::vector<std::string> argv{
        "python3", std::string(TIDELINE_SOURCE_DIR) + "/scripts/services/token.py", "create",
        key.empty() ? pulsar_env().at("TIDELINE_PULSAR_SECRET_KEY_FILE") : key, role};
    if (!exp.empty()) argv.push_back(exp);
    auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return trim(r.out);
  }

  std::string tag_;
  fs::path dir_;
  std::string config_;
  std::string password_, token_;
};

// ---------------------------------------------------------------------------------------------
// The pipeline end to end.

class SecurePipeline : public SecureBase {};

TEST_F(SecurePipeline, OutputEqualsInputOverTlsWithTokenAndPassword) {
  const int64_t kRows = 1000;
  write_config(defaults());
  const std::string csv = gen(kRows, 21);
  auto p = prep(csv);
  ASSERT_EQ(p.exit_code, 0) << p.out << p.err;
  EXPECT_NE(p.out.find("loaded " + std::to_string(kRows) + ", rejected 0"), std::string::npos)
      << p.out;
  for (const char* wt : {"producer", "processor", "consumer"}) {
    auto r = run({"main-proc", "-cf", config_, "-wt", wt, "--idle-ms", "2000"});
    ASSERT_EQ(r.exit_code, 0) << wt << ": " << r.out << r.err;
    EXPECT_NE(r.out.find(testing::expected_stage_report(wt, kRows, false)), std::string::npos)
        << wt << ": " << r.out;
  }
  auto input = read_with_python("clicks_in");
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(read_with_python("clicks_out"), input);
  auto count = run({"table", "count", "-cf", config_, "output"});
  EXPECT_EQ(count.out, std::to_string(kRows) + "\n") << count.err;
}

// authParams=file:///path, as the original demo's client.conf may say, and the client
// certificate left out where the server does not require one is covered by the errors below.
TEST_F(SecurePipeline, TokenFromFileWorks) {
  Settings s = defaults();
  s.auth_params = "file://" + pulsar_env().at("TIDELINE_PULSAR_TOKEN_FILE");
  write_config(s);
  const std::string csv = gen(200, 22);
  auto p = prep(csv);
  ASSERT_EQ(p.exit_code, 0) << p.out << p.err;
  auto r = run({"main-proc", "-cf", config_, "-wt", "producer", "--idle-ms", "2000"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(testing::expected_stage_report("producer", 200, false)), std::string::npos)
      << r.out;
}

// ---------------------------------------------------------------------------------------------
// Clear errors. Each: exit code non-zero, the message names the cause and what to change, and
// the secret involved is not in it.

class SecureErrors : public SecureBase {
 protected:
  // Runs prep-env (which talks to both servers) with `s`; returns its output.
  RunResult prep_with(const Settings& s) {
    write_config(s);
    return prep(gen(10, 23));
  }
  static void expect_all(const RunResult& r, const std::vector<std::string>& needles) {
    std::printf("exit %d: %s", r.exit_code, r.err.c_str());  // the message, for the log
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    for (const auto& n : needles) {
      EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "' in:\n" << r.err;
    }
  }
  // A CA the servers' certificates are not signed by.
  std::string other_ca() {
    auto ca = (dir_ / "other-ca.pem").string();
    auto r = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                          "-subj", "/CN=Some other CA", "-keyout", (dir_ / "other-ca.key").string(),
                          "-out", ca});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ca;
  }
};

TEST_F(SecureErrors, WrongCassandraPassword) {
  Settings s = defaults();
  s.cassandra_password = "not-the-password-" + tag_;
  auto r = prep_with(s);
  expect_all(r, {"authentication", "tideline.cassandra.username", "tideline.cassandra.password"});
  EXPECT_EQ(r.err.find(s.cassandra_password), std::string::npos) << r.err;
}

TEST_F(SecureErrors, CassandraClientCertificateMissing) {
  Settings s = defaults();
  s.cassandra_client_cert = false;
  auto r = prep_with(s);
  expect_all(r, {"client certificate", "tideline.cassandra.tls.cert.file"});
}

TEST_F(SecureErrors, CassandraUnknownCa) {
  Settings s = defaults();
  s.cassandra_ca = other_ca();
  auto r = prep_with(s);
  expect_all(r, {"certificate", "tideline.cassandra.tls.ca.file"});
}

TEST_F(SecureErrors, CassandraHostnameMismatch) {
  Settings s = defaults();
  // The certificate names localhost only.
  s.cassandra_contact = "127.0.0.1:" + cassandra_env().at("TIDELINE_CASSANDRA_PORT");
  auto r = prep_with(s);
  expect_all(r, {"127.0.0.1", "does not match", "tideline.cassandra.contact.points"});
}

TEST_F(SecureErrors, PulsarWrongToken) {
  Settings s = defaults();
  auto key = (dir_ / "other.key").string();
  ASSERT_EQ(run_command({"python3", std::string(TIDELINE_SOURCE_DIR) + "/scripts/services/token.py",
                         "secret-key", key})
                .exit_code,
            0);
  const std::string bad = make_token("tideline", "", key);
  s.auth_params = "token:" + bad;
  auto r = prep_with(s);
  expect_all(r, {"authentication", "authParams"});
  EXPECT_EQ(r.err.find(bad), std::string::npos) << r.err;
}

TEST_F(SecureErrors, PulsarExpiredToken) {
  Settings s = defaults();
  const std::string expired = make_token("tideline", "1700000000");  // Nov 2023
  s.auth_params = "token:" + expired;
  auto r = prep_with(s);
  expect_all(r, {"expired", "authParams"});
  EXPECT_EQ(r.err.find(expired), std::string::npos) << r.err;
}

TEST_F(SecureErrors, PulsarRoleWithoutPermission) {
  // The topics exist (prep-env as the pipeline's role); a role without permissions on the
  // namespace cannot produce to them.
  write_config(defaults());
  auto p = prep(gen(10, 24));
  ASSERT_EQ(p.exit_code, 0) << p.out << p.err;
  Settings s = defaults();
  s.auth_params = "file://" + pulsar_env().at("TIDELINE_PULSAR_OUTSIDER_TOKEN_FILE");
  write_config(s);
  auto r = run({"main-proc", "-cf", config_, "-wt", "producer", "--idle-ms", "2000"});
  expect_all(r, {"not authorized", "outsider", tag_ + "_in", "grant"});
}

TEST_F(SecureErrors, PulsarUnknownCa) {
  Settings s = defaults();
  s.pulsar_ca = other_ca();
  auto r = prep_with(s);
  expect_all(r, {"certificate", "tlsTrustCertsFilePath"});
}

TEST_F(SecureErrors, PulsarHostnameMismatch) {
  Settings s = defaults();
  // The certificate names localhost only.
  auto port_of = [](const std::string& url) { return url.substr(url.rfind(':') + 1); };
  s.web_url = "https://127.0.0.1:" + port_of(pulsar_env().at("TIDELINE_PULSAR_ADMIN_URL"));
  s.broker_url = "pulsar+ssl://127.0.0.1:" + port_of(pulsar_env().at("TIDELINE_PULSAR_URL"));
  auto r = prep_with(s);
  expect_all(r, {"127.0.0.1", "does not match", "tlsEnableHostnameVerification"});
}

// The binary protocol's own TLS check (prep-env only uses the admin REST API): the web
// service URL is right, the broker URL names an address the certificate does not list.
TEST_F(SecureErrors, PulsarBinaryHostnameMismatch) {
  write_config(defaults());
  auto p = prep(gen(10, 26));
  ASSERT_EQ(p.exit_code, 0) << p.out << p.err;
  Settings s = defaults();
  const std::string url = pulsar_env().at("TIDELINE_PULSAR_URL");
  s.broker_url = "pulsar+ssl://127.0.0.1:" + url.substr(url.rfind(':') + 1);
  write_config(s);
  auto r = run({"main-proc", "-cf", config_, "-wt", "producer", "--idle-ms", "2000"});
  expect_all(r,
             {"127.0.0.1", "does not match", "brokerServiceUrl", "tlsEnableHostnameVerification"});
}

// ---------------------------------------------------------------------------------------------
// Secrets never appear: the whole pipeline at debug level, plus a processor serving /metrics,
// with the real token, password and a known Astra client secret; then every byte they printed
// and the metrics page are searched for each secret.

class SecureSecrets : public SecureBase {};

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(SecureSecrets, NeverInOutputLogsOrMetrics) {
  const std::string kClientSecret = "AstraClientSecret-" + tag_;
  Settings s = defaults();
  s.auth_params = "file://" + pulsar_env().at("TIDELINE_PULSAR_TOKEN_FILE");
  s.extra = "ad.client.id=tideline-client\nad.client.secret=" + kClientSecret + "\n";
  write_config(s);
  const int64_t kRows = 300;
  const std::string csv = gen(kRows, 25);
  std::string all;
  auto keep = [&](const RunResult& r) { all += r.out + r.err; };
  auto p = run({"--log-level", "debug", "prep-env", "-cf", config_, "-cdt", "true", "-cpt", "true",
                "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
  ASSERT_EQ(p.exit_code, 0) << p.out << p.err;
  keep(p);
  auto pr = run({"--log-level", "debug", "main-proc", "-cf", config_, "-wt", "producer",
                 "--idle-ms", "2000"});
  ASSERT_EQ(pr.exit_code, 0) << pr.out << pr.err;
  keep(pr);

  // The processor in the background, serving /metrics until it took in every row.
  const uint16_t port = free_port();
  const std::string out_path = (dir_ / "proc.out").string(),
                    err_path = (dir_ / "proc.err").string();
  std::vector<std::string> argv{TIDELINE_BINARY,
                                "--log-level",
                                "debug",
                                "main-proc",
                                "-cf",
                                config_,
                                "-wt",
                                "processor",
                                "--follow",
                                "--idle-ms",
                                "200",
                                "--metrics-port",
                                std::to_string(port)};
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
  std::string metrics;
  const std::string want = "tideline_events_in_total{stage=\"processor\"} " + std::to_string(kRows);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = testing::curl_get(testing::metrics_url(port), 2000);
    if (m.ok && m.status == 200) {
      metrics = m.body;
      if (metrics.find(want) != std::string::npos) break;
    }
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      pid = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll interval
  }
  if (pid > 0) {
    ::kill(pid, SIGTERM);
    int st = 0;
    ::waitpid(pid, &st, 0);
  }
  EXPECT_NE(metrics.find(want), std::string::npos) << metrics << slurp(err_path);
  all += slurp(out_path) + slurp(err_path) + metrics;

  auto c = run({"--log-level", "debug", "main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms",
                "2000"});
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  keep(c);
  keep(run({"--log-level", "debug", "table", "count", "-cf", config_, "output"}));
  // The debug output is not empty (the test can see what the stages printed).
  EXPECT_GT(all.size(), 2000u);
  for (const std::string& secret : {token_, password_, kClientSecret}) {
    EXPECT_EQ(all.find(secret), std::string::npos)
        << "a secret (" << secret.size() << " characters) appears in the output";
  }
  // Nor a recognisable part of the token (its signature, its payload).
  EXPECT_EQ(all.find(token_.substr(token_.rfind('.') + 1)), std::string::npos);
}

}  // namespace
}  // namespace tideline
