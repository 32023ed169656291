#include "net/kernel/undo.h"

#include "net/ipam.h"
#include "net/kernel/bridge.h"
#include "net/kernel/ip_forward.h"
#include "net/kernel/link.h"
#include "net/kernel/netlink.h"
#include "net/kernel/nft_forward.h"
#include "net/kernel/nft_nat.h"
#include "net/kernel/port_lease.h"

namespace nucleus::net::kernel {

bool handles_journal_kind(std::string_view kind) {
  return kind == ipam::kJournalKind || kind == ip_forward::kJournalKind ||
         kind == kVethJournalKind || kind == bridge::kJournalKind || kind == nft::kNatJournalKind ||
         kind == port_lease::kJournalKind || kind == nft::kForwardTagJournalKind ||
         kind == nft::kForwardRuleJournalKind;
}

Result<void> undo_journal_entry(const JournalEntry& entry) {
  if (entry.kind == ipam::kJournalKind) return ipam::undo(entry);
  if (entry.kind == ip_forward::kJournalKind) return ip_forward::undo(entry);
  if (entry.kind == bridge::kJournalKind) return bridge::undo(entry);
  if (entry.kind == port_lease::kJournalKind) return port_lease::undo(entry);
  if (entry.kind == nft::kNatJournalKind) return nft::delete_nat_table(entry.key);
  if (entry.kind == nft::kForwardTagJournalKind) return nft::delete_rules_tagged(entry.key);
  if (entry.kind == nft::kForwardRuleJournalKind) {
    ASSIGN_OR_RETURN(nft::ForeignRule rule, nft::foreign_rule_from_json(entry.attrs));
    return nft::delete_foreign_rule(rule);
  }
  if (entry.kind == kVethJournalKind) {
    // Deleting the host end also deletes the peer, wherever it is (or it died with its netns).
    ASSIGN_OR_RETURN(NetlinkSocket sock, NetlinkSocket::open());
    return delete_link(sock, entry.key);
  }
  return make_error(EINVAL, "journal undo", "unknown kind '" + entry.kind + "'");
}

}  // namespace nucleus::net::kernel
