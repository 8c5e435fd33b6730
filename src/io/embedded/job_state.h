#pragma once
// The embedded job state store (io/state_store.h) over a SQLite connection: table
// `job_state` (docs/formats/embedded_log.md). Private to io/embedded.

#include <memory>
#include <string_view>

#include "io/embedded/sqlite.h"
#include "io/state_store.h"

namespace tideline::embedded {

// The table, created by the topic log's schema and by open_state_store().
inline constexpr std::string_view kJobStateSql = R"sql(
CREATE TABLE job_state (scope TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,
                        PRIMARY KEY (scope, name)) WITHOUT ROWID;
)sql";

// A store over `db` (shared with its other users: inside their open transaction, writes join
// it).
std::unique_ptr<io::StateStore> make_state_store(std::shared_ptr<Database> db);

}  // namespace tideline::embedded
