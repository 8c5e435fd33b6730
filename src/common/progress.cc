#include "common/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/time.h"

namespace tideline {

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), start_ns_(monotonic_ns()) {
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

void ProgressBar::draw(bool final) {
  double secs = static_cast<double>(monotonic_ns() - start_ns_) / 1e9;
  double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
  if (total_ > 0) {
    constexpr int kWidth = 30;
    double frac = static_cast<double>(done_) / static_cast<double>(total_);
    if (frac > 1) frac = 1;
    int fill = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.append(static_cast<size_t>(kWidth - fill), '.');
    std::fprintf(stderr, "\r%-12s [%s] %3d%% %lld/%lld  %.0f/s ", label_.c_str(), bar.c_str(),
                 static_cast<int>(frac * 100), static_cast<long long>(done_),
                 static_cast<long long>(total_), rate);
  } else {
    std::fprintf(stderr, "\r%-12s %lld  %.0f/s ", label_.c_str(), static_cast<long long>(done_),
                 rate);
  }
  (void) final;
  std::fflush(stderr);
}

}  // namespace tideline
