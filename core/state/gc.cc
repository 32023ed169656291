#include "core/state/gc.h"

#include <sys/stat.h>

#include <ctime>
#include <filesystem>

#include "core/base/log.h"
#include "core/state/state_dir.h"
#include "core/cgroup/cgroup.h"
#include "net/kernel/undo.h"

namespace nucleus {
namespace {

constexpr log::Logger kLog("gc");

// A staged copy-in-out workspace may hold the only copy of a workload's changes: it is moved
// aside, never deleted.
Result<void> recover_stage(const std::string& state_root, const std::string& id,
                           const JournalEntry& entry) {
  std::string stage = entry.attrs.value("path", "");
  std::error_code ec;
  if (stage.empty() || !std::filesystem::exists(stage, ec)) return {};
  std::string dest = state_root + "/recovered/" + id + "-workspace";
  std::filesystem::create_directories(state_root + "/recovered", ec);
  std::filesystem::rename(stage, dest, ec);
  if (ec) return make_error(ec.value(), "keep staged workspace " + stage);
  kLog.warn("the staged workspace of " + id + " (for " + entry.attrs.value("host", "?") +
            ") was not synced back; it is kept at " + dest);
  return {};
}

}  // namespace

Result<void> undo_entry(const std::string& state_root, const std::string& id,
                        const JournalEntry& entry) {
  if (entry.kind == "workspace-stage") return recover_stage(state_root, id, entry);
  if (entry.kind == cgroup::kJournalKind) return cgroup::undo_journal_entry(entry);
  if (net::kernel::handles_journal_kind(entry.kind)) return net::kernel::undo_journal_entry(entry);
  return fail("journal", "unknown kind '" + entry.kind + "'");
}

Result<void> collect_sandbox(const std::string& state_root, const std::string& id) {
  auto dir = StateDir::open(state_root, id);
  if (!dir) return {};
  auto pending = Journal::pending(dir->journal_path());
  std::vector<JournalEntry> entries = pending ? std::move(*pending) : std::vector<JournalEntry>{};
  Error first_error;
  bool failed = false;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (auto r = undo_entry(state_root, id, *it); !r) {
      kLog.warn(id + ": undo " + it->kind + " " + it->key + ": " + r.error().message());
      if (!failed) first_error = r.error();
      failed = true;
    }
  }
  // Keep the journal when something could not be undone, so a later gc can try again.
  if (failed) return std::unexpected(first_error);
  return dir->remove();
}

bool recently_created(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return false;
  return time(nullptr) - st.st_mtime < 5;
}

}  // namespace nucleus
