// DNS wire-format helpers for the egress DNS proxy.
//
// Answers are parsed with c-ares (ares_parse_a_reply / ares_parse_aaaa_reply, ares_expand_name).
// c-ares 1.18 has no public parser for *queries*, so parse_query() is a small bounds-checked
// extractor of what routing needs (id, flags, one question, the EDNS OPT record). It accepts only
// the shape a stub resolver sends (one question, no compression, at most one OPT record) and
// rejects everything else; it is fuzzed (tests/fuzz/dns_message_fuzz.cc).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "net/ip.h"

namespace nucleus::egress::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxUdpQuery = 512;   // RFC 1035 UDP limit for what a client may send
inline constexpr size_t kMaxTcpQuery = 4096;  // generous for a query, bounds memory per client
inline constexpr size_t kClassicUdpAnswer = 512;
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kClassIn = 1;

enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;

  [[nodiscard]] bool is_response() const { return (flags & 0x8000) != 0; }
  [[nodiscard]] unsigned opcode() const { return (flags >> 11) & 0xf; }
  [[nodiscard]] Rcode rcode() const { return static_cast<Rcode>(flags & 0xf); }
};

struct Query {
  Header header;
  // Presentation form, case preserved; bytes other than letters, digits, '-' and '_' are written
  // as \DDD so that a label containing a dot can never pass for two labels. The root is ".".
  std::string name;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = 0;  // offset just after the question section
  bool has_edns = false;
  uint16_t edns_udp_size = 0;  // advertised by the client (0 without EDNS)
  bool edns_do = false;

  // Largest UDP answer this client accepts.
  [[nodiscard]] size_t udp_answer_limit() const;
};

[[nodiscard]] Result<Header> parse_header(std::span<const uint8_t> message);

// Extracts the question of a standard query. Fails for responses, non-QUERY opcodes, anything but
// exactly one question, answer/authority records, additional records other than one OPT, name
// compression, and any out-of-bounds length.
[[nodiscard]] Result<Query> parse_query(std::span<const uint8_t> message);

// A response to `query` with `rcode` and no records: the header (id, opcode, RD copied, QR and
// RA set) followed by the question when it could be parsed (question_end > 0).
[[nodiscard]] std::vector<uint8_t> make_error_response(std::span<const uint8_t> query,
                                                       size_t question_end, Rcode rcode);

// When `answer` exceeds `limit`, returns header + question with TC set so the client retries over
// TCP (RFC 1035 4.2.1); otherwise returns the answer unchanged.
[[nodiscard]] std::vector<uint8_t> fit_udp(std::vector<uint8_t> answer, size_t question_end,
                                           size_t limit);

void set_id(std::span<uint8_t> message, uint16_t id);

// The resource records of an answer, walked with c-ares' name expansion.
struct AnswerInfo {
  Header header;
  size_t question_end = 0;
  std::vector<size_t> ttl_offsets;  // every RR's TTL field except OPT's (which is not a TTL)
  uint32_t min_answer_ttl = 0;      // smallest TTL in the answer section; 0 when it is empty
};
[[nodiscard]] Result<AnswerInfo> inspect_answer(std::span<const uint8_t> message);

// Lowers every TTL by `elapsed` seconds (not below 0), for answers served from the cache.
void age_ttls(std::span<uint8_t> message, const std::vector<size_t>& ttl_offsets, uint32_t elapsed);

// A and AAAA addresses of an answer (CNAME chains followed by c-ares) and their smallest TTL.
struct Addresses {
  std::vector<net::IpAddress> addresses;
  uint32_t min_ttl = 0;
};
[[nodiscard]] Addresses extract_addresses(std::span<const uint8_t> answer);

}  // namespace nucleus::egress::dns
