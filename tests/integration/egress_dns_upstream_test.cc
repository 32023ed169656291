// The DNS proxy against Debian's dnsmasq in throwaway namespaces (see ../shared/design/TESTING.md).
//
// dnsmasq runs in the "upstream" namespace on 198.51.100.2; the proxy's event loop runs on a
// thread that joined the "host" namespace (as the supervisor would) and serves 127.0.0.53:53
// there; test clients query it from threads that joined the host namespace too.
#include <ares.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <cctype>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "core/base/fs.h"
#include "egress/dns_message.h"
#include "egress/dns_proxy.h"
#include "egress/dns_socket.h"
#include "tests/support/command.h"
#include "tests/support/dns_query.h"
#include "tests/support/netns.h"

namespace nucleus::egress {
namespace {

using Bytes = std::vector<uint8_t>;
using nucleus::testing::make_query;
using nucleus::testing::eventually;
using nucleus::testing::TestNetwork;

net::IpAddress ip(std::string_view text) { return *net::IpAddress::parse(text); }

class EgressDnsProxy : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.ok());
    dir_ = "/tmp/nucleus-dns-" + net_.upstream();
    ASSERT_TRUE(fs::make_dirs(dir_));
    start_dnsmasq("203.0.113.10");
    auto fd = fs::open_fd("/run/netns/" + net_.host(), O_RDONLY);
    ASSERT_TRUE(fd) << fd.error().message();
    host_ns_ = std::move(*fd);

    std::promise<std::string> ready;
    io_thread_ = std::thread([this, &ready] {
      // Plays the supervisor: its loop (and c-ares' upstream sockets) live in the host netns.
      if (::setns(host_ns_.get(), CLONE_NEWNET) != 0) return ready.set_value("setns failed");
      auto sockets = open_dns_sockets(ip("127.0.0.53"), 53);
      if (!sockets) return ready.set_value(sockets.error().message());
      Policy policy;
      (void)add_domain(policy, "allowed.test");
      DnsProxyOptions options;
      options.upstreams = {{ip("198.51.100.2"), 53}};
      auto proxy = DnsProxy::create(
          io_, policy, options, std::move(sockets->udp), std::move(sockets->tcp),
          [this](const std::vector<net::IpAddress>& addresses, uint32_t ttl) -> Result<void> {
            uint8_t probe;
            int client = client_fd_;
            bool visible = client >= 0 && ::recv(client, &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
            std::lock_guard lock(mu_);
            published_.insert(published_.end(), addresses.begin(), addresses.end());
            ttls_.push_back(ttl);
            if (visible) answer_seen_before_publish_ = true;
            return {};
          });
      if (!proxy) return ready.set_value(proxy.error().message());
      proxy_ = std::move(*proxy);
      ready.set_value("");
      io_.run();
      proxy_.reset();
    });
    std::string error = ready.get_future().get();
    ASSERT_EQ(error, "");
  }

  void TearDown() override {
    work_.reset();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    stop_dnsmasq();
    nucleus::testing::sh("rm -rf " + dir_);
  }

  void start_dnsmasq(const std::string& allowed_address) {
    std::string log = dir_ + "/dnsmasq.log";
    net_.spawn_upstream(
        "exec dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts "
        "--user=root --listen-address=198.51.100.2 --bind-interfaces "
        "--address=/allowed.test/" +
        allowed_address +
        " --address=/other.test/203.0.113.11 --local-ttl=2 --log-queries "
        "--log-facility=" +
        log + " --pid-file=" + dir_ + "/dnsmasq.pid");
    ASSERT_TRUE(eventually([&] { return log_text().find("started") != std::string::npos; }))
        << log_text();
    std::string pid_file = dir_ + "/dnsmasq.pid";
    ASSERT_TRUE(eventually([&] {
      auto text = fs::read_file(pid_file);
      return text && !text->empty() && std::isdigit(static_cast<unsigned char>((*text)[0]));
    }));
    pid_ = std::stoi(*fs::read_file(pid_file));
  }

