// SandboxSpec (what the user asked for, as text) and ValidSpec (what we will build, typed).
//
// Parse -> validate -> act: the CLI and config loaders only fill a SandboxSpec; validate() is the
// single gate that turns it into a ValidSpec or a list of errors. Nothing that touches the kernel
// accepts a SandboxSpec.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cgroup/cgroup.h"
#include "core/egress/egress_flags.h"
#include "core/security/caps.h"
#include "core/security/landlock.h"
#include "core/security/seccomp.h"
#include "net/backend.h"

namespace nucleus {

// Raw values, exactly as given on the command line (empty = not given).
struct SandboxSpec {
  std::string name;
  std::string hostname;
  std::vector<std::string> env;      // -e K=V or -e K (taken from the caller's environment)
  std::string workdir;
  std::string rootfs;
  std::string workspace;
  std::string workspace_mode = "bind-rw";
  std::vector<std::string> volumes;  // SRC:DEST[:ro|rw]
  std::vector<std::string> tmpfs;    // DEST[:SIZE]
  std::string user;                  // UID[:GID]
  bool time_namespace = false;
  std::string state_root;            // --root
  int stop_timeout = 10;
  std::vector<std::string> command;  // after --

  // Networking.
  std::string network = "none";
  bool allow_host_network = false;
  std::string nat_backend = "auto";
  std::vector<std::string> publish;
  std::vector<std::string> dns;
  std::string bridge;   // empty = nucleus0
  std::string subnet;   // empty = 10.0.42.0/24
  std::string ip;
  bool ipv6 = false;
  std::string subnet6;  // empty = fd00:42::/64

  EgressFlags egress;
  std::string events_jsonl;  // --events-jsonl PATH: audit events as JSON lines

  // Hardening and service modes.
  std::string service_mode = "agent";
  bool strict_agent = false;  // --strict-agent shorthand
  std::string group;          // --group GID
  std::string memory, cpus, cpu_weight, pids;
  std::string seccomp_profile, seccomp_profile_sha256;
  std::string seccomp_mode = "enforce";
  std::string seccomp_log;
  std::vector<std::string> seccomp_allow;
  std::string caps_policy, caps_policy_sha256;
  std::string landlock_policy, landlock_policy_sha256;
  std::vector<std::string> secrets;  // SRC:DEST (DEST relative to /run/secrets or absolute in it)
  bool allow_degraded_security = false;
  bool allow_chroot_fallback = false;
};

enum class ServiceMode { kAgent, kStrictAgent, kProduction };

struct SecretMount {
  std::string source;  // canonical host file
  std::string name;    // file name under /run/secrets
};

enum class WorkspaceMode { kBindRw, kBindRo, kCopyInOut };
enum class NetworkMode { kNone, kHost, kBridge };
enum class NatBackend { kKernel, kUserspace };

struct VolumeMount {
  std::string source;  // absolute, canonical host path
  std::string dest;    // absolute path inside the sandbox
  bool read_only = false;
  bool is_directory = true;
};

struct TmpfsMount {
  std::string dest;
  uint64_t size_bytes = 0;  // 0 = kernel default
};

struct ValidSpec {
  std::string id;        // state directory name; --name when given
  std::string hostname;
  std::vector<std::string> env;  // final K=V list passed to the workload
  std::string workdir;
  std::optional<std::string> rootfs;     // canonical
  std::optional<std::string> workspace;  // canonical
  WorkspaceMode workspace_mode = WorkspaceMode::kBindRw;
  std::vector<VolumeMount> volumes;
  std::vector<TmpfsMount> tmpfs;
  uid_t uid = 0;
  gid_t gid = 0;
  bool time_namespace = false;
  bool rootless = false;  // the caller is not root: a user namespace maps it to root inside
  std::string state_root;
  int stop_timeout = 10;
  std::vector<std::string> argv;

  NetworkMode network = NetworkMode::kNone;
  NatBackend nat_backend = NatBackend::kKernel;
  net::NetRequest net;  // filled for bridge mode (id, state_root, bridge, subnets, ports, dns)

  EgressConfig egress;
  std::string events_jsonl;

  ServiceMode mode = ServiceMode::kAgent;
  bool user_namespace = false;  // the workload runs in a user namespace (rootless or remapped)
  bool remap_ids = false;       // strict modes as root: root inside is an unprivileged range
  cgroup::Limits limits;
  bool cgroup_required = false;     // strict modes: a cgroup failure is fatal
  security::SeccompOptions seccomp;
  std::string seccomp_log;          // trace mode output
  std::optional<security::CapsPolicy> caps_policy;
  security::LandlockOptions landlock;
  int landlock_min_abi = 0;         // 0: best effort; strict 1; production 3
  std::vector<SecretMount> secrets;
  bool allow_degraded_security = false;
  bool allow_chroot_fallback = false;
  bool mini_init = false;           // production: PID 1 is nucleus's init
  bool hide_pids = false;           // production: /proc hidepid=2
  bool mount_audit = false;         // production: check mount flags after setup
  bool zero_secret_buffers = false; // production
};

}  // namespace nucleus
