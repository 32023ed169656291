// Management commands: state, kill, stop, delete, gc.
#pragma once

#include <string>

namespace nucleus {

struct GlobalOptions {
  std::string state_root;
  std::string log_format = "text";
  std::string log_level = "warn";
};

int command_state(const GlobalOptions& g, const std::string& id, bool all, const std::string& format);
int command_kill(const GlobalOptions& g, const std::string& id, const std::string& signal);
int command_stop(const GlobalOptions& g, const std::string& id, int timeout_seconds);
int command_delete(const GlobalOptions& g, const std::string& id, bool force);
int command_gc(const GlobalOptions& g);
int command_seccomp_generate(const std::string& trace_file, const std::string& output);

}  // namespace nucleus
