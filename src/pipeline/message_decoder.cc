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

}  // namespace tideline::pipeline
