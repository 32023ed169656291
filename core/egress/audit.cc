#include "core/egress/audit.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/base/log.h"

namespace nucleus {
namespace {
constexpr log::Logger kLog("audit");
}  // namespace

std::string utc_timestamp() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm parts{};
  gmtime_r(&ts.tv_sec, &parts);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &parts);
  std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1'000'000);
  return buf;
}

Result<AuditLog> AuditLog::open(const std::string& path, std::string sandbox_id,
                                double rate_per_second, double burst) {
  AuditLog log;
  log.fd_ =
      UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600));
  if (!log.fd_) return errno_error("--events-jsonl", path);
  log.sandbox_id_ = std::move(sandbox_id);
  log.rate_ = rate_per_second;
  log.burst_ = burst;
  log.tokens_ = burst;
  log.last_ = std::chrono::steady_clock::now();
  return log;
}

void AuditLog::record(const std::string& event, nlohmann::json fields) {
  if (!fd_) return;
  auto now = std::chrono::steady_clock::now();
  tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
  last_ = now;
  if (tokens_ < 1) {
    ++suppressed_;
    ++suppressed_total_;
    return;
  }
  tokens_ -= 1;
  nlohmann::json line = {{"time", utc_timestamp()}, {"sandbox", sandbox_id_}, {"event", event}};
  for (auto& [key, value] : fields.items()) line[key] = std::move(value);
  if (suppressed_ > 0) line["suppressed"] = suppressed_;
  suppressed_ = 0;
  // One write() per line with O_APPEND: lines from concurrent writers never interleave.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (::write(fd_.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    if (!write_failed_) kLog.error("writing --events-jsonl failed: events are being lost");
    write_failed_ = true;
    return;
  }
  ++written_;
}

}  // namespace nucleus
