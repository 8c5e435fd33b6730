// Name resolution, argument binding (docs/fenl.md#argument-binding) and type checking
// (docs/fenl.md#types).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "fenl/functions.h"
#include "fenl/parser.h"
#include "fenl/plan.h"

namespace tideline::fenl {

namespace {

struct ParamSig {
  std::string name;
  std::string type;  // a type variable, a concrete type name, "window" or "record"
  bool is_const = false;
  bool variadic = false;
  bool has_default = false;
};

struct Signature {
  std::string name;
  std::map<std::string, std::string> vars;  // type variable -> class
  std::vector<ParamSig> params;
  std::string result;
  std::string text;
};

Signature parse_signature(std::string_view text) {
  std::vector<Token> toks;
  Diagnostic d;
  bool ok = tokenize(text, toks, d);
  (void)ok;
  Signature s;
  s.text = std::string(text);
  size_t i = 0;
  s.name = toks[i++].text;
  if (toks[i].kind == TokenKind::kLt) {
    ++i;
    while (toks[i].kind != TokenKind::kGt) {
      std::string v = toks[i].text;
      i += 2;  // name :
      s.vars[v] = toks[i++].text;
      if (toks[i].kind == TokenKind::kComma) ++i;
    }
    ++i;
  }
  ++i;  // (
  while (toks[i].kind != TokenKind::kRParen) {
    ParamSig p;
    if (toks[i].kind == TokenKind::kConst) {
      p.is_const = true;
      ++i;
    }
    p.name = toks[i++].text;
    if (toks[i].kind == TokenKind::kPlus) {
      p.variadic = true;
      ++i;
    }
    ++i;  // :
    p.type = toks[i++].text;
    if (toks[i].kind == TokenKind::kAssign) {
      p.has_default = true;
      i += 2;
    }
    if (toks[i].kind == TokenKind::kComma) ++i;
    s.params.push_back(p);
  }
  i += 2;  // ) ->
  s.result = toks[i].text;
  return s;
}

const std::unordered_map<std::string, Signature>& catalog() {
  static const auto kCatalog = [] {
    std::unordered_map<std::string, Signature> m;
    for (const FunctionDef& f : all_functions()) {
      auto s = parse_signature(f.signature);
      m.emplace(s.name, std::move(s));
    }
    return m;
  }();
  return kCatalog;
}

bool class_accepts(std::string_view cls, const Type& t) {
  Kind k = t.kind;
  if (k == Kind::kNull) return true;
  if (cls == "any") return k != Kind::kWindow;
  if (cls == "number") return is_number(k);
  if (cls == "signed") return is_number(k);
  if (cls == "float") return is_number(k);
  if (cls == "ordered") return is_ordered(k);
  if (cls == "lagged") return is_ordered(k) || k == Kind::kString || k == Kind::kBool;
  if (cls == "timedelta") return is_timedelta(k);
  if (cls == "key") return is_key_type(t);
  return false;
}

TypeRef class_promote(std::string_view cls, const TypeRef& t) {
  if (cls == "signed") {
    if (t->kind == Kind::kU32) return Type::of(Kind::kI64);
    if (t->kind == Kind::kU64) return Type::of(Kind::kF64);
  }
  if (cls == "float" && is_int(t->kind)) return Type::of(Kind::kF64);
  return t;
}

struct Binding {
  std::string name;
  NodePtr node;
  Span span;
  bool used = false;
};

class Compiler {
 public:
  Compiler(std::string_view text, const std::vector<TableDecl>& tables,
           const std::vector<ViewDecl>& views, bool require_record = false)
      : text_(text), views_(views), require_record_(require_record) {
    for (size_t i = 0; i < tables.size(); ++i) {
      const auto& t = tables[i];
      TableInfo info;
      info.name = t.name;
      info.type = t.type;
      info.time_column = t.time_column;
      info.key_column = t.key_column;
      info.subsort_column = t.subsort_column;
      std::string g = t.grouping.empty() ? t.name : t.grouping;
      int ki = t.type->field_index(t.key_column);
      TypeRef key_type =
          ki >= 0 ? t.type->fields[static_cast<size_t>(ki)].type : Type::of(Kind::kNull);
      info.grouping = grouping_id(g, key_type);
      plan_.tables.push_back(info);
    }
  }

