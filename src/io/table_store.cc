#include "io/table_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "common/time.h"

namespace tideline::io {

std::string_view cql_type_name(CqlType t) {
  switch (t) {
    case CqlType::kInt:
      return "int";
    case CqlType::kBigint:
      return "bigint";
    case CqlType::kText:
      return "text";
    case CqlType::kTimestamp:
      return "timestamp";
    case CqlType::kDouble:
      return "double";
    case CqlType::kFloat:
      return "float";
    case CqlType::kBoolean:
      return "boolean";
  }
  return "?";
}

TypeId type_for_cql(CqlType t) {
  switch (t) {
    case CqlType::kInt:
      return TypeId::kI32;
    case CqlType::kBigint:
      return TypeId::kI64;
    case CqlType::kText:
      return TypeId::kString;
    case CqlType::kTimestamp:
      return TypeId::kTimestamp;
    case CqlType::kDouble:
      return TypeId::kF64;
    case CqlType::kFloat:
      return TypeId::kF32;
    case CqlType::kBoolean:
      return TypeId::kBool;
  }
  return TypeId::kNull;
}

TypePtr TableSchema::batch_type() const {
  std::vector<Field> fields;
  fields.reserve(columns.size());
  for (const auto& c : columns) fields.push_back(Field{c.name, DataType::of(type_for_cql(c.type))});
  return DataType::record(std::move(fields));
}

int TableSchema::column_index(std::string_view n) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == n) return static_cast<int>(i);
  }
  return -1;
}

std::string fill_statement_template(std::string_view text, std::string_view keyspace,
                                    std::string_view table) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i).starts_with("<KS_NAME>")) {
      out += keyspace;
      i += 9;
    } else if (text.substr(i).starts_with("<TBL_NAME>")) {
      out += table;
      i += 10;
    } else {
      out += text[i++];
    }
  }
  return out;
}

namespace {

enum class TokenKind { kIdent, kQuotedIdent, kNumber, kString, kSymbol, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // identifiers: as written (quoted ones unescaped); symbols: the char
  size_t offset = 0;
};

// Tokenizes and parses one statement of the CQL DDL subset. Positions are byte offsets into
// the source; errors convert them to 1-based line:column and show the line with a caret.
class DdlParser {
 public:
  explicit DdlParser(std::string_view src) : src_(src) {}

  Result<DdlStatement> parse() {
    TL_RETURN_IF_ERROR(tokenize());
    DdlStatement st;
    TL_RETURN_IF_ERROR(expect_keyword("CREATE"));
    if (accept_keyword("KEYSPACE")) {
      st.kind = DdlStatement::Kind::kCreateKeyspace;
      TL_ASSIGN_OR_RETURN(st.if_not_exists, parse_if_not_exists());
      TL_ASSIGN_OR_RETURN(st.keyspace, parse_identifier("keyspace name"));
      if (accept_keyword("WITH")) skip_options();
      TL_RETURN_IF_ERROR(parse_end());
      return st;
    }
    if (!accept_keyword("TABLE")) return fail(peek(), "expected TABLE or KEYSPACE after CREATE");
    st.kind = DdlStatement::Kind::kCreateTable;
    TL_ASSIGN_OR_RETURN(st.if_not_exists, parse_if_not_exists());
    TL_ASSIGN_OR_RETURN(std::string first, parse_identifier("table name"));
    if (accept_symbol('.')) {
      st.table.keyspace = std::move(first);
      TL_ASSIGN_OR_RETURN(st.table.name, parse_identifier("table name"));
    } else {
      st.table.name = std::move(first);
    }
    st.keyspace = st.table.keyspace;
    TL_RETURN_IF_ERROR(parse_table_body(st.table));
    if (accept_keyword("WITH")) TL_RETURN_IF_ERROR(parse_table_options(st.table));
    TL_RETURN_IF_ERROR(parse_end());
    return st;
  }

 private:
  std::unexpected<Status> fail_at(size_t offset, std::string_view message) const {
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    size_t line_end = src_.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = src_.size();
    std::string_view text = src_.substr(line_start, line_end - line_start);
    size_t col = offset - line_start + 1;
    return error(StatusCode::kParseError, fmt::format("line {}:{}: {}\n  {}\n  {}^", line, col,
                                                      message, text, std::string(col - 1, ' ')));
  }
  std::unexpected<Status> fail(const Token& t, std::string_view message) const {
    return fail_at(t.offset, message);
  }

