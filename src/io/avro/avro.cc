// Avro binary datum codec. See docs/formats/avro.md for the supported subset and errors.
//
// make() parses the JSON schema into a Node tree (the general Avro type graph, named types
// copied in at each reference), then maps it onto a Plan tree that mirrors the column layout:
// each Plan node owns one slot of the per-thread scratch array used while decoding.

#include "io/avro/avro.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "common/time.h"

namespace tideline::avro {

static_assert(std::endian::native == std::endian::little, "the codec assumes a little-endian host");

namespace {

using Json = nlohmann::ordered_json;

enum class Kind : uint8_t {
  kNull,
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kBytes,
  kString,
  kRecord,
  kEnum,
  kFixed,
  kArray,
  kMap,
  kUnion,
};

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::kNull:
      return "null";
    case Kind::kBoolean:
      return "boolean";
    case Kind::kInt:
      return "int";
    case Kind::kLong:
      return "long";
    case Kind::kFloat:
      return "float";
    case Kind::kDouble:
      return "double";
    case Kind::kBytes:
      return "bytes";
    case Kind::kString:
      return "string";
    case Kind::kRecord:
      return "record";
    case Kind::kEnum:
      return "enum";
    case Kind::kFixed:
      return "fixed";
    case Kind::kArray:
      return "array";
    case Kind::kMap:
      return "map";
    case Kind::kUnion:
      return "union";
  }
  return "?";
}

// The parsed schema, before the column mapping.
struct Node {
  Kind kind = Kind::kNull;
  int64_t ts_scale = 0;        // long with a timestamp logical type: nanoseconds per unit
  std::string full_name;       // named types
  std::string path;            // JSON path of the definition (for mapping errors)
  std::vector<Node> children;  // record fields, union branches, array items, map values
  std::vector<std::string> field_names;
  // Record fields' "default" (JSON), used when this schema is a reader schema in resolution.
  std::vector<std::optional<Json>> field_defaults;
  std::vector<std::string> symbols;
  std::optional<std::string> enum_default;  // an enum's "default" symbol
  int64_t fixed_size = 0;
};

}  // namespace

// The decoding/encoding plan: one node per column (records have children).
struct Plan {
  Kind kind = Kind::kNull;
  bool is_union = false;    // a branch index precedes the value on the wire
  int8_t null_branch = -1;  // index of the "null" branch, or -1
  int8_t value_branch = 0;  // index of the value branch
  int64_t ts_scale = 0;
  int64_t fixed_size = 0;
  uint32_t slot = 0;
  std::string field_path;  // dotted, for errors
  std::vector<std::string> symbols;
  std::vector<Plan> children;
  TypePtr type;
};

