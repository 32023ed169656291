// nucleus-probe: runs inside a sandbox and prints one JSON object describing what it sees and
// what it was (not) allowed to do.
//
// Tests read the JSON instead of scraping shell output. Always present: pid, ppid, hostname,
// uid/gid, the open fds, the security lines of /proc/self/status, uid_map/gid_map, landlock_abi,
// the visible mounts, the cgroup limits and how many processes /proc shows.
//
// `attempts` (only when asked for) holds one entry per forbidden (or expected-to-work) action.
// Each runs in its own forked child, because the interesting outcome is often that the kernel
// kills the caller (seccomp's default action is SIGSYS for the whole process): the probe itself
// must survive to report it. An entry is
//   {"ok": true|false, "errno": N, "error": "strerror"}     the child ran the call and reported
//   {"ok": false, "killed": true, "signal": 31, "signal_name": "SIGSYS"}   the child was killed
//   {"ok": false, "exit": N}                                 the child exited without reporting
//   {"ok": false, "fork_errno": N, "error": "..."}           no child (e.g. the pids limit)
//   {"skipped": true, "reason": "..."}                       not applicable here
//
// Usage: nucleus-probe [--attempt all|NAME[,NAME...]] [--read PATH]... [--write PATH]...
//                      [--exec PATH]... [--ptrace-pid PID]
// `--attempt list` prints the known names. --read/--write/--exec may be repeated; their entries
// are keyed "read:PATH", "write:PATH", "exec:PATH".
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/landlock.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_keyctl
#define __NR_keyctl 250
#endif

namespace {

using nlohmann::json;

// ---------------------------------------------------------------- what the process sees

json open_fds() {
  json fds = json::array();
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return fds;
  int own = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::stoi(e->d_name);
    if (fd == own) continue;
    char target[512] = {};
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    fds.push_back({{"fd", fd}, {"target", n > 0 ? std::string(target, n) : ""}});
  }
  closedir(dir);
  return fds;
}

json status_fields() {
  json out;
  std::ifstream in("/proc/self/status");
  std::string line;
  for (const char* key : {"NoNewPrivs", "Seccomp", "Seccomp_filters", "CapEff", "CapPrm", "CapBnd",
                          "CapInh", "CapAmb", "Uid", "Gid", "Groups"})
    out[key] = nullptr;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    if (out.contains(key)) {
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      out[key] = value;
    }
  }
  return out;
}

// /proc/self/uid_map as [[inside, outside, count], ...]; null when unreadable.
json id_map(const char* path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  json rows = json::array();
  unsigned long long inside = 0, outside = 0, count = 0;
  while (in >> inside >> outside >> count) rows.push_back({inside, outside, count});
  return rows;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::string s((std::istreambuf_iterator<char>(in)), {});
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The mount table as the workload sees it: target, type, and both option sets (per-mount
// flags like ro/nosuid and superblock options like hidepid=2 or mode=400).
json mounts() {
  json out = json::array();
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, target, options, word;
    fields >> id >> parent >> devno >> root >> target >> options;
    while (fields >> word && word != "-") {
    }
    std::string fstype, source, super;
    fields >> fstype >> source >> super;
    out.push_back({{"target", target}, {"fstype", fstype}, {"options", options},
                   {"super", super}});
  }
  return out;
}

// The limits of the cgroup the probe runs in, read through its own cgroup namespace root.
json cgroup_limits() {
  json out;
  out["path"] = read_text("/proc/self/cgroup");
  // v2 files at the namespace root, or the v1 hierarchies when those are mounted instead.
  for (const char* file : {"pids.max", "memory.max", "cpu.max", "cpu.weight", "memory.swap.max",
                           "pids/pids.max", "memory/memory.limit_in_bytes"}) {
    std::string value = read_text(std::string("/sys/fs/cgroup/") + file);
    out[file] = value.empty() ? json(nullptr) : json(value);
  }
  return out;
}

int visible_pids() {
  int n = 0;
  DIR* dir = opendir("/proc");
  if (!dir) return -1;
  while (dirent* e = readdir(dir))
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') ++n;
  closedir(dir);
  return n;
}

// ---------------------------------------------------------------- attempts in a child

// What an attempt child sends back over the pipe.
struct Outcome {
  int ok = 0;
  int err = 0;
  long value = 0;  // e.g. the pid int 0x80 returned, bytes read
};

Outcome result_of(long rc) {
  Outcome o;
  o.ok = rc >= 0;
  o.err = rc >= 0 ? 0 : errno;
  o.value = rc;
  return o;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSYS: return "SIGSYS";
    case SIGKILL: return "SIGKILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGALRM: return "SIGALRM";
    case SIGTRAP: return "SIGTRAP";
    default: return "other";
  }
}