  Result<void> tokenize() {
    size_t i = 0;
    const size_t n = src_.size();
    while (i < n) {
      char c = src_[i];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
      } else if ((c == '-' && i + 1 < n && src_[i + 1] == '-') ||
                 (c == '/' && i + 1 < n && src_[i + 1] == '/')) {
        while (i < n && src_[i] != '\n') ++i;
      } else if (c == '/' && i + 1 < n && src_[i + 1] == '*') {
        size_t end = src_.find("*/", i + 2);
        if (end == std::string_view::npos) return fail_at(i, "unterminated comment");
        i = end + 2;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t b = i;
        while (i < n && (std::isalnum(static_cast<unsigned char>(src_[i])) || src_[i] == '_')) ++i;
        tokens_.push_back({TokenKind::kIdent, std::string(src_.substr(b, i - b)), b});
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t b = i;
        while (i < n && (std::isalnum(static_cast<unsigned char>(src_[i])) || src_[i] == '.')) ++i;
        tokens_.push_back({TokenKind::kNumber, std::string(src_.substr(b, i - b)), b});
      } else if (c == '"' || c == '\'') {
        size_t b = i++;
        std::string text;
        bool closed = false;
        while (i < n) {
          if (src_[i] == c) {
            if (i + 1 < n && src_[i + 1] == c) {
              text += c;
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          text += src_[i++];
        }
        if (!closed) {
          return fail_at(b, c == '"' ? "unterminated quoted identifier" : "unterminated string");
        }
        if (c == '"' && text.empty()) return fail_at(b, "empty quoted identifier");
        tokens_.push_back(
            {c == '"' ? TokenKind::kQuotedIdent : TokenKind::kString, std::move(text), b});
      } else if (std::string_view("(),.;:{}=<>[]-+").find(c) != std::string_view::npos) {
        tokens_.push_back({TokenKind::kSymbol, std::string(1, c), i});
        ++i;
      } else {
        return fail_at(i, fmt::format("unexpected character '{}'", c));
      }
    }
    tokens_.push_back({TokenKind::kEnd, "", n});
    return {};
  }

  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  static bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }
  bool is_keyword(const Token& t, std::string_view kw) const {
    return t.kind == TokenKind::kIdent && iequals(t.text, kw);
  }
  bool accept_keyword(std::string_view kw) {
    if (!is_keyword(peek(), kw)) return false;
    next();
    return true;
  }
  bool accept_symbol(char c) {
    if (peek().kind != TokenKind::kSymbol || peek().text[0] != c) return false;
    next();
    return true;
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kEnd:
        return "end of statement";
      case TokenKind::kString:
        return fmt::format("string '{}'", t.text);
      case TokenKind::kQuotedIdent:
        return fmt::format("\"{}\"", t.text);
      default:
        return fmt::format("'{}'", t.text);
    }
  }
  Result<void> expect_keyword(std::string_view kw) {
    if (accept_keyword(kw)) return {};
    return fail(peek(), fmt::format("expected {}, found {}", kw, describe(peek())));
  }
  Result<void> expect_symbol(char c, std::string_view context = "") {
    if (accept_symbol(c)) return {};
    std::string hint;
    if (peek().kind == TokenKind::kSymbol && peek().text == "<") {
      hint = " (unfilled <KS_NAME>/<TBL_NAME> placeholder?)";
    }
    return fail(peek(),
                fmt::format("expected '{}'{}, found {}{}", c, context, describe(peek()), hint));
  }

  Result<bool> parse_if_not_exists() {
    if (!is_keyword(peek(), "IF")) return false;
    next();
    TL_RETURN_IF_ERROR(expect_keyword("NOT"));
    TL_RETURN_IF_ERROR(expect_keyword("EXISTS"));
    return true;
  }

  Result<std::string> parse_identifier(std::string_view what) {
    const Token& t = peek();
    if (t.kind == TokenKind::kQuotedIdent) return next().text;
    if (t.kind == TokenKind::kIdent) {
      std::string s = next().text;
      for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return s;
    }
    std::string hint;
    if (t.kind == TokenKind::kSymbol && t.text == "<") {
      hint = " (unfilled <KS_NAME>/<TBL_NAME> placeholder?)";
    }
    return fail(t, fmt::format("expected {}, found {}{}", what, describe(t), hint));
  }

