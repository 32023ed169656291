// libFuzzer target for seccomp profiles (--seccomp-profile FILE, OCI-style JSON) and the trace
// log `nucleus seccomp generate` reads. A profile that parses is also compiled into a filter
// (pure: nothing is installed).
#include <cstddef>
#include <cstdint>

#include "core/security/seccomp.h"
#include "core/security/seccomp_profile.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = nucleus::fuzz::as_text(data, size);

  if (auto profile = parse_seccomp_profile(text)) {
    FUZZ_CHECK(profile->default_action != SeccompAction::kAllow);
    for (bool network : {false, true}) {
      SeccompOptions options;
      options.network = network;
      options.profile = *profile;
      (void)build_seccomp(options);
      options.mode = SeccompMode::kTrace;
      (void)build_seccomp(options);
    }
  }

  if (auto names = parse_trace_log(text)) {
    // Round trip through the file format, then through `seccomp generate`: the generated
    // profile must always be accepted by the profile parser and compile.
    auto again = parse_trace_log(format_trace_log(*names));
    FUZZ_CHECK(again && *again == *names);
    auto generated = parse_seccomp_profile(generate_seccomp_profile(*names));
    FUZZ_CHECK(generated.has_value());
    SeccompOptions options;
    options.profile = *generated;
    FUZZ_CHECK(build_seccomp(options).has_value());
  }
  return 0;
}
