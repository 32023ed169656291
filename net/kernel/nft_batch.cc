#include "net/kernel/nft_batch.h"

#include <libnftnl/common.h>
#include <linux/membarrier.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>

#include "core/base/detached.h"
#include "core/base/netns.h"

namespace nucleus::net::nft {
namespace {

// Room reserved per message. Set-element messages are cut by libnftnl when their nested element
// list would overflow the u16 attribute length (64 KiB), so one message never exceeds ~64 KiB plus
// one element; everything else is far smaller.
constexpr size_t kMaxMessage = 96 * 1024;
constexpr size_t kRecvBuffer = 64 * 1024;

// Pulls NLMSGERR_ATTR_MSG (the kernel's extended-ack text) out of an error message, if any.
std::string extack_message(const nlmsghdr* nlh) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  size_t offset = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  std::string text;
  mnl_attr_parse(
      nlh, static_cast<unsigned>(offset),
      [](const nlattr* attr, void* data) -> int {
        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
          *static_cast<std::string*>(data) = mnl_attr_get_str(attr);
        }
        return MNL_CB_OK;
      },
      &text);
  return text;
}

}  // namespace

Result<NftSocket> NftSocket::open() {
  NftSocket s;
  s.sock_.reset(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  if (!s.sock_) return errno_error("nft socket");
  if (mnl_socket_bind(s.sock_.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return errno_error("nft socket bind");
  }
  // CAP_ACK: error replies carry only the offending header, not a copy of a possibly 64 KiB
  // message; EXT_ACK: the kernel may explain why it refused a message.
  int one = 1;
  mnl_socket_setsockopt(s.sock_.get(), NETLINK_CAP_ACK, &one, sizeof(one));
  mnl_socket_setsockopt(s.sock_.get(), NETLINK_EXT_ACK, &one, sizeof(one));
  return s;
}

namespace {
// The detached child's part of close_in_background(): one RCU grace period, then its exit
// closes the socket.
void wait_grace_period(void*) { ::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0U, 0); }
}  // namespace

void NftSocket::close_in_background() noexcept {
  if (!sock_) return;
  const int fd = mnl_socket_get_fd(sock_.get());
  // The child's copy of the socket is the last reference once ours goes (if the child could not
  // be started, ours is, and this close waits, which is only slower).
  (void)run_detached(std::span<const int>(&fd, 1), wait_grace_period, nullptr);
  sock_.reset();
}

Result<NftSocket> NftSocket::open_in(int netns_fd) {
  // The socket stays bound to the namespace it was made in.
  return run_in_netns(netns_fd, [] { return open(); });
}

uint32_t NftSocket::portid() const { return sock_ ? mnl_socket_get_portid(sock_.get()) : 0; }

Result<void> NftSocket::ensure_sndbuf(size_t bytes) {
  // The whole batch must reach the kernel in one sendmsg (that is what makes it atomic), so the
  // send buffer must hold it. SO_SNDBUFFORCE (root) ignores wmem_max; SO_SNDBUF is the fallback.
  if (bytes + 4096 <= std::max<size_t>(sndbuf_, 200 * 1024)) return {};
  int size = static_cast<int>(bytes + 4096);
  int fd = mnl_socket_get_fd(sock_.get());
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0) {
    return errno_error("nft socket SO_SNDBUF");
  }
  sndbuf_ = bytes + 4096;
  return {};
}

Result<void> NftSocket::commit(Batch& batch) {
  if (!sock_) return make_error(EBADF, "nft commit", "socket closed");
  if (batch.empty()) return {};
  TRY(ensure_sndbuf(batch.used_ + 2 * 64));

  // Sequence numbers: begin, each message, end. Each message's seq is patched in place so the
  // batch can be built before the socket's counter is known.
  const uint32_t begin_seq = seq_;
  seq_ += static_cast<uint32_t>(batch.size()) + 2;
  std::map<uint32_t, std::string_view> label_of;
  label_of[begin_seq] = "batch";
  size_t offset = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto* nlh = reinterpret_cast<nlmsghdr*>(batch.buf_.data() + offset);
    nlh->nlmsg_seq = begin_seq + 1 + static_cast<uint32_t>(i);
    label_of[nlh->nlmsg_seq] = batch.labels_[i];
    offset += NLMSG_ALIGN(nlh->nlmsg_len);
  }
  const uint32_t end_seq = begin_seq + static_cast<uint32_t>(batch.size()) + 1;
  label_of[end_seq] = "batch";

  alignas(nlmsghdr) std::array<char, 64> begin{};
  alignas(nlmsghdr) std::array<char, 64> end{};
  nlmsghdr* b = nftnl_batch_begin(begin.data(), begin_seq);
  nlmsghdr* e = nftnl_batch_end(end.data(), end_seq);
  std::array<iovec, 3> iov{{{b, b->nlmsg_len}, {batch.buf_.data(), batch.used_}, {e, e->nlmsg_len}}};
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof(kernel);
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  int fd = mnl_socket_get_fd(sock_.get());
  if (sendmsg(fd, &msg, 0) < 0) return errno_error("nft batch send");

  // Every message carries NLM_F_ACK, so success means one zero ACK per message. nfnetlink
  // processes the batch synchronously inside sendmsg, so once an error is seen the rest of the
  // replies are already queued and can be drained without blocking.
  size_t acked = 0;
  std::optional<Error> first_error;
  std::vector<char> buf(kRecvBuffer);
  while (acked < batch.size()) {
    ssize_t n = recv(fd, buf.data(), buf.size(), first_error ? MSG_DONTWAIT : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (first_error && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return errno_error("nft batch receive");
    }
    auto len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_seq < begin_seq || nlh->nlmsg_seq > end_seq) continue;  // stale reply
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error == 0) {
        ++acked;
        continue;
      }
      if (!first_error) {
        auto it = label_of.find(nlh->nlmsg_seq);
        std::string label = it == label_of.end() ? "batch" : std::string(it->second);
        first_error = Error{-err->error, "nft " + label, extack_message(nlh)};
      }
    }
  }
  if (first_error) return std::unexpected(*first_error);
  return {};
}

