#include "common/failpoint.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string_view>

namespace tideline {

namespace {

bool listed(std::string_view list, std::string_view name) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    if (item == name) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void failpoint(std::string_view name) {
  static const char* const kEnabled = std::getenv("TIDELINE_FAILPOINTS");
  if (kEnabled == nullptr || *kEnabled == '\0') return;
  if (!listed(kEnabled, name)) return;
  // Like a power cut or kill -9: no destructors, no flushing.
  ::kill(::getpid(), SIGKILL);
}

}  // namespace tideline
