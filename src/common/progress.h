#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal (never in CI or
// when output is piped), redrawn at most ~10 times a second. Not thread-safe.

#include <cstdint>
#include <string>

namespace tideline {

class ProgressBar {
 public:
  // total < 0: unknown (shows a count and a rate instead of a bar).
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  void add(int64_t n) { update(done_ + n); }
  void update(int64_t done);
  void finish();
  bool enabled() const { return enabled_; }

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  int64_t start_ns_;
  int64_t last_draw_ns_ = 0;
  bool enabled_;
  bool finished_ = false;
};

}  // namespace tideline
