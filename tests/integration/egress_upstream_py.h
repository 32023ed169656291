// The upstream services the egress tests probe, run by Python in the upstream namespace:
//  - tcp 80 and 8080 on every address, IPv4 and IPv6 (each connection gets "hi");
//  - udp echo on 203.0.113.10:9 and 203.0.113.11:9;
//  - udp echo on port 53 of 203.0.113.12 and 203.0.113.13 (stand-ins for two resolvers).
// Every probed address has a listener, so a "refused" a test sees comes from the policy, never
// from a missing server. UDP sockets are bound per address: a wildcard socket would answer from
// the uplink's address.
#pragma once

namespace nucleus::testing {

inline constexpr const char* kEgressUpstreamPy = R"PY(import socket, threading
def tcp(port):
    s = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    while True:
        c, a = s.accept()
        c.sendall(b"hi")
        c.close()
def udp(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        d, a = s.recvfrom(100)
        s.sendto(d, a)
for p in (80, 8080): threading.Thread(target=tcp, args=(p,)).start()
for a, p in (("203.0.113.10", 9), ("203.0.113.11", 9), ("203.0.113.12", 53)):
    threading.Thread(target=udp, args=(a, p)).start()
udp("203.0.113.13", 53)
)PY";

}  // namespace nucleus::testing
