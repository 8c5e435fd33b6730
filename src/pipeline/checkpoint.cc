#include "pipeline/checkpoint.h"

#include <chrono>
#include <cstring>
#include <filesystem>

#include "io/embedded/sqlite.h"

namespace tideline::pipeline {

namespace {

using embedded::Database;
using embedded::Transaction;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE checkpoints (
  job TEXT PRIMARY KEY, version INTEGER NOT NULL, fingerprint INTEGER NOT NULL,
  sequence INTEGER NOT NULL, positions BLOB NOT NULL, events INTEGER NOT NULL,
  output_rows INTEGER NOT NULL, late_events INTEGER NOT NULL, snapshot BLOB NOT NULL,
  created_ms INTEGER NOT NULL) WITHOUT ROWID;
)sql";
constexpr int kRecordVersion = 1;

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
bool get(std::string_view in, size_t& at, T& v) {
  if (in.size() - at < sizeof v) return false;
  std::memcpy(&v, in.data() + at, sizeof v);
  at += sizeof v;
  return true;
}

std::string encode_positions(const std::map<int32_t, io::MessageId>& pos) {
  std::string out;
  put<uint32_t>(out, static_cast<uint32_t>(pos.size()));
  for (const auto& [p, id] : pos) {
    put<int32_t>(out, p);
    put<int64_t>(out, id.ledger_id);
    put<int64_t>(out, id.entry_id);
  }
  return out;
}

Result<std::map<int32_t, io::MessageId>> decode_positions(std::string_view in,
                                                          const std::string& where) {
  std::map<int32_t, io::MessageId> pos;
  size_t at = 0;
  uint32_t n = 0;
  if (!get(in, at, n) || n > 1'000'000)
    return error(corruption(where + ": input positions: bad count"));
  for (uint32_t i = 0; i < n; ++i) {
    io::MessageId id;
    if (!get(in, at, id.partition) || !get(in, at, id.ledger_id) || !get(in, at, id.entry_id))
      return error(corruption(where + ": input positions truncated at byte " + std::to_string(at)));
    pos[id.partition] = id;
  }
  if (at != in.size()) return error(corruption(where + ": input positions: trailing bytes"));
  return pos;
}

class SqliteCheckpointStore final : public CheckpointStore {
 public:
  explicit SqliteCheckpointStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::optional<Checkpoint>> load(const std::string& job) override {
    TL_ASSIGN_OR_RETURN(auto st,
                        db_->prepare("SELECT version, fingerprint, sequence, positions, events, "
                                     "output_rows, late_events, snapshot, created_ms "
                                     "FROM checkpoints WHERE job = ?"));
    st.bind_text(1, job);
    TL_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return std::optional<Checkpoint>();
    const std::string where = db_->path() + ": checkpoint '" + job + "'";
    if (st.col_int(0) != kRecordVersion)
      return error(corruption(where + " has record version " + std::to_string(st.col_int(0)) +
                              ", this build reads version " + std::to_string(kRecordVersion)));
    Checkpoint cp;
    cp.fingerprint = static_cast<uint64_t>(st.col_int(1));
    cp.sequence = st.col_int(2);
    TL_ASSIGN_OR_RETURN(cp.positions, decode_positions(st.col_blob(3), where));
    cp.events = st.col_int(4);
    cp.output_rows = st.col_int(5);
    cp.late_events = st.col_int(6);
    cp.snapshot = std::string(st.col_blob(7));
    cp.created_ms = st.col_int(8);
    return std::optional<Checkpoint>(std::move(cp));
  }

  Status save(const std::string& job, const Checkpoint& cp) override {
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    TL_ASSIGN_OR_RETURN_S(auto st, db_->prepare("INSERT OR REPLACE INTO checkpoints VALUES "
                                                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    std::string positions = encode_positions(cp.positions);
    st.bind_text(1, job);
    st.bind_int(2, kRecordVersion);
    st.bind_int(3, static_cast<int64_t>(cp.fingerprint));
    st.bind_int(4, cp.sequence);
    st.bind_blob(5, positions);
    st.bind_int(6, cp.events);
    st.bind_int(7, cp.output_rows);
    st.bind_int(8, cp.late_events);
    st.bind_blob(9, cp.snapshot);
    st.bind_int(10, cp.created_ms);
    TL_RETURN_STATUS_IF_ERROR(st.run());
    return txn.commit();
  }

  Status remove(const std::string& job) override {
    TL_ASSIGN_OR_RETURN_S(auto st, db_->prepare("DELETE FROM checkpoints WHERE job = ?"));
    st.bind_text(1, job);
    return st.run();
  }

 private:
  std::unique_ptr<Database> db_;
};

}  // namespace

Result<std::unique_ptr<CheckpointStore>> open_checkpoint_store(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return error(io_error(dir + ": cannot create the checkpoint directory: " + ec.message()));
  TL_ASSIGN_OR_RETURN(auto db, Database::open(dir + "/checkpoints.sqlite"));
  TL_RETURN_IF_ERROR(db->ensure_format("tideline-checkpoints", 1, kSchema));
  return std::unique_ptr<CheckpointStore>(new SqliteCheckpointStore(std::move(db)));
}

}  // namespace tideline::pipeline
