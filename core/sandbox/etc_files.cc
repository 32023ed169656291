#include "core/sandbox/etc_files.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "core/base/fs.h"
#include "core/sandbox/child.h"

namespace nucleus {

EtcFiles generate_etc_files(const ValidSpec& spec, const net::NetAttachment* attachment) {
  std::string uid = std::to_string(spec.uid);
  std::string gid = std::to_string(spec.gid);

  std::string passwd = "root:x:0:0:root:/root:/bin/sh\n";
  std::string group = "root:x:0:\n";
  if (spec.uid != 0) passwd += "agent:x:" + uid + ":" + gid + ":agent:/home/agent:/bin/sh\n";
  if (spec.gid != 0) group += "agent:x:" + gid + ":\n";
  passwd += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  group += "nogroup:x:65534:\n";

  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  std::string resolv;
  if (attachment) {
    if (attachment->address4) hosts += attachment->address4->to_string() + "\t" + spec.hostname + "\n";
    if (attachment->address6) hosts += attachment->address6->to_string() + "\t" + spec.hostname + "\n";
    for (const auto& r : attachment->resolvers) resolv += "nameserver " + r.to_string() + "\n";
  } else {
    hosts += "127.0.1.1\t" + spec.hostname + "\n";
  }
  std::string nsswitch =
      "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
      "networks: files\nprotocols: files\nservices: files\n";
  // Same order as kGeneratedEtcFiles.
  return {passwd, group, hosts, spec.hostname + "\n", resolv, nsswitch};
}

Result<void> create_etc_files(const std::string& dir) {
  TRY(fs::make_dirs(dir, 0755));
  // 0644: the files are read by whatever uid the workload runs as; they hold nothing secret.
  for (const char* name : kGeneratedEtcFiles) {
    ASSIGN_OR_RETURN(UniqueFd fd, fs::open_fd(dir + "/" + name, O_WRONLY | O_CREAT | O_EXCL, 0644));
    // Whatever our umask: a non-root workload must read them.
    if (::fchmod(fd.get(), 0644) != 0) return errno_error("chmod " + dir + "/" + name);
  }
  return {};
}

Result<void> write_etc_files(const std::string& dir, const EtcFiles& files) {
  // Plain writes into the empty files (no O_TRUNC: on ext4 truncating forces a flush at close).
  // The workload does not run yet, so nobody sees a half-written file.
  for (size_t i = 0; i < files.size(); ++i) {
    std::string path = dir + "/" + kGeneratedEtcFiles[i];
    ASSIGN_OR_RETURN(UniqueFd fd, fs::open_fd(path, O_WRONLY));
    TRY(fs::write_all(fd.get(), files[i], path));
  }
  return {};
}

Result<std::string> release_message(const EtcFiles& files) {
  std::string message(1, kGoByte);
  for (const std::string& content : files) {
    if (content.find('\0') != std::string::npos)
      return fail("generated /etc", "a file would contain a NUL byte");
    message += content;
    message += '\0';
  }
  if (message.size() > kReleaseMessageMax)
    return fail("generated /etc", "larger than " + std::to_string(kReleaseMessageMax) + " bytes");
  return message;
}

}  // namespace nucleus
