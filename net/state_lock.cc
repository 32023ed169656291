#include "net/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include "core/base/fs.h"

namespace nucleus::net {

Result<StateLock> StateLock::acquire(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) TRY(fs::make_dirs(path.substr(0, slash), 0700));
  ASSIGN_OR_RETURN(UniqueFd fd, fs::open_fd(path, O_RDWR | O_CREAT, 0600));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return errno_error("lock " + path);
  }
  return StateLock(std::move(fd));
}

}  // namespace nucleus::net