struct Codec::Impl {
  Node node;  // the parsed schema (field defaults, symbols) for schema resolution
  Plan root;
  uint32_t num_slots = 0;
  TypePtr type;
  std::string schema_json;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Schema parsing

bool valid_name_segment(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(s[0])) return false;
  for (char c : s) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_full_name(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    if (!valid_name_segment(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool primitive_kind(std::string_view s, Kind& k) {
  static const std::pair<std::string_view, Kind> kPrims[] = {
      {"null", Kind::kNull},   {"boolean", Kind::kBoolean}, {"int", Kind::kInt},
      {"long", Kind::kLong},   {"float", Kind::kFloat},     {"double", Kind::kDouble},
      {"bytes", Kind::kBytes}, {"string", Kind::kString}};
  for (const auto& [n, kind] : kPrims) {
    if (s == n) {
      k = kind;
      return true;
    }
  }
  return false;
}

class SchemaParser {
 public:
  Result<Node> parse(const Json& j, const std::string& path, const std::string& ns) {
    // Bounds the recursion (and the decoder's, which follows the same nesting).
    if (++depth_ > kMaxDepth)
      return fail(path, fmt::format("nested deeper than {} levels", kMaxDepth));
    auto r = parse_any(j, path, ns);
    --depth_;
    return r;
  }

 private:
  static constexpr int kMaxDepth = 64;

  Result<Node> parse_any(const Json& j, const std::string& path, const std::string& ns) {
    if (j.is_string()) return parse_name(j.get_ref<const std::string&>(), path, ns);
    if (j.is_array()) return parse_union(j, path, ns);
    if (j.is_object()) return parse_object(j, path, ns);
    return fail(
        path, fmt::format("expected a type name, object or union array, found {}", j.type_name()));
  }

  static std::unexpected<Status> fail(const std::string& path, std::string why) {
    return error(StatusCode::kInvalidArgument, fmt::format("schema {}: {}", path, why));
  }

  Result<Node> parse_name(const std::string& name, const std::string& path, const std::string& ns) {
    Node n;
    n.path = path;
    if (primitive_kind(name, n.kind)) return n;
    std::vector<std::string> candidates;
    if (name.find('.') == std::string::npos && !ns.empty()) candidates.push_back(ns + "." + name);
    candidates.push_back(name);
    for (const auto& c : candidates) {
      if (in_progress_.count(c)) {
        return fail(path, fmt::format("recursive reference to '{}' is not supported", c));
      }
      auto it = named_.find(c);
      if (it != named_.end()) return it->second;
    }
    return fail(path, fmt::format("unknown type '{}'", name));
  }

  Result<Node> parse_union(const Json& j, const std::string& path, const std::string& ns) {
    if (j.empty()) return fail(path, "empty union");
    Node n;
    n.kind = Kind::kUnion;
    n.path = path;
    std::set<std::string> seen;
    for (size_t i = 0; i < j.size(); ++i) {
      std::string bp = fmt::format("{}[{}]", path, i);
      if (j[i].is_array()) return fail(bp, "a union may not directly contain a union");
      TL_ASSIGN_OR_RETURN(Node b, parse(j[i], bp, ns));
      std::string key = b.full_name.empty() ? std::string(kind_name(b.kind)) : b.full_name;
      if (!seen.insert(key).second)
        return fail(bp, fmt::format("duplicate union branch '{}'", key));
      n.children.push_back(std::move(b));
    }
    return n;
  }

  // Resolves a named type's full name and the namespace its contents inherit.
  Result<std::pair<std::string, std::string>> full_name(const Json& j, const std::string& path,
                                                        const std::string& ns) {
    auto name_it = j.find("name");
    if (name_it == j.end() || !name_it->is_string()) {
      return fail(path, "a named type needs a string 'name'");
    }
    const std::string& name = name_it->get_ref<const std::string&>();
    std::string space = ns;
    auto ns_it = j.find("namespace");
    if (ns_it != j.end()) {
      if (ns_it->is_null()) {
        space.clear();
      } else if (!ns_it->is_string()) {
        return fail(path + ".namespace", "must be a string");
      } else {
        space = ns_it->get<std::string>();
        if (!space.empty() && !valid_full_name(space)) {
          return fail(path + ".namespace", fmt::format("invalid namespace '{}'", space));
        }
      }
    }
    std::string full;
    size_t dot = name.rfind('.');
    if (dot != std::string::npos) {
      full = name;
      space = name.substr(0, dot);
    } else {
      full = space.empty() ? name : space + "." + name;
    }
    if (!valid_full_name(full)) return fail(path + ".name", fmt::format("invalid name '{}'", name));
    Kind ignored;
    if (primitive_kind(name, ignored)) {
      return fail(path + ".name", fmt::format("'{}' is a primitive type name", name));
    }
    if (named_.count(full) || in_progress_.count(full)) {
      return fail(path + ".name", fmt::format("redefinition of '{}'", full));
    }
    return std::pair{full, space};
  }

  Result<Node> parse_object(const Json& j, const std::string& path, const std::string& ns) {
    auto t_it = j.find("type");
    if (t_it == j.end()) return fail(path, "missing 'type'");
    const Json& t = *t_it;
    Node n;
    n.path = path;
    if (!t.is_string()) {
      // A nested type object/array in "type" (lenient).
      TL_ASSIGN_OR_RETURN(n, parse(t, path + ".type", ns));
    } else {
      const std::string& tn = t.get_ref<const std::string&>();
      if (tn == "record" || tn == "error") {
        TL_ASSIGN_OR_RETURN(n, parse_record(j, path, ns));
      } else if (tn == "enum") {
        TL_ASSIGN_OR_RETURN(n, parse_enum(j, path, ns));
      } else if (tn == "fixed") {
        TL_ASSIGN_OR_RETURN(n, parse_fixed(j, path, ns));
      } else if (tn == "array" || tn == "map") {
        const char* attr = tn == "array" ? "items" : "values";
        auto it = j.find(attr);
        if (it == j.end()) return fail(path, fmt::format("{} needs '{}'", tn, attr));
        n.kind = tn == "array" ? Kind::kArray : Kind::kMap;
        TL_ASSIGN_OR_RETURN(Node child, parse(*it, path + "." + attr, ns));
        n.children.push_back(std::move(child));
      } else {
        TL_ASSIGN_OR_RETURN(n, parse_name(tn, path + ".type", ns));
        n.path = path;
      }
    }
    auto lt = j.find("logicalType");
    if (lt != j.end() && lt->is_string()) {
      const std::string& l = lt->get_ref<const std::string&>();
      int64_t scale = 0;
      if (l == "timestamp-millis" || l == "local-timestamp-millis") scale = kNanosPerMilli;
      if (l == "timestamp-micros" || l == "local-timestamp-micros") scale = kNanosPerMicro;
      if (l == "timestamp-nanos" || l == "local-timestamp-nanos") scale = 1;
      if (scale != 0) {
        if (n.kind != Kind::kLong) {
          return fail(path + ".logicalType",
                      fmt::format("'{}' requires type long, not {}", l, kind_name(n.kind)));
        }
        n.ts_scale = scale;
      }
      // Other logical types are ignored: the underlying type is used.
    }
    return n;
  }

  Result<Node> parse_record(const Json& j, const std::string& path, const std::string& ns) {
    TL_ASSIGN_OR_RETURN(auto names, full_name(j, path, ns));
    auto& [full, space] = names;
    auto f_it = j.find("fields");
    if (f_it == j.end() || !f_it->is_array()) return fail(path, "a record needs a 'fields' array");
    Node n;
    n.kind = Kind::kRecord;
    n.full_name = full;
    n.path = path;
    in_progress_.insert(full);
    std::set<std::string> field_set;
    for (size_t i = 0; i < f_it->size(); ++i) {
      const Json& f = (*f_it)[i];
      std::string fp = fmt::format("{}.fields[{}]", path, i);
      if (!f.is_object()) return fail(fp, "a field must be an object");
      auto fn = f.find("name");
      if (fn == f.end() || !fn->is_string()) return fail(fp, "a field needs a string 'name'");
      const std::string& fname = fn->get_ref<const std::string&>();
      if (!valid_name_segment(fname))
        return fail(fp + ".name", fmt::format("invalid field name '{}'", fname));
      if (!field_set.insert(fname).second) {
        return fail(fp + ".name", fmt::format("duplicate field name '{}'", fname));
      }
      auto ft = f.find("type");
      if (ft == f.end()) return fail(fp, "a field needs a 'type'");
      TL_ASSIGN_OR_RETURN(Node child, parse(*ft, fp + ".type", space));
      n.field_names.push_back(fname);
      auto fd = f.find("default");
      n.field_defaults.push_back(fd == f.end() ? std::nullopt : std::optional<Json>(*fd));
      n.children.push_back(std::move(child));
    }
    in_progress_.erase(full);
    named_[full] = n;
    return n;
  }

  Result<Node> parse_enum(const Json& j, const std::string& path, const std::string& ns) {
    TL_ASSIGN_OR_RETURN(auto names, full_name(j, path, ns));
    auto s_it = j.find("symbols");
    if (s_it == j.end() || !s_it->is_array()) return fail(path, "an enum needs a 'symbols' array");
    Node n;
    n.kind = Kind::kEnum;
    n.full_name = names.first;
    n.path = path;
    std::set<std::string> seen;
    for (size_t i = 0; i < s_it->size(); ++i) {
      const Json& s = (*s_it)[i];
      std::string sp = fmt::format("{}.symbols[{}]", path, i);
      if (!s.is_string() || !valid_name_segment(s.get_ref<const std::string&>())) {
        return fail(sp, "invalid enum symbol");
      }
      if (!seen.insert(s.get<std::string>()).second) {
        return fail(sp, fmt::format("duplicate enum symbol '{}'", s.get<std::string>()));
      }
      n.symbols.push_back(s.get<std::string>());
    }
    if (n.symbols.empty()) return fail(path, "an enum needs at least one symbol");
    if (auto d = j.find("default"); d != j.end() && d->is_string()) {
      n.enum_default = d->get<std::string>();
    }
    named_[n.full_name] = n;
    return n;
  }

  Result<Node> parse_fixed(const Json& j, const std::string& path, const std::string& ns) {
    TL_ASSIGN_OR_RETURN(auto names, full_name(j, path, ns));
    auto s_it = j.find("size");
    if (s_it == j.end() || !s_it->is_number_integer() || s_it->get<int64_t>() < 0 ||
        s_it->get<int64_t>() > (int64_t{1} << 30)) {
      return fail(path, "a fixed needs a non-negative integer 'size'");
    }
    Node n;
    n.kind = Kind::kFixed;
    n.full_name = names.first;
    n.path = path;
    n.fixed_size = s_it->get<int64_t>();
    named_[n.full_name] = n;
    return n;
  }

  std::map<std::string, Node> named_;
  std::set<std::string> in_progress_;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Column mapping

Status map_plan(const Node& n, const std::string& field_path, Plan& out, uint32_t& slots) {
  auto fail = [&](std::string why) {
    return invalid_argument(fmt::format("schema {}: {}", n.path, why));
  };
  out.field_path = field_path;
  if (n.kind == Kind::kUnion) {
    const Node* value = nullptr;
    if (n.children.size() == 1) {
      value = &n.children[0];
      out.value_branch = 0;
    } else if (n.children.size() == 2 &&
               (n.children[0].kind == Kind::kNull || n.children[1].kind == Kind::kNull)) {
      int8_t ni = n.children[0].kind == Kind::kNull ? 0 : 1;
      out.null_branch = ni;
      out.value_branch = static_cast<int8_t>(1 - ni);
      value = &n.children[static_cast<size_t>(1 - ni)];
    } else {
      return fail("unions other than [\"null\", T], [T, \"null\"] and [T] have no column mapping");
    }
    bool is_union = true;
    int8_t nb = out.null_branch, vb = out.value_branch;
    TL_RETURN_STATUS_IF_ERROR(map_plan(*value, field_path, out, slots));
    out.is_union = is_union;
    out.null_branch = nb;
    out.value_branch = vb;
    return {};
  }
  out.kind = n.kind;
  out.ts_scale = n.ts_scale;
  out.slot = slots++;
  switch (n.kind) {
    case Kind::kNull:
      out.type = DataType::of(TypeId::kNull);
      break;
    case Kind::kBoolean:
      out.type = DataType::of(TypeId::kBool);
      break;
    case Kind::kInt:
      out.type = DataType::of(TypeId::kI32);
      break;
    case Kind::kLong:
      out.type = DataType::of(n.ts_scale ? TypeId::kTimestamp : TypeId::kI64);
      break;
    case Kind::kFloat:
      out.type = DataType::of(TypeId::kF32);
      break;
    case Kind::kDouble:
      out.type = DataType::of(TypeId::kF64);
      break;
    case Kind::kBytes:
    case Kind::kString:
      out.type = DataType::of(TypeId::kString);
      break;
    case Kind::kEnum:
      out.symbols = n.symbols;
      out.type = DataType::of(TypeId::kString);
      break;
    case Kind::kFixed:
      out.fixed_size = n.fixed_size;
      out.type = DataType::of(TypeId::kString);
      break;
    case Kind::kRecord: {
      std::vector<Field> fields;
      out.children.resize(n.children.size());
      for (size_t i = 0; i < n.children.size(); ++i) {
        std::string fp =
            field_path.empty() ? n.field_names[i] : field_path + "." + n.field_names[i];
        TL_RETURN_STATUS_IF_ERROR(map_plan(n.children[i], fp, out.children[i], slots));
        fields.push_back({n.field_names[i], out.children[i].type});
      }
      out.type = DataType::record(std::move(fields));
      break;
    }
    case Kind::kArray:
    case Kind::kMap:
      return fail(fmt::format("{}s have no column mapping yet", kind_name(n.kind)));
    case Kind::kUnion:
      break;  // handled above
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Decoding

struct Slot {
  int64_t i;
  double d;
  const char* p;
  uint32_t n;
  bool valid;
};

class Decoder {
 public:
  Decoder(std::string_view payload, Slot* slots)
      : b_(reinterpret_cast<const uint8_t*>(payload.data())),
        p_(b_),
        e_(b_ + payload.size()),
        slots_(slots) {}

  bool record_fields(const Plan& rec) {
    for (const Plan& c : rec.children) {
      if (!value(c)) return false;
    }
    return true;
  }

  size_t offset() const { return static_cast<size_t>(p_ - b_); }
  size_t remaining() const { return static_cast<size_t>(e_ - p_); }

  Status error_status() const {
    if (err_path_ == nullptr) return corruption(fmt::format("offset {}: {}", err_at_, err_));
    return corruption(fmt::format("offset {}, field '{}': {}", err_at_, *err_path_, err_));
  }

  bool fail_at(size_t at, std::string why) {
    err_at_ = at;
    err_ = std::move(why);
    return false;
  }

  // The primitives below take the dotted field path errors name (a Plan's field_path).
  bool fail(const std::string& path, size_t at, std::string why) {
    err_path_ = &path;
    return fail_at(at, std::move(why));
  }

  bool read_long(const std::string& pl, int64_t& out) {
    size_t at = offset();
    uint64_t v = 0;
    for (int k = 0, shift = 0; k < 10; ++k, shift += 7) {
      if (p_ == e_) return fail(pl, at, "truncated varint");
      uint8_t byte = *p_++;
      if (k == 9 && byte > 1) return fail(pl, at, "varint overflows 64 bits");
      v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        out = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
        return true;
      }
    }
    return fail(pl, at, "varint overflows 64 bits");
  }

  bool read_int(const std::string& pl, int64_t& out) {
    size_t at = offset();
    if (p_ != e_ && (*p_ & 0x80) == 0) {  // the common one-byte case
      uint32_t v = *p_++;
      out = static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
      return true;
    }
    uint32_t v = 0;
    for (int k = 0, shift = 0; k < 5; ++k, shift += 7) {
      if (p_ == e_) return fail(pl, at, "truncated varint");
      uint8_t byte = *p_++;
      if (k == 4 && byte > 0x0F) return fail(pl, at, "varint overflows 32 bits");
      v |= static_cast<uint32_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        out = static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
        return true;
      }
    }
    return fail(pl, at, "varint overflows 32 bits");
  }

  bool read_bytes(const std::string& pl, Slot& s) {
    size_t at = offset();
    int64_t len = 0;
    if (!read_long(pl, len)) return false;
    if (len < 0) return fail(pl, at, fmt::format("negative length {}", len));
    if (static_cast<uint64_t>(len) > remaining()) {
      return fail(pl, at,
                  fmt::format("length {} exceeds the {} remaining bytes", len, remaining()));
    }
    if (len > std::numeric_limits<uint32_t>::max()) return fail(pl, at, "length too large");
    s.p = reinterpret_cast<const char*>(p_);
    s.n = static_cast<uint32_t>(len);
    p_ += len;
    return true;
  }

  // Marks every slot of a (nullable) subtree null.
  void null_subtree(const Plan& pl) {
    slots_[pl.slot].valid = false;
    for (const Plan& c : pl.children) null_subtree(c);
  }

  Slot* slots() { return slots_; }
  const uint8_t* cursor() const { return p_; }
  void advance(size_t n) { p_ += n; }

 private:
  bool value(const Plan& pl) {
    Slot& s = slots_[pl.slot];
    if (pl.is_union) {
      size_t at = offset();
      int64_t branch = 0;
      if (!read_long(pl.field_path, branch)) return false;
      if (branch == pl.null_branch) {
        null_subtree(pl);
        return true;
      }
      if (branch != pl.value_branch) {
        int branches = pl.null_branch >= 0 ? 2 : 1;
        return fail(pl.field_path, at,
                    fmt::format("union branch {} out of range ({} branch{})", branch, branches,
                                branches == 1 ? "" : "es"));
      }
    }
    s.valid = true;
    size_t at = offset();
    switch (pl.kind) {
      case Kind::kNull:
        s.valid = false;
        return true;
      case Kind::kBoolean:
        if (p_ == e_) return fail(pl.field_path, at, "truncated boolean");
        if (*p_ > 1)
          return fail(pl.field_path, at, fmt::format("invalid boolean byte 0x{:02x}", *p_));
        s.i = *p_++;
        return true;
      case Kind::kInt:
        return read_int(pl.field_path, s.i);
      case Kind::kLong:
        if (!read_long(pl.field_path, s.i)) return false;
        if (pl.ts_scale > 1 && __builtin_mul_overflow(s.i, pl.ts_scale, &s.i)) {
          return fail(pl.field_path, at, "timestamp out of range");
        }
        return true;
      case Kind::kFloat: {
        if (remaining() < 4) return fail(pl.field_path, at, "truncated float");
        float f;
        std::memcpy(&f, p_, 4);
        p_ += 4;
        s.d = f;
        return true;
      }
      case Kind::kDouble:
        if (remaining() < 8) return fail(pl.field_path, at, "truncated double");
        std::memcpy(&s.d, p_, 8);
        p_ += 8;
        return true;
      case Kind::kBytes:
      case Kind::kString:
        return read_bytes(pl.field_path, s);
      case Kind::kEnum: {
        int64_t idx = 0;
        if (!read_int(pl.field_path, idx)) return false;
        if (idx < 0 || static_cast<size_t>(idx) >= pl.symbols.size()) {
          return fail(
              pl.field_path, at,
              fmt::format("enum index {} out of range ({} symbols)", idx, pl.symbols.size()));
        }
        const std::string& sym = pl.symbols[static_cast<size_t>(idx)];
        s.p = sym.data();
        s.n = static_cast<uint32_t>(sym.size());
        return true;
      }
      case Kind::kFixed:
        if (remaining() < static_cast<uint64_t>(pl.fixed_size)) {
          return fail(pl.field_path, at, fmt::format("truncated fixed({})", pl.fixed_size));
        }
        s.p = reinterpret_cast<const char*>(p_);
        s.n = static_cast<uint32_t>(pl.fixed_size);
        p_ += pl.fixed_size;
        return true;
      case Kind::kRecord:
        return record_fields(pl);
      case Kind::kArray:
      case Kind::kMap:
      case Kind::kUnion:
        break;
    }
    return fail(pl.field_path, at, "unsupported type");
  }

  const uint8_t* b_;
  const uint8_t* p_;
  const uint8_t* e_;
  Slot* slots_;
  const std::string* err_path_ = nullptr;
  size_t err_at_ = 0;
  std::string err_;
};

void append_plan(const Plan& pl, Column& col, const Slot* slots) {
  const Slot& s = slots[pl.slot];
  if (!s.valid) {
    col.append_null();
    return;
  }
  switch (storage_of(col.type_id())) {
    case Storage::kInts:
      col.append_int(s.i);
      break;
    case Storage::kFloats:
      col.append_float(s.d);
      break;
    case Storage::kString:
      col.append_string(std::string_view(s.p, s.n));
      break;
    case Storage::kChildren:
      for (size_t i = 0; i < pl.children.size(); ++i)
        append_plan(pl.children[i], col.child(i), slots);
      col.append_record_row(true);
      break;
    case Storage::kNone:
      col.append_null();
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Columnar (batch) decoding: a chunk of records is decoded into row-major slots (row k's
// slots at slots + k * stride), then appended to the columns one column at a time.

// Records per chunk: a chunk's slots (kChunkRows * slots * 32 bytes) stay in the L2 cache.
constexpr size_t kChunkRows = 256;

// Marks every slot of `pl`'s subtree null in one row's slots.
void null_slots(const Plan& pl, Slot* row) {
  row[pl.slot].valid = false;
  for (const Plan& c : pl.children) null_slots(c, row);
}

// Sets the validity of rows [old_len, old_len + n) of `col` (whose length is already
// old_len + n) from the slots; materializes the bitmap only when a row is null.
void set_chunk_validity(Column& col, int64_t old_len, const Slot* slots, size_t stride,
                        uint32_t slot, const uint32_t* good, size_t n, bool any_null) {
  auto& bits = col.validity();
  if (!any_null && bits.empty()) return;  // every row valid: no bitmap (see Column)
  const auto first = static_cast<uint64_t>(old_len);
  if (bits.empty()) bits.assign((first + 63) >> 6, ~uint64_t{0});
  bits.resize((first + n + 63) >> 6, ~uint64_t{0});
  for (size_t k = 0; k < n; ++k) {
    const uint64_t i = first + k;
    const uint64_t bit = uint64_t{1} << (i & 63);
    if (slots[good[k] * stride + slot].valid) {
      bits[i >> 6] |= bit;
    } else {
      bits[i >> 6] &= ~bit;
    }
  }
}

// Appends the chunk rows good[0..n) to `col` by plan `pl` (what append_plan does row by row).
void append_chunk(const Plan& pl, Column& col, Slot* slots, size_t stride, const uint32_t* good,
                  size_t n) {
  const int64_t old_len = col.size();
  bool any_null = false;
  switch (storage_of(col.type_id())) {
    case Storage::kInts: {
      auto& v = col.ints();
      const size_t base = v.size();
      v.resize(base + n);
      for (size_t k = 0; k < n; ++k) {
        const Slot& s = slots[good[k] * stride + pl.slot];
        v[base + k] = s.valid ? s.i : 0;
        any_null |= !s.valid;
      }
      break;
    }
    case Storage::kFloats: {
      auto& v = col.floats();
      const size_t base = v.size();
      v.resize(base + n);
      for (size_t k = 0; k < n; ++k) {
        const Slot& s = slots[good[k] * stride + pl.slot];
        v[base + k] = s.valid ? s.d : 0;
        any_null |= !s.valid;
      }
      break;
    }
    case Storage::kString: {
      // No reserve: an exact reserve per chunk would reallocate at every chunk, where
      // appending grows the buffers geometrically.
      auto& chars = col.chars();
      auto& offsets = col.offsets();
      for (size_t k = 0; k < n; ++k) {
        const Slot& s = slots[good[k] * stride + pl.slot];
        if (s.valid) {
          chars.append(s.p, s.n);
        } else {
          any_null = true;
        }
        offsets.push_back(static_cast<uint32_t>(chars.size()));
      }
      break;
    }
    case Storage::kChildren: {
      // A null record's fields are null whatever its slots say (as append_null does).
      for (size_t k = 0; k < n; ++k) {
        Slot* row = slots + good[k] * stride;
        if (!row[pl.slot].valid) {
          any_null = true;
          null_slots(pl, row);
        }
      }
      for (size_t i = 0; i < pl.children.size(); ++i)
        append_chunk(pl.children[i], col.child(i), slots, stride, good, n);
      break;
    }
    case Storage::kNone:
      for (size_t k = 0; k < n; ++k) col.append_null();
      return;
  }
  col.set_size(old_len + static_cast<int64_t>(n));
  set_chunk_validity(col, old_len, slots, stride, pl.slot, good, n, any_null);
}

// Decodes `payloads` chunk by chunk with `one(decoder)` (which reads one record into the
// decoder's slots and returns whether it could) and appends the good rows to `out`.
template <typename DecodeOne>
void decode_chunks(const Plan& root, uint32_t num_slots, std::span<const std::string_view> payloads,
                   Batch& out, std::vector<DecodeError>& errors, DecodeOne&& one) {
  thread_local std::vector<Slot> scratch;
  thread_local std::vector<uint32_t> good;
  const size_t stride = std::max<size_t>(num_slots, 1);
  if (scratch.size() < stride * kChunkRows) scratch.resize(stride * kChunkRows);
  for (size_t from = 0; from < payloads.size(); from += kChunkRows) {
    const size_t n = std::min(kChunkRows, payloads.size() - from);
    good.clear();
    for (size_t k = 0; k < n; ++k) {
      Decoder d(payloads[from + k], scratch.data() + k * stride);
      if (one(d)) {
        good.push_back(static_cast<uint32_t>(k));
      } else {
        errors.push_back({from + k, d.error_status()});
      }
    }
    if (good.empty()) continue;
    for (size_t i = 0; i < root.children.size(); ++i)
      append_chunk(root.children[i], out.columns[i], scratch.data(), stride, good.data(),
                   good.size());
    out.num_rows += static_cast<int64_t>(good.size());
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

void write_long(std::string& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  char buf[10];
  size_t n = 0;
  while (z >= 0x80) {
    buf[n++] = static_cast<char>((z & 0x7F) | 0x80);
    z >>= 7;
  }
  buf[n++] = static_cast<char>(z);
  out.append(buf, n);
}

Status encode_plan(const Plan& pl, const Column& col, int64_t row, std::string& out) {
  bool valid = col.is_valid(row);
  if (pl.is_union) {
    if (!valid) {
      if (pl.null_branch < 0) {
        return invalid_argument(
            fmt::format("field '{}' is null but its schema is not nullable", pl.field_path));
      }
      write_long(out, pl.null_branch);
      return {};
    }
    write_long(out, pl.value_branch);
  } else if (!valid && pl.kind != Kind::kNull) {
    return invalid_argument(
        fmt::format("field '{}' is null but its schema is not nullable", pl.field_path));
  }
  switch (pl.kind) {
    case Kind::kNull:
      return {};
    case Kind::kBoolean:
      out += static_cast<char>(col.int_at(row) != 0 ? 1 : 0);
      return {};
    case Kind::kInt: {
      int64_t v = col.int_at(row);
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
        return invalid_argument(
            fmt::format("field '{}': {} does not fit an Avro int", pl.field_path, v));
      }
      write_long(out, v);
      return {};
    }
    case Kind::kLong: {
      int64_t v = col.int_at(row);
      if (pl.ts_scale > 1) v = floor_div(v, pl.ts_scale);
      write_long(out, v);
      return {};
    }
    case Kind::kFloat: {
      float f = static_cast<float>(col.float_at(row));
      char buf[4];
      std::memcpy(buf, &f, 4);
      out.append(buf, 4);
      return {};
    }
    case Kind::kDouble: {
      double d = col.float_at(row);
      char buf[8];
      std::memcpy(buf, &d, 8);
      out.append(buf, 8);
      return {};
    }
    case Kind::kBytes:
    case Kind::kString: {
      std::string_view s = col.string_at(row);
      write_long(out, static_cast<int64_t>(s.size()));
      out.append(s);
      return {};
    }
    case Kind::kEnum: {
      std::string_view s = col.string_at(row);
      for (size_t i = 0; i < pl.symbols.size(); ++i) {
        if (pl.symbols[i] == s) {
          write_long(out, static_cast<int64_t>(i));
          return {};
        }
      }
      return invalid_argument(
          fmt::format("field '{}': '{}' is not a symbol of the enum", pl.field_path, s));
    }
    case Kind::kFixed: {
      std::string_view s = col.string_at(row);
      if (static_cast<int64_t>(s.size()) != pl.fixed_size) {
        return invalid_argument(fmt::format("field '{}': value of {} bytes for fixed({})",
                                            pl.field_path, s.size(), pl.fixed_size));
      }
      out.append(s);
      return {};
    }
    case Kind::kRecord:
      for (size_t i = 0; i < pl.children.size(); ++i) {
        TL_RETURN_STATUS_IF_ERROR(encode_plan(pl.children[i], col.child(i), row, out));
      }
      return {};
    case Kind::kArray:
    case Kind::kMap:
    case Kind::kUnion:
      break;
  }
  return internal_error("avro encode: unsupported plan node");
}

// ---------------------------------------------------------------------------------------------
// The per-row helpers below are called from every column's row loop; GCC otherwise keeps some
// of them out of line (a call per value).
#define TL_INLINE __attribute__((always_inline))

// Columnar (batch) encoding: pass 1 adds each column's encoded size to every row's size,
// pass 2 writes each column's values at every row's cursor. Fields are visited in schema
// order, so each row's bytes come out in the order encode_plan writes them.

inline TL_INLINE uint32_t long_size(int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  uint32_t n = 1;
  while (z >= 0x80) {
    z >>= 7;
    ++n;
  }
  return n;
}

inline TL_INLINE char* put_long(char* p, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    *p++ = static_cast<char>((z & 0x7F) | 0x80);
    z >>= 7;
  }
  *p++ = static_cast<char>(z);
  return p;
}

int64_t enum_index(const Plan& pl, std::string_view s) {
  for (size_t i = 0; i < pl.symbols.size(); ++i)
    if (pl.symbols[i] == s) return static_cast<int64_t>(i);
  return -1;
}

// Calls f(r) for every live row of `col` that holds a value, after accounting for the union
// branch index / null through `on_branch(r, branch)`. Returns false when a null meets a
// non-nullable field (encode_plan's error).
template <typename Branch, typename F>
inline TL_INLINE bool each_value(const Plan& pl, const Column& col, int64_t n, const uint8_t* live,
                                 Branch&& on_branch, F&& f) {
  const bool all_valid = col.all_valid();
  for (int64_t r = 0; r < n; ++r) {
    if (live && !live[r]) continue;
    if (!all_valid && !col.is_valid(r)) {
      if (pl.is_union) {
        if (pl.null_branch < 0) return false;
        on_branch(r, pl.null_branch);
        continue;
      }
      if (pl.kind != Kind::kNull) return false;
      continue;
    }
    if (pl.is_union) on_branch(r, pl.value_branch);
    if (!f(r)) return false;
  }
  return true;
}

// Pass 1: adds the encoded size of each live row of `col` to size[r]. False on a value
// encode_plan rejects (the caller then finds and reports it row by row).
bool size_column(const Plan& pl, const Column& col, int64_t n, const uint8_t* live,
                 uint32_t* size) {
  auto branch = [&](int64_t r, int64_t b) TL_INLINE { size[r] += long_size(b); };
  switch (pl.kind) {
    case Kind::kNull:
      return each_value(pl, col, n, live, branch, [](int64_t) { return true; });
    case Kind::kBoolean:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        size[r] += 1;
        return true;
      });
    case Kind::kInt:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        const int64_t v = col.int_at(r);
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
          return false;
        size[r] += long_size(v);
        return true;
      });
    case Kind::kLong:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        int64_t v = col.int_at(r);
        if (pl.ts_scale > 1) v = floor_div(v, pl.ts_scale);
        size[r] += long_size(v);
        return true;
      });
    case Kind::kFloat:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        size[r] += 4;
        return true;
      });
    case Kind::kDouble:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        size[r] += 8;
        return true;
      });
    case Kind::kBytes:
    case Kind::kString:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        const auto len = static_cast<int64_t>(col.string_at(r).size());
        size[r] += long_size(len) + static_cast<uint32_t>(len);
        return true;
      });
    case Kind::kEnum:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        const int64_t i = enum_index(pl, col.string_at(r));
        if (i < 0) return false;
        size[r] += long_size(i);
        return true;
      });
    case Kind::kFixed:
      return each_value(pl, col, n, live, branch, [&](int64_t r) {
        if (static_cast<int64_t>(col.string_at(r).size()) != pl.fixed_size) return false;
        size[r] += static_cast<uint32_t>(pl.fixed_size);
        return true;
      });
    case Kind::kRecord: {
      if (!each_value(pl, col, n, live, branch, [](int64_t) { return true; })) return false;
      // Fields of a null record are not written: they see only the rows where it has a value.
      std::vector<uint8_t> child_live;
      const uint8_t* cl = live;
      if (!col.all_valid()) {
        child_live.resize(static_cast<size_t>(n));
        for (int64_t r = 0; r < n; ++r)
          child_live[static_cast<size_t>(r)] = (!live || live[r]) && col.is_valid(r) ? 1 : 0;
        cl = child_live.data();
      }
      for (size_t i = 0; i < pl.children.size(); ++i)
        if (!size_column(pl.children[i], col.child(i), n, cl, size)) return false;
      return true;
    }
    case Kind::kArray:
    case Kind::kMap:
    case Kind::kUnion:
      break;
  }
  return false;
}

