#pragma once
// Batch entries of the embedded topic log: the framing of `messages.body` and of message
// properties (docs/formats/embedded_log.md, "Entry body framing"). Pure functions over
// bytes; no SQLite. Decoding is bounds-checked and never reads outside its input: malformed
// bytes are a kCorruption error saying what and where (the caller adds topic, partition and
// entry).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "io/topic.h"

namespace tideline::embedded {

// Appends one message to an entry body under construction. `body` must start with the
// 4-byte count that begin_entry() wrote; finish_entry() fills it in.
void begin_entry(std::string& body);
void append_entry_message(std::string& body, const io::OutgoingMessage& m,
                          std::string& props_scratch);
void finish_entry(std::string& body, uint32_t count);
// Encoded size of `m` inside a body (to decide where an entry ends).
size_t entry_message_size(const io::OutgoingMessage& m);

// One message of an entry, as views into the body.
struct EntryMessageView {
  int64_t event_time_ms = 0;
  std::string_view key;
  std::string_view payload;
  std::string_view properties;  // encoded; empty = none
};

// Reads an entry body message by message. validate() walks the whole body once (count,
// every length, properties, no trailing bytes); next() then yields the messages in order.
class EntryReader {
 public:
  explicit EntryReader(std::string_view body) : body_(body) {}
  // Checks the whole body; `expected_count` < 0 skips the count comparison.
  Status validate(int64_t expected_count);
  uint32_t count() const { return count_; }
  // The next message; false when all were read. Only after a successful validate().
  bool next(EntryMessageView& out);
  // Position of the next message (bytes from the body's start), for resume().
  size_t offset() const { return at_; }
  uint32_t index() const { return index_; }
  // Continues reading a body validated earlier (a copy of it) at `offset`, message `index`.
  void resume(uint32_t count, size_t offset, uint32_t index) {
    count_ = count;
    at_ = offset;
    index_ = index;
  }

 private:
  std::string_view body_;
  size_t at_ = 0;
  uint32_t count_ = 0;
  uint32_t index_ = 0;
};

// Message properties: u32 count (>= 1), then per pair u32 length + key, u32 length + value.
void encode_properties(const io::Properties& props, std::string& out);
Result<io::Properties> decode_properties(std::string_view in);

}  // namespace tideline::embedded
