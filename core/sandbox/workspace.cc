#include "core/sandbox/workspace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

namespace nucleus::workspace {
namespace {

namespace stdfs = std::filesystem;

Result<void> from_ec(const std::error_code& ec, const std::string& op, const stdfs::path& p) {
  if (ec) return make_error(ec.value(), op + " " + p.string());
  return {};
}

// Copies mode, owner and timestamps of `src` onto `dst` (not following symlinks).
Result<void> copy_metadata(const stdfs::path& src, const stdfs::path& dst) {
  struct stat st{};
  if (lstat(src.c_str(), &st) != 0) return errno_error("stat " + src.string());
  // Ownership only matters (and only works) as root; a rootless copy is owned by the caller.
  if (geteuid() == 0 && lchown(dst.c_str(), st.st_uid, st.st_gid) != 0)
    return errno_error("chown " + dst.string());
  if (!S_ISLNK(st.st_mode) && chmod(dst.c_str(), st.st_mode & 07777) != 0)
    return errno_error("chmod " + dst.string());
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (utimensat(AT_FDCWD, dst.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    return errno_error("utimensat " + dst.string());
  return {};
}

// Writes a regular file via a temp name and rename, so a crash never leaves a half file.
Result<void> copy_file_atomic(const stdfs::path& src, const stdfs::path& dst) {
  stdfs::path tmp = dst.parent_path() / (".nucleus-sync." + dst.filename().string());
  std::error_code ec;
  stdfs::copy_file(src, tmp, stdfs::copy_options::overwrite_existing, ec);
  TRY(from_ec(ec, "copy", src));
  TRY(copy_metadata(src, tmp));
  stdfs::rename(tmp, dst, ec);
  if (ec) stdfs::remove(tmp, ec);
  return from_ec(ec, "rename", dst);
}

Result<void> copy_entry(const stdfs::path& src, const stdfs::path& dst) {
  std::error_code ec;
  auto status = stdfs::symlink_status(src, ec);
  TRY(from_ec(ec, "stat", src));
  if (stdfs::is_symlink(status)) {
    auto target = stdfs::read_symlink(src, ec);
    TRY(from_ec(ec, "readlink", src));
    stdfs::remove(dst, ec);
    stdfs::create_symlink(target, dst, ec);
    TRY(from_ec(ec, "symlink", dst));
    return copy_metadata(src, dst);
  }
  if (stdfs::is_directory(status)) {
    stdfs::create_directory(dst, ec);
    TRY(from_ec(ec, "mkdir", dst));
    return copy_metadata(src, dst);
  }
  if (stdfs::is_regular_file(status)) return copy_file_atomic(src, dst);
  return {};  // sockets, fifos and devices are not workspace content
}

bool differs(const stdfs::path& a, const stdfs::path& b) {
  struct stat sa{}, sb{};
  if (lstat(a.c_str(), &sa) != 0 || lstat(b.c_str(), &sb) != 0) return true;
  if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) return true;
  if (S_ISDIR(sa.st_mode)) return (sa.st_mode & 07777) != (sb.st_mode & 07777);
  if (S_ISLNK(sa.st_mode)) {
    std::error_code ec1, ec2;
    return stdfs::read_symlink(a, ec1) != stdfs::read_symlink(b, ec2);
  }
  return sa.st_size != sb.st_size || sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
         sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec || (sa.st_mode & 07777) != (sb.st_mode & 07777);
}

}  // namespace

Result<void> stage_copy(const std::string& host, const std::string& stage) {
  std::error_code ec;
  stdfs::create_directory(stage, ec);
  TRY(from_ec(ec, "mkdir", stage));
  TRY(copy_metadata(host, stage));
  for (auto it = stdfs::recursive_directory_iterator(host, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    stdfs::path rel = stdfs::relative(it->path(), host);
    TRY(copy_entry(it->path(), stage / rel));
  }
  TRY(from_ec(ec, "read", host));
  // Directory mtimes changed while we filled them; set them again now that they are complete.
  for (auto it = stdfs::recursive_directory_iterator(host, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec))
      TRY(copy_metadata(it->path(), stage / stdfs::relative(it->path(), host)));
  }
  return copy_metadata(host, stage);
}

Result<SyncReport> sync_back(const std::string& stage, const std::string& host) {
  SyncReport report;
  std::error_code ec;
  // A missing stage would look like "the workload deleted everything": refuse instead.
  if (!stdfs::is_directory(stage, ec)) return make_error(ENOENT, "sync workspace", stage + " is gone");
  // 1. Deletions: whatever the host has and the stage does not.
  for (auto it = stdfs::recursive_directory_iterator(host, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    stdfs::path rel = stdfs::relative(it->path(), host);
    struct stat st{};
    if (lstat((stdfs::path(stage) / rel).c_str(), &st) == 0) continue;
    if (it->is_directory(ec) && !it->is_symlink(ec)) it.disable_recursion_pending();
    stdfs::remove_all(it->path(), ec);
    TRY(from_ec(ec, "remove", it->path()));
    ++report.removed;
  }
  TRY(from_ec(ec, "read", host));
  // 2. Additions and changes, parents before children.
  for (auto it = stdfs::recursive_directory_iterator(stage, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    stdfs::path rel = stdfs::relative(it->path(), stage);
    stdfs::path dst = stdfs::path(host) / rel;
    if (!differs(it->path(), dst)) continue;
    struct stat st{};
    bool dst_exists = lstat(dst.c_str(), &st) == 0;
    bool src_dir = it->is_directory(ec) && !it->is_symlink(ec);
    // A type change (file became a dir or the reverse) replaces the old entry.
    if (dst_exists && (S_ISDIR(st.st_mode) != src_dir || S_ISLNK(st.st_mode))) {
      stdfs::remove_all(dst, ec);
      TRY(from_ec(ec, "remove", dst));
    }
    if (src_dir && dst_exists && S_ISDIR(st.st_mode)) {
      TRY(copy_metadata(it->path(), dst));
      continue;
    }
    TRY(copy_entry(it->path(), dst));
    ++report.copied;
  }
  TRY(from_ec(ec, "read", stage));
  // 3. Directory metadata last: writing into a directory changes its mtime.
  for (auto it = stdfs::recursive_directory_iterator(stage, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec))
      TRY(copy_metadata(it->path(), stdfs::path(host) / stdfs::relative(it->path(), stage)));
  }
  return report;
}

}  // namespace nucleus::workspace
