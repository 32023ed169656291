// RuleBuilder (declared in nft_batch.h): nftables expressions, one small method each.
#include <arpa/inet.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <net/if.h>

#include <array>
#include <cstring>

#include "net/kernel/nft_batch.h"

namespace nucleus::net::nft {
namespace {

nftnl_expr* expr(const char* name) { return nftnl_expr_alloc(name); }

}  // namespace

RuleBuilder::RuleBuilder(uint32_t family, std::string_view table, std::string_view chain)
    : rule_(nftnl_rule_alloc()) {
  nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, family);
  nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, std::string(table).c_str());
  nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, std::string(chain).c_str());
}

RuleBuilder& RuleBuilder::add(nftnl_expr* e) {
  nftnl_rule_add_expr(rule_.get(), e);  // the rule owns the expression from here on
  return *this;
}

RuleBuilder& RuleBuilder::meta(uint32_t key, uint32_t dreg) {
  nftnl_expr* e = expr("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
  return add(e);
}

RuleBuilder& RuleBuilder::payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
  nftnl_expr* e = expr("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
  return add(e);
}

RuleBuilder& RuleBuilder::cmp(uint32_t op, const void* data, size_t len, uint32_t sreg) {
  nftnl_expr* e = expr("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, static_cast<uint32_t>(len));
  return add(e);
}

RuleBuilder& RuleBuilder::bitwise(const void* mask, size_t len, uint32_t reg) {
  std::array<uint8_t, 16> zero{};
  nftnl_expr* e = expr("bitwise");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<uint32_t>(len));
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, static_cast<uint32_t>(len));
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero.data(), static_cast<uint32_t>(len));
  return add(e);
}

RuleBuilder& RuleBuilder::ct(uint32_t key, uint32_t dreg) {
  nftnl_expr* e = expr("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
  return add(e);
}

RuleBuilder& RuleBuilder::fib(uint32_t flags, uint32_t result, uint32_t dreg) {
  nftnl_expr* e = expr("fib");
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, flags);
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, result);
  nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
  return add(e);
}

RuleBuilder& RuleBuilder::lookup(std::string_view set, uint32_t set_id, uint32_t sreg,
                                 bool invert) {
  nftnl_expr* e = expr("lookup");
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, std::string(set).c_str());
  if (set_id != 0) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
  if (invert) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  return add(e);
}

RuleBuilder& RuleBuilder::immediate(const void* data, size_t len, uint32_t dreg) {
  nftnl_expr* e = expr("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
  nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, static_cast<uint32_t>(len));
  return add(e);
}

RuleBuilder& RuleBuilder::verdict(int verdict) {
  nftnl_expr* e = expr("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(verdict));
  return add(e);
}

RuleBuilder& RuleBuilder::counter() { return add(expr("counter")); }

RuleBuilder& RuleBuilder::named_counter(std::string_view name) {
  nftnl_expr* e = expr("objref");
  nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
  nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, std::string(name).c_str());
  return add(e);
}

RuleBuilder& RuleBuilder::limit(uint64_t rate, uint64_t unit_seconds, uint32_t burst) {
  nftnl_expr* e = expr("limit");
  nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
  nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, unit_seconds);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
  return add(e);
}

RuleBuilder& RuleBuilder::log_group(uint16_t group, std::string_view prefix) {
  nftnl_expr* e = expr("log");
  nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
  if (!prefix.empty()) nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, std::string(prefix).c_str());
  return add(e);
}

RuleBuilder& RuleBuilder::reject(uint32_t type, uint8_t code) {
  nftnl_expr* e = expr("reject");
  nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
  nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
  return add(e);
}

RuleBuilder& RuleBuilder::masquerade() { return add(expr("masq")); }

RuleBuilder& RuleBuilder::nat(uint32_t type, uint32_t nfproto, uint32_t addr_reg,
                              uint32_t proto_reg) {
  nftnl_expr* e = expr("nat");
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, nfproto);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, addr_reg);
  if (proto_reg != 0) nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, proto_reg);
  return add(e);
}

