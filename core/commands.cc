#include "core/commands.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <thread>

#include "core/base/fs.h"
#include "core/base/log.h"
#include "core/security/seccomp_profile.h"
#include "core/spec/validate.h"
#include "core/state/gc.h"
#include "core/state/state_dir.h"

namespace nucleus {
namespace {

constexpr int kFailure = 125;

int error(const std::string& message) {
  log::write(log::Level::kError, "", message);
  return kFailure;
}

// Signal by name ("TERM", "SIGTERM", "kill") or number.
int parse_signal(std::string name) {
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
    int n = std::atoi(name.c_str());
    return n > 0 && n < NSIG ? n : -1;
  }
  for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (name.starts_with("SIG")) name = name.substr(3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev && name == abbrev) return sig;
  }
  return -1;
}

Result<SandboxState> load_state(const GlobalOptions& g, const std::string& id) {
  if (auto problem = check_id(id); !problem.empty()) return fail("id", problem);
  ASSIGN_OR_RETURN(StateDir dir, StateDir::open(g.state_root, id));
  return dir.load();
}

// "running" only while the recorded supervisor and workload are alive; a dead supervisor means
// the run crashed and `nucleus gc` should clean up.
std::string live_status(const SandboxState& s) {
  if (!is_alive(s.supervisor)) return "dead";
  if (s.status == "running" && !is_alive(s.workload)) return "stopped";
  return s.status;
}

bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
  struct pollfd p = {pidfd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

}  // namespace

int command_state(const GlobalOptions& g, const std::string& id, bool all,
                  const std::string& format) {
  if (format != "text" && format != "json") return error("--format: must be text or json");
  std::vector<std::string> ids;
  if (!id.empty()) ids.push_back(id);
  else ids = StateDir::list(g.state_root);
  (void)all;  // every sandbox is listed when no id is given; -a is accepted for compatibility
  nlohmann::json out = nlohmann::json::array();
  for (const auto& each : ids) {
    auto s = load_state(g, each);
    if (!s) {
      if (!id.empty()) return error("state " + id + ": " + s.error().message());
      continue;
    }
    nlohmann::json j = s->to_json();
    j["status"] = live_status(*s);
    out.push_back(j);
  }
  if (format == "json") {
    std::cout << (id.empty() ? out.dump(2) : out.at(0).dump(2)) << "\n";
    return 0;
  }
  std::printf("%-20s %-8s %-8s %-7s %s\n", "ID", "PID", "STATUS", "NET", "COMMAND");
  for (const auto& j : out) {
    std::string cmd;
    for (const auto& a : j["command"]) cmd += (cmd.empty() ? "" : " ") + a.get<std::string>();
    std::printf("%-20s %-8d %-8s %-7s %s\n", j["id"].get<std::string>().c_str(),
                j["pid"].get<int>(), j["status"].get<std::string>().c_str(),
                j["network"].get<std::string>().c_str(), cmd.c_str());
  }
  return 0;
}

int command_kill(const GlobalOptions& g, const std::string& id, const std::string& signal_name) {
  int sig = parse_signal(signal_name);
  if (sig < 0) return error("kill: '" + signal_name + "' is not a signal");
  auto s = load_state(g, id);
  if (!s) return error("kill " + id + ": " + s.error().message());
  auto pidfd = open_pidfd(s->workload);
  if (!pidfd) return error("kill " + id + ": not running");
  if (syscall(SYS_pidfd_send_signal, pidfd->get(), sig, nullptr, 0) != 0)
    return error("kill " + id + ": " + std::strerror(errno));
  return 0;
}

int command_stop(const GlobalOptions& g, const std::string& id, int timeout_seconds) {
  if (timeout_seconds < 0) return error("stop: -t must not be negative");
  auto s = load_state(g, id);
  if (!s) return error("stop " + id + ": " + s.error().message());
  auto pidfd = open_pidfd(s->workload);
  if (!pidfd) return 0;  // already stopped
  syscall(SYS_pidfd_send_signal, pidfd->get(), SIGTERM, nullptr, 0);
  if (!wait_exit(pidfd->get(), std::chrono::seconds(timeout_seconds))) {
    syscall(SYS_pidfd_send_signal, pidfd->get(), SIGKILL, nullptr, 0);
    wait_exit(pidfd->get(), std::chrono::seconds(5));
  }
  // The supervisor sees the exit and tears the sandbox down; wait for it to finish.
  auto sup = open_pidfd(s->supervisor);
  if (sup) wait_exit(sup->get(), std::chrono::seconds(10));
  return 0;
}

int command_delete(const GlobalOptions& g, const std::string& id, bool force) {
  auto s = load_state(g, id);
  if (!s) return error("delete " + id + ": " + s.error().message());
  if (is_alive(s->supervisor)) {
    if (!force) return error("delete " + id + ": still running (stop it, or use -f)");
    auto sup = open_pidfd(s->supervisor);
    if (auto w = open_pidfd(s->workload)) syscall(SYS_pidfd_send_signal, w->get(), SIGKILL, nullptr, 0);
    // The supervisor tears down itself; if it does not within a few seconds, kill it too and
    // clean up from its journal.
    if (sup && !wait_exit(sup->get(), std::chrono::seconds(10)))
      syscall(SYS_pidfd_send_signal, sup->get(), SIGKILL, nullptr, 0);
    if (sup) wait_exit(sup->get(), std::chrono::seconds(5));
  }
  auto r = collect_sandbox(g.state_root, id);
  if (!r) return error("delete " + id + ": " + r.error().message());
  return 0;
}

int command_gc(const GlobalOptions& g) {
  int failures = 0;
  for (const auto& id : StateDir::list(g.state_root)) {
    auto s = load_state(g, id);
    // A state dir without a readable state.json was interrupted while being created.
    if (s && is_alive(s->supervisor)) continue;
    if (!s) {
      auto dir = StateDir::open(g.state_root, id);
      // Skip dirs younger than a few seconds: a run may be writing its first state.json now.
      if (dir && recently_created(dir->path())) continue;
    }
    if (auto r = collect_sandbox(g.state_root, id); !r) {
      log::write(log::Level::kWarn, "gc", id + ": " + r.error().message());
      ++failures;
    } else {
      log::write(log::Level::kInfo, "gc", "cleaned up " + id);
    }
  }
  return failures ? kFailure : 0;
}

}  // namespace nucleus

namespace nucleus {

int command_seccomp_generate(const std::string& trace_file, const std::string& output) {
  auto text = fs::read_file(trace_file);
  if (!text) return error("seccomp generate: " + text.error().message());
  auto names = security::parse_trace_log(*text);
  if (!names) return error("seccomp generate: " + trace_file + ": " + names.error().message());
  auto written = fs::write_atomic(output, security::generate_seccomp_profile(*names), 0644);
  if (!written) return error("seccomp generate: " + written.error().message());
  return 0;
}

}  // namespace nucleus
