#include "core/egress/egress_runtime.h"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <map>

#include "core/base/log.h"
#include "core/egress/audit.h"
#include "core/state/state_dir.h"
#include "egress/dns_message.h"
#include "egress/dns_proxy.h"
#include "egress/dns_socket.h"
#include "egress/nflog.h"
#include "egress/nft_egress.h"
#include "egress/resolver.h"

namespace nucleus {
namespace {

constexpr log::Logger kLog("egress");
// NFLOG groups are per network namespace: any fixed number is private to this sandbox.
constexpr uint16_t kNflogGroup = 4242;
constexpr const char* kProxyAddress = "127.0.0.53";
constexpr auto kCounterInterval = std::chrono::seconds(1);

egress::EgressRules rules_for(const EgressConfig& cfg, const net::NetAttachment& attachment) {
  const egress::Policy& p = cfg.policy;
  egress::EgressRules rules;
  if (p.deny_all) return rules;  // nothing, not even DNS
  rules.allow = p.allow;
  // DNS-aware: the workload's only resolver is the proxy on the sandbox's loopback (always
  // accepted); the upstream resolvers are reached by the supervisor from outside, never directly.
  if (!cfg.dns_aware()) rules.resolvers = attachment.resolvers;
  if (p.tcp_ports || p.udp_ports) {
    rules.restrict_ports = true;
    rules.tcp_all_ports = !p.tcp_ports;
    rules.udp_all_ports = !p.udp_ports;
    if (p.tcp_ports) rules.tcp_ports = *p.tcp_ports;
    if (p.udp_ports) rules.udp_ports = *p.udp_ports;
  }
  return rules;
}

std::string qtype_name(uint16_t qtype) {
  switch (qtype) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 65:
      return "HTTPS";
    case 255:
      return "ANY";
    default:
      return std::to_string(qtype);
  }
}

class Runtime final : public EgressRuntime {
 public:
  Runtime(const ValidSpec& spec, asio::io_context& io) : spec_(spec), io_(io), timer_(io) {
    sink_ = [root = spec.state_root, id = spec.id](const nlohmann::json& egress) {
      auto dir = StateDir::open(root, id);
      if (!dir) return;
      auto state = dir->load();
      if (!state) return;
      state->details["egress"] = egress;
      if (auto r = dir->save(*state); !r)
        kLog.warn("saving egress counters: " + r.error().message());
    };
  }

  ~Runtime() override {
    if (refresher_) refresher_->stop();
    if (proxy_) proxy_->stop();
    nflog_.reset();
    timer_.cancel();
    // The table is deliberately left in place: it dies with the sandbox's netns, and removing it
    // first would open the network to anything still running there.
  }

  Result<void> start(int netns_fd, net::NetAttachment& attachment) {
    const EgressConfig& cfg = spec_.egress;
    if (!spec_.events_jsonl.empty()) {
      ASSIGN_OR_RETURN(audit_, AuditLog::open(spec_.events_jsonl, spec_.id));
    }
    egress::EgressRules rules = rules_for(cfg, attachment);

    // The NFLOG listener goes first so no denial of the table's first moments is missed.
    if (auto fd = egress::open_nflog_in_netns(netns_fd, kNflogGroup); !fd) {
      kLog.warn("denied connections will be counted but not audited: " + fd.error().message());
    } else {
      ASSIGN_OR_RETURN(nflog_, egress::NflogReader::create(
                                   io_, std::move(*fd),
                                   [this](const egress::DeniedPacket& p) { on_denied_packet(p); }));
      rules.nflog_group = kNflogGroup;
    }

    auto started = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto socket, net::nft::NftSocket::open_in(netns_fd));
    ASSIGN_OR_RETURN(table_, egress::EgressTable::install(std::move(socket), rules));
    std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - started;
    // scripts/bench/egress.sh reads this line.
    kLog.debug("table installed: " + std::to_string(rules.allow.size()) + " prefixes in " +
               std::to_string(took.count()) + " ms");

    if (cfg.dns_aware()) TRY(start_dns(netns_fd, attachment));
    asio::post(io_, [this] { tick(); });
    return {};
  }

  void set_state_sink(StateSink sink) override { sink_ = std::move(sink); }

  nlohmann::json counters() override {
    const egress::Policy& p = spec_.egress.policy;
    nlohmann::json j = {{"mode", p.deny_all                 ? "deny-all"
                                 : spec_.egress.dns_aware() ? "dns-aware"
                                                            : "cidr"}};
    if (auto d = table_.denied(); d) {
      j["denied_packets"] = {{"ipv4", d->packets4}, {"ipv6", d->packets6}};
    } else {
      j["denied_packets"] = {{"error", d.error().message()}};
    }
    if (proxy_) {
      auto c = proxy_->counters();
      j["dns"] = {{"queries", c.queries},           {"forwarded", c.forwarded},
                  {"refused", c.refused},           {"cache_hits", c.cache_hits},
                  {"rate_limited", c.rate_limited}, {"malformed", c.malformed},
                  {"overloaded", c.overloaded},     {"upstream_failures", c.upstream_failures}};
      j["learned_addresses"] = learned_.size();
    }
    if (audit_.enabled()) {
      j["audit"] = {{"written", audit_.written()}, {"suppressed", audit_.suppressed_total()}};
    }
    if (nflog_) j["nflog_overruns"] = nflog_->overruns();
    return j;
  }

