// Black-box tests of the command line: flags, help, exit codes, error messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/run_binary.h"

namespace tideline {
namespace {

using testing::run_tideline;
namespace fs = std::filesystem;

TEST(Cli, HelpOnEveryCommand) {
  for (std::vector<std::string> cmd : {std::vector<std::string>{},
                                       {"prep-env"},
                                       {"main-proc"},
                                       {"gen-eshop"},
                                       {"table"},
                                       {"table", "dump"},
                                       {"table", "count"},
                                       {"query"},
                                       {"prepare"}}) {
    cmd.push_back("--help");
    auto r = run_tideline(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd[0] << ": " << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd[0] << ": " << r.out;
  }
  auto r = run_tideline({"prep-env", "--help"});
  for (const char* flag : {"-cf", "-cdt", "-cpt", "-ldr", "-rsf", "-ldn"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST(Cli, VersionAndUsageErrors) {
  auto v = run_tideline({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("tideline"), std::string::npos);
  EXPECT_EQ(run_tideline({}).exit_code, 2);
  EXPECT_EQ(run_tideline({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(run_tideline({"main-proc"}).exit_code, 2) << "-wt is required";
  auto bad_wt = run_tideline({"main-proc", "-wt", "transformer", "-cf", "x.properties"});
  EXPECT_EQ(bad_wt.exit_code, 2);
  EXPECT_NE(bad_wt.err.find("producer, processor, consumer"), std::string::npos) << bad_wt.err;
}

TEST(Cli, MissingConfigFileIsAUsageErrorNamingTheFile) {
  auto r = run_tideline({"prep-env", "-cf", "/nonexistent/main.properties"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/main.properties"), std::string::npos) << r.err;
  auto r2 = run_tideline({"main-proc", "--cfile=/nonexistent/x.properties", "-wt", "producer"});
  EXPECT_EQ(r2.exit_code, 2);
  auto r3 = run_tideline({"main-proc", "-cf=/nonexistent/y.properties", "-wt", "consumer"});
  EXPECT_EQ(r3.exit_code, 2);
  EXPECT_NE(r3.err.find("/nonexistent/y.properties"), std::string::npos) << r3.err;
}

TEST(Cli, LoadRecNumMustBeMinusOneOrPositive) {
  for (const char* n : {"0", "-2"}) {
    auto r = run_tideline({"prep-env", "-cf", "x", "-ldr", "true", "-rsf", "f.csv", "-ldn", n});
    EXPECT_EQ(r.exit_code, 2) << n;
    EXPECT_NE(r.err.find("-ldn"), std::string::npos) << r.err;
  }
  auto r = run_tideline({"prep-env", "-ldn", "abc"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, GenEshopWritesRequestedRows) {
  auto path = fs::temp_directory_path() / "tl-cli-gen.csv";
  auto r = run_tideline({"gen-eshop", "--rows", "250", "--header", "--out", path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path);
  int lines = 0;
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_EQ(lines, 251);
  EXPECT_EQ(run_tideline({"gen-eshop", "--rows", "10"}).exit_code, 2) << "--out is required";
}

}  // namespace
}  // namespace tideline
