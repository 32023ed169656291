// DnsProxy and Resolver against a fake upstream resolver. Everything runs on loopback inside a
// private network namespace made by the test (unshare), so nothing can leave the machine.
#include <ares.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "egress/dns_message.h"
#include "egress/dns_proxy.h"
#include "egress/dns_socket.h"
#include "egress/resolver.h"
#include "tests/support/command.h"
#include "tests/support/dns_query.h"

namespace nucleus::egress {
namespace {

using Bytes = std::vector<uint8_t>;
using nucleus::testing::make_query;
using nucleus::testing::eventually;

net::IpAddress ip(std::string_view text) { return *net::IpAddress::parse(text); }

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

// A stub authoritative server: name -> (address, ttl); everything else NXDOMAIN.
class FakeUpstream {
 public:
  explicit FakeUpstream(asio::io_context& io)
      : socket_(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    receive();
  }
  uint16_t port() const { return socket_.local_endpoint().port(); }
  void set(const std::string& name, const std::string& address, uint32_t ttl) {
    std::lock_guard lock(mu_);
    records_[name] = {ip(address), ttl};
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buf_), peer_, [this](std::error_code ec, size_t n) {
      if (ec) return;
      Bytes query(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
      auto q = dns::parse_query(query);
      if (q) {
        Bytes answer(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(q->question_end));
        answer[2] |= 0x80;
        answer[3] = 0x80;
        answer[10] = answer[11] = 0;
        std::lock_guard lock(mu_);
        seen_.push_back(normalize_name(q->name));
        auto it = records_.find(normalize_name(q->name));
        if (it == records_.end()) {
          answer[3] |= 3;  // NXDOMAIN
        } else if ((q->qtype == dns::kTypeA) == it->second.first.is_v4()) {
          put16(answer, 0xc00c);
          put16(answer, q->qtype);
          put16(answer, dns::kClassIn);
          put16(answer, static_cast<uint16_t>(it->second.second >> 16));
          put16(answer, static_cast<uint16_t>(it->second.second));
          put16(answer, static_cast<uint16_t>(it->second.first.size()));
          answer.insert(answer.end(), it->second.first.bytes.begin(),
                        it->second.first.bytes.begin() +
                            static_cast<std::ptrdiff_t>(it->second.first.size()));
          answer[7] = 1;
        }
        std::error_code send_ec;
        socket_.send_to(asio::buffer(answer), peer_, 0, send_ec);
      }
      receive();
    });
  }
  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint peer_;
  std::array<uint8_t, 4096> buf_{};
  std::mutex mu_;
  std::map<std::string, std::pair<net::IpAddress, uint32_t>> records_;
  std::vector<std::string> seen_;
};

// A blocking client socket with a receive deadline.
class Client {
 public:
  Client(int type, uint16_t port) : fd_(::socket(AF_INET, type | SOCK_CLOEXEC, 0)) {
    timeval tv{2, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
    tcp_ = type == SOCK_STREAM;
  }
  int fd() const { return fd_.get(); }
  bool send(const Bytes& message) {
    Bytes out;
    if (tcp_) put16(out, static_cast<uint16_t>(message.size()));
    out.insert(out.end(), message.begin(), message.end());
    return connected_ && ::send(fd_.get(), out.data(), out.size(), MSG_NOSIGNAL) ==
                             static_cast<ssize_t>(out.size());
  }
  // Empty on timeout (or a closed TCP connection).
  Bytes receive() {
    Bytes buf(65536);
    if (!tcp_) {
      ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
      buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
      return buf;
    }
    uint8_t len[2];
    if (::recv(fd_.get(), len, 2, MSG_WAITALL) != 2) return {};
    buf.resize((size_t{len[0]} << 8) | len[1]);
    if (::recv(fd_.get(), buf.data(), buf.size(), MSG_WAITALL) != static_cast<ssize_t>(buf.size()))
      return {};
    return buf;
  }
  Bytes ask(const Bytes& query) { return send(query) ? receive() : Bytes{}; }

 private:
  UniqueFd fd_;
  bool connected_ = false;
  bool tcp_ = false;
};

dns::Rcode rcode_of(const Bytes& answer) { return dns::parse_header(answer)->rcode(); }

struct Published {
  std::vector<net::IpAddress> addresses;
  uint32_t ttl = 0;
  bool answer_already_visible = false;
};

class DnsProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A private network namespace with only loopback: the fake upstream and the proxy live there.
    int flags = geteuid() == 0 ? CLONE_NEWNET : CLONE_NEWUSER | CLONE_NEWNET;
    ASSERT_EQ(::unshare(flags), 0) << "cannot create a private network namespace";
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    ASSERT_EQ(::ioctl(s.get(), SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    ASSERT_EQ(::ioctl(s.get(), SIOCSIFFLAGS, &ifr), 0);
  }

  void SetUp() override { upstream_ = std::make_unique<FakeUpstream>(io_); }

  void start(DnsProxyOptions options = {}, bool fail_publish = false) {
    Policy policy;
    ASSERT_TRUE(add_domain(policy, "allowed.test"));
    ASSERT_TRUE(add_domain(policy, "*.wild.test"));
    upstream_->set("allowed.test", "203.0.113.10", 300);
    upstream_->set("a.wild.test", "203.0.113.12", 5);
    upstream_->set("other.test", "203.0.113.11", 300);
    options.upstreams = {{ip("127.0.0.1"), upstream_->port()}};
    options.upstream_timeout = std::chrono::milliseconds(300);
    auto sockets = open_dns_sockets(ip("127.0.0.1"), 0);
    ASSERT_TRUE(sockets) << sockets.error().message();
    port_ = *local_port(sockets->udp.get());
    auto proxy = DnsProxy::create(
        io_, policy, options, std::move(sockets->udp), std::move(sockets->tcp),
        [this, fail_publish](const std::vector<net::IpAddress>& addresses,
                             uint32_t ttl) -> Result<void> {
          uint8_t probe;
          bool visible = current_client_ >= 0 &&
                         ::recv(current_client_, &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
          std::lock_guard lock(mu_);
          published_.push_back({addresses, ttl, visible});
          if (fail_publish) return fail("nft", "set is full");
          return {};
        },
        [this](const DnsDenial& d) {
          std::lock_guard lock(mu_);
          denials_.push_back(d);
        });
    ASSERT_TRUE(proxy) << proxy.error().message();
    proxy_ = std::move(*proxy);
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    asio::post(io_, [this] { proxy_.reset(); });
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    proxy_.reset();
  }

  std::vector<Published> published() {
    std::lock_guard lock(mu_);
    return published_;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<FakeUpstream> upstream_;
  std::unique_ptr<DnsProxy> proxy_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<int> current_client_{-1};
  std::mutex mu_;
  std::vector<Published> published_;
  std::vector<DnsDenial> denials_;
};

TEST_F(DnsProxyTest, AllowedNameIsForwardedAndPublishedBeforeTheAnswer) {
  start();
  Client client(SOCK_DGRAM, port_);
  current_client_ = client.fd();
  Bytes answer = client.ask(make_query("Allowed.Test", dns::kTypeA, 0x7777));
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(dns::parse_header(answer)->id, 0x7777);
  EXPECT_EQ(rcode_of(answer), dns::Rcode::kNoError);
  EXPECT_EQ(dns::extract_addresses(answer).addresses, std::vector{ip("203.0.113.10")});
  auto p = published();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].addresses, std::vector{ip("203.0.113.10")});
  EXPECT_EQ(p[0].ttl, 300u);
  EXPECT_FALSE(p[0].answer_already_visible) << "the answer must wait for the allow set";
  EXPECT_EQ(upstream_->seen(), std::vector<std::string>{"allowed.test"});
  EXPECT_EQ(proxy_->counters().forwarded, 1u);
}

TEST_F(DnsProxyTest, TtlBelowTheFloorIsRaised) {
  start();
  Client client(SOCK_DGRAM, port_);
  Bytes answer = client.ask(make_query("a.wild.test", dns::kTypeA));
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(rcode_of(answer), dns::Rcode::kNoError);
  ASSERT_EQ(published().size(), 1u);
  EXPECT_EQ(published()[0].ttl, 60u);
}

TEST_F(DnsProxyTest, OtherNamesAreRefusedAndNeverSentUpstream) {
  start();
  Client client(SOCK_DGRAM, port_);
  for (const char* name : {"other.test", "allowed.test.evil", "x.allowed.test", "b.a.wild.test",
                           "wild.test", "secret-data.exfil.example"}) {
    Bytes answer = client.ask(make_query(name, dns::kTypeA));
    ASSERT_FALSE(answer.empty()) << name;
    EXPECT_EQ(rcode_of(answer), dns::Rcode::kRefused) << name;
  }
  EXPECT_TRUE(upstream_->seen().empty());
  EXPECT_TRUE(published().empty());
  EXPECT_EQ(proxy_->counters().refused, 6u);
  EXPECT_EQ(proxy_->counters().forwarded, 0u);
  std::lock_guard lock(mu_);
  ASSERT_EQ(denials_.size(), 6u);
  EXPECT_EQ(denials_[0].name, "other.test");
  EXPECT_EQ(denials_[0].qtype, dns::kTypeA);
  EXPECT_EQ(denials_[0].reason, "not in egress domains");
  EXPECT_TRUE(denials_[0].client.starts_with("127.0.0.1:"));
}

TEST_F(DnsProxyTest, SecondQueryIsServedFromTheCacheAndStillPublished) {
  start();
  Client client(SOCK_DGRAM, port_);
  ASSERT_FALSE(client.ask(make_query("allowed.test", dns::kTypeA, 1)).empty());
  Bytes again = client.ask(make_query("ALLOWED.test", dns::kTypeA, 2));
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(dns::parse_header(again)->id, 2);
  EXPECT_EQ(dns::extract_addresses(again).addresses, std::vector{ip("203.0.113.10")});
  EXPECT_EQ(upstream_->seen().size(), 1u) << "served from cache";
  EXPECT_EQ(proxy_->counters().cache_hits, 1u);
  EXPECT_EQ(published().size(), 2u) << "a cache hit refreshes the allow set too";
}

TEST_F(DnsProxyTest, TcpQueriesWorkAndConnectionsAreReused) {
  start();
  Client client(SOCK_STREAM, port_);
  Bytes answer = client.ask(make_query("allowed.test", dns::kTypeA));
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(dns::extract_addresses(answer).addresses, std::vector{ip("203.0.113.10")});
  Bytes refused = client.ask(make_query("other.test", dns::kTypeA));
  ASSERT_FALSE(refused.empty());
  EXPECT_EQ(rcode_of(refused), dns::Rcode::kRefused);
}

TEST_F(DnsProxyTest, GarbageAndOversizeQueriesAreDroppedAndServiceContinues) {
  start();
  Client client(SOCK_DGRAM, port_);
  EXPECT_TRUE(client.send(Bytes(600, 0x41)));  // larger than 512
  EXPECT_TRUE(client.send(Bytes{1, 2, 3}));    // shorter than a header
  Bytes response = make_query("allowed.test", dns::kTypeA);
  response[2] |= 0x80;
  EXPECT_TRUE(client.send(response));  // a response: never answered
  Bytes bad_question = make_query("allowed.test", dns::kTypeA);
  bad_question[12] = 0xc0;
  Bytes formerr = client.ask(bad_question);  // header readable: FORMERR
  ASSERT_FALSE(formerr.empty());
  EXPECT_EQ(rcode_of(formerr), dns::Rcode::kFormErr);
  Bytes ok = client.ask(make_query("allowed.test", dns::kTypeA));
  ASSERT_FALSE(ok.empty());
  EXPECT_EQ(rcode_of(ok), dns::Rcode::kNoError) << "no stray answer came before this one";
  EXPECT_EQ(proxy_->counters().malformed, 4u);
  EXPECT_TRUE(upstream_->seen() == std::vector<std::string>{"allowed.test"});

  Client tcp(SOCK_STREAM, port_);
  Bytes huge(5000, 0);
  EXPECT_TRUE(tcp.send(huge));  // length prefix above 4096: connection closed
  EXPECT_TRUE(tcp.receive().empty());
}

TEST_F(DnsProxyTest, RateLimitDropsExcessQueries) {
  DnsProxyOptions options;
  options.rate_per_second = 0.001;
  options.rate_burst = 2;
  start(options);
  Client client(SOCK_DGRAM, port_);
  EXPECT_FALSE(client.ask(make_query("other.test", dns::kTypeA)).empty());
  EXPECT_FALSE(client.ask(make_query("other.test", dns::kTypeA)).empty());
  EXPECT_TRUE(client.ask(make_query("other.test", dns::kTypeA)).empty());
  EXPECT_EQ(proxy_->counters().rate_limited, 1u);
}

TEST_F(DnsProxyTest, FailingAllowSetTurnsTheAnswerIntoServfail) {
  start({}, /*fail_publish=*/true);
  Client client(SOCK_DGRAM, port_);
  Bytes answer = client.ask(make_query("allowed.test", dns::kTypeA));
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(rcode_of(answer), dns::Rcode::kServFail);
  EXPECT_TRUE(dns::extract_addresses(answer).addresses.empty());
}

TEST_F(DnsProxyTest, NoPendingSlotsMeansServfail) {
  DnsProxyOptions options;
  options.max_pending = 0;
  start(options);
  Client client(SOCK_DGRAM, port_);
  Bytes answer = client.ask(make_query("allowed.test", dns::kTypeA));
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(rcode_of(answer), dns::Rcode::kServFail);
  EXPECT_TRUE(upstream_->seen().empty());
  EXPECT_EQ(proxy_->counters().overloaded, 1u);
}

TEST_F(DnsProxyTest, ResolverReturnsAddressesWithTtls) {
  start();
  AresOptions options{{{ip("127.0.0.1"), upstream_->port()}}, std::chrono::milliseconds(300), 2};
  auto r = resolve_now(options, {"allowed.test", "missing.test"});
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "allowed.test");
  ASSERT_EQ((*r)[0].addresses.size(), 1u);
  EXPECT_EQ((*r)[0].addresses[0].address, ip("203.0.113.10"));
  EXPECT_EQ((*r)[0].addresses[0].ttl_seconds, 300u);
  EXPECT_TRUE((*r)[0].error.empty());
  EXPECT_TRUE((*r)[1].addresses.empty());
  EXPECT_FALSE((*r)[1].error.empty());
}

TEST_F(DnsProxyTest, RefresherFollowsAChangedRecord) {
  start();
  upstream_->set("rotating.test", "203.0.113.12", 1);
  AresOptions options{{{ip("127.0.0.1"), upstream_->port()}}, std::chrono::milliseconds(300), 2};
  std::unique_ptr<Resolver> resolver;
  std::unique_ptr<DomainRefresher> refresher;
  std::mutex mu;
  std::vector<net::IpAddress> seen;
  RefreshOptions refresh;
  refresh.min_interval = std::chrono::milliseconds(50);
  refresh.retry_interval = std::chrono::milliseconds(50);
  asio::post(io_, [&] {
    resolver = std::move(*Resolver::create(io_, options));
    refresher = std::make_unique<DomainRefresher>(
        io_, *resolver, std::vector<std::string>{"rotating.test"},
        [&](const std::vector<net::IpAddress>& addresses, uint32_t) -> Result<void> {
          std::lock_guard lock(mu);
          seen.insert(seen.end(), addresses.begin(), addresses.end());
          return {};
        },
        refresh);
    refresher->start();
  });
  auto saw = [&](const char* address) {
    std::lock_guard lock(mu);
    return std::find(seen.begin(), seen.end(), ip(address)) != seen.end();
  };
  EXPECT_TRUE(eventually([&] { return saw("203.0.113.12"); }));
  upstream_->set("rotating.test", "203.0.113.13", 1);
  EXPECT_TRUE(eventually([&] { return saw("203.0.113.13"); }));
  std::promise<void> done;
  asio::post(io_, [&] {
    refresher.reset();
    resolver.reset();
    done.set_value();
  });
  done.get_future().wait();
}

TEST(DnsRefresh, DelayFollowsTtlWithinBounds) {
  RefreshOptions o;
  o.ttl_floor_seconds = 60;
  o.min_interval = std::chrono::seconds(10);
  EXPECT_EQ(refresh_delay(300, o), std::chrono::milliseconds(225000));
  EXPECT_EQ(refresh_delay(2, o), std::chrono::seconds(10)) << "never more often than min";
  o.min_interval = std::chrono::seconds(100);
  EXPECT_EQ(refresh_delay(2, o), std::chrono::milliseconds(45000))
      << "always before the floored lifetime runs out";
}

}  // namespace
}  // namespace nucleus::egress
