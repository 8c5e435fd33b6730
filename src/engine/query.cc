#include "engine/query.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "engine/eval.h"
#include "engine/functions/registry.h"
#include "engine/kernels.h"
#include "engine/operators/operator.h"
#include "engine/state_io.h"
#include "fenl/diagnostic.h"
#include "fenl/hash.h"
#include "fenl/plan.h"
#include "io/topic.h"

namespace tideline::engine {

namespace {

using fenl::Kind;

// Whether an element-wise kernel implements `fn` (engine/functions registry).
bool has_kernel(std::string_view fn) {
  return find_kernel(fn) != nullptr;
}

class CompiledQueryImpl : public CompiledQuery {
 public:
  fenl::Plan plan;
  std::vector<TableSpec> tables;
  QueryOptions options;
  TypePtr out_type;
  // Stable operator ids: first-visit order of a depth-first walk from the root.
  std::unordered_map<const fenl::Node*, int> node_ids;
  uint64_t fp = 0;

  uint64_t fingerprint() const override { return fp; }

  const TypePtr& output_type() const override { return out_type; }
  std::vector<std::string> warnings() const override { return plan.warnings; }
  std::vector<std::string> used_columns(std::string_view table) const override {
    int ti = -1;
    for (size_t i = 0; i < plan.tables.size(); ++i)
      if (plan.tables[i].name == table) ti = static_cast<int>(i);
    if (ti < 0) return {};
    const fenl::TableInfo& info = plan.tables[static_cast<size_t>(ti)];
    std::unordered_set<std::string> used{info.time_column, info.key_column};
    if (!info.subsort_column.empty()) used.insert(info.subsort_column);
    auto [all, fields] = value_use(ti);
    for (const auto& f : fields) used.insert(f);
    std::vector<std::string> out;
    for (const auto& f : info.type->fields)
      if (all || used.count(f.name)) out.push_back(f.name);
    return out;
  }
  // Whether the query reads table `ti`'s column `name` as a value (not only as time/key).
  bool reads_value(int ti, const std::string& name) const {
    auto [all, fields] = value_use(ti);
    return all || fields.count(name) > 0;
  }
  // (every column read as a value, the columns read as values) for table `ti`.
  std::pair<bool, std::unordered_set<std::string>> value_use(int ti) const {
    std::unordered_set<std::string> used;
    bool all = plan.root->op == fenl::Op::kTable && plan.root->table == ti;
    std::unordered_set<const fenl::Node*> seen;
    std::vector<const fenl::Node*> todo{plan.root.get()};
    while (!todo.empty() && !all) {
      const fenl::Node* n = todo.back();
      todo.pop_back();
      if (!seen.insert(n).second) continue;
      for (const auto& a : n->args) {
        if (a->op == fenl::Op::kTable && a->table == ti) {
          if (n->op == fenl::Op::kField && !n->names.empty()) {
            used.insert(n->names[0]);
          } else if (n->op == fenl::Op::kCall && (n->fn == "is_valid" || n->fn == "is_null" ||
                                                  n->fn == "is_not_null" || n->fn == "count")) {
            // Only row presence: a table's record is valid at each of its rows.
          } else {
            all = true;
          }
        }
        todo.push_back(a.get());
      }
    }
    return {all, std::move(used)};
  }
  std::string explain() const override {
    std::string s;
    std::unordered_map<const fenl::Node*, int> ids;
    explain_node(*plan.root, 0, ids, s);
    return s;
  }

 private:
  // One line per node, indented by depth; a node reached again (a shared let binding) is
  // printed as a reference to its first occurrence, so the output stays linear.
  static void explain_node(const fenl::Node& n, int depth,
                           std::unordered_map<const fenl::Node*, int>& ids, std::string& s) {
    s += std::string(static_cast<size_t>(depth) * 2, ' ');
    if (auto it = ids.find(&n); it != ids.end()) {
      s += "@" + std::to_string(it->second) + " (shared)\n";
      return;
    }
    int id = static_cast<int>(ids.size()) + 1;
    ids[&n] = id;
    s += "@" + std::to_string(id) + " ";
    switch (n.op) {
      case fenl::Op::kLiteral:
        s += "literal " + value_to_string(n.literal);
        break;
      case fenl::Op::kTable:
        s += "table #" + std::to_string(n.table);
        break;
      case fenl::Op::kField:
        s += "field ." + n.names[0];
        break;
      case fenl::Op::kRecord:
        s += "record";
        break;
      case fenl::Op::kCast:
        s += "cast";
        break;
      case fenl::Op::kCall:
        s += n.fn;
        break;
    }
    s += " : " + n.type->to_string() + (n.continuous ? " (continuous)" : " (discrete)") + "\n";
    for (const auto& a : n.args) explain_node(*a, depth + 1, ids, s);
  }
};

// Times of a table's rows (`ok[i]` = 0 for a row without a usable time; `ok` stays empty
// when every row has one).
void row_times(const Column& tcol, int64_t n, std::vector<int64_t>& times,
               std::vector<uint8_t>& ok) {
  if (tcol.all_valid() && storage_of(tcol.type_id()) == Storage::kInts) {
    times.assign(tcol.ints().begin(), tcol.ints().begin() + n);
    ok.clear();
    return;
  }
  times.assign(static_cast<size_t>(n), 0);
  ok.assign(static_cast<size_t>(n), 1);
  for (int64_t i = 0; i < n; ++i) {
    if (!tcol.is_valid(i)) {
      ok[static_cast<size_t>(i)] = 0;
      continue;
    }
    switch (storage_of(tcol.type_id())) {
      case Storage::kInts:
        times[static_cast<size_t>(i)] = tcol.int_at(i);
        break;
      case Storage::kFloats:
        times[static_cast<size_t>(i)] = static_cast<int64_t>(tcol.float_at(i));
        break;
      case Storage::kString: {
        auto t = parse_timestamp(tcol.string_at(i));
        if (t)
          times[static_cast<size_t>(i)] = *t;
        else
          ok[static_cast<size_t>(i)] = 0;
        break;
      }
      default:
        ok[static_cast<size_t>(i)] = 0;
    }
  }
}

constexpr std::string_view kStateMagic = "TLSTATE1";
constexpr std::string_view kStateEnd = "TLSTEND1";
constexpr uint32_t kStateVersion = 2;

// Input rows of one table not yet processed (time >= the frontier), in arrival order.
struct TableBuffer {
  Column rec;                 // the table's record type
  std::vector<uint64_t> seq;  // arrival numbers; empty = first_seq + i
  uint64_t first_seq = 0;
  std::optional<Column> key_dict;  // a dictionary-encoded key column's distinct values
  int64_t max_time = INT64_MIN;    // latest valid time among the rows
  uint64_t arrived = 0;            // rows ever pushed (the next arrival number)
};

class SessionImpl : public Session {
 public:
  explicit SessionImpl(std::shared_ptr<const CompiledQueryImpl> q) : q_(std::move(q)) {
    const fenl::Plan& plan = q_->plan;
    buffers_.resize(q_->tables.size());
    for (size_t i = 0; i < q_->tables.size(); ++i) {
      buffers_[i].rec = Column(q_->tables[i].schema);
      // Every table numbers its rows from the same base, so a row's subsort is its arrival
      // position (docs/fenl.md#row-order): independent of how input is split into pushes and
      // chunks, and two tables with the same rows order them the same way.
      subsort_base_.push_back(uint64_t{1} << 62);
    }
    inputs_.resize(q_->tables.size());
    key_dicts_.resize(q_->tables.size());
    state_.groupings.resize(plan.groupings.size());
    for (size_t g = 0; g < plan.groupings.size(); ++g) {
      state_.groupings[g].key_type = plan.groupings[g].key_type;
      state_.groupings[g].keys = Column(fenl::physical_type(*plan.groupings[g].key_type));
    }
    reset_tracking(0);
  }

  TimestampNs watermark() const override { return watermark_; }
  TimestampNs max_input_time() const override { return max_time_; }

