#include "core/sandbox/network.h"

#include <fcntl.h>

#include "core/base/fs.h"

namespace nucleus {

SandboxNetwork::SandboxNetwork() = default;
SandboxNetwork::~SandboxNetwork() { detach(); }

Result<net::NetAttachment> SandboxNetwork::attach(const ValidSpec& spec, pid_t pid,
                                                  Journal& journal) {
  (void)spec; (void)pid; (void)journal;
  return fail("--network bridge", "not built yet");
}

void SandboxNetwork::detach() noexcept {
  if (backend_) backend_->detach();
  backend_.reset();
}

}  // namespace nucleus
