#include "engine/query.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "engine/eval.h"
#include "engine/kernels.h"
#include "fenl/hash.h"
#include "fenl/plan.h"

namespace tideline::engine {

namespace {

using fenl::Kind;

class CompiledQueryImpl : public CompiledQuery {
 public:
  fenl::Plan plan;
  std::vector<TableSpec> tables;
  QueryOptions options;
  TypePtr out_type;

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
          } else if (n->op == fenl::Op::kCall &&
                     (n->fn == "is_valid" || n->fn == "is_null" || n->fn == "count")) {
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

// Appends all rows of `src` to `dst` (same type), buffer-wise.
void append_column(Column& dst, const Column& src) {
  const int64_t base = dst.size(), n = src.size();
  if (n == 0) return;
  switch (storage_of(dst.type_id())) {
    case Storage::kInts:
      dst.ints().insert(dst.ints().end(), src.ints().begin(), src.ints().begin() + n);
      break;
    case Storage::kFloats:
      dst.floats().insert(dst.floats().end(), src.floats().begin(), src.floats().begin() + n);
      break;
    case Storage::kString: {
      uint32_t off = static_cast<uint32_t>(dst.chars().size());
      dst.chars().append(src.chars());
      for (int64_t i = 1; i <= n; ++i)
        dst.offsets().push_back(src.offsets()[static_cast<size_t>(i)] + off);
      break;
    }
    case Storage::kChildren:
      for (size_t f = 0; f < dst.num_children(); ++f) append_column(dst.child(f), src.child(f));
      break;
    case Storage::kNone:
      break;
  }
  bool need_bits = !dst.validity().empty() || !src.all_valid();
  dst.set_size(base + n);
  if (need_bits) {
    auto& v = dst.validity();
    if (v.empty()) v.assign(static_cast<size_t>((base + 63) / 64), ~uint64_t{0});
    v.resize(static_cast<size_t>((base + n + 63) / 64), 0);
    if (base % 64) v[static_cast<size_t>(base / 64)] &= (uint64_t{1} << (base % 64)) - 1;
    for (int64_t i = 0; i < n; ++i) {
      if (src.is_valid(i))
        v[static_cast<size_t>((base + i) >> 6)] |= uint64_t{1} << ((base + i) & 63);
    }
  }
}

class SessionImpl : public Session {
 public:
  explicit SessionImpl(std::shared_ptr<const CompiledQueryImpl> q) : q_(std::move(q)) {
    for (const auto& t : q_->tables) {
      Column c(t.schema);
      inputs_.push_back(std::move(c));
    }
  }

  Status add_input(std::string_view table, Batch&& batch) override {
    TL_RETURN_IF_ERROR(check_input(table, batch));
    for (size_t i = 0; i < q_->tables.size(); ++i) {
      if (q_->tables[i].name != table) continue;
      Column& acc = inputs_[i];
      if (acc.size() != 0) break;
      bool same_lengths = true;
      for (const auto& c : batch.columns) same_lengths = same_lengths && c.size() == batch.num_rows;
      if (!same_lengths) break;
      // First batch of the table: adopt its buffers (no copy).
      for (size_t f = 0; f < batch.columns.size(); ++f) acc.child(f) = std::move(batch.columns[f]);
      acc.set_size(batch.num_rows);
      return {};
    }
    return add_input(table, static_cast<const Batch&>(batch));
  }

  Status add_input_dictionary_key(std::string_view table, Batch&& batch,
                                  Column&& key_values) override {
    if (finished_) return invalid_argument("add_input() after finish()");
    for (size_t i = 0; i < q_->tables.size(); ++i) {
      if (q_->tables[i].name != table) continue;
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
      if (inputs_[i].size() != 0)
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
      Column held = std::move(codes);
      codes = Column(schema.fields[static_cast<size_t>(k)].type);
      Batch probe;
      probe.schema = batch.schema;
      probe.num_rows = 0;
      for (const auto& c : batch.columns) probe.columns.push_back(Column(c.type()));
      Status st = check_input(table, probe);
      codes = std::move(held);
      TL_RETURN_IF_ERROR(st);
      for (const auto& c : batch.columns)
        if (c.size() != batch.num_rows)
          return invalid_argument("batch for table '" + std::string(table) +
                                  "' has columns of different lengths");
      Column& acc = inputs_[i];
      for (size_t f = 0; f < batch.columns.size(); ++f) acc.child(f) = std::move(batch.columns[f]);
      acc.set_size(batch.num_rows);
      key_dicts_.resize(q_->tables.size());
      key_dicts_[i] = std::move(key_values);
      return {};
    }
    return invalid_argument("unknown table '" + std::string(table) + "'");
  }

  Status add_input(std::string_view table, const Batch& batch) override {
    TL_RETURN_IF_ERROR(check_input(table, batch));
    for (size_t i = 0; i < q_->tables.size(); ++i) {
      if (q_->tables[i].name != table) continue;
      Column& acc = inputs_[i];
      for (size_t f = 0; f < batch.columns.size(); ++f)
        append_column(acc.child(f), batch.columns[f]);
      acc.set_size(acc.size() + batch.num_rows);
      return {};
    }
    return invalid_argument("unknown table '" + std::string(table) + "'");
  }

 private:
  Status check_input(std::string_view table, const Batch& batch) const {
    if (finished_) return invalid_argument("add_input() after finish()");
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

 public:
  Result<Batch> finish() override {
    if (finished_)
      return error(StatusCode::kInvalidArgument, "finish() was already called on this session");
    finished_ = true;
    const fenl::Plan& plan = q_->plan;
    std::vector<GroupingState>& groupings = state_.groupings;
    groupings.resize(plan.groupings.size());
    for (size_t g = 0; g < plan.groupings.size(); ++g) {
      groupings[g].key_type = plan.groupings[g].key_type;
      groupings[g].keys = Column(fenl::physical_type(*plan.groupings[g].key_type));
    }
    std::vector<PreparedTable>& prepared = state_.tables;
    int64_t t_last = std::numeric_limits<int64_t>::min();
    for (size_t i = 0; i < plan.tables.size(); ++i) {
      TL_ASSIGN_OR_RETURN(PreparedTable p, prepare(i, groupings));
      if (p.domain->size()) t_last = std::max(t_last, p.domain->time.back());
      prepared.push_back(std::move(p));
    }
    evaluator_ = std::make_unique<Evaluator>(plan, state_);
    if (q_->options.results == ResultBehavior::kFinal)
      evaluator_->set_final_only(q_->options.final_at);
    TL_ASSIGN_OR_RETURN(StreamPtr r, evaluator_->eval(plan.root));
    return emit(*r, groupings, t_last);
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
    if (tcol.all_valid() && storage_of(tcol.type_id()) == Storage::kInts) {
      times.assign(tcol.ints().begin(), tcol.ints().begin() + n);
    } else {
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
      // Per-table base derived from the content, so identical inputs get identical subsorts
      // and rows of one table keep their order.
      uint64_t h = fenl::hash_int(static_cast<uint64_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        h = (h ^ static_cast<uint64_t>(times[static_cast<size_t>(i)])) * 0x9E3779B97F4A7C15ULL;
      }
      uint64_t base = h >> 2;
      for (int64_t i = 0; i < n; ++i)
        subsort[static_cast<size_t>(i)] = base + static_cast<uint64_t>(i);
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
    // Pass 1: the first row of every code and the time order, on this thread; on a helper
    // thread meanwhile, the content hash seeding the subsort base (as in the general path),
    // one serial multiply chain.
    const size_t split = n >= (size_t{1} << 18) ? n / 2 : 0;
    std::vector<int32_t> first(nd + 1, INT32_MAX);
    uint64_t h = fenl::hash_int(static_cast<uint64_t>(n));
    auto content_hash = [&] {
      for (size_t i = 0; i < n; ++i)
        h = (h ^ static_cast<uint64_t>(times_in[i])) * 0x9E3779B97F4A7C15ULL;
    };
    std::thread helper;
    if (split > 0) helper = std::thread(content_hash);
    bool sorted = true;
    for (size_t i = 0; i < n; ++i) {
      int32_t& f = first[code_at(i)];
      if (f == INT32_MAX) f = static_cast<int32_t>(i);
      if (i > 0 && times_in[i] < times_in[i - 1]) sorted = false;
    }
    if (helper.joinable())
      helper.join();
    else
      content_hash();
    const uint64_t base = h >> 2;
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

  const Column* key_dictionary() const override {
    if (!finished_ || !q_->options.key_indices || emitted_grouping_ < 0) return nullptr;
    return &state_.groupings[static_cast<size_t>(emitted_grouping_)].keys;
  }

  Result<Batch> emit(const Stream& r, const std::vector<GroupingState>& groupings, int64_t t_last) {
    const QueryOptions& opt = q_->options;
    Batch out = Batch::empty(q_->out_type);
    if (!r.domain || r.domain->grouping < 0) return out;
    const Domain& d = *r.domain;
    const GroupingState& g = groupings[static_cast<size_t>(d.grouping)];
    std::vector<int32_t> rows;   // rows of r to output
    std::vector<int64_t> times;  // their output times
    std::vector<uint32_t> entities;
    if (opt.results == ResultBehavior::kHistory) {
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
      int64_t cutoff = opt.final_at.value_or(std::numeric_limits<int64_t>::max());
      std::vector<int32_t> last(g.size(), -1);
      for (size_t i = 0; i < d.size(); ++i) {
        if (d.time[i] > cutoff) break;
        if (d.entity[i] >= last.size()) last.resize(d.entity[i] + 1, -1);
        last[d.entity[i]] = static_cast<int32_t>(i);
      }
      // The final tick follows the last row of every input and of the result itself
      // (shifted rows may lie beyond the inputs).
      if (d.size()) t_last = std::max(t_last, d.time.back());
      int64_t stamp = (opt.final_at ? *opt.final_at : t_last) + 1;
      std::vector<std::pair<uint64_t, uint32_t>> ents;
      for (uint32_t e = 0; e < last.size(); ++e) {
        if (last[e] < 0) continue;
        if (opt.changed_since && d.time[static_cast<size_t>(last[e])] < *opt.changed_since)
          continue;
        ents.emplace_back(g.hashes[e], e);
      }
      std::sort(ents.begin(), ents.end());
      for (const auto& [h, e] : ents) {
        rows.push_back(last[e]);
        times.push_back(stamp);
        entities.push_back(e);
      }
    }
    const int64_t n = static_cast<int64_t>(rows.size());
    Column tc = alloc_column(DataType::of(TypeId::kTimestamp), n);
    std::copy(times.begin(), times.end(), tc.ints().begin());
    out.columns[0] = std::move(tc);
    if (opt.key_indices) {
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

  std::shared_ptr<const CompiledQueryImpl> q_;
  std::vector<Column> inputs_;  // one record column per table, accumulated
  bool finished_ = false;
  // Per table: the distinct keys when its key column arrived dictionary-encoded (the input's
  // key column then holds u32 codes until prepare()).
  std::vector<std::optional<Column>> key_dicts_;
  int emitted_grouping_ = -1;  // grouping whose keys the result's `_key` indexes
  // Entity spaces, prepared tables and every operator's per-entity state; kept after
  // finish() together with the evaluator whose domains key the operator states.
  ExecState state_;
  std::unique_ptr<Evaluator> evaluator_;
};

}  // namespace

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
  return std::shared_ptr<const CompiledQuery>(q);
}

Result<std::unique_ptr<Session>> start_session(std::shared_ptr<const CompiledQuery> query) {
  auto impl = std::dynamic_pointer_cast<const CompiledQueryImpl>(query);
  if (!impl)
    return error(StatusCode::kInvalidArgument, "query was not compiled by engine::compile");
  return std::unique_ptr<Session>(new SessionImpl(std::move(impl)));
}

}  // namespace tideline::engine
