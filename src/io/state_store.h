#pragma once
// The job state port: a small durable key-value store for a long-running job's own state
// (the processor's checkpoints and step journal, docs/formats/checkpoint.md). Values are byte
// strings addressed by (scope, name); a scope is one job. Backends: the embedded log's
// database (io/embedded, atomic with its topics) and a standalone SQLite file.
// Thread-safety: one thread at a time.

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

}  // namespace tideline::io
