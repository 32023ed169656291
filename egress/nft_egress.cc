#include "egress/nft_egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
// clang-format off
#include <linux/netfilter/nf_conntrack_common.h>
// clang-format on

#include <algorithm>
#include <string>

namespace nucleus::egress {
namespace {

using net::Cidr;
using net::IpAddress;
using net::nft::Batch;
using net::nft::RuleBuilder;

constexpr uint32_t kFamily = NFPROTO_INET;
constexpr const char* kChain = "output";
// nftables' datatype ids for set keys (nftables' include/datatype.h).
constexpr uint32_t kTypeIpv4 = 7, kTypeIpv6 = 8, kTypeInetService = 13;

__extension__ typedef unsigned __int128 U128;  // NOLINT: 128-bit arithmetic on IPv6 addresses

U128 to_u128(const IpAddress& ip) {
  U128 v = 0;
  for (size_t i = 0; i < ip.size(); ++i) v = (v << 8) | ip.bytes[i];
  return v;
}

IpAddress from_u128(U128 v, int family) {
  IpAddress ip;
  ip.family = family;
  for (size_t i = ip.size(); i-- > 0;) {
    ip.bytes[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return ip;
}

net::nft::SetPtr make_set(const char* name, uint32_t key_type, uint32_t key_len, uint32_t flags,
                          uint32_t id) {
  net::nft::SetPtr s(nftnl_set_alloc());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, kFamily);
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, kEgressTable);
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, key_type);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, key_len);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, flags);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, id);
  return s;
}

void add_elem(nftnl_set* s, const void* key, size_t len, uint32_t flags, uint64_t timeout_ms) {
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, static_cast<uint32_t>(len));
  if (flags != 0) nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, flags);
  if (timeout_ms != 0) nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
  nftnl_set_elem_add(s, e);
}

void put(Batch& batch, RuleBuilder& r, const std::string& what) {
  batch.add(r.get(), NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
            "rule '" + what + "' in table inet " + kEgressTable);
}

uint8_t nfproto(int family) { return family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6; }

void add_sets(Batch& batch, const EgressRules& rules) {
  struct Def {
    const char* name;
    int family;
    uint32_t flags;
    uint32_t id;
  };
  const Def defs[] = {{"allow4", AF_INET, NFT_SET_INTERVAL, 1},
                      {"allow6", AF_INET6, NFT_SET_INTERVAL, 2},
                      {"dyn4", AF_INET, NFT_SET_TIMEOUT, 3},
                      {"dyn6", AF_INET6, NFT_SET_TIMEOUT, 4}};
  for (const Def& d : defs) {
    const bool v4 = d.family == AF_INET;
    auto s = make_set(d.name, v4 ? kTypeIpv4 : kTypeIpv6, v4 ? 4 : 16, d.flags, d.id);
    batch.add(s.get(), NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, std::string("set ") + d.name);
    if (d.flags != NFT_SET_INTERVAL) continue;
    // Interval sets take each range as a start element and an end element (the first address
    // after it, flagged INTERVAL_END). Overlapping ranges are rejected by the kernel, hence merge.
    auto ranges = merge_cidrs(rules.allow, d.family);
    if (ranges.empty()) continue;
    auto elems = make_set(d.name, 0, 0, 0, d.id);
    for (const AddressRange& r : ranges) {
      add_elem(elems.get(), r.start.bytes.data(), r.start.size(), 0, 0);
      if (!r.to_max) {
        add_elem(elems.get(), r.end.bytes.data(), r.end.size(), NFT_SET_ELEM_INTERVAL_END, 0);
      }
    }
    batch.add_elems(elems.get(), NFT_MSG_NEWSETELEM, NLM_F_CREATE,
                    std::string("elements of set ") + d.name);
  }
  for (const auto& [name, ports, id] :
       {std::tuple{"tports", &rules.tcp_ports, 5u}, std::tuple{"uports", &rules.udp_ports, 6u}}) {
    auto s = make_set(name, kTypeInetService, 2, 0, id);
    batch.add(s.get(), NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, std::string("set ") + name);
    if (ports->empty()) continue;
    auto elems = make_set(name, 0, 0, 0, id);
    for (uint16_t p : *ports) {
      uint16_t be = htons(p);
      add_elem(elems.get(), &be, 2, 0, 0);
    }
    batch.add_elems(elems.get(), NFT_MSG_NEWSETELEM, NLM_F_CREATE,
                    std::string("elements of set ") + name);
  }
}

