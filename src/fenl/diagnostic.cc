#include "fenl/diagnostic.h"

#include <algorithm>

namespace tideline::fenl {

std::pair<int, int> line_column(std::string_view text, int32_t offset) {
  int line = 1, col = 1;
  int32_t n = std::min<int32_t>(offset, static_cast<int32_t>(text.size()));
  for (int32_t i = 0; i < n; ++i) {
    if (text[static_cast<size_t>(i)] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

std::string render(const Diagnostic& d, std::string_view text) {
  auto [line, col] = line_column(text, d.span.begin);
  std::string out = d.stage == Stage::kParse  ? "Parse error at "
                    : d.stage == Stage::kType ? "Type error at "
                                              : "Warning at ";
  if (!d.source_name.empty()) out += d.source_name + ":";
  out += std::to_string(line) + ":" + std::to_string(col) + ": " + d.message + "\n";
  size_t b =
      static_cast<size_t>(std::min<int32_t>(d.span.begin, static_cast<int32_t>(text.size())));
  size_t ls = text.rfind('\n', b == 0 ? std::string_view::npos : b - 1);
  ls = (b == 0 || ls == std::string_view::npos) ? 0 : ls + 1;
  if (b > 0 && b <= text.size() && text[b - 1] == '\n') ls = b;
  size_t le = text.find('\n', ls);
  if (le == std::string_view::npos) le = text.size();
  std::string_view src_line = text.substr(ls, le - ls);
  out += "  ";
  for (char c : src_line) out += (c == '\t' || c == '\r') ? ' ' : c;
  out += "\n  ";
  out += std::string(static_cast<size_t>(col - 1), ' ');
  int32_t width = std::max<int32_t>(
      1, std::min<int32_t>(d.span.end, static_cast<int32_t>(ls + src_line.size())) - d.span.begin);
  out += std::string(static_cast<size_t>(width), '^');
  out += "\n";
  return out;
}

Status to_status(const std::vector<Diagnostic>& ds, std::string_view text) {
  std::string msg;
  for (const auto& d : ds) msg += render(d, text);
  if (!msg.empty() && msg.back() == '\n') msg.pop_back();
  StatusCode code = (!ds.empty() && ds[0].stage == Stage::kParse) ? StatusCode::kParseError
                                                                  : StatusCode::kTypeError;
  return Status(code, std::move(msg));
}

}  // namespace tideline::fenl