  Result<CqlType> parse_type() {
    const Token& t = peek();
    if (t.kind != TokenKind::kIdent)
      return fail(t, fmt::format("expected a type, found {}", describe(t)));
    struct Named {
      std::string_view name;
      CqlType type;
    };
    static constexpr Named kTypes[] = {
        {"int", CqlType::kInt},
        {"bigint", CqlType::kBigint},
        {"text", CqlType::kText},
        {"varchar", CqlType::kText},
        {"timestamp", CqlType::kTimestamp},
        {"double", CqlType::kDouble},
        {"float", CqlType::kFloat},
        {"boolean", CqlType::kBoolean},
    };
    for (const auto& k : kTypes) {
      if (iequals(t.text, k.name)) {
        next();
        return k.type;
      }
    }
    return fail(t, fmt::format("unknown type '{}' (supported: int, bigint, text, varchar, "
                               "timestamp, double, float, boolean)",
                               t.text));
  }

  // Key column reference: must be declared; remembers where it was named for errors.
  Result<void> add_key_column(TableSchema& table, const Token& at, std::string name,
                              std::vector<std::string>& into) {
    for (const auto& existing : table.partition_key) {
      if (existing == name) {
        return fail(at, fmt::format("column '{}' appears twice in PRIMARY KEY", name));
      }
    }
    for (const auto& existing : table.clustering_key) {
      if (existing == name) {
        return fail(at, fmt::format("column '{}' appears twice in PRIMARY KEY", name));
      }
    }
    pending_keys_.push_back({at.offset, name});
    into.push_back(std::move(name));
    return {};
  }

  Result<void> parse_primary_key_clause(TableSchema& table) {
    TL_RETURN_IF_ERROR(expect_symbol('(', " after PRIMARY KEY"));
    if (accept_symbol('(')) {
      do {
        const Token& at = peek();
        TL_ASSIGN_OR_RETURN(std::string name, parse_identifier("partition key column"));
        TL_RETURN_IF_ERROR(add_key_column(table, at, std::move(name), table.partition_key));
      } while (accept_symbol(','));
      TL_RETURN_IF_ERROR(expect_symbol(')', " after the partition key"));
    } else {
      const Token& at = peek();
      TL_ASSIGN_OR_RETURN(std::string name, parse_identifier("partition key column"));
      TL_RETURN_IF_ERROR(add_key_column(table, at, std::move(name), table.partition_key));
    }
    while (accept_symbol(',')) {
      const Token& at = peek();
      TL_ASSIGN_OR_RETURN(std::string name, parse_identifier("clustering column"));
      TL_RETURN_IF_ERROR(add_key_column(table, at, std::move(name), table.clustering_key));
    }
    return expect_symbol(')', " to close PRIMARY KEY");
  }

  Result<void> parse_table_body(TableSchema& table) {
    TL_RETURN_IF_ERROR(expect_symbol('(', " after the table name"));
    bool have_key = false;
    std::vector<size_t> column_offsets;
    while (true) {
      const Token& start = peek();
      if (is_keyword(start, "PRIMARY") && is_keyword(peek(1), "KEY")) {
        if (have_key) return fail(start, "more than one PRIMARY KEY");
        next();
        next();
        TL_RETURN_IF_ERROR(parse_primary_key_clause(table));
        have_key = true;
      } else {
        TL_ASSIGN_OR_RETURN(std::string name, parse_identifier("column name"));
        if (table.column_index(name) >= 0) {
          return fail(start, fmt::format("duplicate column '{}'", name));
        }
        TL_ASSIGN_OR_RETURN(CqlType type, parse_type());
        table.columns.push_back({name, type});
        column_offsets.push_back(start.offset);
        if (is_keyword(peek(), "PRIMARY")) {
          const Token& pk = next();
          TL_RETURN_IF_ERROR(expect_keyword("KEY"));
          if (have_key) return fail(pk, "more than one PRIMARY KEY");
          TL_RETURN_IF_ERROR(add_key_column(table, start, name, table.partition_key));
          have_key = true;
        }
        accept_keyword("STATIC");
      }
      if (accept_symbol(',')) continue;
      const Token& close = peek();
      TL_RETURN_IF_ERROR(expect_symbol(')', " or ',' in the column list"));
      if (!have_key) return fail(close, "missing PRIMARY KEY");
      break;
    }
    if (table.columns.empty()) return fail_at(src_.size(), "table has no columns");
    for (const auto& [offset, name] : pending_keys_) {
      if (table.column_index(name) < 0) {
        return fail_at(offset, fmt::format("primary key column '{}' is not declared", name));
      }
    }
    return {};
  }

