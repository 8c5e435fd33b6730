#include "pipeline/eshop.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>

#include "common/time.h"

namespace tideline::pipeline {

const std::vector<std::string>& eshop_columns() {
  static const std::vector<std::string> kCols = {
      "year",      "month", "day",        "order_seq", "country",     "session",
      "category",  "model", "color",      "location",  "photography", "price",
      "price_ind", "page",  "event_time", "so_key"};
  return kCols;
}

namespace {

// SplitMix64: tiny, fast and identical on every platform (unlike std:: distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  int64_t uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

struct Product {
  std::string code;  // e.g. "A13"
  int category;      // 1 trousers (A), 2 skirts (B), 3 blouses (C), 4 sale (P)
  int color;
  int location;
  int photography;
  int price;
  int price_ind;  // 1 = above the category's average price, 2 = not
  int page;
};

std::vector<Product> make_catalog(Rng& rng) {
  // Letters and counts give 217 products, like the UCI set.
  const std::array<std::pair<char, int>, 4> kLines = {{{'A', 43}, {'B', 34}, {'C', 59}, {'P', 81}}};
  std::vector<Product> products;
  for (size_t cat = 0; cat < kLines.size(); ++cat) {
    auto [letter, count] = kLines[cat];
    size_t first = products.size();
    double sum = 0;
    for (int i = 1; i <= count; ++i) {
      Product p;
      p.code = fmt::format("{}{}", letter, i);
      p.category = static_cast<int>(cat) + 1;
      p.color = static_cast<int>(rng.uniform(1, 14));
      p.location = static_cast<int>(rng.uniform(1, 6));
      p.photography = static_cast<int>(rng.uniform(1, 2));
      p.price = static_cast<int>(rng.uniform(18, 82));
      // Products are listed over up to five pages, in code order.
      p.page = std::min(5, 1 + (i - 1) * 5 / count);
      sum += p.price;
      products.push_back(std::move(p));
    }
    double avg = sum / count;
    for (size_t j = first; j < products.size(); ++j) {
      products[j].price_ind = products[j].price > avg ? 1 : 2;
    }
  }
  return products;
}

// Most visitors come from one country (29 in the UCI set), the rest spread over 1..47.
int pick_country(Rng& rng) {
  double u = rng.unit();
  if (u < 0.75) return 29;
  if (u < 0.85) return 9;
  return static_cast<int>(rng.uniform(1, 47));
}

// Sessions: a few to dozens of clicks (geometric-like, mean ~8, capped at 60).
int pick_session_length(Rng& rng) {
  int n = 1;
  while (n < 60 && rng.unit() < 0.88) ++n;
  return n;
}

}  // namespace

Result<EshopStats> generate_eshop(const std::string& path, const EshopOptions& options) {
  if (options.rows < 0) return error(StatusCode::kInvalidArgument, "--rows must be >= 0");
  if (options.sessions < 0) return error(StatusCode::kInvalidArgument, "--sessions must be >= 0");
  std::FILE* out = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (!out) return error(StatusCode::kIoError, fmt::format("cannot write {}", path));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(path == "-" ? nullptr : out, &std::fclose);

  Rng rng(options.seed);
  const auto products = make_catalog(rng);
  const int64_t first_day = days_from_civil(2008, 4, 1);
  const int64_t num_days = days_from_civil(2008, 8, 13) - first_day + 1;  // 135 days

  fmt::memory_buffer buf;
  auto flush = [&]() -> Status {
    if (std::fwrite(buf.data(), 1, buf.size(), out) != buf.size()) {
      return io_error(fmt::format("write failed: {}", path));
    }
    buf.clear();
    return {};
  };
  if (options.header) {
    for (size_t i = 0; i < eshop_columns().size(); ++i) {
      if (i) buf.push_back(',');
      fmt::format_to(std::back_inserter(buf), "{}", eshop_columns()[i]);
    }
    buf.push_back('\n');
  }

  EshopStats stats;
  int64_t row = 0;
  int64_t visit = 0;
  int64_t current_day = -1;
  int64_t seq_in_day = 0;
  while (row < options.rows) {
    ++visit;
    const int64_t session = options.sessions > 0 ? (visit - 1) % options.sessions + 1 : visit;
    // Sessions are spread evenly over the date range, in file order.
    int64_t day = first_day + (row * num_days) / std::max<int64_t>(options.rows, 1);
    if (day != current_day) {
      current_day = day;
      seq_in_day = 0;
      ++stats.days;
    }
    CivilDate date = civil_from_days(day);
    int country = pick_country(rng);
    int length = pick_session_length(rng);
    // A session browses around one favourite category.
    size_t favourite =
        static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(products.size()) - 1));
    for (int seq = 1; seq <= length && row < options.rows; ++seq, ++row) {
      size_t pi =
          rng.unit() < 0.6
              ? (favourite + static_cast<size_t>(rng.uniform(0, 9))) % products.size()
              : static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(products.size()) - 1));
      const Product& p = products[pi];
      int64_t event_ms = day * 86'400'000 + seq_in_day * 1000;
      ++seq_in_day;
      int64_t so_key = visit * 1000 + seq;
      fmt::format_to(std::back_inserter(buf), "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                     date.year, date.month, date.day, seq, country, session, p.category, p.code,
                     p.color, p.location, p.photography, p.price, p.price_ind, p.page, event_ms,
                     so_key);
      if (buf.size() > (1 << 20)) TL_RETURN_IF_ERROR(flush());
    }
  }
  TL_RETURN_IF_ERROR(flush());
  std::fflush(out);
  stats.rows = row;
  stats.sessions = options.sessions > 0 ? std::min(visit, options.sessions) : visit;
  return stats;
}

}  // namespace tideline::pipeline
