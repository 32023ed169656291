#include "core/sandbox/network.h"

#include <fcntl.h>

#include "core/base/fs.h"
#include "net/kernel/kernel_backend.h"

namespace nucleus {
namespace {

std::unique_ptr<net::NetBackend> make_backend(const ValidSpec& spec) {
  switch (spec.nat_backend) {
    case NatBackend::kKernel: return std::make_unique<net::kernel::KernelBackend>();
    case NatBackend::kUserspace: return nullptr;  // refused by validation until slirp lands
  }
  return nullptr;
}

}  // namespace

SandboxNetwork::SandboxNetwork() = default;
SandboxNetwork::~SandboxNetwork() { detach(); }

Result<net::NetAttachment> SandboxNetwork::attach(const ValidSpec& spec, pid_t pid,
                                                  Journal& journal) {
  backend_ = make_backend(spec);
  if (!backend_) return fail("--nat-backend", "backend not available");
  ASSIGN_OR_RETURN(netns_, fs::open_fd("/proc/" + std::to_string(pid) + "/ns/net", O_RDONLY));
  net::SandboxHandles handles{pid, netns_.get(), &journal};
  ASSIGN_OR_RETURN(net::NetAttachment attachment, backend_->attach(spec.net, handles));
  return attachment;
}

void SandboxNetwork::detach() noexcept {
  // Our last reference to the sandbox netns goes first: once the sandbox has exited, the kernel
  // can then destroy the netns and the veth with it, and the backend need not delete it.
  netns_.reset();
  if (backend_) backend_->detach();
  backend_.reset();
}

}  // namespace nucleus
