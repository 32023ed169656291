#include "core/egress/egress_runtime.h"

namespace nucleus {

std::vector<ValidationError> validate_egress(const SandboxSpec& in, ValidSpec& out) {
  (void)in;
  (void)out;
  return {};
}

Result<std::unique_ptr<EgressRuntime>> start_egress(const ValidSpec&, asio::io_context&, int,
                                                    net::NetAttachment&, Journal&) {
  return std::unique_ptr<EgressRuntime>{};
}

}  // namespace nucleus
