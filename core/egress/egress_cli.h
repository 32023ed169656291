// The egress flags of `nucleus run`.
#pragma once

#include <CLI/CLI.hpp>

#include "core/egress/egress_flags.h"

namespace nucleus {

void add_egress_flags(CLI::App& run, EgressFlags& flags);

}  // namespace nucleus
