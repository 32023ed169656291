#include "core/base/log.h"

#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace nucleus::log {
namespace {

struct Sink {
  Format format = Format::kText;
  Level min_level = Level::kInfo;
  std::string sandbox_id;
};

Sink& sink() {
  static Sink instance;
  return instance;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

// One write(2) per line so concurrent writers never interleave within a line.
void emit(const std::string& line) {
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) return;
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

void configure(Format format, Level min_level) {
  sink().format = format;
  sink().min_level = min_level;
}

void set_sandbox_id(std::string id) { sink().sandbox_id = std::move(id); }

void write(Level level, std::string_view subsystem, std::string_view message) {
  const Sink& s = sink();
  if (level < s.min_level) return;
  if (s.format == Format::kJson) {
    nlohmann::json j;
    j["ts"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    j["level"] = level_name(level);
    j["subsystem"] = subsystem;
    if (!s.sandbox_id.empty()) j["sandbox"] = s.sandbox_id;
    j["msg"] = message;
    emit(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return;
  }
  std::string line = "nucleus: ";
  if (level == Level::kWarn) line += "warning: ";
  if (level == Level::kError) line += "error: ";
  if (level == Level::kDebug) line += "debug: ";
  if (!subsystem.empty()) line += std::string(subsystem) + ": ";
  line += message;
  line += "\n";
  emit(line);
}

}  // namespace nucleus::log
