// The state directory: one folder per sandbox under <root>/sandboxes/<id>/ holding
//   state.json     what `nucleus state` shows (status, pids, network, counters)
//   journal.jsonl  every host object created (see core/base/journal.h)
//   etc/           generated /etc files bound into the sandbox
//   root/          mount point of the new root inside the sandbox's mount namespace
//   workspace/     the staged copy for --workspace-mode copy-in-out
// Shared, cross-sandbox state (IPAM, refcounts) lives beside sandboxes/ under <root>.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/state/process.h"

namespace nucleus {

struct SandboxState {
  std::string id;
  std::string status;  // "creating", "running", "stopped"
  ProcessIdentity supervisor;
  ProcessIdentity workload;
  int64_t created_ms = 0;
  std::vector<std::string> command;
  std::string network = "none";
  nlohmann::json details = nlohmann::json::object();  // network attachment, counters...
  std::optional<int> exit_status;

  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] static Result<SandboxState> from_json(const nlohmann::json& j);
};

class StateDir {
 public:
  // Creates <root>/sandboxes/<id> (0711). EEXIST means the id is taken.
  [[nodiscard]] static Result<StateDir> create(const std::string& root, const std::string& id);
  // Opens an existing one (for state/kill/stop/delete/gc).
  [[nodiscard]] static Result<StateDir> open(const std::string& root, const std::string& id);
  // Ids of every sandbox under root, sorted.
  [[nodiscard]] static std::vector<std::string> list(const std::string& root);

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }
  [[nodiscard]] std::string journal_path() const { return file("journal.jsonl"); }

  [[nodiscard]] Result<void> save(const SandboxState& state) const;
  [[nodiscard]] Result<SandboxState> load() const;
  // Removes the directory and everything in it.
  [[nodiscard]] Result<void> remove() const;

 private:
  StateDir(std::string root, std::string id);
  std::string root_, id_, path_;
};

}  // namespace nucleus
