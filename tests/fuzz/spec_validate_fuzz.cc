// libFuzzer target for the command-line values of `nucleus run`, driven through validate(), the
// single gate between user input and the kernel: names/ids, hostnames, env, volumes, tmpfs and
// sizes, user, paths, network flags (publish, dns, subnets, ip, bridge) and egress flags.
//
// Input: one field per line, "<letter><value>"; the letter picks the SandboxSpec field (see
// kFields). Validation has no side effects besides stat()ing host paths, so this is safe to run
// anywhere. The egress policy file is never set: reading files is policy_fuzz's job.
#include <charconv>
#include <cstddef>
#include <cstdint>

#include "core/base/number.h"
#include "core/spec/network_validate.h"
#include "core/spec/validate.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus;

namespace {

void apply(SandboxSpec& s, uid_t& euid, char field, const std::string& v) {
  switch (field) {
    case 'n': s.name = v; break;
    case 'h': s.hostname = v; break;
    case 'e': s.env.push_back(v); break;
    case 'w': s.workdir = v; break;
    case 'r': s.rootfs = v; break;
    case 's': s.workspace = v; break;
    case 'm': s.workspace_mode = v; break;
    case 'v': s.volumes.push_back(v); break;
    case 't': s.tmpfs.push_back(v); break;
    case 'u': s.user = v; break;
    case 'R': s.state_root = v; break;
    case 'T': (void)std::from_chars(v.data(), v.data() + v.size(), s.stop_timeout); break;
    case 'c': s.command.push_back(v); break;
    case 'N': s.network = v; break;
    case 'H': s.allow_host_network = !s.allow_host_network; break;
    case 'B': s.nat_backend = v; break;
    case 'p': s.publish.push_back(v); break;
    case 'd': s.dns.push_back(v); break;
    case 'b': s.bridge = v; break;
    case 'S': s.subnet = v; break;
    case 'i': s.ip = v; break;
    case '6': s.ipv6 = !s.ipv6; break;
    case 'x': s.subnet6 = v; break;
    case 'Z': s.time_namespace = !s.time_namespace; break;
    case 'a': s.egress.allow.push_back(v); break;
    case 'D': s.egress.domains.push_back(v); break;
    case 'P': s.egress.tcp_ports.push_back(v); break;
    case 'U': s.egress.udp_ports.push_back(v); break;
    case 'X': s.egress.deny_all = !s.egress.deny_all; break;
    case 'E': s.events_jsonl = v; break;
    case 'z': euid = euid == 0 ? 1000 : 0; break;
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SandboxSpec spec;
  uid_t euid = 0;
  for (const auto& line : fuzz::lines(fuzz::as_text(data, size))) {
    if (line.empty()) continue;
    std::string value = line.substr(1);
    apply(spec, euid, line[0], value);
    // The small parsers on their own, with every value.
    (void)check_id(value);
    (void)valid_interface_name(value);
    if (auto bytes = parse_size(value, "--tmpfs")) FUZZ_CHECK(*bytes > 0 && *bytes < (1ULL << 62));
  }

  Validated result = validate(spec, euid);
  FUZZ_CHECK(result.spec.has_value() == result.errors.empty());
  for (const auto& e : result.errors) FUZZ_CHECK(!e.flag.empty() && !e.message().empty());
  if (!result.spec) return 0;

  const ValidSpec& v = *result.spec;
  FUZZ_CHECK(check_id(v.id).empty());
  FUZZ_CHECK(!v.argv.empty());
  FUZZ_CHECK(!v.state_root.empty() && v.state_root.front() == '/');
  FUZZ_CHECK(v.rootless == (euid != 0));
  if (v.rootless) FUZZ_CHECK(v.uid == 0 && v.gid == 0);
  for (const auto& e : v.env) FUZZ_CHECK(e.find('=') != std::string::npos && e.front() != '=');
  for (const auto& m : v.volumes) {
    FUZZ_CHECK(!m.dest.empty() && m.dest.front() == '/' && m.dest != "/");
    FUZZ_CHECK(m.dest.find("/..") == std::string::npos);
    FUZZ_CHECK(!m.source.empty() && m.source.front() == '/');
    FUZZ_CHECK(!m.dest.starts_with("/proc") || m.dest.size() > 5);
  }
  for (const auto& t : v.tmpfs) FUZZ_CHECK(!t.dest.empty() && t.dest.front() == '/' && t.dest != "/");
  if (v.network == NetworkMode::kBridge) {
    FUZZ_CHECK(valid_interface_name(v.net.bridge));
    FUZZ_CHECK(v.net.subnet.address.is_v4());
    if (v.net.static_ip) FUZZ_CHECK(v.net.subnet.contains(*v.net.static_ip));
  }
  return 0;
}
