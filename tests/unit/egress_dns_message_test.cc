#include <ares.h>
#include <gtest/gtest.h>

#include "egress/dns_cache.h"
#include "egress/dns_message.h"

namespace nucleus::egress::dns {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes make_query(const char* name, int type, uint16_t id = 0x1234, int edns_size = 0) {
  unsigned char* buf = nullptr;
  int len = 0;
  EXPECT_EQ(ares_create_query(name, kClassIn, type, id, 1, &buf, &len, edns_size), ARES_SUCCESS);
  Bytes out(buf, buf + len);
  ares_free_string(buf);
  return out;
}

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

// A response to `query` (without its OPT record) with records appended by the caller.
struct AnswerBuilder {
  explicit AnswerBuilder(const Bytes& query) {
    auto q = parse_query(query);
    EXPECT_TRUE(q);
    bytes.assign(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(q->question_end));
    bytes[2] |= 0x80;
    bytes[3] = 0x80;
    bytes[10] = bytes[11] = 0;
  }
  // Owner name is the question (pointer to offset 12).
  AnswerBuilder& record(uint16_t type, uint32_t ttl, const Bytes& rdata, int section = 0) {
    put16(bytes, 0xc00c);
    put16(bytes, type);
    put16(bytes, kClassIn);
    put32(bytes, ttl);
    put16(bytes, static_cast<uint16_t>(rdata.size()));
    bytes.insert(bytes.end(), rdata.begin(), rdata.end());
    bytes[7 + 2 * section]++;
    return *this;
  }
  AnswerBuilder& a(uint32_t ttl, std::initializer_list<uint8_t> ip) {
    return record(kTypeA, ttl, ip);
  }
  AnswerBuilder& opt() {
    bytes.push_back(0);
    put16(bytes, kTypeOpt);
    put16(bytes, 1232);
    put32(bytes, 0);
    put16(bytes, 0);
    bytes[11]++;
    return *this;
  }
  Bytes bytes;
};

net::IpAddress ip(std::string_view text) { return *net::IpAddress::parse(text); }

TEST(DnsQuery, ExtractsIdNameTypeAndClass) {
  Bytes q = make_query("Api.Example.com", kTypeAAAA, 0xbeef);
  auto r = parse_query(q);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->header.id, 0xbeef);
  EXPECT_EQ(r->name, "Api.Example.com") << "case is preserved";
  EXPECT_EQ(r->qtype, kTypeAAAA);
  EXPECT_EQ(r->qclass, kClassIn);
  EXPECT_EQ(r->question_end, q.size());
  EXPECT_FALSE(r->has_edns);
  EXPECT_EQ(r->udp_answer_limit(), 512u);
}

TEST(DnsQuery, ReadsEdnsBufferSize) {
  Bytes q = make_query("example.com", kTypeA, 1, 1232);
  auto r = parse_query(q);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->has_edns);
  EXPECT_EQ(r->edns_udp_size, 1232);
  EXPECT_EQ(r->udp_answer_limit(), 1232u);
  EXPECT_LT(r->question_end, q.size());
}

TEST(DnsQuery, RootNameAndOddBytesAreEscaped) {
  Bytes root = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};
  auto r = parse_query(root);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->name, ".");
  // One label "a.b" (with a real dot byte) then "com".
  Bytes dotted = {0,   1,   1,   0, 0,   1,   0,   0, 0, 0, 0, 0, 3,
                  'a', '.', 'b', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
  auto d = parse_query(dotted);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->name, "a\\046b.com");
}

TEST(DnsQuery, RejectsEverythingButAPlainQuery) {
  Bytes good = make_query("example.com", kTypeA);
  ASSERT_TRUE(parse_query(good));
  auto broken = [&](auto mutate) {
    Bytes b = good;
    mutate(b);
    return !parse_query(b);
  };
  EXPECT_TRUE(broken([](Bytes& b) { b.resize(11); })) << "short header";
  EXPECT_TRUE(broken([](Bytes& b) { b[2] |= 0x80; })) << "response";
  EXPECT_TRUE(broken([](Bytes& b) { b[2] |= 0x10; })) << "opcode 2 (STATUS)";
  EXPECT_TRUE(broken([](Bytes& b) { b[5] = 0; })) << "no question";
  EXPECT_TRUE(broken([](Bytes& b) { b[5] = 2; })) << "two questions";
  EXPECT_TRUE(broken([](Bytes& b) { b[7] = 1; })) << "answer records";
  EXPECT_TRUE(broken([](Bytes& b) { b[9] = 1; })) << "authority records";
  EXPECT_TRUE(broken([](Bytes& b) { b[11] = 1; })) << "additional record missing";
  EXPECT_TRUE(broken([](Bytes& b) { b.pop_back(); })) << "cut qclass";
  EXPECT_TRUE(broken([](Bytes& b) { b.resize(16); })) << "cut label";
  EXPECT_TRUE(broken([](Bytes& b) { b.push_back(0); })) << "trailing byte";
  EXPECT_TRUE(broken([](Bytes& b) { b[12] = 0xc0; })) << "compression pointer";
  EXPECT_TRUE(broken([](Bytes& b) { b[12] = 0x40; })) << "extended label";
  EXPECT_TRUE(broken([](Bytes& b) { b[12] = 60; })) << "label past the end";
}

