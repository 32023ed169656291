#include "core/security/seccomp_tables.h"

#include <algorithm>
#include <array>

namespace nucleus::security {
namespace {

// Names are libseccomp's; ones unknown on the running architecture are skipped by the builder.
constexpr std::string_view kAllow[] = {
    // Read-only NUMA query; procps (ps, top) calls it at start.
    "get_mempolicy",
    // file I/O
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "close", "close_range", "creat", "lseek", "dup",
    "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync", "ftruncate", "truncate", "fallocate",
    "fadvise64", "sendfile", "splice", "copy_file_range",
    // metadata and directories
    "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
    "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir", "fchdir",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link",
    "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown",
    "fchownat", "umask", "utimes", "utimensat", "mknod", "mknodat", "getxattr", "lgetxattr",
    "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "sync", "syncfs",
    // memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock",
    "mlock2", "munlock", "membarrier", "memfd_create", "map_shadow_stack",
    // processes and threads (clone is argument-filtered, see seccomp.cc)
    "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "clone", "fork", "vfork",
    "kill", "tgkill", "tkill", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp",
    "getsid", "setsid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getgroups", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "setfsuid", "setfsgid", "capget", "capset", "prctl", "arch_prctl",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "futex", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
    "sched_getscheduler", "sched_setscheduler", "sched_getattr", "sched_setattr",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "getpriority",
    "setpriority", "getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "uname",
    "sysinfo", "getrandom", "getcpu", "pidfd_open", "pidfd_send_signal", "restart_syscall",
    "personality",  // argument-filtered: only PER_LINUX and the query value
    // signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
    "rt_sigtimedwait", "rt_sigqueueinfo", "sigaltstack", "pause", "alarm", "signalfd4",
    // time (reading only)
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
    "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    // waiting on fds
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "pipe", "pipe2",
    // sockets (socket/socketpair are argument-filtered by address family)
    "socket", "socketpair", "connect", "accept", "accept4", "bind", "listen", "sendto",
    "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname",
    "getpeername", "getsockopt", "setsockopt",
    // SysV shared memory and semaphores (PostgreSQL and friends); private to the IPC namespace
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
    // ioctl is argument-filtered (TIOCSTI/TIOCLINUX fail with EPERM)
    "ioctl",
    // self-restriction only ever narrows what the workload can do
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    "mseal",
};

constexpr std::string_view kDenied[] = {
    // namespaces and mounts: the sandbox's own walls
    "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen",
    "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    // identity of the host the sandbox lives in (a clean EPERM beats a kill for `hostname x`)
    "sethostname", "setdomainname",
    // other processes' memory and fds
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    // kernel attack surface with a record of privilege escalations
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie", "uselib", "memfd_secret",
    // host-wide controls
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "syslog", "quotactl", "quotactl_fd", "vhangup", "iopl", "ioperm", "sysfs", "_sysctl",
    "nfsservctl", "fanotify_init",
};

constexpr std::string_view kOptIn[] = {
    "mbind", "set_mempolicy", "move_pages", "migrate_pages",
    "set_mempolicy_home_node", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink",
    "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr", "vmsplice", "tee",
    "sync_file_range", "readahead", "mlockall", "munlockall", "ioprio_get", "ioprio_set",
    "rt_tgsigqueueinfo", "futex_waitv", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "process_madvise", "cachestat", "utime", "futimesat", "signalfd",
    // all personality values (default: only PER_LINUX and the query value)
    "personality",
};

constexpr std::string_view kArgumentFiltered[] = {"clone", "clone3", "socket", "socketpair",
                                                  "ioctl", "personality"};

bool contains(std::span<const std::string_view> list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

}  // namespace

std::span<const std::string_view> seccomp_default_allowlist() { return kAllow; }
std::span<const std::string_view> seccomp_denied_syscalls() { return kDenied; }
std::span<const std::string_view> seccomp_opt_in_syscalls() { return kOptIn; }
std::span<const std::string_view> seccomp_argument_filtered() { return kArgumentFiltered; }
bool seccomp_is_denied(std::string_view name) { return contains(kDenied, name); }
bool seccomp_is_opt_in(std::string_view name) { return contains(kOptIn, name); }

}  // namespace nucleus::security