// Runs `attempt` in a forked child and describes how it went.
json in_child(const std::function<Outcome()>& attempt) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {{"ok", false}, {"pipe_errno", errno}};
  std::cout.flush();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return {{"ok", false}, {"fork_errno", err}, {"error", strerror(err)}};
  }
  if (pid == 0) {
    close(fds[0]);
    alarm(10);  // a hung attempt must not hang the probe
    Outcome o = attempt();
    ssize_t n = write(fds[1], &o, sizeof o);
    _exit(n == static_cast<ssize_t>(sizeof o) ? 0 : 99);
  }
  close(fds[1]);
  Outcome o;
  ssize_t got = 0;
  for (;;) {
    ssize_t n = read(fds[0], reinterpret_cast<char*>(&o) + got, sizeof o - got);
    if (n > 0 && (got += n) < static_cast<ssize_t>(sizeof o)) continue;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return {{"ok", false}, {"killed", true}, {"signal", sig}, {"signal_name", signal_name(sig)}};
  }
  if (got != static_cast<ssize_t>(sizeof o) || WEXITSTATUS(status) != 0)
    return {{"ok", false}, {"exit", WEXITSTATUS(status)}};
  json out = {{"ok", o.ok != 0}, {"errno", o.err}, {"error", o.err ? strerror(o.err) : ""},
              {"value", o.value}};
  return out;
}

// A fork-like raw clone/clone3 that succeeded must not run the rest of the attempt twice.
Outcome child_exits_if_zero(long rc) {
  if (rc == 0) _exit(0);
  if (rc > 0) waitpid(static_cast<pid_t>(rc), nullptr, 0);
  return result_of(rc);
}

Outcome try_socket(int family, int type) {
  long fd = socket(family, type | SOCK_CLOEXEC, 0);
  return result_of(fd);
}

Outcome try_mount_tmpfs() {
  long rc = mount("none", "/tmp", "tmpfs", 0, nullptr);
  if (rc == 0) umount2("/tmp", MNT_DETACH);  // never leave the sandbox changed
  return result_of(rc);
}

Outcome try_ptrace_attach(pid_t target) {
  // SEIZE does not stop the target; the tracee is released when this child exits.
  return result_of(ptrace(PTRACE_SEIZE, target, nullptr, nullptr));
}

