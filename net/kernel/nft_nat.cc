#include "net/kernel/nft_nat.h"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
// clang-format off
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter_bridge.h>
#include <linux/rtnetlink.h>
// clang-format on

#include <array>
#include <cstdio>

namespace nucleus::net::nft {
namespace {

constexpr uint32_t kFamily = NFPROTO_INET;
constexpr int32_t kPrioRaw = -300;
constexpr int32_t kPrioDstNat = -100;
constexpr int32_t kPrioFilter = 0;
constexpr int32_t kPrioSrcNat = 100;

uint8_t nfproto_of(const IpAddress& ip) { return ip.is_v4() ? NFPROTO_IPV4 : NFPROTO_IPV6; }

bool is_loopback(const IpAddress& ip) {
  if (ip.is_v4()) return ip.bytes[0] == 127;
  static const std::array<uint8_t, 16> kLoop6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip.bytes == kLoop6;
}

const char* proto_name(Protocol p) { return p == Protocol::kTcp ? "tcp" : "udp"; }

std::string describe(const PortMapping& p, const IpAddress& target) {
  std::string host = p.host_ip ? p.host_ip->to_string() : "*";
  return std::string("dnat ") + proto_name(p.protocol) + " " + host + ":" +
         std::to_string(p.host_port) + " -> " + target.to_string() + ":" +
         std::to_string(p.container_port);
}

// Appends `rule` to the batch with a label naming the table.
void put(Batch& batch, RuleBuilder& rule, const std::string& table, const std::string& what) {
  batch.add(rule.get(), NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
            "rule '" + what + "' in table inet " + table);
}

// DNAT rules for one published port in `chain` (prerouting or output).
void add_dnat(Batch& batch, const std::string& table, const char* chain, const PortMapping& p,
              const IpAddress& target) {
  RuleBuilder r(kFamily, table, chain);
  r.match_nfproto(nfproto_of(target));
  if (p.host_ip) {
    r.match_addr(/*source=*/false, *p.host_ip);
  } else {
    // "fib daddr type local": only traffic addressed to one of this host's own addresses.
    uint32_t local = RTN_LOCAL;
    r.fib(NFTA_FIB_F_DADDR, NFT_FIB_RESULT_ADDRTYPE).cmp(NFT_CMP_EQ, &local, sizeof(local));
  }
  r.match_l4proto(p.protocol == Protocol::kTcp ? IPPROTO_TCP : IPPROTO_UDP);
  r.match_dport(p.host_port);
  uint16_t port = htons(p.container_port);
  r.immediate(target.bytes.data(), target.size(), NFT_REG_1);
  r.immediate(&port, sizeof(port), NFT_REG_2);
  r.nat(NFT_NAT_DNAT, nfproto_of(target), NFT_REG_1, NFT_REG_2);
  put(batch, r, table, std::string(chain) + " " + describe(p, target));
}

// Adds the DNAT rules for every port to prerouting and output.
Result<void> add_ports(Batch& batch, const NatTableSpec& spec, const std::string& table,
                       std::span<const PortMapping> ports) {
  for (const PortMapping& p : ports) {
    std::vector<IpAddress> targets;
    if (p.host_ip) {
      const auto& target = p.host_ip->is_v4() ? spec.address4 : spec.address6;
      if (!target) {
        return fail("publish " + p.host_ip->to_string() + ":" + std::to_string(p.host_port),
                    "the sandbox has no address of that family");
      }
      if (!p.host_ip->is_v4() && is_loopback(*p.host_ip)) {
        // IPv6 has no route_localnet: ::1 can never be routed to the bridge.
        return fail("publish [::1]:" + std::to_string(p.host_port),
                    "publishing on ::1 is not supported; use 127.0.0.1");
      }
      targets.push_back(*target);
    } else {
      if (spec.address4) targets.push_back(*spec.address4);
      if (spec.address6) targets.push_back(*spec.address6);
    }
    for (const IpAddress& target : targets) {
      // A port published on a loopback address gets no prerouting rule: a packet from another
      // host addressed to 127.0.0.1 would otherwise be DNATed before the martian check and
      // reach the sandbox (the CVE-2020-8558 class of bug).
      if (!(p.host_ip && is_loopback(*p.host_ip))) {
        add_dnat(batch, table, "prerouting", p, target);
      }
      add_dnat(batch, table, "output", p, target);
    }
  }
  return {};
}

void add_static_rules(Batch& batch, const NatTableSpec& spec, const std::string& table) {
  const std::string& br = spec.bridge;
  // route_localnet on the bridge (needed for 127.0.0.1 publishing) would also let anything on
  // the bridge reach the host's loopback services: drop 127/8 arriving on the bridge before
  // conntrack de-NAT (raw priority), so only replies to our own DNATed flows pass.
  {
    RuleBuilder r(kFamily, table, "guard");
    Cidr loop{IpAddress::parse("127.0.0.0").value(), 8};
    r.match_iifname(br).match_nfproto(NFPROTO_IPV4).match_prefix(false, loop).counter();
    r.verdict(NF_DROP);
    put(batch, r, table, "drop 127.0.0.0/8 from " + br);
  }
  std::vector<IpAddress> addrs;
  if (spec.address4) addrs.push_back(*spec.address4);
  if (spec.address6) addrs.push_back(*spec.address6);
  for (const IpAddress& a : addrs) {
    const std::optional<Cidr>& subnet = a.is_v4() ? spec.subnet4 : spec.subnet6;
    const uint8_t nfp = nfproto_of(a);
    {  // Sandbox traffic leaving by any other interface: masquerade.
      RuleBuilder r(kFamily, table, "postrouting");
      r.match_nfproto(nfp).match_addr(true, a).match_oifname(br, false).masquerade();
      put(batch, r, table, "masquerade " + a.to_string());
    }
    // DNATed flows to the sandbox from a peer on the bridge (hairpin, incl. the sandbox itself via
    // a host address) or from the host's loopback: masquerade so replies come back through us.
    if (subnet || a.is_v4()) {
      RuleBuilder r(kFamily, table, "postrouting");
      r.match_nfproto(nfp).match_oifname(br).match_addr(false, a);
      r.match_ct_status(IPS_DST_NAT);
      r.match_prefix(true, subnet ? *subnet : Cidr{a, a.is_v4() ? 32 : 128}).masquerade();
      put(batch, r, table, "hairpin masquerade " + a.to_string());
    }
    if (a.is_v4()) {
      RuleBuilder r(kFamily, table, "postrouting");
      Cidr loop{IpAddress::parse("127.0.0.0").value(), 8};
      r.match_nfproto(nfp).match_oifname(br).match_addr(false, a).match_ct_status(IPS_DST_NAT);
      r.match_prefix(true, loop).masquerade();
      put(batch, r, table, "localhost masquerade " + a.to_string());
    }
    {  // forward: sandbox-originated
      RuleBuilder r(kFamily, table, "forward");
      r.match_iifname(br).match_nfproto(nfp).match_addr(true, a).verdict(NF_ACCEPT);
      put(batch, r, table, "forward accept from " + a.to_string());
    }
    {  // forward: from another sandbox on the bridge (directly or via a published port of ours)
      // The sandbox's own hairpinned traffic was accepted just above (source is itself).
      RuleBuilder r(kFamily, table, "forward");
      r.match_iifname(br).match_oifname(br).match_nfproto(nfp).match_addr(false, a).counter();
      r.verdict(NF_DROP);
      put(batch, r, table, "forward drop bridge peers to " + a.to_string());
    }
    {  // forward: published ports
      RuleBuilder r(kFamily, table, "forward");
      r.match_oifname(br).match_nfproto(nfp).match_addr(false, a).match_ct_status(IPS_DST_NAT);
      r.verdict(NF_ACCEPT);
      put(batch, r, table, "forward accept dnat to " + a.to_string());
    }
    {  // forward: anything else routed to the sandbox was not published
      RuleBuilder r(kFamily, table, "forward");
      r.match_oifname(br).match_nfproto(nfp).match_addr(false, a).counter().verdict(NF_DROP);
      put(batch, r, table, "forward drop unpublished to " + a.to_string());
    }
  }
}

void add_chains(Batch& batch, const std::string& table) {
  struct Spec {
    const char* name;
    BaseChain base;
  };
  const Spec chains[] = {
      {"guard", {"filter", NF_INET_PRE_ROUTING, kPrioRaw, NF_ACCEPT}},
      {"prerouting", {"nat", NF_INET_PRE_ROUTING, kPrioDstNat, NF_ACCEPT}},
      {"output", {"nat", NF_INET_LOCAL_OUT, kPrioDstNat, NF_ACCEPT}},
      {"postrouting", {"nat", NF_INET_POST_ROUTING, kPrioSrcNat, NF_ACCEPT}},
      {"forward", {"filter", NF_INET_FORWARD, kPrioFilter, NF_ACCEPT}},
  };
  for (const Spec& c : chains) {
    ChainPtr chain = make_chain(kFamily, table, c.name, &c.base);
    batch.add(chain.get(), NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL,
              std::string("chain ") + c.name + " in table inet " + table);
  }
  // established/related first in forward: the cheap common case.
  RuleBuilder r(kFamily, table, "forward");
  r.match_ct_state(NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
  r.verdict(NF_ACCEPT);
  put(batch, r, table, "forward accept established,related");
}

// The layer-2 half of the isolation (see nft_nat.h): bridge family, forward hook only.
void add_bridge_isolation(Batch& batch, const NatTableSpec& spec, const std::string& table) {
  const std::string& port = spec.veth;
  BaseChain base{"filter", NF_BR_FORWARD, 0, NF_ACCEPT};
  ChainPtr chain = make_chain(NFPROTO_BRIDGE, table, "isolate", &base);
  batch.add(chain.get(), NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL,
            "chain isolate in table bridge " + table);
  auto label = [&](const std::string& what) { return "rule '" + what + "' in table bridge " + table; };
  // Hairpin: the sandbox's own unicast IP packets coming back to it (a DNATed connection to its
  // own published port). Multicast reflections (ARP, IPv6 DAD probes) are not let back.
  for (const auto& a : {spec.address4, spec.address6}) {
    if (!a) continue;
    uint16_t ethertype = htons(a->is_v4() ? ETHERTYPE_IP : ETHERTYPE_IPV6);
    RuleBuilder r(NFPROTO_BRIDGE, table, "isolate");
    r.match_iifname(port).match_oifname(port);
    r.meta(NFT_META_PROTOCOL).cmp(NFT_CMP_EQ, &ethertype, sizeof ethertype);
    r.match_addr(false, *a).verdict(NF_ACCEPT);
    batch.add(r.get(), NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
              label("hairpin to " + a->to_string()));
  }
  for (bool from : {true, false}) {
    RuleBuilder r(NFPROTO_BRIDGE, table, "isolate");
    if (from) {
      r.match_iifname(port);
    } else {
      r.match_oifname(port);
    }
    r.counter().verdict(NF_DROP);
    batch.add(r.get(), NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
              label(std::string(from ? "drop bridged from " : "drop bridged to ") + port));
  }
}

void flush_chain(Batch& batch, const std::string& table, const char* chain) {
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, kFamily);
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain);
  batch.add(r.get(), NFT_MSG_DELRULE, 0, std::string("flush chain ") + chain);
}

Result<void> build_and_commit(NftSocket& sock, const NatTableSpec& spec, const std::string& name,
                              uint32_t table_flags) {
  Batch batch;
  TablePtr t = make_table(kFamily, name, table_flags);
  batch.add(t.get(), NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "table inet " + name);
  add_chains(batch, name);
  add_static_rules(batch, spec, name);
  TRY(add_ports(batch, spec, name, spec.ports));
  if (!spec.veth.empty()) {
    TablePtr bt = make_table(NFPROTO_BRIDGE, name, table_flags);
    batch.add(bt.get(), NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "table bridge " + name);
    add_bridge_isolation(batch, spec, name);
  }
  return sock.commit(batch);
}

}  // namespace

