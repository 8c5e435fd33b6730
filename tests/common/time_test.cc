#include "common/time.h"

#include <gtest/gtest.h>

namespace tideline {
namespace {

TEST(Time, CivilRoundTripAcrossEras) {
  for (int64_t d = -800000; d <= 800000; d += 997) {
    CivilDate c = civil_from_days(d);
    EXPECT_EQ(days_from_civil(c.year, c.month, c.day), d);
  }
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
}

TEST(Time, ParsesRfc3339Forms) {
  EXPECT_EQ(*parse_timestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*parse_timestamp("1970-01-01"), 0);
  EXPECT_EQ(*parse_timestamp("2021-01-01T00:00:00.000000000Z"), 1609459200LL * kNanosPerSecond);
  EXPECT_EQ(*parse_timestamp("2021-01-01 00:00:01.5"),
            1609459201LL * kNanosPerSecond + 500'000'000);
  EXPECT_EQ(*parse_timestamp("2021-01-01T01:00:00+01:00"), 1609459200LL * kNanosPerSecond);
  EXPECT_EQ(*parse_timestamp("1996-03-21T00:00:00-00:00"), 827366400LL * kNanosPerSecond);
  EXPECT_EQ(*parse_timestamp("2021-01-01T00:00:00.123456789123Z"),
            1609459200LL * kNanosPerSecond + 123456789);
  EXPECT_EQ(*parse_timestamp("1969-12-31T23:59:59.999999999Z"), -1);
}

TEST(Time, RejectsMalformedTimestampsWithTheText) {
  for (const char* bad : {"", "2021", "2021-13-01", "2021-02-30", "2021-01-01T25:00:00",
                          "2021-01-01T00:00:00.Z", "2021-01-01T00:00:00Zjunk", "yesterday"}) {
    auto r = parse_timestamp(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
  }
}

TEST(Time, FormatsWithNanoseconds) {
  EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_timestamp(-1), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(format_timestamp_naive(1609459200LL * kNanosPerSecond + 7),
            "2021-01-01T00:00:00.000000007");
  for (int64_t t : {INT64_C(0), INT64_C(1234567890123456789), INT64_C(-987654321012345)}) {
    EXPECT_EQ(*parse_timestamp(format_timestamp(t)), t);
  }
}

TEST(Time, FloorDivision) {
  EXPECT_EQ(floor_div(-1, 1000), -1);
  EXPECT_EQ(floor_div(-1000, 1000), -1);
  EXPECT_EQ(floor_div(999, 1000), 0);
  EXPECT_EQ(floor_mod(-1, 1000), 999);
}

}  // namespace
}  // namespace tideline