void add_rules(Batch& batch, const EgressRules& rules) {
  {
    RuleBuilder r(kFamily, kEgressTable, kChain);
    r.meta(NFT_META_OIFTYPE);
    uint16_t loopback = 772;  // ARPHRD_LOOPBACK: cheaper than a name compare
    r.cmp(NFT_CMP_EQ, &loopback, 2).verdict(NF_ACCEPT);
    put(batch, r, "oif lo accept");
  }
  {
    RuleBuilder r(kFamily, kEgressTable, kChain);
    r.match_ct_state(NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
    r.verdict(NF_ACCEPT);
    put(batch, r, "ct state established,related accept");
  }
  // IPv6 cannot work without neighbour discovery (router/neighbour solicit and advert, ICMPv6
  // types 133..136) and bridges with multicast snooping expect listener reports (MLD, 130..132
  // and v2's 143); IPv4's ARP is not IP and never reaches this chain. These stay on the link.
  for (auto [first, last, what] : {std::tuple{uint8_t{130}, uint8_t{136}, "mld, neighbour discovery"},
                                   std::tuple{uint8_t{143}, uint8_t{143}, "mldv2 report"}}) {
    RuleBuilder r(kFamily, kEgressTable, kChain);
    r.match_nfproto(NFPROTO_IPV6).match_l4proto(IPPROTO_ICMPV6);
    r.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1).cmp(NFT_CMP_GTE, &first, 1);
    r.cmp(NFT_CMP_LTE, &last, 1).verdict(NF_ACCEPT);
    put(batch, r, std::string("icmpv6 ") + what + " accept");
  }
  for (const IpAddress& resolver : rules.resolvers) {
    for (uint8_t proto : {uint8_t{IPPROTO_UDP}, uint8_t{IPPROTO_TCP}}) {
      RuleBuilder r(kFamily, kEgressTable, kChain);
      r.match_nfproto(nfproto(resolver.family)).match_addr(false, resolver);
      r.match_l4proto(proto).match_dport(53).verdict(NF_ACCEPT);
      put(batch, r, "dns to " + resolver.to_string());
    }
  }
  const bool any_port = !rules.restrict_ports && !rules.tcp_all_ports && !rules.udp_all_ports &&
                        rules.tcp_ports.empty() && rules.udp_ports.empty();
  for (int family : {AF_INET, AF_INET6}) {
    const bool v4 = family == AF_INET;
    const uint32_t daddr = v4 ? 16 : 24;
    const uint32_t len = v4 ? 4 : 16;
    for (const char* set : {v4 ? "allow4" : "allow6", v4 ? "dyn4" : "dyn6"}) {
      if (any_port) {
        RuleBuilder r(kFamily, kEgressTable, kChain);
        r.match_nfproto(nfproto(family)).payload(NFT_PAYLOAD_NETWORK_HEADER, daddr, len);
        r.lookup(set, 0).verdict(NF_ACCEPT);
        put(batch, r, std::string("daddr @") + set + " accept");
        continue;
      }
      for (const auto& [proto, ports, all] :
           {std::tuple{uint8_t{IPPROTO_TCP}, "tports", rules.tcp_all_ports},
            std::tuple{uint8_t{IPPROTO_UDP}, "uports", rules.udp_all_ports}}) {
        RuleBuilder r(kFamily, kEgressTable, kChain);
        r.match_nfproto(nfproto(family)).payload(NFT_PAYLOAD_NETWORK_HEADER, daddr, len);
        r.lookup(set, 0).match_l4proto(proto);
        if (all) {
          r.verdict(NF_ACCEPT);
          put(batch, r, std::string("daddr @") + set + " l4proto " + ports + " accept");
          continue;
        }
        r.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2).lookup(ports, 0).verdict(NF_ACCEPT);
        put(batch, r, std::string("daddr @") + set + " dport @" + ports + " accept");
      }
    }
  }
  if (rules.nflog_group != 0) {
    RuleBuilder r(kFamily, kEgressTable, kChain);
    r.limit(10, 1, 20).log_group(rules.nflog_group, "nucleus-egress-deny ");
    put(batch, r, "log denied");
  }
  for (int family : {AF_INET, AF_INET6}) {
    RuleBuilder r(kFamily, kEgressTable, kChain);
    r.match_nfproto(nfproto(family)).named_counter(family == AF_INET ? "denied4" : "denied6");
    put(batch, r, "count denied");
  }
  {
    RuleBuilder r(kFamily, kEgressTable, kChain);
    r.match_l4proto(IPPROTO_TCP).reject(NFT_REJECT_TCP_RST, 0);
    put(batch, r, "reject with tcp reset");
  }
  {
    RuleBuilder r(kFamily, kEgressTable, kChain);
    r.reject(NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
    put(batch, r, "reject with icmpx admin-prohibited");
  }
}

}  // namespace

std::vector<AddressRange> merge_cidrs(std::span<const Cidr> cidrs, int family) {
  const int bits = family == AF_INET ? 32 : 128;
  struct Span {
    U128 start, end;  // end exclusive; end_max when it would be 2^bits
    bool end_max;
  };
  std::vector<Span> spans;
  for (const Cidr& c : cidrs) {
    if (c.address.family != family) continue;
    U128 start = to_u128(c.address);
    int host_bits = bits - c.prefix;
    bool end_max = host_bits >= bits ||
                   (host_bits < 128 && start + (U128{1} << host_bits) - 1 ==
                                           (bits == 128 ? ~U128{0} : (U128{1} << 32) - 1));
    U128 end = end_max ? 0 : start + (U128{1} << host_bits);
    spans.push_back({start, end, end_max});
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.start < b.start; });
  std::vector<Span> merged;
  for (const Span& s : spans) {
    if (!merged.empty() && (merged.back().end_max || s.start <= merged.back().end)) {
      Span& m = merged.back();
      if (m.end_max) continue;
      if (s.end_max) {
        m.end_max = true;
      } else {
        m.end = std::max(m.end, s.end);
      }
      continue;
    }
    merged.push_back(s);
  }
  std::vector<AddressRange> out;
  for (const Span& s : merged) {
    out.push_back({from_u128(s.start, family), from_u128(s.end, family), s.end_max});
  }
  return out;
}

