#pragma once
// Shared by the engine's property tests: a small random table with awkward values (nulls,
// extreme integers, empty and JSON strings, repeated times) and a generator of random,
// mostly well-typed Fenl queries over it that touch every operator family.

#include <random>
#include <string>
#include <vector>

#include "common/batch.h"

namespace tideline::engine {

inline constexpr int64_t kDay = 86'400'000'000'000LL;

inline TypePtr schema() {
  return DataType::record({{"time", DataType::of(TypeId::kTimestamp)},
                           {"key", DataType::of(TypeId::kString)},
                           {"n", DataType::of(TypeId::kI64)},
                           {"x", DataType::of(TypeId::kF64)},
                           {"flag", DataType::of(TypeId::kBool)},
                           {"s", DataType::of(TypeId::kString)}});
}

inline Batch table(std::mt19937& rng, int rows = 40) {
  Batch b = Batch::empty(schema());
  const char* keys[] = {"a", "b", "c", ""};
  const char* strs[] = {"hello", "", "Wörld", "{\"a\": 1}"};
  int64_t t = 1'600'000'000'000'000'000LL;
  for (int i = 0; i < rows; ++i) {
    t += static_cast<int64_t>(rng() % 3) * kDay / 4;
    b.columns[0].append_int(t);
    b.columns[1].append_string(keys[rng() % 4]);
    if (rng() % 17 == 0)
      b.columns[2].append_int(rng() % 2 ? INT64_MAX : INT64_MIN);
    else if (rng() % 5)
      b.columns[2].append_int(static_cast<int64_t>(rng() % 21) - 10);
    else
      b.columns[2].append_null();
    if (rng() % 5)
      b.columns[3].append_float(static_cast<double>(rng() % 100) / 8.0 - 3.0);
    else
      b.columns[3].append_null();
    if (rng() % 4)
      b.columns[4].append_int(rng() % 2);
    else
      b.columns[4].append_null();
    b.columns[5].append_string(strs[rng() % 4]);
  }
  b.num_rows = rows;
  return b;
}

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  std::string pick(std::initializer_list<const char*> xs) {
    auto it = xs.begin();
    std::advance(it, rng_() % xs.size());
    return *it;
  }
  std::string num(int d) {
    if (d <= 0 || rng_() % 3 == 0) return pick({"T.n", "T.x", "1", "2.5", "-3", "null"});
    std::string a = num(d - 1), b = num(d - 1);
    switch (rng_() % 12) {
      case 0:
        return "(" + a + " + " + b + ")";
      case 1:
        return "(" + a + " - " + b + ")";
      case 2:
        return "(" + a + " * " + b + ")";
      case 3:
        return "(" + a + " / " + b + ")";
      case 4:
        return pick({"sum", "min", "max", "first", "last"}) + "(" + a + window(d) + ")";
      case 5:
        return pick({"mean", "variance", "stddev"}) + "(" + a + ")";
      case 6:
        return "(" + a + " | lag(" + pick({"0", "1", "2"}) + "))";
      case 7:
        return "(" + a + " | if(" + cond(d - 1) + "))";
      case 8:
        return "(" + a + " | when(" + cond(d - 1) + "))";
      case 9:
        return "coalesce(" + a + ", " + b + ")";
      case 10:
        return "(" + a + " | clamp(min = " + b + "))";
      default:
        return pick({"count", "count_if"}) == "count" ? "count(" + a + ")" : "len(T.s)";
    }
  }
  std::string window(int d) {
    switch (rng_() % 5) {
      case 0:
        return ", window = since(" + cond(d - 1) + ")";
      case 1:
        return ", window = since(" + pick({"daily()", "hourly()", "monthly()"}) + ")";
      default:
        return "";
    }
  }
  std::string cond(int d) {
    if (d <= 0 || rng_() % 3 == 0) return pick({"T.flag", "true", "is_valid(T.n)", "null"});
    std::string a = num(d - 1), b = num(d - 1);
    switch (rng_() % 5) {
      case 0:
        return "(" + a + " > " + b + ")";
      case 1:
        return "(" + a + " == " + b + ")";
      case 2:
        return "(" + cond(d - 1) + " and " + cond(d - 1) + ")";
      case 3:
        return "!" + cond(d - 1);
      default:
        return "(" + cond(d - 1) + " or " + cond(d - 1) + ")";
    }
  }
  std::string query() {
    std::string body = "{ a: " + num(3) + ", b: " + cond(2) + " }";
    switch (rng_() % 8) {
      case 0:
        return body + " | shift_by(seconds(" + pick({"1", "3600", "0", "T.n"}) + "))";
      case 1:
        return body + " | shift_until(T.flag)";
      case 2:
        return body + " | with_key(T.s) | extend({ c: count($input) })";
      case 3:
        return body + " | extend({ t: time_of($input), k: first(T.key) })";
      case 4:
        return "T | last() | when(daily()) | extend({ z: " + num(2) + " })";
      case 5:
        return body + " | shift_to(T.time | add_time(days(1)))";
      default:
        return body;
    }
  }

 private:
  std::mt19937 rng_;
};

// One result cell as text (records recursively, nulls as "∅").
inline std::string cell_text(const Column& c, int64_t i) {
  if (!c.is_valid(i)) return "\u2205";
  if (c.type_id() == TypeId::kRecord) {
    std::string s = "{";
    for (size_t f = 0; f < c.num_children(); ++f) s += (f ? "," : "") + cell_text(c.child(f), i);
    return s + "}";
  }
  return value_to_string(value_at(c, i));
}

// Every row of a result as one string of its cells.
inline std::vector<std::string> result_rows(const Batch& r, size_t skip_columns = 0) {
  std::vector<std::string> rows;
  for (int64_t i = 0; i < r.num_rows; ++i) {
    std::string row;
    for (size_t c = skip_columns; c < r.columns.size(); ++c)
      row += cell_text(r.columns[c], i) + "|";
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace tideline::engine
