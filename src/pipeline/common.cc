#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "io/embedded/embedded.h"
#include "pipeline/pipeline.h"

namespace tideline::pipeline {

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(StatusCode::kIoError, fmt::format("cannot read {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::unique_ptr<io::TableStore>> open_table_store(const PipelineConfig& config) {
  if (config.backend == Backend::kEmbedded) return embedded::open_table_store(config.data_dir);
  return error(StatusCode::kUnimplemented,
               "the clusters backend's Cassandra client is not available in this build yet "
               "(set tideline.backend=embedded)");
}

Result<std::unique_ptr<io::TopicService>> open_topic_service(const PipelineConfig& config) {
  if (config.backend == Backend::kEmbedded) return embedded::open_topic_service(config.data_dir);
  return error(StatusCode::kUnimplemented,
               "the clusters backend's Pulsar client is not available in this build yet "
               "(set tideline.backend=embedded)");
}

namespace {

Result<Column> conform_column(const Column& in, const TypePtr& target, std::string_view name) {
  TypeId from = in.type_id(), to = target->id;
  if (from == to && from != TypeId::kRecord) return in;
  Column out(target);
  const int64_t n = in.size();
  out.reserve(n);
  Storage fs = storage_of(from), ts = storage_of(to);
  if (from == TypeId::kNull) {
    for (int64_t i = 0; i < n; ++i) out.append_null();
    return out;
  }
  if (ts == Storage::kInts && fs == Storage::kInts) {
    out.ints() = in.ints();
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  if (ts == Storage::kFloats && fs == Storage::kInts) {
    auto& f = out.floats();
    f.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) f[static_cast<size_t>(i)] = static_cast<double>(in.int_at(i));
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  if (ts == Storage::kInts && fs == Storage::kFloats) {
    auto& v = out.ints();
    v.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[static_cast<size_t>(i)] = static_cast<int64_t>(in.float_at(i));
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  if (ts == Storage::kFloats && fs == Storage::kFloats) {
    out.floats() = in.floats();
    out.validity() = in.validity();
    out.set_size(n);
    return out;
  }
  return error(StatusCode::kInvalidArgument,
               fmt::format("field '{}': cannot convert {} to {}", name, in.type()->to_string(),
                           target->to_string()));
}

}  // namespace

Result<Batch> conform_batch(const Batch& in, const TypePtr& target, bool allow_missing) {
  Batch out;
  out.schema = target;
  out.num_rows = in.num_rows;
  for (const auto& f : target->fields) {
    int idx = in.schema->field_index(f.name);
    if (idx < 0) {
      if (!allow_missing) {
        return error(StatusCode::kInvalidArgument, fmt::format("field '{}' is missing (have {})",
                                                               f.name, in.schema->to_string()));
      }
      Column c(f.type);
      c.reserve(in.num_rows);
      for (int64_t i = 0; i < in.num_rows; ++i) c.append_null();
      out.columns.push_back(std::move(c));
      continue;
    }
    TL_ASSIGN_OR_RETURN(auto c,
                        conform_column(in.columns[static_cast<size_t>(idx)], f.type, f.name));
    out.columns.push_back(std::move(c));
  }
  return out;
}

}  // namespace tideline::pipeline