// Pass 2: writes each live row's value of `col` at base + cur[r] and advances cur[r]. Only
// after size_column accepted every value.
void write_column(const Plan& pl, const Column& col, int64_t n, const uint8_t* live, char* base,
                  uint32_t* cur) {
  auto branch = [&](int64_t r, int64_t b) TL_INLINE {
    cur[r] = static_cast<uint32_t>(put_long(base + cur[r], b) - base);
  };
  auto put = [&](int64_t r, int64_t v) TL_INLINE {
    cur[r] = static_cast<uint32_t>(put_long(base + cur[r], v) - base);
    return true;
  };
  auto bytes = [&](int64_t r, const void* p, size_t len) TL_INLINE {
    std::memcpy(base + cur[r], p, len);
    cur[r] += static_cast<uint32_t>(len);
    return true;
  };
  switch (pl.kind) {
    case Kind::kNull:
      (void)each_value(pl, col, n, live, branch, [](int64_t) { return true; });
      return;
    case Kind::kBoolean:
      (void)each_value(pl, col, n, live, branch, [&](int64_t r) {
        base[cur[r]++] = static_cast<char>(col.int_at(r) != 0 ? 1 : 0);
        return true;
      });
      return;
    case Kind::kInt:
      (void)each_value(pl, col, n, live, branch, [&](int64_t r) { return put(r, col.int_at(r)); });
      return;
    case Kind::kLong:
      (void)each_value(pl, col, n, live, branch, [&](int64_t r) {
        int64_t v = col.int_at(r);
        if (pl.ts_scale > 1) v = floor_div(v, pl.ts_scale);
        return put(r, v);
      });
      return;
    case Kind::kFloat:
      (void)each_value(pl, col, n, live, branch, [&](int64_t r) {
        const float f = static_cast<float>(col.float_at(r));
        return bytes(r, &f, 4);
      });
      return;
    case Kind::kDouble:
      (void)each_value(pl, col, n, live, branch, [&](int64_t r) {
        const double d = col.float_at(r);
        return bytes(r, &d, 8);
      });
      return;
    case Kind::kBytes:
    case Kind::kString:
      (void)each_value(pl, col, n, live, branch, [&](int64_t r) {
        const std::string_view s = col.string_at(r);
        put(r, static_cast<int64_t>(s.size()));
        return bytes(r, s.data(), s.size());
      });
      return;
    case Kind::kEnum:
      (void)each_value(pl, col, n, live, branch,
                       [&](int64_t r) { return put(r, enum_index(pl, col.string_at(r))); });
      return;
    case Kind::kFixed:
      (void)each_value(pl, col, n, live, branch, [&](int64_t r) {
        const std::string_view s = col.string_at(r);
        return bytes(r, s.data(), s.size());
      });
      return;
    case Kind::kRecord: {
      (void)each_value(pl, col, n, live, branch, [](int64_t) { return true; });
      std::vector<uint8_t> child_live;
      const uint8_t* cl = live;
      if (!col.all_valid()) {
        child_live.resize(static_cast<size_t>(n));
        for (int64_t r = 0; r < n; ++r)
          child_live[static_cast<size_t>(r)] = (!live || live[r]) && col.is_valid(r) ? 1 : 0;
        cl = child_live.data();
      }
      for (size_t i = 0; i < pl.children.size(); ++i)
        write_column(pl.children[i], col.child(i), n, cl, base, cur);
      return;
    }
    case Kind::kArray:
    case Kind::kMap:
    case Kind::kUnion:
      return;
  }
}

