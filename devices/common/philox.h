// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// counter-based generator TensorFlow's random ops use, and the transforms TF applies to its
// output. Following TF bit for bit means a graph with fixed (seed, seed2) attrs draws the same
// numbers here as under TensorFlow on the CPU (up to libm's rounding of log/sin/cos).
//
// A generator is a 128-bit counter and a 64-bit key; each call returns four 32-bit words and
// advances the counter by one. Skip(n) jumps ahead in O(1), so disjoint ranges of the stream
// can be handed to threads (or CUDA blocks) without sharing state.
//
// Everything here is __host__ __device__ (QUIVER_HOST_DEVICE) and header-only.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "devices/common/host_device.h"

namespace quiver::random {

// Four 32-bit words: one Philox output.
struct Philox4 {
  uint32_t v[4];
};

class Philox4x32 {
 public:
  static constexpr int kResultElementCount = 4;

  QUIVER_HOST_DEVICE Philox4x32() : counter_{0, 0, 0, 0}, key_{0, 0} {}
  // TF's PhiloxRandom(seed_lo, seed_hi): seed_lo is the key, seed_hi the counter's high half.
  QUIVER_HOST_DEVICE Philox4x32(uint64_t seed_lo, uint64_t seed_hi)
      : counter_{0, 0, static_cast<uint32_t>(seed_hi), static_cast<uint32_t>(seed_hi >> 32)},
        key_{static_cast<uint32_t>(seed_lo), static_cast<uint32_t>(seed_lo >> 32)} {}

  // Advances the 128-bit counter by `count` outputs.
  QUIVER_HOST_DEVICE void Skip(uint64_t count) {
    const uint32_t count_lo = static_cast<uint32_t>(count);
    uint32_t count_hi = static_cast<uint32_t>(count >> 32);
    counter_[0] += count_lo;
    if (counter_[0] < count_lo) ++count_hi;  // carry out of word 0
    counter_[1] += count_hi;
    if (counter_[1] < count_hi) {
      if (++counter_[2] == 0) ++counter_[3];
    }
  }

  QUIVER_HOST_DEVICE Philox4 operator()() {
    Philox4 c = {{counter_[0], counter_[1], counter_[2], counter_[3]}};
    uint32_t k0 = key_[0], k1 = key_[1];
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {  // the key is bumped between rounds
        k0 += kW32A;
        k1 += kW32B;
      }
      c = Round(c, k0, k1);
    }
    SkipOne();
    return c;
  }

 private:
  static constexpr uint32_t kM4x32A = 0xD2511F53u;
  static constexpr uint32_t kM4x32B = 0xCD9E8D57u;
  static constexpr uint32_t kW32A = 0x9E3779B9u;  // golden ratio
  static constexpr uint32_t kW32B = 0xBB67AE85u;  // sqrt(3) - 1

  QUIVER_HOST_DEVICE static Philox4 Round(const Philox4& c, uint32_t k0, uint32_t k1) {
    const uint64_t p0 = static_cast<uint64_t>(kM4x32A) * c.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kM4x32B) * c.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    return Philox4{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
  }

  QUIVER_HOST_DEVICE void SkipOne() {
    if (++counter_[0] == 0 && ++counter_[1] == 0 && ++counter_[2] == 0) ++counter_[3];
  }

  uint32_t counter_[4];
  uint32_t key_[2];
};

// Hands out a Philox stream one 32-bit word at a time (TF's SingleSampleAdapter), for
// rejection samplers that need a variable number of words.
class SingleSampler {
 public:
  QUIVER_HOST_DEVICE explicit SingleSampler(Philox4x32* gen) : gen_(gen), used_(4) {}
  QUIVER_HOST_DEVICE uint32_t operator()() {
    if (used_ == 4) {
      buf_ = (*gen_)();
      used_ = 0;
    }
    return buf_.v[used_++];
  }

 private:
  Philox4x32* gen_;
  Philox4 buf_ = {{0, 0, 0, 0}};
  int used_;
};

// ---- transforms (TF's random_distributions.h) ------------------------------------------------

// A float in [0, 1) from the low 23 bits: 1.mantissa - 1.
QUIVER_HOST_DEVICE float Uint32ToFloat(uint32_t x) {
  const uint32_t bits = (x & 0x7fffffu) | 0x3f800000u;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f - 1.0f;
}

// A double in [0, 1) from 52 bits: the low 20 bits of x0 and all of x1.
QUIVER_HOST_DEVICE double Uint64ToDouble(uint32_t x0, uint32_t x1) {
  const uint64_t mantissa = (static_cast<uint64_t>(x0 & 0xfffffu) << 32) | x1;
  const uint64_t bits = (uint64_t{1023} << 52) | mantissa;
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d - 1.0;
}

