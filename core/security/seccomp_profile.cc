#include "core/security/seccomp_profile.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/security/seccomp_tables.h"
#include "core/security/sha256.h"

namespace nucleus::security {
namespace {

constexpr std::string_view kTraceHeader = "# nucleus seccomp trace v1";

std::optional<SeccompAction> action_from_name(std::string_view name) {
  if (name == "SCMP_ACT_ALLOW") return SeccompAction::kAllow;
  if (name == "SCMP_ACT_ERRNO") return SeccompAction::kErrno;
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SeccompAction::kKillThread;
  if (name == "SCMP_ACT_KILL_PROCESS") return SeccompAction::kKillProcess;
  if (name == "SCMP_ACT_TRAP") return SeccompAction::kTrap;
  return std::nullopt;
}

bool valid_syscall_name(std::string_view name) {
  return !name.empty() && name.size() < 64 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

Result<int> errno_value(const nlohmann::json& obj, const char* key) {
  if (!obj.contains(key)) return 1;
  const auto& v = obj.at(key);
  if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 4095) {
    return fail("--seccomp-profile", std::string(key) + " must be an errno between 1 and 4095");
  }
  return static_cast<int>(v.get<long long>());
}

bool non_empty(const nlohmann::json& obj, const char* key) {
  return obj.contains(key) && !obj.at(key).empty();
}

Result<SeccompProfile> parse_document(const nlohmann::json& doc) {
  if (!doc.is_object()) return fail("--seccomp-profile", "top level must be an object");
  for (const auto& [key, value] : doc.items()) {
    if (key != "defaultAction" && key != "defaultErrnoRet" && key != "architectures" &&
        key != "syscalls" && key != "archMap" && key != "flags") {
      return fail("--seccomp-profile", "unsupported key '" + key + "'");
    }
  }
  SeccompProfile profile;
  if (!doc.contains("defaultAction") || !doc["defaultAction"].is_string()) {
    return fail("--seccomp-profile", "defaultAction is required");
  }
  auto def = action_from_name(doc["defaultAction"].get<std::string>());
  if (!def) {
    return fail("--seccomp-profile",
                "unsupported defaultAction '" + doc["defaultAction"].get<std::string>() + "'");
  }
  if (*def == SeccompAction::kAllow) {
    return fail("--seccomp-profile", "defaultAction SCMP_ACT_ALLOW is not an allowlist");
  }
  profile.default_action = *def;
  ASSIGN_OR_RETURN(profile.default_errno, errno_value(doc, "defaultErrnoRet"));

  if (!doc.contains("syscalls")) return profile;
  if (!doc["syscalls"].is_array()) return fail("--seccomp-profile", "syscalls must be an array");
  std::size_t index = 0;
  for (const auto& entry : doc["syscalls"]) {
    std::string where = "syscalls[" + std::to_string(index++) + "]";
    if (!entry.is_object()) return fail("--seccomp-profile", where + " must be an object");
    if (!entry.contains("names") || !entry["names"].is_array()) {
      return fail("--seccomp-profile", where + ".names must be an array");
    }
    if (!entry.contains("action") || !entry["action"].is_string()) {
      return fail("--seccomp-profile", where + ".action is required");
    }
    auto action = action_from_name(entry["action"].get<std::string>());
    if (!action) {
      return fail("--seccomp-profile",
                  where + ": unsupported action '" + entry["action"].get<std::string>() + "'");
    }
    SeccompRule rule;
    rule.action = *action;
    ASSIGN_OR_RETURN(rule.errno_ret, errno_value(entry, "errnoRet"));
    for (const auto& name : entry["names"]) {
      if (!name.is_string() || !valid_syscall_name(name.get<std::string>())) {
        return fail("--seccomp-profile", where + ": invalid syscall name " + name.dump());
      }
      rule.names.push_back(name.get<std::string>());
    }
    if (non_empty(entry, "includes") || non_empty(entry, "excludes")) {
      profile.warnings.push_back(where + " has includes/excludes conditions; skipped");
      continue;
    }
    if (non_empty(entry, "args")) {
      auto filtered = seccomp_argument_filtered();
      for (const auto& name : rule.names) {
        if (std::find(filtered.begin(), filtered.end(), name) == filtered.end()) {
          return fail("--seccomp-profile",
                      where + ": argument filters are not supported for '" + name + "'");
        }
      }
      profile.warnings.push_back(where + ": nucleus's own argument rules replace its args");
    }
    std::erase_if(rule.names, [&](const std::string& name) {
      if (rule.action != SeccompAction::kAllow || !seccomp_is_denied(name)) return false;
      profile.warnings.push_back(where + ": '" + name + "' is never allowed; it stays EPERM");
      return true;
    });
    profile.rules.push_back(std::move(rule));
  }
  return profile;
}

}  // namespace

Result<SeccompProfile> parse_seccomp_profile(std::string_view json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("--seccomp-profile", "not valid JSON");
  try {
    return parse_document(doc);
  } catch (const nlohmann::json::exception& e) {  // type errors deep in the document
    return fail("--seccomp-profile", e.what());
  }
}

Result<SeccompProfile> load_seccomp_profile(const std::string& path,
                                            std::optional<std::string_view> sha256) {
  ASSIGN_OR_RETURN(std::string text, read_pinned_file(path, sha256));
  auto profile = parse_seccomp_profile(text);
  if (!profile) profile.error().operation += " " + path;
  return profile;
}

std::string format_trace_log(const std::vector<std::string>& names) {
  std::set<std::string> sorted(names.begin(), names.end());
  std::string out(kTraceHeader);
  out += '\n';
  for (const auto& name : sorted) out += name + "\n";
  return out;
}

Result<std::vector<std::string>> parse_trace_log(std::string_view text) {
  std::set<std::string> names;
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (!valid_syscall_name(line)) {
      return fail("seccomp trace log", "line " + std::to_string(line_no) + ": '" +
                                           std::string(line) + "' is not a syscall name");
    }
    names.emplace(line);
  }
  return std::vector<std::string>(names.begin(), names.end());
}

std::string generate_seccomp_profile(const std::vector<std::string>& traced) {
  std::set<std::string> names(traced.begin(), traced.end());
  names.insert({"execve", "exit", "exit_group"});
  std::erase_if(names, [](const std::string& n) { return seccomp_is_denied(n); });
  nlohmann::json doc = {
      {"defaultAction", "SCMP_ACT_ERRNO"},
      {"defaultErrnoRet", 1},
      {"syscalls",
       nlohmann::json::array(
           {{{"names", std::vector<std::string>(names.begin(), names.end())},
             {"action", "SCMP_ACT_ALLOW"}}})},
  };
  return doc.dump(2) + "\n";
}

}  // namespace nucleus::security
