#include "core/cgroup/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/base/fs.h"
#include "core/base/log.h"
#include "core/cgroup/driver.h"

namespace nucleus::cgroup {
namespace detail {

std::string join(std::string_view a, std::string_view b) {
  while (b.starts_with('/')) b.remove_prefix(1);
  while (a.ends_with('/') && a.size() > 1) a.remove_suffix(1);
  if (b.empty()) return std::string(a);
  return std::string(a) + "/" + std::string(b);
}

Result<void> write_control(const Config& config, const std::string& dir, std::string_view file,
                           std::string_view value) {
  std::string path = join(dir, file);
  if (!config.fake_tree) return fs::write_existing(path, value);
  ASSIGN_OR_RETURN(UniqueFd fd, fs::open_fd(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return errno_error("write " + path);
  }
  return {};
}

Result<void> write_optional(const Config& config, const std::string& dir, std::string_view file,
                            std::string_view value) {
  if (!config.fake_tree && ::access(join(dir, file).c_str(), F_OK) != 0) return {};
  return write_control(config, dir, file, value);
}

std::uint64_t flat_keyed_value(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ' ') continue;
    std::string_view value = line.substr(key.size() + 1);
    std::uint64_t n = 0;
    std::from_chars(value.data(), value.data() + value.size(), n);
    return n;
  }
  return 0;
}

}  // namespace detail

namespace {

using namespace detail;
const log::Logger kLog("cgroup");
constexpr auto kKillDeadline = std::chrono::seconds(10);

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::vector<pid_t> read_procs(const std::string& dir) {
  std::vector<pid_t> pids;
  auto text = fs::read_file(join(dir, "cgroup.procs"));
  if (!text) return pids;
  std::string_view rest = *text;
  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    pid_t pid = 0;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc() && pid > 0) pids.push_back(pid);
  }
  return pids;
}

