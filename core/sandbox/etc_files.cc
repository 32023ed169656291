#include "core/sandbox/etc_files.h"

#include <sys/stat.h>

#include "core/base/fs.h"

namespace nucleus {

Result<void> write_etc_files(const std::string& dir, const ValidSpec& spec,
                             const net::NetAttachment* attachment) {
  TRY(fs::make_dirs(dir, 0755));
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

  // 0644: the files are read by whatever uid the workload runs as; they hold nothing secret.
  TRY(fs::write_atomic(dir + "/passwd", passwd, 0644));
  TRY(fs::write_atomic(dir + "/group", group, 0644));
  TRY(fs::write_atomic(dir + "/hosts", hosts, 0644));
  TRY(fs::write_atomic(dir + "/hostname", spec.hostname + "\n", 0644));
  TRY(fs::write_atomic(dir + "/resolv.conf", resolv, 0644));
  TRY(fs::write_atomic(dir + "/nsswitch.conf",
                       "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
                       "networks: files\nprotocols: files\nservices: files\n",
                       0644));
  return {};
}

}  // namespace nucleus