TEST(DnsQuery, RejectsNamesLongerThan255Octets) {
  Bytes b = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 5; ++i) {
    b.push_back(63);
    b.insert(b.end(), 63, 'a');
  }
  b.push_back(0);
  put16(b, kTypeA);
  put16(b, kClassIn);
  EXPECT_FALSE(parse_query(b));
}

TEST(DnsQuery, RejectsNonOptAdditionalRecord) {
  Bytes b = make_query("example.com", kTypeA, 1, 1232);
  auto q = parse_query(b);
  ASSERT_TRUE(q);
  b[q->question_end + 2] = 250;  // type 41 -> 250 (TSIG)
  EXPECT_FALSE(parse_query(b));
}

TEST(DnsResponse, ErrorResponseEchoesIdRdAndQuestion) {
  Bytes q = make_query("blocked.example", kTypeA, 0x4242, 1232);
  auto parsed = parse_query(q);
  ASSERT_TRUE(parsed);
  Bytes r = make_error_response(q, parsed->question_end, Rcode::kRefused);
  ASSERT_EQ(r.size(), parsed->question_end);
  auto h = parse_header(r);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->id, 0x4242);
  EXPECT_TRUE(h->is_response());
  EXPECT_EQ(h->rcode(), Rcode::kRefused);
  EXPECT_TRUE(h->flags & 0x0100) << "RD copied";
  EXPECT_EQ(h->qdcount, 1);
  EXPECT_EQ(h->ancount + h->nscount + h->arcount, 0);
  EXPECT_TRUE(std::equal(r.begin() + 12, r.end(), q.begin() + 12));
  // And c-ares, as a client, reads it as a refusal.
  EXPECT_EQ(ares_parse_a_reply(r.data(), static_cast<int>(r.size()), nullptr, nullptr, nullptr),
            ARES_ENODATA);
  Bytes bare = make_error_response(q, 0, Rcode::kFormErr);
  EXPECT_EQ(bare.size(), kHeaderSize);
  EXPECT_EQ(parse_header(bare)->qdcount, 0);
}

TEST(DnsResponse, OversizeUdpAnswerIsTruncatedWithTc) {
  Bytes q = make_query("big.example", kTypeA);
  AnswerBuilder b(q);
  for (uint8_t i = 0; i < 40; ++i) b.a(300, {203, 0, 113, i});
  ASSERT_GT(b.bytes.size(), 512u);
  auto parsed = parse_query(q);
  Bytes fitted = fit_udp(b.bytes, parsed->question_end, 512);
  EXPECT_EQ(fitted.size(), parsed->question_end);
  auto h = parse_header(fitted);
  EXPECT_TRUE(h->flags & 0x0200);
  EXPECT_EQ(h->ancount, 0);
  EXPECT_EQ(fit_udp(b.bytes, parsed->question_end, 4096), b.bytes) << "fits: unchanged";
}

TEST(DnsAnswer, InspectFindsTtlsAndSkipsOpt) {
  Bytes q = make_query("allowed.test", kTypeA);
  Bytes answer = AnswerBuilder(q).a(300, {203, 0, 113, 10}).a(120, {203, 0, 113, 11}).opt().bytes;
  auto info = inspect_answer(answer);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->min_answer_ttl, 120u);
  EXPECT_EQ(info->ttl_offsets.size(), 2u) << "OPT's TTL field is flags, not a TTL";
  age_ttls(answer, info->ttl_offsets, 200);
  auto aged = inspect_answer(answer);
  EXPECT_EQ(aged->min_answer_ttl, 0u) << "120 - 200 clamps at 0";
  auto found = extract_addresses(answer);
  ASSERT_EQ(found.addresses.size(), 2u);
  EXPECT_EQ(found.addresses[0], ip("203.0.113.10"));
}