 private:
  Result<void> start_dns(int netns_fd, net::NetAttachment& attachment) {
    const egress::Policy& policy = spec_.egress.policy;
    const net::IpAddress proxy_ip = *net::IpAddress::parse(kProxyAddress);
    ASSIGN_OR_RETURN(egress::DnsSockets sockets,
                     egress::open_dns_sockets_in_netns(netns_fd, proxy_ip, 53));
    egress::DnsProxyOptions options;
    for (const auto& ip : spec_.net.dns) options.upstreams.push_back({ip, 53});
    auto learn = [this](const std::vector<net::IpAddress>& ips, uint32_t ttl) -> Result<void> {
      TRY(table_.add_dynamic(ips, ttl));
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(ttl);
      for (const auto& ip : ips) learned_[ip.to_string()] = until;
      return {};
    };
    ASSIGN_OR_RETURN(proxy_, egress::DnsProxy::create(
                                 io_, policy, options, std::move(sockets.udp),
                                 std::move(sockets.tcp), learn, [this](const egress::DnsDenial& d) {
                                   audit_.record("egress.dns_refused",
                                                 {{"name", d.name},
                                                  {"qtype", qtype_name(d.qtype)},
                                                  {"client", d.client},
                                                  {"reason", d.reason}});
                                 }));
    attachment.resolvers = {proxy_ip};

    // Exact names are also resolved ahead of time and kept fresh, so programs that skip DNS (an
    // address cached elsewhere) still reach allowed names. Runs on the loop: start-up never
    // waits for upstream DNS.
    auto names = egress::preseed_names(policy);
    if (!names.empty()) {
      ASSIGN_OR_RETURN(resolver_,
                       egress::Resolver::create(io_, egress::AresOptions{options.upstreams}));
      refresher_ =
          std::make_unique<egress::DomainRefresher>(io_, *resolver_, std::move(names), learn);
      asio::post(io_, [this] { refresher_->start(); });
    }
    return {};
  }

  void on_denied_packet(const egress::DeniedPacket& p) {
    const bool ported = p.protocol == IPPROTO_TCP || p.protocol == IPPROTO_UDP;
    nlohmann::json fields = {{"family", p.destination.is_v4() ? "ipv4" : "ipv6"},
                             {"protocol", egress::protocol_name(p.protocol)},
                             {"destination", p.destination.to_string()}};
    if (ported)
      fields["port"] = p.port;
    else if (p.protocol == IPPROTO_ICMP || p.protocol == IPPROTO_ICMPV6)
      fields["icmp_type"] = p.port;
    fields["reason"] = reason_for(p, ported);
    audit_.record("egress.denied", std::move(fields));
  }

  std::string reason_for(const egress::DeniedPacket& p, bool ported) {
    const egress::Policy& policy = spec_.egress.policy;
    if (policy.deny_all) return "all egress denied";
    if (ported && p.port == 53) return "dns only through the sandbox's resolver";
    bool known = false;
    for (const auto& c : policy.allow) known = known || c.contains(p.destination);
    auto it = learned_.find(p.destination.to_string());
    if (it != learned_.end()) {
      if (it->second > std::chrono::steady_clock::now())
        known = true;
      else
        learned_.erase(it);
    }
    return known ? "port not allowed" : "destination not allowed";
  }

  void tick() {
    for (auto it = learned_.begin(); it != learned_.end();)
      it = it->second <= std::chrono::steady_clock::now() ? learned_.erase(it) : std::next(it);
    nlohmann::json now = counters();
    if (now != last_ && sink_) sink_(now);
    last_ = std::move(now);
    timer_.expires_after(kCounterInterval);
    timer_.async_wait([this](const std::error_code& ec) {
      if (!ec) tick();
    });
  }

  const ValidSpec& spec_;
  asio::io_context& io_;
  AuditLog audit_;
  egress::EgressTable table_;
  std::unique_ptr<egress::NflogReader> nflog_;
  std::unique_ptr<egress::DnsProxy> proxy_;
  std::unique_ptr<egress::Resolver> resolver_;
  std::unique_ptr<egress::DomainRefresher> refresher_;
  std::map<std::string, std::chrono::steady_clock::time_point> learned_;
  asio::steady_timer timer_;
  StateSink sink_;
  nlohmann::json last_;
};

}  // namespace

Result<std::unique_ptr<EgressRuntime>> start_egress(const ValidSpec& spec, asio::io_context& io,
                                                    int netns_fd, net::NetAttachment& attachment,
                                                    Journal& journal) {
  // Nothing to journal: the table and the NFLOG binding live in the sandbox's netns and die
  // with it; the proxy's sockets are ours.
  (void)journal;
  if (!spec.egress.enabled) return std::unique_ptr<EgressRuntime>{};
  auto runtime = std::make_unique<Runtime>(spec, io);
  TRY(runtime->start(netns_fd, attachment));
  return std::unique_ptr<EgressRuntime>(std::move(runtime));
}

}  // namespace nucleus
