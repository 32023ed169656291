#include "core/sandbox/plan.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace nucleus {
namespace {

namespace stdfs = std::filesystem;
using Kind = ChildStep::Kind;

constexpr unsigned long kReadOnly = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr unsigned long kNoSuidDev = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

// Host directories bound read-only into the default root (those that exist).
constexpr const char* kHostSystemDirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32",
                                           "/libx32"};
constexpr const char* kHostEtcDirs[] = {"/etc/ssl", "/etc/ca-certificates", "/etc/alternatives"};
constexpr const char* kDeviceNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
// /proc entries that leak kernel memory or let a process poke the kernel.
constexpr const char* kMaskedProc[] = {"kcore", "keys", "sysrq-trigger", "timer_list", "kallsyms"};

class PlanBuilder {
 public:
  PlanBuilder(ChildPlan& plan, std::string root) : plan_(plan), root_(std::move(root)) {}

  const char* in_root(const std::string& path) { return plan_.keep(root_ + path); }

  void add(Kind kind, const char* source, const char* target, const char* fstype = nullptr,
           unsigned long flags = 0, const char* data = nullptr, unsigned mode = 0755) {
    plan_.steps.push_back({kind, source, target, fstype, flags, data, mode, false});
  }
  void mkdir(const std::string& path, unsigned mode = 0755) {
    add(Kind::kMkdir, nullptr, in_root(path), nullptr, 0, nullptr, mode);
  }
  // mkdir -p inside the root, for mount points below other mounts.
  void mkdirs(const std::string& path) {
    std::string partial;
    for (const auto& part : stdfs::path(path).relative_path()) {
      partial += "/" + part.string();
      mkdir(partial);
    }
  }
  void tmpfs(const std::string& path, const std::string& options, unsigned long flags) {
    add(Kind::kMount, "tmpfs", in_root(path), "tmpfs", flags, plan_.keep(options));
  }
  // Bind a host path at `path` in the root; the mount point is a dir or an empty file.
  void bind(const std::string& host, const std::string& path, bool is_dir, unsigned long attrs) {
    if (is_dir) mkdirs(path);
    else {
      mkdirs(stdfs::path(path).parent_path().string());
      add(Kind::kTouch, nullptr, in_root(path), nullptr, 0, nullptr, 0644);
    }
    add(Kind::kBind, plan_.keep(host), in_root(path));
    add(Kind::kSetAttrTree, nullptr, in_root(path), nullptr, attrs);
  }
  void mknod(const std::string& path, dev_t device, unsigned mode) {
    add(Kind::kMknod, nullptr, in_root(path), nullptr, static_cast<unsigned long>(device), nullptr,
        mode);
  }
  void symlink(const std::string& target, const std::string& path) {
    add(Kind::kSymlink, plan_.keep(target), in_root(path));
  }

 private:
  ChildPlan& plan_;
  std::string root_;
};

bool is_symlink(const std::string& p) {
  struct stat st{};
  return lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}
