#include "core/egress/egress_cli.h"

namespace nucleus {

void add_egress_flags(CLI::App& run, EgressFlags& flags) { (void)run; (void)flags; }

}  // namespace nucleus