Result<void> NftSocket::dump(const std::function<nlmsghdr*(char* buf, uint32_t seq)>& build,
                             const std::function<bool(const nlmsghdr*)>& on_message) {
  if (!sock_) return make_error(EBADF, "nft dump", "socket closed");
  std::vector<char> buf(kRecvBuffer);
  const uint32_t seq = seq_++;
  nlmsghdr* req = build(buf.data(), seq);
  if (mnl_socket_sendto(sock_.get(), req, req->nlmsg_len) < 0) return errno_error("nft dump send");
  struct Ctx {
    const std::function<bool(const nlmsghdr*)>* fn;
    bool stopped = false;
  } ctx{&on_message};
  const uint32_t portid = mnl_socket_get_portid(sock_.get());
  while (true) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("nft dump receive");
    }
    int ret = mnl_cb_run(
        buf.data(), static_cast<size_t>(n), seq, portid,
        [](const nlmsghdr* nlh, void* data) -> int {
          auto* c = static_cast<Ctx*>(data);
          if (!c->stopped && !(*c->fn)(nlh)) c->stopped = true;
          return MNL_CB_OK;
        },
        &ctx);
    if (ret < 0) return errno_error("nft dump");
    if (ret == MNL_CB_STOP) return {};
  }
}

char* Batch::reserve(size_t bytes) {
  if (buf_.size() < used_ + bytes) buf_.resize(std::max(buf_.size() * 2, used_ + bytes));
  return buf_.data() + used_;
}

void Batch::finish(const nlmsghdr* nlh, std::string label) {
  used_ += NLMSG_ALIGN(nlh->nlmsg_len);
  labels_.push_back(std::move(label));
}

void Batch::add(const nftnl_table* t, uint16_t msg_type, uint16_t nlflags, std::string label) {
  auto family = static_cast<uint16_t>(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY));
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(kMaxMessage), msg_type, family,
                                        nlflags | NLM_F_ACK, 0);
  nftnl_table_nlmsg_build_payload(nlh, t);
  finish(nlh, std::move(label));
}

void Batch::add(const nftnl_chain* c, uint16_t msg_type, uint16_t nlflags, std::string label) {
  auto family = static_cast<uint16_t>(nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY));
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(kMaxMessage), msg_type, family,
                                        nlflags | NLM_F_ACK, 0);
  nftnl_chain_nlmsg_build_payload(nlh, c);
  finish(nlh, std::move(label));
}

void Batch::add(nftnl_rule* r, uint16_t msg_type, uint16_t nlflags, std::string label) {
  auto family = static_cast<uint16_t>(nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY));
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(kMaxMessage), msg_type, family,
                                        nlflags | NLM_F_ACK, 0);
  nftnl_rule_nlmsg_build_payload(nlh, r);
  finish(nlh, std::move(label));
}

void Batch::add(nftnl_set* s, uint16_t msg_type, uint16_t nlflags, std::string label) {
  auto family = static_cast<uint16_t>(nftnl_set_get_u32(s, NFTNL_SET_FAMILY));
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(kMaxMessage), msg_type, family,
                                        nlflags | NLM_F_ACK, 0);
  nftnl_set_nlmsg_build_payload(nlh, s);
  finish(nlh, std::move(label));
}

void Batch::add(nftnl_obj* o, uint16_t msg_type, uint16_t nlflags, std::string label) {
  auto family = static_cast<uint16_t>(nftnl_obj_get_u32(o, NFTNL_OBJ_FAMILY));
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(kMaxMessage), msg_type, family,
                                        nlflags | NLM_F_ACK, 0);
  nftnl_obj_nlmsg_build_payload(nlh, o);
  finish(nlh, std::move(label));
}

void Batch::add_elems(nftnl_set* s, uint16_t msg_type, uint16_t nlflags, std::string label) {
  auto family = static_cast<uint16_t>(nftnl_set_get_u32(s, NFTNL_SET_FAMILY));
  nftnl_set_elems_iter* iter = nftnl_set_elems_iter_create(s);
  if (iter == nullptr) return;
  // The iterator stops (returns 1) when the next element would overflow the nested attribute;
  // each round becomes its own message inside the same atomic batch.
  while (true) {
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(kMaxMessage), msg_type, family,
                                          nlflags | NLM_F_ACK, 0);
    int more = nftnl_set_elems_nlmsg_build_payload_iter(nlh, iter);
    finish(nlh, label);
    if (more <= 0) break;
  }
  nftnl_set_elems_iter_destroy(iter);
}

TablePtr make_table(uint32_t family, std::string_view name, uint32_t flags) {
  TablePtr t(nftnl_table_alloc());
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, family);
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, std::string(name).c_str());
  if (flags != 0) nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, flags);
  return t;
}

ChainPtr make_chain(uint32_t family, std::string_view table, std::string_view name,
                    const BaseChain* base) {
  ChainPtr c(nftnl_chain_alloc());
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, family);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, std::string(table).c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, std::string(name).c_str());
  if (base != nullptr) {
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, base->type);
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, base->hook);
    nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, base->priority);
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, base->policy);
  }
  return c;
}

}  // namespace nucleus::net::nft
