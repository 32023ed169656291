#include "egress/resolver.h"

#include <ares.h>

#include <algorithm>
#include <array>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <cstring>
#include <map>

#include "core/base/log.h"
#include "egress/dns_message.h"

namespace nucleus::egress {
namespace {

constexpr log::Logger kLog("dns");
constexpr size_t kMaxAddresses = 128;

uint32_t clamp_ttl(int ttl) { return ttl < 0 ? 0 : static_cast<uint32_t>(ttl); }

void parse_family(std::span<const uint8_t> answer, int type, std::vector<ResolvedAddress>& out) {
  const int len = static_cast<int>(answer.size());
  if (type == dns::kTypeA) {
    std::array<ares_addrttl, kMaxAddresses> v4{};
    int n = static_cast<int>(v4.size());
    if (ares_parse_a_reply(answer.data(), len, nullptr, v4.data(), &n) != ARES_SUCCESS) return;
    for (int i = 0; i < n; ++i) {
      ResolvedAddress r;
      r.address.family = AF_INET;
      std::memcpy(r.address.bytes.data(), &v4[static_cast<size_t>(i)].ipaddr, 4);
      r.ttl_seconds = clamp_ttl(v4[static_cast<size_t>(i)].ttl);
      out.push_back(r);
    }
  } else {
    std::array<ares_addr6ttl, kMaxAddresses> v6{};
    int n = static_cast<int>(v6.size());
    if (ares_parse_aaaa_reply(answer.data(), len, nullptr, v6.data(), &n) != ARES_SUCCESS) return;
    for (int i = 0; i < n; ++i) {
      ResolvedAddress r;
      r.address.family = AF_INET6;
      std::memcpy(r.address.bytes.data(), &v6[static_cast<size_t>(i)].ip6addr, 16);
      r.ttl_seconds = clamp_ttl(v6[static_cast<size_t>(i)].ttl);
      out.push_back(r);
    }
  }
}

}  // namespace

uint32_t Resolution::min_ttl() const {
  uint32_t best = 0;
  for (size_t i = 0; i < addresses.size(); ++i)
    best = i == 0 ? addresses[i].ttl_seconds : std::min(best, addresses[i].ttl_seconds);
  return best;
}

std::vector<std::string> preseed_names(const Policy& policy) {
  std::vector<std::string> names;
  for (const auto& d : policy.domains)
    if (!d.wildcard) names.push_back(d.name);
  return names;
}

Result<std::unique_ptr<Resolver>> Resolver::create(asio::io_context& io,
                                                   const AresOptions& options) {
  ASSIGN_OR_RETURN(auto channel, AresChannel::create(io, options));
  return std::unique_ptr<Resolver>(new Resolver(std::move(channel)));
}

void Resolver::resolve(std::vector<std::string> names,
                       std::function<void(std::vector<Resolution>)> done) {
  struct Batch {
    std::vector<Resolution> results;
    std::vector<std::array<std::string, 2>> errors;
    size_t remaining = 0;
    std::function<void(std::vector<Resolution>)> done;
  };
  auto batch = std::make_shared<Batch>();
  batch->results.resize(names.size());
  batch->errors.resize(names.size());
  batch->remaining = names.size() * 2;
  batch->done = std::move(done);
  if (names.empty()) {
    batch->done({});
    return;
  }
  for (size_t i = 0; i < names.size(); ++i) batch->results[i].name = names[i];
  for (size_t i = 0; i < names.size(); ++i) {
    for (int type : {int{dns::kTypeA}, int{dns::kTypeAAAA}}) {
      channel_->query(
          names[i], type, [batch, i, type](int status, std::span<const uint8_t> answer) {
            Resolution& r = batch->results[i];
            if (status == ARES_SUCCESS)
              parse_family(answer, type, r.addresses);
            else
              batch->errors[i][type == dns::kTypeA ? 0 : 1] = ares_status_text(status);
            if (--batch->remaining > 0) return;
            for (size_t k = 0; k < batch->results.size(); ++k) {
              Resolution& res = batch->results[k];
              // Keep A before AAAA regardless of which answer came first.
              std::stable_sort(res.addresses.begin(), res.addresses.end(),
                               [](const ResolvedAddress& a, const ResolvedAddress& b) {
                                 return a.address.family == AF_INET && b.address.family != AF_INET;
                               });
              if (res.addresses.empty())
                res.error =
                    "A: " + (batch->errors[k][0].empty() ? "no data" : batch->errors[k][0]) +
                    ", AAAA: " + (batch->errors[k][1].empty() ? "no data" : batch->errors[k][1]);
            }
            batch->done(std::move(batch->results));
          });
    }
  }
}

Result<std::vector<Resolution>> resolve_now(const AresOptions& options,
                                            std::vector<std::string> names) {
  asio::io_context io;
  ASSIGN_OR_RETURN(auto resolver, Resolver::create(io, options));
  std::optional<std::vector<Resolution>> out;
  resolver->resolve(std::move(names), [&](std::vector<Resolution> r) { out = std::move(r); });
  io.run();  // returns when c-ares has no socket or timer left, i.e. every query completed
  if (!out) return fail("dns resolve", "resolution did not complete");
  return std::move(*out);
}

std::chrono::milliseconds refresh_delay(uint32_t ttl, const RefreshOptions& options) {
  using std::chrono::milliseconds;
  uint32_t lifetime = std::max(ttl, options.ttl_floor_seconds);
  milliseconds at_ttl(uint64_t{ttl} * 750);
  milliseconds before_expiry(uint64_t{lifetime} * 750);
  return std::min(std::max(at_ttl, options.min_interval), before_expiry);
}

struct DomainRefresher::State : std::enable_shared_from_this<DomainRefresher::State> {
  State(asio::io_context& io_, Resolver& resolver_, AddressCallback cb, RefreshOptions opts)
      : io(io_), resolver(resolver_), on_addresses(std::move(cb)), options(opts) {}
  asio::io_context& io;
  Resolver& resolver;
  AddressCallback on_addresses;
  RefreshOptions options;
  std::map<std::string, std::unique_ptr<asio::steady_timer>> timers;
  bool stopped = false;

