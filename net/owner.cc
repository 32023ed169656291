#include "net/owner.h"

#include <unistd.h>

#include <charconv>
#include <string_view>

#include "core/base/fs.h"

namespace nucleus::net {

Result<uint64_t> process_start_time(pid_t pid) {
  if (pid <= 0) return make_error(ESRCH, "process start time", "pid " + std::to_string(pid));
  ASSIGN_OR_RETURN(std::string stat, fs::read_file("/proc/" + std::to_string(pid) + "/stat"));
  // Field 2 (comm) may contain spaces and ')' : fields resume after the LAST ')'.
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return fail("process start time", "malformed stat of " + std::to_string(pid));
  std::string_view rest(stat);
  rest.remove_prefix(paren + 1);
  // rest = " S ppid ..." : field 3 is the first token; field 22 is token index 19.
  int index = 0;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    if (index == 19) {
      uint64_t value = 0;
      auto [p, ec] = std::from_chars(rest.data() + pos, rest.data() + end, value);
      if (ec != std::errc()) break;
      return value;
    }
    ++index;
    pos = end;
  }
  return fail("process start time", "malformed stat of " + std::to_string(pid));
}

Result<Owner> Owner::self(std::string id) {
  pid_t pid = ::getpid();
  ASSIGN_OR_RETURN(uint64_t start, process_start_time(pid));
  return Owner{std::move(id), pid, start};
}

bool Owner::alive() const {
  auto start = process_start_time(pid);
  return start && *start == start_time;
}

nlohmann::json Owner::to_json() const {
  return {{"id", id}, {"pid", pid}, {"start", start_time}};
}

Owner Owner::from_json(const nlohmann::json& j) {
  Owner o;
  o.id = json_string(j, "id");
  uint64_t pid = json_uint(j, "pid");
  o.pid = pid > 0 && pid < (1u << 30) ? static_cast<pid_t>(pid) : 0;
  o.start_time = json_uint(j, "start");
  return o;
}

std::string json_string(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

uint64_t json_uint(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return static_cast<uint64_t>(it->get<int64_t>());
  return 0;
}

}  // namespace nucleus::net
