// Avro binary datum codec. See docs/formats/avro.md for the supported subset and errors.
//
// make() parses the JSON schema into a Node tree (the general Avro type graph, named types
// copied in at each reference), then maps it onto a Plan tree that mirrors the column layout:
// each Plan node owns one slot of the per-thread scratch array used while decoding.

#include "io/avro/avro.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
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
  std::vector<std::string> symbols;
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
    if (err_plan_ == nullptr) return corruption(fmt::format("offset {}: {}", err_at_, err_));
    return corruption(
        fmt::format("offset {}, field '{}': {}", err_at_, err_plan_->field_path, err_));
  }

  bool fail_at(size_t at, std::string why) {
    err_at_ = at;
    err_ = std::move(why);
    return false;
  }

 private:
  bool fail(const Plan& pl, size_t at, std::string why) {
    err_plan_ = &pl;
    return fail_at(at, std::move(why));
  }

  bool read_long(const Plan& pl, int64_t& out) {
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

  bool read_int(const Plan& pl, int64_t& out) {
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

  bool read_bytes(const Plan& pl, Slot& s) {
    size_t at = offset();
    int64_t len;
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

  bool value(const Plan& pl) {
    Slot& s = slots_[pl.slot];
    if (pl.is_union) {
      size_t at = offset();
      int64_t branch;
      if (!read_long(pl, branch)) return false;
      if (branch == pl.null_branch) {
        null_subtree(pl);
        return true;
      }
      if (branch != pl.value_branch) {
        int branches = pl.null_branch >= 0 ? 2 : 1;
        return fail(pl, at,
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
        if (p_ == e_) return fail(pl, at, "truncated boolean");
        if (*p_ > 1) return fail(pl, at, fmt::format("invalid boolean byte 0x{:02x}", *p_));
        s.i = *p_++;
        return true;
      case Kind::kInt:
        return read_int(pl, s.i);
      case Kind::kLong:
        if (!read_long(pl, s.i)) return false;
        if (pl.ts_scale > 1 && __builtin_mul_overflow(s.i, pl.ts_scale, &s.i)) {
          return fail(pl, at, "timestamp out of range");
        }
        return true;
      case Kind::kFloat: {
        if (remaining() < 4) return fail(pl, at, "truncated float");
        float f;
        std::memcpy(&f, p_, 4);
        p_ += 4;
        s.d = f;
        return true;
      }
      case Kind::kDouble:
        if (remaining() < 8) return fail(pl, at, "truncated double");
        std::memcpy(&s.d, p_, 8);
        p_ += 8;
        return true;
      case Kind::kBytes:
      case Kind::kString:
        return read_bytes(pl, s);
      case Kind::kEnum: {
        int64_t idx;
        if (!read_int(pl, idx)) return false;
        if (idx < 0 || static_cast<size_t>(idx) >= pl.symbols.size()) {
          return fail(
              pl, at,
              fmt::format("enum index {} out of range ({} symbols)", idx, pl.symbols.size()));
        }
        const std::string& sym = pl.symbols[static_cast<size_t>(idx)];
        s.p = sym.data();
        s.n = static_cast<uint32_t>(sym.size());
        return true;
      }
      case Kind::kFixed:
        if (remaining() < static_cast<uint64_t>(pl.fixed_size)) {
          return fail(pl, at, fmt::format("truncated fixed({})", pl.fixed_size));
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
    return fail(pl, at, "unsupported type");
  }

  const uint8_t* b_;
  const uint8_t* p_;
  const uint8_t* e_;
  Slot* slots_;
  const Plan* err_plan_ = nullptr;
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

}  // namespace tideline::avro
