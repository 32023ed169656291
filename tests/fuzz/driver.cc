// Standalone driver for libFuzzer-style targets (LLVMFuzzerTestOneInput).
//
// Why it exists: clang 14 on the build machines cannot compile <expected> with libstdc++ 12 and
// libc++ 14 has no <expected>, so -fsanitize=fuzzer is out of reach. The targets are therefore
// built with g++ and ASan+UBSan and linked with this driver. A clang that can build the project
// links the same targets with -fsanitize=fuzzer instead (NUCLEUS_LIBFUZZER=ON, docs/FUZZING.md).
//
// What it does:
//   1. runs every seed (files and directories given on the command line, sorted);
//   2. for --seconds N or --runs N, mutates seeds and runs the results. When the parser sources
//      are compiled with -fsanitize-coverage=trace-pc (the default), inputs that reach new edges
//      join the corpus, so the loop is coverage-guided like libFuzzer, only simpler. Byte strings
//      the code compares against (memcmp/strcmp hooks of the sanitizer runtime) feed a dictionary.
// On a crash (ASan/UBSan report, abort, trap, uncaught exception) or a hang (--timeout) the
// offending input is written to <artifact-prefix>crash-<hash> / timeout-<hash> before exiting.
// Reproduce with: TARGET crash-<hash>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" void __sanitizer_set_death_callback(void (*callback)());
extern "C" void __sanitizer_print_stack_trace();

// Sanitizer settings every fuzz run wants: report aborts and traps (uncaught exceptions,
// __builtin_trap) with a stack, and keep a runaway allocation from taking the machine down.
extern "C" const char* __asan_default_options() {
  return "handle_abort=1:handle_sigill=1:handle_sigfpe=1:handle_sigbus=1:"
         "allocator_may_return_null=0:max_allocation_size_mb=2048:hard_rss_limit_mb=3072:"
         "detect_stack_use_after_return=0";
}
extern "C" const char* __ubsan_default_options() {
  // abort_on_error: libubsan has its own copy of the death-callback registry, so UBSan reports
  // reach our callback through SIGABRT, which ASan handles (handle_abort=1 above).
  return "print_stacktrace=1:halt_on_error=1:abort_on_error=1";
}

namespace {

// ---- coverage: AFL-style edge counters fed by -fsanitize-coverage=trace-pc ----

constexpr size_t kMapSize = 1 << 16;
alignas(64) uint8_t g_map[kMapSize];
uintptr_t g_prev_loc = 0;
bool g_running = false;  // only record coverage and comparisons inside the target

// ---- the input being run, for the crash handlers ----

const uint8_t* g_current = nullptr;
size_t g_current_size = 0;
const char* g_artifact_prefix = "./";
const char* g_current_file = nullptr;  // set while a seed file runs
bool g_saved = false;

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ULL;
  return h;
}

