#include "core/security/landlock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/security/sha256.h"
#include "egress/toml.h"

namespace nucleus::security {
namespace {

// Defined here rather than taken from <linux/landlock.h>: the distribution's headers may be
// older than the running kernel (Debian 12 ships ABI 2 headers), and the ABI is stable.
constexpr std::uint64_t kExecute = 1ULL << 0;
constexpr std::uint64_t kWriteFile = 1ULL << 1;
constexpr std::uint64_t kReadFile = 1ULL << 2;
constexpr std::uint64_t kReadDir = 1ULL << 3;
constexpr std::uint64_t kRemoveDir = 1ULL << 4;
constexpr std::uint64_t kRemoveFile = 1ULL << 5;
constexpr std::uint64_t kMakeChar = 1ULL << 6;
constexpr std::uint64_t kMakeDir = 1ULL << 7;
constexpr std::uint64_t kMakeReg = 1ULL << 8;
constexpr std::uint64_t kMakeSock = 1ULL << 9;
constexpr std::uint64_t kMakeFifo = 1ULL << 10;
constexpr std::uint64_t kMakeBlock = 1ULL << 11;
constexpr std::uint64_t kMakeSym = 1ULL << 12;
constexpr std::uint64_t kRefer = 1ULL << 13;     // ABI 2
constexpr std::uint64_t kTruncate = 1ULL << 14;  // ABI 3
constexpr std::uint64_t kIoctlDev = 1ULL << 15;  // ABI 5
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;        // ABI 6

// Rights that make sense on a non-directory; the kernel rejects a rule with others (EINVAL).
constexpr std::uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;

constexpr std::uint32_t kCreateRulesetVersion = 1U << 0;
constexpr int kRulePathBeneath = 1;

struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;
  std::uint64_t scoped;
};

struct __attribute__((packed)) PathBeneathAttr {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
};

Result<void> validate_path(const std::string& path, std::string_view what) {
  if (path.empty() || path.front() != '/') {
    return fail(std::string(what), "'" + path + "' is not an absolute path");
  }
  if (path.size() >= kLandlockPathMax) return fail(std::string(what), "path too long: " + path);
  if (path.find('\0') != std::string::npos) return fail(std::string(what), "NUL in path");
  std::string_view rest = path;
  while (!rest.empty()) {
    std::size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part == "..") return fail(std::string(what), "'..' in path " + path);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
  }
  return {};
}

}  // namespace

