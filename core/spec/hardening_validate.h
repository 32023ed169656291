// Validation of the hardening flags and the service-mode rules (UPSTREAM.md's mode table).
//
// Every rule of the table lives here, in one place, and is checked before anything is created:
// a violation is an error naming the flag and the mode, never a silent downgrade.
#pragma once

#include <vector>

#include "core/spec/spec.h"
#include "core/spec/validate.h"

namespace nucleus {

// Fills out.mode, limits, seccomp, caps, landlock, secrets and the mode switches.
[[nodiscard]] std::vector<ValidationError> validate_hardening(const SandboxSpec& in,
                                                              ValidSpec& out, uid_t euid);

[[nodiscard]] const char* mode_name(ServiceMode mode);

}  // namespace nucleus
