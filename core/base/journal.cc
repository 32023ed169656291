#include "core/base/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "core/base/fs.h"

namespace nucleus {

Result<Journal> Journal::open(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, fs::open_fd(path, O_WRONLY | O_CREAT | O_APPEND, 0600));
  return Journal(std::move(fd));
}

Result<void> Journal::append(const nlohmann::json& line) {
  if (!fd_.valid()) return fail("journal", "not open");
  std::string text = line.dump() + "\n";
  // One write: O_APPEND makes it atomic with respect to other appenders of this file.
  ssize_t n = ::write(fd_.get(), text.data(), text.size());
  if (n < 0) return errno_error("journal write");
  if (static_cast<size_t>(n) != text.size()) return fail("journal write", "short write");
  return {};
}

Result<void> Journal::record_create(std::string_view kind, std::string_view key,
                                    const nlohmann::json& attrs) {
  return append({{"op", "create"}, {"kind", kind}, {"key", key}, {"attrs", attrs}});
}

Result<void> Journal::record_remove(std::string_view kind, std::string_view key) {
  return append({{"op", "remove"}, {"kind", kind}, {"key", key}});
}

Result<std::vector<JournalEntry>> Journal::pending(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, fs::read_file(path));
  std::vector<JournalEntry> live;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) continue;  // truncated by a crash mid-write
    // A line we did not write (wrong types) is skipped, never thrown on: gc must get through.
    auto text = [&](const char* field) {
      auto it = j.find(field);
      return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    std::string op = text("op");
    std::string kind = text("kind");
    std::string key = text("key");
    if (kind.empty()) continue;
    nlohmann::json attrs = j.contains("attrs") && j["attrs"].is_object() ? j["attrs"]
                                                                         : nlohmann::json::object();
    auto same = [&](const JournalEntry& e) { return e.kind == kind && e.key == key; };
    if (op == "create") {
      std::erase_if(live, same);  // re-created: the newest record wins
      live.push_back({kind, key, std::move(attrs)});
    } else if (op == "remove") {
      std::erase_if(live, same);
    }
  }
  return live;
}

}  // namespace nucleus
