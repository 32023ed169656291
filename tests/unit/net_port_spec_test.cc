#include "net/port_spec.h"

#include <gtest/gtest.h>

namespace nucleus::net {
namespace {

IpAddress ip(std::string_view text) { return *IpAddress::parse(text); }

std::string error_of(std::string_view spec) {
  auto r = parse_port_spec(spec);
  return r ? std::string("<ok>") : r.error().message();
}

TEST(PortSpec, HostAndContainerPortDefaultsToTcpOnEveryAddress) {
  auto r = parse_port_spec("8080:80");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_FALSE((*r)[0].host_ip);
  EXPECT_EQ((*r)[0].host_port, 8080);
  EXPECT_EQ((*r)[0].container_port, 80);
  EXPECT_EQ((*r)[0].protocol, Protocol::kTcp);
}

TEST(PortSpec, HostIpv4AndUdp) {
  auto r = parse_port_spec("127.0.0.1:5353:53/udp");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].host_ip, ip("127.0.0.1"));
  EXPECT_EQ((*r)[0].host_port, 5353);
  EXPECT_EQ((*r)[0].container_port, 53);
  EXPECT_EQ((*r)[0].protocol, Protocol::kUdp);
}

TEST(PortSpec, BracketedIpv6HostAddress) {
  auto r = parse_port_spec("[::1]:8080:80/tcp");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].host_ip, ip("::1"));
  EXPECT_EQ((*r)[0].host_port, 8080);
  EXPECT_EQ(to_string((*r)[0]), "[::1]:8080->80/tcp");
}

TEST(PortSpec, RangesExpandPairwise) {
  auto r = parse_port_spec("8000-8002:9000-9002/udp");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*r)[i].host_port, 8000 + i);
    EXPECT_EQ((*r)[i].container_port, 9000 + i);
    EXPECT_EQ((*r)[i].protocol, Protocol::kUdp);
  }
}

TEST(PortSpec, FullPortRangeBoundsAccepted) {
  auto r = parse_port_spec("1:65535");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)[0].host_port, 1);
  EXPECT_EQ((*r)[0].container_port, 65535);
}

TEST(PortSpec, Rejections) {
  EXPECT_NE(error_of("0:80").find("outside 1-65535"), std::string::npos);
  EXPECT_NE(error_of("80:65536").find("outside 1-65535"), std::string::npos);
  EXPECT_NE(error_of("80:80/sctp").find("sctp"), std::string::npos);
  EXPECT_NE(error_of("80:80/").find("protocol"), std::string::npos);
  EXPECT_NE(error_of("8000-8010:80-81").find("11 ports"), std::string::npos);
  EXPECT_NE(error_of("8010-8000:80-90").find("reversed"), std::string::npos);
  EXPECT_NE(error_of("80").find("HOST_PORT:CONTAINER_PORT"), std::string::npos);
  EXPECT_NE(error_of(":80").find("host port is required"), std::string::npos);
  EXPECT_NE(error_of("1.2.3.4::80").find("host port is required"), std::string::npos);
  EXPECT_NE(error_of("abc:80").find("not a number"), std::string::npos);
  EXPECT_NE(error_of("80:8o").find("not a number"), std::string::npos);
  EXPECT_NE(error_of("-80:80").find("not a number"), std::string::npos);
  EXPECT_NE(error_of("::1:8080:80").find("brackets"), std::string::npos);
  EXPECT_NE(error_of("[::1:8080:80").find("']'"), std::string::npos);
  EXPECT_NE(error_of("[1.2.3.4]:8080:80").find("not an IPv6"), std::string::npos);
  EXPECT_NE(error_of("[::1]8080:80").find("':'"), std::string::npos);
  EXPECT_NE(error_of("[::1]:1:2:3").find("too many"), std::string::npos);
  EXPECT_NE(error_of("1.2.3.4:5:6:7").find("too many"), std::string::npos);
  EXPECT_NE(error_of("host:80:80").find("not an IP address"), std::string::npos);
  EXPECT_NE(error_of("").find("--publish"), std::string::npos);
  // Every message names the flag and quotes the value.
  EXPECT_NE(error_of("0:80").find("--publish: '0:80'"), std::string::npos);
}

TEST(PortSpecs, DuplicateHostPortAcrossFlagsIsAnError) {
  std::vector<std::string> specs = {"8080:80", "8080:81"};
  auto r = parse_port_specs(specs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("published twice"), std::string::npos);
}

TEST(PortSpecs, DuplicateInsideOverlappingRanges) {
  std::vector<std::string> specs = {"8000-8005:8000-8005", "8005-8006:1-2"};
  EXPECT_FALSE(parse_port_specs(specs));
}

TEST(PortSpecs, WildcardOverlapsSpecificAddress) {
  std::vector<std::string> a = {"127.0.0.1:8080:80", "8080:80"};
  EXPECT_FALSE(parse_port_specs(a));
  std::vector<std::string> b = {"0.0.0.0:8080:80", "127.0.0.1:8080:80"};
  EXPECT_FALSE(parse_port_specs(b));
}

TEST(PortSpecs, DistinctAddressesProtocolsOrPortsAreFine) {
  std::vector<std::string> specs = {"127.0.0.1:8080:80", "127.0.0.2:8080:80", "8080:80/udp",
                                    "[::1]:8080:80", "0.0.0.0:9090:90", "[::]:9090:90"};
  auto r = parse_port_specs(specs);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->size(), 6u);
}

TEST(PortSpecs, ErrorInOneFlagIsReported) {
  std::vector<std::string> specs = {"8080:80", "x:1"};
  auto r = parse_port_specs(specs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("'x:1'"), std::string::npos);
}

}  // namespace
}  // namespace nucleus::net
