// Runtime side of egress: installs the policy in the sandbox's netns before the workload starts
// and serves DNS for it from the supervisor's loop.
#pragma once

#include <asio/io_context.hpp>
#include <memory>
#include <vector>

#include "core/base/journal.h"
#include "core/spec/spec.h"
#include "core/spec/validate.h"
#include "net/backend.h"

namespace nucleus {

// Fills out.egress from in.egress (and the mode); returns the problems found.
[[nodiscard]] std::vector<ValidationError> validate_egress(const SandboxSpec& in, ValidSpec& out);

class EgressRuntime {
 public:
  virtual ~EgressRuntime() = default;
};

// Installs egress enforcement for a sandbox (nullptr result when egress is not enabled).
// `attachment` may be adjusted (e.g. resolvers replaced by the DNS proxy address) before the
// runtime writes resolv.conf.
[[nodiscard]] Result<std::unique_ptr<EgressRuntime>> start_egress(const ValidSpec& spec,
                                                                  asio::io_context& io,
                                                                  int netns_fd,
                                                                  net::NetAttachment& attachment,
                                                                  Journal& journal);

}  // namespace nucleus
