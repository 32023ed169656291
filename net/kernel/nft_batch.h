// nftables over netlink (libmnl + libnftnl): a socket, atomic batches and a small rule builder.
//
// Every change nucleus makes to nftables is one NFNL_MSG_BATCH_BEGIN..END batch: the kernel applies
// all of it or none of it. Every message carries NLM_F_ACK and a label ("rule dnat tcp 8080"), so a
// failed batch becomes an Error naming the message the kernel refused.
//
// A netlink socket keeps the network namespace it was created in. NftSocket::open_in() opens one in
// another netns from a short-lived thread (setns is per thread and never done on a caller's thread),
// after which the socket may be used from anywhere. Tables created with NFT_TABLE_F_OWNER live as
// long as the socket that created them: keep the NftSocket alive to keep them.
#pragma once

// netinet/in.h must precede the linux/ headers (it suppresses linux/in.h duplicates).
#include <netinet/in.h>
// clang-format off
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
// clang-format on

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "net/ip.h"

namespace nucleus::net::nft {

struct TableDeleter { void operator()(nftnl_table* p) const { nftnl_table_free(p); } };
struct ChainDeleter { void operator()(nftnl_chain* p) const { nftnl_chain_free(p); } };
struct RuleDeleter { void operator()(nftnl_rule* p) const { nftnl_rule_free(p); } };
struct SetDeleter { void operator()(nftnl_set* p) const { nftnl_set_free(p); } };
struct ObjDeleter { void operator()(nftnl_obj* p) const { nftnl_obj_free(p); } };
using TablePtr = std::unique_ptr<nftnl_table, TableDeleter>;
using ChainPtr = std::unique_ptr<nftnl_chain, ChainDeleter>;
using RulePtr = std::unique_ptr<nftnl_rule, RuleDeleter>;
using SetPtr = std::unique_ptr<nftnl_set, SetDeleter>;
using ObjPtr = std::unique_ptr<nftnl_obj, ObjDeleter>;

class Batch;

class NftSocket {
 public:
  NftSocket() = default;
  NftSocket(NftSocket&&) noexcept = default;
  NftSocket& operator=(NftSocket&&) noexcept = default;

  // A NETLINK_NETFILTER socket in the calling thread's network namespace.
  [[nodiscard]] static Result<NftSocket> open();
  // Same, in the namespace of `netns_fd` (borrowed); -1 means the calling thread's.
  [[nodiscard]] static Result<NftSocket> open_in(int netns_fd);

  [[nodiscard]] bool valid() const { return sock_ != nullptr; }
  [[nodiscard]] uint32_t portid() const;

  // Sends the batch in one sendmsg and collects every ACK. On failure the error names the first
  // message the kernel refused (its label) and carries the kernel's errno.
  [[nodiscard]] Result<void> commit(Batch& batch);

  // Sends a GET request with NLM_F_DUMP built by `build(buf, seq)` and calls `on_message` for every
  // reply; a false return from on_message stops parsing (the reply is still drained).
  [[nodiscard]] Result<void> dump(const std::function<nlmsghdr*(char* buf, uint32_t seq)>& build,
                                  const std::function<bool(const nlmsghdr*)>& on_message);

  // Closes the socket (deleting any owner tables it holds).
  void close() noexcept { sock_.reset(); }

  // Closes the socket without waiting for the kernel's cleanup; use it after committing the
  // deletions. Releasing the last nfnetlink socket of a namespace waits for nf_tables' pending
  // destroy work, which frees deleted objects only after an RCU grace period (10-17 ms here):
  // the deletion is already visible, only that wait remains. A short-lived child process takes
  // over our reference, waits out a grace period with membarrier() (so the kernel then has
  // nothing left to wait for and never holds its commit mutex for long) and exits. The child
  // closes every other descriptor first and is reaped by init once we exit.
  void close_in_background() noexcept;

 private:
  struct Deleter { void operator()(mnl_socket* s) const { mnl_socket_close(s); } };
  [[nodiscard]] Result<void> ensure_sndbuf(size_t bytes);
  std::unique_ptr<mnl_socket, Deleter> sock_;
  uint32_t seq_ = 1;
  size_t sndbuf_ = 0;
};

// A batch under construction: messages are serialised as they are added, so the libnftnl objects
// can be freed right after. Commit with NftSocket::commit().
class Batch {
 public:
  Batch() = default;

