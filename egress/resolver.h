// Start-up resolution of allowed domains and their refresh, with c-ares.
//
// Before the workload runs, the runtime resolves every exact domain of the policy (A and AAAA)
// through the configured resolvers and seeds the nft allow set, so programs that resolve through
// other means (a hard-coded /etc/hosts entry, a cached address) still reach allowed names.
// DomainRefresher then re-resolves each name before its TTL runs out, so CDN rotation is
// followed; addresses that drop out are not removed but expire with their nft timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "egress/address_sink.h"
#include "egress/dns_ares.h"
#include "egress/policy.h"

namespace asio {
class io_context;
}

namespace nucleus::egress {

struct ResolvedAddress {
  net::IpAddress address;
  uint32_t ttl_seconds = 0;
  auto operator<=>(const ResolvedAddress&) const = default;
};

struct Resolution {
  std::string name;
  std::vector<ResolvedAddress> addresses;  // A then AAAA
  std::string error;                       // set when neither family produced an answer
  [[nodiscard]] uint32_t min_ttl() const;
};

// The names of a policy that can be resolved ahead of time (wildcards cannot).
[[nodiscard]] std::vector<std::string> preseed_names(const Policy& policy);

class Resolver {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Resolver>> create(asio::io_context& io,
                                                                const AresOptions& options);
  // Resolves A and AAAA of every name; `done` runs once, on the io_context thread, with one
  // Resolution per name in order.
  void resolve(std::vector<std::string> names, std::function<void(std::vector<Resolution>)> done);

 private:
  explicit Resolver(std::unique_ptr<AresChannel> channel) : channel_(std::move(channel)) {}
  std::unique_ptr<AresChannel> channel_;
};

// Blocking form for start-up: runs a private io_context until every name is answered (c-ares
// timeouts bound the wait).
[[nodiscard]] Result<std::vector<Resolution>> resolve_now(const AresOptions& options,
                                                          std::vector<std::string> names);

struct RefreshOptions {
  uint32_t ttl_floor_seconds = 60;                  // lifetime handed to on_addresses at least
  std::chrono::milliseconds min_interval{10000};    // never re-resolve a name more often
  std::chrono::milliseconds retry_interval{10000};  // after a failed resolution
};

// When to re-resolve a name whose answer had `ttl` seconds: at 3/4 of the TTL, but never sooner
// than min_interval and always before 3/4 of the (floored) lifetime given to the allow set.
[[nodiscard]] std::chrono::milliseconds refresh_delay(uint32_t ttl, const RefreshOptions& options);

class DomainRefresher {
 public:
  DomainRefresher(asio::io_context& io, Resolver& resolver, std::vector<std::string> names,
                  AddressCallback on_addresses, RefreshOptions options = {});
  ~DomainRefresher();
  DomainRefresher(const DomainRefresher&) = delete;
  DomainRefresher& operator=(const DomainRefresher&) = delete;

  // Resolves every name now, then each again after refresh_delay(). Call on the io thread.
  void start();
  void stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace nucleus::egress
