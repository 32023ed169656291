// Work the kernel makes us wait for after the result is already visible, handed to a short-lived
// child process so that nucleus itself does not wait.
//
// Some kernel operations finish in two parts: the visible one (a table or a link is gone) and
// the kernel's own clean-up behind it (RCU grace periods: 10-17 ms for an nftables socket, 12-28
// ms for a deleted link on the development VM), which the calling process sits through. A
// detached child takes that second part: it is a fork (a private copy of memory), runs `body`,
// and exits. Nobody waits for it (no exit signal): it stays a zombie until nucleus exits and init
// reaps it, which suits a one-shot `nucleus run`.
#pragma once

#include <span>

namespace nucleus {

// Starts the child: every file descriptor but `keep` is closed in it first, then body(arg) runs
// and the child exits. body must be async-signal-safe (raw system calls, no allocation, no
// locks): another thread may have held a libc lock at the fork. Returns false if the child could
// not be started or `keep` is invalid (negative, more than 8); the caller then does the work
// itself.
[[nodiscard]] bool run_detached(std::span<const int> keep, void (*body)(void*), void* arg) noexcept;

}  // namespace nucleus
