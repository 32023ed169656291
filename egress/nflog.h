// Denied-packet reports from the kernel: an NFLOG group of the sandbox netns, read from Asio.
//
// The egress table logs every denied packet (rate-limited in the kernel) to an NFLOG group. NFLOG
// groups are per network namespace, so the socket is created INSIDE the sandbox netns (from a
// short-lived thread, like the DNS proxy's sockets) and then served from the supervisor's loop.
// Only the first bytes of each packet are copied: the IP and transport headers are all we report.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/base/result.h"
#include "core/base/unique_fd.h"
#include "net/ip.h"

namespace asio {
class io_context;
}

namespace nucleus::egress {

struct DeniedPacket {
  net::IpAddress destination;
  uint8_t protocol = 0;  // IPPROTO_*
  uint16_t port = 0;     // destination port for TCP/UDP, ICMP type for ICMP/ICMPv6, else 0
};

// "tcp", "udp", "icmp", "icmpv6" or the number.
[[nodiscard]] std::string protocol_name(uint8_t protocol);

// Parses the network-layer bytes NFLOG copied (starting at the IPv4/IPv6 header).
[[nodiscard]] std::optional<DeniedPacket> parse_denied_packet(std::span<const uint8_t> packet);

// A NETLINK_NETFILTER socket bound to NFLOG `group` in the netns of `netns_fd` (borrowed).
[[nodiscard]] Result<UniqueFd> open_nflog_in_netns(int netns_fd, uint16_t group);

class NflogReader {
 public:
  using Callback = std::function<void(const DeniedPacket&)>;
  // Serves `socket` (from open_nflog_in_netns) on `io`; `on_packet` runs on the io thread.
  [[nodiscard]] static Result<std::unique_ptr<NflogReader>> create(asio::io_context& io,
                                                                   UniqueFd socket,
                                                                   Callback on_packet);
  ~NflogReader();
  NflogReader(const NflogReader&) = delete;
  NflogReader& operator=(const NflogReader&) = delete;

  // Messages the kernel could not queue because the socket buffer was full (ENOBUFS).
  [[nodiscard]] uint64_t overruns() const;

  struct Impl;

 private:
  explicit NflogReader(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace nucleus::egress