// Async-signal-safe: only open/write/close and stack buffers.
void save_current(const char* kind) {
  if (g_saved || g_current == nullptr) return;
  g_saved = true;
  char path[4096];
  uint64_t h = fnv1a(g_current, g_current_size);
  char hex[17];
  for (int i = 15; i >= 0; --i, h >>= 4) hex[i] = "0123456789abcdef"[h & 15];
  hex[16] = '\0';
  size_t n = 0;
  for (const char* parts[] = {g_artifact_prefix, kind, "-", hex}; const char* p : parts)
    while (*p && n + 1 < sizeof path) path[n++] = *p++;
  path[n] = '\0';
  int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    size_t done = 0;
    while (done < g_current_size) {
      ssize_t w = ::write(fd, g_current + done, g_current_size - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    ::close(fd);
  }
  const char* msg1 = "\n==fuzz== input that triggered this saved to ";
  (void)!::write(2, msg1, strlen(msg1));
  (void)!::write(2, path, strlen(path));
  if (g_current_file) {
    const char* msg2 = " (seed file ";
    (void)!::write(2, msg2, strlen(msg2));
    (void)!::write(2, g_current_file, strlen(g_current_file));
    (void)!::write(2, ")", 1);
  }
  (void)!::write(2, "\n", 1);
}

void on_death() { save_current("crash"); }

void on_alarm(int) {
  const char* msg = "\n==fuzz== timeout: one input ran longer than --timeout\n";
  (void)!::write(2, msg, strlen(msg));
  __sanitizer_print_stack_trace();
  save_current("timeout");
  _exit(70);
}

// ---- dictionary: byte strings the target compared the input against ----

constexpr size_t kDictMax = 512;
constexpr size_t kTokenMax = 48;
struct Token {
  uint8_t len = 0;
  uint8_t bytes[kTokenMax];
};
Token g_dict[kDictMax];
size_t g_dict_next = 0;
size_t g_dict_size = 0;

void note_token(const void* p, size_t n) {
  if (!g_running || n < 2 || n > kTokenMax) return;
  Token& t = g_dict[g_dict_next];
  t.len = static_cast<uint8_t>(n);
  memcpy(t.bytes, p, n);
  g_dict_next = (g_dict_next + 1) % kDictMax;
  g_dict_size = std::min(g_dict_size + 1, kDictMax);
}

// No memcmp here: it is intercepted and would call the hook again.
bool same_bytes(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const uint8_t*>(a);
  const auto* y = static_cast<const uint8_t*>(b);
  for (size_t i = 0; i < n; ++i)
    if (x[i] != y[i]) return false;
  return true;
}

void note_compare(const void* a, const void* b, size_t n) {
  if (!g_running || n < 2 || same_bytes(a, b, n)) return;
  // One side usually comes from the input; recording both is cheaper than guessing which.
  note_token(a, n);
  note_token(b, n);
}

}  // namespace

// Instrumentation callbacks (the driver itself is compiled without coverage instrumentation).
extern "C" __attribute__((no_sanitize_address, no_sanitize_undefined)) void
__sanitizer_cov_trace_pc() {
  if (!g_running) return;
  auto pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  uintptr_t cur = (pc ^ (pc >> 15)) & (kMapSize - 1);
  uint8_t& slot = g_map[(cur ^ g_prev_loc) & (kMapSize - 1)];
  if (slot != 255) ++slot;
  g_prev_loc = cur >> 1;
}

extern "C" void __sanitizer_weak_hook_memcmp(void*, const void* a, const void* b, size_t n, int) {
  note_compare(a, b, n);
}
extern "C" void __sanitizer_weak_hook_strncmp(void*, const char* a, const char* b, size_t n, int) {
  note_compare(a, b, std::min({n, strnlen(a, n), strnlen(b, n)}));
}
extern "C" void __sanitizer_weak_hook_strcmp(void*, const char* a, const char* b, int) {
  if (!g_running) return;
  size_t la = strlen(a), lb = strlen(b);
  note_token(a, la);
  note_token(b, lb);
}
extern "C" void __sanitizer_weak_hook_strcasecmp(void* pc, const char* a, const char* b, int r) {
  __sanitizer_weak_hook_strcmp(pc, a, b, r);
}
extern "C" void __sanitizer_weak_hook_memmem(void*, const void*, size_t, const void* needle,
                                             size_t n, void*) {
  note_token(needle, n);
}