  void refresh(const std::string& name) {
    resolver.resolve({name}, [weak = weak_from_this(), name](std::vector<Resolution> results) {
      auto self = weak.lock();
      if (!self || self->stopped) return;
      std::chrono::milliseconds next = self->options.retry_interval;
      if (!results.empty() && !results[0].addresses.empty()) {
        std::vector<net::IpAddress> addresses;
        for (const auto& a : results[0].addresses) addresses.push_back(a.address);
        uint32_t ttl = results[0].min_ttl();
        auto done = self->on_addresses(addresses, std::max(ttl, self->options.ttl_floor_seconds));
        if (done)
          next = refresh_delay(ttl, self->options);
        else
          kLog.error("refresh " + name + ": " + done.error().message());
      } else if (!results.empty()) {
        kLog.warn("refresh " + name + ": " + results[0].error);
      }
      self->schedule(name, next);
    });
  }

  void schedule(const std::string& name, std::chrono::milliseconds delay) {
    auto& timer = timers[name];
    if (!timer) timer = std::make_unique<asio::steady_timer>(io);
    timer->expires_after(delay);
    timer->async_wait([weak = weak_from_this(), name](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped) return;
      self->refresh(name);
    });
  }
};

DomainRefresher::DomainRefresher(asio::io_context& io, Resolver& resolver,
                                 std::vector<std::string> names, AddressCallback on_addresses,
                                 RefreshOptions options)
    : state_(std::make_shared<State>(io, resolver, std::move(on_addresses), options)) {
  for (auto& name : names) state_->timers.emplace(std::move(name), nullptr);
}

DomainRefresher::~DomainRefresher() { stop(); }

void DomainRefresher::start() {
  state_->stopped = false;
  std::vector<std::string> names;
  for (const auto& [name, timer] : state_->timers) names.push_back(name);
  for (const auto& name : names) state_->refresh(name);
}

void DomainRefresher::stop() {
  state_->stopped = true;
  for (auto& [name, timer] : state_->timers)
    if (timer) timer->cancel();
}

}  // namespace nucleus::egress
