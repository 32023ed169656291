#include "core/state/process.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "core/base/fs.h"

namespace nucleus {

Result<uint64_t> process_start_time(pid_t pid) {
  ASSIGN_OR_RETURN(std::string stat, fs::read_file("/proc/" + std::to_string(pid) + "/stat"));
  // The command name (field 2) may contain spaces and ')': fields are counted after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return fail("/proc/PID/stat", "unexpected format");
  // After ") " comes field 3 (state); start time is field 22, i.e. the 20th after the paren.
  size_t pos = close + 2;
  for (int field = 3; field < 22; ++field) {
    pos = stat.find(' ', pos);
    if (pos == std::string::npos) return fail("/proc/PID/stat", "too few fields");
    ++pos;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(stat.data() + pos, stat.data() + stat.size(), value);
  if (ec != std::errc()) return fail("/proc/PID/stat", "bad start time");
  return value;
}

Result<ProcessIdentity> identify(pid_t pid) {
  ASSIGN_OR_RETURN(uint64_t start, process_start_time(pid));
  return ProcessIdentity{pid, start};
}

bool is_alive(const ProcessIdentity& who) {
  if (who.pid <= 0) return false;
  auto start = process_start_time(who.pid);
  return start && *start == who.start_time;
}

Result<UniqueFd> open_pidfd(const ProcessIdentity& who) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, who.pid, 0));
  if (fd < 0) return errno_error("pidfd_open " + std::to_string(who.pid));
  UniqueFd pidfd(fd);
  // Check the identity *after* opening: the pidfd now pins the process, so a matching start
  // time means the fd refers to the process we meant, not a successor with a reused pid.
  if (!is_alive(who)) return make_error(ESRCH, "process " + std::to_string(who.pid), "has exited");
  return pidfd;
}

}  // namespace nucleus
