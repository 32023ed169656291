#include "egress/dns_proxy.h"

#include <ares.h>
#include <sys/socket.h>

#include <array>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <map>

#include "core/base/log.h"
#include "egress/dns_cache.h"
#include "egress/dns_message.h"

namespace nucleus::egress {
namespace {

constexpr log::Logger kLog("dns");
using Bytes = std::vector<uint8_t>;
// Sends the answer; an empty vector means "drop" (UDP: send nothing, TCP: close the connection).
using Reply = std::function<void(Bytes)>;

struct AtomicCounters {
  std::atomic<uint64_t> queries{0}, forwarded{0}, refused{0}, cache_hits{0}, rate_limited{0},
      malformed{0}, overloaded{0}, upstream_failures{0};
};

Result<int> socket_family(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return errno_error("dns proxy socket", "getsockname");
  return ss.ss_family;
}

std::string endpoint_text(const asio::ip::address& address, unsigned short port) {
  return address.is_v6() ? "[" + address.to_string() + "]:" + std::to_string(port)
                         : address.to_string() + ":" + std::to_string(port);
}

}  // namespace

struct TcpSession;

struct DnsProxy::Impl : std::enable_shared_from_this<DnsProxy::Impl> {
  Impl(asio::io_context& io_, Policy policy_, DnsProxyOptions options_)
      : io(io_),
        policy(std::move(policy_)),
        options(std::move(options_)),
        udp(io_),
        acceptor(io_),
        cache(options.cache_entries),
        limiter(options.rate_per_second, options.rate_burst, options.max_rate_clients) {}

  asio::io_context& io;
  Policy policy;
  DnsProxyOptions options;
  std::unique_ptr<AresChannel> channel;
  asio::ip::udp::socket udp;
  asio::ip::tcp::acceptor acceptor;
  dns::AnswerCache cache;
  dns::RateLimiter limiter;
  AddressCallback on_addresses;
  DenialCallback on_denied;
  AtomicCounters counters;
  size_t pending = 0;
  bool stopped = false;
  std::array<uint8_t, dns::kMaxUdpQuery + 1> udp_buffer{};
  asio::ip::udp::endpoint udp_peer;
  std::map<uint64_t, std::shared_ptr<TcpSession>> sessions;
  uint64_t next_session = 0;

  void receive_udp();
  void accept_tcp();
  void handle(std::span<const uint8_t> message, const asio::ip::address& peer, unsigned short port,
              bool over_udp, Reply reply);
  void deny(const dns::Query& q, std::span<const uint8_t> message, const std::string& client,
            std::string reason, const Reply& reply);
  // Hands addresses to the callback; false when the answer must become SERVFAIL.
  bool publish(const std::vector<net::IpAddress>& addresses, uint32_t ttl);
  void stop();
};

struct TcpSession : std::enable_shared_from_this<TcpSession> {
  TcpSession(asio::io_context& io, uint64_t id_, std::weak_ptr<DnsProxy::Impl> proxy_)
      : socket(io), idle(io), id(id_), proxy(std::move(proxy_)) {}
  asio::ip::tcp::socket socket;
  asio::steady_timer idle;
  uint64_t id;
  std::weak_ptr<DnsProxy::Impl> proxy;
  std::array<uint8_t, 2> length{};
  Bytes body;
  Bytes out;
  bool closed = false;

  void close() {
    if (closed) return;
    closed = true;
    std::error_code ec;
    socket.close(ec);
    idle.cancel();
    if (auto p = proxy.lock()) p->sessions.erase(id);  // may drop the last reference: do it last
  }