namespace {

using Bytes = std::vector<uint8_t>;

struct Options {
  double seconds = 0;
  uint64_t runs = 0;
  uint64_t seed = 1;
  size_t max_len = 4096;
  unsigned timeout = 10;
  std::string artifact_prefix = "./";
  std::string save_corpus;  // write inputs with new coverage here
  std::vector<std::string> inputs;
};

[[noreturn]] void usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s [--seconds N] [--runs N] [--seed S] [--max-len N] [--timeout N]\n"
          "          [--artifact-prefix P] [--save-corpus DIR] [CORPUS_DIR|FILE]...\n"
          "Runs every FILE and every file in each CORPUS_DIR, then mutates them for --seconds\n"
          "or --runs; inputs reaching new code are saved to the first CORPUS_DIR (or\n"
          "--save-corpus DIR). libFuzzer spellings (-max_total_time= -runs= -seed= -max_len= -timeout=\n"
          "-artifact_prefix=) are accepted too.\n",
          argv0);
  exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    auto take = [&](std::string_view gnu, std::string_view lf) {
      if (a == gnu) {
        if (i + 1 >= argc) usage(argv[0]);
        value = argv[++i];
        return true;
      }
      if (a.starts_with(std::string(lf) + "=")) {
        value = a.substr(lf.size() + 1);
        return true;
      }
      return false;
    };
    if (take("--seconds", "-max_total_time")) o.seconds = std::stod(value);
    else if (take("--runs", "-runs")) o.runs = std::stoull(value);
    else if (take("--seed", "-seed")) o.seed = std::stoull(value);
    else if (take("--max-len", "-max_len")) o.max_len = std::stoul(value);
    else if (take("--timeout", "-timeout")) o.timeout = static_cast<unsigned>(std::stoul(value));
    else if (take("--artifact-prefix", "-artifact_prefix")) o.artifact_prefix = value;
    else if (take("--save-corpus", "-save_corpus")) o.save_corpus = value;
    else if (a == "-h" || a == "--help") usage(argv[0]);
    else if (a.starts_with("-") && a.size() > 1) fprintf(stderr, "ignoring unknown flag %s\n", a.c_str());
    else o.inputs.push_back(a);
  }
  return o;
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---- coverage bookkeeping ----

uint8_t bucket(uint8_t count) {
  if (count <= 3) return count == 3 ? 4 : count;  // 1, 2, 4
  if (count <= 7) return 8;
  if (count <= 15) return 16;
  if (count <= 31) return 32;
  if (count <= 127) return 64;
  return 128;
}

std::array<uint8_t, kMapSize> g_seen{};  // bucket bits seen per edge

// Folds the last run's counters into g_seen; returns how many (edge, bucket) pairs were new.
size_t merge_coverage() {
  size_t fresh = 0;
  const auto* words = reinterpret_cast<const uint64_t*>(g_map);
  for (size_t w = 0; w < kMapSize / 8; ++w) {
    if (words[w] == 0) continue;
    for (size_t i = w * 8; i < w * 8 + 8; ++i) {
      if (g_map[i] == 0) continue;
      uint8_t b = bucket(g_map[i]);
      if ((g_seen[i] & b) == 0) {
        g_seen[i] |= b;
        ++fresh;
      }
    }
  }
  return fresh;
}

size_t edges_seen() {
  return static_cast<size_t>(std::count_if(g_seen.begin(), g_seen.end(), [](uint8_t b) { return b; }));
}

// Runs one input in an exactly-sized heap buffer (so ASan sees reads past the end); returns the
// number of new coverage features.
size_t run_one(const Bytes& input, unsigned timeout) {
  size_t size = input.size();
  auto* buf = new uint8_t[size == 0 ? 1 : size];
  if (size) memcpy(buf, input.data(), size);
  g_current = buf;
  g_current_size = size;
  memset(g_map, 0, sizeof g_map);
  g_prev_loc = 0;
  if (timeout) alarm(timeout);
  g_running = true;
  LLVMFuzzerTestOneInput(size ? buf : nullptr, size);
  g_running = false;
  if (timeout) alarm(0);
  g_current = nullptr;
  delete[] buf;
  return merge_coverage();
}

