#include "cli/cli.h"

int main(int argc, char** argv) {
  return tideline::cli::run(argc, argv);
}
