// The DNS-aware egress proxy the supervisor serves inside the sandbox netns (e.g. 127.0.0.53:53).
//
// For each query: names covered by the policy's domains are forwarded upstream through c-ares
// (raw ares_send, answer relayed); A/AAAA addresses in the answer are handed to `on_addresses`
// (the runtime adds them to the nft allow set) and only after that returns is the answer sent to
// the workload, so its first connection can never race the set update. Every other name is
// answered REFUSED and nothing is sent upstream: query names are a classic exfiltration channel.
//
// Bounded everywhere: query size (512 UDP / 4096 TCP), pending upstream queries, TCP clients, a
// per-client token bucket, and a TTL-honouring answer cache of fixed capacity.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/base/unique_fd.h"
#include "egress/address_sink.h"
#include "egress/dns_ares.h"
#include "egress/policy.h"
#include "net/ip.h"

namespace asio {
class io_context;
}

namespace nucleus::egress {

struct DnsProxyOptions {
  std::vector<UpstreamServer> upstreams;
  std::chrono::milliseconds upstream_timeout{2000};
  size_t max_pending = 256;      // upstream queries in flight; beyond that: SERVFAIL
  double rate_per_second = 200;  // per client address
  double rate_burst = 400;
  size_t max_rate_clients = 1024;
  size_t cache_entries = 1024;      // 0 disables the cache
  uint32_t ttl_floor_seconds = 60;  // minimum lifetime handed to on_addresses
  size_t max_tcp_clients = 32;
  std::chrono::seconds tcp_idle_timeout{10};
};

struct DnsProxyCounters {
  uint64_t queries = 0;    // every message received
  uint64_t forwarded = 0;  // sent upstream
  uint64_t refused = 0;    // answered REFUSED by policy
  uint64_t cache_hits = 0;
  uint64_t rate_limited = 0;       // dropped by the token bucket
  uint64_t malformed = 0;          // dropped or answered FORMERR/NOTIMP
  uint64_t overloaded = 0;         // SERVFAIL because max_pending was reached
  uint64_t upstream_failures = 0;  // SERVFAIL because upstream failed or on_addresses failed
};

struct DnsDenial {
  std::string client;  // "127.0.0.1:41234"
  std::string name;    // as asked (escaped presentation form)
  uint16_t qtype = 0;
  std::string reason;  // "not in egress domains", "class is not IN"
};

using DenialCallback = std::function<void(const DnsDenial& denial)>;

class DnsProxy {
 public:
  // `udp` is a bound datagram socket, `tcp` a listening stream socket; either may be invalid (not
  // served). Both are typically created inside the sandbox netns by open_dns_sockets_in_netns().
  // Serving starts immediately on `io`; everything runs on the io_context's thread.
  [[nodiscard]] static Result<std::unique_ptr<DnsProxy>> create(asio::io_context& io, Policy policy,
                                                                DnsProxyOptions options,
                                                                UniqueFd udp, UniqueFd tcp,
                                                                AddressCallback on_addresses,
                                                                DenialCallback on_denied = {});
  ~DnsProxy();
  DnsProxy(const DnsProxy&) = delete;
  DnsProxy& operator=(const DnsProxy&) = delete;

  // Closes the sockets and drops pending queries. Idempotent; call on the io_context thread.
  void stop();
  // Safe from any thread.
  [[nodiscard]] DnsProxyCounters counters() const;

  struct Impl;

 private:
  explicit DnsProxy(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace nucleus::egress