int landlock_abi_version() noexcept {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

std::uint64_t landlock_handled_fs(int abi) noexcept {
  if (abi < 1) return 0;
  std::uint64_t bits = (kMakeSym << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) bits |= kRefer;
  if (abi >= 3) bits |= kTruncate;
  if (abi >= 5) bits |= kIoctlDev;
  return bits;
}

std::uint64_t landlock_access_bits(LandlockAccess access) noexcept {
  constexpr std::uint64_t kRead = kReadFile | kReadDir;
  constexpr std::uint64_t kWrite = kWriteFile | kRemoveDir | kRemoveFile | kMakeDir | kMakeReg |
                                   kMakeSock | kMakeFifo | kMakeSym | kRefer | kTruncate;
  switch (access) {
    case LandlockAccess::kRead: return kRead;
    case LandlockAccess::kReadExec: return kRead | kExecute;
    case LandlockAccess::kReadWrite: return kRead | kWrite;
    case LandlockAccess::kReadWriteExec: return kRead | kWrite | kExecute;
    // Device nodes: read/write and device ioctls (isatty, terminal modes), but no mknod:
    // creating device nodes is how a sandbox reaches host disks.
    case LandlockAccess::kDevice: return kRead | kWriteFile | kTruncate | kIoctlDev;
  }
  return 0;
}

std::vector<LandlockPath> landlock_default_paths() {
  using enum LandlockAccess;
  return {
      {"/bin", kReadExec},  {"/sbin", kReadExec},  {"/usr", kReadExec},
      {"/opt", kReadExec},
      // The ELF interpreter is opened for execution, so library dirs need execute too.
      {"/lib", kReadExec},  {"/lib64", kReadExec}, {"/lib32", kReadExec},
      {"/etc", kRead},      {"/proc", kRead},      {"/run", kRead},
      {"/var", kRead},      {"/sys", kRead},
      {"/dev", kDevice},
      {"/dev/shm", kReadWrite},
      {"/tmp", kReadWriteExec}, {"/var/tmp", kReadWrite},
      {"/home", kReadWriteExec}, {"/root", kReadWriteExec},
  };
}

Result<LandlockPolicy> parse_landlock_policy(std::string_view toml_text) {
  ASSIGN_OR_RETURN(toml::table table, parse_toml(toml_text, "--landlock-policy"));
  LandlockPolicy policy;
  for (const auto& [key, value] : table) {
    std::string_view k = key.str();
    if (k == "version") {
      // as_integer, not value<int64_t>: the latter converts floats (1e30 overflows: UB).
      const toml::value<std::int64_t>* v = value.as_integer();
      if (v == nullptr || v->get() != 1) return fail("--landlock-policy", "version must be 1");
      continue;
    }
    if (k == "replace_defaults") {
      const toml::value<bool>* v = value.as_boolean();  // value<bool> would accept 5
      if (v == nullptr) return fail("--landlock-policy", "replace_defaults must be a boolean");
      policy.replace_defaults = v->get();
      continue;
    }
    LandlockAccess access;
    if (k == "ro") {
      access = LandlockAccess::kRead;
    } else if (k == "rx") {
      access = LandlockAccess::kReadExec;
    } else if (k == "rw") {
      access = LandlockAccess::kReadWrite;
    } else if (k == "rwx") {
      access = LandlockAccess::kReadWriteExec;
    } else {
      return fail("--landlock-policy", "unknown key '" + std::string(k) + "'");
    }
    const toml::array* list = value.as_array();
    if (list == nullptr) return fail("--landlock-policy", std::string(k) + " must be an array");
    for (const toml::node& item : *list) {
      auto path = item.value<std::string>();
      if (!path) return fail("--landlock-policy", std::string(k) + " must hold strings");
      TRY(validate_path(*path, "--landlock-policy"));
      policy.paths.push_back({*path, access});
    }
  }
  return policy;
}

Result<LandlockPolicy> load_landlock_policy(const std::string& path,
                                            std::optional<std::string_view> sha256) {
  ASSIGN_OR_RETURN(std::string text, read_pinned_file(path, sha256));
  auto policy = parse_landlock_policy(text);
  if (!policy) policy.error().operation += " " + path;
  return policy;
}

Result<LandlockPlan> prepare_landlock(const LandlockOptions& options, int abi) {
  LandlockPlan plan;
  plan.abi = abi;
  plan.handled_fs = landlock_handled_fs(abi);
  if (abi >= 6) plan.scoped = kScopeAbstractUnix | kScopeSignal;
  if (abi < 1) return plan;

  std::vector<LandlockPath> paths;
  if (!options.policy || !options.policy->replace_defaults) paths = landlock_default_paths();
  if (options.workspace != WorkspaceAccess::kNone) {
    TRY(validate_path(options.workspace_path, "workspace"));
    paths.push_back({options.workspace_path, options.workspace == WorkspaceAccess::kReadWrite
                                                 ? LandlockAccess::kReadWriteExec
                                                 : LandlockAccess::kReadExec});
  }
  for (const auto& volume : options.volumes) {
    TRY(validate_path(volume.path, "--volume"));
    paths.push_back(volume);
  }
  if (options.policy) paths.insert(paths.end(), options.policy->paths.begin(), options.policy->paths.end());

  for (const auto& entry : paths) {
    std::uint64_t bits = landlock_access_bits(entry.access) & plan.handled_fs;
    auto begin = plan.rules.begin();
    auto end = begin + static_cast<std::ptrdiff_t>(plan.rule_count);
    auto same = std::find_if(begin, end, [&](const LandlockRule& r) {
      return std::string_view(r.path.data()) == entry.path;
    });
    if (same != end) {
      same->access |= bits;
      continue;
    }
    if (plan.rule_count == kLandlockMaxRules) {
      return fail("landlock", "more than " + std::to_string(kLandlockMaxRules) + " paths");
    }
    LandlockRule& rule = plan.rules[plan.rule_count++];
    std::copy(entry.path.begin(), entry.path.end(), rule.path.begin());
    rule.path[entry.path.size()] = '\0';
    rule.access = bits;
  }
  return plan;
}

int apply_landlock(const LandlockPlan& plan) noexcept {
  if (plan.abi < 1) return -EOPNOTSUPP;
  RulesetAttr attr{plan.handled_fs, 0, plan.scoped};
  // Older kernels reject a larger struct with non-zero unknown fields: pass only what the ABI
  // knows (net from ABI 4, scoped from ABI 6).
  std::size_t size = plan.abi >= 6 ? sizeof attr : plan.abi >= 4 ? 2 * sizeof(std::uint64_t)
                                                                 : sizeof(std::uint64_t);
  long ruleset = ::syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) return -errno;
  const int ruleset_fd = static_cast<int>(ruleset);
  int result = 0;
  for (std::size_t i = 0; i < plan.rule_count && i < kLandlockMaxRules; ++i) {
    const LandlockRule& rule = plan.rules[i];
    if (rule.access == 0) continue;
    int fd = ::open(rule.path.data(), O_PATH | O_CLOEXEC);
    if (fd < 0) continue;  // missing in this rootfs: skipping grants less, never more
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      result = -errno;
      ::close(fd);
      break;
    }
    PathBeneathAttr beneath{rule.access, fd};
    if (!S_ISDIR(st.st_mode)) beneath.allowed_access &= kFileRights;
    if (beneath.allowed_access != 0 &&
        ::syscall(SYS_landlock_add_rule, ruleset_fd, kRulePathBeneath, &beneath, 0) != 0) {
      result = -errno;
    }
    ::close(fd);
    if (result != 0) break;
  }
  if (result == 0 && ::syscall(SYS_landlock_restrict_self, ruleset_fd, 0) != 0) result = -errno;
  ::close(ruleset_fd);
  return result;
}

}  // namespace nucleus::security
