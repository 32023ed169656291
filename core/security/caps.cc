#include "core/security/caps.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cctype>
#include <charconv>

#include "core/base/fs.h"
#include "core/security/sha256.h"
#include "egress/toml.h"

namespace nucleus::security {
namespace {

// Index = capability number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE = 40).
constexpr std::array<std::string_view, 41> kCapNames = {
    "CHOWN",          "DAC_OVERRIDE",     "DAC_READ_SEARCH", "FOWNER",
    "FSETID",         "KILL",             "SETGID",          "SETUID",
    "SETPCAP",        "LINUX_IMMUTABLE",  "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN",      "NET_RAW",          "IPC_LOCK",        "IPC_OWNER",
    "SYS_MODULE",     "SYS_RAWIO",        "SYS_CHROOT",      "SYS_PTRACE",
    "SYS_PACCT",      "SYS_ADMIN",        "SYS_BOOT",        "SYS_NICE",
    "SYS_RESOURCE",   "SYS_TIME",         "SYS_TTY_CONFIG",  "MKNOD",
    "LEASE",          "AUDIT_WRITE",      "AUDIT_CONTROL",   "SETFCAP",
    "MAC_OVERRIDE",   "MAC_ADMIN",        "SYSLOG",          "WAKE_ALARM",
    "BLOCK_SUSPEND",  "AUDIT_READ",       "PERFMON",         "BPF",
    "CHECKPOINT_RESTORE"};

// Never grantable: each one is a known sandbox escape or host-wide control on its own.
constexpr std::array<int, 16> kForbidden = {
    CAP_DAC_READ_SEARCH,  // open_by_handle_at reaches host files ("shocker")
    CAP_LINUX_IMMUTABLE, CAP_SYS_MODULE, CAP_SYS_RAWIO,  CAP_SYS_PTRACE,   CAP_SYS_PACCT,
    CAP_SYS_ADMIN,       CAP_SYS_BOOT,   CAP_SYS_TIME,   CAP_AUDIT_CONTROL, CAP_MAC_OVERRIDE,
    CAP_MAC_ADMIN,       CAP_SYSLOG,     CAP_PERFMON,    CAP_BPF,          CAP_SETFCAP};

std::string upper(std::string_view s) {
  std::string out;
  for (char ch : s) out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

std::optional<int> capability_from_name(std::string_view name) {
  std::string up = upper(name);
  std::string_view bare = up;
  if (bare.starts_with("CAP_")) bare.remove_prefix(4);
  for (std::size_t i = 0; i < kCapNames.size(); ++i) {
    if (kCapNames[i] == bare) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::string capability_name(int cap) {
  if (cap < 0 || static_cast<std::size_t>(cap) >= kCapNames.size()) return {};
  return "CAP_" + std::string(kCapNames[static_cast<std::size_t>(cap)]);
}

Result<CapsPolicy> parse_caps_policy(std::string_view toml_text) {
  ASSIGN_OR_RETURN(toml::table table, parse_toml(toml_text, "--caps-policy"));
  for (const auto& [key, value] : table) {
    if (key.str() != "keep" && key.str() != "version") {
      return fail("--caps-policy", "unknown key '" + std::string(key.str()) + "'");
    }
  }
  if (const toml::node* version = table.get("version")) {
    // as_integer, not value<int64_t>: the latter converts floats (1e30 overflows: UB).
    const toml::value<std::int64_t>* v = version->as_integer();
    if (v == nullptr || v->get() != 1) return fail("--caps-policy", "version must be 1");
  }
  CapsPolicy policy;
  const toml::node* keep = table.get("keep");
  if (keep == nullptr) return policy;
  const toml::array* list = keep->as_array();
  if (list == nullptr) return fail("--caps-policy", "'keep' must be an array of strings");
  for (const toml::node& item : *list) {
    auto name = item.value<std::string>();
    if (!name) return fail("--caps-policy", "'keep' must be an array of strings");
    auto cap = capability_from_name(*name);
    if (!cap) return fail("--caps-policy", "unknown capability '" + *name + "'");
    if (std::find(kForbidden.begin(), kForbidden.end(), *cap) != kForbidden.end()) {
      return fail("--caps-policy",
                  capability_name(*cap) + " can never be kept: it defeats the sandbox");
    }
    policy.keep.push_back(*cap);
  }
  std::sort(policy.keep.begin(), policy.keep.end());
  policy.keep.erase(std::unique(policy.keep.begin(), policy.keep.end()), policy.keep.end());
  return policy;
}

Result<CapsPolicy> load_caps_policy(const std::string& path,
                                    std::optional<std::string_view> sha256) {
  ASSIGN_OR_RETURN(std::string text, read_pinned_file(path, sha256));
  auto policy = parse_caps_policy(text);
  if (!policy) policy.error().operation += " " + path;
  return policy;
}

Result<CapsPlan> prepare_caps(const std::optional<CapsPolicy>& policy) {
  CapsPlan plan;
  ASSIGN_OR_RETURN(std::string text, fs::read_file("/proc/sys/kernel/cap_last_cap"));
  int last = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), last);
  if (ec != std::errc() || last < 0 || last > 63) {
    return fail("read /proc/sys/kernel/cap_last_cap", "unexpected content '" + text + "'");
  }
  plan.last_cap = last;
  if (policy) {
    for (int cap : policy->keep) {
      if (cap > last) {
        return fail("--caps-policy", capability_name(cap) + " is not known to this kernel");
      }
      plan.keep_mask |= std::uint64_t{1} << cap;
    }
  }
  return plan;
}

int apply_caps(const CapsPlan& plan) noexcept {
  // Bounding set first: dropping from it needs CAP_SETPCAP, which the capset below removes.
  for (int cap = 0; cap <= plan.last_cap; ++cap) {
    if ((plan.keep_mask >> cap) & 1U) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      // Past the kernel's last capability (only when last_cap was not read): done.
      if (errno == EINVAL && cap > 0) break;
      return -errno;
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return -errno;

  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2] = {};
  const auto low = static_cast<std::uint32_t>(plan.keep_mask);
  const auto high = static_cast<std::uint32_t>(plan.keep_mask >> 32);
  data[0].effective = data[0].permitted = data[0].inheritable = low;
  data[1].effective = data[1].permitted = data[1].inheritable = high;
  if (::syscall(SYS_capset, &header, data) != 0) return -errno;

  // Ambient keeps the capabilities across execve for a workload that is not uid 0.
  for (int cap = 0; cap <= plan.last_cap && plan.keep_mask != 0; ++cap) {
    if (((plan.keep_mask >> cap) & 1U) == 0) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return -errno;
  }
  return 0;
}

int drop_all_capabilities() noexcept { return apply_caps(CapsPlan{}); }

int set_no_new_privs() noexcept {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  return 0;
}

}  // namespace nucleus::security