// SIGKILLs everything in `paths` until they are empty. The pids limit bounds how fast a fork
// bomb can refill a cgroup, so repeated sweeps converge.
Result<void> kill_paths(const std::vector<std::string>& paths, bool fake) {
  if (fake) return {};  // a fake tree's cgroup.procs lists pids of real, unrelated processes
  for (const auto& dir : paths) {
    if (exists(join(dir, "cgroup.kill"))) (void)fs::write_existing(join(dir, "cgroup.kill"), "1");
  }
  auto deadline = std::chrono::steady_clock::now() + kKillDeadline;
  for (;;) {
    bool any = false;
    for (const auto& dir : paths) {
      for (pid_t pid : read_procs(dir)) {
        any = true;
        ::kill(pid, SIGKILL);
      }
    }
    if (!any) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(EBUSY, "cgroup kill", "processes survive in " + paths.front());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<void> remove_paths(const std::vector<std::string>& paths, bool fake) {
  TRY(kill_paths(paths, fake));
  for (const auto& dir : paths) {
    if (fake) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      if (ec) return make_error(ec.value(), "remove " + dir);
      continue;
    }
    // Exited tasks leave the cgroup asynchronously; EBUSY clears within moments.
    auto deadline = std::chrono::steady_clock::now() + kKillDeadline;
    while (::rmdir(dir.c_str()) != 0) {
      if (errno == ENOENT) break;
      if (errno != EBUSY || std::chrono::steady_clock::now() >= deadline) {
        return errno_error("rmdir " + dir);
      }
      (void)kill_paths({dir}, false);
      // Exiting tasks leave within a fraction of a millisecond; poll finely, this is on the
      // path of every sandbox's exit.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  return {};
}

// Sandbox ids ([A-Za-z0-9][A-Za-z0-9_.-]{0,127}) behind the "nucleus-" prefix are always safe
// cgroup names: no '/', never "." or "..", never a control file name such as "cgroup.procs".
bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 &&
         id.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
             std::string_view::npos;
}

}  // namespace

Result<Version> detect_version(const Config& config) {
  if (config.version) return *config.version;
  std::string controllers_file = join(config.root, "cgroup.controllers");
  if (exists(controllers_file)) {
    ASSIGN_OR_RETURN(std::string controllers, fs::read_file(controllers_file));
    std::string missing;
    for (std::string_view need : {"memory", "cpu", "pids"}) {
      bool found = false;
      std::string_view rest = controllers;
      while (!rest.empty() && !found) {
        std::size_t end = rest.find_first_of(" \n");
        found = rest.substr(0, end) == need;
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
      }
      if (!found) missing += (missing.empty() ? "" : " ") + std::string(need);
    }
    if (!missing.empty()) {
      return fail("cgroup v2", "controllers not available at " + config.root + ": " + missing);
    }
    return Version::kV2;
  }
  if (exists(join(config.root, "memory")) && exists(join(config.root, "pids"))) {
    return Version::kV1;
  }
  return fail("cgroups", "no usable cgroup v2 or v1 hierarchy under " + config.root);
}

Result<Cgroup> Cgroup::create(std::string_view id, const Limits& limits, const Config& config,
                              Journal* journal) {
  if (!valid_id(id)) return fail("cgroup", "invalid sandbox id '" + std::string(id) + "'");
  Cgroup cg;
  cg.config_ = config;
  cg.name_ = "nucleus-" + std::string(id);
  ASSIGN_OR_RETURN(cg.version_, detect_version(config));
  V1Dirs v1;
  if (cg.version_ == Version::kV2) {
    cg.paths_ = {v2_path(config, cg.name_)};
  } else {
    ASSIGN_OR_RETURN(v1, v1_dirs(config, cg.name_, limits));
    cg.paths_ = v1.all();
    cg.v1_memory_dir_ = v1.memory.value_or("");
  }
  cg.journal_ = journal;
  if (journal != nullptr) {
    nlohmann::json attrs = {{"version", cg.version_ == Version::kV2 ? "v2" : "v1"},
                            {"paths", cg.paths_},
                            {"fake", config.fake_tree}};
    TRY(journal->record_create(kJournalKind, cg.name_, attrs));
  }
  cg.live_ = true;  // from here on, the destructor removes whatever exists on failure

  if (cg.version_ == Version::kV2) TRY(v2_enable_controllers(config));
  for (const auto& path : cg.paths_) {
    // The parent normally exists: try the leaf first and walk the tree only when it does not
    // (every syscall here is on the start path of every sandbox).
    if (::mkdir(path.c_str(), 0755) == 0) continue;
    if (errno != ENOENT) return errno_error("mkdir " + path);
    TRY(fs::make_dirs(path.substr(0, path.rfind('/'))));
    if (::mkdir(path.c_str(), 0755) != 0) return errno_error("mkdir " + path);
  }
  if (cg.version_ == Version::kV2) {
    TRY(v2_apply(config, cg.paths_.front(), limits));
  } else {
    TRY(v1_apply(config, v1, limits));
  }
  return cg;
}

Cgroup::Cgroup(Cgroup&& other) noexcept
    : version_(other.version_),
      config_(std::move(other.config_)),
      name_(std::move(other.name_)),
      paths_(std::move(other.paths_)),
      v1_memory_dir_(std::move(other.v1_memory_dir_)),
      journal_(other.journal_),
      live_(std::exchange(other.live_, false)) {}

Cgroup& Cgroup::operator=(Cgroup&& other) noexcept {
  if (this != &other) {
    if (live_) (void)destroy();
    version_ = other.version_;
    config_ = std::move(other.config_);
    name_ = std::move(other.name_);
    paths_ = std::move(other.paths_);
    v1_memory_dir_ = std::move(other.v1_memory_dir_);
    journal_ = other.journal_;
    live_ = std::exchange(other.live_, false);
  }
  return *this;
}

Cgroup::~Cgroup() {
  if (!live_) return;
  if (auto r = destroy(); !r) kLog.warn("cleanup of " + name_ + " failed: " + r.error().message());
}

std::vector<std::string> Cgroup::self_join_files() const {
  std::vector<std::string> files;
  if (version_ != Version::kV1) return files;
  for (const auto& path : paths_) files.push_back(join(path, "tasks"));
  return files;
}

Result<void> Cgroup::add_process(pid_t pid) {
  for (const auto& path : paths_) {
    TRY(write_control(config_, path, "cgroup.procs", std::to_string(pid)));
  }
  return {};
}

Result<bool> Cgroup::oom_killed() const {
  if (version_ == Version::kV2) return v2_oom_killed(paths_.front());
  return v1_oom_killed(v1_memory_dir_);
}

Result<void> Cgroup::kill_all() { return kill_paths(paths_, config_.fake_tree); }

Result<void> Cgroup::destroy() {
  if (!live_) return {};
  TRY(remove_paths(paths_, config_.fake_tree));
  live_ = false;
  if (journal_ != nullptr) TRY(journal_->record_remove(kJournalKind, name_));
  return {};
}

Result<void> undo_journal_entry(const JournalEntry& entry) {
  if (entry.kind != kJournalKind) return fail("cgroup undo", "not a cgroup entry: " + entry.kind);
  if (!entry.attrs.is_object() || !entry.attrs.contains("paths") ||
      !entry.attrs["paths"].is_array()) {
    return fail("cgroup undo", "journal entry " + entry.key + " has no paths");
  }
  std::vector<std::string> paths;
  for (const auto& p : entry.attrs["paths"]) {
    if (!p.is_string()) return fail("cgroup undo", "bad path in " + entry.key);
    std::string path = p.get<std::string>();
    // Only ever remove what this module creates: a directory named after the journal key.
    if (path.substr(path.rfind('/') + 1) != entry.key || !entry.key.starts_with("nucleus-")) {
      return fail("cgroup undo", "refusing to remove " + path);
    }
    paths.push_back(std::move(path));
  }
  bool fake = entry.attrs.value("fake", false);
  return remove_paths(paths, fake);
}

}  // namespace nucleus::cgroup
