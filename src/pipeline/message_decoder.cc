// Per-message writer schemas resolved to the reader schema (message_decoder.h).
#include "pipeline/message_decoder.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tideline::pipeline {

namespace {

std::string hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

}  // namespace

Result<const MessageDecoder::Version*> MessageDecoder::version(const std::string& v) {
  if (auto it = versions_.find(v); it != versions_.end()) return &it->second;
  Version out;
  auto envelope = topics_.get_schema_version(topic_, v);
  if (!envelope) {
    // A service without versions (embedded log) reads everything with the reader schema.
    if (envelope.error().code() != StatusCode::kUnimplemented) {
      return error(envelope.error().with_context(
          fmt::format("fetching schema version {} of {}", hex(v), topic_)));
    }
    out.resolver = nullptr;
  } else if (!*envelope) {
    out.why =
        not_found(fmt::format("writer schema version {} of {} does not exist", hex(v), topic_));
  } else {
    auto schema = avro::schema_from_pulsar_envelope(**envelope);
    if (!schema) {
      out.why = schema.error().with_context(fmt::format("writer schema version {}", hex(v)));
    } else {
      auto resolver = avro::Resolver::make(*schema, reader_);
      if (!resolver) {
        out.why = resolver.error().with_context(
            fmt::format("writer schema version {} of {}", hex(v), topic_));
      } else {
        out.resolver = std::move(*resolver);
      }
    }
  }
  if (!out.why.ok())
    spdlog::warn("{}: messages with it go to the dead-letter topic", out.why.message());
  return &versions_.emplace(v, std::move(out)).first->second;
}

Result<Status> MessageDecoder::decode_into(const io::Message& m, Batch& out) {
  if (!m.unreadable.empty()) return corruption(m.unreadable);
  if (m.schema_version.empty()) return reader_->decode_into(m.payload, out);
  TL_ASSIGN_OR_RETURN(const Version* v, version(m.schema_version));
  if (!v->why.ok()) return v->why;
  Status st =
      v->resolver ? v->resolver->decode_into(m.payload, out) : reader_->decode_into(m.payload, out);
  if (!st.ok() && v->resolver) {
    return st.with_context(fmt::format("writer schema version {}", hex(m.schema_version)));
  }
  return st;
}

Status MessageDecoder::decode_batch(std::span<const io::Message* const> msgs, Batch& out,
                                    std::vector<avro::DecodeError>& bad) {
  // Every writer schema version first: a failure to fetch one changes nothing.
  const std::string* last = nullptr;
  for (const io::Message* m : msgs) {
    if (!m->unreadable.empty() || m->schema_version.empty()) continue;
    if (last && *last == m->schema_version) continue;
    TL_ASSIGN_OR_RETURN_S(const Version* v, version(m->schema_version));
    (void)v;
    last = &m->schema_version;
  }
  size_t i = 0;
  while (i < msgs.size()) {
    const io::Message& first = *msgs[i];
    if (!first.unreadable.empty()) {
      bad.push_back({i, corruption(first.unreadable)});
      ++i;
      continue;
    }
    const Version* v = nullptr;
    if (!first.schema_version.empty()) {
      v = &versions_.find(first.schema_version)->second;  // fetched above
      if (!v->why.ok()) {
        bad.push_back({i, v->why});
        ++i;
        continue;
      }
    }
    // The run: following readable messages with the same schema version.
    size_t end = i + 1;
    while (end < msgs.size() && msgs[end]->unreadable.empty() &&
           msgs[end]->schema_version == first.schema_version)
      ++end;
    run_payloads_.clear();
    for (size_t k = i; k < end; ++k) run_payloads_.emplace_back(msgs[k]->payload);
    run_errors_.clear();
    const bool resolved = v && v->resolver;
    TL_RETURN_IF_ERROR(resolved ? v->resolver->decode_batch(run_payloads_, out, run_errors_)
                                : reader_->decode_batch(run_payloads_, out, run_errors_));
    for (auto& e : run_errors_) {
      Status why = resolved ? e.why.with_context(fmt::format("writer schema version {}",
                                                             hex(first.schema_version)))
                            : std::move(e.why);
      bad.push_back({i + e.index, std::move(why)});
    }
    i = end;
  }
  return {};
}

}  // namespace tideline::pipeline
