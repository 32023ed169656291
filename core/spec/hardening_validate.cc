#include "core/spec/hardening_validate.h"

#include <filesystem>

#include "core/security/seccomp_profile.h"

namespace nucleus {
namespace {

namespace stdfs = std::filesystem;

class Errors {
 public:
  void add(std::string flag, std::string problem) {
    list_.push_back({std::move(flag), std::move(problem)});
  }
  std::vector<ValidationError> take() { return std::move(list_); }

 private:
  std::vector<ValidationError> list_;
};

std::optional<std::string_view> pin(const std::string& sha) {
  if (sha.empty()) return std::nullopt;
  return std::string_view(sha);
}

// The error's text for e.add(flag, ...), which names the flag itself: the resource parsers name
// it as their operation already.
std::string problem(const Error& err, std::string_view flag) {
  return err.operation == flag ? err.detail : err.message();
}

void parse_limits(const SandboxSpec& in, ValidSpec& out, Errors& e) {
  if (!in.memory.empty()) {
    if (auto m = cgroup::parse_memory(in.memory)) out.limits.memory_bytes = *m;
    else e.add("--memory", problem(m.error(), "--memory"));
  }
  if (!in.cpus.empty()) {
    if (auto c = cgroup::parse_cpus(in.cpus)) out.limits.cpus = *c;
    else e.add("--cpus", problem(c.error(), "--cpus"));
  }
  if (!in.cpu_weight.empty()) {
    if (auto w = cgroup::parse_cpu_weight(in.cpu_weight)) out.limits.cpu_weight = *w;
    else e.add("--cpu-weight", problem(w.error(), "--cpu-weight"));
  }
  if (!in.pids.empty()) {
    if (auto p = cgroup::parse_pids(in.pids)) out.limits.pids = *p;
    else e.add("--pids", problem(p.error(), "--pids"));
  }
}

void parse_policies(const SandboxSpec& in, ValidSpec& out, Errors& e) {
  auto pinned_without_file = [&](const std::string& sha, const std::string& file,
                                 const char* flag) {
    if (!sha.empty() && file.empty()) e.add(flag, "given without its policy file");
  };
  pinned_without_file(in.seccomp_profile_sha256, in.seccomp_profile, "--seccomp-profile-sha256");
  pinned_without_file(in.caps_policy_sha256, in.caps_policy, "--caps-policy-sha256");
  pinned_without_file(in.landlock_policy_sha256, in.landlock_policy, "--landlock-policy-sha256");

  out.seccomp.network = out.network != NetworkMode::kNone;
  if (in.seccomp_mode == "trace") out.seccomp.mode = security::SeccompMode::kTrace;
  else if (in.seccomp_mode != "enforce") e.add("--seccomp-mode", "must be enforce or trace");
  if (out.seccomp.mode == security::SeccompMode::kTrace) {
    if (in.seccomp_log.empty() || in.seccomp_log.front() != '/')
      e.add("--seccomp-log", "trace mode needs an absolute --seccomp-log FILE");
    out.seccomp_log = in.seccomp_log;
  } else if (!in.seccomp_log.empty()) {
    e.add("--seccomp-log", "only used with --seccomp-mode trace");
  }
  if (auto r = security::validate_seccomp_allow(in.seccomp_allow); !r)
    e.add("--seccomp-allow", r.error().message());
  out.seccomp.extra_allow = in.seccomp_allow;
  if (!in.seccomp_profile.empty()) {
    auto p = security::load_seccomp_profile(in.seccomp_profile, pin(in.seccomp_profile_sha256));
    if (p) out.seccomp.profile = std::move(*p);
    else e.add("--seccomp-profile", p.error().message());
  }
  if (!in.caps_policy.empty()) {
    auto p = security::load_caps_policy(in.caps_policy, pin(in.caps_policy_sha256));
    if (p) out.caps_policy = std::move(*p);
    else e.add("--caps-policy", p.error().message());
  }
  if (!in.landlock_policy.empty()) {
    auto p = security::load_landlock_policy(in.landlock_policy, pin(in.landlock_policy_sha256));
    if (p) out.landlock.policy = std::move(*p);
    else e.add("--landlock-policy", p.error().message());
  }
  // Landlock follows the mounts: the workspace as mounted, volumes with their mode.
  using security::LandlockAccess;
  using security::WorkspaceAccess;
  out.landlock.workspace = !out.workspace ? WorkspaceAccess::kNone
                           : out.workspace_mode == WorkspaceMode::kBindRo ? WorkspaceAccess::kReadOnly
                                                                          : WorkspaceAccess::kReadWrite;
  // Volumes hold tools and build trees as often as data: executable like the workspace and /tmp.
  for (const auto& v : out.volumes)
    out.landlock.volumes.push_back(
        {v.dest, v.read_only ? LandlockAccess::kReadExec : LandlockAccess::kReadWriteExec});
  for (const auto& t : out.tmpfs)
    out.landlock.volumes.push_back({t.dest, LandlockAccess::kReadWriteExec});
}

void parse_secrets(const SandboxSpec& in, ValidSpec& out, Errors& e) {
  for (const auto& s : in.secrets) {
    auto colon = s.find(':');
    std::string src = s.substr(0, colon);
    std::string dest = colon == std::string::npos ? stdfs::path(src).filename().string()
                                                  : s.substr(colon + 1);
    // DEST is a file name under /run/secrets (an absolute /run/secrets/NAME is accepted too).
    if (dest.starts_with("/run/secrets/")) dest = dest.substr(13);
    if (dest.empty() || dest.find('/') != std::string::npos || dest == "." || dest == "..") {
      e.add("--secret", "'" + s + "': DEST must be a file name under /run/secrets");
      continue;
    }
    std::error_code ec;
    if (src.empty() || src.front() != '/' || !stdfs::is_regular_file(src, ec)) {
      e.add("--secret", "'" + s + "': SRC must be an absolute path to a regular file");
      continue;
    }
    for (const auto& other : out.secrets)
      if (other.name == dest) e.add("--secret", "'" + dest + "' is given twice");
    out.secrets.push_back({stdfs::canonical(src, ec).string(), dest});
  }
}

// The mode table. Each rule names the flag a user must change.
void apply_mode_rules(const SandboxSpec& in, ValidSpec& out, uid_t euid, Errors& e) {
  const bool strict = out.mode != ServiceMode::kAgent;
  const bool production = out.mode == ServiceMode::kProduction;
  const std::string mode = mode_name(out.mode);

  if (strict) {
    if (in.allow_degraded_security)
      e.add("--allow-degraded-security", "forbidden in " + mode + " mode");
    if (in.allow_chroot_fallback) e.add("--allow-chroot-fallback", "forbidden in " + mode + " mode");
    if (out.network == NetworkMode::kHost)
      e.add("--network", "host networking is forbidden in " + mode + " mode");
    if (out.network == NetworkMode::kBridge && in.dns.empty())
      e.add("--dns", "must be given explicitly in " + mode + " mode (no default resolvers)");
    if (out.seccomp.mode == security::SeccompMode::kTrace)
      e.add("--seccomp-mode", "trace is forbidden in " + mode + " mode");
    out.cgroup_required = true;
    out.landlock_min_abi = 1;  // full enforcement: Landlock must be there
    // Root outside must not be root inside: remap ids through a user namespace.
    if (euid == 0) out.user_namespace = out.remap_ids = true;
  }
  if (production) {
    if (!out.rootfs) e.add("--rootfs", "production mode requires a pre-built --rootfs");
    if (!out.limits.memory_bytes) e.add("--memory", "production mode requires --memory");
    if (!out.limits.cpus) e.add("--cpus", "production mode requires --cpus");
    auto needs_pin = [&](const std::string& file, const std::string& sha, const char* flag) {
      if (!file.empty() && sha.empty())
        e.add(flag, "production mode requires a SHA-256 pin for " + file);
    };
    needs_pin(in.seccomp_profile, in.seccomp_profile_sha256, "--seccomp-profile-sha256");
    needs_pin(in.caps_policy, in.caps_policy_sha256, "--caps-policy-sha256");
    needs_pin(in.landlock_policy, in.landlock_policy_sha256, "--landlock-policy-sha256");
    out.landlock_min_abi = 3;
    out.mini_init = true;
    out.hide_pids = true;
    out.mount_audit = true;
    out.zero_secret_buffers = true;
  }
  if (!strict) {
    out.allow_degraded_security = in.allow_degraded_security;
    out.allow_chroot_fallback = in.allow_chroot_fallback;
  }
}

}  // namespace

const char* mode_name(ServiceMode mode) {
  switch (mode) {
    case ServiceMode::kAgent: return "agent";
    case ServiceMode::kStrictAgent: return "strict-agent";
    case ServiceMode::kProduction: return "production";
  }
  return "agent";
}

std::vector<ValidationError> validate_hardening(const SandboxSpec& in, ValidSpec& out,
                                                uid_t euid) {
  Errors e;
  std::string mode = in.strict_agent ? "strict-agent" : in.service_mode;
  if (in.strict_agent && in.service_mode != "agent" && in.service_mode != "strict-agent" &&
      in.service_mode != "mitos-agent")
    e.add("--strict-agent", "conflicts with --service-mode " + in.service_mode);
  if (mode == "agent") out.mode = ServiceMode::kAgent;
  else if (mode == "strict-agent" || mode == "mitos-agent") out.mode = ServiceMode::kStrictAgent;
  else if (mode == "production") out.mode = ServiceMode::kProduction;
  else e.add("--service-mode", "'" + mode + "' is not agent, strict-agent or production");

  if (!in.group.empty()) {
    std::string g = in.group;
    if (g.empty() || g.find_first_not_of("0123456789") != std::string::npos || g.size() > 9)
      e.add("--group", "'" + in.group + "' must be a numeric GID");
    else out.gid = static_cast<gid_t>(std::stoul(g));
    if (euid != 0 && out.gid != 0) e.add("--group", "without root only gid 0 exists inside");
  }
  out.user_namespace = out.rootless;
  parse_limits(in, out, e);
  parse_policies(in, out, e);
  parse_secrets(in, out, e);
  apply_mode_rules(in, out, euid, e);
  std::error_code ec;
  if (out.rootfs && !out.secrets.empty() && !stdfs::is_directory(*out.rootfs + "/run", ec))
    e.add("--secret", "the --rootfs has no /run directory to hold /run/secrets");
  return e.take();
}

}  // namespace nucleus
