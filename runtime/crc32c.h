// CRC-32C (Castagnoli), as LevelDB and TensorFlow's tensor bundles use it, and their "mask"
// that keeps a CRC stored next to the data it covers from being a CRC of CRC-bearing bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quiver {

// Continues `crc` (0 to start) over n bytes: Crc32cExtend(Crc32cExtend(0, a), b) equals the
// CRC of a followed by b.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

// LevelDB / TF: rotate right by 15 and add a constant.
inline uint32_t MaskCrc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t UnmaskCrc32c(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace quiver
