// Validation of the networking flags (--network, --publish, --dns, --bridge, --subnet, ...).
#pragma once

#include <vector>

#include "core/spec/spec.h"
#include "core/spec/validate.h"

namespace nucleus {

// Fills out.network, out.nat_backend and out.net from `in`; returns the problems found.
[[nodiscard]] std::vector<ValidationError> validate_network(const SandboxSpec& in, ValidSpec& out,
                                                           uid_t euid);

// Linux interface names: 1-15 bytes, no '/', ':' or whitespace, not "." or "..".
[[nodiscard]] bool valid_interface_name(const std::string& name);

}  // namespace nucleus