bool batch_matches(const Batch& b, const TypePtr& type) {
  if (b.schema.get() == type.get()) return b.columns.size() == type->fields.size();
  return b.schema && type_equals(*b.schema, *type) && b.columns.size() == type->fields.size();
}

}  // namespace

Codec::Codec(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Codec::~Codec() = default;

const TypePtr& Codec::type() const {
  return impl_->type;
}
const std::string& Codec::schema_json() const {
  return impl_->schema_json;
}

Result<std::shared_ptr<const Codec>> Codec::make(std::string_view schema_json) {
  try {
    Json j;
    try {
      j = Json::parse(schema_json);
    } catch (const nlohmann::json::parse_error& e) {
      return error(StatusCode::kInvalidArgument, fmt::format("schema: invalid JSON: {}", e.what()));
    }
    SchemaParser parser;
    TL_ASSIGN_OR_RETURN(Node root, parser.parse(j, "$", ""));
    if (root.kind != Kind::kRecord) {
      return error(
          StatusCode::kInvalidArgument,
          fmt::format("schema $: the top level must be a record, found {}", kind_name(root.kind)));
    }
    auto impl = std::make_unique<Impl>();
    TL_RETURN_IF_ERROR(map_plan(root, "", impl->root, impl->num_slots));
    impl->type = impl->root.type;
    impl->schema_json = j.dump();
    impl->node = std::move(root);
    return std::shared_ptr<const Codec>(new Codec(std::move(impl)));
  } catch (const std::exception& e) {
    return error(StatusCode::kInvalidArgument, fmt::format("schema: {}", e.what()));
  }
}

Status Codec::decode_into(std::string_view payload, Batch& out) const {
  if (!batch_matches(out, impl_->type)) {
    return invalid_argument("avro decode: the batch schema is not the codec's type");
  }
  thread_local std::vector<Slot> scratch;
  if (scratch.size() < impl_->num_slots) scratch.resize(impl_->num_slots);
  Decoder d(payload, scratch.data());
  if (!d.record_fields(impl_->root)) return d.error_status();
  if (d.remaining() != 0) {
    d.fail_at(d.offset(), fmt::format("{} trailing bytes after the record", d.remaining()));
    return d.error_status();
  }
  const Plan& root = impl_->root;
  for (size_t i = 0; i < root.children.size(); ++i) {
    append_plan(root.children[i], out.columns[i], scratch.data());
  }
  ++out.num_rows;
  return {};
}

Status Codec::decode_batch(std::span<const std::string_view> payloads, Batch& out,
                           std::vector<DecodeError>& errors) const {
  if (!batch_matches(out, impl_->type)) {
    return invalid_argument("avro decode: the batch schema is not the codec's type");
  }
  const Plan& root = impl_->root;
  decode_chunks(root, impl_->num_slots, payloads, out, errors, [&](Decoder& d) {
    if (!d.record_fields(root)) return false;
    if (d.remaining() != 0)
      return d.fail_at(d.offset(),
                       fmt::format("{} trailing bytes after the record", d.remaining()));
    return true;
  });
  return {};
}

Status Codec::encode_batch(const Batch& in, EncodedRows& out) const {
  out.bytes.clear();
  out.offsets.assign(1, 0);
  if (!batch_matches(in, impl_->type)) {
    return invalid_argument("avro encode: the batch schema is not the codec's type");
  }
  const int64_t n = in.num_rows;
  const auto un = static_cast<size_t>(n);
  thread_local std::vector<uint32_t> size;
  size.assign(un, 0);
  const Plan& root = impl_->root;
  bool ok = true;
  for (size_t i = 0; ok && i < root.children.size(); ++i)
    ok = size_column(root.children[i], in.columns[i], n, nullptr, size.data());
  if (!ok) {
    // Report the first row and field encode_row rejects, as row-by-row encoding would.
    std::string tmp;
    for (int64_t r = 0; r < n; ++r) {
      tmp.clear();
      Status s = encode_row(in, r, tmp);
      if (!s.ok()) return Status(s.code(), fmt::format("row {}: {}", r, s.message()));
    }
    return internal_error("avro encode_batch: a value was rejected but every row encodes");
  }
  out.offsets.resize(un + 1);
  uint64_t total = 0;
  for (size_t r = 0; r < un; ++r) {
    total += size[r];
    if (total > std::numeric_limits<uint32_t>::max()) {
      out.offsets.assign(1, 0);
      return invalid_argument(fmt::format("avro encode: {} rows take more than 4 GiB encoded", n));
    }
    out.offsets[r + 1] = static_cast<uint32_t>(total);
  }
  out.bytes.resize(static_cast<size_t>(total));
  // size[] becomes each row's write cursor.
  for (size_t r = 0; r < un; ++r) size[r] = out.offsets[r];
  for (size_t i = 0; i < root.children.size(); ++i)
    write_column(root.children[i], in.columns[i], n, nullptr, out.bytes.data(), size.data());
  return {};
}

Status Codec::encode_row(const Batch& in, int64_t row, std::string& out) const {
  if (!batch_matches(in, impl_->type)) {
    return invalid_argument("avro encode: the batch schema is not the codec's type");
  }
  if (row < 0 || row >= in.num_rows) {
    return invalid_argument(
        fmt::format("avro encode: row {} out of range ({} rows)", row, in.num_rows));
  }
  size_t mark = out.size();
  const Plan& root = impl_->root;
  for (size_t i = 0; i < root.children.size(); ++i) {
    Status s = encode_plan(root.children[i], in.columns[i], row, out);
    if (!s.ok()) {
      out.resize(mark);
      return s;
    }
  }
  return {};
}

Result<std::string> schema_from_pulsar_envelope(std::string_view envelope_json) {
  try {
    Json j;
    try {
      j = Json::parse(envelope_json);
    } catch (const nlohmann::json::parse_error& e) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("pulsar schema envelope: invalid JSON: {}", e.what()));
    }
    if (!j.is_object()) {
      return error(StatusCode::kInvalidArgument, "pulsar schema envelope: expected a JSON object");
    }
    auto t = j.find("type");
    if (t != j.end() && (!t->is_string() || t->get<std::string>() != "AVRO")) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("pulsar schema envelope: type is {}, expected \"AVRO\"", t->dump()));
    }
    auto s = j.find("schema");
    if (s == j.end()) {
      return error(StatusCode::kInvalidArgument, "pulsar schema envelope: missing \"schema\"");
    }
    if (s->is_string()) return s->get<std::string>();
    if (s->is_object()) return s->dump();
    return error(StatusCode::kInvalidArgument,
                 "pulsar schema envelope: \"schema\" must be a string or an object");
  } catch (const std::exception& e) {
    return error(StatusCode::kInvalidArgument, fmt::format("pulsar schema envelope: {}", e.what()));
  }
}

