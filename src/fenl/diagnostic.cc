#include "fenl/diagnostic.h"

#include <algorithm>
#include <utility>

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

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string nearest_names(std::string_view name, const std::vector<std::string>& candidates) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& c : candidates) scored.emplace_back(edit_distance(name, c), c);
  std::sort(scored.begin(), scored.end());
  std::string out;
  for (size_t i = 0; i < scored.size() && i < 3; ++i) {
    if (scored[i].first > std::max<size_t>(2, name.size() / 2)) break;
    out += (out.empty() ? "" : ", ") + std::string("'") + scored[i].second + "'";
  }
  return out;
}

}  // namespace tideline::fenl
