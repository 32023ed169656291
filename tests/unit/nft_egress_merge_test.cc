// merge_cidrs: what the interval sets of the egress table are built from.
#include <gtest/gtest.h>

#include "egress/nft_egress.h"

namespace nucleus::egress {
namespace {

using net::Cidr;

std::vector<Cidr> cidrs(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) out.push_back(Cidr::parse(t).value());
  return out;
}

TEST(MergeCidrs, MergesOverlapsAndAdjacentRanges) {
  auto in = cidrs({"10.0.1.0/24", "10.0.0.0/24", "10.0.0.128/25", "192.0.2.7/32", "fd00::/8"});
  auto v4 = merge_cidrs(in, AF_INET);
  ASSERT_EQ(v4.size(), 2u);
  EXPECT_EQ(v4[0].start.to_string(), "10.0.0.0");
  EXPECT_EQ(v4[0].end.to_string(), "10.0.2.0");  // first address after the range
  EXPECT_EQ(v4[1].start.to_string(), "192.0.2.7");
  EXPECT_EQ(v4[1].end.to_string(), "192.0.2.8");
  auto v6 = merge_cidrs(in, AF_INET6);
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].end.to_string(), "fe00::");
}

TEST(MergeCidrs, RangesReachingTheTopHaveNoEnd) {
  auto v4 = merge_cidrs(cidrs({"255.255.255.0/24", "0.0.0.0/0"}), AF_INET);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_TRUE(v4[0].to_max);
  auto v6 = merge_cidrs(cidrs({"ffff::/16", "::/0"}), AF_INET6);
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_TRUE(v6[0].to_max);
  auto top = merge_cidrs(cidrs({"255.255.255.255/32"}), AF_INET);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_TRUE(top[0].to_max);
}

}  // namespace
}  // namespace nucleus::egress