// ---------------------------------------------------------------------------------------------
// Schema resolution (Resolver)

namespace {

// A reader value fixed by a "default": applied to the reader's slots when the writer lacks the
// field. Strings are owned here (the Resolver outlives every decode).
struct DefaultValue {
  bool valid = false;  // false = null
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<DefaultValue> children;  // record fields in reader order
};

enum class Action : uint8_t {
  kRead,         // read the writer's `wkind` and store it into `target`
  kSkip,         // writer-only data: read past it
  kRecord,       // writer record into a reader record
  kWriterUnion,  // branch index, then children[branch]
  kError,        // this (union branch) cannot be resolved: fails the datum that selects it
};

struct RNode {
  Action action = Action::kRead;
  Kind wkind = Kind::kNull;
  const Node* wnode = nullptr;  // writer node (skipping, fixed sizes)
  const Plan* target = nullptr;
  int64_t scale = 0;  // kRead of int/long into a timestamp: nanoseconds per writer unit
  std::vector<RNode> children;
  // kRecord: reader fields the writer lacks, with their defaults.
  std::vector<std::pair<const Plan*, const DefaultValue*>> defaults;
  // kRead of an enum: reader symbol index per writer symbol (-1 = the reader lacks it and
  // has no default).
  std::vector<int32_t> enum_map;
  std::string error;  // kError
  std::string path;   // field path for errors (reader's where there is one)
};

// Decodes UTF-8 text whose code points are all below 256 into those bytes (how Avro's JSON
// defaults spell bytes and fixed values).
std::optional<std::string> latin1_bytes(const std::string& utf8) {
  std::string out;
  for (size_t k = 0; k < utf8.size(); ++k) {
    const auto c = static_cast<uint8_t>(utf8[k]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c & 0xE0) == 0xC0 && k + 1 < utf8.size()) {
      const uint32_t cp = ((c & 0x1Fu) << 6) | (static_cast<uint8_t>(utf8[k + 1]) & 0x3Fu);
      if (cp > 0xFF) return std::nullopt;
      out.push_back(static_cast<char>(cp));
      ++k;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

class ResolutionBuilder {
 public:
  explicit ResolutionBuilder(std::deque<DefaultValue>& defaults) : defaults_(defaults) {}

  // Resolves writer `w` against reader `rn` whose column plan is `rp`.
  Status resolve(const Node& w, const Node& rn, const Plan& rp, RNode& out) {
    out.wnode = &w;
    out.wkind = w.kind;
    out.target = &rp;
    out.path = rp.field_path.empty() ? "(record)" : rp.field_path;
    if (w.kind == Kind::kUnion) {
      out.action = Action::kWriterUnion;
      out.children.resize(w.children.size());
      for (size_t b = 0; b < w.children.size(); ++b) {
        Status st = resolve(w.children[b], rn, rp, out.children[b]);
        if (!st.ok()) {
          RNode& e = out.children[b];
          e = RNode{};
          e.action = Action::kError;
          e.wnode = &w.children[b];
          e.path = out.path;
          e.error = fmt::format("writer union branch {} ({}): {}", b, kind_name(w.children[b].kind),
                                st.message());
        }
      }
      return {};
    }
    if (rn.kind == Kind::kUnion) {
      const Node* value = nullptr;
      for (const Node& b : rn.children) {
        if (b.kind != Kind::kNull) value = &b;
      }
      if (w.kind == Kind::kNull) {
        if (rp.null_branch < 0 && rp.kind != Kind::kNull) return mismatch(w, rn, rp);
        out.action = Action::kRead;
        return {};
      }
      if (value == nullptr) return mismatch(w, rn, rp);
      return resolve_plain(w, *value, rp, out);
    }
    return resolve_plain(w, rn, rp, out);
  }

 private:
  static Status mismatch(const Node& w, const Node& rn, const Plan& rp) {
    return invalid_argument(fmt::format("field '{}': writer type {} cannot be read as {}",
                                        rp.field_path.empty() ? "(record)" : rp.field_path,
                                        kind_name(w.kind), kind_name(rn.kind)));
  }

  Status resolve_plain(const Node& w, const Node& rn, const Plan& rp, RNode& out) {
    out.action = Action::kRead;
    const Kind r = rn.kind;
    switch (w.kind) {
      case Kind::kNull:
      case Kind::kBoolean:
      case Kind::kFloat:
      case Kind::kDouble:
        if (r == w.kind || (w.kind == Kind::kFloat && r == Kind::kDouble)) return {};
        return mismatch(w, rn, rp);
      case Kind::kInt:
      case Kind::kLong:
        if (r == Kind::kLong) {
          // Logical types come from the reader (a plain reader long gets the raw number); a
          // writer timestamp keeps its own unit when the reader is a timestamp too.
          out.scale = rn.ts_scale == 0 ? 0 : (w.ts_scale ? w.ts_scale : rn.ts_scale);
          return {};
        }
        if (r == w.kind || r == Kind::kFloat || r == Kind::kDouble) return {};
        return mismatch(w, rn, rp);
      case Kind::kString:
      case Kind::kBytes:
        if (r == Kind::kString || r == Kind::kBytes) return {};
        return mismatch(w, rn, rp);
      case Kind::kFixed:
        if (r != Kind::kFixed) return mismatch(w, rn, rp);
        if (w.fixed_size != rn.fixed_size) {
          return invalid_argument(
              fmt::format("field '{}': writer fixed({}) cannot be read as fixed({})", out.path,
                          w.fixed_size, rn.fixed_size));
        }
        return {};
      case Kind::kEnum: {
        if (r != Kind::kEnum) return mismatch(w, rn, rp);
        int32_t fallback = -1;
        if (rn.enum_default) {
          for (size_t k = 0; k < rn.symbols.size(); ++k) {
            if (rn.symbols[k] == *rn.enum_default) fallback = static_cast<int32_t>(k);
          }
        }
        for (const std::string& sym : w.symbols) {
          int32_t idx = fallback;
          for (size_t k = 0; k < rn.symbols.size(); ++k) {
            if (rn.symbols[k] == sym) idx = static_cast<int32_t>(k);
          }
          out.enum_map.push_back(idx);
        }
        return {};
      }
      case Kind::kRecord:
        if (r != Kind::kRecord) return mismatch(w, rn, rp);
        return resolve_record(w, rn, rp, out);
      case Kind::kArray:
      case Kind::kMap:
        // The reader (a Codec) has no arrays or maps, so these can only be skipped.
        return mismatch(w, rn, rp);
      case Kind::kUnion:
        break;  // handled by resolve()
    }
    return mismatch(w, rn, rp);
  }

  Status resolve_record(const Node& w, const Node& rn, const Plan& rp, RNode& out) {
    out.action = Action::kRecord;
    std::vector<bool> covered(rn.children.size(), false);
    out.children.resize(w.children.size());
    for (size_t i = 0; i < w.children.size(); ++i) {
      RNode& c = out.children[i];
      size_t r = rn.field_names.size();
      for (size_t k = 0; k < rn.field_names.size(); ++k) {
        if (rn.field_names[k] == w.field_names[i]) r = k;
      }
      if (r == rn.field_names.size()) {
        c.action = Action::kSkip;
        c.wnode = &w.children[i];
        c.wkind = w.children[i].kind;
        c.path = w.field_names[i];
        continue;
      }
      covered[r] = true;
      TL_RETURN_IF_ERROR(resolve(w.children[i], rn.children[r], rp.children[r], c));
    }
    for (size_t k = 0; k < rn.children.size(); ++k) {
      if (covered[k]) continue;
      const Plan& fp = rp.children[k];
      if (!rn.field_defaults[k]) {
        return invalid_argument(fmt::format(
            "field '{}' of the reader schema is not in the writer schema and has no default",
            fp.field_path));
      }
      DefaultValue& dv = defaults_.emplace_back();
      TL_RETURN_IF_ERROR(make_default(*rn.field_defaults[k], rn.children[k], fp, dv));
      out.defaults.emplace_back(&fp, &dv);
    }
    return {};
  }

  // Converts a JSON default for reader node `rn` (plan `rp`).
  Status make_default(const Json& v, const Node& rn, const Plan& rp, DefaultValue& out) {
    auto bad = [&](std::string_view want) {
      return invalid_argument(
          fmt::format("field '{}': default {} is not {}", rp.field_path, v.dump(), want));
    };
    const Node* n = &rn;
    if (rn.kind == Kind::kUnion) {
      // The spec ties a union's default to its first branch; a null default is accepted for
      // any nullable union (as writers commonly spell optional fields).
      if (v.is_null() && rp.null_branch >= 0) {
        out.valid = false;
        return {};
      }
      n = nullptr;
      for (const Node& b : rn.children) {
        if (b.kind != Kind::kNull) n = &b;
      }
      if (n == nullptr) return bad("null");
    }
    out.valid = true;
    switch (n->kind) {
      case Kind::kNull:
        if (!v.is_null()) return bad("null");
        out.valid = false;
        return {};
      case Kind::kBoolean:
        if (!v.is_boolean()) return bad("a boolean");
        out.i = v.get<bool>() ? 1 : 0;
        return {};
      case Kind::kInt:
      case Kind::kLong:
        if (!v.is_number_integer()) return bad("an integer");
        out.i = v.get<int64_t>();
        if (n->kind == Kind::kInt && (out.i < INT32_MIN || out.i > INT32_MAX)) return bad("an int");
        if (n->ts_scale > 1 && __builtin_mul_overflow(out.i, n->ts_scale, &out.i)) {
          return bad("a timestamp in range");
        }
        return {};
      case Kind::kFloat:
      case Kind::kDouble:
        if (!v.is_number()) return bad("a number");
        out.d = v.get<double>();
        return {};
      case Kind::kString:
        if (!v.is_string()) return bad("a string");
        out.s = v.get<std::string>();
        return {};
      case Kind::kBytes:
      case Kind::kFixed: {
        if (!v.is_string()) return bad("a string of bytes");
        auto b = latin1_bytes(v.get<std::string>());
        if (!b) return bad("a string of code points below 256");
        if (n->kind == Kind::kFixed && static_cast<int64_t>(b->size()) != n->fixed_size) {
          return bad(fmt::format("{} bytes", n->fixed_size));
        }
        out.s = std::move(*b);
        return {};
      }
      case Kind::kEnum:
        if (!v.is_string() || std::find(n->symbols.begin(), n->symbols.end(),
                                        v.get<std::string>()) == n->symbols.end()) {
          return bad("a symbol of the enum");
        }
        out.s = v.get<std::string>();
        return {};
      case Kind::kRecord: {
        if (!v.is_object()) return bad("an object");
        out.children.resize(n->children.size());
        for (size_t k = 0; k < n->children.size(); ++k) {
          auto it = v.find(n->field_names[k]);
          if (it != v.end()) {
            TL_RETURN_IF_ERROR(make_default(*it, n->children[k], rp.children[k], out.children[k]));
          } else if (n->field_defaults[k]) {
            TL_RETURN_IF_ERROR(make_default(*n->field_defaults[k], n->children[k], rp.children[k],
                                            out.children[k]));
          } else {
            return bad(fmt::format("a record with field '{}'", n->field_names[k]));
          }
        }
        return {};
      }
      case Kind::kArray:
      case Kind::kMap:
      case Kind::kUnion:
        break;
    }
    return bad("supported");
  }

  std::deque<DefaultValue>& defaults_;
};

void apply_default(const DefaultValue& dv, const Plan& rp, Slot* slots) {
  Slot& s = slots[rp.slot];
  s.valid = dv.valid;
  if (!dv.valid) {
    for (const Plan& c : rp.children) apply_default(dv, c, slots);
    return;
  }
  s.i = dv.i;
  s.d = dv.d;
  s.p = dv.s.data();
  s.n = static_cast<uint32_t>(dv.s.size());
  for (size_t k = 0; k < rp.children.size() && k < dv.children.size(); ++k) {
    apply_default(dv.children[k], rp.children[k], slots);
  }
}

// Reads writer data by an RNode tree into the reader's slots, with the primitives of Decoder.
class ResolvingReader {
 public:
  ResolvingReader(Decoder& d, size_t item_budget) : d_(d), budget_(item_budget) {}

  bool read(const RNode& r) {
    switch (r.action) {
      case Action::kError:
        return d_.fail(r.path, d_.offset(), r.error);
      case Action::kSkip:
        return skip(*r.wnode, r.path);
      case Action::kWriterUnion: {
        const size_t at = d_.offset();
        int64_t branch = 0;
        if (!d_.read_long(r.path, branch)) return false;
        if (branch < 0 || static_cast<size_t>(branch) >= r.children.size()) {
          return d_.fail(
              r.path, at,
              fmt::format("union branch {} out of range ({} branches)", branch, r.children.size()));
        }
        return read(r.children[static_cast<size_t>(branch)]);
      }
      case Action::kRecord: {
        d_.slots()[r.target->slot].valid = true;
        for (const RNode& c : r.children) {
          if (!read(c)) return false;
        }
        for (const auto& [plan, dv] : r.defaults) apply_default(*dv, *plan, d_.slots());
        return true;
      }
      case Action::kRead:
        return read_value(r);
    }
    return false;
  }

  bool skip(const Node& w, const std::string& path) {
    const size_t at = d_.offset();
    int64_t v = 0;
    Slot tmp{};
    switch (w.kind) {
      case Kind::kNull:
        return true;
      case Kind::kBoolean:
        if (d_.remaining() < 1) return d_.fail(path, at, "truncated boolean");
        d_.advance(1);
        return true;
      case Kind::kInt:
        return d_.read_int(path, v);
      case Kind::kLong:
        return d_.read_long(path, v);
      case Kind::kEnum:
        return d_.read_int(path, v);
      case Kind::kFloat:
      case Kind::kDouble: {
        const size_t n = w.kind == Kind::kFloat ? 4 : 8;
        if (d_.remaining() < n)
          return d_.fail(path, at, fmt::format("truncated {}", kind_name(w.kind)));
        d_.advance(n);
        return true;
      }
      case Kind::kBytes:
      case Kind::kString:
        return d_.read_bytes(path, tmp);
      case Kind::kFixed:
        if (d_.remaining() < static_cast<uint64_t>(w.fixed_size)) {
          return d_.fail(path, at, fmt::format("truncated fixed({})", w.fixed_size));
        }
        d_.advance(static_cast<size_t>(w.fixed_size));
        return true;
      case Kind::kRecord:
        for (size_t k = 0; k < w.children.size(); ++k) {
          if (!skip(w.children[k], path)) return false;
        }
        return true;
      case Kind::kUnion: {
        if (!d_.read_long(path, v)) return false;
        if (v < 0 || static_cast<size_t>(v) >= w.children.size()) {
          return d_.fail(
              path, at,
              fmt::format("union branch {} out of range ({} branches)", v, w.children.size()));
        }
        return skip(w.children[static_cast<size_t>(v)], path);
      }
      case Kind::kArray:
      case Kind::kMap:
        // Blocks of items until a zero count; a negative count is followed by the block's
        // size in bytes (which lets us jump over it).
        while (true) {
          const size_t bat = d_.offset();
          int64_t count = 0;
          if (!d_.read_long(path, count)) return false;
          if (count == 0) return true;
          if (count < 0) {
            int64_t bytes = 0;
            if (count == INT64_MIN || !d_.read_long(path, bytes)) {
              return count == INT64_MIN ? d_.fail(path, bat, "invalid block count") : false;
            }
            if (bytes < 0 || static_cast<uint64_t>(bytes) > d_.remaining()) {
              return d_.fail(path, bat,
                             fmt::format("block size {} exceeds the {} remaining bytes", bytes,
                                         d_.remaining()));
            }
            d_.advance(static_cast<size_t>(bytes));
            continue;
          }
          // Items may take no bytes (null): the budget bounds the work a datum can ask for.
          if (static_cast<uint64_t>(count) > budget_) {
            return d_.fail(path, bat, fmt::format("block of {} items is too large", count));
          }
          budget_ -= static_cast<size_t>(count);
          for (int64_t k = 0; k < count; ++k) {
            if (w.kind == Kind::kMap && !d_.read_bytes(path, tmp)) return false;
            if (!skip(w.children[0], path)) return false;
          }
        }
    }
    return d_.fail(path, at, "unsupported type");
  }

 private:
  bool read_value(const RNode& r) {
    const Plan& t = *r.target;
    Slot& s = d_.slots()[t.slot];
    const size_t at = d_.offset();
    s.valid = true;
    switch (r.wkind) {
      case Kind::kNull:
        d_.null_subtree(t);
        return true;
      case Kind::kBoolean:
        if (d_.remaining() < 1) return d_.fail(r.path, at, "truncated boolean");
        if (*d_.cursor() > 1) {
          return d_.fail(r.path, at, fmt::format("invalid boolean byte 0x{:02x}", *d_.cursor()));
        }
        s.i = *d_.cursor();
        d_.advance(1);
        return true;
      case Kind::kInt:
      case Kind::kLong: {
        int64_t v = 0;
        if (!(r.wkind == Kind::kInt ? d_.read_int(r.path, v) : d_.read_long(r.path, v)))
          return false;
        if (t.kind == Kind::kFloat || t.kind == Kind::kDouble) {
          s.d = static_cast<double>(v);
          return true;
        }
        if (r.scale > 1 && __builtin_mul_overflow(v, r.scale, &v)) {
          return d_.fail(r.path, at, "timestamp out of range");
        }
        s.i = v;
        return true;
      }
      case Kind::kFloat: {
        if (d_.remaining() < 4) return d_.fail(r.path, at, "truncated float");
        float f;
        std::memcpy(&f, d_.cursor(), 4);
        d_.advance(4);
        s.d = f;
        return true;
      }
      case Kind::kDouble:
        if (d_.remaining() < 8) return d_.fail(r.path, at, "truncated double");
        std::memcpy(&s.d, d_.cursor(), 8);
        d_.advance(8);
        return true;
      case Kind::kBytes:
      case Kind::kString:
        return d_.read_bytes(r.path, s);
      case Kind::kEnum: {
        int64_t idx = 0;
        if (!d_.read_int(r.path, idx)) return false;
        if (idx < 0 || static_cast<size_t>(idx) >= r.enum_map.size()) {
          return d_.fail(
              r.path, at,
              fmt::format("enum index {} out of range ({} symbols)", idx, r.enum_map.size()));
        }
        const int32_t ri = r.enum_map[static_cast<size_t>(idx)];
        if (ri < 0) {
          return d_.fail(r.path, at,
                         fmt::format("writer enum symbol '{}' is not a symbol of the reader enum",
                                     r.wnode->symbols[static_cast<size_t>(idx)]));
        }
        const std::string& sym = t.symbols[static_cast<size_t>(ri)];
        s.p = sym.data();
        s.n = static_cast<uint32_t>(sym.size());
        return true;
      }
      case Kind::kFixed:
        if (d_.remaining() < static_cast<uint64_t>(r.wnode->fixed_size)) {
          return d_.fail(r.path, at, fmt::format("truncated fixed({})", r.wnode->fixed_size));
        }
        s.p = reinterpret_cast<const char*>(d_.cursor());
        s.n = static_cast<uint32_t>(r.wnode->fixed_size);
        d_.advance(static_cast<size_t>(r.wnode->fixed_size));
        return true;
      case Kind::kRecord:
      case Kind::kArray:
      case Kind::kMap:
      case Kind::kUnion:
        break;
    }
    return d_.fail(r.path, at, "unsupported type");
  }

  Decoder& d_;
  size_t budget_;
};

}  // namespace

struct Resolver::Impl {
  std::shared_ptr<const Codec> reader;
  Node writer;
  std::deque<DefaultValue> defaults;  // stable addresses, referenced by `root`
  RNode root;
  bool identical = false;  // writer schema == reader schema: the reader codec decodes
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() = default;

const Codec& Resolver::reader() const {
  return *impl_->reader;
}

Result<std::shared_ptr<const Resolver>> Resolver::make(std::string_view writer_schema_json,
                                                       std::shared_ptr<const Codec> reader) {
  try {
    Json j;
    try {
      j = Json::parse(writer_schema_json);
    } catch (const nlohmann::json::parse_error& e) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("writer schema: invalid JSON: {}", e.what()));
    }
    auto impl = std::make_unique<Impl>();
    impl->reader = std::move(reader);
    SchemaParser parser;
    auto w = parser.parse(j, "$", "");
    if (!w) return error(w.error().with_context("writer schema"));
    impl->writer = std::move(*w);
    impl->identical = j.dump() == impl->reader->schema_json();
    const Codec::Impl& r = *impl->reader->impl_;
    if (impl->writer.kind != Kind::kRecord) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("writer schema: the top level is {}, not a record",
                               kind_name(impl->writer.kind)));
    }
    ResolutionBuilder builder(impl->defaults);
    Status st = builder.resolve(impl->writer, r.node, r.root, impl->root);
    if (!st.ok()) return error(st.with_context("resolving the writer schema"));
    return std::shared_ptr<const Resolver>(new Resolver(std::move(impl)));
  } catch (const std::exception& e) {
    return error(StatusCode::kInvalidArgument, fmt::format("writer schema: {}", e.what()));
  }
}

