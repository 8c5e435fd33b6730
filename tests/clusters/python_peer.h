#pragma once
// The official Python clients (scripts/services/venv-python) as independent peers of the
// clusters tests: they read what Tideline wrote to the real servers.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/run_binary.h"

namespace tideline::testing {

// Runs `script` with the peers' Python (written to `dir`/peer.py).
inline RunResult run_python_peer(const std::filesystem::path& dir, const std::string& script) {
  const std::string path = (dir / "peer.py").string();
  std::ofstream(path) << script;
  return run_command({TIDELINE_VENV_PYTHON, path});
}

// Messages stored in every partition of `topic` (a full topic name), read from the earliest
// position by the official client's Reader; -1 if the peer failed. Only retained ledgers are
// visible: count before a consumer acknowledges (the broker deletes consumed ledgers).
inline int64_t count_topic_with_python(const std::filesystem::path& dir, const std::string& topic) {
  auto r = run_python_peer(
      dir,
      "import pulsar\n"
      "c = pulsar.Client('pulsar://127.0.0.1:6650',\n"
      "                  logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, '/dev/stderr'))\n"
      "n = 0\n"
      "for p in c.get_topic_partitions('" +
          topic +
          "'):\n"
          "    rd = c.create_reader(p, pulsar.MessageId.earliest)\n"
          "    while rd.has_message_available():\n"
          "        rd.read_next(10000)\n"
          "        n += 1\n"
          "    rd.close()\n"
          "c.close()\n"
          "print('count=%d' % n)\n");
  if (r.exit_code != 0) return -1;
  // The client library may log to stdout: take the count from its own line only.
  const size_t at = r.out.rfind("count=");
  return at == std::string::npos ? -1 : std::atoll(r.out.c_str() + at + 6);
}

}  // namespace tideline::testing
