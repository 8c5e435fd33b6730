#pragma once
// Embedded backends: the table store and the topic log in one local data directory, so the
// whole pipeline runs on one machine with nothing else installed. Both are SQLite databases
// (formats in docs/formats/embedded_tables.md and docs/formats/embedded_log.md).
// Several processes may open the same directory at once (SQLite WAL mode, busy timeout).
// Do not carry open stores, services, producers or consumers across fork() into the child.
// The topic log has one active consumer per subscription (any subscription type): while a
// live consumer holds it, a second Exclusive subscribe gets Unavailable naming the
// subscription; Failover/Shared/Key_Shared ones become standbys that take over when the holder
// closes or its process dies.
// Thread-safety: a TableStore is used by one thread at a time; a TopicService may be shared by
// threads (each producer/consumer owns its own SQLite connection and is used by one thread).

#include <memory>
#include <string>

#include "common/status.h"
#include "io/state_store.h"
#include "io/table_store.h"
#include "io/topic.h"

namespace tideline::embedded {

// Creates `data_dir` if needed and opens `data_dir/tables.sqlite`.
Result<std::unique_ptr<io::TableStore>> open_table_store(const std::string& data_dir);
// Creates `data_dir` if needed and opens `data_dir/topics.sqlite`. The service offers
// io::AtomicWork and a job state store in the same database.
Result<std::unique_ptr<io::TopicService>> open_topic_service(const std::string& data_dir);
// A standalone job state store, `dir/job_state.sqlite` (the directory is created if needed).
Result<std::unique_ptr<io::StateStore>> open_state_store(const std::string& dir);

}  // namespace tideline::embedded
