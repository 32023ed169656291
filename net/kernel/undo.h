// Undo of every journal kind the kernel backend records, for `nucleus gc` (and rollback).
//
// gc replays the pending entries of a dead run newest first; each undo tolerates an object that
// was journaled but never created and one that is already gone. Host-side undos act on the calling
// thread's network namespace, which must be the host's (the one the dead run used).
#pragma once

#include <string_view>

#include "core/base/journal.h"
#include "core/base/result.h"

namespace nucleus::net::kernel {

// Journal kind of the host end of a sandbox's veth pair; key = link name.
inline constexpr std::string_view kVethJournalKind = "veth";

// True when `kind` is one undo_journal_entry handles ("ipam", "ip-forward", "veth", "bridge",
// "nft-table", "nft-forward", "nft-rule", "port-lease").
[[nodiscard]] bool handles_journal_kind(std::string_view kind);

// Dispatches on entry.kind. An unknown kind is an error (EINVAL) so gc can report it.
[[nodiscard]] Result<void> undo_journal_entry(const JournalEntry& entry);

}  // namespace nucleus::net::kernel