  Status push(std::string_view table, Batch&& batch) override {
    TL_ASSIGN_OR_RETURN(size_t ti, table_index(table));
    TL_RETURN_IF_ERROR(check_input(table, batch));
    for (const auto& c : batch.columns)
      if (c.size() != batch.num_rows)
        return invalid_argument("batch for table '" + std::string(table) +
                                "' has columns of different lengths");
    TableBuffer& buf = buffers_[ti];
    if (buf.key_dict)
      return invalid_argument("table '" + std::string(table) +
                              "' was given whole with a dictionary-encoded key");
    TL_RETURN_IF_ERROR(note_times(ti, batch.columns[time_index(ti)], batch.num_rows));
    if (buf.rec.size() == 0) {
      // Nothing buffered: adopt the batch's buffers (no copy).
      for (size_t f = 0; f < batch.columns.size(); ++f)
        buf.rec.child(f) = std::move(batch.columns[f]);
      buf.rec.set_size(batch.num_rows);
      buf.rec.validity().clear();
      buf.seq.clear();
      buf.first_seq = buf.arrived;
    } else {
      if (!buf.seq.empty())
        for (int64_t i = 0; i < batch.num_rows; ++i)
          buf.seq.push_back(buf.arrived + static_cast<uint64_t>(i));
      for (size_t f = 0; f < batch.columns.size(); ++f)
        append_column(buf.rec.child(f), batch.columns[f]);
      buf.rec.set_size(buf.rec.size() + batch.num_rows);
    }
    buf.arrived += static_cast<uint64_t>(batch.num_rows);
    return {};
  }

  Status add_input_dictionary_key(std::string_view table, Batch&& batch,
                                  Column&& key_values) override {
    if (ended_)
      return invalid_argument("input after the end of input (advance to the end of time)");
    TL_ASSIGN_OR_RETURN(size_t i, table_index(table));
    const TableSpec& spec = q_->tables[i];
    const auto& schema = *spec.schema;
    int k = schema.field_index(spec.key_column);
    if (k < 0 || batch.columns.size() != schema.fields.size())
      return invalid_argument("batch for table '" + std::string(table) +
                              "' does not match its schema");
    Column& codes = batch.columns[static_cast<size_t>(k)];
    if (codes.type_id() != TypeId::kU32 ||
        key_values.type_id() != schema.fields[static_cast<size_t>(k)].type->id)
      return invalid_argument("dictionary key of table '" + std::string(table) +
                              "': codes must be u32 and values of the key's type");
    if (buffers_[i].arrived != 0)
      return invalid_argument("dictionary key input for table '" + std::string(table) +
                              "' must be its only input");
    const int64_t nv = key_values.size();
    // Range check as one vectorizable reduction; the offending row is searched only when
    // the check fails.
    uint64_t worst = 0;
    const auto& cv = codes.ints();
    if (codes.all_valid()) {
      for (int64_t r = 0; r < codes.size(); ++r)
        worst = std::max(worst, static_cast<uint64_t>(cv[static_cast<size_t>(r)]));
    } else {
      for (int64_t r = 0; r < codes.size(); ++r)
        if (codes.is_valid(r))
          worst = std::max(worst, static_cast<uint64_t>(cv[static_cast<size_t>(r)]));
    }
    if (codes.size() > 0 && worst >= static_cast<uint64_t>(nv)) {
      for (int64_t r = 0; r < codes.size(); ++r) {
        if (codes.is_valid(r) && (codes.int_at(r) < 0 || codes.int_at(r) >= nv))
          return invalid_argument("dictionary key of table '" + std::string(table) + "': code " +
                                  std::to_string(codes.int_at(r)) + " outside the dictionary");
      }
    }
    // Check the other columns with a placeholder of the key's type in the key slot.
    Batch probe;
    probe.schema = batch.schema;
    probe.num_rows = 0;
    for (size_t f = 0; f < batch.columns.size(); ++f)
      probe.columns.push_back(static_cast<int>(f) == k ? Column(schema.fields[f].type)
                                                       : Column(batch.columns[f].type()));
    TL_RETURN_IF_ERROR(check_input(table, probe));
    for (const auto& c : batch.columns)
      if (c.size() != batch.num_rows)
        return invalid_argument("batch for table '" + std::string(table) +
                                "' has columns of different lengths");
    TL_RETURN_IF_ERROR(note_times(i, batch.columns[time_index(i)], batch.num_rows));
    TableBuffer& buf = buffers_[i];
    for (size_t f = 0; f < batch.columns.size(); ++f)
      buf.rec.child(f) = std::move(batch.columns[f]);
    buf.rec.set_size(batch.num_rows);
    buf.first_seq = 0;
    buf.arrived = static_cast<uint64_t>(batch.num_rows);
    buf.key_dict = std::move(key_values);
    return {};
  }

  Result<Batch> advance(TimestampNs w, const ResultOptions& options) override {
    if (options.final_at)
      return error(StatusCode::kInvalidArgument,
                   "final_at is an option of finish(); advance to final_at + 1ns instead");
    if (ended_) return error(StatusCode::kInvalidArgument, "advance() after the end of input");
    if (w < watermark_)
      return error(StatusCode::kInvalidArgument, "watermark " + std::to_string(w) +
                                                     " is below the previous watermark " +
                                                     std::to_string(watermark_));
    watermark_ = w;
    return run_chunk(w, options);
  }

  Result<Batch> finish(const ResultOptions& options) override {
    if (ended_)
      return error(StatusCode::kInvalidArgument, "finish() was already called on this session");
    if (options.final_at && *options.final_at < INT64_MAX && *options.final_at + 1 < watermark_)
      return error(StatusCode::kInvalidArgument,
                   "final_at " + format_timestamp(*options.final_at) +
                       " is before the watermark already passed (" + format_timestamp(watermark_) +
                       "): earlier calls returned the rows it would need");
    watermark_ = kEndOfTime;
    return run_chunk(kEndOfTime, options);
  }

  Result<std::string> snapshot() const override;
  Status restore(std::string_view bytes) override;
  Result<std::string> checkpoint(ImageKind kind) override;
  Status restore_chain(const std::vector<std::string_view>& images) override;
  Result<std::string> snapshot_partial(const EntitySelector& keep) const override;
  Status restore_merge(const std::vector<std::string_view>& partials) override;

  const Column* key_dictionary() const override {
    if (!q_->options.key_indices || emitted_grouping_ < 0) return nullptr;
    return &state_.groupings[static_cast<size_t>(emitted_grouping_)].keys;
  }

 private:
  Status check_input(std::string_view table, const Batch& batch) const {
    if (ended_)
      return invalid_argument("input after the end of input (advance to the end of time)");
    for (size_t i = 0; i < q_->tables.size(); ++i) {
      if (q_->tables[i].name != table) continue;
      const auto& schema = *q_->tables[i].schema;
      if (batch.columns.size() != schema.fields.size()) {
        return invalid_argument("batch for table '" + std::string(table) + "' has " +
                                std::to_string(batch.columns.size()) + " columns, expected " +
                                std::to_string(schema.fields.size()));
      }
      for (size_t f = 0; f < batch.columns.size(); ++f) {
        if (batch.columns[f].type_id() != schema.fields[f].type->id) {
          return invalid_argument(
              "column '" + schema.fields[f].name + "' of table '" + std::string(table) +
              "' has type " + std::string(type_id_name(batch.columns[f].type_id())) +
              ", expected " + std::string(type_id_name(schema.fields[f].type->id)));
        }
      }
      return {};
    }
    return invalid_argument("unknown table '" + std::string(table) + "'");
  }
  Result<size_t> table_index(std::string_view table) const {
    for (size_t i = 0; i < q_->tables.size(); ++i)
      if (q_->tables[i].name == table) return i;
    return error(StatusCode::kInvalidArgument, "unknown table '" + std::string(table) + "'");
  }
  size_t time_index(size_t ti) const {
    return static_cast<size_t>(q_->tables[ti].schema->field_index(q_->tables[ti].time_column));
  }

  // Checks a pushed batch's times against the watermark and records the latest.
  Status note_times(size_t ti, const Column& tcol, int64_t n) {
    if (ended_)
      return invalid_argument("input after the end of input (advance to the end of time)");
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    std::vector<int64_t> times;
    std::vector<uint8_t> ok;
    const bool plain = tcol.all_valid() && storage_of(tcol.type_id()) == Storage::kInts;
    if (plain) {
      // The common case, without copying the times: one vectorizable min/max pass.
      const int64_t* t = tcol.ints().data();
      for (int64_t i = 0; i < n; ++i) {
        lo = std::min(lo, t[i]);
        hi = std::max(hi, t[i]);
      }
    } else {
      row_times(tcol, n, times, ok);
      for (size_t i = 0; i < times.size(); ++i) {
        if (!ok.empty() && !ok[i]) continue;
        lo = std::min(lo, times[i]);
        hi = std::max(hi, times[i]);
      }
    }
    if (lo < watermark_) {
      if (plain) row_times(tcol, n, times, ok);
      for (size_t i = 0; i < times.size(); ++i)
        if ((ok.empty() || ok[i]) && times[i] < watermark_)
          return invalid_argument("table '" + q_->tables[ti].name + "': row " + std::to_string(i) +
                                  " of the batch has time " + format_timestamp(times[i]) +
                                  ", before the watermark " + format_timestamp(watermark_));
    }
    buffers_[ti].max_time = std::max(buffers_[ti].max_time, hi);
    max_time_ = std::max(max_time_, hi);
    return {};
  }

