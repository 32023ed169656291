// Journal: the record of every host object a sandbox creates, kept in its state directory.
//
// The rule (ARCHITECTURE.md): record an object *before* creating it, record its removal *after*
// destroying it. If the supervisor dies in between, `nucleus gc` reads the journal of the dead run
// and undoes whatever is still pending, newest first. Undo code must therefore tolerate objects
// that were journaled but never created, or are already gone.
//
// Format: one JSON object per line, appended with O_APPEND (a line is one write(2), so a crash
// leaves at most one truncated last line, which `pending` ignores):
//   {"op":"create","kind":"veth","key":"nv-1a2b3c","attrs":{...}}
//   {"op":"remove","kind":"veth","key":"nv-1a2b3c"}
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus {

struct JournalEntry {
  std::string kind;      // "veth", "bridge", "ipam", "nft-rule", "cgroup", ...
  std::string key;       // identity of the object within its kind
  nlohmann::json attrs;  // whatever the undo code needs (names, handles, netns paths)
};

class Journal {
 public:
  Journal() = default;
  // Opens (creating if needed) the journal file at `path`.
  [[nodiscard]] static Result<Journal> open(const std::string& path);

  [[nodiscard]] bool valid() const { return fd_.valid(); }

  [[nodiscard]] Result<void> record_create(std::string_view kind, std::string_view key,
                                           const nlohmann::json& attrs = nlohmann::json::object());
  [[nodiscard]] Result<void> record_remove(std::string_view kind, std::string_view key);

  // Objects created and not yet removed, oldest first. A truncated trailing line is skipped.
  [[nodiscard]] static Result<std::vector<JournalEntry>> pending(const std::string& path);

 private:
  explicit Journal(UniqueFd fd) : fd_(std::move(fd)) {}
  [[nodiscard]] Result<void> append(const nlohmann::json& line);
  UniqueFd fd_;
};

}  // namespace nucleus
