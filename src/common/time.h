#pragma once
// Time values: instants are int64 nanoseconds since the Unix epoch (UTC); durations are int64
// nanoseconds. Civil-calendar helpers use the proleptic Gregorian calendar.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tideline {

using TimestampNs = int64_t;
using DurationNs = int64_t;

inline constexpr int64_t kNanosPerMicro = 1'000;
inline constexpr int64_t kNanosPerMilli = 1'000'000;
inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr int64_t kNanosPerMinute = 60 * kNanosPerSecond;
inline constexpr int64_t kNanosPerHour = 60 * kNanosPerMinute;
inline constexpr int64_t kNanosPerDay = 24 * kNanosPerHour;

struct CivilDate {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

// Days since 1970-01-01 for a civil date, and back. Valid for any int64-representable range
// that the callers use (years -10^6..10^6).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
CivilDate civil_from_days(int64_t days);

// Floor division helpers for negative instants.
inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline int64_t floor_mod(int64_t a, int64_t b) {
  return a - floor_div(a, b) * b;
}

// Parses RFC 3339 / ISO 8601 instants: `2021-01-02T03:04:05`, optional fraction of up to 9
// digits, optional `Z` or `+hh:mm`/`-hh:mm` offset (no offset = UTC). A space may replace `T`.
// A bare date `2021-01-02` is midnight UTC.
Result<TimestampNs> parse_timestamp(std::string_view text);

// Formats as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (always 9 fraction digits, UTC).
std::string format_timestamp(TimestampNs ts);
// Same without the trailing `Z` (Kaskada's CSV output form).
std::string format_timestamp_naive(TimestampNs ts);

// Monotonic clock in nanoseconds (for measuring, not for event time).
int64_t monotonic_ns();
// Wall clock now.
TimestampNs now_ns();

}  // namespace tideline
