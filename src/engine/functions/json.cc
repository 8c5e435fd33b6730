// Kernel of json() (catalog: fenl/functions_json.cc) and field access on json values.
#include <charconv>
#include <string>
#include <string_view>

#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

// Minimal JSON scanner: finds top-level field `name` of an object and renders its value
// (strings unquoted). Returns false when not found or the text is not a JSON object.
struct JsonScan {
  std::string_view s;
  size_t p = 0;
  void ws() {
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
  }
  bool string(std::string* out) {
    if (p >= s.size() || s[p] != '"') return false;
    ++p;
    while (p < s.size() && s[p] != '"') {
      if (s[p] == '\\') {
        if (p + 1 >= s.size()) return false;
        char e = s[p + 1];
        if (out) {
          switch (e) {
            case 'n':
              *out += '\n';
              break;
            case 't':
              *out += '\t';
              break;
            case 'r':
              *out += '\r';
              break;
            case 'b':
              *out += '\b';
              break;
            case 'f':
              *out += '\f';
              break;
            default:
              *out += e;
          }
        }
        p += 2;
        continue;
      }
      if (out) *out += s[p];
      ++p;
    }
    if (p >= s.size()) return false;
    ++p;
    return true;
  }
  bool value(int depth = 0) {
    if (depth > 64) return false;
    ws();
    if (p >= s.size()) return false;
    char c = s[p];
    if (c == '"') return string(nullptr);
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++p;
      ws();
      if (p < s.size() && s[p] == close) {
        ++p;
        return true;
      }
      for (;;) {
        ws();
        if (c == '{') {
          if (!string(nullptr)) return false;
          ws();
          if (p >= s.size() || s[p] != ':') return false;
          ++p;
        }
        if (!value(depth + 1)) return false;
        ws();
        if (p < s.size() && s[p] == ',') {
          ++p;
          continue;
        }
        if (p < s.size() && s[p] == close) {
          ++p;
          return true;
        }
        return false;
      }
    }
    size_t b = p;
    while (p < s.size() && s[p] != ',' && s[p] != '}' && s[p] != ']' && s[p] != ' ' && s[p] != '\n')
      ++p;
    std::string_view tok = s.substr(b, p - b);
    if (tok == "true" || tok == "false" || tok == "null") return true;
    if (tok.empty()) return false;
    double d;
    auto r = std::from_chars(tok.data(), tok.data() + tok.size(), d);
    return r.ec == std::errc() && r.ptr == tok.data() + tok.size();
  }
  bool field(std::string_view name, std::string* out, bool* is_null) {
    ws();
    if (p >= s.size() || s[p] != '{') return false;
    ++p;
    ws();
    if (p < s.size() && s[p] == '}') return false;
    bool found = false;
    for (;;) {
      ws();
      std::string key;
      if (!string(&key)) return false;
      ws();
      if (p >= s.size() || s[p] != ':') return false;
      ++p;
      ws();
      size_t b = p;
      if (!value()) return false;
      if (key == name && !found) {
        found = true;
        std::string_view raw = s.substr(b, p - b);
        if (!raw.empty() && raw[0] == '"') {
          out->clear();
          size_t save = p;
          p = b;
          string(out);
          p = save;
        } else {
          *out = std::string(raw);
          *is_null = raw == "null";
        }
      }
      ws();
      if (p < s.size() && s[p] == ',') {
        ++p;
        continue;
      }
      if (p < s.size() && s[p] == '}') {
        ++p;
        ws();
        return found && p == s.size();
      }
      return false;
    }
  }
};

Result<Column> json_kernel(const ColumnList& args, const Types&, const Type&) {
  Column out = args[0];
  return out;
}

constexpr KernelDef kJson[] = {
    {"json", json_kernel},
};

}  // namespace

std::span<const KernelDef> json_kernels() {
  return kJson;
}

// Exposed for field access on json values.
Column json_field(const Column& c, std::string_view name);
Column json_field(const Column& c, std::string_view name) {
  Column out(DataType::of(TypeId::kString));
  for (int64_t i = 0; i < c.size(); ++i) {
    if (!c.is_valid(i)) {
      out.append_null();
      continue;
    }
    JsonScan js{c.string_at(i)};
    std::string v;
    bool is_null = false;
    if (js.field(name, &v, &is_null) && !is_null)
      out.append_string(v);
    else
      out.append_null();
  }
  return out;
}

}  // namespace tideline::engine