  // Moves the buffered rows of table `ti` with time < `to` (all when `all`) into inputs_[ti]
  // (with their arrival numbers in chunk_seq_ / chunk_first_seq_) and prepares them.
  Result<PreparedTable> take_chunk(size_t ti, int64_t to, bool all) {
    TableBuffer& buf = buffers_[ti];
    chunk_seq_.clear();
    chunk_first_seq_ = buf.first_seq;
    if (all || buf.max_time < to) {
      inputs_[ti] = std::move(buf.rec);
      chunk_seq_ = std::move(buf.seq);
      key_dicts_[ti] = std::move(buf.key_dict);
      buf.key_dict.reset();
      buf.rec = Column(q_->tables[ti].schema);
      buf.seq.clear();
      buf.first_seq = buf.arrived;
      buf.max_time = INT64_MIN;
    } else {
      if (buf.key_dict) {
        // Split rows need the key's values: decode the dictionary codes.
        const size_t k =
            static_cast<size_t>(q_->tables[ti].schema->field_index(q_->tables[ti].key_column));
        Column& kc = buf.rec.child(k);
        std::vector<int32_t> codes(static_cast<size_t>(kc.size()));
        for (int64_t i = 0; i < kc.size(); ++i)
          codes[static_cast<size_t>(i)] = kc.is_valid(i) ? static_cast<int32_t>(kc.int_at(i)) : -1;
        kc = gather(*buf.key_dict, codes);
        buf.key_dict.reset();
      }
      const int64_t n = buf.rec.size();
      std::vector<int64_t> times;
      std::vector<uint8_t> ok;
      row_times(buf.rec.child(time_index(ti)), n, times, ok);
      std::vector<int32_t> now, later;
      std::vector<uint64_t> now_seq, later_seq;
      int64_t later_max = INT64_MIN;
      for (int64_t i = 0; i < n; ++i) {
        const size_t r = static_cast<size_t>(i);
        const uint64_t sq = buf.seq.empty() ? buf.first_seq + r : buf.seq[r];
        const bool valid = ok.empty() || ok[r];
        if (!valid || times[r] < to) {
          now.push_back(static_cast<int32_t>(i));
          now_seq.push_back(sq);
        } else {
          later.push_back(static_cast<int32_t>(i));
          later_seq.push_back(sq);
          later_max = std::max(later_max, times[r]);
        }
      }
      inputs_[ti] = gather(buf.rec, now);
      inputs_[ti].validity().clear();
      chunk_seq_ = std::move(now_seq);
      Column rest = gather(buf.rec, later);
      rest.validity().clear();
      buf.rec = std::move(rest);
      buf.seq = std::move(later_seq);
      buf.max_time = later_max;
    }
    return prepare(ti, state_.groupings);
  }

  uint64_t chunk_seq(size_t i) const {
    return chunk_seq_.empty() ? chunk_first_seq_ + i : chunk_seq_[i];
  }

  Result<Batch> run_chunk(TimestampNs w, const ResultOptions& options) {
    const bool terminal = w == kEndOfTime;
    const int64_t to =
        terminal ? INT64_MAX : (max_time_ == INT64_MIN ? frontier_ : std::min(w, max_time_ + 1));
    if (terminal) ended_ = true;
    if (!terminal && to <= frontier_) return Batch::empty(q_->out_type);
    const bool single = terminal && frontier_ == INT64_MIN;
    Chunk chunk;
    chunk.from = frontier_;
    chunk.to = to;
    chunk.max_input_time = max_time_;
    chunk.terminal = terminal;
    chunk.keep_state = !terminal;
    std::vector<PreparedTable> tables;
    for (size_t i = 0; i < q_->tables.size(); ++i) {
      TL_ASSIGN_OR_RETURN(PreparedTable p, take_chunk(i, to, terminal));
      tables.push_back(std::move(p));
    }
    const fenl::Plan& plan = q_->plan;
    Evaluator ev(plan, q_->node_ids, state_, tables, chunk);
    if (single && q_->options.rewrites) {
      ev.enable_fusion(true);
      if (options.results == ResultBehavior::kFinal) ev.set_final_only(options.final_at);
    }
    TL_ASSIGN_OR_RETURN(StreamPtr r, ev.eval(plan.root));
    if (chunk.keep_state) {
      ev.commit_carries();
      // Change tracking: every entity with a row in the chunk (docs/formats/engine-state.md).
      for (const PreparedTable& t : tables)
        if (t.domain) mark_changed(*t.domain);
      ev.for_each_domain([&](const Domain& d) { mark_changed(d); });
    }
    frontier_ = to;
    return emit(*r, options, terminal, to);
  }

