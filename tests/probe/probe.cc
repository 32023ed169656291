// nucleus-probe: runs inside a sandbox and prints one JSON object describing what it sees.
//
// Tests read the JSON instead of scraping shell output. Fields: pid, hostname, uid/gid, the open
// fds, and the security posture lines of /proc/self/status.
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

nlohmann::json open_fds() {
  nlohmann::json fds = nlohmann::json::array();
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return fds;
  int own = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::stoi(e->d_name);
    if (fd == own) continue;
    char target[512] = {};
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    fds.push_back({{"fd", fd}, {"target", n > 0 ? std::string(target, n) : ""}});
  }
  closedir(dir);
  return fds;
}

nlohmann::json status_fields() {
  nlohmann::json out;
  std::ifstream in("/proc/self/status");
  std::string line;
  for (const char* key : {"NoNewPrivs", "Seccomp", "CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"})
    out[key] = nullptr;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    if (out.contains(key)) {
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      out[key] = value;
    }
  }
  return out;
}

}  // namespace

int main() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  nlohmann::json j;
  j["pid"] = getpid();
  j["ppid"] = getppid();
  j["hostname"] = host;
  j["uid"] = getuid();
  j["gid"] = getgid();
  j["fds"] = open_fds();
  j["status"] = status_fields();
  std::cout << j.dump() << std::endl;
  return 0;
}
