#include "core/spec/validate.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/base/number.h"
#include "core/egress/egress_runtime.h"
#include "core/spec/hardening_validate.h"
#include "core/spec/network_validate.h"

namespace nucleus {
namespace {

namespace stdfs = std::filesystem;

class Checker {
 public:
  void add(std::string flag, std::string problem) {
    errors_.push_back({std::move(flag), std::move(problem)});
  }
  std::vector<ValidationError> take() { return std::move(errors_); }
  [[nodiscard]] bool ok() const { return errors_.empty(); }

 private:
  std::vector<ValidationError> errors_;
};

bool is_absolute(const std::string& p) { return !p.empty() && p.front() == '/'; }

bool has_dotdot(const std::string& p) {
  for (const auto& part : stdfs::path(p))
    if (part == "..") return true;
  return false;
}

// Resolves an existing host path to its canonical form, or records why it cannot be used.
std::optional<std::string> existing_host_path(Checker& c, const std::string& flag,
                                              const std::string& path, bool want_dir) {
  if (!is_absolute(path)) {
    c.add(flag, "'" + path + "' must be an absolute path");
    return std::nullopt;
  }
  std::error_code ec;
  auto canonical = stdfs::canonical(path, ec);
  if (ec) {
    c.add(flag, "'" + path + "' does not exist");
    return std::nullopt;
  }
  if (want_dir && !stdfs::is_directory(canonical, ec)) {
    c.add(flag, "'" + path + "' is not a directory");
    return std::nullopt;
  }
  return canonical.string();
}

// Validates a path inside the sandbox: absolute, no "..", not the root itself.
bool check_sandbox_path(Checker& c, const std::string& flag, const std::string& path) {
  if (!is_absolute(path)) {
    c.add(flag, "'" + path + "' must be an absolute path inside the sandbox");
    return false;
  }
  if (has_dotdot(path)) {
    c.add(flag, "'" + path + "' must not contain '..'");
    return false;
  }
  if (stdfs::path(path).lexically_normal() == "/") {
    c.add(flag, "cannot mount over '/'");
    return false;
  }
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool valid_env_key(const std::string& key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  return std::all_of(key.begin(), key.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  });
}

// RFC 1123 hostname: labels of [A-Za-z0-9-], not starting or ending with '-', 64 bytes max
// (the kernel's limit for sethostname).
bool valid_hostname(const std::string& h) {
  if (h.empty() || h.size() > 64) return false;
  for (const auto& label : split(h, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char ch : label)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') return false;
  }
  return true;
}

std::optional<uint32_t> parse_u32(const std::string& s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string random_id() {
  unsigned char bytes[8];
  if (getentropy(bytes, sizeof bytes) != 0) {
    // getentropy cannot fail for 8 bytes on Linux >= 3.17; fall back to pid+time just in case.
    auto seed = static_cast<uint64_t>(getpid()) ^ static_cast<uint64_t>(time(nullptr));
    for (auto& b : bytes) b = static_cast<unsigned char>(seed >>= 3);
  }
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += hex[b >> 4];
    id += hex[b & 15];
  }
  return id;
}

void validate_filesystem(const SandboxSpec& in, ValidSpec& out, Checker& c) {
  if (!in.rootfs.empty()) {
    out.rootfs = existing_host_path(c, "--rootfs", in.rootfs, true);
    // The rootfs is mounted read-only, so the mount points nucleus needs must already exist.
    for (const char* dir : {"proc", "dev", "tmp"}) {
      std::error_code ec;
      if (out.rootfs && !stdfs::is_directory(*out.rootfs + "/" + dir, ec))
        c.add("--rootfs", "'" + in.rootfs + "' has no /" + dir + " directory");
    }
  }
  if (!in.workspace.empty())
    out.workspace = existing_host_path(c, "--workspace", in.workspace, true);

  if (in.workspace_mode == "bind-rw") out.workspace_mode = WorkspaceMode::kBindRw;
  else if (in.workspace_mode == "bind-ro") out.workspace_mode = WorkspaceMode::kBindRo;
  else if (in.workspace_mode == "copy-in-out") out.workspace_mode = WorkspaceMode::kCopyInOut;
  else c.add("--workspace-mode", "'" + in.workspace_mode + "' is not bind-rw, bind-ro or copy-in-out");

  std::set<std::string> dests;
  auto claim = [&](const std::string& flag, const std::string& dest) {
    std::string norm = stdfs::path(dest).lexically_normal().string();
    if (norm.size() > 1 && norm.back() == '/') norm.pop_back();
    for (const char* reserved : {"/proc", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64"}) {
      std::string r = reserved;
      if (norm == r || norm.starts_with(r + "/")) {
        c.add(flag, "'" + dest + "' is reserved by the sandbox (" + r + ")");
        return false;
      }
    }
    if (!dests.insert(norm).second) {
      c.add(flag, "'" + dest + "' is mounted twice");
      return false;
    }
    return true;
  };
  if (out.workspace) dests.insert("/workspace");

  for (const auto& v : in.volumes) {
    auto parts = split(v, ':');
    if (parts.size() < 2 || parts.size() > 3) {
      c.add("--volume", "'" + v + "' must be SRC:DEST or SRC:DEST:ro|rw");
      continue;
    }
    VolumeMount m;
    if (parts.size() == 3) {
      if (parts[2] != "ro" && parts[2] != "rw") {
        c.add("--volume", "'" + v + "': mode '" + parts[2] + "' must be ro or rw");
        continue;
      }
      m.read_only = parts[2] == "ro";
    }
    auto src = existing_host_path(c, "--volume", parts[0], false);
    if (!src || !check_sandbox_path(c, "--volume", parts[1]) || !claim("--volume", parts[1]))
      continue;
    m.source = *src;
    m.dest = stdfs::path(parts[1]).lexically_normal().string();
    m.is_directory = stdfs::is_directory(*src);
    out.volumes.push_back(std::move(m));
  }

  for (const auto& t : in.tmpfs) {
    auto parts = split(t, ':');
    if (parts.size() > 2) {
      c.add("--tmpfs", "'" + t + "' must be DEST or DEST:SIZE");
      continue;
    }
    TmpfsMount m;
    if (!check_sandbox_path(c, "--tmpfs", parts[0]) || !claim("--tmpfs", parts[0])) continue;
    m.dest = stdfs::path(parts[0]).lexically_normal().string();
    if (parts.size() == 2) {
      auto size = parse_size(parts[1], "--tmpfs");
      if (!size) {
        c.add("--tmpfs", "'" + t + "': " + size.error().detail);
        continue;
      }
      m.size_bytes = *size;
    }
    out.tmpfs.push_back(std::move(m));
  }

  if (!in.workdir.empty()) {
    if (!is_absolute(in.workdir) || has_dotdot(in.workdir))
      c.add("--workdir", "'" + in.workdir + "' must be an absolute path without '..'");
    out.workdir = in.workdir;
  } else {
    out.workdir = out.workspace ? "/workspace" : out.rootfs ? "/" : "/home/agent";
  }
}

void validate_process(const SandboxSpec& in, ValidSpec& out, uid_t euid, Checker& c) {
  if (in.command.empty())
    c.add("--", "no command given: use nucleus run [FLAGS] -- CMD [ARGS...]");
  out.argv = in.command;

  if (!in.name.empty()) {
    if (auto problem = check_id(in.name); !problem.empty()) c.add("--name", problem);
    out.id = in.name;
  } else {
    out.id = random_id();
  }

  out.hostname = in.hostname.empty() ? (in.name.empty() ? "nucleus-" + out.id.substr(0, 8)
                                                         : in.name.substr(0, 63))
                                     : in.hostname;
  if (!valid_hostname(out.hostname)) {
    if (!in.hostname.empty()) c.add("--hostname", "'" + in.hostname + "' is not a valid hostname");
    else out.hostname = "nucleus";  // a name with '_' is a fine id but not a hostname
  }

  // The workload's environment starts clean: nothing of the caller's leaks in unless asked.
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/home/agent",
      "HOSTNAME=" + out.hostname,
  };
  if (const char* term = getenv("TERM")) env.push_back(std::string("TERM=") + term);
  for (const auto& e : in.env) {
    auto eq = e.find('=');
    std::string key = e.substr(0, eq);
    if (!valid_env_key(key)) {
      c.add("--env", "'" + e + "' must be KEY=VALUE with KEY made of letters, digits and _");
      continue;
    }
    std::string entry = e;
    if (eq == std::string::npos) {
      const char* value = getenv(key.c_str());
      if (!value) continue;  // like docker: -e KEY with KEY unset passes nothing
      entry = key + "=" + value;
    }
    std::erase_if(env, [&](const std::string& x) { return x.starts_with(key + "="); });
    env.push_back(entry);
  }
  out.env = std::move(env);

  out.rootless = euid != 0;
  if (!in.user.empty()) {
    auto parts = split(in.user, ':');
    auto uid = parse_u32(parts[0]);
    auto gid = parts.size() == 2 ? parse_u32(parts[1]) : uid;
    if (parts.size() > 2 || !uid || !gid || *uid == static_cast<uint32_t>(-1) ||
        *gid == static_cast<uint32_t>(-1)) {
      c.add("--user", "'" + in.user + "' must be UID or UID:GID (numbers)");
    } else {
      out.uid = *uid;
      out.gid = *gid;
      if (out.rootless && (out.uid != 0 || out.gid != 0))
        c.add("--user", "without root only uid 0 exists inside the sandbox (it maps to you)");
    }
  }
  out.time_namespace = in.time_namespace;

  out.state_root = in.state_root.empty() ? default_state_root(euid) : in.state_root;
  if (!is_absolute(out.state_root) || has_dotdot(out.state_root))
    c.add("--root", "'" + out.state_root + "' must be an absolute path without '..'");

  if (in.stop_timeout < 0 || in.stop_timeout > 3600)
    c.add("--stop-timeout", "must be between 0 and 3600 seconds");
  out.stop_timeout = in.stop_timeout;
}

}  // namespace

std::string check_id(const std::string& id) {
  if (id.empty()) return "must not be empty";
  if (id.size() > 128) return "must be at most 128 characters";
  if (!std::isalnum(static_cast<unsigned char>(id[0])))
    return "'" + id + "' must start with a letter or digit";
  for (char ch : id)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-')
      return "'" + id + "' may only contain letters, digits, '_', '.' and '-'";
  return {};
}

std::string default_state_root(uid_t euid) {
  if (const char* env = getenv("NUCLEUS_STATE_DIR"); env && *env) return env;
  if (euid == 0) return "/run/nucleus";
  if (const char* xdg = getenv("XDG_RUNTIME_DIR"); xdg && *xdg) return std::string(xdg) + "/nucleus";
  return "/tmp/nucleus-" + std::to_string(euid);
}

Validated validate(const SandboxSpec& spec, uid_t euid) {
  Checker c;
  ValidSpec out;
  validate_process(spec, out, euid, c);
  validate_filesystem(spec, out, c);
  std::vector<ValidationError> net_errors = validate_network(spec, out, euid);
  Validated result;
  result.errors = c.take();
  result.errors.insert(result.errors.end(), net_errors.begin(), net_errors.end());
  std::vector<ValidationError> hardening_errors = validate_hardening(spec, out, euid);
  result.errors.insert(result.errors.end(), hardening_errors.begin(), hardening_errors.end());
  // Production denies all egress unless the operator allowed something.
  out.egress.default_deny_all = out.mode == ServiceMode::kProduction;
  std::vector<ValidationError> egress_errors = validate_egress(spec, out);
  result.errors.insert(result.errors.end(), egress_errors.begin(), egress_errors.end());
  out.events_jsonl = spec.events_jsonl;
  if (!out.events_jsonl.empty() && out.events_jsonl.front() != '/')
    result.errors.push_back({"--events-jsonl", "'" + spec.events_jsonl + "' must be an absolute path"});
  if (result.errors.empty()) result.spec = std::move(out);
  return result;
}

}  // namespace nucleus