 private:
  Result<PreparedTable> prepare(size_t ti, std::vector<GroupingState>& groupings) {
    const fenl::TableInfo& info = q_->plan.tables[ti];
    const Column& in = inputs_[ti];
    const int64_t n = in.size();
    if (n > INT32_MAX) {
      return error(StatusCode::kInvalidArgument,
                   "table '" + info.name + "' has more than 2^31-1 rows");
    }
    const auto& type = *info.type;
    const size_t kidx = static_cast<size_t>(type.field_index(info.key_column));
    const auto& ktype = *type.fields[kidx].type;
    // A dictionary-encoded key: remember the codes, and put the key column the record needs
    // in place (decoded if the query reads it as a value, else an empty placeholder).
    std::optional<Column> dict;
    std::vector<int32_t> codes;
    std::vector<uint64_t> dict_hash;
    Column null_key(fenl::physical_type(ktype));
    null_key.append_null();
    const uint64_t null_hash = hash_value_at(null_key, ktype, 0);
    if (ti < key_dicts_.size() && key_dicts_[ti]) {
      const Column& tc = in.child(static_cast<size_t>(type.field_index(info.time_column)));
      if (info.subsort_column.empty() && tc.all_valid() &&
          storage_of(tc.type_id()) == Storage::kInts) {
        auto fast = prepare_sorted_dictionary(ti, groupings);
        if (fast) return std::move(*fast);
      }
      dict = std::move(*key_dicts_[ti]);
      key_dicts_[ti].reset();
      Column& kc = inputs_[ti].child(kidx);
      codes.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        codes[static_cast<size_t>(i)] = kc.is_valid(i) ? static_cast<int32_t>(kc.int_at(i)) : -1;
      TypePtr kt = q_->tables[ti].schema->fields[kidx].type;
      kc = q_->reads_value(static_cast<int>(ti), info.key_column) ? gather(*dict, codes)
                                                                  : alloc_column(kt, n);
      dict_hash.resize(static_cast<size_t>(dict->size()));
      for (int64_t j = 0; j < dict->size(); ++j)
        dict_hash[static_cast<size_t>(j)] = hash_value_at(*dict, ktype, j);
    }
    const Column& tcol = in.child(static_cast<size_t>(type.field_index(info.time_column)));
    const Column& kcol = in.child(kidx);
    // Entity of row i (interning on first sight, in the order rows are visited).
    std::vector<uint32_t> code_entity(dict ? dict_hash.size() : 0, UINT32_MAX);
    uint32_t null_entity = UINT32_MAX;
    auto intern_row = [&](GroupingState& g, uint64_t hash, int64_t i) -> uint32_t {
      if (!dict) return g.intern(hash, kcol, i);
      int32_t c = codes[static_cast<size_t>(i)];
      if (c < 0) {
        if (null_entity == UINT32_MAX) null_entity = g.intern(null_hash, null_key, 0);
        return null_entity;
      }
      uint32_t& e = code_entity[static_cast<size_t>(c)];
      if (e == UINT32_MAX) e = g.intern(hash, *dict, c);
      return e;
    };
    // Key hashes are independent of the rest: a helper thread hashes the first half of a
    // large table while this thread extracts times and subsorts, then hashes the rest.
    std::vector<uint64_t> hashes(static_cast<size_t>(n));
    auto hash_range = [&](int64_t from, int64_t to) {
      if (dict) {
        for (int64_t i = from; i < to; ++i) {
          int32_t c = codes[static_cast<size_t>(i)];
          hashes[static_cast<size_t>(i)] = c < 0 ? null_hash : dict_hash[static_cast<size_t>(c)];
        }
        return;
      }
      for (int64_t i = from; i < to; ++i)
        hashes[static_cast<size_t>(i)] = hash_value_at(kcol, ktype, i);
    };
    const int64_t split = n >= (1 << 18) ? n / 2 : 0;
    std::thread hasher;
    if (split > 0) hasher = std::thread([&] { hash_range(0, split); });
    std::vector<int64_t> times;
    std::vector<uint8_t> ok;  // empty: every row has a time
    row_times(tcol, n, times, ok);
    std::vector<uint64_t> subsort(static_cast<size_t>(n));
    if (!info.subsort_column.empty()) {
      const Column& sc = in.child(static_cast<size_t>(type.field_index(info.subsort_column)));
      for (int64_t i = 0; i < n; ++i) {
        subsort[static_cast<size_t>(i)] =
            !sc.is_valid(i)                                ? 0
            : storage_of(sc.type_id()) == Storage::kFloats ? static_cast<uint64_t>(sc.float_at(i))
            : storage_of(sc.type_id()) == Storage::kInts   ? static_cast<uint64_t>(sc.int_at(i))
                                                           : 0;
      }
    } else {
      // Per-table base plus the row's arrival number: independent of how the input was
      // split into pushes and chunks, and rows of one table keep their arrival order.
      const uint64_t base = subsort_base_[ti];
      for (int64_t i = 0; i < n; ++i)
        subsort[static_cast<size_t>(i)] = base + chunk_seq(static_cast<size_t>(i));
    }
    hash_range(split, n);
    if (hasher.joinable()) hasher.join();
    auto less_rows = [&](size_t x, size_t y) {
      if (times[x] != times[y]) return times[x] < times[y];
      if (subsort[x] != subsort[y]) return subsort[x] < subsort[y];
      return hashes[x] < hashes[y];
    };
    bool all_ok = std::find(ok.begin(), ok.end(), 0) == ok.end();
    bool in_order = all_ok;
    for (size_t i = 1; in_order && i < static_cast<size_t>(n); ++i) in_order = !less_rows(i, i - 1);
    auto dom = std::make_shared<Domain>();
    dom->grouping = info.grouping;
    GroupingState& g = groupings[static_cast<size_t>(info.grouping)];
    if (in_order) {
      // Already ordered, nothing dropped: the row vectors become the domain as they are.
      dom->time = std::move(times);
      dom->subsort = std::move(subsort);
      dom->key_hash = std::move(hashes);
      dom->entity.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        dom->entity[static_cast<size_t>(i)] =
            intern_row(g, dom->key_hash[static_cast<size_t>(i)], i);
    } else {
      std::vector<int32_t> order;
      order.reserve(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        if (all_ok || ok[static_cast<size_t>(i)]) order.push_back(static_cast<int32_t>(i));
      }
      auto less = [&](int32_t a, int32_t b) {
        return less_rows(static_cast<size_t>(a), static_cast<size_t>(b));
      };
      if (!std::is_sorted(order.begin(), order.end(), less))
        std::stable_sort(order.begin(), order.end(), less);
      dom->time.reserve(order.size());
      dom->subsort.reserve(order.size());
      dom->key_hash.reserve(order.size());
      dom->entity.reserve(order.size());
      for (int32_t r : order) {
        size_t i = static_cast<size_t>(r);
        dom->time.push_back(times[i]);
        dom->subsort.push_back(subsort[i]);
        dom->key_hash.push_back(hashes[i]);
        dom->entity.push_back(intern_row(g, hashes[i], r));
      }
      bool identity =
          order.size() == static_cast<size_t>(n) && std::is_sorted(order.begin(), order.end());
      if (!identity) {
        PreparedTable p;
        p.domain = dom;
        Column rec = gather(in, order);
        rec.validity().clear();
        p.record = std::move(rec);
        return p;
      }
    }
    PreparedTable p;
    p.domain = dom;
    // Sorted input without dropped rows needs no reordering: take the accumulated columns.
    Column rec = std::move(inputs_[ti]);
    rec.validity().clear();
    // The record's physical type follows the logical table type.
    p.record = std::move(rec);
    return p;
  }

  // prepare() for the common bulk case: a dictionary-encoded key, rows already in time
  // order, every time valid, no subsort column. Two threads share the row passes; the
  // key and time columns are not copied (a column the query never reads as a value is
  // replaced by an all-null placeholder of the same length). Returns nullopt, leaving
  // every input untouched, when the rows are not in time order (the general path sorts).
  std::optional<PreparedTable> prepare_sorted_dictionary(size_t ti,
                                                         std::vector<GroupingState>& groupings) {
    const fenl::TableInfo& info = q_->plan.tables[ti];
    Column& in = inputs_[ti];
    const size_t n = static_cast<size_t>(in.size());
    const auto& type = *info.type;
    const size_t kidx = static_cast<size_t>(type.field_index(info.key_column));
    const size_t tidx = static_cast<size_t>(type.field_index(info.time_column));
    const auto& ktype = *type.fields[kidx].type;
    const Column& dict = *key_dicts_[ti];
    const size_t nd = static_cast<size_t>(dict.size());
    Column& kc = in.child(kidx);
    const std::vector<int64_t>& times_in = in.child(tidx).ints();
    const bool all_codes_valid = kc.all_valid();
    // Code of row i, with nd standing for the null key.
    auto code_at = [&](size_t i) -> size_t {
      return all_codes_valid || kc.is_valid(static_cast<int64_t>(i))
                 ? static_cast<size_t>(kc.ints()[i])
                 : nd;
    };
    // Pass 1: the first row of every code and the time order.
    const size_t split = n >= (size_t{1} << 18) ? n / 2 : 0;
    std::vector<int32_t> first(nd + 1, INT32_MAX);
    std::thread helper;
    bool sorted = true;
    for (size_t i = 0; i < n; ++i) {
      int32_t& f = first[code_at(i)];
      if (f == INT32_MAX) f = static_cast<int32_t>(i);
      if (i > 0 && times_in[i] < times_in[i - 1]) sorted = false;
    }
    const uint64_t base = subsort_base_[ti] + chunk_first_seq_;
    if (!sorted) return std::nullopt;
    // Intern keys in order of first appearance (the order a row-by-row pass would use).
    std::vector<std::pair<int32_t, uint32_t>> order;
    for (size_t c = 0; c <= nd; ++c) {
      int32_t f = first[c];
      if (f != INT32_MAX) order.emplace_back(f, static_cast<uint32_t>(c));
    }
    std::sort(order.begin(), order.end());
    GroupingState& g = groupings[static_cast<size_t>(info.grouping)];
    Column null_key(fenl::physical_type(ktype));
    null_key.append_null();
    std::vector<uint64_t> code_hash(nd + 1);
    std::vector<uint32_t> code_entity(nd + 1, UINT32_MAX);
    for (const auto& [f, c] : order) {
      (void)f;
      if (c == nd) {
        code_hash[c] = hash_value_at(null_key, ktype, 0);
        code_entity[c] = g.intern(code_hash[c], null_key, 0);
      } else {
        code_hash[c] = hash_value_at(dict, ktype, static_cast<int64_t>(c));
        code_entity[c] = g.intern(code_hash[c], dict, static_cast<int64_t>(c));
      }
    }
    // Pass 2 (two halves in parallel): the domain's per-row vectors.
    auto dom = std::make_shared<Domain>();
    dom->grouping = info.grouping;
    dom->entity.resize(n);
    dom->lazy_subsort_base = base;
    dom->lazy_entity_hashes = &g.hashes;
    auto fill = [&](size_t from, size_t to) {
      for (size_t i = from; i < to; ++i) dom->entity[i] = code_entity[code_at(i)];
    };
    if (split > 0) helper = std::thread([&] { fill(split, n); });
    fill(0, split > 0 ? split : n);
    if (helper.joinable()) helper.join();
    // Key and time columns of the record: decoded / copied only if read as values.
    const bool key_read = q_->reads_value(static_cast<int>(ti), info.key_column);
    const bool time_read = q_->reads_value(static_cast<int>(ti), info.time_column);
    auto placeholder = [n] {
      Column c(DataType::of(TypeId::kNull));
      c.set_size(static_cast<int64_t>(n));
      return c;
    };
    if (key_read) {
      std::vector<int32_t> codes(n);
      for (size_t i = 0; i < n; ++i) {
        size_t c = code_at(i);
        codes[i] = c == nd ? -1 : static_cast<int32_t>(c);
      }
      kc = gather(dict, codes);
    } else {
      kc = placeholder();
    }
    if (time_read) {
      dom->time = times_in;
    } else {
      dom->time = std::move(in.child(tidx).ints());
      in.child(tidx) = placeholder();
    }
    key_dicts_[ti].reset();
    PreparedTable p;
    p.domain = std::move(dom);
    Column rec = std::move(in);
    rec.validity().clear();
    p.record = std::move(rec);
    return p;
  }