Outcome try_bpf() {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  return result_of(syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
}

Outcome try_perf_event_open() {
  perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.exclude_kernel = 1;
  return result_of(syscall(__NR_perf_event_open, &attr, 0, -1, -1, 0));
}

Outcome try_io_uring() {
  char params[120] = {};  // struct io_uring_params, zeroed
  return result_of(syscall(__NR_io_uring_setup, 1, params));
}

Outcome try_clone3() {
  clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  return child_exits_if_zero(syscall(__NR_clone3, &args, sizeof args));
}

Outcome try_clone_newuser() {
  // Raw clone without a new stack behaves like fork; the flag is what seccomp must refuse.
  return child_exits_if_zero(syscall(__NR_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
}

Outcome try_int80_getpid() {
#if defined(__x86_64__)
  long ret = 20;  // __NR_getpid in the i386 table
  asm volatile("int $0x80" : "+a"(ret) : : "memory", "r8", "r9", "r10", "r11");
  Outcome o;
  o.ok = ret >= 0;
  o.err = ret < 0 ? static_cast<int>(-ret) : 0;
  o.value = ret;
  return o;
#else
  return Outcome{0, ENOSYS, -1};
#endif
}

Outcome try_x32_getpid() {
#if defined(__x86_64__)
  return result_of(syscall(0x40000000L | __NR_getpid));  // __X32_SYSCALL_BIT
#else
  return Outcome{0, ENOSYS, -1};
#endif
}

Outcome try_read(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return result_of(-1);
  struct stat st{};
  fstat(fd, &st);
  if (S_ISDIR(st.st_mode)) return Outcome{1, 0, 0};
  char byte = 0;
  long n = read(fd, &byte, 1);
  Outcome o = result_of(n);
  close(fd);
  return o;
}

// Opens for writing (creating if needed) and writes nothing: the open is the decision point for
// every mechanism under test (read-only mounts, Landlock, DAC, /proc/PID/exe protections).
Outcome try_write(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return result_of(-1);
  close(fd);
  return Outcome{1, 0, 0};
}

Outcome try_write_dir(const std::string& dir) {
  std::string path = dir + "/.nucleus-probe-XXXXXX";
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  int fd = mkstemp(buf.data());
  if (fd < 0) return result_of(-1);
  long n = write(fd, "probe\n", 6);
  Outcome o = result_of(n);
  close(fd);
  unlink(buf.data());
  return o;
}

// Execs `path` with stdio on /dev/null; the outcome is whether execve itself succeeded
// (reported through a CLOEXEC pipe), value = the program's exit status.
Outcome try_exec(const std::string& path) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result_of(-1);
  pid_t pid = fork();
  if (pid < 0) return result_of(-1);
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) dup2(null, fd);
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    execv(path.c_str(), argv);
    int err = errno;
    (void)!write(fds[1], &err, sizeof err);
    _exit(127);
  }
  close(fds[1]);
  int err = 0;
  long n = read(fds[0], &err, sizeof err);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n == static_cast<long>(sizeof err)) return Outcome{0, err, -1};
  return Outcome{1, 0, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)};
}

struct Options {
  std::vector<std::string> attempts;
  std::vector<std::string> reads, writes, execs;
  pid_t ptrace_pid = 0;  // 0: the probe itself (the attempt child's parent)
};

using Attempts = std::vector<std::pair<std::string, std::function<Outcome()>>>;

Attempts named_attempts(const Options& opt) {
  pid_t self = getpid();
  pid_t target = opt.ptrace_pid ? opt.ptrace_pid : self;
  return {
      {"unshare_user", [] { return result_of(unshare(CLONE_NEWUSER)); }},
      {"unshare_net", [] { return result_of(unshare(CLONE_NEWNET)); }},
      {"unshare_mount", [] { return result_of(unshare(CLONE_NEWNS)); }},
      {"clone_newuser", try_clone_newuser},
      {"clone3", try_clone3},
      {"mount_tmpfs", try_mount_tmpfs},
      {"chroot", [] { return result_of(chroot("/tmp")); }},
      {"ptrace_traceme", [] { return result_of(ptrace(PTRACE_TRACEME, 0, nullptr, nullptr)); }},
      {"ptrace_attach", [target] { return try_ptrace_attach(target); }},
      {"socket_unix", [] { return try_socket(AF_UNIX, SOCK_STREAM); }},
      {"socket_inet", [] { return try_socket(AF_INET, SOCK_STREAM); }},
      {"socket_inet6", [] { return try_socket(AF_INET6, SOCK_STREAM); }},
      {"socket_netlink", [] { return try_socket(AF_NETLINK, SOCK_RAW); }},
      {"socket_packet", [] { return try_socket(AF_PACKET, SOCK_RAW); }},
      {"socket_vsock", [] { return try_socket(40 /* AF_VSOCK */, SOCK_STREAM); }},
      {"io_uring_setup", try_io_uring},
      {"bpf", try_bpf},
      {"keyctl", [] { return result_of(syscall(__NR_keyctl, 0 /* GET_KEYRING_ID */,
                                                -3 /* SESSION */, 0)); }},
      {"perf_event_open", try_perf_event_open},
      {"userfaultfd", [] { return result_of(syscall(__NR_userfaultfd, O_CLOEXEC)); }},
      {"init_module", [] { return result_of(syscall(__NR_finit_module, -1, "", 0)); }},
      {"int80_getpid", try_int80_getpid},
      {"x32_getpid", try_x32_getpid},
      {"setuid0", [] { return result_of(syscall(__NR_setuid, 0)); }},
      {"setuid_nobody", [] { return result_of(syscall(__NR_setuid, 65534)); }},
      {"setgroups", [] { return result_of(syscall(__NR_setgroups, 0, nullptr)); }},
      {"write_tmp", [] { return try_write_dir("/tmp"); }},
      {"write_workspace", [] { return try_write_dir("/workspace"); }},
  };
}