  void stop_dnsmasq() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int pid = pid_;
    EXPECT_TRUE(eventually([pid] { return ::kill(pid, 0) != 0; }));
    pid_ = -1;
  }

  std::string log_text() {
    auto text = fs::read_file(dir_ + "/dnsmasq.log");
    return text ? *text : std::string();
  }

  // Sends `query` to the proxy from a thread in the host netns; empty on timeout.
  Bytes ask(const Bytes& query, int type = SOCK_DGRAM) {
    Bytes answer;
    auto done = run_in_netns(host_ns_.get(), [&]() -> Result<void> {
      UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
      timeval tv{3, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(53);
      sin.sin_addr.s_addr = htonl(0x7f000035);  // 127.0.0.53
      if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0)
        return errno_error("connect");
      client_fd_ = fd.get();
      size_t prefix = type == SOCK_STREAM ? 2 : 0;
      Bytes out(prefix + query.size());
      if (prefix != 0) {
        out[0] = static_cast<uint8_t>(query.size() >> 8);
        out[1] = static_cast<uint8_t>(query.size());
      }
      std::copy(query.begin(), query.end(), out.begin() + static_cast<std::ptrdiff_t>(prefix));
      if (::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) < 0) return errno_error("send");
      Bytes buf(65536);
      ssize_t n = 0;
      if (type == SOCK_STREAM) {
        uint8_t len[2];
        if (::recv(fd.get(), len, 2, MSG_WAITALL) == 2) {
          buf.resize((size_t{len[0]} << 8) | len[1]);
          n = ::recv(fd.get(), buf.data(), buf.size(), MSG_WAITALL);
        }
      } else {
        n = ::recv(fd.get(), buf.data(), buf.size(), 0);
      }
      client_fd_ = -1;
      if (n > 0) answer.assign(buf.begin(), buf.begin() + n);
      return {};
    });
    EXPECT_TRUE(done) << done.error().message();
    return answer;
  }

  std::vector<net::IpAddress> published() {
    std::lock_guard lock(mu_);
    return published_;
  }

  TestNetwork net_;
  std::string dir_;
  int pid_ = -1;
  UniqueFd host_ns_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread io_thread_;
  std::unique_ptr<DnsProxy> proxy_;
  std::atomic<int> client_fd_{-1};
  std::mutex mu_;
  std::vector<net::IpAddress> published_;
  std::vector<uint32_t> ttls_;
  bool answer_seen_before_publish_ = false;
};

TEST_F(EgressDnsProxy, AllowedNameResolvesAndIsPublishedBeforeTheClientSeesIt) {
  Bytes answer = ask(make_query("allowed.test", dns::kTypeA));
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(dns::parse_header(answer)->rcode(), dns::Rcode::kNoError);
  EXPECT_EQ(dns::extract_addresses(answer).addresses, std::vector{ip("203.0.113.10")});
  EXPECT_EQ(published(), std::vector{ip("203.0.113.10")});
  std::lock_guard lock(mu_);
  EXPECT_FALSE(answer_seen_before_publish_);
  EXPECT_EQ(ttls_, std::vector<uint32_t>{60}) << "dnsmasq's 2 s TTL raised to the floor";
}

TEST_F(EgressDnsProxy, OtherNamesAreRefusedAndNeverReachUpstream) {
  Bytes refused = ask(make_query("other.test", dns::kTypeA));
  ASSERT_FALSE(refused.empty());
  EXPECT_EQ(dns::parse_header(refused)->rcode(), dns::Rcode::kRefused);
  Bytes exfil = ask(make_query("c2VjcmV0.other.test", 16));
  (void)exfil;
  // A later allowed query shows up in the log, so the log is current when we look for the others.
  ASSERT_FALSE(ask(make_query("allowed.test", dns::kTypeA)).empty());
  ASSERT_TRUE(eventually([&] { return log_text().find("allowed.test") != std::string::npos; }));
  EXPECT_EQ(log_text().find("other.test"), std::string::npos) << log_text();
  EXPECT_EQ(proxy_->counters().refused, 2u);
}

TEST_F(EgressDnsProxy, TcpQueriesWork) {
  Bytes answer = ask(make_query("allowed.test", dns::kTypeA), SOCK_STREAM);
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(dns::extract_addresses(answer).addresses, std::vector{ip("203.0.113.10")});
}

TEST_F(EgressDnsProxy, ChangedRecordIsFollowedAfterItsTtl) {
  Bytes first = ask(make_query("allowed.test", dns::kTypeA));
  ASSERT_EQ(dns::extract_addresses(first).addresses, std::vector{ip("203.0.113.10")});
  stop_dnsmasq();
  start_dnsmasq("203.0.113.12");
  EXPECT_TRUE(eventually(
      [&] {
        return dns::extract_addresses(ask(make_query("allowed.test", dns::kTypeA))).addresses ==
               std::vector{ip("203.0.113.12")};
      },
      std::chrono::seconds(20)));
  auto p = published();
  EXPECT_NE(std::find(p.begin(), p.end(), ip("203.0.113.12")), p.end());
}

TEST_F(EgressDnsProxy, GarbageAndOversizeQueriesAreDroppedWithoutHarm) {
  EXPECT_TRUE(ask(Bytes(600, 0x42)).empty());
  EXPECT_TRUE(ask(Bytes{0xde, 0xad}).empty());
  Bytes answer = ask(make_query("allowed.test", dns::kTypeA));
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(dns::parse_header(answer)->rcode(), dns::Rcode::kNoError);
  EXPECT_EQ(proxy_->counters().malformed, 2u);
}

}  // namespace
}  // namespace nucleus::egress