// ---- mutation ----

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  void mutate(Bytes& data, const std::vector<Bytes>& corpus, size_t max_len) {
    size_t rounds = 1 + below(below(2) ? 3 : 8);
    for (size_t r = 0; r < rounds; ++r) mutate_once(data, corpus, max_len);
    if (data.size() > max_len) data.resize(max_len);
  }

 private:
  void insert(Bytes& data, size_t at, const uint8_t* p, size_t n) {
    data.insert(data.begin() + static_cast<std::ptrdiff_t>(at), p, p + n);
  }

  void mutate_once(Bytes& data, const std::vector<Bytes>& corpus, size_t max_len) {
    static const uint8_t kInteresting[] = {0,   1,    0x7f, 0x80, 0xff, '\n', '\r', '\t', ' ',
                                           '"', '\'', '\\', '[',  ']',  '{',  '}',  ',',  ':',
                                           '=', '/',  '.',  '-',  '*',  '#',  '0',  '9',  'a'};
    static const char* kNumbers[] = {"0",          "1",          "-1",         "255",
                                     "256",        "65535",      "65536",      "2147483647",
                                     "2147483648", "-2147483649", "4294967295", "4294967296",
                                     "9223372036854775807",       "18446744073709551615",
                                     "18446744073709551616",      "1e309",      "nan",
                                     "0x10",       "00",         "1.5"};
    size_t n = data.size();
    switch (below(12)) {
      case 0:  // flip a bit
        if (n) data[below(n)] ^= static_cast<uint8_t>(1u << below(8));
        break;
      case 1:  // overwrite a byte with a random or interesting value
        if (n) data[below(n)] = below(2) ? static_cast<uint8_t>(below(256))
                                         : kInteresting[below(sizeof kInteresting)];
        break;
      case 2: {  // insert bytes (random, interesting, or a repeated byte)
        if (n >= max_len) break;
        size_t count = 1 + below(below(4) ? 4 : 64);
        uint8_t b = below(2) ? kInteresting[below(sizeof kInteresting)]
                             : static_cast<uint8_t>(below(256));
        Bytes chunk(count, b);
        if (below(2))
          for (auto& c : chunk) c = static_cast<uint8_t>(below(256));
        insert(data, below(n + 1), chunk.data(), chunk.size());
        break;
      }
      case 3: {  // delete a range
        if (n < 2) break;
        size_t at = below(n);
        size_t len = 1 + below(std::min<size_t>(n - at, 16));
        data.erase(data.begin() + static_cast<std::ptrdiff_t>(at),
                   data.begin() + static_cast<std::ptrdiff_t>(at + len));
        break;
      }
      case 4: {  // duplicate a range of the input somewhere else
        if (n == 0) break;
        size_t at = below(n);
        size_t len = 1 + below(std::min<size_t>(n - at, 32));
        Bytes chunk(data.begin() + static_cast<std::ptrdiff_t>(at),
                    data.begin() + static_cast<std::ptrdiff_t>(at + len));
        insert(data, below(n + 1), chunk.data(), chunk.size());
        break;
      }
      case 5:
      case 6: {  // splice: a piece of another corpus entry inserted or overwriting
        const Bytes& other = corpus[below(corpus.size())];
        if (other.empty()) break;
        size_t at = below(other.size());
        size_t len = 1 + below(other.size() - at);
        size_t to = below(n + 1);
        if (below(2)) {
          insert(data, to, other.data() + at, len);
        } else {
          data.resize(std::max(n, to + len));
          memcpy(data.data() + to, other.data() + at, len);
        }
        break;
      }
      case 7: {  // cross-over: head of this input, tail of another
        const Bytes& other = corpus[below(corpus.size())];
        size_t cut = below(n + 1);
        size_t from = below(other.size() + 1);
        data.resize(cut);
        data.insert(data.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        break;
      }
      case 8:
      case 9: {  // dictionary token from the target's own comparisons
        if (g_dict_size == 0) break;
        const Token& t = g_dict[below(g_dict_size)];
        size_t to = below(n + 1);
        if (below(2)) {
          insert(data, to, t.bytes, t.len);
        } else {
          data.resize(std::max(n, to + t.len));
          memcpy(data.data() + to, t.bytes, t.len);
        }
        break;
      }
      case 10: {  // replace a run of digits with an interesting number
        const char* num = kNumbers[below(std::size(kNumbers))];
        size_t len = strlen(num);
        std::vector<size_t> starts;
        for (size_t i = 0; i < n; ++i)
          if (isdigit(data[i]) && (i == 0 || !isdigit(data[i - 1]))) starts.push_back(i);
        if (starts.empty()) {
          insert(data, below(n + 1), reinterpret_cast<const uint8_t*>(num), len);
          break;
        }
        size_t at = starts[below(starts.size())];
        size_t end = at;
        while (end < n && isdigit(data[end])) ++end;
        data.erase(data.begin() + static_cast<std::ptrdiff_t>(at),
                   data.begin() + static_cast<std::ptrdiff_t>(end));
        insert(data, at, reinterpret_cast<const uint8_t*>(num), len);
        break;
      }
      default: {  // swap two bytes, or truncate
        if (n < 2) break;
        if (below(4) == 0) data.resize(below(n));
        else std::swap(data[below(n)], data[below(n)]);
        break;
      }
    }
  }

  std::mt19937_64 rng_;
};

