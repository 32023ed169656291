// Published-port specs: the values of `-p/--publish`.
//
// Grammar (one flag value):  [HOST_IP:]HOST_PORT[-END]:CTR_PORT[-END][/tcp|/udp]
//   8080:80            every host address, tcp
//   127.0.0.1:8053:53/udp
//   [::1]:8080:80      IPv6 host addresses go in brackets
//   8000-8010:9000-9010  ranges of equal length, expanded one mapping per port
// Parsing is pure (no kernel access) so it can run before anything is created; whether a host port
// is actually free is checked later by the backend (net/kernel/port_check.h).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "net/backend.h"

namespace nucleus::net {

// Parses one -p value into its expanded mappings. Errors name the value and the problem.
[[nodiscard]] Result<std::vector<PortMapping>> parse_port_spec(std::string_view spec);

// Parses every -p value and rejects a host (address, port, protocol) published twice, counting a
// wildcard host address (none given, 0.0.0.0 or ::) as overlapping every address of its family.
[[nodiscard]] Result<std::vector<PortMapping>> parse_port_specs(std::span<const std::string> specs);

// True when two mappings compete for the same host socket: same protocol and host port, and the
// same host address or a wildcard of the same family (or no address) on either side.
[[nodiscard]] bool overlaps(const PortMapping& a, const PortMapping& b);

// "127.0.0.1:8080->80/tcp", for messages and logs.
[[nodiscard]] std::string to_string(const PortMapping& mapping);

}  // namespace nucleus::net