  Result<Plan> run() {
    for (size_t i = 0; i < plan_.tables.size(); ++i) {
      const auto& t = plan_.tables[i];
      const auto& decl_type = t.type;
      auto check_col = [&](const std::string& col, const char* what) -> Status {
        if (col.empty()) return {};
        if (decl_type->field_index(col) < 0) {
          return invalid_argument("table '" + t.name + "' has no " + what + " column '" + col +
                                  "'");
        }
        return {};
      };
      TL_RETURN_IF_ERROR(check_col(t.time_column, "time"));
      TL_RETURN_IF_ERROR(check_col(t.key_column, "key"));
      TL_RETURN_IF_ERROR(check_col(t.subsort_column, "subsort"));
      if (t.time_column.empty() || t.key_column.empty()) {
        return error(StatusCode::kInvalidArgument,
                     "table '" + t.name + "' needs a time and a key column");
      }
    }
    if (!grouping_errors_.empty()) return error(StatusCode::kTypeError, grouping_errors_);
    auto parsed = parse_expression(text_);
    if (!parsed) return std::unexpected(to_status({parsed.error()}, text_));
    std::vector<Binding> scope;
    NodePtr root = compile(**parsed, scope);
    if (root && diags_.empty()) {
      if (!require_record_ && root->type->kind != Kind::kRecord &&
          root->type->kind != Kind::kWindow) {
        // The engine facade's contract: a non-record result becomes one field `result`.
        auto rec = make(Op::kRecord, Type::record({{"result", root->type}}), root->span);
        rec->names = {"result"};
        rec->args = {root};
        rec->grouping = root->grouping;
        rec->continuous = root->continuous;
        root = rec;
      }
      if (root->type->kind != Kind::kRecord) {
        error_at((*parsed)->span, "the query must produce a record, but it produces '" +
                                      root->type->to_string() + "' (wrap it as `{ name: ... }`)");
      } else {
        for (const auto& f : root->type->fields) {
          if (is_timedelta(f.type->kind) || f.type->kind == Kind::kWindow) {
            error_at((*parsed)->span, "output field '" + f.name + "' has type '" +
                                          f.type->to_string() +
                                          "' which cannot be written; try `as i64`");
          }
        }
      }
    }
    if (root && diags_.empty()) check_ticks(*root, false);
    if (!diags_.empty()) {
      if (!view_error_.empty()) return error(StatusCode::kTypeError, view_error_);
      return std::unexpected(to_status(diags_, text_));
    }
    plan_.root = root;
    for (const auto& w : warnings_) {
      std::string r = render(w, text_);
      if (!r.empty() && r.back() == '\n') r.pop_back();
      plan_.warnings.push_back(std::move(r));
    }
    return std::move(plan_);
  }

 private:
  int grouping_id(const std::string& name, const TypeRef& key_type) {
    for (size_t i = 0; i < plan_.groupings.size(); ++i) {
      if (plan_.groupings[i].name == name) {
        if (!same_type(*plan_.groupings[i].key_type, *key_type)) {
          grouping_errors_ += "grouping '" + name + "' is used with key types '" +
                              plan_.groupings[i].key_type->to_string() + "' and '" +
                              key_type->to_string() + "'\n";
        }
        return static_cast<int>(i);
      }
    }
    plan_.groupings.push_back({name, key_type});
    return static_cast<int>(plan_.groupings.size() - 1);
  }

  // Tick functions take their rows from an input: they may only appear inside a window's
  // condition or the condition of when/if/null_if (docs/fenl.md#ticks).
  void check_ticks(const Node& n, bool has_input) {
    if (!tick_checked_.insert({&n, has_input}).second) return;  // shared subtrees once
    if (n.op == Op::kCall && is_tick(n.fn) && !has_input) {
      error_at(n.span,
               "'" + n.fn +
                   "()' needs an input: use it inside an aggregation's window (since/sliding) "
                   "or as the condition of when/if");
      return;
    }
    for (size_t i = 0; i < n.args.size(); ++i) {
      bool in_condition = n.op == Op::kCall &&
                          (((n.fn == "since" || n.fn == "sliding") && i == n.args.size() - 1) ||
                           ((n.fn == "when" || n.fn == "if" || n.fn == "null_if") && i == 0));
      check_ticks(*n.args[i], has_input || in_condition);
    }
  }

