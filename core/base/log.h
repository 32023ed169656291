// Logging: one process-wide sink (the only global mutable state), named loggers per subsystem.
//
// Text by default ("nucleus: net: bridge nucleus0 created"), one JSON object per line with
// --log-format json. Errors shown to users go through here too, so JSON mode stays parseable.
#pragma once

#include <string>
#include <string_view>

namespace nucleus::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

// Configures the sink; called once from main before anything logs.
void configure(Format format, Level min_level);
// The sandbox id to stamp on every line once it is known.
void set_sandbox_id(std::string id);

void write(Level level, std::string_view subsystem, std::string_view message);

class Logger {
 public:
  explicit constexpr Logger(std::string_view subsystem) : subsystem_(subsystem) {}
  void debug(std::string_view msg) const { write(Level::kDebug, subsystem_, msg); }
  void info(std::string_view msg) const { write(Level::kInfo, subsystem_, msg); }
  void warn(std::string_view msg) const { write(Level::kWarn, subsystem_, msg); }
  void error(std::string_view msg) const { write(Level::kError, subsystem_, msg); }

 private:
  std::string_view subsystem_;
};

}  // namespace nucleus::log
