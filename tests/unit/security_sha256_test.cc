// SHA-256 against FIPS 180-4 / NIST vectors, and the pin check built on it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "core/security/sha256.h"

namespace nucleus::security {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesMatchOneShot) {
  std::string data(1000, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  Sha256 h;
  // Odd chunk sizes cross the 64-byte block and the 56-byte padding boundary.
  for (std::size_t pos = 0, step = 1; pos < data.size(); pos += step, step = step % 70 + 3) {
    h.update(std::string_view(data).substr(pos, step));
  }
  auto digest = h.finish();
  std::string hex;
  for (auto b : digest) {
    char buf[3];
    snprintf(buf, sizeof buf, "%02x", b);
    hex += buf;
  }
  EXPECT_EQ(hex, sha256_hex(data));
}

class PinnedFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "pinned-" + std::to_string(::getpid());
    std::ofstream(path_) << "abc";
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  std::string path_;
};

TEST_F(PinnedFile, MatchingPinReturnsContent) {
  auto r = read_pinned_file(path_, "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, "abc");
  EXPECT_TRUE(read_pinned_file(path_, std::nullopt));
}

TEST_F(PinnedFile, MismatchAndMalformedPinsFail) {
  auto wrong = read_pinned_file(path_, std::string(64, '0'));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("digest mismatch"), std::string::npos);
  EXPECT_FALSE(read_pinned_file(path_, "abc"));
  EXPECT_FALSE(read_pinned_file(path_, std::string(64, 'g')));
  EXPECT_FALSE(read_pinned_file(path_ + ".missing", std::nullopt));
}

}  // namespace
}  // namespace nucleus::security
