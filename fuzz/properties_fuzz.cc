// libFuzzer target for the .properties parser: any input parses or fails with a ParseError,
// and re-parsing an escaped rendering of the result gives the same entries.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/properties.h"

namespace {

// Renders a key or value so that Properties::parse reads it back unchanged.
std::string escape(const std::string& s, bool key) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\f':
        out += "\\f";
        break;
      case '=':
      case ':':
      case '#':
      case '!':
        out += '\\';
        out += c;
        break;
      case ' ':
        // Spaces separate keys and leading spaces of values are skipped: escape those.
        if (key || i == 0)
          out += "\\ ";
        else
          out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto p = tideline::Properties::parse(text, "fuzz.properties");
  (void)tideline::parse_loose_bool(text);
  if (!p) {
    if (p.error().code() != tideline::StatusCode::kParseError) std::abort();
    return 0;
  }
  std::string rendered;
  for (const auto& k : p->keys()) {
    rendered += escape(k, true) + "=" + escape(*p->get(k), false) + "\n";
  }
  auto q = tideline::Properties::parse(rendered, "rendered");
  if (!q || q->keys() != p->keys()) std::abort();
  for (const auto& k : p->keys()) {
    if (q->get(k) != p->get(k)) std::abort();
  }
  return 0;
}
