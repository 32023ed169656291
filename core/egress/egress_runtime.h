// Runtime side of egress: installs the policy in the sandbox's netns before the workload starts
// and serves DNS for it from the supervisor's loop.
#pragma once

#include <asio/io_context.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/base/journal.h"
#include "core/spec/spec.h"
#include "core/spec/validate.h"
#include "net/backend.h"

namespace nucleus {

// Fills out.egress from in.egress (and out.network, so validate_network runs first); returns the
// problems found. Egress flags with --network host are an error naming the flag; with
// --network none they are accepted with a notice. out.egress.default_deny_all, when set before
// the call, makes "no egress flag" mean deny all.
[[nodiscard]] std::vector<ValidationError> validate_egress(const SandboxSpec& in, ValidSpec& out);

class EgressRuntime {
 public:
  // Receives {"denied_packets": {"ipv4", "ipv6"}, "dns": {...}, ...} on the io thread.
  using StateSink = std::function<void(const nlohmann::json& egress)>;
  virtual ~EgressRuntime() = default;
  // Replaces where periodic counters go. The default sink rewrites the "egress" member of
  // state.json's details through StateDir (load, modify, save).
  virtual void set_state_sink(StateSink sink) = 0;
  // Counters now (denied packets per family, DNS proxy counters); callable on the io thread.
  [[nodiscard]] virtual nlohmann::json counters() = 0;
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
