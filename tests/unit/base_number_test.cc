#include "core/base/number.h"

#include <gtest/gtest.h>

#include <string>

namespace nucleus {
namespace {

TEST(ParseSize, UnitsAndForms) {
  EXPECT_EQ(parse_size("512m", "--x"), 512ULL << 20);
  EXPECT_EQ(parse_size("2g", "--x"), 2ULL << 30);
  EXPECT_EQ(parse_size("2G", "--x"), 2ULL << 30);
  EXPECT_EQ(parse_size("2GB", "--x"), 2ULL << 30);
  EXPECT_EQ(parse_size("1.5g", "--x"), 3ULL << 29);
  EXPECT_EQ(parse_size("64k", "--x"), 64ULL << 10);
  EXPECT_EQ(parse_size("512K", "--x"), 512ULL << 10);
  EXPECT_EQ(parse_size("100MiB", "--x"), 100ULL << 20);
  EXPECT_EQ(parse_size("1048576", "--x"), 1048576ULL);
  EXPECT_EQ(parse_size("4096b", "--x"), 4096ULL);
  EXPECT_EQ(parse_size("1t", "--x"), 1ULL << 40);
}

TEST(ParseSize, RefusesGarbageZeroAndOverflow) {
  for (const char* bad : {"", "m", "b", "-1m", "+1m", "1.5.5g", "1x", "12q", "abc", ".5g", "5.g",
                          "1 g", " 1g", "1e3", "0", "0m", "0.0001k", "99999999999t",
                          "99999999999999999999g", "4611686018427387904", "1ib", "512ib", "1.5",
                          "ib", "kb", "1.5b"}) {
    auto r = parse_size(bad, "--tmpfs");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().operation, "--tmpfs") << bad;  // every error names the flag
  }
}

TEST(ParseSize, SaysWhatIsWrong) {
  EXPECT_NE(parse_size("99999999999999999999", "--x").error().detail.find("too large"),
            std::string::npos);
  EXPECT_NE(parse_size("99999999999t", "--x").error().detail.find("too large"), std::string::npos);
  EXPECT_NE(parse_size("12q", "--x").error().detail.find("not a size"), std::string::npos);
  EXPECT_NE(parse_size("0.0001k", "--x").error().detail.find("at least one byte"),
            std::string::npos);
  EXPECT_NE(parse_size("1.5", "--x").error().detail.find("fraction"), std::string::npos);
}

TEST(ParseNumbers, WholeAndDecimal) {
  EXPECT_EQ(parse_whole_number("42", "--pids"), 42u);
  EXPECT_FALSE(parse_whole_number("4.2", "--pids"));
  EXPECT_FALSE(parse_whole_number("-1", "--pids"));
  EXPECT_FALSE(parse_whole_number("", "--pids"));
  EXPECT_DOUBLE_EQ(*parse_decimal("0.25", "--cpus"), 0.25);
  for (const char* bad : {"", ".5", "5.", "1.2.3", "1e3", "-1", "inf", "nan"})
    EXPECT_FALSE(parse_decimal(bad, "--cpus")) << bad;
}

}  // namespace
}  // namespace nucleus
