#pragma once
// Java .properties files (java.util.Properties.load semantics): `#`/`!` comment lines,
// `=`, `:` or whitespace separators, backslash escapes (\t \n \r \f \uXXXX, others literal),
// line continuations with a trailing odd number of backslashes, leading whitespace of
// continuation lines dropped. Later duplicates win. Used for main-cfg.properties and
// Pulsar's client.conf.
// Details: lines end at \n, \r or \r\n; a comment line never continues; a backslash
// continuing the last line is dropped. Bytes are passed through unchanged (UTF-8 in, UTF-8
// out, like Properties.load(Reader)); \uXXXX becomes UTF-8, surrogate pairs are combined and
// a lone surrogate becomes U+FFFD. A malformed \uXXXX is a kParseError "source:line: ...".
// A key without a separator has the value "".

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tideline {

class Properties {
 public:
  struct Entry {
    std::string value;
    int line = 0;  // 1-based line where the key started
  };

  static Result<Properties> parse(std::string_view text, std::string source_name = "<string>");
  static Result<Properties> load_file(const std::string& path);

  std::optional<std::string> get(std::string_view key) const;
  std::string get_or(std::string_view key, std::string_view fallback) const;
  bool contains(std::string_view key) const { return entries_.count(std::string(key)) != 0; }
  // Keys in sorted order.
  std::vector<std::string> keys() const;
  const Entry* entry(std::string_view key) const;
  const std::string& source() const { return source_; }
  void set(std::string key, std::string value) { entries_[std::move(key)] = {std::move(value), 0}; }

 private:
  std::string source_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// Java-style boolean used by the original CLIs: yes/true/t/1 (any case, surrounding whitespace
// ignored) are true, the rest false.
bool parse_loose_bool(std::string_view s);

}  // namespace tideline
