#include "egress/nflog.h"

// netinet/in.h must precede the linux/ headers (it suppresses linux/in.h duplicates).
#include <netinet/in.h>
// clang-format off
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <sys/socket.h>
// clang-format on

#include <fcntl.h>

#include <array>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <cstring>
#include <vector>

#include "egress/dns_socket.h"

namespace nucleus::egress {
namespace {

// Enough for an IPv6 header (40) plus the start of any transport header.
constexpr uint32_t kCopyRange = 96;
constexpr uint16_t kPacketType = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
constexpr uint16_t kConfigType = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;

uint16_t read_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// One NFULNL_MSG_CONFIG request with a single attribute, acknowledged synchronously.
Result<void> configure(int fd, uint32_t seq, uint16_t group, uint16_t attr, const void* data,
                       size_t len) {
  std::array<char, 256> buf{};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = kConfigType;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(group);
  mnl_attr_put(nlh, attr, len, data);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, nlh, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return errno_error("nflog", "send config");
  std::array<char, 1024> reply{};
  ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
  if (n < 0) return errno_error("nflog", "config ack");
  if (mnl_cb_run(reply.data(), static_cast<size_t>(n), seq, 0, nullptr, nullptr) < 0)
    return errno_error("nflog", "bind group " + std::to_string(group));
  return {};
}

Result<UniqueFd> open_nflog(uint16_t group) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  if (!fd) return errno_error("nflog", "socket");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
    return errno_error("nflog", "bind");
  // Acks must not block forever if the kernel lacks nfnetlink_log.
  timeval tv{2, 0};
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return errno_error("nflog", "SO_RCVTIMEO");
  int rcvbuf = 1 << 20;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

  nfulnl_msg_config_cmd cmd{NFULNL_CFG_CMD_BIND};
  TRY(configure(fd.get(), 1, group, NFULA_CFG_CMD, &cmd, sizeof cmd));
  nfulnl_msg_config_mode mode{};
  mode.copy_range = htonl(kCopyRange);
  mode.copy_mode = NFULNL_COPY_PACKET;
  TRY(configure(fd.get(), 2, group, NFULA_CFG_MODE, &mode, sizeof mode));
  // The default queue threshold batches up to 100 packets for a second; report each at once.
  uint32_t qthresh = htonl(1);
  TRY(configure(fd.get(), 3, group, NFULA_CFG_QTHRESH, &qthresh, sizeof qthresh));

  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0)
    return errno_error("nflog", "O_NONBLOCK");
  return fd;
}

int payload_attr(const nlattr* attr, void* data) {
  if (mnl_attr_get_type(attr) == NFULA_PAYLOAD) *static_cast<const nlattr**>(data) = attr;
  return MNL_CB_OK;
}

}  // namespace

std::string protocol_name(uint8_t protocol) {
  switch (protocol) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    case IPPROTO_SCTP:
      return "sctp";
    default:
      return std::to_string(protocol);
  }
}

std::optional<DeniedPacket> parse_denied_packet(std::span<const uint8_t> p) {
  if (p.empty()) return std::nullopt;
  DeniedPacket out;
  size_t l4 = 0;
  const int version = p[0] >> 4;
  if (version == 4) {
    if (p.size() < 20) return std::nullopt;
    l4 = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (l4 < 20) return std::nullopt;
    out.protocol = p[9];
    out.destination.family = AF_INET;
    std::memcpy(out.destination.bytes.data(), p.data() + 16, 4);
  } else if (version == 6) {
    if (p.size() < 40) return std::nullopt;
    l4 = 40;
    out.protocol = p[6];
    // Follow the common extension headers (hop-by-hop, routing, destination options; a fragment
    // header ends the walk) to the transport header.
    for (int hops = 0; hops < 4; ++hops) {
      const uint8_t next = out.protocol;
      if (next != 0 && next != 43 && next != 60) break;
      if (p.size() < l4 + 2) break;
      out.protocol = p[l4];
      l4 += (static_cast<size_t>(p[l4 + 1]) + 1) * 8;
    }
    out.destination.family = AF_INET6;
    std::memcpy(out.destination.bytes.data(), p.data() + 24, 16);
  } else {
    return std::nullopt;
  }
  const bool ports =
      out.protocol == IPPROTO_TCP || out.protocol == IPPROTO_UDP || out.protocol == IPPROTO_SCTP;
  const bool icmp = out.protocol == IPPROTO_ICMP || out.protocol == IPPROTO_ICMPV6;
  if (ports && p.size() >= l4 + 4) out.port = read_be16(p.data() + l4 + 2);
  if (icmp && p.size() > l4) out.port = p[l4];
  return out;
}

Result<UniqueFd> open_nflog_in_netns(int netns_fd, uint16_t group) {
  UniqueFd fd;
  TRY(run_in_netns(netns_fd, [&]() -> Result<void> {
    ASSIGN_OR_RETURN(fd, open_nflog(group));
    return {};
  }));
  return fd;
}

struct NflogReader::Impl : std::enable_shared_from_this<NflogReader::Impl> {
  Impl(asio::io_context& io, int fd, Callback cb) : socket(io, fd), on_packet(std::move(cb)) {}
  asio::posix::stream_descriptor socket;
  Callback on_packet;
  std::atomic<uint64_t> overruns{0};
  std::vector<char> buf = std::vector<char>(64 * 1024);

  void wait() {
    socket.async_wait(asio::posix::stream_descriptor::wait_read,
                      [weak = weak_from_this()](const std::error_code& ec) {
                        auto self = weak.lock();
                        if (ec || !self) return;
                        self->drain();
                        self->wait();
                      });
  }

  void drain() {
    for (;;) {
      ssize_t n = ::recv(socket.native_handle(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) {  // the kernel dropped reports; carry on with the next ones
          ++overruns;
          continue;
        }
        return;  // EAGAIN (or a dead socket: the next wait reports it)
      }
      int len = static_cast<int>(n);
      for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
           nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_type != kPacketType) continue;
        const nlattr* payload = nullptr;
        if (mnl_attr_parse(nlh, sizeof(nfgenmsg), payload_attr, &payload) < 0 || !payload) continue;
        auto* data = static_cast<const uint8_t*>(mnl_attr_get_payload(payload));
        auto packet = parse_denied_packet({data, mnl_attr_get_payload_len(payload)});
        if (packet && on_packet) on_packet(*packet);
      }
    }
  }
};

Result<std::unique_ptr<NflogReader>> NflogReader::create(asio::io_context& io, UniqueFd socket,
                                                         Callback on_packet) {
  if (!socket) return make_error(EBADF, "nflog", "no socket");
  auto impl = std::make_shared<Impl>(io, socket.get(), std::move(on_packet));
  (void)socket.release();  // owned by the stream_descriptor now
  asio::post(io, [weak = std::weak_ptr<Impl>(impl)] {
    if (auto self = weak.lock()) self->wait();
  });
  return std::unique_ptr<NflogReader>(new NflogReader(std::move(impl)));
}

NflogReader::~NflogReader() {
  std::error_code ec;
  impl_->socket.cancel(ec);
  impl_->socket.close(ec);
}

uint64_t NflogReader::overruns() const { return impl_->overruns.load(); }

}  // namespace nucleus::egress