  Result<Batch> emit(const Stream& r, const ResultOptions& opt, bool terminal, int64_t to) {
    Batch out = Batch::empty(q_->out_type);
    if (!r.domain || r.domain->grouping < 0) return out;
    const Domain& d = *r.domain;
    const GroupingState& g = state_.groupings[static_cast<size_t>(d.grouping)];
    std::vector<int32_t> rows;   // rows of r to output
    std::vector<int64_t> times;  // their output times
    std::vector<uint32_t> entities;
    if (opt.results == ResultBehavior::kHistory) {
      // History omits rows before 1970 (as Kaskada does; docs/fenl.md#results).
      int64_t since = opt.changed_since.value_or(0);
      int64_t until = opt.final_at.value_or(std::numeric_limits<int64_t>::max());
      for (size_t i = 0; i < d.size(); ++i) {
        if (d.time[i] >= since && d.time[i] <= until) {
          rows.push_back(static_cast<int32_t>(i));
          times.push_back(d.time[i]);
          entities.push_back(d.entity[i]);
        }
      }
    } else {
      // One row per entity with a result row in this call's range: its latest.
      int64_t cutoff = opt.final_at.value_or(std::numeric_limits<int64_t>::max());
      final_scratch_.begin(g.size());
      std::vector<uint32_t> seen;
      for (size_t i = 0; i < d.size(); ++i) {
        if (d.time[i] > cutoff) break;
        if (!final_scratch_.has(d.entity[i])) seen.push_back(d.entity[i]);
        final_scratch_.set(d.entity[i], static_cast<int64_t>(i));
      }
      // Final values are stamped just after the last input (or result) time, after final_at,
      // or at the frontier of an incremental call.
      int64_t t_last = max_time_;
      if (d.size()) t_last = std::max(t_last, d.time.back());
      int64_t stamp = opt.final_at ? *opt.final_at + 1 : terminal ? t_last + 1 : to;
      std::vector<std::pair<uint64_t, uint32_t>> ents;
      for (uint32_t e : seen) {
        const int64_t last = final_scratch_.get(e);
        if (opt.changed_since && d.time[static_cast<size_t>(last)] < *opt.changed_since) continue;
        ents.emplace_back(g.hashes[e], e);
      }
      std::sort(ents.begin(), ents.end());
      for (const auto& [h, e] : ents) {
        rows.push_back(static_cast<int32_t>(final_scratch_.get(e)));
        times.push_back(stamp);
        entities.push_back(e);
      }
    }
    const int64_t n = static_cast<int64_t>(rows.size());
    Column tc = alloc_column(DataType::of(TypeId::kTimestamp), n);
    std::copy(times.begin(), times.end(), tc.ints().begin());
    out.columns[0] = std::move(tc);
    if (q_->options.key_indices) {
      // Entity indexes into key_dictionary(); an entity whose key is null stays null.
      emitted_grouping_ = d.grouping;
      Column kc = alloc_column(DataType::of(TypeId::kU32), n);
      std::copy(entities.begin(), entities.end(), kc.ints().begin());
      if (!g.keys.all_valid()) {
        for (int64_t i = 0; i < n; ++i)
          if (!g.keys.is_valid(entities[static_cast<size_t>(i)])) kc.set_valid(i, false);
      }
      out.columns[1] = std::move(kc);
    } else {
      std::vector<int32_t> eidx(entities.begin(), entities.end());
      out.columns[1] = gather(g.keys, eidx);
    }
    if (out.columns[1].type_id() != q_->out_type->fields[1].type->id) {
      out.columns[1] = Column(q_->out_type->fields[1].type);
      for (int64_t i = 0; i < n; ++i) out.columns[1].append_null();
    }
    bool identity = rows.size() == d.size();
    for (size_t i = 0; identity && i < rows.size(); ++i)
      identity = rows[i] == static_cast<int32_t>(i);
    Column rec = identity ? r.values : gather(r.values, rows);
    for (size_t f = 0; f < rec.num_children(); ++f) {
      Column c = std::move(rec.child(f));
      if (!rec.validity().empty()) and_validity(c, {&c, &rec});
      out.columns[2 + f] = std::move(c);
    }
    out.num_rows = n;
    return out;
  }

  // Images (docs/formats/engine-state.md, "Images"): entities listed per grouping.
  using EntityLists = std::vector<std::vector<uint32_t>>;
  enum class Apply { kFull, kDelta, kMergeFirst, kMergeNext };
  Result<std::string> write_image(ImageKind kind, uint64_t parent, const EntityLists& lists,
                                  const EntitySelector* keep) const;
  EntityLists all_entities() const;
  // Applies one image to this session (a fresh one for kFull / kMergeFirst); on failure the
  // session is unspecified (callers apply to a scratch session and adopt it on success).
  Status apply(std::string_view bytes, Apply mode, size_t index);
  void adopt(SessionImpl&& o);
  // Change tracking for deltas.
  void mark_changed(const Domain& d);
  void reset_tracking(uint64_t head);

