#pragma once
// Runs the built `tideline` binary for black-box tests of the command line.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace tideline::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `argv` (argv[0] = the program) with stdout and stderr captured through temp files.
// `env` is a list of NAME=VALUE assignments for this run only.
inline RunResult run_command(const std::vector<std::string>& argv, const std::string& cwd = "",
                             const std::vector<std::string>& env = {}) {
  static int counter = 0;
  auto base = std::filesystem::temp_directory_path() /
              ("tl-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::string cmd;
  if (!cwd.empty()) cmd += "cd " + shell_quote(cwd) + " && ";
  cmd += "exec env ";
  for (const auto& e : env) cmd += shell_quote(e) + " ";
  for (size_t i = 0; i < argv.size(); ++i) cmd += (i ? " " : "") + shell_quote(argv[i]);
  cmd += " >" + shell_quote(base.string() + ".out") + " 2>" + shell_quote(base.string() + ".err");
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(base.string() + ".out");
  r.err = slurp(base.string() + ".err");
  std::filesystem::remove(base.string() + ".out");
  std::filesystem::remove(base.string() + ".err");
  return r;
}

// Runs TIDELINE_BINARY with `args` (see run_command).
inline RunResult run_tideline(const std::vector<std::string>& args, const std::string& cwd = "",
                              const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{TIDELINE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, cwd, env);
}

// Starts TIDELINE_BINARY with `args` in the background, stdout and stderr appended to `log`;
// the caller waits for (or kills) the returned pid.
inline pid_t spawn_tideline(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    std::string bin = TIDELINE_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// What `main-proc -wt STAGE` must report for a run over `rows` input rows. `replay`: the
// input was processed before and is produced again, so the processor (whose checkpoint
// keeps its state and watermark) routes every event to the dead-letter topic as late and
// publishes nothing, and the consumer then gets nothing.
inline std::string expected_stage_report(const std::string& stage, int64_t rows, bool replay) {
  if (!replay || stage == "producer") return std::to_string(rows) + " rows in";
  if (stage == "processor")
    return "0 rows in, 0 rows out, " + std::to_string(rows) + " dead letters";
  return "0 rows in";
}

// Splits simple CSV output (no quoted commas) into rows of cells; a trailing comma is an
// empty last cell.
inline std::vector<std::vector<std::string>> split_simple_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::string cell;
    std::stringstream ls(line);
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    rows.push_back(cells);
  }
  return rows;
}

// A CSV with a header (split_simple_csv) as maps from column name to cell.
inline std::vector<std::map<std::string, std::string>> csv_records(const std::string& text) {
  auto rows = split_simple_csv(text);
  std::vector<std::map<std::string, std::string>> out;
  for (size_t i = 1; i < rows.size(); ++i) {
    std::map<std::string, std::string> r;
    for (size_t c = 0; c < rows[0].size(); ++c)
      r[rows[0][c]] = c < rows[i].size() ? rows[i][c] : "";
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tideline::testing