std::string nat_table_name(std::string_view sandbox_id) {
  constexpr size_t kMax = 64;
  std::string name = "nucleus-" + std::string(sandbox_id);
  if (name.size() <= kMax) return name;
  uint32_t h = 2166136261u;  // FNV-1a keeps truncated names distinct
  for (char c : sandbox_id) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  char suffix[10];
  std::snprintf(suffix, sizeof(suffix), "-%08x", h);
  return name.substr(0, kMax - 9) + suffix;
}

NatTable& NatTable::operator=(NatTable&& other) noexcept {
  if (this != &other) {
    destroy();
    socket_ = std::move(other.socket_);
    spec_ = std::move(other.spec_);
    name_ = std::move(other.name_);
    owner_flag_ = other.owner_flag_;
  }
  return *this;
}

Result<NatTable> NatTable::create(const NatTableSpec& spec) {
  if (spec.bridge.empty()) return fail("nat table", "no bridge name");
  if (!spec.address4 && !spec.address6) return fail("nat table", "sandbox has no address");
  NatTable table;
  table.spec_ = spec;
  table.name_ = nat_table_name(spec.sandbox_id);
  ASSIGN_OR_RETURN(table.socket_, NftSocket::open_in(spec.netns_fd));
  auto created = build_and_commit(table.socket_, spec, table.name_, NFT_TABLE_F_OWNER);
  if (!created && (created.error().code == EOPNOTSUPP || created.error().code == EINVAL) &&
      created.error().operation.find("nft table") == 0) {
    // Kernels before 5.12 lack the owner flag: the table then outlives a crashed supervisor and
    // only the journal (delete_nat_table from `nucleus gc`) removes it.
    created = build_and_commit(table.socket_, spec, table.name_, 0);
    if (created) return table;
  } else if (created) {
    table.owner_flag_ = true;
    return table;
  }
  table.socket_.close();
  return std::unexpected(created.error());
}

