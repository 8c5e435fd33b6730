#pragma once
// Avro binary datum encoding and decoding driven by a JSON schema (Avro 1.11 spec); see
// docs/formats/avro.md for the details and the exact error messages.
// Supported: null, boolean, int, long, float, double, bytes, string, record, enum, fixed,
// named types with namespaces and references to earlier definitions, unions [null, T],
// [T, null] and [T], logical types timestamp-{millis,micros,nanos} and
// local-timestamp-{millis,micros,nanos} (all map to kTimestamp in nanoseconds; other logical
// types are ignored). Rejected by Codec::make (no column mapping yet): array, map, other
// unions, recursive records.
//
// Mapping to Tideline types: boolean->bool, int->i32, long->i64, float->f32, double->f64,
// string/bytes/fixed/enum symbol->string, timestamp logical types->timestamp, record->record,
// null->null.
// Thread-safety: a Codec is immutable after make() and may be shared across threads
// (decoding uses per-thread scratch space).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/batch.h"
#include "common/status.h"

namespace tideline::avro {

class Codec {
 public:
  // Parses an Avro schema (JSON text) whose top level is a record. Errors name the JSON path
  // of the offending node.
  static Result<std::shared_ptr<const Codec>> make(std::string_view schema_json);

  // The record type of decoded batches (field order = schema order).
  const TypePtr& type() const;
  // The schema as given (normalized JSON, no whitespace).
  const std::string& schema_json() const;

  // Appends one record decoded from `payload` to `out` (whose schema must be type()) and
  // increments out.num_rows. All-or-nothing: on error (kCorruption) `out` is unchanged and
  // the message says the byte offset and the field being decoded, e.g. "offset 17, field
  // 'price': truncated varint". Trailing bytes after the record are an error. No heap
  // allocation besides column growth.
  Status decode_into(std::string_view payload, Batch& out) const;

  // Appends the Avro encoding of row `row` of `in` to `out`. `in` must have type(); a null in
  // a non-nullable field is an InvalidArgument error naming the field.
  Status encode_row(const Batch& in, int64_t row, std::string& out) const;

  ~Codec();
  struct Impl;

 private:
  explicit Codec(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Pulsar's schema envelope used by the original project's conf/pulsar-schema/*.json:
// {"type":"AVRO","schema":"<schema json as a string>","properties":{}}. Returns the inner schema.
Result<std::string> schema_from_pulsar_envelope(std::string_view envelope_json);

}  // namespace tideline::avro
