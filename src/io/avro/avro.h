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
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"

namespace tideline::avro {

// A payload of a batch decode that did not decode: its index in the input and why (the
// same kCorruption message decode_into would give for it alone).
struct DecodeError {
  size_t index = 0;
  Status why;
};

// Encoded records of a batch encode, back to back: record r is
// bytes[offsets[r], offsets[r + 1]).
struct EncodedRows {
  std::string bytes;
  std::vector<uint32_t> offsets{0};
  size_t size() const { return offsets.size() - 1; }
  std::string_view row(size_t r) const {
    return std::string_view(bytes).substr(offsets[r], offsets[r + 1] - offsets[r]);
  }
};

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

  // Columnar decode of many records: appends one row per payload that decodes, in payload
  // order, exactly as decode_into would one by one (same rows, same errors), and one
  // DecodeError per payload that does not (appended to `errors`, in index order; that payload
  // adds no row, the others are unaffected). Records are decoded a chunk at a time into
  // row-major scratch, then appended column by column; no heap allocation besides column
  // growth. The returned Status is only about the call (the batch schema is not type(): then
  // nothing is appended).
  Status decode_batch(std::span<const std::string_view> payloads, Batch& out,
                      std::vector<DecodeError>& errors) const;

  // Appends the Avro encoding of row `row` of `in` to `out`. `in` must have type(); a null in
  // a non-nullable field is an InvalidArgument error naming the field.
  Status encode_row(const Batch& in, int64_t row, std::string& out) const;

  // Columnar encode of every row of `in` (which must have type()) into `out` (cleared first):
  // the same bytes as encode_row row by row, computed column by column (sizes first, then
  // values written at each row's position). On error (InvalidArgument naming the field and
  // the row, as encode_row's message plus "row N") `out` is empty.
  Status encode_batch(const Batch& in, EncodedRows& out) const;

  ~Codec();
  struct Impl;

 private:
  friend class Resolver;
  explicit Codec(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Avro schema resolution (Avro 1.11 spec, "Schema Resolution"; docs/formats/avro.md): data
// written with a writer schema, read as a reader Codec's record type.
//  - record fields are matched by name in any order; writer-only fields are skipped; a
//    reader-only field takes its "default", else make() fails naming the field. Record names
//    are not compared (Pulsar producers name their record classes as they like; the topic,
//    not the name, says what the data is).
//  - promotions: int -> long, float, double; long -> float, double; float -> double;
//    string <-> bytes.
//  - a writer union is resolved per branch when a datum selects it (a branch the reader cannot
//    take fails that datum only); a reader union [null, T] takes writer null and whatever
//    resolves to T.
//  - enums by symbol (a writer symbol the reader lacks takes the reader enum's "default",
//    else fails that datum); fixed by size.
//  - logical types come from the reader: a writer long (or int) read as a reader
//    timestamp-millis is milliseconds. When both declare a timestamp logical type the
//    writer's unit is converted to the reader's (the instant is kept).
// Thread-safety: immutable after make(), shareable.
class Resolver {
 public:
  // Fails (kInvalidArgument) when the writer schema is invalid or cannot be resolved to the
  // reader's type, with the reader field path and the reason.
  static Result<std::shared_ptr<const Resolver>> make(std::string_view writer_schema_json,
                                                      std::shared_ptr<const Codec> reader);
  const Codec& reader() const;
  // As Codec::decode_into, reading `payload` written with the writer schema; `out` has the
  // reader's type(). All-or-nothing; errors (kCorruption) name the byte offset and field.
  Status decode_into(std::string_view payload, Batch& out) const;
  // As Codec::decode_batch, reading payloads written with the writer schema.
  Status decode_batch(std::span<const std::string_view> payloads, Batch& out,
                      std::vector<DecodeError>& errors) const;

  ~Resolver();
  struct Impl;

 private:
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Pulsar's schema envelope used by the original project's conf/pulsar-schema/*.json:
// {"type":"AVRO","schema":"<schema json as a string>","properties":{}}. Returns the inner schema.
Result<std::string> schema_from_pulsar_envelope(std::string_view envelope_json);

}  // namespace tideline::avro
