// The hand-off from DNS answers to enforcement: the runtime wires this to the nft allow set.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/base/result.h"
#include "net/ip.h"

namespace nucleus::egress {

// Called on the io_context thread with addresses a policy-allowed name resolved to and how long
// they stay allowed (already raised to the TTL floor). The DNS proxy holds the answer until this
// returns; an error turns the answer into SERVFAIL.
using AddressCallback =
    std::function<Result<void>(const std::vector<net::IpAddress>& addresses, uint32_t ttl_seconds)>;

}  // namespace nucleus::egress
