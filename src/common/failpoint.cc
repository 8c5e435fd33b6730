#include "common/failpoint.h"

#include <csignal>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace tideline {

void failpoint(std::string_view name) {
  static const std::string kEnabled = [] {
    const char* v = std::getenv("TIDELINE_FAILPOINTS");
    return v ? "," + std::string(v) + "," : std::string();
  }();
  if (kEnabled.empty()) return;
  if (kEnabled.find("," + std::string(name) + ",") == std::string::npos) return;
  // Like a power cut or kill -9: no destructors, no flushing.
  ::kill(::getpid(), SIGKILL);
}

}  // namespace tideline