  // `WITH opt = value AND CLUSTERING ORDER BY (c DESC, ...) AND ...`: reads the clustering
  // order, skips the other options.
  Result<void> parse_table_options(TableSchema& table) {
    while (true) {
      if (is_keyword(peek(), "CLUSTERING")) {
        next();
        TL_RETURN_IF_ERROR(expect_keyword("ORDER"));
        TL_RETURN_IF_ERROR(expect_keyword("BY"));
        TL_RETURN_IF_ERROR(expect_symbol('(', " after CLUSTERING ORDER BY"));
        size_t i = 0;
        table.clustering_descending.assign(table.clustering_key.size(), false);
        do {
          const Token& at = peek();
          TL_ASSIGN_OR_RETURN(std::string name, parse_identifier("clustering column"));
          if (i >= table.clustering_key.size() || table.clustering_key[i] != name) {
            return fail(at, i < table.clustering_key.size()
                                ? fmt::format("CLUSTERING ORDER BY must list the clustering "
                                              "columns in order: expected '{}', found '{}'",
                                              table.clustering_key[i], name)
                                : fmt::format("'{}' is not a clustering column", name));
          }
          if (accept_keyword("DESC")) {
            table.clustering_descending[i] = true;
          } else if (!accept_keyword("ASC")) {
            return fail(peek(), fmt::format("expected ASC or DESC, found {}", describe(peek())));
          }
          ++i;
        } while (accept_symbol(','));
        TL_RETURN_IF_ERROR(expect_symbol(')', " to close CLUSTERING ORDER BY"));
      } else {
        // Skip `name = value` up to the next top-level AND.
        int depth = 0;
        while (peek().kind != TokenKind::kEnd) {
          const Token& t = peek();
          if (t.kind == TokenKind::kSymbol) {
            if (t.text == "(" || t.text == "{" || t.text == "[") ++depth;
            if (t.text == ")" || t.text == "}" || t.text == "]") --depth;
            if (t.text == ";" && depth <= 0) break;
          }
          if (depth <= 0 && is_keyword(t, "AND")) break;
          next();
        }
      }
      if (!accept_keyword("AND")) return {};
    }
  }

  // Skips `WITH option = value AND ...` (including CLUSTERING ORDER BY (...)) up to `;`/end.
  void skip_options() {
    int depth = 0;
    while (peek().kind != TokenKind::kEnd) {
      const Token& t = peek();
      if (t.kind == TokenKind::kSymbol) {
        if (t.text == "(" || t.text == "{" || t.text == "[") ++depth;
        if (t.text == ")" || t.text == "}" || t.text == "]") --depth;
        if (t.text == ";" && depth <= 0) return;
      }
      next();
    }
  }

  Result<void> parse_end() {
    accept_symbol(';');
    if (peek().kind != TokenKind::kEnd) {
      return fail(peek(),
                  fmt::format("unexpected {} after the end of the statement", describe(peek())));
    }
    return {};
  }

  std::string_view src_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  std::vector<std::pair<size_t, std::string>> pending_keys_;
};

}  // namespace

Result<DdlStatement> parse_ddl(std::string_view cql) {
  return DdlParser(cql).parse();
}

Result<TableSchema> parse_create_table(std::string_view cql) {
  TL_ASSIGN_OR_RETURN(DdlStatement st, parse_ddl(cql));
  if (st.kind != DdlStatement::Kind::kCreateTable) {
    return error(StatusCode::kParseError, "line 1:1: expected CREATE TABLE, found CREATE KEYSPACE");
  }
  return std::move(st.table);
}