  void read_next(std::chrono::seconds idle_timeout) {
    auto self = shared_from_this();
    idle.expires_after(idle_timeout);
    idle.async_wait([self](const std::error_code& ec) {
      if (!ec) self->close();
    });
    asio::async_read(
        socket, asio::buffer(length), [self, idle_timeout](std::error_code ec, size_t) {
          if (ec || self->closed) return self->close();
          size_t size = (size_t{self->length[0]} << 8) | self->length[1];
          auto p = self->proxy.lock();
          if (!p) return self->close();
          if (size < dns::kHeaderSize || size > dns::kMaxTcpQuery) {
            p->counters.malformed++;
            p->counters.queries++;
            return self->close();
          }
          self->body.resize(size);
          asio::async_read(
              self->socket, asio::buffer(self->body),
              [self, idle_timeout](std::error_code ec2, size_t) {
                auto p2 = self->proxy.lock();
                if (ec2 || self->closed || !p2) return self->close();
                std::error_code peer_ec;
                auto peer = self->socket.remote_endpoint(peer_ec);
                p2->handle(self->body, peer.address(), peer.port(), false,
                           [self, idle_timeout](Bytes answer) {
                             if (self->closed) return;
                             if (answer.empty() || answer.size() > 0xffff) return self->close();
                             self->out.clear();
                             self->out.push_back(static_cast<uint8_t>(answer.size() >> 8));
                             self->out.push_back(static_cast<uint8_t>(answer.size()));
                             self->out.insert(self->out.end(), answer.begin(), answer.end());
                             asio::async_write(self->socket, asio::buffer(self->out),
                                               [self, idle_timeout](std::error_code ec3, size_t) {
                                                 if (ec3) return self->close();
                                                 self->read_next(idle_timeout);
                                               });
                           });
              });
        });
  }
};

void DnsProxy::Impl::receive_udp() {
  if (stopped || !udp.is_open()) return;
  udp.async_receive_from(
      asio::buffer(udp_buffer), udp_peer,
      [weak = weak_from_this()](std::error_code ec, size_t size) {
        auto self = weak.lock();
        if (!self || self->stopped) return;
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
          asio::ip::udp::endpoint peer = self->udp_peer;
          std::span<const uint8_t> message(self->udp_buffer.data(), size);
          if (size > dns::kMaxUdpQuery) {  // filled the buffer: larger than any allowed query
            self->counters.queries++;
            self->counters.malformed++;
          } else {
            self->handle(message, peer.address(), peer.port(), true, [weak, peer](Bytes answer) {
              auto s = weak.lock();
              if (!s || s->stopped || answer.empty()) return;
              std::error_code send_ec;
              // Non-blocking: a full socket buffer drops the answer, and the client
              // retries, rather than stalling the supervisor's loop.
              s->udp.send_to(asio::buffer(answer), peer, 0, send_ec);
            });
          }
        }
        self->receive_udp();
      });
}

void DnsProxy::Impl::accept_tcp() {
  if (stopped || !acceptor.is_open()) return;
  // Accept by hand with accept4(SOCK_CLOEXEC): Asio's accept does not set CLOEXEC.
  acceptor.async_wait(asio::ip::tcp::acceptor::wait_read, [weak = weak_from_this()](
                                                              std::error_code ec) {
    auto self = weak.lock();
    if (!self || self->stopped || ec == asio::error::operation_aborted) return;
    int fd =
        ::accept4(self->acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      UniqueFd conn(fd);
      if (self->sessions.size() >= self->options.max_tcp_clients) {
        self->counters.overloaded++;  // closing is the only backpressure TCP clients understand
      } else {
        auto family = socket_family(conn.get());
        auto session = std::make_shared<TcpSession>(self->io, self->next_session++, weak);
        std::error_code assign_ec;
        if (family) {
          session->socket.assign(*family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(),
                                 conn.get(), assign_ec);
          if (!assign_ec) {
            (void)conn.release();
            self->sessions.emplace(session->id, session);
            session->read_next(self->options.tcp_idle_timeout);
          }
        }
      }
    }
    self->accept_tcp();
  });
}

bool DnsProxy::Impl::publish(const std::vector<net::IpAddress>& addresses, uint32_t ttl) {
  if (addresses.empty() || !on_addresses) return true;
  uint32_t lifetime = std::max(ttl, options.ttl_floor_seconds);
  Result<void> done = fail("dns proxy", "address callback threw");
  try {
    done = on_addresses(addresses, lifetime);
  } catch (const std::exception& e) {
    done = fail("dns proxy", std::string("address callback threw: ") + e.what());
  }
  if (!done) {
    kLog.error("cannot allow resolved addresses: " + done.error().message());
    counters.upstream_failures++;
    return false;
  }
  return true;
}

void DnsProxy::Impl::deny(const dns::Query& q, std::span<const uint8_t> message,
                          const std::string& client, std::string reason, const Reply& reply) {
  counters.refused++;
  kLog.debug("refused " + q.name + " from " + client + ": " + reason);
  if (on_denied) on_denied(DnsDenial{client, q.name, q.qtype, std::move(reason)});
  reply(dns::make_error_response(message, q.question_end, dns::Rcode::kRefused));
}