Result<EgressTable> EgressTable::install(net::nft::NftSocket socket, const EgressRules& rules) {
  if (!socket.valid()) return make_error(EBADF, "egress table", "no socket");
  Batch batch;
  auto table = net::nft::make_table(kFamily, kEgressTable);
  // NEWTABLE + DELTABLE + NEWTABLE: an earlier table (from a previous apply) is replaced
  // atomically; NEWTABLE first makes the DELTABLE valid when there was none.
  batch.add(table.get(), NFT_MSG_NEWTABLE, NLM_F_CREATE, "table inet nucleus-egress");
  batch.add(table.get(), NFT_MSG_DELTABLE, 0, "replace table inet nucleus-egress");
  batch.add(table.get(), NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "table inet nucleus-egress");
  for (const char* name : {"denied4", "denied6"}) {
    net::nft::ObjPtr o(nftnl_obj_alloc());
    nftnl_obj_set_u32(o.get(), NFTNL_OBJ_FAMILY, kFamily);
    nftnl_obj_set_str(o.get(), NFTNL_OBJ_TABLE, kEgressTable);
    nftnl_obj_set_str(o.get(), NFTNL_OBJ_NAME, name);
    nftnl_obj_set_u32(o.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
    batch.add(o.get(), NFT_MSG_NEWOBJ, NLM_F_CREATE | NLM_F_EXCL, std::string("counter ") + name);
  }
  add_sets(batch, rules);
  net::nft::BaseChain base{"filter", NF_INET_LOCAL_OUT, 0, NF_DROP};
  auto chain = net::nft::make_chain(kFamily, kEgressTable, kChain, &base);
  batch.add(chain.get(), NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, "chain output");
  add_rules(batch, rules);
  TRY(socket.commit(batch));
  EgressTable t;
  t.socket_ = std::move(socket);
  return t;
}

Result<void> EgressTable::add_dynamic(const IpAddress& ip, uint32_t ttl_seconds) {
  return add_dynamic(std::span<const IpAddress>(&ip, 1), ttl_seconds);
}

Result<void> EgressTable::add_dynamic(std::span<const IpAddress> ips, uint32_t ttl_seconds) {
  if (!socket_.valid()) return make_error(EBADF, "egress add", "table removed");
  const uint64_t timeout_ms = std::max<uint64_t>(1, ttl_seconds) * 1000;
  Batch batch;
  for (int family : {AF_INET, AF_INET6}) {
    auto s = make_set(family == AF_INET ? "dyn4" : "dyn6", 0, 0, 0, 0);
    bool any = false;
    for (const IpAddress& ip : ips) {
      if (ip.family != family) continue;
      add_elem(s.get(), ip.bytes.data(), ip.size(), 0, timeout_ms);
      any = true;
    }
    // Without NLM_F_EXCL an element that is already present is accepted (and, on current
    // kernels, its timeout refreshed) instead of failing the batch.
    if (any) batch.add_elems(s.get(), NFT_MSG_NEWSETELEM, NLM_F_CREATE, "dynamic allow");
  }
  return socket_.commit(batch);
}

Result<DenyCounters> EgressTable::denied() {
  if (!socket_.valid()) return make_error(EBADF, "egress counters", "table removed");
  DenyCounters out;
  TRY(socket_.dump(
      [](char* buf, uint32_t seq) {
        nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, kFamily, NLM_F_DUMP, seq);
        net::nft::ObjPtr o(nftnl_obj_alloc());
        nftnl_obj_set_str(o.get(), NFTNL_OBJ_TABLE, kEgressTable);
        nftnl_obj_set_u32(o.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
        nftnl_obj_nlmsg_build_payload(nlh, o.get());
        return nlh;
      },
      [&](const nlmsghdr* nlh) {
        net::nft::ObjPtr o(nftnl_obj_alloc());
        if (nftnl_obj_nlmsg_parse(nlh, o.get()) < 0) return true;
        std::string name = nftnl_obj_get_str(o.get(), NFTNL_OBJ_NAME);
        uint64_t pkts = nftnl_obj_get_u64(o.get(), NFTNL_OBJ_CTR_PKTS);
        if (name == "denied4") out.packets4 = pkts;
        if (name == "denied6") out.packets6 = pkts;
        return true;
      }));
  return out;
}

void EgressTable::remove() noexcept {
  if (!socket_.valid()) return;
  Batch batch;
  auto table = net::nft::make_table(kFamily, kEgressTable);
  batch.add(table.get(), NFT_MSG_DELTABLE, 0, "delete table inet nucleus-egress");
  (void)socket_.commit(batch);
  socket_.close();
}

}  // namespace nucleus::egress
