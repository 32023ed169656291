// Owners of host-side reservations (IP addresses, sysctl references): a process identified by pid
// AND its start time, because pids are recycled. A record whose pid is gone, or whose pid now
// belongs to a process with another start time, was left by a crashed run and may be reclaimed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/result.h"

namespace nucleus::net {

struct Owner {
  std::string id;           // sandbox id: what release/undo matches on
  pid_t pid = 0;
  uint64_t start_time = 0;  // /proc/PID/stat field 22 (clock ticks since boot)

  // The calling process as owner of `id`.
  [[nodiscard]] static Result<Owner> self(std::string id);
  [[nodiscard]] bool alive() const;

  [[nodiscard]] nlohmann::json to_json() const;
  // Missing fields give pid 0, which is never alive.
  [[nodiscard]] static Owner from_json(const nlohmann::json& j);
};

// Typed lookups in state/journal JSON that never throw: a wrong type or missing key gives the
// default (state files may be damaged; the kernel layer does not let exceptions escape).
[[nodiscard]] std::string json_string(const nlohmann::json& j, const char* key);
[[nodiscard]] uint64_t json_uint(const nlohmann::json& j, const char* key);

// Field 22 of /proc/PID/stat; errors when the process does not exist.
[[nodiscard]] Result<uint64_t> process_start_time(pid_t pid);

}  // namespace nucleus::net
