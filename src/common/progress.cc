#include "common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/time.h"

namespace tideline {

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), start_ns_(monotonic_ns()), window_ns_(start_ns_) {
  const char* ci = std::getenv("CI");
  enabled_ = isatty(STDERR_FILENO) && !(ci && *ci);
}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(int64_t done) {
  done_ = done;
  if (!enabled_) return;
  int64_t now = monotonic_ns();
  if (now - last_draw_ns_ < 100'000'000) return;
  last_draw_ns_ = now;
  draw(false);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  draw(true);
  std::fputc('\n', stderr);
}

std::string ProgressBar::line(int64_t now_ns) {
  double secs = static_cast<double>(now_ns - start_ns_) / 1e9;
  double average = secs > 0 ? static_cast<double>(done_) / secs : 0;
  std::string s;
  if (total_ > 0) {
    constexpr int kWidth = 30;
    double frac = static_cast<double>(done_) / static_cast<double>(total_);
    if (frac > 1) frac = 1;
    int fill = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.append(static_cast<size_t>(kWidth - fill), '.');
    s = fmt::format("{:<12} [{}] {:3d}% {}/{}  {:.0f}/s", label_, bar, static_cast<int>(frac * 100),
                    done_, total_, average);
  } else {
    const int64_t window = now_ns - window_ns_;
    if (window >= 1'000'000'000) {
      recent_rate_ =
          static_cast<double>(done_ - window_done_) / (static_cast<double>(window) / 1e9);
      window_ns_ = now_ns;
      window_done_ = done_;
    }
    s = fmt::format("{:<12} {} events  {:.0f}/s", label_, done_,
                    recent_rate_ >= 0 ? recent_rate_ : average);
  }
  if (detail_) {
    std::string d = detail_();
    if (!d.empty()) s += "  " + d;
  }
  return s;
}

void ProgressBar::draw(bool final) {
  // \r returns to the line's start; ESC [ K clears what a longer previous line left.
  std::string text = line(monotonic_ns());
  std::fprintf(stderr, "\r%s\x1b[K", text.c_str());
  (void) final;
  std::fflush(stderr);
}

}  // namespace tideline
