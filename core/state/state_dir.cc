#include "core/state/state_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/base/fs.h"

namespace nucleus {

namespace stdfs = std::filesystem;

nlohmann::json SandboxState::to_json() const {
  nlohmann::json j = {
      {"id", id},
      {"status", status},
      {"supervisor", {{"pid", supervisor.pid}, {"start_time", supervisor.start_time}}},
      {"pid", workload.pid},
      {"workload", {{"pid", workload.pid}, {"start_time", workload.start_time}}},
      {"created_ms", created_ms},
      {"command", command},
      {"network", network},
      {"details", details},
  };
  if (exit_status) j["exit_status"] = *exit_status;
  return j;
}

Result<SandboxState> SandboxState::from_json(const nlohmann::json& j) {
  try {
    SandboxState s;
    s.id = j.at("id").get<std::string>();
    s.status = j.at("status").get<std::string>();
    s.supervisor.pid = j.at("supervisor").at("pid").get<pid_t>();
    s.supervisor.start_time = j.at("supervisor").at("start_time").get<uint64_t>();
    s.workload.pid = j.at("workload").at("pid").get<pid_t>();
    s.workload.start_time = j.at("workload").at("start_time").get<uint64_t>();
    s.created_ms = j.value("created_ms", int64_t{0});
    s.command = j.value("command", std::vector<std::string>{});
    s.network = j.value("network", std::string("none"));
    s.details = j.value("details", nlohmann::json::object());
    if (j.contains("exit_status")) s.exit_status = j.at("exit_status").get<int>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    return fail("state.json", e.what());
  }
}

StateDir::StateDir(std::string root, std::string id)
    : root_(std::move(root)), id_(std::move(id)), path_(root_ + "/sandboxes/" + id_) {}

Result<StateDir> StateDir::create(const std::string& root, const std::string& id) {
  // 0711 on the root so rootless tools can traverse; sandbox dirs themselves are 0700.
  TRY(fs::make_dirs(root + "/sandboxes", 0711));
  StateDir dir(root, id);
  // 0711: a sandbox whose ids are remapped (strict modes) must traverse to its root/ and etc/;
  // the files that matter (state.json, journal) are 0600.
  if (::mkdir(dir.path_.c_str(), 0711) != 0) {
    if (errno == EEXIST) return make_error(EEXIST, "--name", "a sandbox named '" + id + "' exists");
    return errno_error("mkdir " + dir.path_);
  }
  return dir;
}

Result<StateDir> StateDir::open(const std::string& root, const std::string& id) {
  StateDir dir(root, id);
  struct stat st{};
  if (::stat(dir.path_.c_str(), &st) != 0) return make_error(ENOENT, "sandbox " + id, "not found");
  return dir;
}

std::vector<std::string> StateDir::list(const std::string& root) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(root + "/sandboxes", ec))
    if (entry.is_directory(ec)) ids.push_back(entry.path().filename().string());
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<void> StateDir::save(const SandboxState& state) const {
  return fs::write_atomic(file("state.json"), state.to_json().dump(2) + "\n", 0600);
}

Result<SandboxState> StateDir::load() const {
  ASSIGN_OR_RETURN(std::string text, fs::read_file(file("state.json")));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return fail("state.json", "not valid JSON");
  return SandboxState::from_json(j);
}

Result<void> StateDir::remove() const {
  std::error_code ec;
  stdfs::remove_all(path_, ec);
  if (ec) return make_error(ec.value(), "remove " + path_);
  return {};
}

}  // namespace nucleus