  void warn_at(Span s, std::string msg) {
    warnings_.push_back(Diagnostic{Stage::kWarning, s, std::move(msg), ""});
  }

  std::nullptr_t error_at(Span s, std::string msg) {
    diags_.push_back(Diagnostic{Stage::kType, s, std::move(msg), ""});
    return nullptr;
  }

  static std::shared_ptr<Node> make(Op op, TypeRef t, Span s) {
    auto n = std::make_shared<Node>();
    n->op = op;
    n->type = std::move(t);
    n->span = s;
    return n;
  }

  NodePtr literal(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kNull: {
        auto n = make(Op::kLiteral, Type::of(Kind::kNull), e.span);
        n->continuous = true;
        return n;
      }
      case ExprKind::kBool: {
        auto n = make(Op::kLiteral, Type::of(Kind::kBool), e.span);
        n->literal = e.text == "true";
        n->continuous = true;
        return n;
      }
      case ExprKind::kString: {
        auto n = make(Op::kLiteral, Type::of(Kind::kString), e.span);
        n->literal = e.text;
        n->continuous = true;
        return n;
      }
      default:
        break;
    }
    bool frac = e.text.find('.') != std::string::npos;
    Kind k = frac ? Kind::kF64 : Kind::kI64;
    if (!e.suffix.empty()) {
      auto t = parse_type_name(e.suffix);
      if (!t) return error_at(e.span, "number suffix '" + e.suffix + "' is not supported");
      k = t->kind;
    }
    auto n = make(Op::kLiteral, Type::of(k), e.span);
    n->continuous = true;
    if (is_float_kind(k)) {
      n->literal = std::strtod(e.text.c_str(), nullptr);
    } else {
      uint64_t v = 0;
      auto r = std::from_chars(e.text.data(), e.text.data() + e.text.size(), v);
      if (r.ec != std::errc() || (k == Kind::kI64 && v > static_cast<uint64_t>(INT64_MAX)) ||
          ((k == Kind::kI32) && v > static_cast<uint64_t>(INT32_MAX)) ||
          (k == Kind::kU32 && v > UINT32_MAX)) {
        return error_at(e.span,
                        "number '" + e.text + "' is out of range for " + Type::of(k)->to_string());
      }
      n->literal = static_cast<int64_t>(v);
    }
    return n;
  }

  NodePtr compile(const Expr& e, std::vector<Binding>& scope) {
    switch (e.kind) {
      case ExprKind::kNumber:
      case ExprKind::kString:
      case ExprKind::kBool:
      case ExprKind::kNull:
        return literal(e);
      case ExprKind::kInput: {
        for (auto it = scope.rbegin(); it != scope.rend(); ++it) {
          if (it->name == "$input") {
            it->used = true;
            return it->node;
          }
        }
        return error_at(e.span, "'$input' is only defined on the right side of a pipe '|'");
      }
      case ExprKind::kName:
        return resolve_name(e, scope);
      case ExprKind::kField: {
        NodePtr base = compile(*e.base, scope);
        if (!base) return nullptr;
        return field_ref(base, e.text, e.span);
      }
      case ExprKind::kRecord: {
        std::vector<TypeField> fields;
        auto n = make(Op::kRecord, nullptr, e.span);
        std::unordered_set<std::string> seen;
        if (e.args.empty()) return error_at(e.span, "a record needs at least one field");
        bool ok = true;
        for (const auto& a : e.args) {
          if (!seen.insert(a.name).second) {
            error_at(a.name_span, "duplicate record field '" + a.name + "'");
            ok = false;
            continue;
          }
          NodePtr v = compile(*a.value, scope);
          if (!v) {
            ok = false;
            continue;
          }
          if (v->type->kind == Kind::kWindow) {
            error_at(a.value->span,
                     "a window can only be passed to an aggregation's 'window' argument");
            ok = false;
            continue;
          }
          fields.push_back({a.name, v->type});
          n->names.push_back(a.name);
          n->args.push_back(v);
        }
        if (!ok) return nullptr;
        n->type = Type::record(std::move(fields));
        if (!combine_groupings(*n, e.span)) return nullptr;
        return n;
      }
      case ExprKind::kLet: {
        size_t mark = scope.size();
        for (const auto& b : e.args) {
          NodePtr v = compile(*b.value, scope);
          if (!v) {
            scope.resize(mark);
            return nullptr;
          }
          scope.push_back({b.name, v, b.name_span});
        }
        NodePtr body = compile(*e.base, scope);
        for (size_t i = mark; i < scope.size(); ++i) {
          if (!scope[i].used) warn_at(scope[i].span, "unused binding '" + scope[i].name + "'");
        }
        scope.resize(mark);
        return body;
      }
      case ExprKind::kPipe: {
        NodePtr lhs = compile(*e.base, scope);
        if (!lhs) return nullptr;
        scope.push_back({"$input", lhs, e.base->span});
        NodePtr rhs = compile(*e.rhs, scope);
        if (rhs && !scope.back().used) {
          warn_at(e.base->span,
                  "the value left of '|' is not used: the right side never refers to $input");
        }
        scope.pop_back();
        return rhs;
      }
      case ExprKind::kCast: {
        NodePtr base = compile(*e.base, scope);
        if (!base) return nullptr;
        auto t = parse_type_name(e.text);
        if (!t) return error_at(e.span, "unknown type '" + e.text + "' after 'as'");
        if (!explicitly_castable(*base->type, *t)) {
          return error_at(
              e.span, "cannot cast '" + base->type->to_string() + "' to '" + t->to_string() + "'");
        }
        return cast(base, t);
      }
      case ExprKind::kCall:
        return call(e, scope);
    }
    return nullptr;
  }

