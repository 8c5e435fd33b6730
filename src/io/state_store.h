#pragma once
// The job state port: a small durable key-value store for a long-running job's own state
// (the processor's checkpoints and step journal, docs/formats/checkpoint.md). Values are byte
// strings addressed by (scope, name); a scope is one job. Backends: the embedded log's
// database (io/embedded, atomic with its topics) and a standalone SQLite file.
// Thread-safety: one thread at a time.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tideline::io {

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<std::optional<std::string>> get(std::string_view scope, std::string_view name) = 0;
  // Every (name, value) of `scope` whose name starts with `prefix`, in name order.
  virtual Result<std::vector<std::pair<std::string, std::string>>> scan(
      std::string_view scope, std::string_view prefix) = 0;
  virtual Status put(std::string_view scope, std::string_view name, std::string_view value) = 0;
  // Deletes every entry of `scope` whose name starts with `prefix` and is <= `through`
  // (names compare bytewise); `through` empty = no upper bound.
  virtual Status erase(std::string_view scope, std::string_view prefix,
                       std::string_view through = {}) = 0;
};

// `inner` with transient failures retried: an operation that fails with kUnavailable or
// kTimeout (the server restarting, a broken connection the backend replaces on its next call)
// is tried again with growing pauses (100 ms doubling to 2 s) until it succeeds or `budget`
// has passed since its first attempt; then its last error is returned, saying how long it
// was retried. Every operation of the port is idempotent (puts and erases by key), so a
// retried operation that had in fact been applied changes nothing. Other errors return at
// once. Each retry is logged as a warning.
std::unique_ptr<StateStore> retry_transient(std::unique_ptr<StateStore> inner,
                                            std::chrono::milliseconds budget);

}  // namespace tideline::io
