#pragma once
// A reader of the Prometheus text exposition format 0.0.4 for tests, written from the format's
// rules (not from the writer in src/common/metrics.cc): `# HELP name text` and `# TYPE name
// type` at most once per family and before its samples, a family's samples together,
// `name{label="value",...} value` with label values escaped as \\ \" \n, histogram samples
// as name_bucket/_sum/_count. Anything else is an error naming the line.

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tideline::testing {

using SampleLabels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  SampleLabels labels;
  double value = 0;
};

// +Inf, -Inf, NaN or a number (whole text); NaN for anything else as well.
inline double parse_value(const std::string& s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN" || s.empty()) return NAN;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  return *end == '\0' ? v : NAN;
}

struct Exposition {
  bool ok = true;
  std::string error;
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;

  const Sample* find(const std::string& name, const SampleLabels& labels) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return &s;
    return nullptr;
  }
  bool has(const std::string& name, const SampleLabels& labels) const {
    return find(name, labels) != nullptr;
  }
  // NaN when absent.
  double value(const std::string& name, const SampleLabels& labels) const {
    const Sample* s = find(name, labels);
    return s ? s->value : NAN;
  }
  // The sum over every sample of `name` whose labels include `match`.
  double sum(const std::string& name, const SampleLabels& match) const {
    double total = 0;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        all = all && it != s.labels.end() && it->second == v;
      }
      if (all) total += s.value;
    }
    return total;
  }
};

inline Exposition read_exposition(const std::string& text) {
  Exposition e;
  auto fail = [&](size_t line, const std::string& why) {
    if (e.ok) e.error = "line " + std::to_string(line) + ": " + why;
    e.ok = false;
  };
  if (!text.empty() && text.back() != '\n') fail(0, "text does not end with a newline");
  std::set<std::string> finished;  // families whose samples ended
  std::string current;             // family of the previous sample
  std::set<std::string> seen_samples;
  size_t pos = 0, lineno = 0;
  while (pos < text.size() && e.ok) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (line.empty()) continue;
    if (line[0] == '#') {
      bool is_help = line.rfind("# HELP ", 0) == 0, is_type = line.rfind("# TYPE ", 0) == 0;
      if (!is_help && !is_type) continue;  // a plain comment
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      std::string name = rest.substr(0, sp);
      std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
      if (name.empty()) fail(lineno, "no metric name");
      if (finished.count(name) || current == name) fail(lineno, "HELP/TYPE after samples");
      if (is_help) {
        std::string un;
        for (size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] == '\\' && i + 1 < arg.size() && (arg[i + 1] == '\\' || arg[i + 1] == 'n')) {
            un += arg[i + 1] == 'n' ? '\n' : '\\';
            ++i;
          } else {
            un += arg[i];
          }
        }
        if (!e.help.emplace(name, un).second) fail(lineno, "second HELP for " + name);
      } else {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(arg)) fail(lineno, "unknown type " + arg);
        if (!e.type.emplace(name, arg).second) fail(lineno, "second TYPE for " + name);
      }
      continue;
    }
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (s.name.empty()) fail(lineno, "no sample name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          fail(lineno, "bad label");
          break;
        }
        std::string key = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;
        bool closed = false;
        for (; j < line.size(); ++j) {
          char c = line[j];
          if (c == '\\') {
            if (j + 1 >= line.size()) break;
            char n = line[++j];
            if (n == '\\') {
              value += '\\';
            } else if (n == '"') {
              value += '"';
            } else if (n == 'n') {
              value += '\n';
            } else {
              fail(lineno, "bad escape in label value");
            }
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value += c;
          }
        }
        if (!closed) {
          fail(lineno, "unterminated label value");
          break;
        }
        if (!s.labels.emplace(key, value).second) fail(lineno, "duplicate label " + key);
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
    }
    if (!e.ok) break;
    if (i >= line.size() || line[i] != ' ') {
      fail(lineno, "no value");
      break;
    }
    std::string rest = line.substr(i + 1);
    std::string value_text = rest.substr(0, rest.find(' '));  // an optional timestamp follows
    s.value = parse_value(value_text);
    if (std::isnan(s.value) && value_text != "NaN") fail(lineno, "bad value " + value_text);
    // The family: a histogram's samples carry a suffix.
    std::string family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string sx = suffix;
      if (s.name.size() > sx.size() && s.name.ends_with(sx)) {
        std::string base = s.name.substr(0, s.name.size() - sx.size());
        auto t = e.type.find(base);
        if (t != e.type.end() && t->second == "histogram") family = base;
      }
    }
    if (!e.type.count(family)) fail(lineno, "sample before the TYPE of " + family);
    if (family != current) {
      if (finished.count(family)) fail(lineno, "samples of " + family + " are not together");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    std::string id = s.name;
    for (const auto& [k, v] : s.labels) id += "\x1f" + k + "=" + v;
    if (!seen_samples.insert(id).second) fail(lineno, "duplicate sample " + s.name);
    if (e.type[family] == "histogram" && s.name == family + "_bucket" && !s.labels.count("le"))
      fail(lineno, "bucket without le");
    e.samples.push_back(std::move(s));
  }
  return e;
}

}  // namespace tideline::testing