  NodePtr cast(const NodePtr& base, const TypeRef& t) {
    if (same_type(*base->type, *t)) return base;
    auto n = make(Op::kCast, t, base->span);
    n->args.push_back(base);
    n->continuous = base->continuous;
    n->grouping = base->grouping;
    return n;
  }

  NodePtr field_ref(const NodePtr& base, const std::string& name, Span span) {
    if (base->type->kind == Kind::kJson) {
      auto n = make(Op::kField, Type::of(Kind::kString), span);
      n->names.push_back(name);
      n->args.push_back(base);
      n->continuous = base->continuous;
      n->grouping = base->grouping;
      return n;
    }
    if (base->type->kind != Kind::kRecord) {
      return error_at(span, "cannot access field '" + name + "' of a value of type '" +
                                base->type->to_string() + "' (only records have fields)");
    }
    int idx = base->type->field_index(name);
    if (idx < 0) {
      std::vector<std::string> names;
      for (const auto& f : base->type->fields) names.push_back(f.name);
      std::string near = nearest_names(name, names);
      std::string all;
      for (const auto& f : names) all += (all.empty() ? "" : ", ") + f;
      return error_at(span, "no field named '" + name + "' in record with fields [" + all + "]" +
                                (near.empty() ? "" : "; nearest matches: " + near));
    }
    auto n = make(Op::kField, base->type->fields[static_cast<size_t>(idx)].type, span);
    n->names.push_back(name);
    n->args.push_back(base);
    n->continuous = base->continuous;
    n->grouping = base->grouping;
    return n;
  }

  NodePtr resolve_name(const Expr& e, std::vector<Binding>& scope) {
    for (auto it = scope.rbegin(); it != scope.rend(); ++it) {
      if (it->name == e.text) {
        it->used = true;
        return it->node;
      }
    }
    if (auto v = resolve_view(e.text, e.span)) return *v;
    for (size_t i = 0; i < plan_.tables.size(); ++i) {
      if (plan_.tables[i].name == e.text) {
        auto n = make(Op::kTable, plan_.tables[i].type, e.span);
        n->table = static_cast<int>(i);
        n->grouping = plan_.tables[i].grouping;
        n->continuous = false;
        return n;
      }
    }
    std::vector<std::string> cands;
    for (const auto& b : scope) {
      if (b.name != "$input") cands.push_back(b.name);
    }
    for (const auto& v : views_) cands.push_back(v.name);
    for (const auto& t : plan_.tables) cands.push_back(t.name);
    std::string near = nearest_names(e.text, cands);
    return error_at(e.span, "unbound reference '" + e.text + "'" +
                                (near.empty() ? "" : "; nearest matches: " + near));
  }