  // nlflags are the NLM_F_* creation flags (NLM_F_CREATE, NLM_F_EXCL, NLM_F_APPEND...).
  void add(const nftnl_table* t, uint16_t msg_type, uint16_t nlflags, std::string label);
  void add(const nftnl_chain* c, uint16_t msg_type, uint16_t nlflags, std::string label);
  void add(nftnl_rule* r, uint16_t msg_type, uint16_t nlflags, std::string label);
  void add(nftnl_set* s, uint16_t msg_type, uint16_t nlflags, std::string label);
  void add(nftnl_obj* o, uint16_t msg_type, uint16_t nlflags, std::string label);
  // NFT_MSG_NEWSETELEM/DELSETELEM for the elements attached to `s`.
  void add_elems(nftnl_set* s, uint16_t msg_type, uint16_t nlflags, std::string label);

  [[nodiscard]] bool empty() const { return labels_.empty(); }
  [[nodiscard]] size_t size() const { return labels_.size(); }

 private:
  friend class NftSocket;
  // Reserves room for one message at the end of the buffer and returns where it starts.
  char* reserve(size_t bytes);
  void finish(const nlmsghdr* nlh, std::string label);
  uint16_t family_of_next_ = 0;
  std::vector<char> buf_;       // messages only; begin/end are added by commit()
  size_t used_ = 0;
  std::vector<std::string> labels_;  // one per message, in order
};

// Helpers to make libnftnl objects.
[[nodiscard]] TablePtr make_table(uint32_t family, std::string_view name, uint32_t flags = 0);
// Base chain when `hook` is given (type "filter"/"nat"), regular chain otherwise.
struct BaseChain {
  const char* type = "filter";
  uint32_t hook = 0;  // NF_INET_*
  int32_t priority = 0;
  uint32_t policy = NF_ACCEPT;
};
[[nodiscard]] ChainPtr make_chain(uint32_t family, std::string_view table, std::string_view name,
                                  const BaseChain* base = nullptr);

// Rule builder: appends expressions to a rule. Registers are NFT_REG32_00..15 (4 bytes each) or
// NFT_REG_1..4 (16 bytes). Methods return *this for chaining.
class RuleBuilder {
 public:
  RuleBuilder(uint32_t family, std::string_view table, std::string_view chain);

  RuleBuilder& meta(uint32_t key, uint32_t dreg = NFT_REG_1);
  RuleBuilder& payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg = NFT_REG_1);
  RuleBuilder& cmp(uint32_t op, const void* data, size_t len, uint32_t sreg = NFT_REG_1);
  RuleBuilder& bitwise(const void* mask, size_t len, uint32_t reg = NFT_REG_1);
  RuleBuilder& ct(uint32_t key, uint32_t dreg = NFT_REG_1);
  RuleBuilder& fib(uint32_t flags, uint32_t result, uint32_t dreg = NFT_REG_1);
  RuleBuilder& lookup(std::string_view set, uint32_t set_id, uint32_t sreg = NFT_REG_1,
                      bool invert = false);
  RuleBuilder& immediate(const void* data, size_t len, uint32_t dreg);
  RuleBuilder& verdict(int verdict);
  RuleBuilder& counter();
  RuleBuilder& named_counter(std::string_view name);  // counter name "x" (a counter object)
  RuleBuilder& limit(uint64_t rate, uint64_t unit_seconds, uint32_t burst);
  RuleBuilder& log_group(uint16_t group, std::string_view prefix);
  RuleBuilder& reject(uint32_t type, uint8_t code);
  RuleBuilder& masquerade();
  // snat/dnat to the address in addr_reg (and port in proto_reg when != 0).
  RuleBuilder& nat(uint32_t type, uint32_t nfproto, uint32_t addr_reg, uint32_t proto_reg);
  RuleBuilder& comment(std::string_view text);  // NFTNL_UDATA_RULE_COMMENT, shown by `nft list`

  // Matches built from the primitives above.
  RuleBuilder& match_nfproto(uint8_t nfproto);          // meta nfproto ipv4|ipv6
  RuleBuilder& match_l4proto(uint8_t proto);            // meta l4proto tcp|udp
  RuleBuilder& match_iifname(std::string_view name, bool equal = true);
  RuleBuilder& match_oifname(std::string_view name, bool equal = true);
  RuleBuilder& match_addr(bool source, const IpAddress& ip);   // needs match_nfproto first
  RuleBuilder& match_prefix(bool source, const Cidr& cidr);    // ip saddr 10.0.0.0/24
  RuleBuilder& match_dport(uint16_t port);                     // needs match_l4proto first
  RuleBuilder& match_ct_state(uint32_t state_bits);            // NF_CT_STATE_BIT(...) mask
  RuleBuilder& match_ct_status(uint32_t status_bits);          // IPS_* mask

  [[nodiscard]] nftnl_rule* get() { return rule_.get(); }

 private:
  RuleBuilder& add(nftnl_expr* e);
  RulePtr rule_;
};

}  // namespace nucleus::net::nft
