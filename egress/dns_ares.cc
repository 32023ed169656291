#include "egress/dns_ares.h"

#include <ares.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "core/base/log.h"

namespace nucleus::egress {
namespace {

constexpr log::Logger kLog("dns");

// Sockets born CLOEXEC and non-blocking: nothing may leak into the workload across a fork+exec,
// and c-ares skips its own fcntl() setup for user-provided sockets.
ares_socket_t open_socket(int domain, int type, int protocol, void* /*user*/) {
  return ::socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
}
int close_socket(ares_socket_t fd, void* /*user*/) { return ::close(fd); }
int connect_socket(ares_socket_t fd, const struct sockaddr* addr, ares_socklen_t len,
                   void* /*user*/) {
  return ::connect(fd, addr, len);
}
ares_ssize_t recvfrom_socket(ares_socket_t fd, void* buf, size_t len, int flags,
                             struct sockaddr* from, ares_socklen_t* from_len, void* /*user*/) {
  return ::recvfrom(fd, buf, len, flags, from, from_len);
}
ares_ssize_t sendv_socket(ares_socket_t fd, const struct iovec* iov, int count, void* /*user*/) {
  return ::writev(fd, iov, count);
}
constexpr ares_socket_functions kSocketFunctions = {open_socket, close_socket, connect_socket,
                                                    recvfrom_socket, sendv_socket};

struct Watcher {
  explicit Watcher(asio::io_context& io) : descriptor(io) {}
  asio::posix::stream_descriptor descriptor;
  bool want_read = false, want_write = false;
  bool reading = false, writing = false;
  bool closed = false;  // c-ares closed the fd; late handlers must not touch it
};

}  // namespace

struct AresChannel::State : std::enable_shared_from_this<AresChannel::State> {
  explicit State(asio::io_context& io_) : io(io_), timer(io_) {}
  asio::io_context& io;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  std::unordered_map<int, std::shared_ptr<Watcher>> watchers;

  void schedule_timer() {
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) == nullptr) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
    timer.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      self->schedule_timer();
    });
  }

  void arm(int fd, const std::shared_ptr<Watcher>& w) {
    auto weak = weak_from_this();
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                               [weak, w, fd](const std::error_code& ec) {
                                 w->reading = false;
                                 auto self = weak.lock();
                                 if (ec || w->closed || !self) return;
                                 ares_process_fd(self->channel, fd, ARES_SOCKET_BAD);
                                 if (!w->closed) self->arm(fd, w);
                                 self->schedule_timer();
                               });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                               [weak, w, fd](const std::error_code& ec) {
                                 w->writing = false;
                                 auto self = weak.lock();
                                 if (ec || w->closed || !self) return;
                                 ares_process_fd(self->channel, ARES_SOCKET_BAD, fd);
                                 if (!w->closed) self->arm(fd, w);
                                 self->schedule_timer();
                               });
    }
  }

  void forget(int fd) {
    auto it = watchers.find(fd);
    if (it == watchers.end()) return;
    it->second->closed = true;
    // release(): stop watching without closing, c-ares owns and closes the fd.
    (void)it->second->descriptor.release();
    watchers.erase(it);
  }

  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<State*>(data);
    if (!readable && !writable) {
      self->forget(fd);
      return;
    }
    auto& w = self->watchers[fd];
    if (!w) {
      w = std::make_shared<Watcher>(self->io);
      std::error_code ec;
      w->descriptor.assign(fd, ec);
      if (ec) {
        kLog.error("cannot watch resolver socket: " + ec.message());
        self->watchers.erase(fd);
        return;
      }
    }
    w->want_read = readable != 0;
    w->want_write = writable != 0;
    self->arm(fd, w);
  }
};

namespace {

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<AresChannel::Callback> callback(static_cast<AresChannel::Callback*>(arg));
  if (status == ARES_EDESTRUCTION) return;
  std::span<const uint8_t> answer;
  if (status == ARES_SUCCESS && abuf != nullptr && alen > 0)
    answer = {abuf, static_cast<size_t>(alen)};
  // c-ares is C: an exception must not unwind through it.
  try {
    (*callback)(status, answer);
  } catch (const std::exception& e) {
    kLog.error(std::string("dns answer handler failed: ") + e.what());
  } catch (...) {
    kLog.error("dns answer handler failed");
  }
}

int library_init() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  return status;
}

}  // namespace

std::string ares_status_text(int status) { return ares_strerror(status); }

Result<std::unique_ptr<AresChannel>> AresChannel::create(asio::io_context& io,
                                                         const AresOptions& options) {
  if (options.servers.empty()) return fail("dns upstream", "no resolver configured");
  if (int rc = library_init(); rc != ARES_SUCCESS) return fail("c-ares init", ares_strerror(rc));
  auto state = std::make_shared<State>(io);

  ares_options opts{};
  opts.timeout = static_cast<int>(options.timeout.count());
  opts.tries = options.tries;
  opts.sock_state_cb = &State::on_socket_state;
  opts.sock_state_cb_data = state.get();
  opts.flags = ARES_FLAG_NOSEARCH;
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
  if (int rc = ares_init_options(&state->channel, &opts, mask); rc != ARES_SUCCESS)
    return fail("c-ares init", ares_strerror(rc));
  ares_set_socket_functions(state->channel, &kSocketFunctions, nullptr);

  std::vector<ares_addr_port_node> nodes(options.servers.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const UpstreamServer& s = options.servers[i];
    ares_addr_port_node& n = nodes[i];
    n.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    n.family = s.address.family;
    if (s.address.is_v4())
      std::memcpy(&n.addr.addr4, s.address.bytes.data(), 4);
    else
      std::memcpy(&n.addr.addr6, s.address.bytes.data(), 16);
    n.udp_port = s.port;
    n.tcp_port = s.port;
  }
  if (int rc = ares_set_servers_ports(state->channel, nodes.data()); rc != ARES_SUCCESS) {
    ares_destroy(state->channel);
    return fail("dns upstream", ares_strerror(rc));
  }
  return std::unique_ptr<AresChannel>(new AresChannel(std::move(state)));
}

AresChannel::~AresChannel() {
  // ares_destroy() completes pending queries with ARES_EDESTRUCTION (dropped by on_answer) and
  // reports each socket closed through on_socket_state, which releases its watcher.
  ares_destroy(state_->channel);
  state_->channel = nullptr;
  for (auto& [fd, w] : state_->watchers) {
    w->closed = true;
    (void)w->descriptor.release();
  }
  state_->watchers.clear();
  state_->timer.cancel();
}

void AresChannel::send(std::span<const uint8_t> query, Callback callback) {
  ares_send(state_->channel, query.data(), static_cast<int>(query.size()), on_answer,
            new Callback(std::move(callback)));
  state_->schedule_timer();
}

void AresChannel::query(const std::string& name, int type, Callback callback) {
  ares_query(state_->channel, name.c_str(), 1 /* C_IN */, type, on_answer,
             new Callback(std::move(callback)));
  state_->schedule_timer();
}

}  // namespace nucleus::egress