Status Resolver::decode_into(std::string_view payload, Batch& out) const {
  const Codec& codec = *impl_->reader;
  if (impl_->identical) return codec.decode_into(payload, out);
  const Codec::Impl& r = *codec.impl_;
  if (!batch_matches(out, r.type)) {
    return invalid_argument("avro decode: the batch schema is not the reader codec's type");
  }
  thread_local std::vector<Slot> scratch;
  if (scratch.size() < r.num_slots) scratch.resize(r.num_slots);
  Decoder d(payload, scratch.data());
  ResolvingReader reader(d, 8 * payload.size() + 1024);
  if (!reader.read(impl_->root)) return d.error_status();
  if (d.remaining() != 0) {
    d.fail_at(d.offset(), fmt::format("{} trailing bytes after the record", d.remaining()));
    return d.error_status();
  }
  for (size_t i = 0; i < r.root.children.size(); ++i) {
    append_plan(r.root.children[i], out.columns[i], scratch.data());
  }
  ++out.num_rows;
  return {};
}

Status Resolver::decode_batch(std::span<const std::string_view> payloads, Batch& out,
                              std::vector<DecodeError>& errors) const {
  const Codec& codec = *impl_->reader;
  if (impl_->identical) return codec.decode_batch(payloads, out, errors);
  const Codec::Impl& r = *codec.impl_;
  if (!batch_matches(out, r.type)) {
    return invalid_argument("avro decode: the batch schema is not the reader codec's type");
  }
  decode_chunks(r.root, r.num_slots, payloads, out, errors, [&](Decoder& d) {
    ResolvingReader reader(d, 8 * d.remaining() + 1024);
    if (!reader.read(impl_->root)) return false;
    if (d.remaining() != 0)
      return d.fail_at(d.offset(),
                       fmt::format("{} trailing bytes after the record", d.remaining()));
    return true;
  });
  return {};
}

}  // namespace tideline::avro
