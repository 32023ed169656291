// `nucleus run`: the whole life of one sandbox, from a validated spec to the workload's status.
#pragma once

#include "core/spec/spec.h"

namespace nucleus {

// Returns the process exit status: the workload's, or 125 when nucleus failed (126/127 when the
// command could not be executed / found).
[[nodiscard]] int run_sandbox(const ValidSpec& spec);

}  // namespace nucleus
