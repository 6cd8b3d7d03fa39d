// CRC-32C against published vectors (RFC 3720 appendix B.4, and the "check" value of the
// Castagnoli CRC catalogue), and TF/LevelDB's mask.
#include "runtime/crc32c.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

namespace quiver {
namespace {

TEST_CASE("CRC-32C matches known vectors", "[crc32c]") {
  const std::string check = "123456789";
  CHECK(Crc32c(check.data(), check.size()) == 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), ascending(32);
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<uint8_t>(i);
  CHECK(Crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  CHECK(Crc32c(ones.data(), ones.size()) == 0x62A8AB43u);
  CHECK(Crc32c(ascending.data(), ascending.size()) == 0x46DD794Eu);
  CHECK(Crc32c(nullptr, 0) == 0u);
}

TEST_CASE("CRC-32C extends piecewise", "[crc32c]") {
  const std::string s = "The quick brown fox jumps over the lazy dog";
  const uint32_t whole = Crc32c(s.data(), s.size());
  for (size_t split = 0; split <= s.size(); ++split) {
    CHECK(Crc32cExtend(Crc32c(s.data(), split), s.data() + split, s.size() - split) == whole);
  }
}

TEST_CASE("CRC-32C mask is LevelDB's rotate-and-add and unmasks", "[crc32c]") {
  // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8, by hand: 0x2507C60D + 0xA282EAD8.
  CHECK(MaskCrc32c(0xE3069283u) == 0xC78AB0E5u);
  CHECK(MaskCrc32c(0) == 0xa282ead8u);
  for (uint32_t v : {0u, 1u, 0xE3069283u, 0xffffffffu, 0x12345678u}) {
    CHECK(UnmaskCrc32c(MaskCrc32c(v)) == v);
    CHECK(MaskCrc32c(v) != v);
  }
}

}  // namespace
}  // namespace quiver
