#include <gtest/gtest.h>

#include <ctime>

#include "ratchet/cli/cli.h"
#include "base/error.h"

namespace ratchet {
namespace {

double LocalTime(int year, int month, int day, int hour, int minute) {
  std::tm local{};
  local.tm_year = year - 1900;
  local.tm_mon = month - 1;
  local.tm_mday = day;
  local.tm_hour = hour;
  local.tm_min = minute;
  local.tm_isdst = -1;
  return static_cast<double>(std::mktime(&local));
}

TEST(ParseUntil, IsLaterTodayWhenTheTimeIsStillAhead) {
  double now = LocalTime(2026, 11, 22, 4, 30);
  EXPECT_EQ(ParseUntil("06:15", now), LocalTime(2026, 11, 22, 6, 15));
}

TEST(ParseUntil, IsTomorrowWhenTheTimeHasPassed) {
  double now = LocalTime(2026, 11, 22, 23, 0);
  EXPECT_EQ(ParseUntil("07:00", now), LocalTime(2026, 11, 23, 7, 0));
}

TEST(ParseUntil, RejectsMalformedTimesNamingTheFlag) {
  for (const char* bad : {"7", "24:00", "12:60", "ab:cd", "12:30pm"}) {
    try {
      ParseUntil(bad, 0);
      FAIL() << bad;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("--until"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ratchet