  std::shared_ptr<const CompiledQueryImpl> q_;
  std::vector<TableBuffer> buffers_;
  std::vector<uint64_t> subsort_base_;  // per table: the base of its rows' subsorts
  TimestampNs watermark_ = INT64_MIN;   // latest advance() watermark
  int64_t frontier_ = INT64_MIN;        // input before this time has been processed
  int64_t max_time_ = INT64_MIN;        // latest input time pushed
  bool ended_ = false;
  // The chunk being prepared (prepare() reads these): its record per table, the arrival
  // numbers of its rows (empty = chunk_first_seq_ + i) and a dictionary-encoded key's values.
  std::vector<Column> inputs_;
  std::vector<uint64_t> chunk_seq_;
  uint64_t chunk_first_seq_ = 0;
  std::vector<std::optional<Column>> key_dicts_;
  int emitted_grouping_ = -1;  // grouping whose keys the result's `_key` indexes
  EntityScratch final_scratch_;
  // Entity dictionaries, operator states and carries: everything that outlives a chunk.
  ExecState state_;
  // Per grouping: 1 for each entity whose state may have changed since the last image
  // (checkpoint() or restore*), and the entity count then (later entities are new).
  std::vector<std::vector<uint8_t>> dirty_;
  std::vector<size_t> marked_size_;
  uint64_t chain_head_ = 0;  // checksum of that image (0: none), the next delta's parent
};

uint64_t image_checksum(std::string_view image) {
  uint64_t sum = 0;
  if (image.size() >= 8) std::memcpy(&sum, image.data() + image.size() - 8, 8);
  return sum;
}

Result<std::string> SessionImpl::write_image(ImageKind kind, uint64_t parent,
                                             const EntityLists& lists,
                                             const EntitySelector* keep) const {
  StateWriter w;
  w.magic(kStateMagic);
  w.u32(kStateVersion);
  w.u64(q_->fingerprint());
  w.u8(static_cast<uint8_t>(kind));
  w.u64(parent);
  w.i64(watermark_);
  w.i64(frontier_);
  w.i64(max_time_);
  w.u8(ended_ ? 1 : 0);
  w.u32(static_cast<uint32_t>(buffers_.size()));
  for (size_t ti = 0; ti < buffers_.size(); ++ti) {
    const TableBuffer& b = buffers_[ti];
    w.u64(b.arrived);
    Column rec = b.rec;
    const size_t kc =
        static_cast<size_t>(q_->tables[ti].schema->field_index(q_->tables[ti].key_column));
    if (b.key_dict) {
      std::vector<int32_t> codes(static_cast<size_t>(rec.size()));
      for (int64_t i = 0; i < rec.size(); ++i)
        codes[static_cast<size_t>(i)] =
            rec.child(kc).is_valid(i) ? static_cast<int32_t>(rec.child(kc).int_at(i)) : -1;
      rec.child(kc) = gather(*b.key_dict, codes);
    }
    std::vector<uint64_t> seq = b.seq;
    if (seq.empty())
      for (int64_t i = 0; i < b.rec.size(); ++i)
        seq.push_back(b.first_seq + static_cast<uint64_t>(i));
    if (keep && rec.size() > 0) {
      // A partial image keeps the buffered rows of its keys.
      const size_t g = static_cast<size_t>(q_->plan.tables[ti].grouping);
      std::vector<int32_t> rows;
      std::vector<uint64_t> kept_seq;
      for (int64_t i = 0; i < rec.size(); ++i)
        if ((*keep)(g, rec.child(kc), i)) {
          rows.push_back(static_cast<int32_t>(i));
          kept_seq.push_back(seq[static_cast<size_t>(i)]);
        }
      rec = gather(rec, rows);
      rec.validity().clear();
      seq = std::move(kept_seq);
    }
    w.column(rec);
    w.vec(seq);
  }
  w.u32(static_cast<uint32_t>(state_.groupings.size()));
  for (size_t g = 0; g < state_.groupings.size(); ++g) {
    const GroupingState& gs = state_.groupings[g];
    const std::vector<uint32_t>& ents = lists[g];
    w.u64(gs.size());
    std::vector<uint64_t> hashes;
    hashes.reserve(ents.size());
    std::vector<int32_t> rows;
    rows.reserve(ents.size());
    for (uint32_t e : ents) {
      hashes.push_back(gs.hashes[e]);
      rows.push_back(static_cast<int32_t>(e));
    }
    w.vec(hashes);
    w.column(ents.size() == gs.size() ? gs.keys : gather(gs.keys, rows));
  }
  static const std::vector<uint32_t> kNone;
  auto listed = [&](int g) -> const std::vector<uint32_t>& {
    return g >= 0 && static_cast<size_t>(g) < lists.size() ? lists[static_cast<size_t>(g)] : kNone;
  };
  // After the end of input nothing more can run: operator states and carries (which may
  // still reference the last chunk's rows) are not written.
  static const std::map<std::pair<int, int>, CarryState> kNoCarries;
  static const std::map<std::pair<int, int>, std::unique_ptr<OperatorState>> kNoOperators;
  const auto& carries = ended_ ? kNoCarries : state_.carries;
  const auto& operators = ended_ ? kNoOperators : state_.operators;
  w.u32(static_cast<uint32_t>(carries.size()));
  for (const auto& [key, c] : carries) {
    w.i32(key.first);
    w.i32(key.second);
    w.i32(c.grouping);
    const std::vector<uint32_t>& ents = listed(c.grouping);
    std::vector<uint8_t> has(ents.size());
    std::vector<int32_t> slots;
    for (size_t i = 0; i < ents.size(); ++i) {
      const int64_t sl = c.slot_of(ents[i]);
      if (sl < 0) continue;
      has[i] = 1;
      slots.push_back(static_cast<int32_t>(sl));
    }
    w.vec(has);
    w.column(slots.empty() ? Column(DataType::of(TypeId::kNull)) : gather(c.values, slots));
  }
  w.u32(static_cast<uint32_t>(operators.size()));
  for (const auto& [key, op] : operators) {
    w.i32(key.first);
    w.i32(key.second);
    w.u8(static_cast<uint8_t>(op->kind()));
    w.i32(op->grouping);
    StateWriter global, entities;
    op->write_global(global);
    op->write_entities(entities, listed(op->grouping));
    w.bytes(global.str());
    w.bytes(entities.str());
  }
  w.magic(kStateEnd);
  // A checksum of everything before it: a damaged image is refused, not misread.
  w.u64(fenl::hash_string(w.str()));
  return std::move(w.str());
}

SessionImpl::EntityLists SessionImpl::all_entities() const {
  EntityLists lists(state_.groupings.size());
  for (size_t g = 0; g < lists.size(); ++g) {
    lists[g].resize(state_.groupings[g].size());
    std::iota(lists[g].begin(), lists[g].end(), 0u);
  }
  return lists;
}

Result<std::string> SessionImpl::snapshot() const {
  return write_image(ImageKind::kFull, 0, all_entities(), nullptr);
}

Result<std::string> SessionImpl::snapshot_partial(const EntitySelector& keep) const {
  EntityLists lists(state_.groupings.size());
  for (size_t g = 0; g < lists.size(); ++g) {
    const GroupingState& gs = state_.groupings[g];
    for (uint32_t e = 0; e < gs.size(); ++e)
      if (keep(g, gs.keys, static_cast<int64_t>(e))) lists[g].push_back(e);
  }
  return write_image(ImageKind::kPartial, 0, lists, &keep);
}

void SessionImpl::mark_changed(const Domain& d) {
  if (d.grouping < 0) return;
  std::vector<uint8_t>& dirty = dirty_[static_cast<size_t>(d.grouping)];
  const size_t n = state_.groupings[static_cast<size_t>(d.grouping)].size();
  if (dirty.size() < n) dirty.resize(n, 0);
  uint8_t* flags = dirty.data();
  for (uint32_t e : d.entity) flags[e] = 1;
}

void SessionImpl::reset_tracking(uint64_t head) {
  dirty_.assign(state_.groupings.size(), {});
  marked_size_.resize(state_.groupings.size());
  for (size_t g = 0; g < state_.groupings.size(); ++g) marked_size_[g] = state_.groupings[g].size();
  chain_head_ = head;
}

Result<std::string> SessionImpl::checkpoint(ImageKind kind) {
  EntityLists lists;
  if (kind == ImageKind::kFull) {
    lists = all_entities();
  } else if (kind == ImageKind::kDelta) {
    if (chain_head_ == 0)
      return error(StatusCode::kInvalidArgument,
                   "engine state: a delta needs a parent: checkpoint(kFull) or restore first");
    lists.resize(state_.groupings.size());
    for (size_t g = 0; g < lists.size(); ++g) {
      const std::vector<uint8_t>& dirty = dirty_[g];
      const size_t n = state_.groupings[g].size();
      for (uint32_t e = 0; e < n; ++e)
        if (e >= marked_size_[g] || (e < dirty.size() && dirty[e])) lists[g].push_back(e);
    }
  } else {
    return error(StatusCode::kInvalidArgument,
                 "engine state: checkpoint() writes full or delta images (partial: "
                 "snapshot_partial)");
  }
  TL_ASSIGN_OR_RETURN(
      std::string image,
      write_image(kind, kind == ImageKind::kDelta ? chain_head_ : 0, lists, nullptr));
  // Clear the marks of what was written (work proportional to the delta, not to all
  // entities; a full image clears them all).
  if (kind == ImageKind::kFull) {
    reset_tracking(image_checksum(image));
  } else {
    for (size_t g = 0; g < lists.size(); ++g)
      for (uint32_t e : lists[g])
        if (e < dirty_[g].size()) dirty_[g][e] = 0;
    for (size_t g = 0; g < state_.groupings.size(); ++g)
      marked_size_[g] = state_.groupings[g].size();
    chain_head_ = image_checksum(image);
  }
  return image;
}

Status SessionImpl::restore(std::string_view bytes) {
  SessionImpl fresh(q_);
  TL_RETURN_IF_ERROR(fresh.apply(bytes, Apply::kFull, 0));
  adopt(std::move(fresh));
  return {};
}

Status SessionImpl::restore_chain(const std::vector<std::string_view>& images) {
  if (images.empty()) return invalid_argument("engine state: an empty chain of images");
  SessionImpl fresh(q_);
  for (size_t i = 0; i < images.size(); ++i) {
    Status st = fresh.apply(images[i], i == 0 ? Apply::kFull : Apply::kDelta, i);
    if (!st.ok()) return st.with_context("image " + std::to_string(i) + " of the chain");
  }
  adopt(std::move(fresh));
  return {};
}

Status SessionImpl::restore_merge(const std::vector<std::string_view>& partials) {
  if (partials.empty()) return invalid_argument("engine state: no partial images to merge");
  SessionImpl fresh(q_);
  for (size_t i = 0; i < partials.size(); ++i) {
    Status st = fresh.apply(partials[i], i == 0 ? Apply::kMergeFirst : Apply::kMergeNext, i);
    if (!st.ok()) return st.with_context("partial image " + std::to_string(i));
  }
  // A merged session has no chain: the next delta needs a full checkpoint first.
  fresh.chain_head_ = 0;
  adopt(std::move(fresh));
  return {};
}

void SessionImpl::adopt(SessionImpl&& o) {
  buffers_ = std::move(o.buffers_);
  state_ = std::move(o.state_);
  watermark_ = o.watermark_;
  frontier_ = o.frontier_;
  max_time_ = o.max_time_;
  ended_ = o.ended_;
  const uint64_t head = o.chain_head_;
  reset_tracking(head);
}

Status SessionImpl::apply(std::string_view bytes, Apply mode, size_t index) {
  (void)index;
  if (bytes.size() < 8)
    return corruption("engine state: " + std::to_string(bytes.size()) + " bytes is too short");
  const uint64_t sum = image_checksum(bytes);
  if (sum != fenl::hash_string(bytes.substr(0, bytes.size() - 8)))
    return corruption("engine state: checksum mismatch (the image is damaged or truncated)");
  bytes.remove_suffix(8);
  StateReader r(bytes);
  TL_RETURN_IF_ERROR(r.magic(kStateMagic));
  uint32_t version = 0;
  TL_RETURN_IF_ERROR(r.u32(version));
  if (version != kStateVersion)
    return corruption("engine state: format version " + std::to_string(version) +
                      " is not supported (this build reads version " +
                      std::to_string(kStateVersion) + "); restart with --reset-state");
  uint64_t fp = 0;
  TL_RETURN_IF_ERROR(r.u64(fp));
  if (fp != q_->fingerprint())
    return invalid_argument(
        "engine state was taken by a different query or input schema (fingerprint " +
        std::to_string(fp) + ", this query " + std::to_string(q_->fingerprint()) + ")");
  uint8_t kind = 0;
  uint64_t parent = 0;
  TL_RETURN_IF_ERROR(r.u8(kind));
  TL_RETURN_IF_ERROR(r.u64(parent));
  const ImageKind want = mode == Apply::kFull    ? ImageKind::kFull
                         : mode == Apply::kDelta ? ImageKind::kDelta
                                                 : ImageKind::kPartial;
  auto kind_name = [](unsigned k) -> std::string {
    return k == 1   ? "full"
           : k == 2 ? "delta"
           : k == 3 ? "partial"
                    : "unknown (" + std::to_string(k) + ")";
  };
  if (kind != static_cast<uint8_t>(want))
    return invalid_argument("engine state: a " + kind_name(kind) + " image where a " +
                            kind_name(static_cast<unsigned>(want)) + " image is expected" +
                            (kind == 2   ? " (a delta restores with restore_chain after its base)"
                             : kind == 3 ? " (partial images restore with restore_merge)"
                                         : ""));
  if (mode == Apply::kDelta && parent != chain_head_)
    return invalid_argument(
        "engine state: the delta does not follow the image before it "
        "(parent checksum " +
        std::to_string(parent) + ", previous image " + std::to_string(chain_head_) +
        "): a delta is missing or out of order");
  const bool merging = mode == Apply::kMergeNext;
  int64_t wm = 0, fr = 0, mt = 0;
  uint8_t ended = 0;
  TL_RETURN_IF_ERROR(r.i64(wm));
  TL_RETURN_IF_ERROR(r.i64(fr));
  TL_RETURN_IF_ERROR(r.i64(mt));
  TL_RETURN_IF_ERROR(r.u8(ended));
  if (ended > 1) return r.fail("ended flag " + std::to_string(ended));
  uint32_t nt = 0;
  TL_RETURN_IF_ERROR(r.u32(nt));
  if (nt != buffers_.size()) return r.fail("table count does not match the query");
  for (uint32_t i = 0; i < nt; ++i) {
    uint64_t arrived = 0;
    TL_RETURN_IF_ERROR(r.u64(arrived));
    TL_ASSIGN_OR_RETURN(Column rec, r.column(q_->tables[i].schema.get()));
    std::vector<uint64_t> seq;
    TL_RETURN_IF_ERROR(r.vec(seq));
    if (seq.size() != static_cast<size_t>(rec.size()))
      return r.fail("buffered rows and arrival numbers differ in count");
    TableBuffer& b = buffers_[i];
    if (merging) {
      if (b.seq.empty())
        for (int64_t k = 0; k < b.rec.size(); ++k)
          b.seq.push_back(b.first_seq + static_cast<uint64_t>(k));
      append_column(b.rec, rec);
      b.seq.insert(b.seq.end(), seq.begin(), seq.end());
      b.arrived = std::max(b.arrived, arrived);
    } else {
      b = TableBuffer{};
      b.rec = std::move(rec);
      b.seq = std::move(seq);
      b.arrived = arrived;
      b.max_time = INT64_MIN;
    }
    for (uint64_t sq : b.seq)
      if (sq >= b.arrived) return r.fail("buffered row's arrival number beyond the rows arrived");

    std::vector<int64_t> times;
    std::vector<uint8_t> ok;
    b.max_time = INT64_MIN;
    row_times(b.rec.child(time_index(i)), b.rec.size(), times, ok);
    for (size_t k = 0; k < times.size(); ++k)
      if (ok.empty() || ok[k]) b.max_time = std::max(b.max_time, times[k]);
    b.first_seq = b.arrived;
  }
  uint32_t ng = 0;
  TL_RETURN_IF_ERROR(r.u32(ng));
  if (ng != state_.groupings.size()) return r.fail("grouping count does not match the query");
  EntityLists local(ng);
  for (uint32_t g = 0; g < ng; ++g) {
    GroupingState& gs = state_.groupings[g];
    uint64_t total = 0;
    TL_RETURN_IF_ERROR(r.u64(total));
    std::vector<uint64_t> hashes;
    TL_RETURN_IF_ERROR(r.vec(hashes));
    if (hashes.size() > total) return r.fail("more entities listed than the session had");
    TL_ASSIGN_OR_RETURN(Column keys, r.column());
    if (keys.type_id() != gs.keys.type_id() && keys.size() > 0)
      return r.fail("entity keys of another type");
    if (keys.size() != static_cast<int64_t>(hashes.size()))
      return r.fail("entity keys and hashes differ in count");
    local[g].reserve(hashes.size());
    for (size_t e = 0; e < hashes.size(); ++e) {
      const size_t before = gs.size();
      const uint32_t at = gs.intern(hashes[e], keys, static_cast<int64_t>(e));
      if (at < before && mode != Apply::kDelta) {
        return merging && std::find(local[g].begin(), local[g].end(), at) == local[g].end()
                   ? invalid_argument("engine state: entity " + std::to_string(e) +
                                      " of partial image " + std::to_string(index) +
                                      " is also in an earlier partial image (the key "
                                      "ranges overlap)")
                   : r.fail("duplicate entity key hash");
      }
      local[g].push_back(at);
    }
  }
  auto listed = [&](int32_t g) -> Result<std::span<const uint32_t>> {
    if (g < -1 || g >= static_cast<int32_t>(ng))
      return error(r.fail("grouping " + std::to_string(g)));
    if (g < 0) return std::span<const uint32_t>();
    return std::span<const uint32_t>(local[static_cast<size_t>(g)]);
  };
  static const std::vector<uint64_t> kNoHashes;
  uint32_t nc = 0;
  TL_RETURN_IF_ERROR(r.u32(nc));
  if (ended && nc) return r.fail("carries after the end of input");
  for (uint32_t k = 0; k < nc; ++k) {
    int32_t node = 0, ctx = 0, grouping = 0;
    TL_RETURN_IF_ERROR(r.i32(node));
    TL_RETURN_IF_ERROR(r.i32(ctx));
    TL_RETURN_IF_ERROR(r.i32(grouping));
    TL_ASSIGN_OR_RETURN(auto ents, listed(grouping));
    std::vector<uint8_t> has;
    TL_RETURN_IF_ERROR(r.vec(has));
    if (has.size() != ents.size()) return r.fail("carry flags do not match the entity count");
    TL_ASSIGN_OR_RETURN(Column vals, r.column());
    int64_t present = 0;
    for (uint8_t h : has) present += h ? 1 : 0;
    if (vals.size() != present) return r.fail("carried values do not match their flags");
    CarryState& c = state_.carries[{node, ctx}];
    if (c.grouping >= 0 && grouping >= 0 && c.grouping != grouping)
      return r.fail("carry of another grouping");
    if (grouping >= 0) c.grouping = grouping;
    int64_t base = c.values.size();
    if (present > 0) {
      if (c.values.size() == 0) {
        c.values = std::move(vals);
        base = 0;
      } else {
        if (!type_equals(*c.values.type(), *vals.type()))
          return r.fail("carried values of another type");
        append_column(c.values, vals);
      }
    }
    int64_t j = 0;
    for (size_t i = 0; i < ents.size(); ++i) {
      const uint32_t e = ents[i];
      if (e >= c.slot.size()) c.slot.resize(size_t{e} + 1, -1);
      if (c.slot[e] >= 0) --c.live;
      c.slot[e] = has[i] ? base + j++ : -1;
      if (c.slot[e] >= 0) ++c.live;
    }
  }
  uint32_t no = 0;
  TL_RETURN_IF_ERROR(r.u32(no));
  if (ended && no) return r.fail("operator states after the end of input");
  for (uint32_t k = 0; k < no; ++k) {
    int32_t node = 0, ctx = 0, grouping = 0;
    uint8_t kind_byte = 0;
    TL_RETURN_IF_ERROR(r.i32(node));
    TL_RETURN_IF_ERROR(r.i32(ctx));
    TL_RETURN_IF_ERROR(r.u8(kind_byte));
    TL_RETURN_IF_ERROR(r.i32(grouping));
    std::string global, entities;
    TL_RETURN_IF_ERROR(r.bytes(global));
    TL_RETURN_IF_ERROR(r.bytes(entities));
    TL_ASSIGN_OR_RETURN(auto ents, listed(grouping));
    auto& slot = state_.operators[{node, ctx}];
    const bool existed = slot != nullptr;
    if (!slot) {
      uint8_t layout = global.empty() ? 0 : static_cast<uint8_t>(global[0]);
      TL_ASSIGN_OR_RETURN(slot, make_state(static_cast<StateKind>(kind_byte), layout));
    } else if (static_cast<uint8_t>(slot->kind()) != kind_byte) {
      return r.fail("operator @" + std::to_string(node) + " of another kind");
    }
    if (slot->grouping >= 0 && grouping >= 0 && slot->grouping != grouping)
      return r.fail("operator @" + std::to_string(node) + " of another grouping");
    if (grouping >= 0) slot->grouping = grouping;
    StateReader gr(global), er(entities);
    const std::vector<uint64_t>& hashes =
        grouping >= 0 ? state_.groupings[static_cast<size_t>(grouping)].hashes : kNoHashes;
    Status s = slot->read_global(gr, merging && existed);
    if (s.ok() && !gr.at_end()) s = gr.fail("global part has trailing bytes");
    if (s.ok()) s = slot->read_entities(er, ents, hashes);
    if (s.ok() && !er.at_end()) s = er.fail("entity part has trailing bytes");
    if (!s.ok())
      return corruption("engine state: operator @" + std::to_string(node) + ": " + s.message());
  }
  TL_RETURN_IF_ERROR(r.magic(kStateEnd));
  if (!r.at_end()) return r.fail("trailing bytes after the end marker");
  if (merging) {
    watermark_ = std::max(watermark_, wm);
    frontier_ = std::max(frontier_, fr);
    max_time_ = std::max(max_time_, mt);
    ended_ = ended_ || ended != 0;
  } else {
    watermark_ = wm;
    frontier_ = fr;
    max_time_ = mt;
    ended_ = ended != 0;
  }
  if (ended_) {
    state_.carries.clear();
    state_.operators.clear();
  }
  chain_head_ = sum;
  return {};
}

}  // namespace

Result<std::string> Session::checkpoint(ImageKind kind) {
  (void)kind;
  return error(StatusCode::kUnimplemented, "this session does not write incremental images");
}
Status Session::restore_chain(const std::vector<std::string_view>& images) {
  (void)images;
  return unimplemented("this session does not restore incremental images");
}
Result<std::string> Session::snapshot_partial(const EntitySelector& keep) const {
  (void)keep;
  return error(StatusCode::kUnimplemented, "this session does not write partial images");
}
Status Session::restore_merge(const std::vector<std::string_view>& partials) {
  (void)partials;
  return unimplemented("this session does not merge partial images");
}

uint32_t key_hash_slot(const Column& keys, int64_t row) {
  // The message-key form of pipeline::key_string (src/pipeline/stage_util.cc): the producer
  // routes and Key_Shared assigns by the hash of exactly these bytes.
  std::string key;
  if (keys.is_valid(row)) {
    switch (storage_of(keys.type_id())) {
      case Storage::kInts:
        key = std::to_string(keys.int_at(row));
        break;
      case Storage::kFloats:
        key = fmt::format("{}", keys.float_at(row));
        break;
      case Storage::kString:
        key = std::string(keys.string_at(row));
        break;
      default:
        break;
    }
  }
  return io::pulsar_key_hash(key) % 65536u;
}

EntitySelector key_hash_ranges(std::vector<KeyHashRange> ranges) {
  return [ranges = std::move(ranges)](size_t, const Column& keys, int64_t row) {
    const uint32_t slot = key_hash_slot(keys, row);
    for (const KeyHashRange& r : ranges)
      if (slot >= r.start && slot <= r.end) return true;
    return false;
  };
}

Status Session::add_input_dictionary_key(std::string_view table, Batch&& batch,
                                         Column&& key_values) {
  (void)table;
  (void)batch;
  (void)key_values;
  return unimplemented("this session does not take dictionary-encoded keys");
}

Result<std::shared_ptr<const CompiledQuery>> compile(std::string_view query,
                                                     const std::vector<TableSpec>& tables,
                                                     const std::vector<ViewSpec>& views,
                                                     const QueryOptions& options) {
  std::vector<fenl::TableDecl> decls;
  for (const auto& t : tables) {
    if (!t.schema || t.schema->id != TypeId::kRecord) {
      return error(StatusCode::kInvalidArgument, "table '" + t.name + "' needs a record schema");
    }
    decls.push_back({t.name, fenl::logical_type(*t.schema), t.time_column, t.key_column,
                     t.subsort_column, t.grouping});
  }
  std::vector<fenl::ViewDecl> vdecls;
  for (const auto& v : views) vdecls.push_back({v.name, v.expression});
  TL_ASSIGN_OR_RETURN(fenl::Plan plan,
                      fenl::compile_plan(query, decls, vdecls, options.require_record));
  auto q = std::make_shared<CompiledQueryImpl>();
  q->tables = tables;
  q->options = options;
  std::vector<Field> fields;
  fields.push_back({"_time", DataType::of(TypeId::kTimestamp)});
  TypePtr key_type = DataType::of(TypeId::kNull);
  if (plan.root->grouping >= 0)
    key_type =
        fenl::physical_type(*plan.groupings[static_cast<size_t>(plan.root->grouping)].key_type);
  if (options.key_indices && key_type->id != TypeId::kNull) key_type = DataType::of(TypeId::kU32);
  fields.push_back({"_key", key_type});
  for (const auto& f : plan.root->type->fields)
    fields.push_back({f.name, fenl::physical_type(*f.type)});
  q->out_type = DataType::record(std::move(fields));
  q->plan = std::move(plan);
  // Number the nodes, and resolve every call to an operator or a kernel now: a function
  // without an implementation is a compile error, not a failure halfway through a run.
  std::vector<const fenl::Node*> todo{q->plan.root.get()};
  while (!todo.empty()) {
    const fenl::Node* n = todo.back();
    todo.pop_back();
    if (q->node_ids.count(n)) continue;
    q->node_ids.emplace(n, static_cast<int>(q->node_ids.size()));
    if (n->op == fenl::Op::kCall && !find_operator(n->fn) && !has_kernel(n->fn)) {
      fenl::Diagnostic d{fenl::Stage::kType, n->span,
                         "function '" + n->fn + "' has no implementation in this engine", ""};
      return error(StatusCode::kUnimplemented, fenl::render(d, query));
    }
    for (auto it = n->args.rbegin(); it != n->args.rend(); ++it) todo.push_back(it->get());
  }
  std::string id = q->explain() + "\n" + q->out_type->to_string();
  for (const auto& t : tables)
    id += "\n" + t.name + " " + t.schema->to_string() + " time=" + t.time_column +
          " key=" + t.key_column + " subsort=" + t.subsort_column + " grouping=" + t.grouping;
  q->fp = fenl::hash_string(id);
  return std::shared_ptr<const CompiledQuery>(q);
}

Result<std::unique_ptr<Session>> start_session(std::shared_ptr<const CompiledQuery> query) {
  auto impl = std::dynamic_pointer_cast<const CompiledQueryImpl>(query);
  if (!impl)
    return error(StatusCode::kInvalidArgument, "query was not compiled by engine::compile");
  return std::unique_ptr<Session>(new SessionImpl(std::move(impl)));
}

}  // namespace tideline::engine
