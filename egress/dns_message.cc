#include "egress/dns_message.h"

#include <ares.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace nucleus::egress::dns {
namespace {

constexpr size_t kMaxWireName = 255;
constexpr size_t kMaxAddresses = 128;     // per family; more than any real answer carries
constexpr uint32_t kMaxTtl = 0x7fffffff;  // RFC 2181 8: larger values mean 0

uint16_t read16(std::span<const uint8_t> m, size_t at) {
  return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

uint32_t read32(std::span<const uint8_t> m, size_t at) {
  return (uint32_t{m[at]} << 24) | (uint32_t{m[at + 1]} << 16) | (uint32_t{m[at + 2]} << 8) |
         uint32_t{m[at + 3]};
}

void write32(std::span<uint8_t> m, size_t at, uint32_t v) {
  m[at] = static_cast<uint8_t>(v >> 24);
  m[at + 1] = static_cast<uint8_t>(v >> 16);
  m[at + 2] = static_cast<uint8_t>(v >> 8);
  m[at + 3] = static_cast<uint8_t>(v);
}

bool plain_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

void append_escaped(std::string& out, uint8_t c) {
  if (plain_char(c)) {
    out.push_back(static_cast<char>(c));
    return;
  }
  char buf[5] = {'\\', static_cast<char>('0' + c / 100), static_cast<char>('0' + (c / 10) % 10),
                 static_cast<char>('0' + c % 10), 0};
  out += buf;
}

// Reads an uncompressed name starting at `at`; returns the offset after it.
Result<size_t> read_query_name(std::span<const uint8_t> m, size_t at, std::string& out) {
  size_t wire = 0;
  while (true) {
    if (at >= m.size()) return fail("dns query", "name runs past the end");
    uint8_t len = m[at];
    if (len == 0) {
      if (out.empty()) out.push_back('.');
      return at + 1;
    }
    // 0xC0 = compression pointer, 0x40/0x80 = obsolete label types: never in a stub's question.
    if ((len & 0xc0) != 0) return fail("dns query", "compressed or extended label in question");
    wire += size_t{len} + 1;
    if (wire + 1 > kMaxWireName) return fail("dns query", "name longer than 255 octets");
    if (at + 1 + len > m.size()) return fail("dns query", "label runs past the end");
    if (!out.empty()) out.push_back('.');
    for (size_t i = 0; i < len; ++i) append_escaped(out, m[at + 1 + i]);
    at += 1 + len;
  }
}

// Skips a (possibly compressed) name in an answer using c-ares' expander.
Result<size_t> skip_name(std::span<const uint8_t> m, size_t at) {
  if (at >= m.size()) return fail("dns answer", "name runs past the end");
  char* name = nullptr;
  long consumed = 0;
  int status =
      ares_expand_name(m.data() + at, m.data(), static_cast<int>(m.size()), &name, &consumed);
  if (name != nullptr) ares_free_string(name);
  if (status != ARES_SUCCESS || consumed <= 0) return fail("dns answer", "malformed name");
  return at + static_cast<size_t>(consumed);
}

}  // namespace

size_t Query::udp_answer_limit() const {
  if (!has_edns) return kClassicUdpAnswer;
  // RFC 6891 6.2.5: values below 512 are treated as 512. Cap to a size that avoids fragmentation.
  return std::clamp<size_t>(edns_udp_size, kClassicUdpAnswer, 4096);
}

Result<Header> parse_header(std::span<const uint8_t> m) {
  if (m.size() < kHeaderSize) return fail("dns message", "shorter than a header");
  Header h;
  h.id = read16(m, 0);
  h.flags = read16(m, 2);
  h.qdcount = read16(m, 4);
  h.ancount = read16(m, 6);
  h.nscount = read16(m, 8);
  h.arcount = read16(m, 10);
  return h;
}

Result<Query> parse_query(std::span<const uint8_t> m) {
  ASSIGN_OR_RETURN(Header h, parse_header(m));
  if (h.is_response()) return fail("dns query", "message is a response");
  if (h.opcode() != 0) return fail("dns query", "opcode is not QUERY");
  if (h.qdcount != 1) return fail("dns query", "question count is not 1");
  if (h.ancount != 0 || h.nscount != 0) return fail("dns query", "query carries records");
  if (h.arcount > 1) return fail("dns query", "more than one additional record");
  Query q;
  q.header = h;
  ASSIGN_OR_RETURN(size_t at, read_query_name(m, kHeaderSize, q.name));
  if (at + 4 > m.size()) return fail("dns query", "question runs past the end");
  q.qtype = read16(m, at);
  q.qclass = read16(m, at + 2);
  at += 4;
  q.question_end = at;
  if (h.arcount == 1) {
    // OPT pseudo-record: root name, type 41, class = UDP size, TTL = ext-rcode/version/flags.
    if (at + 11 > m.size() || m[at] != 0) return fail("dns query", "malformed additional record");
    if (read16(m, at + 1) != kTypeOpt) return fail("dns query", "additional record is not OPT");
    q.has_edns = true;
    q.edns_udp_size = read16(m, at + 3);
    q.edns_do = (read32(m, at + 5) & 0x8000) != 0;
    size_t rdlen = read16(m, at + 9);
    at += 11 + rdlen;
    if (at > m.size()) return fail("dns query", "OPT record runs past the end");
  }
  if (at != m.size()) return fail("dns query", "trailing bytes after the query");
  return q;
}

std::vector<uint8_t> make_error_response(std::span<const uint8_t> query, size_t question_end,
                                         Rcode rcode) {
  bool with_question = question_end > kHeaderSize && question_end <= query.size();
  size_t question_size = with_question ? question_end - kHeaderSize : 0;
  std::vector<uint8_t> out(kHeaderSize + question_size, 0);
  if (query.size() >= 4) std::copy_n(query.begin(), 4, out.begin());
  // Keep opcode and RD from the query; set QR and RA; clear AA, TC, Z, AD, CD and the rcode.
  out[2] = static_cast<uint8_t>(0x80 | (out[2] & 0x79));
  out[3] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(rcode));
  if (with_question) {
    out[5] = 1;
    std::copy_n(query.begin() + kHeaderSize, question_size, out.begin() + kHeaderSize);
  }
  return out;
}

