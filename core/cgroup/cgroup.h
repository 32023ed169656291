// Cgroups: resource limits for one sandbox (--memory, --cpus, --cpu-weight, --pids).
//
// Two drivers with the same semantics, picked by detect_version():
//  * v2 (unified): one cgroup <root>/<parent>/nucleus-<id> with memory.max, memory.high (90%),
//    memory.swap.max=0, memory.oom.group=1 (an OOM kills the whole sandbox), cpu.max,
//    cpu.weight, pids.max;
//  * v1 (legacy or hybrid hosts whose cgroup2 mount has no controllers, like Debian with
//    systemd.unified_cgroup_hierarchy=0): one cgroup per hierarchy memory/cpu/pids with
//    memory.limit_in_bytes + memsw (no swap) + soft limit (90%), swappiness 0, cfs quota/period,
//    cpu.shares, pids.max. v1 has no oom.group: the kernel kills one task; the supervisor calls
//    kill_all() when oom_killed() turns true so the outcome matches v2.
//
// Lifecycle (parent side only; nothing here runs in the post-clone child):
//   create()      journals kind "cgroup" (key nucleus-<id>, attrs.paths) BEFORE mkdir;
//   add_process() moves the cloned child in before it is released (so its first instruction is
//                 already accounted and limited);
//   destroy()     kills what is left, removes the directories, journals the removal.
// `nucleus gc` calls undo_journal_entry() for entries of a dead supervisor.
//
// Config::root makes the whole tree relocatable: unit tests point it at a fake tree in a temp
// dir (Config::fake_tree: control files are created on write) and assert file contents.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/journal.h"
#include "core/base/result.h"

namespace nucleus::cgroup {

inline constexpr std::string_view kJournalKind = "cgroup";
inline constexpr std::uint32_t kDefaultPids = 512;

struct Limits {
  std::optional<std::uint64_t> memory_bytes;  // --memory
  std::optional<double> cpus;                 // --cpus, e.g. 1.5
  std::optional<std::uint32_t> cpu_weight;    // --cpu-weight, 1..10000 (v2 scale)
  std::uint32_t pids = kDefaultPids;          // --pids
};

// parse_size (core/base/number.h) plus a floor of 4 MiB: less cannot even exec a shell and only
// produces OOM noise.
[[nodiscard]] Result<std::uint64_t> parse_memory(std::string_view text);
// "1.5", "0.25", "4": at least 0.01 (the kernel's 1 ms minimum quota per 100 ms period).
[[nodiscard]] Result<double> parse_cpus(std::string_view text);
[[nodiscard]] Result<std::uint32_t> parse_cpu_weight(std::string_view text);
[[nodiscard]] Result<std::uint32_t> parse_pids(std::string_view text);

// v1 cpu.shares for a v2 cpu.weight (inverse of runc's shares->weight conversion).
[[nodiscard]] std::uint64_t weight_to_shares(std::uint32_t weight);

enum class Version { kV1, kV2 };

struct Config {
  std::string root = "/sys/fs/cgroup";
  std::string parent;            // below each hierarchy root; empty = top level
  bool fake_tree = false;        // tests: plain files, created on write
  std::optional<Version> version;  // forced driver; otherwise detected
};

// v2 when root is a cgroup2 mount with the memory, cpu and pids controllers; v1 when root holds
// the legacy memory/cpu/pids hierarchies (the hybrid layout's cgroup2 at root/unified is unused).
[[nodiscard]] Result<Version> detect_version(const Config& config);

class Cgroup {
 public:
  // `journal` (may be null) must outlive the Cgroup.
  [[nodiscard]] static Result<Cgroup> create(std::string_view id, const Limits& limits,
                                             const Config& config = {},
                                             Journal* journal = nullptr);
  Cgroup(Cgroup&& other) noexcept;
  Cgroup& operator=(Cgroup&& other) noexcept;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  // Best-effort destroy() if it was not called: a failed start must not leak cgroups.
  ~Cgroup();

  [[nodiscard]] Version version() const { return version_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  // The cgroup directories: one for v2; memory, cpu, pids for v1.
  [[nodiscard]] const std::vector<std::string>& paths() const { return paths_; }

  [[nodiscard]] Result<void> add_process(pid_t pid);
  // v1 only: files a single-threaded process writes "0" to in order to move itself in. Moving
  // oneself by thread skips the kernel's global threadgroup lock, whose synchronize_rcu makes a
  // parent-side cgroup.procs write cost milliseconds per hierarchy. Empty on v2.
  [[nodiscard]] std::vector<std::string> self_join_files() const;
  // True once the kernel OOM-killed something in this cgroup.
  [[nodiscard]] Result<bool> oom_killed() const;
  // SIGKILLs every process in the cgroup(s) and waits until they are gone (bounded).
  [[nodiscard]] Result<void> kill_all();
  // kill_all + rmdir + journal removal. Idempotent.
  [[nodiscard]] Result<void> destroy();

 private:
  Cgroup() = default;
  Version version_ = Version::kV2;
  Config config_;
  std::string name_;
  std::vector<std::string> paths_;
  std::string v1_memory_dir_;  // v1 with a memory limit: where OOM kills are counted
  Journal* journal_ = nullptr;
  bool live_ = false;
};

// Undo for journal kind "cgroup": kills leftovers and removes attrs.paths. Tolerates paths that
// were never created or are already gone.
[[nodiscard]] Result<void> undo_journal_entry(const JournalEntry& entry);

}  // namespace nucleus::cgroup