  // Returns the compiled view, nullopt if `name` is not a view, or nullptr on error.
  std::optional<NodePtr> resolve_view(const std::string& name, Span use) {
    const ViewDecl* decl = nullptr;
    for (const auto& v : views_) {
      if (v.name == name) decl = &v;
    }
    if (!decl) return std::nullopt;
    if (auto it = view_nodes_.find(name); it != view_nodes_.end()) return it->second;
    if (in_progress_.count(name))
      return error_at(use, "circular dependency through view '" + name + "'");
    in_progress_.insert(name);
    Compiler sub(decl->expression, {}, views_);
    sub.plan_ = plan_;
    sub.plan_.root = nullptr;
    sub.in_progress_ = in_progress_;
    sub.view_nodes_ = view_nodes_;
    auto parsed = parse_expression(decl->expression);
    NodePtr node;
    if (!parsed) {
      view_error_ = "in view '" + name + "': " + render(parsed.error(), decl->expression);
    } else {
      std::vector<Binding> scope;
      node = sub.compile(**parsed, scope);
      if (!node) {
        view_error_ =
            "in view '" + name + "': " + to_status(sub.diags_, decl->expression).message();
        if (!sub.view_error_.empty()) view_error_ = sub.view_error_;
      } else {
        plan_.groupings = sub.plan_.groupings;
      }
    }
    in_progress_.erase(name);
    if (!node) return error_at(use, "view '" + name + "' does not compile");
    view_nodes_[name] = node;
    return node;
  }

  bool combine_groupings(Node& n, Span span) {
    int g = -1;
    for (const auto& a : n.args) {
      if (a->grouping < 0) continue;
      if (g >= 0 && g != a->grouping) {
        error_at(span, "cannot combine values of grouping '" +
                           plan_.groupings[static_cast<size_t>(g)].name +
                           "' with values of grouping '" +
                           plan_.groupings[static_cast<size_t>(a->grouping)].name +
                           "'; use lookup() or with_key() to move values between groupings");
        return false;
      }
      g = a->grouping;
    }
    n.grouping = g;
    bool cont = true;
    for (const auto& a : n.args) cont = cont && a->continuous;
    n.continuous = cont;
    return true;
  }

