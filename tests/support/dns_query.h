// Builds DNS queries for tests with c-ares (no hand-written encoder).
#pragma once

#include <ares.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "egress/dns_message.h"

namespace nucleus::testing {

inline std::vector<uint8_t> make_query(const char* name, int type, uint16_t id = 0x1234) {
  unsigned char* buf = nullptr;
  int len = 0;
  EXPECT_EQ(ares_create_query(name, egress::dns::kClassIn, type, id, 1, &buf, &len, 0),
            ARES_SUCCESS);
  std::vector<uint8_t> out(buf, buf + len);
  ares_free_string(buf);
  return out;
}

}  // namespace nucleus::testing
