#include "fenl/parser.h"

#include <cstdint>
#include <unordered_map>

#include "fenl/types.h"

namespace tideline::fenl {

namespace {

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kEnd:
      return "end of input";
    case TokenKind::kIdent:
      return "identifier '" + t.text + "'";
    case TokenKind::kNumber:
      return "number '" + t.text + t.suffix + "'";
    case TokenKind::kString:
      return "string literal";
    default:
      return "'" + t.text + "'";
  }
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || is_digit(c);
}

}  // namespace

bool tokenize(std::string_view s, std::vector<Token>& out, Diagnostic& diag) {
  static const std::unordered_map<std::string_view, TokenKind> kKeywords = {
      {"let", TokenKind::kLet},   {"in", TokenKind::kIn},       {"and", TokenKind::kAnd},
      {"or", TokenKind::kOr},     {"as", TokenKind::kAs},       {"const", TokenKind::kConst},
      {"true", TokenKind::kTrue}, {"false", TokenKind::kFalse}, {"null", TokenKind::kNull},
  };
  auto fail = [&](size_t pos, size_t len, std::string msg) {
    diag = Diagnostic{Stage::kParse,
                      {static_cast<int32_t>(pos), static_cast<int32_t>(pos + len)},
                      std::move(msg),
                      ""};
    return false;
  };
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    Token t;
    size_t start = i;
    if (is_ident_start(c)) {
      while (i < s.size() && is_ident_char(s[i])) ++i;
      t.text = std::string(s.substr(start, i - start));
      auto it = kKeywords.find(t.text);
      t.kind = it == kKeywords.end() ? TokenKind::kIdent : it->second;
    } else if (c == '$') {
      ++i;
      while (i < s.size() && is_ident_char(s[i])) ++i;
      t.text = std::string(s.substr(start, i - start));
      if (t.text != "$input")
        return fail(start, i - start, "unknown token '" + t.text + "' (only $input is allowed)");
      t.kind = TokenKind::kInput;
    } else if (is_digit(c)) {
      while (i < s.size() && is_digit(s[i])) ++i;
      if (i < s.size() && s[i] == '.') {
        if (i + 1 >= s.size() || !is_digit(s[i + 1])) {
          return fail(i, 1, "expected digits after '.' in number");
        }
        ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
      }
      t.text = std::string(s.substr(start, i - start));
      size_t suf = i;
      while (i < s.size() && is_ident_char(s[i])) ++i;
      t.suffix = std::string(s.substr(suf, i - suf));
      if (!t.suffix.empty()) {
        static const char* kSuffixes[] = {"i8",  "u8",  "i16", "u16", "i32",
                                          "u32", "f32", "i64", "u64", "f64"};
        bool ok = false;
        for (const char* k : kSuffixes) ok = ok || t.suffix == k;
        if (!ok) return fail(suf, i - suf, "invalid number suffix '" + t.suffix + "'");
        if (t.text.find('.') != std::string::npos && t.suffix[0] != 'f') {
          return fail(start, i - start,
                      "a number with a fraction needs a float suffix (f32 or f64)");
        }
      }
      t.kind = TokenKind::kNumber;
    } else if (c == '"' || c == '\'') {
      ++i;
      std::string v;
      bool closed = false;
      while (i < s.size()) {
        char d = s[i];
        if (d == c) {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\') {
          if (i + 1 >= s.size()) break;
          char e = s[i + 1];
          switch (e) {
            case '"':
              v += '"';
              break;
            case '\'':
              v += '\'';
              break;
            case '\\':
              v += '\\';
              break;
            case 'n':
              v += '\n';
              break;
            case 'r':
              v += '\r';
              break;
            case 't':
              v += '\t';
              break;
            default:
              return fail(i, 2, std::string("invalid escape '\\") + e + "' in string");
          }
          i += 2;
          continue;
        }
        v += d;
        ++i;
      }
      if (!closed) return fail(start, 1, "unterminated string literal");
      t.kind = TokenKind::kString;
      t.text = std::move(v);
    } else {
      auto two = s.substr(i, 2);
      struct Sym {
        std::string_view text;
        TokenKind kind;
      };
      static constexpr Sym kSyms[] = {
          {"<=", TokenKind::kLe},      {">=", TokenKind::kGe},    {"==", TokenKind::kEqEq},
          {"!=", TokenKind::kNe},      {"<>", TokenKind::kNe},    {"->", TokenKind::kArrow},
          {"+", TokenKind::kPlus},     {"-", TokenKind::kMinus},  {"*", TokenKind::kStar},
          {"/", TokenKind::kSlash},    {"|", TokenKind::kPipe},   {".", TokenKind::kDot},
          {",", TokenKind::kComma},    {"(", TokenKind::kLParen}, {")", TokenKind::kRParen},
          {"{", TokenKind::kLBrace},   {"}", TokenKind::kRBrace}, {"[", TokenKind::kLBracket},
          {"]", TokenKind::kRBracket}, {"<", TokenKind::kLt},     {">", TokenKind::kGt},
          {"!", TokenKind::kBang},     {"=", TokenKind::kAssign}, {":", TokenKind::kColon},
      };
      bool found = false;
      for (const auto& sym : kSyms) {
        if ((sym.text.size() == 2 && two == sym.text) ||
            (sym.text.size() == 1 && c == sym.text[0])) {
          t.kind = sym.kind;
          t.text = std::string(sym.text);
          i += sym.text.size();
          found = true;
          break;
        }
      }
      if (!found) {
        if (c == '\r') return fail(i, 1, "unexpected carriage return (use LF line endings)");
        std::string shown =
            (static_cast<unsigned char>(c) < 32) ? "\\x" + std::to_string(+c) : std::string(1, c);
        return fail(i, 1, "unexpected character '" + shown + "'");
      }
    }
    t.span = {static_cast<int32_t>(start), static_cast<int32_t>(i)};
    out.push_back(std::move(t));
  }
  Token end;
  end.kind = TokenKind::kEnd;
  end.span = {static_cast<int32_t>(s.size()), static_cast<int32_t>(s.size())};
  out.push_back(end);
  return true;
}

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  std::expected<ExprPtr, Diagnostic> run() {
    auto e = expr();
    if (!e) return std::unexpected(diag_);
    if (peek().kind != TokenKind::kEnd) {
      fail(peek(), "expected an operator or end of input but found " + describe(peek()) + hint());
      return std::unexpected(diag_);
    }
    return e;
  }

 private:
  const Token& peek(size_t k = 0) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  const Token& next() { return toks_[std::min(pos_++, toks_.size() - 1)]; }
  bool accept(TokenKind k) {
    if (peek().kind == k) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::nullptr_t fail(const Token& t, std::string msg) {
    if (!failed_) {
      diag_ = Diagnostic{Stage::kParse, t.span, std::move(msg), ""};
      if (t.kind == TokenKind::kEnd) diag_.span.end = diag_.span.begin + 1;
      failed_ = true;
    }
    return nullptr;
  }
  // A hint for an unexpected token: '=' where '==' was meant, or an operator right after a
  // cast (which applies to everything before it).
  std::string hint() const {
    if (peek().kind == TokenKind::kAssign) return " (use '==' to compare values)";
    if (pos_ == after_cast_ && pos_ > 0 && is_binary_operator(peek().kind))
      return " (a cast applies to the whole expression before 'as'; write '(e as " +
             toks_[pos_ - 1].text + ") " + peek().text + " ...')";
    return "";
  }
  static bool is_binary_operator(TokenKind k) {
    switch (k) {
      case TokenKind::kPlus:
      case TokenKind::kMinus:
      case TokenKind::kStar:
      case TokenKind::kSlash:
      case TokenKind::kLt:
      case TokenKind::kGt:
      case TokenKind::kLe:
      case TokenKind::kGe:
      case TokenKind::kEqEq:
      case TokenKind::kNe:
      case TokenKind::kAnd:
      case TokenKind::kOr:
      case TokenKind::kDot:
      case TokenKind::kLBracket:
        return true;
      default:
        return false;
    }
  }
  bool expect(TokenKind k, const char* what) {
    if (accept(k)) return true;
    fail(peek(), std::string("expected ") + what + " but found " + describe(peek()) + hint());
    return false;
  }
  static std::shared_ptr<Expr> make(ExprKind k, Span s) {
    auto e = std::make_shared<Expr>();
    e->kind = k;
    e->span = s;
    return e;
  }
  static ExprPtr call(std::string fn, Span s, std::vector<ExprPtr> args) {
    auto e = make(ExprKind::kCall, s);
    e->text = std::move(fn);
    e->is_operator = true;
    for (auto& a : args) e->args.push_back({"", std::move(a), {}});
    return e;
  }
  static Span join(const ExprPtr& a, const ExprPtr& b) { return {a->span.begin, b->span.end}; }

  // Level 1: e as T (docs/fenl.md#syntax). A cast applies to the whole pipe or let before
  // it, as in the reference grammar, wherever an expression may stand: a let binding's
  // value, a call argument, a record field, an index, parentheses. Beyond the reference,
  // casts chain (`e as i64 as f64`) and a cast may be piped on (`e as i64 | sum()` is
  // `(e as i64) | sum()`).
  ExprPtr expr() {
    if (++depth_ > 200) return fail(peek(), "expression nests too deeply");
    auto e = pipe();
    while (e) {
      if (accept(TokenKind::kAs)) {
        e = cast(e);
      } else if (pos_ == after_cast_ && accept(TokenKind::kPipe)) {
        auto rhs = pipe();
        if (!rhs) {
          e = nullptr;
          break;
        }
        auto p = make(ExprKind::kPipe, join(e, rhs));
        p->base = e;
        p->rhs = rhs;
        e = p;
      } else {
        break;
      }
    }
    --depth_;
    return e;
  }

  // The type name after 'as' (already consumed): the cast of `e`, or an error at the name.
  ExprPtr cast(const ExprPtr& e) {
    const Token& t = peek();
    if (t.kind != TokenKind::kIdent)
      return fail(t, "expected a type name after 'as' but found " + describe(t));
    if (!parse_type_name(t.text)) {
      static const char* kUnsupported[] = {"i8", "u8", "i16", "u16", "date32", "date64"};
      for (const char* u : kUnsupported) {
        if (t.text == u)
          return fail(t, "type '" + t.text + "' is not supported (use i32, i64, u32 or u64)");
      }
      std::string near = nearest_names(t.text, type_names());
      return fail(t, "unknown type '" + t.text + "' after 'as'" +
                         (near.empty() ? "" : "; nearest matches: " + near));
    }
    next();
    after_cast_ = pos_;
    auto c = make(ExprKind::kCast, {e->span.begin, t.span.end});
    c->base = e;
    c->text = t.text;
    return c;
  }

  // Level 2: pipe and let (right associative). A let's binding values and body are whole
  // expressions (casts included); the body extends as far as possible.
  ExprPtr pipe() {
    if (peek().kind == TokenKind::kLet) {
      auto let = make(ExprKind::kLet, peek().span);
      while (accept(TokenKind::kLet)) {
        const Token& n = peek();
        if (n.kind != TokenKind::kIdent)
          return fail(n, "expected a name after 'let' but found " + describe(n));
        next();
        if (!expect(TokenKind::kAssign, "'='")) return nullptr;
        auto v = expr();
        if (!v) return nullptr;
        let->args.push_back({n.text, v, n.span});
      }
      if (!expect(TokenKind::kIn, "'let' or 'in'")) return nullptr;
      auto body = expr();
      if (!body) return nullptr;
      let->base = body;
      let->span.end = body->span.end;
      return let;
    }
    auto lhs = logic_or();
    if (!lhs) return nullptr;
    if (accept(TokenKind::kPipe)) {
      auto rhs = pipe();
      if (!rhs) return nullptr;
      auto p = make(ExprKind::kPipe, join(lhs, rhs));
      p->base = lhs;
      p->rhs = rhs;
      return p;
    }
    return lhs;
  }

  template <typename Sub>
  ExprPtr binary(Sub sub, std::initializer_list<std::pair<TokenKind, const char*>> ops) {
    auto lhs = (this->*sub)();
    if (!lhs) return nullptr;
    for (;;) {
      const char* fn = nullptr;
      for (auto& [k, f] : ops) {
        if (peek().kind == k) fn = f;
      }
      if (!fn) return lhs;
      next();
      auto rhs = (this->*sub)();
      if (!rhs) return nullptr;
      lhs = call(fn, join(lhs, rhs), {lhs, rhs});
    }
  }
  ExprPtr logic_or() { return binary(&Parser::logic_and, {{TokenKind::kOr, "logical_or"}}); }
  ExprPtr logic_and() { return binary(&Parser::equality, {{TokenKind::kAnd, "logical_and"}}); }
  ExprPtr equality() {
    return binary(&Parser::comparison, {{TokenKind::kEqEq, "eq"}, {TokenKind::kNe, "neq"}});
  }
  ExprPtr comparison() {
    return binary(&Parser::additive, {{TokenKind::kLt, "lt"},
                                      {TokenKind::kGt, "gt"},
                                      {TokenKind::kLe, "lte"},
                                      {TokenKind::kGe, "gte"}});
  }
  ExprPtr additive() {
    return binary(&Parser::multiplicative, {{TokenKind::kPlus, "add"}, {TokenKind::kMinus, "sub"}});
  }
  ExprPtr multiplicative() {
    return binary(&Parser::unary, {{TokenKind::kStar, "mul"}, {TokenKind::kSlash, "div"}});
  }

  ExprPtr unary() {
    const Token& t = peek();
    if (t.kind == TokenKind::kMinus || t.kind == TokenKind::kBang) {
      if (++depth_ > 200) return fail(t, "expression nests too deeply");
      next();
      auto operand = unary();
      --depth_;
      if (!operand) return nullptr;
      return call(t.kind == TokenKind::kMinus ? "neg" : "not", {t.span.begin, operand->span.end},
                  {operand});
    }
    return postfix();
  }

  ExprPtr postfix() {
    auto e = primary();
    while (e) {
      if (accept(TokenKind::kDot)) {
        const Token& f = peek();
        if (f.kind != TokenKind::kIdent)
          return fail(f, "expected a field name after '.' but found " + describe(f));
        next();
        auto fe = make(ExprKind::kField, {e->span.begin, f.span.end});
        fe->base = e;
        fe->text = f.text;
        e = fe;
      } else if (peek().kind == TokenKind::kLBracket) {
        next();
        auto idx = expr();
        if (!idx) return nullptr;
        const Token& close = peek();
        if (!expect(TokenKind::kRBracket, "']'")) return nullptr;
        e = call("index", {e->span.begin, close.span.end}, {e, idx});
      } else {
        break;
      }
    }
    return e;
  }

  ExprPtr primary() {
    const Token& t = peek();
    switch (t.kind) {
      case TokenKind::kNumber: {
        next();
        auto e = make(ExprKind::kNumber, t.span);
        e->text = t.text;
        e->suffix = t.suffix;
        return e;
      }
      case TokenKind::kString: {
        next();
        auto e = make(ExprKind::kString, t.span);
        e->text = t.text;
        return e;
      }
      case TokenKind::kTrue:
      case TokenKind::kFalse: {
        next();
        auto e = make(ExprKind::kBool, t.span);
        e->text = t.text;
        return e;
      }
      case TokenKind::kNull:
        next();
        return make(ExprKind::kNull, t.span);
      case TokenKind::kInput:
        next();
        return make(ExprKind::kInput, t.span);
      case TokenKind::kLParen: {
        next();
        auto e = expr();
        if (!e) return nullptr;
        if (!expect(TokenKind::kRParen, "')'")) return nullptr;
        return e;
      }
      case TokenKind::kLBrace:
        return record();
      case TokenKind::kIdent: {
        next();
        if (peek().kind == TokenKind::kLParen) return call_args(t);
        auto e = make(ExprKind::kName, t.span);
        e->text = t.text;
        return e;
      }
      default:
        return fail(t, "expected an expression but found " + describe(t));
    }
  }

  ExprPtr call_args(const Token& name) {
    next();  // (
    auto e = make(ExprKind::kCall, name.span);
    e->text = name.text;
    while (peek().kind != TokenKind::kRParen) {
      Arg a;
      if (peek().kind == TokenKind::kIdent && peek(1).kind == TokenKind::kAssign) {
        a.name = peek().text;
        a.name_span = peek().span;
        next();
        next();
      }
      a.value = expr();
      if (!a.value) return nullptr;
      e->args.push_back(std::move(a));
      if (!accept(TokenKind::kComma)) break;
    }
    const Token& close = peek();
    if (!expect(TokenKind::kRParen, "',' or ')'")) return nullptr;
    e->span.end = close.span.end;
    return e;
  }

  ExprPtr record() {
    const Token& open = next();
    auto e = make(ExprKind::kRecord, open.span);
    while (peek().kind != TokenKind::kRBrace) {
      const Token& n = peek();
      if (n.kind != TokenKind::kIdent)
        return fail(n, "expected a field name but found " + describe(n));
      next();
      Arg a;
      a.name = n.text;
      a.name_span = n.span;
      if (accept(TokenKind::kColon)) {
        a.value = expr();
        if (!a.value) return nullptr;
      } else {
        auto v = make(ExprKind::kName, n.span);
        v->text = n.text;
        a.value = v;
      }
      e->args.push_back(std::move(a));
      if (!accept(TokenKind::kComma)) break;
    }
    const Token& close = peek();
    if (!expect(TokenKind::kRBrace, "',' or '}'")) return nullptr;
    e->span.end = close.span.end;
    return e;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  size_t after_cast_ = SIZE_MAX;  // token position just after the latest cast's type name
  bool failed_ = false;
  Diagnostic diag_;
};

}  // namespace