bool is_dir(const std::string& p) {
  struct stat st{};
  return lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st{};
  return lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void plan_system_dirs(PlanBuilder& b) {
  for (const char* dir : kHostSystemDirs) {
    // Merged-/usr hosts have /bin -> usr/bin: mirror the link rather than binding it twice.
    if (is_symlink(dir)) {
      std::error_code ec;
      auto target = stdfs::read_symlink(dir, ec);
      if (!ec) b.symlink(target.string(), dir);
    } else if (is_dir(dir)) {
      b.bind(dir, dir, true, kReadOnly);
    }
  }
}

void plan_etc(PlanBuilder& b, ChildPlan& plan, const PlanPaths& paths, bool default_root,
              const std::string& rootfs) {
  if (default_root) {
    b.mkdir("/etc");
    for (const char* dir : kHostEtcDirs)
      if (is_dir(dir)) b.bind(dir, dir, true, kReadOnly);
    if (is_file("/etc/ld.so.cache")) b.bind("/etc/ld.so.cache", "/etc/ld.so.cache", false, kReadOnly);
  }
  for (const char* name : kGeneratedEtcFiles) {
    std::string dest = std::string("/etc/") + name;
    if (default_root) {
      // Written by the child into its tmpfs root after the go (see etc_files.h).
      plan.released_etc_files.push_back(plan.keep(dest));
      continue;
    }
    // In a user-supplied rootfs only existing regular files are replaced: the tree is read-only
    // and a symlink there would be resolved against the host's root before pivot_root.
    if (!is_file(rootfs + dest)) continue;
    b.bind(paths.generated_etc + "/" + name, dest, false,
           kReadOnly | MOUNT_ATTR_NOEXEC);
  }
}

void plan_dev(PlanBuilder& b, bool rootless) {
  b.mkdir("/dev");
  b.tmpfs("/dev", "mode=0755,size=64k", MS_NOSUID | MS_NOEXEC);
  for (const char* node : kDeviceNodes) {
    std::string host = std::string("/dev/") + node;
    struct stat st{};
    if (stat(host.c_str(), &st) != 0) continue;
    if (rootless || !S_ISCHR(st.st_mode)) {
      // A user namespace cannot create device nodes: bind the host's.
      b.bind(host, host, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    } else {
      // The same device as the host's, made in our tmpfs: one mknod instead of a mount point, a
      // bind and a mount_setattr. Permissions as the host's (0666 for all of these).
      b.mknod(host, st.st_rdev, st.st_mode & 07777);
    }
  }
  b.mkdir("/dev/pts");
  // A private devpts instance: the sandbox never sees the host's terminals. gid=5 (tty) only
  // exists when we are real root; in a user namespace it would not be mapped.
  b.add(Kind::kMount, "devpts", b.in_root("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC,
        rootless ? "newinstance,ptmxmode=0666,mode=0620" : "newinstance,ptmxmode=0666,mode=0620,gid=5");
  b.symlink("pts/ptmx", "/dev/ptmx");
  b.mkdir("/dev/shm");
  b.tmpfs("/dev/shm", "mode=1777", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  b.symlink("/proc/self/fd", "/dev/fd");
  b.symlink("/proc/self/fd/0", "/dev/stdin");
  b.symlink("/proc/self/fd/1", "/dev/stdout");
  b.symlink("/proc/self/fd/2", "/dev/stderr");
}

void plan_proc(PlanBuilder& b, bool default_root, bool hide_pids) {
  if (default_root) b.mkdir("/proc");
  // hidepid=2 (production): a process cannot even see which other processes exist.
  b.add(Kind::kMount, "proc", b.in_root("/proc"), "proc",
        MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, hide_pids ? "hidepid=2" : nullptr);
  const char* dev_null = b.in_root("/dev/null");
  for (const char* entry : kMaskedProc)
    b.add(Kind::kMaskFile, dev_null, b.in_root(std::string("/proc/") + entry));
}

// /run is a small tmpfs; secrets get their own in-memory tmpfs at /run/secrets, filled by the
// child from the host files and then made read-only.
void plan_secrets(PlanBuilder& b, const ValidSpec& spec, ChildPlan& plan) {
  if (spec.secrets.empty()) return;
  if (!spec.rootfs) b.mkdir("/run");
  b.tmpfs("/run", "mode=0755,size=1m", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  b.mkdir("/run/secrets", 0500);
  b.tmpfs("/run/secrets",
          "mode=0500,size=16m,uid=" + std::to_string(plan.owner_uid) + ",gid=" +
              std::to_string(plan.owner_gid),
          MS_NOSUID | MS_NODEV | MS_NOEXEC);
  for (const auto& secret : spec.secrets)
    b.add(Kind::kCopySecret, plan.keep(secret.source), b.in_root("/run/secrets/" + secret.name));
  b.add(Kind::kSetAttr, nullptr, b.in_root("/run/secrets"), nullptr, kReadOnly | MOUNT_ATTR_NOEXEC);
}

void plan_user_mounts(PlanBuilder& b, const ValidSpec& spec, const PlanPaths& paths) {
  if (spec.workspace) {
    unsigned long attrs =
        spec.workspace_mode == WorkspaceMode::kBindRo ? kReadOnly : kNoSuidDev;
    // Production: a writable workspace never holds something the sandbox can then execute.
    if (spec.mode == ServiceMode::kProduction && spec.workspace_mode != WorkspaceMode::kBindRo)
      attrs |= MOUNT_ATTR_NOEXEC;
    b.bind(paths.workspace, "/workspace", true, attrs);
  }
  // Parents first, so a volume at /data/a lands inside a tmpfs at /data rather than under it.
  struct Entry {
    std::string dest;
    const VolumeMount* volume;
    const TmpfsMount* tmpfs;
  };
  std::vector<Entry> entries;
  for (const auto& v : spec.volumes) entries.push_back({v.dest, &v, nullptr});
  for (const auto& t : spec.tmpfs) entries.push_back({t.dest, nullptr, &t});
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& c) {
    return std::count(a.dest.begin(), a.dest.end(), '/') <
           std::count(c.dest.begin(), c.dest.end(), '/');
  });
  for (const auto& e : entries) {
    if (e.volume) {
      b.bind(e.volume->source, e.dest, e.volume->is_directory,
             e.volume->read_only ? kReadOnly : kNoSuidDev);
    } else {
      b.mkdirs(e.dest);
      std::string options = "mode=1777";
      if (e.tmpfs->size_bytes) options += ",size=" + std::to_string(e.tmpfs->size_bytes);
      b.tmpfs(e.dest, options, MS_NOSUID | MS_NODEV);
    }
  }
}

void plan_exec(const ValidSpec& spec, ChildPlan& plan) {
  for (const auto& arg : spec.argv) plan.argv.push_back(const_cast<char*>(plan.keep(arg)));
  plan.argv.push_back(nullptr);
  std::string path_value;
  for (const auto& e : spec.env) {
    plan.envp.push_back(const_cast<char*>(plan.keep(e)));
    if (e.starts_with("PATH=")) path_value = e.substr(5);
  }
  plan.envp.push_back(nullptr);
  const std::string& cmd = spec.argv.front();
  if (cmd.find('/') != std::string::npos) {
    plan.exec_candidates.push_back(plan.keep(cmd));
    return;
  }
  size_t start = 0;
  while (start <= path_value.size()) {
    size_t end = path_value.find(':', start);
    if (end == std::string::npos) end = path_value.size();
    std::string dir = path_value.substr(start, end - start);
    if (!dir.empty()) plan.exec_candidates.push_back(plan.keep(dir + "/" + cmd));
    start = end + 1;
  }
}

}  // namespace

Result<void> build_child_plan(const ValidSpec& spec, const PlanPaths& paths, ChildPlan& plan) {
  const bool default_root = !spec.rootfs.has_value();
  // Files made for the workload before it changes identity are owned by its host-side ids.
  plan.owner_uid = spec.uid + paths.id_offset_uid;
  plan.owner_gid = spec.gid + paths.id_offset_gid;
  PlanBuilder b(plan, paths.new_root);
  plan.new_root = plan.keep(paths.new_root);

  if (default_root) {
    // Small: it only holds mount points; it becomes read-only once everything is mounted.
    b.add(Kind::kMount, "tmpfs", plan.new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
    plan_system_dirs(b);
  } else {
    b.add(Kind::kBind, plan.keep(*spec.rootfs), plan.new_root);
    b.add(Kind::kSetAttrTree, nullptr, plan.new_root, nullptr, kReadOnly);
  }
  plan_dev(b, spec.rootless);
  plan_proc(b, default_root, spec.hide_pids);
  plan_etc(b, plan, paths, default_root, spec.rootfs.value_or(""));
  if (default_root) b.mkdir("/tmp");
  b.tmpfs("/tmp", "mode=1777", MS_NOSUID | MS_NODEV);
  if (default_root) {
    b.mkdirs("/home/agent");
    b.tmpfs("/home/agent",
            "mode=0700,uid=" + std::to_string(plan.owner_uid) + ",gid=" +
                std::to_string(plan.owner_gid),
            MS_NOSUID | MS_NODEV);
  }
  plan_user_mounts(b, spec, paths);
  plan_secrets(b, spec, plan);
  // The default root becomes read-only once the child has written the generated /etc into it.
  plan.seal_root_after_release = default_root;

  plan.hostname = plan.keep(spec.hostname);
  plan.workdir = plan.keep(spec.workdir);
  plan.allow_chroot_fallback = spec.allow_chroot_fallback;
  plan.late_user_namespace = spec.remap_ids;
  plan.setup_after_release = spec.rootless;
  plan.mount_audit = spec.mount_audit;
  plan.mini_init = spec.mini_init;
  plan.zero_secret_buffers = spec.zero_secret_buffers;
  plan_exec(spec, plan);
  return build_hardening_plan(spec, plan.hardening);
}

}  // namespace nucleus
