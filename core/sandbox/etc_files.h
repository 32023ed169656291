// The generated /etc of a sandbox: passwd, group, hosts, hostname, resolv.conf, nsswitch.conf.
// Never copied from the host: the host's users, groups and secrets stay out of the sandbox.
#pragma once

#include <string>

#include "core/base/result.h"
#include "core/spec/spec.h"
#include "net/backend.h"

namespace nucleus {

// Writes the files into `dir` (created if missing). `attachment` is null without a network.
[[nodiscard]] Result<void> write_etc_files(const std::string& dir, const ValidSpec& spec,
                                           const net::NetAttachment* attachment);

}  // namespace nucleus