Options parse_args(int argc, char** argv) {
  Options opt;
  auto split = [](const std::string& list) {
    std::vector<std::string> out;
    std::stringstream in(list);
    for (std::string item; std::getline(in, item, ',');)
      if (!item.empty()) out.push_back(item);
    return out;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "nucleus-probe: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--attempt") {
      for (auto& a : split(value())) opt.attempts.push_back(a);
    } else if (arg == "--read") {
      opt.reads.push_back(value());
    } else if (arg == "--write") {
      opt.writes.push_back(value());
    } else if (arg == "--exec") {
      opt.execs.push_back(value());
    } else if (arg == "--ptrace-pid") {
      opt.ptrace_pid = static_cast<pid_t>(std::stol(value()));
    } else {
      std::cerr << "nucleus-probe: unknown argument " << arg << "\n";
      std::exit(2);
    }
  }
  return opt;
}

json run_attempts(const Options& opt) {
  json out = json::object();
  Attempts all = named_attempts(opt);
  bool every = false;
  for (const auto& a : opt.attempts) every = every || a == "all";
  for (const auto& wanted : opt.attempts) {
    if (wanted == "all") continue;
    bool known = false;
    for (const auto& [name, fn] : all) known = known || name == wanted;
    if (!known) out[wanted] = {{"skipped", true}, {"reason", "unknown attempt"}};
  }
  for (const auto& [name, fn] : all) {
    bool selected = every;
    for (const auto& a : opt.attempts) selected = selected || a == name;
    if (!selected) continue;
    if (name == "write_workspace" && access("/workspace", F_OK) != 0) {
      out[name] = {{"skipped", true}, {"reason", "no /workspace"}};
      continue;
    }
    out[name] = in_child(fn);
  }
  for (const auto& p : opt.reads) out["read:" + p] = in_child([&p] { return try_read(p); });
  for (const auto& p : opt.writes) out["write:" + p] = in_child([&p] { return try_write(p); });
  for (const auto& p : opt.execs) out["exec:" + p] = in_child([&p] { return try_exec(p); });
  return out;
}

// The running kernel's Landlock ABI (0 when unavailable). Asked in a child: an allowlist that
// lacks landlock_create_ruleset would kill the caller.
json landlock_abi() {
  json r = in_child([] {
    return result_of(syscall(__NR_landlock_create_ruleset, nullptr, 0,
                             LANDLOCK_CREATE_RULESET_VERSION));
  });
  if (r.value("killed", false)) return r;
  if (r.value("ok", false)) return r["value"];
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);
  if (opt.attempts.size() == 1 && opt.attempts[0] == "list") {
    for (const auto& [name, fn] : named_attempts(opt)) std::cout << name << "\n";
    return 0;
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  json j;
  j["pid"] = getpid();
  j["ppid"] = getppid();
  j["hostname"] = host;
  j["uid"] = getuid();
  j["gid"] = getgid();
  j["fds"] = open_fds();
  j["status"] = status_fields();
  j["uid_map"] = id_map("/proc/self/uid_map");
  j["gid_map"] = id_map("/proc/self/gid_map");
  j["setgroups"] = read_text("/proc/self/setgroups");
  j["landlock_abi"] = landlock_abi();
  j["mounts"] = mounts();
  j["cgroup"] = cgroup_limits();
  j["visible_pids"] = visible_pids();
  if (!opt.attempts.empty() || !opt.reads.empty() || !opt.writes.empty() || !opt.execs.empty())
    j["attempts"] = run_attempts(opt);
  std::cout << j.dump() << std::endl;
  return 0;
}
