#include "core/cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "core/base/log.h"
#include "core/commands.h"
#include "core/egress/egress_cli.h"
#include "core/run.h"
#include "core/spec/validate.h"

namespace nucleus::cli {
namespace {

constexpr int kNucleusFailure = 125;

const char* kRunDescription =
    "Run CMD in a new sandbox in the foreground and exit with its status\n"
    "(its exit code, 128+N if killed by signal N, 125 if nucleus itself failed).";

void add_run_flags(CLI::App& run, SandboxSpec& s) {
  run.add_option("--name", s.name, "Sandbox id (letters, digits, _ . -; at most 128)");
  run.add_option("--hostname", s.hostname, "Hostname inside the sandbox");
  run.add_option("-e,--env", s.env, "Set KEY=VALUE (or pass KEY from your environment)")
      ->take_all();
  run.add_option("--workdir", s.workdir, "Working directory (default /workspace or /home/agent)");
  run.add_option("--rootfs", s.rootfs, "Use DIR as the root filesystem (read-only)");
  run.add_option("--workspace", s.workspace, "Host directory mounted at /workspace");
  run.add_option("--workspace-mode", s.workspace_mode,
                 "bind-rw | bind-ro | copy-in-out (default bind-rw)");
  run.add_option("-v,--volume", s.volumes, "Bind SRC:DEST[:ro|rw] (repeatable)")->take_all();
  run.add_option("--tmpfs", s.tmpfs, "Mount a tmpfs at DEST[:SIZE] (repeatable)")->take_all();
  run.add_option("--user", s.user, "Run the command as UID[:GID] inside the sandbox");
  run.add_flag("--time-namespace", s.time_namespace, "Give the sandbox its own time namespace");
  run.add_option("--stop-timeout", s.stop_timeout,
                 "Seconds a workload may ignore SIGINT/SIGTERM before SIGKILL (default 10)");

  // Option groups, not just help headings: CLI11 checks every new option against each option
  // already in the same App, so ~55 options in one App cost ~0.1 ms on every start.
  CLI::Option_group& net = *run.add_option_group("Networking");
  net.add_option("--network", s.network, "none | host | bridge (default none)");
  net.add_flag("--allow-host-network", s.allow_host_network,
               "Confirm --network host (shares the host's network stack)");
  net.add_option("--nat-backend", s.nat_backend,
                 "auto | kernel | userspace (auto: kernel as root, else userspace)");
  net.add_option("-p,--publish", s.publish, "Publish [HOST_IP:]HOST_PORT:CTR_PORT[/tcp|udp]")
      ->take_all();
  net.add_option("--dns", s.dns, "Resolver for the sandbox (repeatable)")->take_all();
  net.add_option("--bridge", s.bridge, "Bridge name (default nucleus0)");
  net.add_option("--subnet", s.subnet, "IPv4 subnet /16-/29 (default 10.0.42.0/24)");
  net.add_option("--ip", s.ip, "Static IPv4 address in the subnet");
  net.add_flag("--ipv6", s.ipv6, "Also give the sandbox an IPv6 address");
  net.add_option("--subnet6", s.subnet6, "IPv6 subnet (default fd00:42::/64)");
  CLI::Option_group& sec = *run.add_option_group("Security and service modes");
  sec.add_option("--service-mode", s.service_mode,
                 "agent | strict-agent | production (mitos-agent = strict-agent)");
  sec.add_flag("--strict-agent", s.strict_agent, "Shorthand for --service-mode strict-agent");
  sec.add_option("--group", s.group, "Run the command with this GID inside");
  sec.add_option("--memory", s.memory, "Memory limit, e.g. 512m (no swap; OOM kills the sandbox)");
  sec.add_option("--cpus", s.cpus, "CPU limit in cores, e.g. 1.5");
  sec.add_option("--cpu-weight", s.cpu_weight, "CPU weight 1-10000");
  sec.add_option("--pids", s.pids, "Maximum number of processes (default 512)");
  sec.add_option("--seccomp-profile", s.seccomp_profile, "OCI seccomp JSON profile to enforce");
  sec.add_option("--seccomp-profile-sha256", s.seccomp_profile_sha256,
                 "Refuse to start unless the profile has this SHA-256");
  sec.add_option("--seccomp-mode", s.seccomp_mode, "enforce | trace (record syscalls)");
  sec.add_option("--seccomp-log", s.seccomp_log, "Where trace mode writes the syscall record");
  sec.add_option("--seccomp-allow", s.seccomp_allow, "Allow an opt-in syscall (repeatable)")
      ->take_all();
  sec.add_option("--caps-policy", s.caps_policy, "TOML list of capabilities to keep");
  sec.add_option("--caps-policy-sha256", s.caps_policy_sha256, "SHA-256 pin of --caps-policy");
  sec.add_option("--landlock-policy", s.landlock_policy, "TOML Landlock path rules");
  sec.add_option("--landlock-policy-sha256", s.landlock_policy_sha256,
                 "SHA-256 pin of --landlock-policy");
  sec.add_option("--secret", s.secrets, "Copy SRC to /run/secrets/DEST (in memory, 0400)")
      ->take_all();
  sec.add_flag("--allow-degraded-security", s.allow_degraded_security,
               "Agent mode: start even if seccomp cannot be installed");
  sec.add_flag("--allow-chroot-fallback", s.allow_chroot_fallback,
               "Agent mode: chroot if pivot_root is impossible (weaker)");
  run.add_option("--events-jsonl", s.events_jsonl,
                 "Append audit events (egress denials, ...) to PATH as JSON lines");
  add_egress_flags(run, s.egress);
}

// Declares a subcommand's flags only when CLI11 meets the subcommand on the command line (its
// preparse callback runs before its arguments are parsed): CLI11 spends ~8k instructions and a
// few allocations on every option, and each start should pay only for the flags it can use.
void declare_when_used(CLI::App* sub, std::function<void(CLI::App&)> declare) {
  sub->preparse_callback([sub, declare = std::move(declare)](std::size_t) {
    declare(*sub);
    // CLI11 turns fallthrough off for option groups when parsing starts; groups declared later
    // need the same, or an unknown flag bounces between a group and its parent forever.
    auto groups = sub->get_subcommands([](CLI::App* app) { return app->get_name().empty(); });
    for (CLI::App* group : groups) group->fallthrough(false);
  });
}

// CLI11 treats everything after "--" as positionals; we require the "--" so that a typo in a
// flag can never be mistaken for the command.
struct SplitArgs {
  std::vector<std::string> flags;
  std::vector<std::string> command;
  bool saw_separator = false;
};

SplitArgs split_at_separator(int argc, char** argv) {
  SplitArgs out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!out.saw_separator && arg == "--") {
      out.saw_separator = true;
      continue;
    }
    (out.saw_separator ? out.command : out.flags).push_back(arg);
  }
  return out;
}

