// Unprivileged checks of the host-port guards: bind() probing, the cross-sandbox port registry,
// and the host veth naming.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "core/base/unique_fd.h"
#include "net/kernel/kernel_backend.h"
#include "net/kernel/port_check.h"
#include "net/kernel/port_lease.h"
#include "tests/support/temp_dir.h"

namespace nucleus::net::kernel {
namespace {

IpAddress ip(std::string_view text) { return *IpAddress::parse(text); }

// Binds 127.0.0.1 on an ephemeral port; returns the fd and the port.
std::pair<UniqueFd, uint16_t> bound_loopback(int type, bool listen_too) {
  UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  if (listen_too) {
    EXPECT_EQ(listen(fd.get(), 1), 0);
  }
  socklen_t len = sizeof sin;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &len);
  return {std::move(fd), ntohs(sin.sin_port)};
}

TEST(PortCheck, ListeningTcpPortIsInUse) {
  auto [fd, port] = bound_loopback(SOCK_STREAM, true);
  PortMapping m{ip("127.0.0.1"), port, 80, Protocol::kTcp};
  auto r = check_host_port_free(m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EADDRINUSE);
  EXPECT_NE(r.error().message().find("127.0.0.1:" + std::to_string(port) + "/tcp"),
            std::string::npos);
  // The wildcard overlaps the specific address too.
  EXPECT_FALSE(check_host_port_free(PortMapping{std::nullopt, port, 80, Protocol::kTcp}));
  // Same number, other protocol: free.
  EXPECT_TRUE(check_host_port_free(PortMapping{ip("127.0.0.1"), port, 80, Protocol::kUdp}));
  fd.reset();
  EXPECT_TRUE(check_host_port_free(m));
}

TEST(PortCheck, BoundUdpPortIsInUse) {
  auto [fd, port] = bound_loopback(SOCK_DGRAM, false);
  auto r = check_host_port_free(PortMapping{ip("127.0.0.1"), port, 53, Protocol::kUdp});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EADDRINUSE);
}

TEST(PortCheck, ForeignHostAddressIsReported) {
  // 192.0.2.1 (TEST-NET-1) is on no interface here; bind() fails locally, nothing is sent.
  auto r = check_host_port_free(PortMapping{ip("192.0.2.1"), 18080, 80, Protocol::kTcp});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EADDRNOTAVAIL);
  EXPECT_NE(r.error().message().find("not on this machine"), std::string::npos);
}

TEST(HostVethName, ShortStableAndDistinct) {
  std::string a = host_veth_name("sandbox-a");
  EXPECT_EQ(a.size(), 12u);
  EXPECT_LE(a.size(), 15u);  // IFNAMSIZ - 1
  EXPECT_EQ(a.rfind("nv", 0), 0u);
  EXPECT_EQ(a, host_veth_name("sandbox-a"));
  EXPECT_NE(a, host_veth_name("sandbox-b"));
  EXPECT_EQ(host_veth_name(std::string(300, 'x')).size(), 12u);
}

class PortLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(root_.empty()); }
  Owner live(std::string id) { return *Owner::self(std::move(id)); }
  nucleus::testing::TempDir dir_{"nucleus-ports"};
  const std::string& root_ = dir_.path();
};

TEST_F(PortLeaseTest, SecondSandboxCannotPublishTheSameHostPort) {
  std::vector<PortMapping> a = {{std::nullopt, 8080, 80, Protocol::kTcp}};
  std::vector<PortMapping> b = {{ip("127.0.0.1"), 8080, 81, Protocol::kTcp}};
  std::vector<PortMapping> c = {{std::nullopt, 8080, 80, Protocol::kUdp}};
  ASSERT_TRUE(port_lease::reserve(root_, live("a"), a));
  auto r = port_lease::reserve(root_, live("b"), b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EADDRINUSE);
  EXPECT_NE(r.error().message().find("published by sandbox a"), std::string::npos);
  EXPECT_TRUE(port_lease::reserve(root_, live("c"), c));  // udp is another socket
  // The owner itself may republish (replace) its set.
  EXPECT_TRUE(port_lease::reserve(root_, live("a"), a));
  ASSERT_TRUE(port_lease::release(root_, "a"));
  EXPECT_TRUE(port_lease::reserve(root_, live("b"), b));
}

TEST_F(PortLeaseTest, DeadOwnersPortsAreReclaimedAndUndoReleases) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  std::vector<PortMapping> p = {{std::nullopt, 9090, 90, Protocol::kTcp}};
  ASSERT_TRUE(port_lease::reserve(root_, Owner{"crashed", child, 1}, p));
  EXPECT_TRUE(port_lease::reserve(root_, live("next"), p));
  JournalEntry entry{std::string(port_lease::kJournalKind), "next",
                     port_lease::journal_attrs(root_)};
  ASSERT_TRUE(port_lease::undo(entry));
  ASSERT_TRUE(port_lease::undo(entry));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/net/ports.json"));
}

}  // namespace
}  // namespace nucleus::net::kernel