// Box-Muller: two uniform words to two independent standard normals. u1 is clamped away from
// 0 so log stays finite. The angle is computed in double and rounded, as TF's
// `2.0f * M_PI * u` (a double expression) does.
QUIVER_HOST_DEVICE void BoxMullerFloat(uint32_t x0, uint32_t x1, float* f0, float* f1) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  float u1 = Uint32ToFloat(x0);
  if (u1 < 1.0e-7f) u1 = 1.0e-7f;
  const float v1 = static_cast<float>(kTwoPi * static_cast<double>(Uint32ToFloat(x1)));
  const float r = sqrtf(-2.0f * logf(u1));
  *f0 = sinf(v1) * r;
  *f1 = cosf(v1) * r;
}

QUIVER_HOST_DEVICE void BoxMullerDouble(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3,
                                        double* d0, double* d1) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  double u1 = Uint64ToDouble(x0, x1);
  if (u1 < 1.0e-7) u1 = 1.0e-7;
  const double v1 = kTwoPi * Uint64ToDouble(x2, x3);
  const double r = sqrt(-2.0 * log(u1));
  *d0 = sin(v1) * r;
  *d1 = cos(v1) * r;
}

// ---- distributions: one Philox output (or, truncated, a rejection loop) to a group ---------
//
// kGroup is how many values one call produces. Fixed-cost distributions consume exactly one
// Philox output per group, so group g of a tensor uses counter base + g. TruncatedNormal
// consumes a variable number of words, so group g starts at base + g * kSkipPerGroup, TF's
// reservation of 256 words per value.

template <typename T>
struct UniformDist;
template <>
struct UniformDist<float> {
  static constexpr int kGroup = 4;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, float* out) {
    const Philox4 s = (*gen)();
    for (int i = 0; i < 4; ++i) out[i] = Uint32ToFloat(s.v[i]);
  }
};
template <>
struct UniformDist<double> {
  static constexpr int kGroup = 2;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, double* out) {
    const Philox4 s = (*gen)();
    for (int i = 0; i < 2; ++i) out[i] = Uint64ToDouble(s.v[2 * i], s.v[2 * i + 1]);
  }
};

template <typename T>
struct NormalDist;
template <>
struct NormalDist<float> {
  static constexpr int kGroup = 4;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, float* out) {
    const Philox4 s = (*gen)();
    BoxMullerFloat(s.v[0], s.v[1], &out[0], &out[1]);
    BoxMullerFloat(s.v[2], s.v[3], &out[2], &out[3]);
  }
};
template <>
struct NormalDist<double> {
  static constexpr int kGroup = 2;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, double* out) {
    const Philox4 s = (*gen)();
    BoxMullerDouble(s.v[0], s.v[1], s.v[2], s.v[3], &out[0], &out[1]);
  }
};

// Normals with |x| >= 2 rejected and redrawn.
template <typename T>
struct TruncatedNormalDist;
template <>
struct TruncatedNormalDist<float> {
  static constexpr int kGroup = 4;
  static constexpr uint64_t kSkipPerGroup = kGroup * 256 / 4;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, float* out) {
    SingleSampler words(gen);
    int n = 0;
    for (;;) {
      const uint32_t x0 = words(), x1 = words();
      float f[2];
      BoxMullerFloat(x0, x1, &f[0], &f[1]);
      for (int i = 0; i < 2; ++i) {
        if (fabsf(f[i]) < 2.0f) {
          out[n++] = f[i];
          if (n == kGroup) return;
        }
      }
    }
  }
};
template <>
struct TruncatedNormalDist<double> {
  static constexpr int kGroup = 2;
  static constexpr uint64_t kSkipPerGroup = kGroup * 256 / 4;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, double* out) {
    SingleSampler words(gen);
    int n = 0;
    for (;;) {
      const uint32_t x0 = words(), x1 = words(), x2 = words(), x3 = words();
      double d[2];
      BoxMullerDouble(x0, x1, x2, x3, &d[0], &d[1]);
      for (int i = 0; i < 2; ++i) {
        if (fabs(d[i]) < 2.0) {
          out[n++] = d[i];
          if (n == kGroup) return;
        }
      }
    }
  }
};

// Integers in [lo, lo + range) by `bits % range` (TF's slightly biased method, kept for
// equal streams). range > 0; computed unsigned so lo + offset cannot overflow.
template <typename T>
struct UniformIntDist;
template <>
struct UniformIntDist<int32_t> {
  static constexpr int kGroup = 4;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, int32_t lo, uint32_t range, int32_t* out) {
    const Philox4 s = (*gen)();
    for (int i = 0; i < 4; ++i) {
      out[i] = static_cast<int32_t>(static_cast<uint32_t>(lo) + s.v[i] % range);
    }
  }
};
template <>
struct UniformIntDist<int64_t> {
  static constexpr int kGroup = 2;
  QUIVER_HOST_DEVICE static void Fill(Philox4x32* gen, int64_t lo, uint64_t range, int64_t* out) {
    const Philox4 s = (*gen)();
    for (int i = 0; i < 2; ++i) {
      const uint64_t bits = s.v[2 * i] | (static_cast<uint64_t>(s.v[2 * i + 1]) << 32);
      out[i] = static_cast<int64_t>(static_cast<uint64_t>(lo) + bits % range);
    }
  }
};

}  // namespace quiver::random
