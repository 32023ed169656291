// ChildPlan: everything the sandbox child does between clone and exec, computed in the parent.
//
// After clone3 the child may only make async-signal-safe calls (no malloc, no locks, no
// exceptions). So the parent turns the ValidSpec into plain data here: a list of filesystem steps
// with their strings already built, argv/envp arrays, ids. The child (child.cc) only walks these
// arrays and makes syscalls. Strings live in `storage_` and must not change once built.
#pragma once

#include <sys/types.h>

#include <deque>
#include <string>
#include <vector>

#include "core/sandbox/hardening.h"

namespace nucleus {

struct ChildStep {
  enum class Kind {
    kMkdir,       // mkdir(target, mode); EEXIST is fine
    kTouch,       // create an empty file at target (a bind mount point for a file)
    kSymlink,     // symlink(source -> target)
    kMount,       // mount(source, target, fstype, flags, data)
    kBind,        // recursive bind of source at target
    kSetAttr,     // mount_setattr(target, attr_set = flags) on the mount at target
    kSetAttrTree, // the same, recursively (AT_RECURSIVE)
    kMaskFile,    // bind /dev/null (already in the new root) over target if it exists
    kCopySecret,  // copy the host file `source` into the tmpfs file `target` (mode 0400)
    kMknod,       // character device `target` with device number `flags`, permissions `mode`
  };
  Kind kind;
  const char* source = nullptr;
  const char* target = nullptr;
  const char* fstype = nullptr;
  unsigned long flags = 0;
  const char* data = nullptr;
  unsigned mode = 0755;
  bool optional = false;  // skip silently when the source or target does not exist
};

struct ChildPlan {
  std::vector<ChildStep> steps;   // run in order, before pivot_root
  const char* new_root = nullptr; // host path of the directory that becomes "/"
  const char* hostname = nullptr;
  const char* workdir = nullptr;
  std::vector<char*> argv;        // null-terminated
  std::vector<char*> envp;        // null-terminated
  std::vector<const char*> exec_candidates;  // argv[0], or PATH dirs joined with it
  std::vector<const char*> cgroup_join_files;  // v1: write "0" to each to move ourselves in
  bool new_cgroup_namespace = true;
  // The child normally builds its root while the parent sets up cgroups and the network, and
  // waits for the go only before the steps that need the parent's work (cgroup namespace, id
  // maps, hardening). Rootless children wait first: without their id maps they cannot create
  // files.
  bool setup_after_release = false;
  // Default root: where the generated /etc files that arrive with the go message are written
  // (paths inside the new root, kGeneratedEtcFiles order), after which the root is sealed
  // read-only. Empty with --rootfs, whose /etc files are bound from the state dir.
  std::vector<const char*> released_etc_files;
  bool seal_root_after_release = false;
  // Remapped ids (strict modes as root): everything above runs as real root, then the child
  // enters a new user namespace whose maps the parent writes, and becomes its root. The mount,
  // pid and network namespaces stay owned by the host's user namespace, so root inside cannot
  // administer them.
  bool late_user_namespace = false;
  uid_t owner_uid = 0;  // owner, as seen from the host, of files made for the workload
  gid_t owner_gid = 0;
  bool allow_chroot_fallback = false;  // agent mode, --allow-chroot-fallback
  bool mount_audit = false;            // production: verify /bin /usr /etc are ro,nosuid,nodev
  bool mini_init = false;              // production: PID 1 reaps zombies, forwards signals
  bool zero_secret_buffers = false;    // production: wipe the copy buffer of secrets
  HardeningPlan hardening;        // applied last, right before exec

  // Keeps a string alive for the plan's lifetime and returns its stable c_str().
  const char* keep(std::string s) { return storage_.emplace_back(std::move(s)).c_str(); }

 private:
  std::deque<std::string> storage_;  // deque: growing never moves existing strings
};

}  // namespace nucleus
