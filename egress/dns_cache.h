// Answer cache and per-client rate limiting for the egress DNS proxy.
//
// Both are bounded: the cache holds at most `capacity` answers (expired ones go first, then the
// one closest to expiry) and the rate limiter tracks at most `max_clients` buckets, so a
// workload cannot grow the supervisor's memory by querying many names or from many addresses.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "egress/dns_message.h"
#include "net/ip.h"

namespace nucleus::egress::dns {

using Clock = std::chrono::steady_clock;

// What makes two queries answerable by the same bytes: the name (case-insensitive), type, class
// and the flags that change the answer's shape (RD, CD, EDNS present, DO).
[[nodiscard]] std::string cache_key(const Query& query);

struct CacheHit {
  std::vector<uint8_t> answer;            // id, question case and TTLs already adjusted
  std::vector<net::IpAddress> addresses;  // A/AAAA carried by the answer
  uint32_t remaining_ttl = 0;             // seconds left of the smallest answer TTL
};

class AnswerCache {
 public:
  explicit AnswerCache(size_t capacity) : capacity_(capacity) {}

  // `query_bytes` is the client's query: its id and question bytes are copied into the answer.
  [[nodiscard]] std::optional<CacheHit> lookup(const Query& query,
                                               std::span<const uint8_t> query_bytes,
                                               Clock::time_point now);
  // Stores an upstream answer; answers with no records or a zero TTL are not kept.
  void store(const Query& query, std::vector<uint8_t> answer, const AnswerInfo& info,
             std::vector<net::IpAddress> addresses, Clock::time_point now);
  [[nodiscard]] size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<uint8_t> answer;
    std::vector<size_t> ttl_offsets;
    size_t question_end = 0;
    std::vector<net::IpAddress> addresses;
    Clock::time_point stored;
    Clock::time_point expires;
  };
  void make_room(Clock::time_point now);

  size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
};

// Token bucket per client address: `rate` queries per second, bursts up to `burst`.
class RateLimiter {
 public:
  RateLimiter(double rate, double burst, size_t max_clients)
      : rate_(rate), burst_(burst), max_clients_(max_clients) {}
  [[nodiscard]] bool allow(const std::string& client, Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last;
  };
  double rate_;
  double burst_;
  size_t max_clients_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace nucleus::egress::dns
