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
  // Integers only: nlohmann converts floats (and integers too big for 64 bits, which it stores as
  // floats) with an out-of-range cast otherwise.
  auto integer = [](const nlohmann::json& v) {
    if (!v.is_number_integer()) throw nlohmann::json::type_error::create(302, "not an integer", &v);
    return v;
  };
  try {
    SandboxState s;
    s.id = j.at("id").get<std::string>();
    s.status = j.at("status").get<std::string>();
    s.supervisor.pid = integer(j.at("supervisor").at("pid")).get<pid_t>();
    s.supervisor.start_time = integer(j.at("supervisor").at("start_time")).get<uint64_t>();
    s.workload.pid = integer(j.at("workload").at("pid")).get<pid_t>();
    s.workload.start_time = integer(j.at("workload").at("start_time")).get<uint64_t>();
    if (j.contains("created_ms")) s.created_ms = integer(j.at("created_ms")).get<int64_t>();
    s.command = j.value("command", std::vector<std::string>{});
    s.network = j.value("network", std::string("none"));
    s.details = j.value("details", nlohmann::json::object());
    if (j.contains("exit_status")) s.exit_status = integer(j.at("exit_status")).get<int>();
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
  // Arguments need not be UTF-8: replace invalid bytes rather than throw.
  return fs::write_atomic(
      file("state.json"),
      state.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0600);
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
