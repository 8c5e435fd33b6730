#include "common/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>

#include "common/time.h"

namespace tideline {

void AgeGauge::mark() {
  last_ns_.store(monotonic_ns(), std::memory_order_relaxed);
}

double AgeGauge::value() const {
  int64_t last = last_ns_.load(std::memory_order_relaxed);
  if (last == kNever) return 0;
  return static_cast<double>(monotonic_ns() - last) / 1e9;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // Few buckets: a linear scan beats a binary search and keeps the hot path branch-light.
  size_t i = 0;
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> latency_buckets_seconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// HELP text escaping: backslash and newline (double quotes stay as they are).
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"}` with `extra` (already escaped) appended; "" for no labels.
std::string render_labels(const MetricLabels& labels, std::string_view extra = {}) {
  if (labels.empty() && extra.empty()) return "";
  std::string s = "{";
  for (const auto& [k, v] : labels) {
    if (s.size() > 1) s += ',';
    s += k;
    s += "=\"";
    s += escape_label_value(v);
    s += '"';
  }
  if (!extra.empty()) {
    if (s.size() > 1) s += ',';
    s += extra;
  }
  s += '}';
  return s;
}

}  // namespace

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) return fmt::format("{:.0f}", v);
  return fmt::format("{}", v);  // shortest text that reads back as the same double
}

struct MetricsRegistry::Child {
  MetricLabels labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<AgeGauge> age;
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  Kind kind;
  std::vector<double> bounds;  // histograms
  std::vector<std::unique_ptr<Child>> children;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Child& MetricsRegistry::child(std::string_view name, std::string_view help,
                                               Kind kind, const MetricLabels& labels,
                                               std::vector<double>* bounds) {
  auto make = [&](const std::vector<double>& b) {
    auto c = std::make_unique<Child>();
    c->labels = labels;
    switch (kind) {
      case Kind::kCounter:
        c->counter = std::make_unique<Counter>();
        break;
      case Kind::kGauge:
        c->gauge = std::make_unique<Gauge>();
        break;
      case Kind::kAge:
        c->age = std::make_unique<AgeGauge>();
        break;
      case Kind::kHistogram:
        c->histogram = std::make_unique<Histogram>(b);
        break;
    }
    return c;
  };
  bool valid = valid_metric_name(name);
  for (const auto& [k, v] : labels) {
    valid = valid && valid_label_name(k) && !(kind == Kind::kHistogram && k == "le");
    for (const auto& [k2, v2] : labels) valid = valid && (&k == &k2 || k != k2);
  }
  if (bounds) {
    valid = valid && std::is_sorted(bounds->begin(), bounds->end()) &&
            std::adjacent_find(bounds->begin(), bounds->end()) == bounds->end() &&
            std::none_of(bounds->begin(), bounds->end(), [](double b) { return std::isnan(b); });
  }
  std::lock_guard lock(mu_);
  Family* f = nullptr;
  if (valid) {
    auto it = families_.find(name);
    if (it == families_.end()) {
      auto fam = std::make_unique<Family>();
      fam->name = std::string(name);
      fam->help = std::string(help);
      fam->kind = kind;
      if (bounds) fam->bounds = *bounds;
      it = families_.emplace(fam->name, std::move(fam)).first;
    }
    f = it->second.get();
    valid = f->kind == kind;
  }
  assert(valid && "invalid metric registration (see common/metrics.h)");
  if (!valid) {
    detached_.push_back(make(bounds ? *bounds : std::vector<double>{}));
    return *detached_.back();
  }
  for (auto& c : f->children)
    if (c->labels == labels) return *c;
  f->children.push_back(make(f->bounds));
  return *f->children.back();
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  const MetricLabels& labels) {
  return *child(name, help, Kind::kCounter, labels, nullptr).counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help,
                              const MetricLabels& labels) {
  return *child(name, help, Kind::kGauge, labels, nullptr).gauge;
}

AgeGauge& MetricsRegistry::age_gauge(std::string_view name, std::string_view help,
                                     const MetricLabels& labels) {
  return *child(name, help, Kind::kAge, labels, nullptr).age;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::vector<double> bounds, const MetricLabels& labels) {
  return *child(name, help, Kind::kHistogram, labels, &bounds).histogram;
}

std::string MetricsRegistry::expose() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f->kind == Kind::kCounter     ? "counter"
                       : f->kind == Kind::kHistogram ? "histogram"
                                                     : "gauge";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f->help), name, type);
    for (const auto& c : f->children) {
      switch (f->kind) {
        case Kind::kCounter:
          out += fmt::format("{}{} {}\n", name, render_labels(c->labels), c->counter->value());
          break;
        case Kind::kGauge:
          out += fmt::format("{}{} {}\n", name, render_labels(c->labels),
                             format_metric_value(c->gauge->value()));
          break;
        case Kind::kAge:
          if (c->age->marked())
            out += fmt::format("{}{} {}\n", name, render_labels(c->labels),
                               format_metric_value(c->age->value()));
          break;
        case Kind::kHistogram: {
          const Histogram& h = *c->histogram;
          std::vector<uint64_t> counts = h.bucket_counts();
          uint64_t cum = 0;
          for (size_t i = 0; i < counts.size(); ++i) {
            cum += counts[i];
            std::string le = i < h.bounds().size() ? format_metric_value(h.bounds()[i]) : "+Inf";
            out += fmt::format("{}_bucket{} {}\n", name,
                               render_labels(c->labels, "le=\"" + le + "\""), cum);
          }
          std::string labels = render_labels(c->labels);
          out += fmt::format("{}_sum{} {}\n", name, labels, format_metric_value(h.sum()));
          out += fmt::format("{}_count{} {}\n", name, labels, cum);
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace tideline
