#include "io/state_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace tideline::io {
namespace {

using Clock = std::chrono::steady_clock;

bool transient(StatusCode code) {
  return code == StatusCode::kUnavailable || code == StatusCode::kTimeout;
}

class RetryingStateStore final : public StateStore {
 public:
  RetryingStateStore(std::unique_ptr<StateStore> inner, std::chrono::milliseconds budget)
      : inner_(std::move(inner)), budget_(budget) {}

  Result<std::optional<std::string>> get(std::string_view scope, std::string_view name) override {
    return retried("get", [&] { return inner_->get(scope, name); });
  }
  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view scope,
                                                                std::string_view prefix) override {
    return retried("scan", [&] { return inner_->scan(scope, prefix); });
  }
  Status put(std::string_view scope, std::string_view name, std::string_view value) override {
    return retried_status("put", [&] { return inner_->put(scope, name, value); });
  }
  Status erase(std::string_view scope, std::string_view prefix, std::string_view through) override {
    return retried_status("erase", [&] { return inner_->erase(scope, prefix, through); });
  }

 private:
  // Calls `op` until it succeeds, fails for good, or the budget is spent.
  template <typename Op>
  auto retried(const char* what, Op&& op) -> decltype(op()) {
    const auto start = Clock::now();
    auto pause = std::chrono::milliseconds(100);
    while (true) {
      auto r = op();
      if (r || !transient(r.error().code())) return r;
      const auto spent =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      if (spent + pause > budget_) {
        return std::unexpected(r.error().with_context(
            fmt::format("job state {} retried for {} ms", what, spent.count())));
      }
      spdlog::warn("job state {}: {}; retrying in {} ms", what, r.error().message(), pause.count());
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    }
  }
  template <typename Op>
  Status retried_status(const char* what, Op&& op) {
    auto r = retried(what, [&]() -> Result<bool> {
      Status s = op();
      if (!s.ok()) return std::unexpected(std::move(s));
      return true;
    });
    return r ? Status() : r.error();
  }

  std::unique_ptr<StateStore> inner_;
  std::chrono::milliseconds budget_;
};

}  // namespace

std::unique_ptr<StateStore> retry_transient(std::unique_ptr<StateStore> inner,
                                            std::chrono::milliseconds budget) {
  return std::make_unique<RetryingStateStore>(std::move(inner), budget);
}

}  // namespace tideline::io
