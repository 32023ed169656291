// The generated /etc of a sandbox: passwd, group, hosts, hostname, resolv.conf, nsswitch.conf.
// Never copied from the host: the host's users, groups and secrets stay out of the sandbox.
//
// Two ways in, both filled once the network is known (hosts and resolv.conf depend on it):
//  - default root: the contents travel with the go message (release_message()) and the child
//    writes them into its own tmpfs root before sealing it read-only; nothing touches the disk;
//  - --rootfs: files in the state dir are bound over the rootfs's own (which is read-only);
//    create_etc_files() makes them before the clone so the child can bind them early, and
//    write_etc_files() fills them in place later (a bind follows the inode).
#pragma once

#include <array>
#include <iterator>
#include <string>

#include "core/base/result.h"
#include "core/sandbox/plan.h"
#include "core/spec/spec.h"
#include "net/backend.h"

namespace nucleus {

// Contents in kGeneratedEtcFiles order.
using EtcFiles = std::array<std::string, std::size(kGeneratedEtcFiles)>;

// `attachment` is null without a network.
[[nodiscard]] EtcFiles generate_etc_files(const ValidSpec& spec,
                                          const net::NetAttachment* attachment);

[[nodiscard]] Result<void> create_etc_files(const std::string& dir);
[[nodiscard]] Result<void> write_etc_files(const std::string& dir, const EtcFiles& files);

// kGoByte followed by each file's contents, each ended by a NUL (contents never hold one).
// Fails when it would not fit the child's receive buffer (kReleaseMessageMax).
[[nodiscard]] Result<std::string> release_message(const EtcFiles& files);

}  // namespace nucleus
