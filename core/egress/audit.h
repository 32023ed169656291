// The audit sink behind --events-jsonl: one JSON object per line, appended to a file.
//
// Every line carries the time and the sandbox id. Writes are rate limited by a token bucket so a
// workload hammering denied destinations cannot fill the disk; the number of events dropped since
// the last written one is reported in that line's "suppressed" field.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus {

class AuditLog {
 public:
  AuditLog() = default;  // disabled: record() does nothing

  // Opens (creating 0600, appending) `path`.
  [[nodiscard]] static Result<AuditLog> open(const std::string& path, std::string sandbox_id,
                                             double rate_per_second = 20, double burst = 50);

  // Writes {"time", "sandbox", "event": event, ...fields}. Never fails the caller: a write error
  // is logged once.
  void record(const std::string& event, nlohmann::json fields);

  [[nodiscard]] bool enabled() const { return fd_.valid(); }
  [[nodiscard]] uint64_t written() const { return written_; }
  [[nodiscard]] uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  UniqueFd fd_;
  std::string sandbox_id_;
  double rate_ = 20, burst_ = 50, tokens_ = 50;
  std::chrono::steady_clock::time_point last_{};
  uint64_t suppressed_ = 0, suppressed_total_ = 0, written_ = 0;
  bool write_failed_ = false;
};

// RFC 3339 UTC with milliseconds: "2026-12-04T20:41:07.123Z".
[[nodiscard]] std::string utc_timestamp();

}  // namespace nucleus
