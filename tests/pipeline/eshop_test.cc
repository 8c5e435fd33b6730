#include "pipeline/eshop.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/time.h"

namespace tideline::pipeline {
namespace {

std::vector<std::vector<std::string>> read_rows(const std::string& path, bool header) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  if (header) std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tl-eshop-" + name)).string();
}

TEST(Eshop, ShapeMatchesTheUciClickstream) {
  std::string path = temp_path("shape.csv");
  auto stats = generate_eshop(path, {.rows = 20000, .seed = 7, .header = true});
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->rows, 20000);
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header,
            "year,month,day,order_seq,country,session,category,model,color,location,photography,"
            "price,price_ind,page,event_time,so_key");
  auto rows = read_rows(path, true);
  ASSERT_EQ(rows.size(), 20000u);
  std::set<std::string> models;
  std::map<std::string, int> session_len;
  int64_t prev_time = 0;
  for (const auto& r : rows) {
    ASSERT_EQ(r.size(), 16u);
    EXPECT_EQ(r[0], "2008");
    int month = std::stoi(r[1]);
    EXPECT_GE(month, 4);
    EXPECT_LE(month, 8);
    int country = std::stoi(r[4]);
    EXPECT_GE(country, 1);
    EXPECT_LE(country, 47);
    int category = std::stoi(r[6]);
    EXPECT_GE(category, 1);
    EXPECT_LE(category, 4);
    EXPECT_TRUE(r[7][0] == "ABCP"[category - 1]) << r[7];
    models.insert(r[7]);
    EXPECT_GE(std::stoi(r[8]), 1);
    EXPECT_LE(std::stoi(r[8]), 14);
    EXPECT_GE(std::stoi(r[9]), 1);
    EXPECT_LE(std::stoi(r[9]), 6);
    EXPECT_GE(std::stoi(r[11]), 18);
    EXPECT_LE(std::stoi(r[11]), 82);
    EXPECT_GE(std::stoi(r[13]), 1);
    EXPECT_LE(std::stoi(r[13]), 5);
    int64_t session = std::stoll(r[5]);
    int seq = std::stoi(r[3]);
    EXPECT_EQ(std::stoll(r[15]), session * 1000 + seq);
    EXPECT_EQ(seq, ++session_len[r[5]]) << "order_seq counts clicks within a session";
    // event_time: midnight of the row's date plus whole seconds, non-decreasing in file order.
    int64_t t = std::stoll(r[14]);
    int64_t day_ms = days_from_civil(2008, static_cast<unsigned>(month),
                                     static_cast<unsigned>(std::stoi(r[2]))) *
                     86'400'000;
    EXPECT_GE(t, day_ms);
    EXPECT_LT(t, day_ms + 86'400'000);
    EXPECT_EQ((t - day_ms) % 1000, 0);
    EXPECT_GE(t, prev_time);
    prev_time = t;
  }
  EXPECT_GT(models.size(), 150u);
  EXPECT_LE(models.size(), 217u);
  int max_len = 0;
  for (auto& [s, n] : session_len) max_len = std::max(max_len, n);
  EXPECT_GE(max_len, 20) << "some sessions have dozens of clicks";
  double mean = 20000.0 / static_cast<double>(session_len.size());
  EXPECT_GT(mean, 3);
  EXPECT_LT(mean, 20);
}

TEST(Eshop, FirstRecordOfEachDateIsAtMidnightAndEachNextOneSecondLater) {
  std::string path = temp_path("dates.csv");
  ASSERT_TRUE(generate_eshop(path, {.rows = 3000, .seed = 1, .header = false}));
  auto rows = read_rows(path, false);
  std::map<std::string, int64_t> count;
  for (const auto& r : rows) {
    std::string date = r[0] + "-" + r[1] + "-" + r[2];
    int64_t day_ms = days_from_civil(2008, static_cast<unsigned>(std::stoi(r[1])),
                                     static_cast<unsigned>(std::stoi(r[2]))) *
                     86'400'000;
    EXPECT_EQ(std::stoll(r[14]), day_ms + 1000 * count[date]++);
  }
}

TEST(Eshop, DeterministicForASeed) {
  std::string a = temp_path("a.csv"), b = temp_path("b.csv"), c = temp_path("c.csv");
  ASSERT_TRUE(generate_eshop(a, {.rows = 5000, .seed = 99}));
  ASSERT_TRUE(generate_eshop(b, {.rows = 5000, .seed = 99}));
  ASSERT_TRUE(generate_eshop(c, {.rows = 5000, .seed = 100}));
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(slurp(a), slurp(b));
  EXPECT_NE(slurp(a), slurp(c));
}

// --sessions bounds the distinct session ids (reused cyclically by later visits) and leaves
// so_key unique; without it every visit is a new session.
TEST(Eshop, SessionsOptionBoundsTheSessionIds) {
  std::string a = temp_path("sessions.csv"), b = temp_path("visits.csv");
  auto bounded = generate_eshop(a, {.rows = 20000, .seed = 5, .header = false, .sessions = 100});
  ASSERT_TRUE(bounded);
  auto free = generate_eshop(b, {.rows = 20000, .seed = 5});
  ASSERT_TRUE(free);
  EXPECT_EQ(bounded->sessions, 100);
  EXPECT_GT(free->sessions, 1000);
  std::set<std::string> sessions, so_keys;
  for (const auto& r : read_rows(a, false)) {
    ASSERT_EQ(r.size(), 16u);
    sessions.insert(r[5]);
    EXPECT_TRUE(so_keys.insert(r[15]).second) << "duplicate so_key " << r[15];
  }
  EXPECT_EQ(sessions.size(), 100u);
  EXPECT_EQ(so_keys.size(), 20000u);
  EXPECT_FALSE(generate_eshop(a, {.rows = 1, .seed = 1, .header = false, .sessions = -1}));
}

}  // namespace
}  // namespace tideline::pipeline
