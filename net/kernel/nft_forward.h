// Keeps sandbox forwarding working when another table's forward chain has policy drop.
//
// In nftables an accept in our own table does not override a drop in another table's base chain
// (every base chain on a hook gets its say). `iptables -P FORWARD DROP` on an iptables-nft host
// creates exactly that: table ip filter, chain FORWARD, policy drop. So for every base chain on
// the forward hook whose policy is drop (families ip, ip6, inet) we insert, at its head, one
// accept rule for traffic from/to our bridge, tagged with the comment "nucleus:<id>", and return
// the handles so teardown (or `nucleus gc` via the journal) can delete exactly those rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/result.h"
#include "net/kernel/nft_batch.h"

namespace nucleus::net::nft {

// Journal kind for inserted rules; key journal_key(), attrs to_json(); undo: delete_foreign_rule().
inline constexpr std::string_view kForwardRuleJournalKind = "nft-rule";
// Journal kind recorded BEFORE allow_bridge_forwarding() (handles are not known yet); key = the
// sandbox id; undo: delete_rules_tagged(key).
inline constexpr std::string_view kForwardTagJournalKind = "nft-forward";

struct ForeignRule {
  uint32_t family = 0;  // NFPROTO_IPV4 / NFPROTO_IPV6 / NFPROTO_INET
  std::string table;
  std::string chain;
  uint64_t handle = 0;
};

// Base chains on the forward hook with policy drop, in the netns of netns_fd (-1 = current).
[[nodiscard]] Result<std::vector<ForeignRule>> find_drop_forward_chains(int netns_fd = -1);

// Inserts "iifname <bridge> accept" and "oifname <bridge> accept" (comment "nucleus:<id>") at the
// head of every drop-policy forward chain, in one atomic batch. Returns the inserted rules (with
// their kernel handles). Chains of our own tables ("nucleus-*") are skipped.
[[nodiscard]] Result<std::vector<ForeignRule>> allow_bridge_forwarding(
    std::string_view sandbox_id, std::string_view bridge, int netns_fd = -1);
// Same, over an open socket (a sandbox's NAT table socket, which stays open until teardown).
[[nodiscard]] Result<std::vector<ForeignRule>> allow_bridge_forwarding(
    NftSocket& sock, std::string_view sandbox_id, std::string_view bridge);

// Deletes one inserted rule. Succeeds when the rule, its chain or its table is already gone.
[[nodiscard]] Result<void> delete_foreign_rule(const ForeignRule& rule, int netns_fd = -1);
[[nodiscard]] Result<void> delete_foreign_rule(NftSocket& sock, const ForeignRule& rule);
// Deletes every rule commented "nucleus:<id>" from forward chains (gc when handles were lost).
[[nodiscard]] Result<void> delete_rules_tagged(std::string_view sandbox_id, int netns_fd = -1);

[[nodiscard]] std::string journal_key(const ForeignRule& rule);
[[nodiscard]] nlohmann::json to_json(const ForeignRule& rule);
[[nodiscard]] Result<ForeignRule> foreign_rule_from_json(const nlohmann::json& attrs);

}  // namespace nucleus::net::nft
