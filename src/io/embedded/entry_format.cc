// Entry body framing; see entry_format.h and docs/formats/embedded_log.md.
#include "io/embedded/entry_format.h"

#include <fmt/format.h>

#include <cstring>

namespace tideline::embedded {

namespace {

void put_u32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void put_u64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}

uint32_t load_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

uint64_t load_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

// A bounds-checked cursor over bytes.
struct Cursor {
  std::string_view in;
  size_t at = 0;
  bool u32(uint32_t& v) {
    if (in.size() - at < 4) return false;
    v = load_u32(in.data() + at);
    at += 4;
    return true;
  }
  bool u64(uint64_t& v) {
    if (in.size() - at < 8) return false;
    v = load_u64(in.data() + at);
    at += 8;
    return true;
  }
  bool bytes(std::string_view& s) {
    uint32_t n = 0;
    if (!u32(n) || in.size() - at < n) return false;
    s = in.substr(at, n);
    at += n;
    return true;
  }
};

}  // namespace

void begin_entry(std::string& body) {
  body.clear();
  put_u32(body, 0);
}

size_t entry_message_size(const io::OutgoingMessage& m) {
  size_t props = 0;
  if (!m.properties.empty()) {
    props = 4;
    for (const auto& [k, v] : m.properties) props += 8 + k.size() + v.size();
  }
  return 8 + 4 + m.key.size() + 4 + m.payload.size() + 4 + props;
}

void append_entry_message(std::string& body, const io::OutgoingMessage& m,
                          std::string& props_scratch) {
  put_u64(body, static_cast<uint64_t>(m.event_time_ms));
  put_u32(body, static_cast<uint32_t>(m.key.size()));
  body += m.key;
  put_u32(body, static_cast<uint32_t>(m.payload.size()));
  body += m.payload;
  if (m.properties.empty()) {
    put_u32(body, 0);
  } else {
    props_scratch.clear();
    encode_properties(m.properties, props_scratch);
    put_u32(body, static_cast<uint32_t>(props_scratch.size()));
    body += props_scratch;
  }
}

void finish_entry(std::string& body, uint32_t count) {
  for (int i = 0; i < 4; ++i)
    body[static_cast<size_t>(i)] = static_cast<char>((count >> (8 * i)) & 0xff);
}

Status EntryReader::validate(int64_t expected_count) {
  Cursor c{body_};
  uint32_t count = 0;
  if (!c.u32(count)) return Status(StatusCode::kCorruption, "entry body: truncated count");
  if (count == 0) return Status(StatusCode::kCorruption, "entry body: no messages");
  if (expected_count >= 0 && count != expected_count) {
    return Status(StatusCode::kCorruption,
                  fmt::format("entry body: {} messages, the row says {}", count, expected_count));
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t time = 0;
    std::string_view key, payload, props;
    if (!c.u64(time) || !c.bytes(key) || !c.bytes(payload) || !c.bytes(props)) {
      return Status(StatusCode::kCorruption,
                    fmt::format("entry body: message {} truncated at byte {}", i, c.at));
    }
    if (!props.empty()) {
      auto decoded = decode_properties(props);
      if (!decoded) {
        return decoded.error().with_context(fmt::format("entry body: message {}", i));
      }
    }
  }
  if (c.at != body_.size()) {
    return Status(StatusCode::kCorruption, fmt::format("entry body: {} bytes after message {}",
                                                       body_.size() - c.at, count - 1));
  }
  count_ = count;
  at_ = 4;
  index_ = 0;
  return {};
}

bool EntryReader::next(EntryMessageView& out) {
  if (index_ >= count_) return false;
  // validate() checked every length, so these reads stay inside the body.
  const char* p = body_.data();
  out.event_time_ms = static_cast<int64_t>(load_u64(p + at_));
  at_ += 8;
  uint32_t n = load_u32(p + at_);
  out.key = body_.substr(at_ + 4, n);
  at_ += 4 + n;
  n = load_u32(p + at_);
  out.payload = body_.substr(at_ + 4, n);
  at_ += 4 + n;
  n = load_u32(p + at_);
  out.properties = body_.substr(at_ + 4, n);
  at_ += 4 + n;
  ++index_;
  return true;
}

void encode_properties(const io::Properties& props, std::string& out) {
  put_u32(out, static_cast<uint32_t>(props.size()));
  for (const auto& [k, v] : props) {
    put_u32(out, static_cast<uint32_t>(k.size()));
    out += k;
    put_u32(out, static_cast<uint32_t>(v.size()));
    out += v;
  }
}

Result<io::Properties> decode_properties(std::string_view in) {
  Cursor c{in};
  uint32_t count = 0;
  if (!c.u32(count)) return error(StatusCode::kCorruption, "message properties: truncated");
  if (count == 0) return error(StatusCode::kCorruption, "message properties: empty list");
  // Each pair takes at least 8 bytes: reject impossible counts before reserving.
  if (count > (in.size() - c.at) / 8) {
    return error(
        StatusCode::kCorruption,
        fmt::format("message properties: {} pairs cannot fit in {} bytes", count, in.size()));
  }
  io::Properties out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view k, v;
    if (!c.bytes(k) || !c.bytes(v))
      return error(StatusCode::kCorruption,
                   fmt::format("message properties: truncated at byte {}", c.at));
    out.emplace_back(std::string(k), std::string(v));
  }
  if (c.at != in.size())
    return error(StatusCode::kCorruption,
                 fmt::format("message properties: {} bytes after the last pair", in.size() - c.at));
  return out;
}

}  // namespace tideline::embedded
