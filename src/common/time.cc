#include "common/time.h"

#include <chrono>
#include <cstdio>

namespace tideline {

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's well-known civil calendar algorithm (public domain arithmetic).
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

CivilDate civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2) {
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[m - 1];
}

}  // namespace

Result<TimestampNs> parse_timestamp(std::string_view s) {
  auto bad = [&](const char* why) {
    return error(StatusCode::kInvalidArgument,
                 std::string("invalid timestamp '") + std::string(s) + "': " + why);
  };
  int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  if (!digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, &mo) ||
      s[7] != '-' || !digits(s, 8, 2, &d)) {
    return bad("expected YYYY-MM-DD");
  }
  if (mo < 1 || mo > 12) return bad("month out of range");
  if (d < 1 || d > static_cast<int64_t>(days_in_month(y, static_cast<unsigned>(mo)))) {
    return bad("day out of range");
  }
  size_t p = 10;
  int64_t offset_s = 0;
  if (p < s.size()) {
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ') return bad("expected 'T' after the date");
    ++p;
    if (!digits(s, p, 2, &h) || p + 2 >= s.size() || s[p + 2] != ':' || !digits(s, p + 3, 2, &mi)) {
      return bad("expected HH:MM");
    }
    p += 5;
    if (p < s.size() && s[p] == ':') {
      if (!digits(s, p + 1, 2, &sec)) return bad("expected seconds");
      p += 3;
    }
    if (h > 23 || mi > 59 || sec > 60) return bad("time of day out of range");
    if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
      ++p;
      int n = 0;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
        if (n < 9) {
          frac = frac * 10 + (s[p] - '0');
          ++n;
        }
        ++p;
      }
      if (n == 0) return bad("expected fraction digits after '.'");
      for (; n < 9; ++n) frac *= 10;
    }
    if (p < s.size()) {
      if (s[p] == 'Z' || s[p] == 'z') {
        ++p;
      } else if (s[p] == '+' || s[p] == '-') {
        int sign = s[p] == '-' ? -1 : 1;
        int64_t oh, om = 0;
        if (!digits(s, p + 1, 2, &oh)) return bad("expected offset hours");
        p += 3;
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size()) {
          if (!digits(s, p, 2, &om)) return bad("expected offset minutes");
          p += 2;
        }
        offset_s = sign * (oh * 3600 + om * 60);
      }
    }
    if (p != s.size()) return bad("unexpected trailing characters");
  }
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  int64_t ns;
  // Nanoseconds since 1970 fit in int64 only for about 1677..2262.
  if (__builtin_mul_overflow(secs, kNanosPerSecond, &ns) || __builtin_add_overflow(ns, frac, &ns)) {
    return bad("out of the representable range (years 1677..2262)");
  }
  return ns;
}

static std::string format_impl(TimestampNs ts, bool z) {
  int64_t days = floor_div(ts, kNanosPerDay);
  int64_t rem = ts - days * kNanosPerDay;
  CivilDate c = civil_from_days(days);
  int64_t secs = rem / kNanosPerSecond;
  int64_t nanos = rem % kNanosPerSecond;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%09lld%s",
                static_cast<long long>(c.year), c.month, c.day, static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(nanos), z ? "Z" : "");
  return buf;
}

std::string format_timestamp(TimestampNs ts) {
  return format_impl(ts, true);
}
std::string format_timestamp_naive(TimestampNs ts) {
  return format_impl(ts, false);
}

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TimestampNs now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tideline
