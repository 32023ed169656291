// A cache of compiled seccomp programs, so that starting a sandbox does not pay libseccomp's
// compile (2-6 ms here) every time.
//
// The key is a SHA-256 over everything the program depends on: this binary's GNU build-id (any
// rebuild of nucleus invalidates every entry), libseccomp's version, and the options. Entries
// live in a directory only the caller can write (the state root's cache/, on tmpfs for root),
// are written atomically, and are only trusted when owned by us and not writable by others.
// Options with a --seccomp-profile are not cached (the profile's text is not part of the key).
#pragma once

#include <string>

#include "core/base/result.h"
#include "core/security/seccomp.h"

namespace nucleus::security {

// build_seccomp(options), served from / stored in `cache_dir` when possible. A cache that cannot
// be read or written never fails the build: it only costs the compile.
[[nodiscard]] Result<SeccompProgram> build_seccomp_cached(const SeccompOptions& options,
                                                          const std::string& cache_dir);

}  // namespace nucleus::security