int usage_error(const std::string& message) {
  log::write(log::Level::kError, "", message);
  return kNucleusFailure;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nucleus: a minimal, security-first sandbox runtime for Linux", "nucleus"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nucleus ") + NUCLEUS_VERSION);

  GlobalOptions global;
  app.add_option("--root", global.state_root, "State directory (default /run/nucleus as root)");
  app.add_option("--log-format", global.log_format, "text | json (default text)");
  app.add_option("--log-level", global.log_level, "debug | info | warn | error (default warn)");

  SandboxSpec spec;
  auto* run = app.add_subcommand("run", kRunDescription);
  run->alias("create");
  run->fallthrough();
  run->footer("Usage: nucleus run [FLAGS] -- CMD [ARGS...]");
  declare_when_used(run, [&spec](CLI::App& sub) { add_run_flags(sub, spec); });

  std::string id;
  bool all = false;
  std::string format = "text";
  auto* state = app.add_subcommand("state", "Show sandboxes (all with -a) as text or JSON");
  state->fallthrough();
  declare_when_used(state, [&](CLI::App& sub) {
    sub.add_option("id", id, "Sandbox id");
    sub.add_flag("-a,--all", all, "All sandboxes");
    sub.add_option("--format", format, "text | json (default text)");
  });

  std::string signal_name = "KILL";
  auto* kill = app.add_subcommand("kill", "Send a signal (default KILL) to a sandbox's workload");
  kill->fallthrough();
  declare_when_used(kill, [&](CLI::App& sub) {
    sub.add_option("id", id, "Sandbox id")->required();
    sub.add_option("signal", signal_name, "Signal name or number (default KILL)");
  });

  int stop_timeout = 10;
  auto* stop = app.add_subcommand("stop", "Send TERM, then KILL after -t seconds");
  stop->fallthrough();
  declare_when_used(stop, [&](CLI::App& sub) {
    sub.add_option("id", id, "Sandbox id")->required();
    sub.add_option("-t,--time", stop_timeout, "Seconds to wait before KILL (default 10)");
  });

  bool force = false;
  auto* del = app.add_subcommand("delete", "Remove a stopped sandbox and everything it left");
  del->fallthrough();
  declare_when_used(del, [&](CLI::App& sub) {
    sub.add_option("id", id, "Sandbox id")->required();
    sub.add_flag("-f,--force", force, "Kill it first if it is still running");
  });

  auto* gc = app.add_subcommand("gc", "Clean up after sandboxes whose supervisor died");
  gc->fallthrough();

  std::string trace_file, profile_out;
  auto* seccomp = app.add_subcommand("seccomp", "Seccomp profile tools");
  seccomp->require_subcommand(1);
  auto* generate = seccomp->add_subcommand(
      "generate", "Turn a --seccomp-mode trace record into a minimal profile");
  declare_when_used(generate, [&](CLI::App& sub) {
    sub.add_option("trace", trace_file, "Trace file written by --seccomp-log")->required();
    sub.add_option("-o,--output", profile_out, "Profile to write (OCI seccomp JSON)")->required();
  });

  SplitArgs split = split_at_separator(argc, argv);
  std::vector<std::string> reversed(split.flags.rbegin(), split.flags.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    return usage_error(std::string(e.what()) + " (put the command after --)");
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  log::Format log_format = log::Format::kText;
  if (global.log_format == "json")
    log_format = log::Format::kJson;
  else if (global.log_format != "text")
    return usage_error("--log-format: must be text or json");
  log::Level level = log::Level::kWarn;
  if (global.log_level == "debug")
    level = log::Level::kDebug;
  else if (global.log_level == "warn")
    level = log::Level::kWarn;
  else if (global.log_level == "error")
    level = log::Level::kError;
  else if (global.log_level == "info")
    level = log::Level::kInfo;
  else
    return usage_error("--log-level: must be debug, info, warn or error");
  log::configure(log_format, level);

  if (!run->parsed() && split.saw_separator)
    return usage_error("'--' and a command only go with nucleus run");
  if (!global.state_root.empty()) spec.state_root = global.state_root;

  if (run->parsed()) {
    if (!split.saw_separator)
      return usage_error("--: missing; use nucleus run [FLAGS] -- CMD [ARGS...]");
    spec.command = split.command;
    Validated v = validate(spec, geteuid());
    if (!v.spec) {
      // One line per problem; the first names the flag. Nothing has been created yet.
      for (const auto& e : v.errors) log::write(log::Level::kError, "", e.message());
      return kNucleusFailure;
    }
    return run_sandbox(*v.spec);
  }

  if (global.state_root.empty()) global.state_root = default_state_root(geteuid());
  if (state->parsed()) return command_state(global, id, all, format);
  if (kill->parsed()) return command_kill(global, id, signal_name);
  if (stop->parsed()) return command_stop(global, id, stop_timeout);
  if (del->parsed()) return command_delete(global, id, force);
  if (gc->parsed()) return command_gc(global);
  if (generate->parsed()) return command_seccomp_generate(trace_file, profile_out);
  return kNucleusFailure;
}

}  // namespace nucleus::cli
