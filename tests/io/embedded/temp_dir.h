#pragma once
// A fresh directory under the system temp dir, removed at scope end.
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

namespace tideline::embedded::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() /
             ("tideline-emb-" + std::to_string(getpid()) + "-" + std::to_string(rd())))
                .string();
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tideline::embedded::testing