void collect(const std::string& arg, std::vector<std::string>& files) {
  namespace stdfs = std::filesystem;
  std::error_code ec;
  if (stdfs::is_directory(arg, ec)) {
    std::vector<std::string> found;
    for (const auto& e : stdfs::recursive_directory_iterator(arg, ec))
      if (e.is_regular_file(ec)) found.push_back(e.path().string());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  } else if (stdfs::exists(arg, ec)) {
    files.push_back(arg);
  } else {
    fprintf(stderr, "==fuzz== no such file or directory: %s\n", arg.c_str());
    exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);
  // Like libFuzzer: inputs with new coverage are added to the first corpus directory.
  std::error_code ec;
  if (opt.save_corpus.empty() && !opt.inputs.empty() &&
      std::filesystem::is_directory(opt.inputs.front(), ec))
    opt.save_corpus = opt.inputs.front();
  g_artifact_prefix = opt.artifact_prefix.c_str();
  __sanitizer_set_death_callback(on_death);
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, nullptr);
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);

  std::vector<std::string> files;
  for (const auto& in : opt.inputs) collect(in, files);

  const bool replay_only = opt.seconds <= 0 && opt.runs == 0;
  std::vector<Bytes> corpus;
  for (const auto& f : files) {
    Bytes b = read_bytes(f);
    if (replay_only) fprintf(stderr, "==fuzz== running %s (%zu bytes)\n", f.c_str(), b.size());
    g_current_file = f.c_str();
    run_one(b, opt.timeout);
    g_current_file = nullptr;
    if (b.size() > opt.max_len) b.resize(opt.max_len);
    corpus.push_back(std::move(b));
  }
  fprintf(stderr, "==fuzz== %zu seed(s) ran, %zu edges\n", files.size(), edges_seen());
  if (replay_only) return 0;
  if (corpus.empty()) corpus.emplace_back();

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(opt.seconds));
  auto next_report = start + std::chrono::seconds(5);
  Mutator mutator(opt.seed);
  uint64_t runs = 0;
  size_t saved = 0;
  std::set<uint64_t> known;
  for (const auto& b : corpus) known.insert(fnv1a(b.data(), b.size()));

  while (true) {
    if (opt.runs && runs >= opt.runs) break;
    if ((runs & 63) == 0) {
      auto now = Clock::now();
      if (opt.seconds > 0 && now >= deadline) break;
      if (now >= next_report) {
        double secs = std::chrono::duration<double>(now - start).count();
        fprintf(stderr, "==fuzz== #%llu  %.0f exec/s  corpus %zu  edges %zu  dict %zu\n",
                static_cast<unsigned long long>(runs), runs / secs, corpus.size(), edges_seen(),
                g_dict_size);
        next_report = now + std::chrono::seconds(10);
      }
    }
    Bytes input = corpus[mutator.below(corpus.size())];
    mutator.mutate(input, corpus, opt.max_len);
    ++runs;
    if (run_one(input, opt.timeout) == 0) continue;
    uint64_t h = fnv1a(input.data(), input.size());
    if (!known.insert(h).second) continue;
    if (!opt.save_corpus.empty()) {
      char name[32];
      snprintf(name, sizeof name, "/%016llx", static_cast<unsigned long long>(h));
      std::ofstream(opt.save_corpus + name, std::ios::binary)
          .write(reinterpret_cast<const char*>(input.data()),
                 static_cast<std::streamsize>(input.size()));
      ++saved;
    }
    corpus.push_back(std::move(input));
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  fprintf(stderr, "==fuzz== done: %llu runs in %.1fs, corpus %zu (%zu saved), edges %zu, no crash\n",
          static_cast<unsigned long long>(runs), secs, corpus.size(), saved, edges_seen());
  return 0;
}