std::expected<ExprPtr, Diagnostic> parse_expression(std::string_view text) {
  std::vector<Token> toks;
  Diagnostic d;
  if (!tokenize(text, toks, d)) return std::unexpected(d);
  return Parser(std::move(toks)).run();
}

Result<ExprPtr> parse(std::string_view text) {
  auto r = parse_expression(text);
  if (!r) return std::unexpected(to_status({r.error()}, text));
  return *r;
}

}  // namespace tideline::fenl

namespace tideline::fenl {

std::string debug_string(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kNumber:
      return e.text + e.suffix;
    case ExprKind::kString:
      return "\"" + e.text + "\"";
    case ExprKind::kBool:
      return e.text;
    case ExprKind::kNull:
      return "null";
    case ExprKind::kName:
      return e.text;
    case ExprKind::kInput:
      return "$input";
    case ExprKind::kField:
      return "(. " + debug_string(*e.base) + " " + e.text + ")";
    case ExprKind::kCast:
      return "(as " + debug_string(*e.base) + " " + e.text + ")";
    case ExprKind::kPipe:
      return "(| " + debug_string(*e.base) + " " + debug_string(*e.rhs) + ")";
    case ExprKind::kCall:
    case ExprKind::kRecord:
    case ExprKind::kLet: {
      std::string s = e.kind == ExprKind::kCall     ? "(" + e.text
                      : e.kind == ExprKind::kRecord ? "{"
                                                    : "(let";
      for (const auto& a : e.args) {
        s += " ";
        if (!a.name.empty()) s += a.name + (e.kind == ExprKind::kRecord ? ":" : "=");
        s += debug_string(*a.value);
      }
      if (e.kind == ExprKind::kLet) s += " in " + debug_string(*e.base);
      if (e.kind == ExprKind::kRecord) return "{" + s.substr(s.size() > 1 ? 2 : 1) + "}";
      return s + ")";
    }
  }
  return "?";
}

}  // namespace tideline::fenl
