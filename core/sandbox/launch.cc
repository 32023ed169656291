#include "core/sandbox/launch.h"

#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <string>

#include "core/base/fs.h"
#include "core/base/log.h"

namespace nucleus {

Result<LaunchedChild> launch(const ChildPlan& plan, uint64_t namespace_flags) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return errno_error("socketpair");
  UniqueFd parent_end(pair[0]);
  UniqueFd child_end(pair[1]);

  int pidfd = -1;
  struct clone_args args = {};
  args.flags = namespace_flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  // clone3 without a stack behaves like fork: the child continues here on a copy of our stack.
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return errno_error("clone3", "creating the sandbox namespaces");
  if (pid == 0) {
    (void)parent_end.release();  // never close fds we do not own in the child; exec closes them
    child_main(plan, child_end.get());
  }
  LaunchedChild child;
  child.pid = static_cast<pid_t>(pid);
  child.pidfd = UniqueFd(pidfd);
  child.sync = std::move(parent_end);
  return child;
}

IdMap rootless_id_map() { return IdMap{getuid(), getgid(), 1, true}; }

namespace {
// The first "root:START:COUNT" line of /etc/subuid or /etc/subgid; nullopt if none.
std::optional<std::pair<uint32_t, uint32_t>> subordinate_range(const std::string& file) {
  auto text = fs::read_file(file);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("root:")) continue;
    auto colon = line.find(':', 5);
    if (colon == std::string::npos) continue;
    try {
      uint32_t start = static_cast<uint32_t>(std::stoul(line.substr(5, colon - 5)));
      uint32_t count = static_cast<uint32_t>(std::stoul(line.substr(colon + 1)));
      if (start > 0 && count >= 65536) return std::make_pair(start, 65536u);
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}
}  // namespace

IdMap remapped_id_map() {
  auto uids = subordinate_range("/etc/subuid").value_or(std::make_pair(100000u, 65536u));
  auto gids = subordinate_range("/etc/subgid").value_or(std::make_pair(100000u, 65536u));
  return IdMap{uids.first, gids.first, 65536, false};
}

Result<void> write_id_maps(pid_t pid, const IdMap& map) {
  std::string proc = "/proc/" + std::to_string(pid);
  if (map.deny_setgroups) TRY(fs::write_existing(proc + "/setgroups", "deny"));
  std::string count = std::to_string(map.count);
  TRY(fs::write_existing(proc + "/uid_map",
                         "0 " + std::to_string(map.uid_outside) + " " + count + "\n"));
  TRY(fs::write_existing(proc + "/gid_map",
                         "0 " + std::to_string(map.gid_outside) + " " + count + "\n"));
  return {};
}

Result<void> release(LaunchedChild& child, std::string_view message) {
  if (message.empty() || message.front() != kGoByte || message.size() > kReleaseMessageMax)
    return fail("release sandbox", "malformed go message");
  // SOCK_SEQPACKET: one message, delivered whole or not at all.
  if (send(child.sync.get(), message.data(), message.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(message.size()))
    return errno_error("release sandbox", "the child is gone");
  return {};
}

Result<std::optional<ChildFailure>> wait_for_exec(LaunchedChild& child,
                                                  const std::function<Result<void>()>& write_maps) {
  ChildFailure failure;
  for (;;) {
    ssize_t n = recv(child.sync.get(), &failure, sizeof failure, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("wait for sandbox start");
    if (n == 0) return std::optional<ChildFailure>{};  // exec closed the CLOEXEC socket
    if (static_cast<size_t>(n) != sizeof failure) return fail("sandbox start", "short report");
    failure.step[sizeof failure.step - 1] = '\0';
    failure.path[sizeof failure.path - 1] = '\0';
    if (failure.wants_id_map) {
      if (!write_maps) return fail("sandbox start", "unexpected id map request");
      TRY(write_maps());
      if (send(child.sync.get(), &kMapByte, 1, MSG_NOSIGNAL) != 1)
        return errno_error("sandbox start", "the child is gone");
      continue;
    }
    if (failure.warning) {
      log::write(log::Level::kWarn, "sandbox", failure.step);
      continue;
    }
    return std::optional<ChildFailure>{failure};
  }
}

std::optional<ChildFailure> take_reported_failure(LaunchedChild& child) {
  ChildFailure failure;
  ssize_t n = recv(child.sync.get(), &failure, sizeof failure, MSG_DONTWAIT);
  if (n != static_cast<ssize_t>(sizeof failure) || failure.warning || failure.wants_id_map)
    return std::nullopt;
  failure.step[sizeof failure.step - 1] = '\0';
  failure.path[sizeof failure.path - 1] = '\0';
  return failure;
}

std::string describe(const ChildFailure& f) {
  std::string out = f.step;
  if (f.path[0]) out += std::string(" ") + f.path;
  if (f.error) out += std::string(": ") + std::strerror(f.error);
  return out;
}

}  // namespace nucleus