std::vector<uint8_t> fit_udp(std::vector<uint8_t> answer, size_t question_end, size_t limit) {
  if (answer.size() <= limit) return answer;
  size_t keep =
      (question_end > kHeaderSize && question_end <= answer.size() && question_end <= limit)
          ? question_end
          : kHeaderSize;
  answer.resize(keep);
  answer[2] |= 0x02;  // TC
  answer[4] = 0;
  answer[5] = keep > kHeaderSize ? 1 : 0;
  std::fill(answer.begin() + 6, answer.begin() + kHeaderSize, 0);
  return answer;
}

void set_id(std::span<uint8_t> message, uint16_t id) {
  if (message.size() < 2) return;
  message[0] = static_cast<uint8_t>(id >> 8);
  message[1] = static_cast<uint8_t>(id);
}

Result<AnswerInfo> inspect_answer(std::span<const uint8_t> m) {
  AnswerInfo info;
  ASSIGN_OR_RETURN(info.header, parse_header(m));
  if (!info.header.is_response()) return fail("dns answer", "message is not a response");
  if (info.header.qdcount > 1) return fail("dns answer", "more than one question");
  size_t at = kHeaderSize;
  if (info.header.qdcount == 1) {
    ASSIGN_OR_RETURN(at, skip_name(m, at));
    at += 4;
    if (at > m.size()) return fail("dns answer", "question runs past the end");
  }
  info.question_end = at;
  size_t records = size_t{info.header.ancount} + info.header.nscount + info.header.arcount;
  bool have_answer_ttl = false;
  for (size_t i = 0; i < records; ++i) {
    ASSIGN_OR_RETURN(at, skip_name(m, at));
    if (at + 10 > m.size()) return fail("dns answer", "record runs past the end");
    uint16_t type = read16(m, at);
    uint32_t ttl = read32(m, at + 4);
    if (ttl > kMaxTtl) ttl = 0;
    size_t rdlen = read16(m, at + 8);
    if (type != kTypeOpt) info.ttl_offsets.push_back(at + 4);
    if (i < info.header.ancount) {
      info.min_answer_ttl = have_answer_ttl ? std::min(info.min_answer_ttl, ttl) : ttl;
      have_answer_ttl = true;
    }
    at += 10 + rdlen;
    if (at > m.size()) return fail("dns answer", "record data runs past the end");
  }
  return info;
}

void age_ttls(std::span<uint8_t> message, const std::vector<size_t>& ttl_offsets,
              uint32_t elapsed) {
  for (size_t at : ttl_offsets) {
    if (at + 4 > message.size()) continue;
    uint32_t ttl = read32(message, at);
    if (ttl > kMaxTtl) ttl = 0;
    write32(message, at, ttl > elapsed ? ttl - elapsed : 0);
  }
}

Addresses extract_addresses(std::span<const uint8_t> answer) {
  Addresses out;
  bool have_ttl = false;
  auto note_ttl = [&](int ttl) {
    uint32_t t = ttl < 0 ? 0 : static_cast<uint32_t>(ttl);
    out.min_ttl = have_ttl ? std::min(out.min_ttl, t) : t;
    have_ttl = true;
  };
  const int len = static_cast<int>(answer.size());

  std::array<ares_addrttl, kMaxAddresses> v4{};
  int n4 = static_cast<int>(v4.size());
  if (ares_parse_a_reply(answer.data(), len, nullptr, v4.data(), &n4) == ARES_SUCCESS) {
    for (int i = 0; i < n4; ++i) {
      net::IpAddress ip;
      ip.family = AF_INET;
      std::memcpy(ip.bytes.data(), &v4[static_cast<size_t>(i)].ipaddr, 4);
      out.addresses.push_back(ip);
      note_ttl(v4[static_cast<size_t>(i)].ttl);
    }
  }
  std::array<ares_addr6ttl, kMaxAddresses> v6{};
  int n6 = static_cast<int>(v6.size());
  if (ares_parse_aaaa_reply(answer.data(), len, nullptr, v6.data(), &n6) == ARES_SUCCESS) {
    for (int i = 0; i < n6; ++i) {
      net::IpAddress ip;
      ip.family = AF_INET6;
      std::memcpy(ip.bytes.data(), &v6[static_cast<size_t>(i)].ip6addr, 16);
      out.addresses.push_back(ip);
      note_ttl(v6[static_cast<size_t>(i)].ttl);
    }
  }
  std::sort(out.addresses.begin(), out.addresses.end());
  out.addresses.erase(std::unique(out.addresses.begin(), out.addresses.end()), out.addresses.end());
  return out;
}

}  // namespace nucleus::egress::dns