RuleBuilder& RuleBuilder::comment(std::string_view text) {
  nftnl_udata_buf* buf = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 8);
  std::string s(text.substr(0, NFTNL_UDATA_COMMENT_MAXLEN - 1));
  nftnl_udata_put_strz(buf, NFTNL_UDATA_RULE_COMMENT, s.c_str());
  nftnl_rule_set_data(rule_.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(buf),
                      nftnl_udata_buf_len(buf));
  nftnl_udata_buf_free(buf);
  return *this;
}

RuleBuilder& RuleBuilder::match_nfproto(uint8_t nfproto) {
  meta(NFT_META_NFPROTO);
  return cmp(NFT_CMP_EQ, &nfproto, 1);
}

RuleBuilder& RuleBuilder::match_l4proto(uint8_t proto) {
  meta(NFT_META_L4PROTO);
  return cmp(NFT_CMP_EQ, &proto, 1);
}

RuleBuilder& RuleBuilder::match_iifname(std::string_view name, bool equal) {
  std::array<char, IFNAMSIZ> buf{};
  std::memcpy(buf.data(), name.data(), std::min(name.size(), buf.size() - 1));
  meta(NFT_META_IIFNAME);
  return cmp(equal ? NFT_CMP_EQ : NFT_CMP_NEQ, buf.data(), buf.size());
}

RuleBuilder& RuleBuilder::match_oifname(std::string_view name, bool equal) {
  std::array<char, IFNAMSIZ> buf{};
  std::memcpy(buf.data(), name.data(), std::min(name.size(), buf.size() - 1));
  meta(NFT_META_OIFNAME);
  return cmp(equal ? NFT_CMP_EQ : NFT_CMP_NEQ, buf.data(), buf.size());
}

// IPv4 saddr/daddr live at offsets 12/16 of the network header, IPv6 at 8/24.
static uint32_t addr_offset(bool v4, bool source) {
  if (v4) return source ? 12 : 16;
  return source ? 8 : 24;
}

RuleBuilder& RuleBuilder::match_addr(bool source, const IpAddress& ip) {
  auto len = static_cast<uint32_t>(ip.size());
  payload(NFT_PAYLOAD_NETWORK_HEADER, addr_offset(ip.is_v4(), source), len);
  return cmp(NFT_CMP_EQ, ip.bytes.data(), len);
}

RuleBuilder& RuleBuilder::match_prefix(bool source, const Cidr& cidr) {
  auto len = static_cast<uint32_t>(cidr.address.size());
  payload(NFT_PAYLOAD_NETWORK_HEADER, addr_offset(cidr.address.is_v4(), source), len);
  if (cidr.prefix < static_cast<int>(len * 8)) {
    std::array<uint8_t, 16> mask{};
    for (int bit = 0; bit < cidr.prefix; ++bit) mask[bit / 8] |= uint8_t(0x80 >> (bit % 8));
    bitwise(mask.data(), len);
  }
  return cmp(NFT_CMP_EQ, cidr.address.bytes.data(), len);
}

RuleBuilder& RuleBuilder::match_dport(uint16_t port) {
  uint16_t be = htons(port);
  payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
  return cmp(NFT_CMP_EQ, &be, 2);
}

RuleBuilder& RuleBuilder::match_ct_state(uint32_t state_bits) {
  uint32_t zero = 0;
  ct(NFT_CT_STATE);
  bitwise(&state_bits, 4);
  return cmp(NFT_CMP_NEQ, &zero, 4);
}

RuleBuilder& RuleBuilder::match_ct_status(uint32_t status_bits) {
  uint32_t zero = 0;
  ct(NFT_CT_STATUS);
  bitwise(&status_bits, 4);
  return cmp(NFT_CMP_NEQ, &zero, 4);
}

}  // namespace nucleus::net::nft
