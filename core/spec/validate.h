// validate(): the one gate between user input and the kernel.
#pragma once

#include <string>
#include <vector>

#include "core/spec/spec.h"

namespace nucleus {

// One problem, already phrased for the user: "--volume /a:b: destination must be absolute".
struct ValidationError {
  std::string flag;
  std::string problem;
  [[nodiscard]] std::string message() const { return flag + ": " + problem; }
};

struct Validated {
  std::optional<ValidSpec> spec;
  std::vector<ValidationError> errors;
};

// Checks everything that can be checked without creating anything: syntax, paths exist,
// conflicts. `euid` decides rootless mode; `environ_lookup` resolves `-e K` (tests inject it).
[[nodiscard]] Validated validate(const SandboxSpec& spec, uid_t euid);

// Sandbox ids and names: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}. Returns the problem, or empty.
[[nodiscard]] std::string check_id(const std::string& id);

// The default state root: NUCLEUS_STATE_DIR, else /run/nucleus for root, else
// $XDG_RUNTIME_DIR/nucleus, else /tmp/nucleus-UID.
[[nodiscard]] std::string default_state_root(uid_t euid);

}  // namespace nucleus