void DnsProxy::Impl::handle(std::span<const uint8_t> message, const asio::ip::address& peer,
                            unsigned short port, bool over_udp, Reply reply) {
  counters.queries++;
  auto now = dns::Clock::now();
  if (!limiter.allow(peer.to_string(), now)) {
    counters.rate_limited++;
    return reply({});
  }
  auto header = dns::parse_header(message);
  if (!header || header->is_response()) {  // responses are never answered: no reflection loops
    counters.malformed++;
    return reply({});
  }
  auto parsed = dns::parse_query(message);
  if (!parsed) {
    counters.malformed++;
    auto rcode = header->opcode() != 0 ? dns::Rcode::kNotImp : dns::Rcode::kFormErr;
    return reply(dns::make_error_response(message, 0, rcode));
  }
  const dns::Query& q = *parsed;
  std::string client = endpoint_text(peer, port);
  if (q.qclass != dns::kClassIn) return deny(q, message, client, "class is not IN", reply);
  if (!policy.matches(q.name)) return deny(q, message, client, "not in egress domains", reply);

  size_t limit = over_udp ? q.udp_answer_limit() : 0xffff;
  if (auto hit = cache.lookup(q, message, now)) {
    counters.cache_hits++;
    if (!publish(hit->addresses, hit->remaining_ttl))
      return reply(dns::make_error_response(message, q.question_end, dns::Rcode::kServFail));
    return reply(dns::fit_udp(std::move(hit->answer), q.question_end, limit));
  }
  if (pending >= options.max_pending) {
    counters.overloaded++;
    return reply(dns::make_error_response(message, q.question_end, dns::Rcode::kServFail));
  }
  ++pending;
  counters.forwarded++;
  Bytes query(message.begin(), message.end());
  channel->send(query, [weak = weak_from_this(), q, query, limit, reply = std::move(reply)](
                           int status, std::span<const uint8_t> raw) {
    auto self = weak.lock();
    if (!self) return;
    --self->pending;
    if (self->stopped) return;
    auto servfail = [&] {
      self->counters.upstream_failures++;
      reply(dns::make_error_response(query, q.question_end, dns::Rcode::kServFail));
    };
    if (status != ARES_SUCCESS) return servfail();
    Bytes answer(raw.begin(), raw.end());
    dns::set_id(answer, q.header.id);  // c-ares sent its own random id upstream
    auto info = dns::inspect_answer(answer);
    if (!info) return servfail();
    dns::Addresses found;
    if (info->header.rcode() == dns::Rcode::kNoError) found = dns::extract_addresses(answer);
    if (!self->publish(found.addresses, found.min_ttl))
      return reply(dns::make_error_response(query, q.question_end, dns::Rcode::kServFail));
    self->cache.store(q, answer, *info, found.addresses, dns::Clock::now());
    reply(dns::fit_udp(std::move(answer), info->question_end, limit));
  });
}

void DnsProxy::Impl::stop() {
  if (stopped) return;
  stopped = true;
  channel.reset();  // drops pending queries before the sockets they would answer on go away
  std::error_code ec;
  udp.close(ec);
  acceptor.close(ec);
  auto open = std::move(sessions);
  for (auto& [id, session] : open) session->close();
}

Result<std::unique_ptr<DnsProxy>> DnsProxy::create(asio::io_context& io, Policy policy,
                                                   DnsProxyOptions options, UniqueFd udp,
                                                   UniqueFd tcp, AddressCallback on_addresses,
                                                   DenialCallback on_denied) {
  if (!udp && !tcp) return fail("dns proxy", "no socket to serve");
  AresOptions ares{options.upstreams, options.upstream_timeout, 2};
  auto impl = std::make_shared<Impl>(io, std::move(policy), std::move(options));
  ASSIGN_OR_RETURN(impl->channel, AresChannel::create(io, ares));
  impl->on_addresses = std::move(on_addresses);
  impl->on_denied = std::move(on_denied);
  std::error_code ec;
  if (udp) {
    ASSIGN_OR_RETURN(int family, socket_family(udp.get()));
    impl->udp.assign(family == AF_INET6 ? asio::ip::udp::v6() : asio::ip::udp::v4(), udp.get(), ec);
    if (ec) return make_error(ec.value(), "dns proxy", "udp socket");
    (void)udp.release();
    impl->udp.non_blocking(true, ec);
  }
  if (tcp) {
    ASSIGN_OR_RETURN(int family, socket_family(tcp.get()));
    impl->acceptor.assign(family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), tcp.get(),
                          ec);
    if (ec) return make_error(ec.value(), "dns proxy", "tcp socket");
    (void)tcp.release();
    if (::listen(impl->acceptor.native_handle(), 64) != 0)
      return errno_error("dns proxy", "listen");
    impl->acceptor.non_blocking(true, ec);
  }
  // Start on the io_context thread, which may not be ours.
  asio::post(io, [weak = std::weak_ptr<Impl>(impl)] {
    if (auto self = weak.lock()) {
      self->receive_udp();
      self->accept_tcp();
    }
  });
  return std::unique_ptr<DnsProxy>(new DnsProxy(std::move(impl)));
}

DnsProxy::~DnsProxy() { impl_->stop(); }

void DnsProxy::stop() { impl_->stop(); }

DnsProxyCounters DnsProxy::counters() const {
  const AtomicCounters& c = impl_->counters;
  return DnsProxyCounters{c.queries,      c.forwarded, c.refused,    c.cache_hits,
                          c.rate_limited, c.malformed, c.overloaded, c.upstream_failures};
}

}  // namespace nucleus::egress
