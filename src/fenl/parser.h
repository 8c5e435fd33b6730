#pragma once
// Lexer and recursive-descent parser for Fenl expressions (grammar: docs/fenl.md#syntax).

#include <string_view>
#include <vector>

#include "common/status.h"
#include "fenl/ast.h"
#include "fenl/diagnostic.h"

namespace tideline::fenl {

enum class TokenKind : uint8_t {
  kEnd,
  kIdent,
  kNumber,
  kString,
  kLet,
  kIn,
  kAnd,
  kOr,
  kAs,
  kConst,
  kInput,
  kTrue,
  kFalse,
  kNull,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPipe,
  kDot,
  kComma,
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLBracket,
  kRBracket,
  kLt,
  kGt,
  kLe,
  kGe,
  kEqEq,
  kNe,
  kBang,
  kAssign,
  kColon,
  kArrow,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  Span span;
  std::string text;    // identifier, number digits, or unescaped string
  std::string suffix;  // number type suffix
};

// Tokenizes `text`; on failure fills `diag` and returns false.
bool tokenize(std::string_view text, std::vector<Token>& out, Diagnostic& diag);

// Parses a complete expression. Errors are Diagnostics with Stage::kParse.
std::expected<ExprPtr, Diagnostic> parse_expression(std::string_view text);

// Convenience: parse and render errors into a Status (kParseError).
Result<ExprPtr> parse(std::string_view text);

}  // namespace tideline::fenl

namespace tideline::fenl {
// S-expression form of a tree, for tests and --explain: `(add a (field b c))`.
std::string debug_string(const Expr& e);
}  // namespace tideline::fenl