Result<UpsertColumns> map_upsert_columns(const TableSchema& schema, const Batch& rows,
                                         std::string_view keyspace, std::string_view table) {
  Status valid = rows.validate();
  if (!valid.ok())
    return error(valid.with_context(fmt::format("upsert into {}.{}", keyspace, table)));
  const auto& fields = rows.schema->fields;
  UpsertColumns m;
  m.table_col.resize(fields.size());
  m.provided.assign(schema.columns.size(), false);
  for (size_t i = 0; i < fields.size(); ++i) {
    int c = schema.column_index(fields[i].name);
    if (c < 0) {
      return std::unexpected(invalid_argument(
          fmt::format("upsert into {}.{}: no column '{}'", keyspace, table, fields[i].name)));
    }
    if (m.provided[static_cast<size_t>(c)]) {
      return std::unexpected(
          invalid_argument(fmt::format("upsert: column '{}' given twice", fields[i].name)));
    }
    m.provided[static_cast<size_t>(c)] = true;
    m.table_col[i] = c;
  }
  m.is_key.assign(schema.columns.size(), false);
  for (const auto* keys : {&schema.partition_key, &schema.clustering_key}) {
    for (const auto& k : *keys) {
      int c = schema.column_index(k);
      m.is_key[static_cast<size_t>(c)] = true;
      if (!m.provided[static_cast<size_t>(c)]) {
        return std::unexpected(invalid_argument(
            fmt::format("upsert into {}.{}: primary key column '{}' missing", keyspace, table, k)));
      }
    }
  }
  return m;
}

namespace {

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

Status to_cql_cell(CqlType t, const Column& col, int64_t row, std::string_view column_name,
                   CqlCell& out) {
  out.is_null = !col.is_valid(row);
  if (out.is_null) return {};
  const TypeId id = col.type_id();
  const Storage storage = storage_of(id);
  const bool number =
      storage == Storage::kInts && id != TypeId::kTimestamp && id != TypeId::kDuration;
  auto bad = [&](std::string_view why) {
    return invalid_argument(fmt::format("row {}: column '{}' ({}): cannot store {} value{}", row,
                                        column_name, cql_type_name(t), type_id_name(id), why));
  };
  switch (t) {
    case CqlType::kInt:
    case CqlType::kBigint:
    case CqlType::kBoolean: {
      int64_t v = 0;
      if (number) {
        v = col.int_at(row);
      } else if (storage == Storage::kFloats) {
        double d = col.float_at(row);
        if (!(d >= -9.2e18 && d <= 9.2e18) || d != static_cast<double>(static_cast<int64_t>(d))) {
          return bad(" (not integral)");
        }
        v = static_cast<int64_t>(d);
      } else if (storage == Storage::kString) {
        std::string_view s = col.string_at(row);
        if (t == CqlType::kBoolean && (s == "true" || s == "false")) {
          v = s == "true";
        } else if (!parse_number(s, v)) {
          return bad(fmt::format(" '{}'", s));
        }
      } else {
        return bad("");
      }
      if (t == CqlType::kInt &&
          (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())) {
        return bad(fmt::format(" {} (out of int range)", v));
      }
      out.i = t == CqlType::kBoolean ? (v != 0) : v;
      return {};
    }
    case CqlType::kTimestamp: {
      if (id == TypeId::kTimestamp) {
        out.i = floor_div(col.int_at(row), kNanosPerMilli);
      } else if (number) {
        out.i = col.int_at(row);  // integers are CQL's own unit, ms
      } else if (storage == Storage::kString) {
        auto ts = parse_timestamp(col.string_at(row));
        if (!ts) return bad(fmt::format(" '{}'", col.string_at(row)));
        out.i = floor_div(*ts, kNanosPerMilli);
      } else {
        return bad("");
      }
      return {};
    }
    case CqlType::kDouble:
    case CqlType::kFloat: {
      if (storage == Storage::kFloats) {
        out.d = col.float_at(row);
      } else if (number) {
        out.d = static_cast<double>(col.int_at(row));
      } else if (storage == Storage::kString) {
        if (!parse_number(col.string_at(row), out.d)) {
          return bad(fmt::format(" '{}'", col.string_at(row)));
        }
      } else {
        return bad("");
      }
      return {};
    }
    case CqlType::kText: {
      if (storage == Storage::kString) {
        out.text = col.string_at(row);
      } else if (storage == Storage::kChildren || storage == Storage::kNone) {
        return bad("");
      } else {
        out.owned = id == TypeId::kTimestamp ? format_timestamp(col.int_at(row))
                                             : value_to_string(value_at(col, row));
        out.text = out.owned;
      }
      return {};
    }
  }
  return bad("");
}

}  // namespace tideline::io
