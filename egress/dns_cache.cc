#include "egress/dns_cache.h"

#include <algorithm>
#include <cstring>

#include "egress/policy.h"

namespace nucleus::egress::dns {

std::string cache_key(const Query& query) {
  unsigned shape = (query.header.flags & 0x0100 ? 1u : 0u) |  // RD
                   (query.header.flags & 0x0010 ? 2u : 0u) |  // CD
                   (query.has_edns ? 4u : 0u) | (query.edns_do ? 8u : 0u);
  return normalize_name(query.name) + '/' + std::to_string(query.qtype) + '/' +
         std::to_string(query.qclass) + '/' + std::to_string(shape);
}

std::optional<CacheHit> AnswerCache::lookup(const Query& query,
                                            std::span<const uint8_t> query_bytes,
                                            Clock::time_point now) {
  auto it = entries_.find(cache_key(query));
  if (it == entries_.end()) return std::nullopt;
  Entry& entry = it->second;
  if (now >= entry.expires) {
    entries_.erase(it);
    return std::nullopt;
  }
  CacheHit hit;
  hit.answer = entry.answer;
  auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - entry.stored).count();
  age_ttls(hit.answer, entry.ttl_offsets, static_cast<uint32_t>(elapsed));
  set_id(hit.answer, query.header.id);
  // The question of the answer is the same name up to case; copy the client's bytes so clients
  // that randomise case (DNS 0x20) see their own spelling back.
  if (entry.question_end == query.question_end && query.question_end <= query_bytes.size() &&
      entry.question_end <= hit.answer.size()) {
    std::memcpy(hit.answer.data() + kHeaderSize, query_bytes.data() + kHeaderSize,
                query.question_end - kHeaderSize);
  }
  hit.addresses = entry.addresses;
  hit.remaining_ttl = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(entry.expires - now).count());
  return hit;
}

void AnswerCache::store(const Query& query, std::vector<uint8_t> answer, const AnswerInfo& info,
                        std::vector<net::IpAddress> addresses, Clock::time_point now) {
  if (capacity_ == 0 || info.header.ancount == 0 || info.min_answer_ttl == 0) return;
  if (info.header.rcode() != Rcode::kNoError || (info.header.flags & 0x0200) != 0) return;  // TC
  std::string key = cache_key(query);
  if (!entries_.contains(key)) make_room(now);
  Entry entry;
  entry.answer = std::move(answer);
  entry.ttl_offsets = info.ttl_offsets;
  entry.question_end = info.question_end;
  entry.addresses = std::move(addresses);
  entry.stored = now;
  entry.expires = now + std::chrono::seconds(info.min_answer_ttl);
  entries_.insert_or_assign(std::move(key), std::move(entry));
}

void AnswerCache::make_room(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) { return now >= kv.second.expires; });
  while (entries_.size() >= capacity_ && !entries_.empty()) {
    auto soonest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
    entries_.erase(soonest);
  }
}

bool RateLimiter::allow(const std::string& client, Clock::time_point now) {
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) {
      // Forget buckets that have refilled completely: they carry no state worth keeping.
      std::erase_if(buckets_, [&](const auto& kv) {
        double seconds = std::chrono::duration<double>(now - kv.second.last).count();
        return kv.second.tokens + seconds * rate_ >= burst_;
      });
      if (buckets_.size() >= max_clients_) return false;
    }
    it = buckets_.emplace(client, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  double seconds = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(burst_, b.tokens + seconds * rate_);
  b.last = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace nucleus::egress::dns