Result<void> NatTable::set_ports(std::span<const PortMapping> ports) {
  if (!socket_.valid()) return make_error(EBADF, "nat table set ports", "table destroyed");
  Batch batch;
  flush_chain(batch, name_, "prerouting");
  flush_chain(batch, name_, "output");
  TRY(add_ports(batch, spec_, name_, ports));
  TRY(socket_.commit(batch));
  spec_.ports.assign(ports.begin(), ports.end());
  return {};
}

void NatTable::destroy() noexcept {
  if (!socket_.valid()) return;
  Batch batch;
  TablePtr t = make_table(kFamily, name_);
  batch.add(t.get(), NFT_MSG_DELTABLE, 0, "delete table inet " + name_);
  if (!spec_.veth.empty()) {
    TablePtr bt = make_table(NFPROTO_BRIDGE, name_);
    batch.add(bt.get(), NFT_MSG_DELTABLE, 0, "delete table bridge " + name_);
  }
  // Closing the socket would remove an owner table anyway; committing the deletion first lets
  // the close happen in the background.
  if (socket_.commit(batch))
    socket_.close_in_background();
  else
    socket_.close();
}

Result<void> delete_nat_table(std::string_view name, int netns_fd) {
  ASSIGN_OR_RETURN(NftSocket sock, NftSocket::open_in(netns_fd));
  // One batch per family: either table may be missing (never created, or gone with its owner).
  for (uint32_t family : {kFamily, static_cast<uint32_t>(NFPROTO_BRIDGE)}) {
    Batch batch;
    TablePtr t = make_table(family, name);
    batch.add(t.get(), NFT_MSG_DELTABLE, 0,
              std::string("delete table ") + (family == kFamily ? "inet " : "bridge ") +
                  std::string(name));
    auto r = sock.commit(batch);
    if (!r && r.error().code != ENOENT) return r;
  }
  return {};
}

}  // namespace nucleus::net::nft
