#include "common/properties.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tideline {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\f';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A logical line: natural lines joined at odd trailing backslashes.
struct LogicalLine {
  std::string text;
  int line = 0;
};

// Splits `text` into logical lines, dropping blank and comment lines.
std::vector<LogicalLine> logical_lines(std::string_view text) {
  std::vector<LogicalLine> out;
  size_t p = 0;
  int line = 0;
  bool continuing = false;
  LogicalLine cur;
  while (p < text.size()) {
    size_t e = p;
    while (e < text.size() && text[e] != '\n' && text[e] != '\r') ++e;
    std::string_view nat = text.substr(p, e - p);
    ++line;
    // Advance past the terminator (\n, \r or \r\n).
    p = e;
    if (p < text.size()) {
      p += (text[p] == '\r' && p + 1 < text.size() && text[p + 1] == '\n') ? 2 : 1;
    }
    size_t ws = 0;
    while (ws < nat.size() && is_space(nat[ws])) ++ws;
    nat.remove_prefix(ws);
    if (!continuing) {
      if (nat.empty() || nat[0] == '#' || nat[0] == '!') continue;  // blank or comment
      cur = LogicalLine{std::string(), line};
    }
    size_t backslashes = 0;
    while (backslashes < nat.size() && nat[nat.size() - 1 - backslashes] == '\\') ++backslashes;
    continuing = (backslashes % 2) == 1;
    if (continuing) nat.remove_suffix(1);
    cur.text.append(nat);
    if (!continuing) out.push_back(std::move(cur));
  }
  // A continuation backslash on the last line just ends it.
  if (continuing) out.push_back(std::move(cur));
  return out;
}

// Unescapes text[b, e) into `out`. Returns false with `why` on a malformed \uXXXX.
bool unescape(std::string_view s, std::string& out, std::string& why) {
  uint32_t pending_high = 0;  // a UTF-16 high surrogate waiting for its low half
  auto flush_high = [&] {
    if (pending_high) append_utf8(out, 0xFFFD);
    pending_high = 0;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\' || i + 1 == s.size()) {
      // A lone trailing backslash cannot occur (it would have continued the line) except
      // after an even run, where it is escaped; keep it literal for safety.
      flush_high();
      out += c;
      continue;
    }
    char n = s[++i];
    if (n == 'u') {
      uint32_t v = 0;
      for (int k = 1; k <= 4; ++k) {
        int h =
            i + static_cast<size_t>(k) < s.size() ? hex_value(s[i + static_cast<size_t>(k)]) : -1;
        if (h < 0) {
          why = fmt::format("malformed \\uXXXX escape '{}'",
                            s.substr(i - 1, std::min<size_t>(6, s.size() - i + 1)));
          return false;
        }
        v = v * 16 + static_cast<uint32_t>(h);
      }
      i += 4;
      if (v >= 0xD800 && v <= 0xDBFF) {
        flush_high();
        pending_high = v;
      } else if (v >= 0xDC00 && v <= 0xDFFF) {
        if (pending_high) {
          append_utf8(out, 0x10000 + ((pending_high - 0xD800) << 10) + (v - 0xDC00));
          pending_high = 0;
        } else {
          append_utf8(out, 0xFFFD);
        }
      } else {
        flush_high();
        append_utf8(out, v);
      }
      continue;
    }
    flush_high();
    switch (n) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'f':
        out += '\f';
        break;
      default:
        out += n;
        break;  // \\ \= \: \# \! \space and any other char stand for themselves
    }
  }
  flush_high();
  return true;
}

}  // namespace

Result<Properties> Properties::parse(std::string_view text, std::string source_name) {
  Properties props;
  props.source_ = std::move(source_name);
  std::string why;
  for (LogicalLine& ll : logical_lines(text)) {
    std::string_view s = ll.text;
    // The key ends at the first unescaped '=', ':' or whitespace.
    size_t k = 0;
    while (k < s.size()) {
      char c = s[k];
      if (c == '\\') {
        k += 2;
        continue;
      }
      if (c == '=' || c == ':' || is_space(c)) break;
      ++k;
    }
    if (k > s.size()) k = s.size();
    size_t v = k;
    while (v < s.size() && is_space(s[v])) ++v;
    if (v < s.size() && (s[v] == '=' || s[v] == ':')) ++v;
    while (v < s.size() && is_space(s[v])) ++v;
    std::string key, value;
    if (!unescape(s.substr(0, k), key, why) || !unescape(s.substr(v), value, why)) {
      return error(StatusCode::kParseError, fmt::format("{}:{}: {}", props.source_, ll.line, why));
    }
    props.entries_[std::move(key)] = Entry{std::move(value), ll.line};
  }
  return props;
}

Result<Properties> Properties::load_file(const std::string& path) {
  auto fail = [&](int err) {
    return error(StatusCode::kIoError,
                 fmt::format("cannot read properties file '{}': {}", path, std::strerror(err)));
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail(errno);
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0) return fail(err);
  return parse(text, path);
}

std::optional<std::string> Properties::get(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.value;
}

std::string Properties::get_or(std::string_view key, std::string_view fallback) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? std::string(fallback) : it->second.value;
}

std::vector<std::string> Properties::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [k, _] : entries_) out.push_back(k);
  return out;
}

const Properties::Entry* Properties::entry(std::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

bool parse_loose_bool(std::string_view s) {
  while (!s.empty() && (is_space(s.front()) || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  auto eq = [&](std::string_view w) {
    if (s.size() != w.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != w[i]) return false;
    }
    return true;
  };
  return eq("yes") || eq("true") || eq("t") || eq("1");
}

}  // namespace tideline
