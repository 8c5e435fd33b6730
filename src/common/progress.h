#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal (never in CI or
// when output is piped), redrawn at most ~10 times a second. Not thread-safe.
// With a known total it shows a bar, the count and the average rate; with an unknown total
// (a stage in follow mode) it is a live status line: the count, the rate over the last
// second or so, and the detail text (e.g. the processor's watermark lag).

#include <cstdint>
#include <functional>
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
  // Text appended to the line, asked for only when the line is drawn.
  void set_detail(std::function<std::string()> detail) { detail_ = std::move(detail); }
  // The text of the line as of `now_ns` (monotonic_ns()), without the carriage return; for
  // drawing and for tests. Advances the rate window.
  std::string line(int64_t now_ns);

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  int64_t start_ns_;
  int64_t last_draw_ns_ = 0;
  // Rate window for the live line: count and time at its start, and the last full window's rate.
  int64_t window_ns_;
  int64_t window_done_ = 0;
  double recent_rate_ = -1;  // < 0: no full window yet (the average is shown)
  std::function<std::string()> detail_;
  bool enabled_;
  bool finished_ = false;
};

}  // namespace tideline
