#include "cli/cli.h"

#ifdef TIDELINE_WITH_JEMALLOC
// jemalloc reads this before the first allocation. Columnar buffers are large and
// short-lived: huge pages cut the page faults of first touch ~500-fold, and freed pages
// stay mapped for reuse by the next buffer. MALLOC_CONF in the environment still
// overrides each option (e.g. MALLOC_CONF=thp:default to turn huge pages off).
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): the name jemalloc looks up.
extern const char* malloc_conf;
const char* malloc_conf = "thp:always,metadata_thp:auto,background_thread:false";
}
#endif

int main(int argc, char** argv) {
  return tideline::cli::run(argc, argv);
}
