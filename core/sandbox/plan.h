// Parent side: turns a ValidSpec into the ChildPlan the cloned child executes.
#pragma once

#include <string>

#include "core/sandbox/child_plan.h"
#include "core/spec/spec.h"

namespace nucleus {

struct PlanPaths {
  std::string new_root;       // mount point (shared, <state root>/mnt) of what becomes "/"
  std::string generated_etc;  // dir holding passwd, group, hosts, hostname, resolv.conf, ...
  std::string workspace;      // what to mount at /workspace (the staged copy for copy-in-out)
  uid_t id_offset_uid = 0;    // remapped ids: host uid of root inside
  gid_t id_offset_gid = 0;
};

// The generated /etc files, bound read-only into the sandbox.
inline constexpr const char* kGeneratedEtcFiles[] = {"passwd",  "group",       "hosts",
                                                     "hostname", "resolv.conf", "nsswitch.conf"};

[[nodiscard]] Result<void> build_child_plan(const ValidSpec& spec, const PlanPaths& paths,
                                            ChildPlan& plan);

}  // namespace nucleus
