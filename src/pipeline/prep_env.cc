#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <tuple>

#include "common/progress.h"
#include "common/time.h"
#include "io/csv/csv.h"
#include "pipeline/pipeline.h"

namespace tideline::pipeline {

namespace {

constexpr int kMaxReportedRowErrors = 20;

Status create_tables(const PipelineConfig& c, io::TableStore& tables, PrepEnvReport& rep) {
  TL_RETURN_STATUS_IF_ERROR(tables.execute_ddl(fmt::format(
      "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'SimpleStrategy', "
      "'replication_factor': 1}}",
      c.keyspace)));
  for (auto [file, table] :
       {std::pair{c.input_stmt, c.table_input}, {c.output_stmt, c.table_output}}) {
    auto text = read_text_file(file);
    if (!text) return text.error();
    std::string stmt = io::fill_statement_template(*text, c.keyspace, table);
    Status s = tables.execute_ddl(stmt);
    if (!s.ok())
      return s.with_context(fmt::format("creating table {}.{} from {}", c.keyspace, table, file));
    rep.actions.push_back(fmt::format("table {}.{} ready ({})", c.keyspace, table, file));
  }
  return {};
}

Status create_topics(const PipelineConfig& c, io::TopicService& topics, PrepEnvReport& rep) {
  TL_RETURN_STATUS_IF_ERROR(topics.create_namespace(c.tenant, c.ns));
  for (auto [topic, schema_file] :
       {std::pair{c.topic_input, c.input_schema}, {c.topic_output, c.output_schema}}) {
    std::string url = c.topic_url(topic);
    TL_RETURN_STATUS_IF_ERROR(topics.create_partitioned_topic(url, c.topic_partitions));
    rep.actions.push_back(fmt::format("topic {} ready ({} partitions)", url, c.topic_partitions));
    if (c.topic_schema) {
      auto env = read_text_file(schema_file);
      if (!env) return env.error();
      Status s = topics.set_schema(url, *env);
      if (!s.ok()) return s.with_context(fmt::format("schema of {} from {}", url, schema_file));
      rep.actions.push_back(fmt::format("schema of {} set from {}", url, schema_file));
    }
  }
  // The processor re-sends a replayed step's rows under the same sequence ids: the broker
  // must already deduplicate when the first of them arrives (docs/formats/checkpoint.md).
  if (c.backend == Backend::kClusters) {
    TL_RETURN_STATUS_IF_ERROR(topics.enable_deduplication(c.topic_url(c.topic_output)));
    rep.actions.push_back(fmt::format("deduplication on for namespace {}/{}", c.tenant, c.ns));
  }
  // The pipeline's durable subscriptions exist from the start, positioned at the earliest
  // message: Pulsar keeps a topic's messages only for its subscriptions (without a retention
  // policy, a ledger no subscription needs is deleted at its next rollover, e.g. a broker
  // restart), so output published before the consumer's first run would otherwise be lost.
  for (auto [topic, sub, type] :
       {std::tuple{c.topic_input, c.processor_subscription, c.processor_subscription_type},
        {c.topic_output, c.consumer_subscription, c.consumer_subscription_type}}) {
    const std::string url = c.topic_url(topic);
    auto consumer = topics.subscribe(url, {.subscription = sub, .type = type});
    if (consumer) {
      Status closed = (*consumer)->close();
      if (!closed.ok()) return closed.with_context(fmt::format("subscription {} of {}", sub, url));
    } else if (consumer.error().message().find("ConsumerBusy") == std::string::npos &&
               consumer.error().message().find("already has an active consumer") ==
                   std::string::npos) {
      // A running stage holding an Exclusive subscription proves that it exists.
      return consumer.error().with_context(fmt::format("creating subscription {} of {}", sub, url));
    }
    rep.actions.push_back(fmt::format("subscription {} of {} ready", sub, url));
  }
  return {};
}

Status load_raw(const PipelineConfig& c, const PrepEnvOptions& o, io::TableStore& tables,
                PrepEnvReport& rep) {
  TL_ASSIGN_OR_RETURN(auto schema, tables.describe(c.keyspace, c.table_input));
  // The raw file's columns follow the input table's CREATE TABLE statement. Cassandra does
  // not keep declaration order (its describe lists key columns first, then the others by
  // name), so the statement file gives the layout when it declares the same columns.
  if (auto text = read_text_file(c.input_stmt)) {
    auto ddl = io::parse_ddl(io::fill_statement_template(*text, c.keyspace, c.table_input));
    if (ddl && ddl->kind == io::DdlStatement::Kind::kCreateTable &&
        ddl->table.columns.size() == schema.columns.size()) {
      bool same = true;
      for (const auto& col : ddl->table.columns) {
        int i = schema.column_index(col.name);
        same = same && i >= 0 && schema.columns[static_cast<size_t>(i)].type == col.type;
      }
      if (same) schema.columns = ddl->table.columns;
    }
  }
  TypePtr table_type = schema.batch_type();
  // Raw files carry timestamps as epoch milliseconds: read them as integers, convert below.
  std::vector<Field> load_fields = table_type->fields;
  std::vector<size_t> ts_cols;
  for (size_t i = 0; i < load_fields.size(); ++i) {
    if (load_fields[i].type->id == TypeId::kTimestamp) {
      load_fields[i].type = DataType::of(TypeId::kI64);
      ts_cols.push_back(i);
    }
  }
  TypePtr load_type = DataType::record(load_fields);

  TL_ASSIGN_OR_RETURN(auto reader, csv::CsvReader::open_file(o.raw_file));
  csv::LoadOptions lo;
  lo.max_rows = o.load_count;
  lo.batch_rows = 16384;
  ProgressBar bar("load", o.load_count);
  int64_t reported = 0;
  int64_t t0 = monotonic_ns();
  auto stats = csv::load_typed(
      *reader, load_type, lo,
      [&](Batch&& b) -> Status {
        b.schema = table_type;
        for (size_t i : ts_cols) {
          Column& col = b.columns[i];
          Column ts(DataType::of(TypeId::kTimestamp));
          ts.ints() = std::move(col.ints());
          for (auto& v : ts.ints()) v *= kNanosPerMilli;
          ts.validity() = std::move(col.validity());
          ts.set_size(b.num_rows);
          col = std::move(ts);
        }
        TL_RETURN_STATUS_IF_ERROR(tables.upsert(c.keyspace, c.table_input, b));
        bar.add(b.num_rows);
        return {};
      },
      [&](const csv::RowError& e) {
        if (reported++ < kMaxReportedRowErrors) spdlog::warn("rejected row {}", e.to_string());
      });
  bar.finish();
  if (!stats) return stats.error();
  rep.load_seconds = static_cast<double>(monotonic_ns() - t0) / 1e9;
  rep.rows_loaded = stats->rows_loaded;
  rep.rows_rejected = stats->rows_rejected;
  if (reported > kMaxReportedRowErrors) {
    spdlog::warn("... and {} more rejected rows", reported - kMaxReportedRowErrors);
  }
  return {};
}

}  // namespace

Result<PrepEnvReport> prep_env(const PipelineConfig& c, const PrepEnvOptions& o) {
  PrepEnvReport rep;
  if (o.load_raw) {
    if (o.raw_file.empty()) {
      return error(StatusCode::kInvalidArgument, "-ldr true needs a raw source file (-rsf FILE)");
    }
    if (o.load_count != -1 && o.load_count <= 0) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("-ldn must be -1 (all) or a positive number, got {}", o.load_count));
    }
  }
  if (o.create_tables || o.load_raw) {
    TL_ASSIGN_OR_RETURN(auto tables, open_table_store(c));
    if (o.create_tables) TL_RETURN_IF_ERROR(create_tables(c, *tables, rep));
    if (o.load_raw) TL_RETURN_IF_ERROR(load_raw(c, o, *tables, rep));
  }
  if (o.create_topics) {
    TL_ASSIGN_OR_RETURN(auto topics, open_topic_service(c));
    TL_RETURN_IF_ERROR(create_topics(c, *topics, rep));
  }
  if (o.strict && rep.rows_rejected > 0) {
    return error(StatusCode::kInvalidArgument,
                 fmt::format("{} rows rejected (--strict)", rep.rows_rejected));
  }
  return rep;
}

}  // namespace tideline::pipeline