TEST(DnsAnswer, InspectRejectsMalformedAnswers) {
  Bytes q = make_query("allowed.test", kTypeA);
  Bytes answer = AnswerBuilder(q).a(300, {203, 0, 113, 10}).bytes;
  for (size_t cut = 0; cut < answer.size(); ++cut) {
    Bytes b(answer.begin(), answer.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_FALSE(inspect_answer(b)) << "cut at " << cut;
  }
  Bytes loop = answer;
  loop[q.size()] = 0xc0;
  loop[q.size() + 1] = static_cast<uint8_t>(q.size());  // pointer to itself
  EXPECT_FALSE(inspect_answer(loop));
  EXPECT_FALSE(inspect_answer(q)) << "a query is not an answer";
}

TEST(DnsAnswer, ExtractsAaaaAndFollowsCname) {
  Bytes q = make_query("www.allowed.test", kTypeAAAA);
  AnswerBuilder b(q);
  // CNAME www.allowed.test -> cdn.test, then AAAA for cdn.test.
  Bytes target = {3, 'c', 'd', 'n', 4, 't', 'e', 's', 't', 0};
  b.record(5, 600, target);
  size_t target_offset = b.bytes.size() - target.size();
  put16(b.bytes, static_cast<uint16_t>(0xc000 | target_offset));
  put16(b.bytes, kTypeAAAA);
  put16(b.bytes, kClassIn);
  put32(b.bytes, 90);
  put16(b.bytes, 16);
  auto v6 = ip("2001:db8:113::10");
  b.bytes.insert(b.bytes.end(), v6.bytes.begin(), v6.bytes.end());
  b.bytes[7]++;
  auto found = extract_addresses(b.bytes);
  ASSERT_EQ(found.addresses.size(), 1u);
  EXPECT_EQ(found.addresses[0], v6);
  EXPECT_EQ(found.min_ttl, 90u);
}

TEST(DnsAnswer, NoAddressesInRefusalOrGarbage) {
  Bytes q = make_query("x.test", kTypeA);
  EXPECT_TRUE(
      extract_addresses(make_error_response(q, q.size(), Rcode::kRefused)).addresses.empty());
  Bytes junk(100, 0xff);
  EXPECT_TRUE(extract_addresses(junk).addresses.empty());
  EXPECT_TRUE(extract_addresses({}).addresses.empty());
}

TEST(DnsCache, HitRewritesIdCaseAndAgesTtl) {
  Bytes q1 = make_query("allowed.test", kTypeA, 1);
  Bytes answer = AnswerBuilder(q1).a(100, {203, 0, 113, 10}).bytes;
  AnswerCache cache(8);
  auto t0 = Clock::now();
  auto info = inspect_answer(answer);
  cache.store(*parse_query(q1), answer, *info, {ip("203.0.113.10")}, t0);
  Bytes q2 = make_query("ALLOWED.test", kTypeA, 2);
  auto hit = cache.lookup(*parse_query(q2), q2, t0 + std::chrono::seconds(30));
  ASSERT_TRUE(hit);
  EXPECT_EQ(parse_header(hit->answer)->id, 2);
  EXPECT_TRUE(std::equal(q2.begin() + 12, q2.end(), hit->answer.begin() + 12))
      << "client's spelling of the question";
  EXPECT_EQ(inspect_answer(hit->answer)->min_answer_ttl, 70u);
  EXPECT_EQ(hit->remaining_ttl, 70u);
  EXPECT_EQ(hit->addresses, std::vector<net::IpAddress>{ip("203.0.113.10")});
  EXPECT_FALSE(cache.lookup(*parse_query(q2), q2, t0 + std::chrono::seconds(100)))
      << "expired at its TTL";
  Bytes other_type = make_query("allowed.test", kTypeAAAA, 3);
  EXPECT_FALSE(cache.lookup(*parse_query(other_type), other_type, t0));
}

TEST(DnsCache, DoesNotKeepNegativeOrZeroTtlAnswersAndStaysBounded) {
  AnswerCache cache(2);
  auto t0 = Clock::now();
  Bytes q = make_query("a.test", kTypeA);
  Bytes refused = make_error_response(q, q.size(), Rcode::kNxDomain);
  cache.store(*parse_query(q), refused, *inspect_answer(refused), {}, t0);
  Bytes zero = AnswerBuilder(q).a(0, {203, 0, 113, 1}).bytes;
  cache.store(*parse_query(q), zero, *inspect_answer(zero), {}, t0);
  EXPECT_EQ(cache.size(), 0u);
  for (const char* name : {"a.test", "b.test", "c.test"}) {
    Bytes qq = make_query(name, kTypeA);
    Bytes ans = AnswerBuilder(qq).a(100, {203, 0, 113, 1}).bytes;
    cache.store(*parse_query(qq), ans, *inspect_answer(ans), {}, t0);
  }
  EXPECT_EQ(cache.size(), 2u);
}

TEST(DnsRateLimiter, TokenBucketRefillsAndIsPerClient) {
  RateLimiter limiter(10, 3, 2);
  auto t0 = Clock::now();
  EXPECT_TRUE(limiter.allow("a", t0));
  EXPECT_TRUE(limiter.allow("a", t0));
  EXPECT_TRUE(limiter.allow("a", t0));
  EXPECT_FALSE(limiter.allow("a", t0)) << "burst of 3 used up";
  EXPECT_TRUE(limiter.allow("b", t0)) << "other client has its own bucket";
  EXPECT_TRUE(limiter.allow("a", t0 + std::chrono::milliseconds(150))) << "refilled 1.5 tokens";
  EXPECT_FALSE(limiter.allow("c", t0)) << "client table full, nobody refilled";
  EXPECT_TRUE(limiter.allow("c", t0 + std::chrono::seconds(10))) << "stale buckets forgotten";
}

}  // namespace
}  // namespace nucleus::egress::dns