  NodePtr call(const Expr& e, std::vector<Binding>& scope) {
    auto it = catalog().find(e.text);
    if (it == catalog().end()) {
      std::vector<std::string> names;
      for (const auto& [k, v] : catalog()) names.push_back(k);
      std::string near = nearest_names(e.text, names);
      return error_at(e.span, "undefined function '" + e.text + "'" +
                                  (near.empty() ? "" : "; nearest matches: " + near));
    }
    const Signature& sig = it->second;
    // Bind arguments (docs/fenl.md#argument-binding).
    std::vector<const Arg*> positional;
    std::vector<const Arg*> keyword;
    for (const auto& a : e.args) {
      if (a.name.empty()) {
        if (!keyword.empty())
          return error_at(a.value->span, "positional arguments must come before keyword arguments");
        positional.push_back(&a);
      } else {
        keyword.push_back(&a);
      }
    }
    Binding* input = nullptr;
    for (auto s = scope.rbegin(); s != scope.rend(); ++s) {
      if (s->name == "$input") {
        input = &*s;
        break;
      }
    }
    bool variadic = !sig.params.empty() && sig.params.back().variadic;
    bool used_input = false;
    size_t next_pos = 0;
    struct Bound {
      const Expr* expr = nullptr;
      NodePtr implicit;               // $input or default null
      std::vector<const Expr*> rest;  // variadic
    };
    std::vector<Bound> bound(sig.params.size());
    std::vector<bool> kw_used(keyword.size(), false);
    for (size_t p = 0; p < sig.params.size(); ++p) {
      const ParamSig& ps = sig.params[p];
      int kw = -1;
      for (size_t k = 0; k < keyword.size(); ++k) {
        if (keyword[k]->name == ps.name) kw = static_cast<int>(k);
      }
      if (kw >= 0) {
        if (next_pos < positional.size()) {
          return error_at(keyword[static_cast<size_t>(kw)]->name_span,
                          "keyword argument '" + ps.name +
                              "' given while positional arguments remain unbound in " + sig.text);
        }
        if (kw_used[static_cast<size_t>(kw)])
          return error_at(e.span, "argument '" + ps.name + "' given twice");
        kw_used[static_cast<size_t>(kw)] = true;
        bound[p].expr = keyword[static_cast<size_t>(kw)]->value.get();
        continue;
      }
      if (ps.has_default) {
        if (next_pos < positional.size()) {
          return error_at(positional[next_pos]->value->span,
                          "optional parameter '" + ps.name + "' must be passed by keyword (" +
                              ps.name + " = ...) in " + sig.text);
        }
        auto n = make(Op::kLiteral, Type::of(Kind::kNull), e.span);
        n->continuous = true;
        bound[p].implicit = n;
        continue;
      }
      if (ps.variadic) {
        while (next_pos < positional.size())
          bound[p].rest.push_back(positional[next_pos++]->value.get());
        if (bound[p].rest.empty())
          return error_at(e.span, "'" + sig.name + "' needs at least one '" + ps.name +
                                      "' argument: " + sig.text);
        continue;
      }
      if (next_pos < positional.size()) {
        bound[p].expr = positional[next_pos++]->value.get();
        continue;
      }
      if (!variadic && !used_input && input) {
        used_input = true;
        input->used = true;
        bound[p].implicit = input->node;
        continue;
      }
      return error_at(e.span, "missing argument '" + ps.name + "' for " + sig.text);
    }
    if (next_pos < positional.size()) {
      return error_at(positional[next_pos]->value->span, "too many arguments for " + sig.text);
    }
    for (size_t k = 0; k < keyword.size(); ++k) {
      if (!kw_used[k]) {
        return error_at(keyword[k]->name_span, "'" + sig.name + "' has no parameter named '" +
                                                   keyword[k]->name + "': " + sig.text);
      }
    }

    // Compile arguments; const parameters must be literals.
    std::vector<NodePtr> args;
    std::vector<size_t> param_of;  // parameter index of each arg
    std::vector<std::string> const_strings;
    int64_t const_int = 0;
    bool ok = true;
    for (size_t p = 0; p < sig.params.size(); ++p) {
      const ParamSig& ps = sig.params[p];
      std::vector<const Expr*> exprs;
      if (bound[p].expr) exprs.push_back(bound[p].expr);
      for (auto* r : bound[p].rest) exprs.push_back(r);
      if (bound[p].implicit) {
        args.push_back(bound[p].implicit);
        param_of.push_back(p);
        continue;
      }
      for (const Expr* x : exprs) {
        if (ps.is_const) {
          const Expr* lit = x;
          bool neg = false;
          if (lit->kind == ExprKind::kCall && lit->text == "neg" && lit->is_operator) {
            neg = true;
            lit = lit->args[0].value.get();
          }
          bool is_lit = lit->kind == ExprKind::kNumber || lit->kind == ExprKind::kString ||
                        lit->kind == ExprKind::kNull || lit->kind == ExprKind::kBool;
          if (!is_lit) {
            error_at(x->span,
                     "argument '" + ps.name + "' of '" + sig.name + "' must be a constant literal");
            ok = false;
            continue;
          }
          if (ps.type == "string") {
            if (lit->kind != ExprKind::kString && lit->kind != ExprKind::kNull) {
              error_at(x->span,
                       "argument '" + ps.name + "' of '" + sig.name + "' must be a string literal");
              ok = false;
              continue;
            }
            const_strings.push_back(lit->text);
          } else if (ps.type == "i64") {
            if (lit->kind != ExprKind::kNumber || lit->text.find('.') != std::string::npos) {
              error_at(x->span, "argument '" + ps.name + "' of '" + sig.name +
                                    "' must be an integer literal");
              ok = false;
              continue;
            }
            const_int = std::strtoll(lit->text.c_str(), nullptr, 10) * (neg ? -1 : 1);
          }
        }
        NodePtr n = compile(*x, scope);
        if (!n) {
          ok = false;
          continue;
        }
        args.push_back(n);
        param_of.push_back(p);
      }
    }
    if (!ok) return nullptr;
    return type_call(sig, e, std::move(args), param_of, const_strings, const_int);
  }

