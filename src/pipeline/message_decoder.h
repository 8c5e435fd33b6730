#pragma once
// Decodes a topic's messages into rows of the pipeline's reader schema (the topic schema of
// the configuration), each with the schema its producer wrote it with: a message's
// schema_version names the writer schema (fetched once per version from the topic service),
// which is resolved to the reader schema by Avro's rules (avro::Resolver). Used by the
// processor and consumer stages at their one decode call.
// Thread-safety: one decoder per stage thread (it caches per schema version).

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "io/avro/avro.h"
#include "io/topic.h"

namespace tideline::pipeline {

class MessageDecoder {
 public:
  MessageDecoder(io::TopicService& topics, std::string topic,
                 std::shared_ptr<const avro::Codec> reader)
      : topics_(topics), topic_(std::move(topic)), reader_(std::move(reader)) {}

  // Appends `m` as one row of the reader's type to `out`. The outer error is a failure to ask
  // the topic service for a schema version (the stage stops; the message is not
  // acknowledged and comes again). The inner Status is about this message alone: it was
  // unreadable (Message::unreadable), its writer schema version does not exist, is not Avro
  // or cannot be resolved to the reader schema, or its bytes do not decode; the caller sends
  // it to the dead-letter topic with that reason. On any error `out` is unchanged.
  Result<Status> decode_into(const io::Message& m, Batch& out);

  // Columnar decode of many messages: appends one row per decodable message of `msgs` to
  // `out`, in order, and one avro::DecodeError (index into `msgs`, and the same reason
  // decode_into would give) per message that is not, in index order; a bad message costs
  // only its own row. Consecutive messages with the same writer schema version are decoded
  // together (avro::Codec/Resolver::decode_batch). The returned error is a failure to ask the
  // topic service for a schema version; every version is fetched before anything is decoded,
  // so `out` and `bad` are then unchanged.
  Status decode_batch(std::span<const io::Message* const> msgs, Batch& out,
                      std::vector<avro::DecodeError>& bad);

  const avro::Codec& reader() const { return *reader_; }

 private:
  // The outcome for one writer schema version: a resolver, or why there is none.
  struct Version {
    std::shared_ptr<const avro::Resolver> resolver;
    Status why;
  };
  Result<const Version*> version(const std::string& v);

  io::TopicService& topics_;
  std::string topic_;
  std::shared_ptr<const avro::Codec> reader_;
  std::map<std::string, Version> versions_;
  // Scratch of decode_batch: one run's payloads, its errors.
  std::vector<std::string_view> run_payloads_;
  std::vector<avro::DecodeError> run_errors_;
};

}  // namespace tideline::pipeline
