// A c-ares channel driven by an Asio io_context (the approach of Seastar's src/net/dns.cc).
//
// c-ares reports which sockets it wants watched through ARES_OPT_SOCK_STATE_CB; each one gets an
// asio::posix::stream_descriptor that waits for readiness and calls ares_process_fd(), and one
// steady_timer follows ares_timeout() for retransmissions. Sockets are created by our own socket
// function so they are CLOEXEC and non-blocking from birth (no window before an fcntl).
// Everything runs on the io_context's thread; the channel is not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "net/ip.h"

namespace asio {
class io_context;
}

namespace nucleus::egress {

struct UpstreamServer {
  net::IpAddress address;
  uint16_t port = 53;
};

struct AresOptions {
  std::vector<UpstreamServer> servers;      // required: c-ares never falls back to resolv.conf here
  std::chrono::milliseconds timeout{2000};  // first try; c-ares backs off on retries
  int tries = 2;
};

class AresChannel {
 public:
  // `status` is an ARES_* code; `answer` is empty unless status == ARES_SUCCESS. Never called
  // after the channel is destroyed (pending queries are dropped silently).
  using Callback = std::function<void(int status, std::span<const uint8_t> answer)>;

  [[nodiscard]] static Result<std::unique_ptr<AresChannel>> create(asio::io_context& io,
                                                                   const AresOptions& options);
  ~AresChannel();
  AresChannel(const AresChannel&) = delete;
  AresChannel& operator=(const AresChannel&) = delete;

  // Sends a raw query (c-ares picks a fresh id; the caller restores its own in the answer).
  void send(std::span<const uint8_t> query, Callback callback);
  // Queries class IN `type` for `name`.
  void query(const std::string& name, int type, Callback callback);

  struct State;

 private:
  explicit AresChannel(std::shared_ptr<State> state) : state_(std::move(state)) {}
  // Shared so that late Asio handlers can tell (through a weak_ptr) that the channel is gone.
  std::shared_ptr<State> state_;
};

[[nodiscard]] std::string ares_status_text(int status);

}  // namespace nucleus::egress
