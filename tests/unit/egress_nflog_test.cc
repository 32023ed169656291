// Parsing of the packet headers the kernel hands over for denied packets (egress/nflog.h).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <vector>

#include "egress/nflog.h"

namespace nucleus::egress {
namespace {

TEST(EgressNflog, Ipv4TcpDestinationAndPort) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x45;  // version 4, 20-byte header
  p[9] = IPPROTO_TCP;
  p[16] = 203, p[17] = 0, p[18] = 113, p[19] = 11;
  p[22] = 0x1f, p[23] = 0x90;  // port 8080
  auto d = parse_denied_packet(p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->destination.to_string(), "203.0.113.11");
  EXPECT_EQ(protocol_name(d->protocol), "tcp");
  EXPECT_EQ(d->port, 8080);
}

TEST(EgressNflog, Ipv4WithOptionsUsesIhl) {
  std::vector<uint8_t> p(48, 0);
  p[0] = 0x46;  // 24-byte header
  p[9] = IPPROTO_UDP;
  p[26] = 0, p[27] = 53;
  auto d = parse_denied_packet(p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 53);
}

TEST(EgressNflog, Ipv6FollowsHopByHopToIcmpv6) {
  std::vector<uint8_t> p(56, 0);
  p[0] = 0x60;
  p[6] = 0;                                  // hop-by-hop options follow
  p[24] = 0xff, p[25] = 0x02, p[39] = 0x16;  // ff02::16
  p[40] = IPPROTO_ICMPV6;                    // next header after the 8-byte hop-by-hop header
  p[41] = 0;
  p[48] = 143;  // MLDv2 report
  auto d = parse_denied_packet(p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->destination.to_string(), "ff02::16");
  EXPECT_EQ(protocol_name(d->protocol), "icmpv6");
  EXPECT_EQ(d->port, 143);
}

TEST(EgressNflog, TruncatedOrForeignPacketsAreIgnored) {
  EXPECT_FALSE(parse_denied_packet({}));
  std::vector<uint8_t> short4(10, 0);
  short4[0] = 0x45;
  EXPECT_FALSE(parse_denied_packet(short4));
  std::vector<uint8_t> bad_ihl(20, 0);
  bad_ihl[0] = 0x41;
  EXPECT_FALSE(parse_denied_packet(bad_ihl));
  std::vector<uint8_t> v5(40, 0);
  v5[0] = 0x50;
  EXPECT_FALSE(parse_denied_packet(v5));
  // A header without its transport part: no port, no crash.
  std::vector<uint8_t> bare(20, 0);
  bare[0] = 0x45;
  bare[9] = IPPROTO_TCP;
  auto d = parse_denied_packet(bare);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 0);
}

}  // namespace
}  // namespace nucleus::egress