  NodePtr type_call(const Signature& sig, const Expr& e, std::vector<NodePtr> args,
                    const std::vector<size_t>& param_of,
                    const std::vector<std::string>& const_strings, int64_t const_int) {
    const std::string& fn = sig.name;
    auto n = make(Op::kCall, nullptr, e.span);
    n->fn = fn;
    n->const_int = const_int;
    // Records.
    if (fn == "extend" || fn == "select_fields" || fn == "remove_fields") {
      for (size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        if (sig.params[param_of[i]].type != "record") continue;
        if (a->type->kind != Kind::kRecord && a->type->kind != Kind::kNull) {
          return error_at(a->span,
                          "'" + fn + "' expects a record but got '" + a->type->to_string() + "'");
        }
      }
      if (fn == "extend") {
        std::vector<TypeField> fs = args[0]->type->fields;
        for (const auto& f : args[1]->type->fields) {
          if (args[0]->type->field_index(f.name) < 0) fs.push_back(f);
        }
        if (fs.empty()) return error_at(e.span, "extend produces a record with no fields");
        n->type = Type::record(std::move(fs));
        n->args = {args[0], args[1]};
      } else {
        const Type& rt = *args[0]->type;
        for (const auto& name : const_strings) {
          if (rt.field_index(name) < 0)
            return error_at(e.span, "record has no field '" + name + "'");
        }
        std::vector<TypeField> fs;
        for (const auto& f : rt.fields) {
          bool listed =
              std::find(const_strings.begin(), const_strings.end(), f.name) != const_strings.end();
          if (listed == (fn == "select_fields")) fs.push_back(f);
        }
        if (fs.empty()) return error_at(e.span, "'" + fn + "' leaves no fields");
        n->names.clear();
        for (const auto& f : fs) n->names.push_back(f.name);
        n->type = Type::record(std::move(fs));
        n->args = {args[0]};
      }
      if (!combine_groupings(*n, e.span)) return nullptr;
      return n;
    }
    // Unify type variables.
    std::map<std::string, TypeRef> var_types;
    for (size_t i = 0; i < args.size(); ++i) {
      const ParamSig& ps = sig.params[param_of[i]];
      if (args[i]->type->kind == Kind::kWindow && ps.type != "window") {
        return error_at(args[i]->span,
                        "a window can only be passed to an aggregation's 'window' argument");
      }
      auto v = sig.vars.find(ps.type);
      if (v == sig.vars.end()) continue;
      auto& cur = var_types[ps.type];
      if (!cur) {
        cur = args[i]->type;
      } else {
        auto l = least_upper_bound(cur, args[i]->type);
        if (!l) {
          return error_at(e.span, "incompatible argument types '" + cur->to_string() + "' and '" +
                                      args[i]->type->to_string() + "' for " + sig.text);
        }
        cur = l;
      }
    }
    for (auto& [var, t] : var_types) {
      const std::string& cls = sig.vars.at(var);
      if (!class_accepts(cls, *t)) {
        Span where = e.span;
        for (size_t i = 0; i < args.size(); ++i) {
          if (sig.params[param_of[i]].type == var) where = args[i]->span;
        }
        return error_at(where, "'" + fn + "' expects '" + cls + "' for " + var + " but got '" +
                                   t->to_string() + "': " + sig.text);
      }
      t = class_promote(cls, t);
    }
    // Check / cast each argument.
    for (size_t i = 0; i < args.size(); ++i) {
      const ParamSig& ps = sig.params[param_of[i]];
      TypeRef want;
      if (auto v = var_types.find(ps.type); v != var_types.end()) {
        want = v->second;
      } else if (ps.type == "window") {
        if (args[i]->type->kind != Kind::kWindow && args[i]->type->kind != Kind::kNull) {
          return error_at(args[i]->span, "argument 'window' must be since(...) or sliding(...)");
        }
        continue;
      } else {
        want = parse_type_name(ps.type);
        if (!want) continue;
        if (!implicitly_castable(*args[i]->type, *want)) {
          return error_at(args[i]->span, "argument '" + ps.name + "' of '" + fn + "' expects '" +
                                             want->to_string() + "' but got '" +
                                             args[i]->type->to_string() + "'");
        }
      }
      args[i] = cast(args[i], want);  // null arguments become typed all-null columns
    }
    // Result type.
    if (auto v = var_types.find(sig.result); v != var_types.end()) {
      n->type = v->second;
    } else if (sig.result == "window") {
      n->type = Type::of(Kind::kWindow);
    } else if (sig.result == "json") {
      n->type = Type::of(Kind::kJson);
    } else {
      n->type = parse_type_name(sig.result);
      if (!n->type) n->type = Type::of(Kind::kNull);
    }
    if (fn == "neg" && n->type->kind == Kind::kU32) n->type = Type::of(Kind::kI64);
    if (fn == "with_key" && !const_strings.empty()) n->names = const_strings;
    if (fn == "shift_by") {
      // shift_by(delta, value) == shift_to(add_time(delta, time_of(value)), value)
      auto tof = make(Op::kCall, Type::of(Kind::kTimestamp), e.span);
      tof->fn = "time_of";
      tof->args = {args[1]};
      tof->grouping = args[1]->grouping;
      auto at = make(Op::kCall, Type::of(Kind::kTimestamp), e.span);
      at->fn = "add_time";
      at->args = {args[0], tof};
      if (!combine_groupings(*at, e.span)) return nullptr;
      n->fn = "shift_to";
      args = {at, args[1]};
    }
    n->args = std::move(args);
    // Grouping and continuity.
    if (fn == "lookup") {
      const NodePtr& key = n->args[0];
      const NodePtr& val = n->args[1];
      if (val->grouping >= 0) {
        const auto& kt = plan_.groupings[static_cast<size_t>(val->grouping)].key_type;
        if (!same_type(*kt, *key->type) && key->type->kind != Kind::kNull) {
          return error_at(key->span, "lookup key has type '" + key->type->to_string() +
                                         "' but grouping '" +
                                         plan_.groupings[static_cast<size_t>(val->grouping)].name +
                                         "' is keyed by '" + kt->to_string() + "'");
        }
      }
      n->grouping = key->grouping;
      n->continuous = val->continuous;
      return n;
    }
    if (fn == "with_key") {
      std::string gname =
          n->names.empty() || n->names[0].empty() ? n->args[0]->type->to_string() : n->names[0];
      if (!combine_groupings(*n, e.span)) return nullptr;
      n->grouping = grouping_id(gname, n->args[0]->type);
      if (!grouping_errors_.empty()) {
        std::string m = grouping_errors_;
        grouping_errors_.clear();
        return error_at(e.span, m);
      }
      n->continuous = n->args[1]->continuous;
      return n;
    }
    if (!combine_groupings(*n, e.span)) return nullptr;
    if (is_aggregation(fn) || fn == "lag") {
      n->continuous = true;
    } else if (fn == "time_of" || fn == "when" || fn == "shift_to" || fn == "shift_until" ||
               is_tick(fn)) {
      n->continuous = false;
    }
    if (fn == "sliding" && const_int <= 0)
      return error_at(e.span, "sliding() needs a positive number of segments");
    if (fn == "lag" && (const_int < 0 || const_int > 100'000)) {
      return error_at(e.span, "lag() needs 0 <= n <= 100000");
    }
    if (fn == "sliding" && const_int > 100'000)
      return error_at(e.span, "sliding() allows at most 100000 segments");
    if ((fn == "first" || fn == "last") && n->args.size() > 1 && n->args[1]->op == Op::kCall &&
        n->args[1]->fn == "sliding") {
      return error_at(e.span, "'" + fn + "' does not support sliding windows");
    }
    return n;
  }

  std::string_view text_;
  const std::vector<ViewDecl>& views_;
  bool require_record_ = false;
  Plan plan_;
  std::vector<Diagnostic> diags_;
  std::vector<Diagnostic> warnings_;
  std::set<std::pair<const Node*, bool>> tick_checked_;
  std::string grouping_errors_;
  std::string view_error_;
  std::unordered_set<std::string> in_progress_;
  std::unordered_map<std::string, NodePtr> view_nodes_;
};

}  // namespace

bool is_aggregation(std::string_view fn) {
  const FunctionDef* f = find_function(fn);
  return f && f->kind == FnKind::kAggregation;
}

bool is_tick(std::string_view fn) {
  const FunctionDef* f = find_function(fn);
  return f && f->kind == FnKind::kTick;
}

Result<Plan> compile_plan(std::string_view query, const std::vector<TableDecl>& tables,
                          const std::vector<ViewDecl>& views, bool require_record) {
  std::unordered_set<std::string> names;
  for (const auto& v : views) {
    if (!names.insert(v.name).second)
      return error(StatusCode::kTypeError, "view '" + v.name + "' is defined twice");
    bool ok = !v.name.empty() &&
              (std::isalpha(static_cast<unsigned char>(v.name[0])) || v.name[0] == '_');
    for (char c : v.name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok) return error(StatusCode::kTypeError, "invalid view name '" + v.name + "'");
  }
  return Compiler(query, tables, views, require_record).run();
}

}  // namespace tideline::fenl
