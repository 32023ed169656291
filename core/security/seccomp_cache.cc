#include "core/security/seccomp_cache.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/base/fs.h"
#include "core/security/sha256.h"

namespace nucleus::security {
namespace {

// The main executable's NT_GNU_BUILD_ID note, as raw bytes (empty if it has none).
std::string build_id() {
  std::string id;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) -> int {
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          auto* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const char* name = p + sizeof(ElfW(Nhdr));
            const char* desc = name + ((note->n_namesz + 3) & ~3U);
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
                std::string_view(name, 3) == "GNU") {
              static_cast<std::string*>(out)->assign(desc, note->n_descsz);
              return 1;
            }
            p = desc + ((note->n_descsz + 3) & ~3U);
          }
        }
        return 1;  // only the first object (the executable) matters
      },
      &id);
  return id;
}

std::string cache_key(const SeccompOptions& o, const std::string& id) {
  const scmp_version* v = seccomp_version();
  std::string material = "nucleus-seccomp-cache-v1|" + id + "|" + std::to_string(v->major) + "." +
                         std::to_string(v->minor) + "." + std::to_string(v->micro) + "|" +
                         std::to_string(static_cast<int>(o.mode)) + "|" +
                         (o.network ? "net" : "nonet");
  std::vector<std::string> allow = o.extra_allow;
  std::sort(allow.begin(), allow.end());
  for (const auto& name : allow) material += "|" + name;
  return sha256_hex(material);
}

std::optional<SeccompProgram> load(const std::string& path, bool listener) {
  auto fd = fs::open_fd(path, O_RDONLY | O_NOFOLLOW);
  if (!fd) return std::nullopt;
  struct stat st{};
  if (fstat(fd->get(), &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0 ||
      st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0 ||
      st.st_size > static_cast<off_t>(BPF_MAXINSNS * sizeof(sock_filter)))
    return std::nullopt;
  SeccompProgram program;
  program.listener = listener;
  program.filter.resize(static_cast<size_t>(st.st_size) / sizeof(sock_filter));
  auto* dst = reinterpret_cast<char*>(program.filter.data());
  size_t want = static_cast<size_t>(st.st_size), got = 0;
  while (got < want) {
    ssize_t n = read(fd->get(), dst + got, want - got);
    if (n <= 0) return std::nullopt;
    got += static_cast<size_t>(n);
  }
  return program;
}

}  // namespace

Result<SeccompProgram> build_seccomp_cached(const SeccompOptions& options,
                                            const std::string& cache_dir) {
  std::string id = build_id();
  if (options.profile || id.empty()) return build_seccomp(options);
  std::string path = cache_dir + "/seccomp-" + cache_key(options, id) + ".bpf";
  if (auto cached = load(path, options.mode == SeccompMode::kTrace)) return std::move(*cached);
  ASSIGN_OR_RETURN(SeccompProgram program, build_seccomp(options));
  if (fs::make_dirs(cache_dir, 0700)) {
    std::string_view bytes(reinterpret_cast<const char*>(program.filter.data()),
                           program.filter.size() * sizeof(sock_filter));
    (void)fs::write_atomic(path, bytes, 0600);
  }
  return program;
}

}  // namespace nucleus::security
