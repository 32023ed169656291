// Everything here runs in the freshly cloned child, before exec. Rules for this file:
//  - async-signal-safe calls only: raw syscalls, no malloc/new, no std::string, no stdio, no
//    exceptions, no locks. All data comes pre-built from ChildPlan.
//  - every failure is reported to the parent as a ChildFailure and ends the child with _exit.
#include "core/sandbox/child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>  // ST_* flags, which statfs f_flags uses too
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nucleus {
namespace {

void copy_text(char* dst, size_t cap, const char* src) {
  if (!src) src = "";
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void send_report(int sync_fd, bool warning, int error, const char* step, const char* path,
                 int exit_status) {
  ChildFailure f;
  f.warning = warning;
  f.error = error;
  f.exit_status = exit_status;
  copy_text(f.step, sizeof f.step, step);
  copy_text(f.path, sizeof f.path, path);
  // Best effort: if the parent is gone there is nobody to tell.
  ssize_t ignored = send(sync_fd, &f, sizeof f, MSG_NOSIGNAL);
  (void)ignored;
}

[[noreturn]] void fail_child(int sync_fd, int error, const char* step, const char* path,
                             int exit_status = 125) {
  send_report(sync_fd, false, error, step, path, exit_status);
  _exit(exit_status);
}

bool exists(const char* path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

int set_mount_attr(const char* target, unsigned long attrs, bool recursive) {
  struct mount_attr attr = {};
  attr.attr_set = attrs;
  unsigned flags = recursive ? AT_RECURSIVE : 0;
  return static_cast<int>(syscall(SYS_mount_setattr, AT_FDCWD, target, flags, &attr, sizeof attr));
}

// Writes all `size` bytes (retrying short writes and EINTR); returns 0 or an errno value.
int write_fully(int fd, const char* data, size_t size) {
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// Copies a secret into the sandbox's in-memory tmpfs through a stack buffer, which production
// mode wipes afterwards so no copy of the secret lingers in this process's memory.
int copy_secret(const ChildStep& s, const ChildPlan& plan) {
  int in = open(s.source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) return errno;
  int out = open(s.target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
  if (out < 0) {
    int err = errno;
    close(in);
    return err;
  }
  char buf[4096];
  int err = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    err = write_fully(out, buf, static_cast<size_t>(n));
    if (err) break;
  }
  if (plan.zero_secret_buffers) explicit_bzero(buf, sizeof buf);
  if (!err && fchown(out, plan.owner_uid, plan.owner_gid) != 0) err = errno;
  close(in);
  close(out);
  return err;
}

// Runs one step; returns 0 or an errno value.
int run_step(const ChildStep& s, const ChildPlan& plan) {
  using Kind = ChildStep::Kind;
  if (s.optional && s.source && s.kind != Kind::kSymlink && !exists(s.source)) return 0;
  switch (s.kind) {
    case Kind::kMkdir:
      if (mkdir(s.target, s.mode) != 0 && errno != EEXIST) return errno;
      return 0;
    case Kind::kTouch: {
      if (exists(s.target)) return 0;  // O_CREAT fails with EROFS even on an existing file
      int fd = open(s.target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, s.mode);
      if (fd < 0) return errno == EEXIST ? 0 : errno;
      close(fd);
      return 0;
    }
    case Kind::kSymlink:
      if (symlink(s.source, s.target) != 0 && errno != EEXIST) return errno;
      return 0;
    case Kind::kMount:
      if (mount(s.source, s.target, s.fstype, s.flags, s.data) != 0) return errno;
      return 0;
    case Kind::kBind:
      if (mount(s.source, s.target, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
      return 0;
    case Kind::kSetAttr:
    case Kind::kSetAttrTree:
      if (set_mount_attr(s.target, s.flags, s.kind == Kind::kSetAttrTree) != 0) return errno;
      return 0;
    case Kind::kMaskFile:
      if (!exists(s.target)) return 0;
      if (mount(s.source, s.target, nullptr, MS_BIND, nullptr) != 0) return errno;
      return 0;
    case Kind::kCopySecret:
      return copy_secret(s, plan);
    case Kind::kMknod:
      if (mknod(s.target, S_IFCHR | s.mode, static_cast<dev_t>(s.flags)) != 0) return errno;
      return 0;
  }
  return EINVAL;
}

const char* step_name(ChildStep::Kind kind) {
  using Kind = ChildStep::Kind;
  switch (kind) {
    case Kind::kMkdir: return "mkdir";
    case Kind::kTouch: return "create mount point";
    case Kind::kSymlink: return "symlink";
    case Kind::kMount: return "mount";
    case Kind::kBind: return "bind mount";
    case Kind::kSetAttr:
    case Kind::kSetAttrTree: return "set mount flags";
    case Kind::kMaskFile: return "mask";
    case Kind::kCopySecret: return "copy secret";
    case Kind::kMknod: return "create device node";
  }
  return "setup";
}

// pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the new
// root visible. chroot is only a fallback the agent-mode user asked for: a process holding a
// directory fd can escape a chroot.
int enter_new_root(const char* new_root, bool chroot_fallback) {
  if (chdir(new_root) != 0) return errno;
  if (syscall(SYS_pivot_root, ".", ".") == 0) {
    if (umount2(".", MNT_DETACH) != 0) return errno;
  } else {
    int err = errno;
    if (!chroot_fallback) return err;
    if (chroot(".") != 0) return errno;
  }
  if (chdir("/") != 0) return errno;
  return 0;
}

// Production's post-setup audit: the system directories must be read-only, nosuid and nodev.
int audit_mounts(const char** failed) {
  static const char* kAudited[] = {"/bin", "/usr", "/etc"};
  for (const char* path : kAudited) {
    struct statfs st;
    if (statfs(path, &st) != 0) {
      if (errno == ENOENT) continue;
      *failed = path;
      return errno;
    }
    const long need = ST_RDONLY | ST_NOSUID | ST_NODEV;
    if ((st.f_flags & need) != need) {
      *failed = path;
      return EPERM;
    }
  }
  return 0;
}

// execvp is not async-signal-safe; the parent listed the candidate paths for us.
[[noreturn]] void exec_workload(const ChildPlan& plan, int sync_fd) {
  const char* name = plan.argv[0];
  int last_error = ENOENT;
  for (const char* candidate : plan.exec_candidates) {
    execve(candidate, plan.argv.data(), plan.envp.data());
    // Keep the most telling error: "permission denied" beats "not found" from another dir.
    if (errno != ENOENT || last_error == ENOENT) last_error = errno;
  }
  fail_child(sync_fd, last_error, "exec", name, last_error == ENOENT ? 127 : 126);
}

// Production's PID 1: forks the workload, forwards signals to it, reaps every zombie and exits
// with the workload's status. Runs after hardening, so it is as confined as the workload.
[[noreturn]] void run_mini_init(const ChildPlan& plan, int sync_fd) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  int started[2];
  if (pipe2(started, O_CLOEXEC) != 0) fail_child(sync_fd, errno, "init pipe", "");
  // A raw clone (fork semantics) so no atfork handlers or libc locks are involved.
  long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) fail_child(sync_fd, errno, "init fork", "");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    exec_workload(plan, sync_fd);  // reports failure over sync_fd itself
  }
  // EOF on the pipe: the workload exec'd (CLOEXEC) or died trying; then let the parent go.
  close(started[1]);
  char byte;
  while (read(started[0], &byte, 1) < 0 && errno == EINTR) {
  }
  close(started[0]);
  close(sync_fd);
  for (;;) {
    siginfo_t info;
    if (sigwaitinfo(&all, &info) < 0) continue;
    if (info.si_signo != SIGCHLD) {
      kill(static_cast<pid_t>(pid), info.si_signo);
      continue;
    }
    int status = 0;
    pid_t reaped;
    while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
      if (reaped != pid) continue;  // an orphan re-parented to us: reaped, nothing else
      // Everyone else in the namespace dies with PID 1.
      _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
}

// Joins the cgroups and builds the new root: everything that needs neither the parent's
// network nor id maps.
void build_root(const ChildPlan& plan, int sync_fd) {
  // Join the sandbox's cgroups first (cheap when a thread moves itself), so what follows is
  // charged to the sandbox.
  for (const char* file : plan.cgroup_join_files) {
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) fail_child(sync_fd, errno, "join cgroup", file);
    close(fd);
  }
  // Nothing we mount may propagate back to the host.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    fail_child(sync_fd, errno, "make mounts private", "/");

  for (const ChildStep& step : plan.steps) {
    if (int err = run_step(step, plan); err != 0)
      fail_child(sync_fd, err, step_name(step.kind), step.target);
  }
  if (plan.new_root) {
    if (int err = enter_new_root(plan.new_root, plan.allow_chroot_fallback); err != 0)
      fail_child(sync_fd, err, "pivot_root", plan.new_root);
  }
  if (plan.hostname && sethostname(plan.hostname, strlen(plan.hostname)) != 0)
    fail_child(sync_fd, errno, "sethostname", plan.hostname);
}

// Writes the generated /etc files that came with the go message (NUL-terminated contents in
// the order of plan.released_etc_files) into the still-writable root.
void write_released_etc(const ChildPlan& plan, const char* data, size_t size, int sync_fd) {
  size_t offset = 0;
  for (const char* path : plan.released_etc_files) {
    const void* nul = memchr(data + offset, '\0', size - offset);
    if (nul == nullptr) fail_child(sync_fd, EINVAL, "generated /etc", path);
    size_t length = static_cast<size_t>(static_cast<const char*>(nul) - (data + offset));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) fail_child(sync_fd, errno, "generated /etc", path);
    if (int err = write_fully(fd, data + offset, length); err != 0)
      fail_child(sync_fd, err, "generated /etc", path);
    close(fd);
    offset += length + 1;
  }
}

}  // namespace

void child_main(const ChildPlan& plan, int sync_fd) noexcept {
  // If nucleus dies, the sandbox dies. Set before waiting so the window is covered by the sync
  // socket: a parent that died before this line makes recv() below return 0.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Every mode below is explicit (a caller's umask 077 would make /home untraversable for a
  // non-root workload); the workload gets the caller's umask back right before exec.
  const mode_t caller_umask = umask(0);
  // A failure here is reported at once; the parent reads it after its own setup.
  if (!plan.setup_after_release) build_root(plan, sync_fd);
  char message[kReleaseMessageMax];
  ssize_t received = recv(sync_fd, message, sizeof message, 0);
  if (received < 1 || message[0] != kGoByte) _exit(125);
  if (plan.setup_after_release) build_root(plan, sync_fd);
  write_released_etc(plan, message + 1, static_cast<size_t>(received - 1), sync_fd);
  if (plan.seal_root_after_release &&
      set_mount_attr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false) != 0)
    fail_child(sync_fd, errno, "make the root read-only", "/");

  // The parent has placed us in our cgroups (v2) by now; a cgroup namespace made now is rooted
  // there.
  if (plan.new_cgroup_namespace && unshare(CLONE_NEWCGROUP) != 0)
    fail_child(sync_fd, errno, "unshare cgroup namespace", "");

  if (plan.mount_audit) {
    const char* failed = "";
    if (int err = audit_mounts(&failed); err != 0)
      fail_child(sync_fd, err, "mount audit (must be read-only, nosuid, nodev)", failed);
  }

  if (plan.late_user_namespace) {
    if (unshare(CLONE_NEWUSER) != 0) fail_child(sync_fd, errno, "unshare user namespace", "");
    ChildFailure request;
    request.wants_id_map = true;
    char ack = 0;
    if (send(sync_fd, &request, sizeof request, MSG_NOSIGNAL) != sizeof request ||
        recv(sync_fd, &ack, 1, 0) != 1 || ack != kMapByte)
      _exit(125);
    // Host root is not mapped inside; take the mapped root's identity before anything else.
    if (setgroups(0, nullptr) != 0) fail_child(sync_fd, errno, "setgroups", "");
    if (setresgid(0, 0, 0) != 0) fail_child(sync_fd, errno, "setresgid", "0");
    if (setresuid(0, 0, 0) != 0) fail_child(sync_fd, errno, "setresuid", "0");
  }

  // The supervisor blocks the signals it forwards; the workload starts with a clean mask.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // No host fd may reach the workload: everything above 2 closes at exec (sync_fd included,
  // which is how the parent learns that exec succeeded).
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    fail_child(sync_fd, errno, "close_range", "");

  const char* step = "hardening";
  const char* warning = nullptr;
  if (int err = apply_hardening(plan.hardening, &step, &warning); err != 0)
    fail_child(sync_fd, -err, step, "");
  if (warning) send_report(sync_fd, true, 0, warning, "", 0);
  if (plan.workdir && chdir(plan.workdir) != 0) fail_child(sync_fd, errno, "chdir", plan.workdir);
  umask(caller_umask);
  if (plan.mini_init) run_mini_init(plan, sync_fd);
  exec_workload(plan, sync_fd);
}

}  // namespace nucleus
