#include "net/kernel/nft_forward.h"

#include <libnftnl/udata.h>

#include <cstring>
#include <string>

#include "net/kernel/nft_batch.h"

namespace nucleus::net::nft {
namespace {

bool is_forward_family(uint32_t family) {
  return family == NFPROTO_IPV4 || family == NFPROTO_IPV6 || family == NFPROTO_INET;
}

std::string tag(std::string_view sandbox_id) { return "nucleus:" + std::string(sandbox_id); }

// The comment stored in a rule's userdata, or "".
std::string rule_comment(const nftnl_rule* r) {
  if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) return {};
  uint32_t len = 0;
  const void* data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
  std::string comment;
  nftnl_udata_parse(
      data, len,
      [](const nftnl_udata* attr, void* out) -> int {
        if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT) {
          const char* s = static_cast<const char*>(nftnl_udata_get(attr));
          *static_cast<std::string*>(out) = std::string(s, strnlen(s, nftnl_udata_len(attr)));
        }
        return 0;
      },
      &comment);
  return comment;
}

Result<std::vector<ForeignRule>> drop_chains(NftSocket& sock) {
  std::vector<ForeignRule> out;
  TRY(sock.dump(
      [](char* buf, uint32_t seq) {
        return nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NLM_F_DUMP, seq);
      },
      [&](const nlmsghdr* nlh) {
        ChainPtr c(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(nlh, c.get()) < 0) return true;
        uint32_t family = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_FAMILY);
        if (!is_forward_family(family) || !nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM) ||
            nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM) != NF_INET_FORWARD ||
            !nftnl_chain_is_set(c.get(), NFTNL_CHAIN_POLICY) ||
            nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY) != NF_DROP) {
          return true;
        }
        std::string table = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE);
        if (table.starts_with("nucleus-")) return true;  // ours never drop sandbox traffic
        out.push_back({family, table, nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME), 0});
        return true;
      }));
  return out;
}

// Rules in `chain` commented `comment`.
Result<std::vector<ForeignRule>> tagged_rules(NftSocket& sock, const ForeignRule& chain,
                                              const std::string& comment) {
  std::vector<ForeignRule> out;
  TRY(sock.dump(
      [&](char* buf, uint32_t seq) {
        nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE,
                                              static_cast<uint16_t>(chain.family), NLM_F_DUMP, seq);
        RulePtr r(nftnl_rule_alloc());
        nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, chain.table.c_str());
        nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.chain.c_str());
        nftnl_rule_nlmsg_build_payload(nlh, r.get());
        return nlh;
      },
      [&](const nlmsghdr* nlh) {
        RulePtr r(nftnl_rule_alloc());
        if (nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) return true;
        if (chain.table != nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE) ||
            chain.chain != nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN)) {
          return true;
        }
        if (rule_comment(r.get()) == comment) {
          ForeignRule found = chain;
          found.handle = nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE);
          out.push_back(found);
        }
        return true;
      }));
  return out;
}

bool already_gone(const Error& e) { return e.code == ENOENT; }

}  // namespace

std::string journal_key(const ForeignRule& rule) {
  return std::to_string(rule.family) + "/" + rule.table + "/" + rule.chain + "/" +
         std::to_string(rule.handle);
}

nlohmann::json to_json(const ForeignRule& rule) {
  return {{"family", rule.family}, {"table", rule.table}, {"chain", rule.chain},
          {"handle", rule.handle}};
}

Result<ForeignRule> foreign_rule_from_json(const nlohmann::json& attrs) {
  // Journal attrs are our own output, but a damaged file must not throw through the kernel layer.
  try {
    return ForeignRule{attrs.at("family").get<uint32_t>(), attrs.at("table").get<std::string>(),
                       attrs.at("chain").get<std::string>(), attrs.at("handle").get<uint64_t>()};
  } catch (const nlohmann::json::exception& e) {
    return fail("journal nft-rule", e.what());
  }
}

Result<std::vector<ForeignRule>> find_drop_forward_chains(int netns_fd) {
  ASSIGN_OR_RETURN(NftSocket sock, NftSocket::open_in(netns_fd));
  return drop_chains(sock);
}

Result<std::vector<ForeignRule>> allow_bridge_forwarding(std::string_view sandbox_id,
                                                         std::string_view bridge, int netns_fd) {
  ASSIGN_OR_RETURN(NftSocket sock, NftSocket::open_in(netns_fd));
  return allow_bridge_forwarding(sock, sandbox_id, bridge);
}

Result<std::vector<ForeignRule>> allow_bridge_forwarding(NftSocket& sock,
                                                         std::string_view sandbox_id,
                                                         std::string_view bridge) {
  ASSIGN_OR_RETURN(std::vector<ForeignRule> chains, drop_chains(sock));
  if (chains.empty()) return std::vector<ForeignRule>{};
  const std::string comment = tag(sandbox_id);
  Batch batch;
  for (const ForeignRule& c : chains) {
    for (bool inbound : {true, false}) {
      RuleBuilder r(c.family, c.table, c.chain);
      if (inbound) {
        r.match_iifname(bridge);
      } else {
        r.match_oifname(bridge);
      }
      r.verdict(NF_ACCEPT).comment(comment);
      // No NLM_F_APPEND and no position: the kernel inserts at the head of the chain.
      batch.add(r.get(), NFT_MSG_NEWRULE, NLM_F_CREATE,
                std::string("rule '") + (inbound ? "iifname " : "oifname ") + std::string(bridge) +
                    " accept' in chain " + c.table + " " + c.chain);
    }
  }
  TRY(sock.commit(batch));
  // Read the handles back: the comment identifies our rules.
  std::vector<ForeignRule> inserted;
  for (const ForeignRule& c : chains) {
    ASSIGN_OR_RETURN(auto rules, tagged_rules(sock, c, comment));
    inserted.insert(inserted.end(), rules.begin(), rules.end());
  }
  return inserted;
}

namespace {
// Deletes one rule by handle; a rule (or table, chain) that is already gone is not an error.
Result<void> delete_by_handle(NftSocket& sock, const ForeignRule& rule) {
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, rule.family);
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, rule.table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, rule.chain.c_str());
  nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, rule.handle);
  Batch batch;
  batch.add(r.get(), NFT_MSG_DELRULE, 0, "delete rule " + journal_key(rule));
  auto done = sock.commit(batch);
  if (!done && already_gone(done.error())) return {};
  return done;
}
}  // namespace

Result<void> delete_foreign_rule(const ForeignRule& rule, int netns_fd) {
  ASSIGN_OR_RETURN(NftSocket sock, NftSocket::open_in(netns_fd));
  return delete_by_handle(sock, rule);
}

Result<void> delete_foreign_rule(NftSocket& sock, const ForeignRule& rule) {
  return delete_by_handle(sock, rule);
}

Result<void> delete_rules_tagged(std::string_view sandbox_id, int netns_fd) {
  ASSIGN_OR_RETURN(NftSocket sock, NftSocket::open_in(netns_fd));
  ASSIGN_OR_RETURN(std::vector<ForeignRule> chains, drop_chains(sock));
  for (const ForeignRule& c : chains) {
    ASSIGN_OR_RETURN(auto rules, tagged_rules(sock, c, tag(sandbox_id)));
    for (const ForeignRule& rule : rules) TRY(delete_by_handle(sock, rule));
  }
  return {};
}

}  // namespace nucleus::net::nft
