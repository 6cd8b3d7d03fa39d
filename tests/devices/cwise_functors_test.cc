// The __host__ __device__ functors and the broadcast index helper, checked on the host against
// independent references (std:: math, Python-semantics integer division written out with
// double floor, hand-derived values).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "devices/common/cwise_functors.h"

using namespace quiver;

TEST_CASE("Unary functors match std:: math", "[cwise][functors]") {
  const std::vector<double> xs = {-3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 7.0};
  for (double x : xs) {
    CAPTURE(x);
    CHECK(functor::Neg<double>()(x) == -x);
    CHECK(functor::Abs<double>()(x) == std::fabs(x));
    CHECK(functor::Square<double>()(x) == x * x);
    CHECK(functor::Exp<double>()(x) == Approx(std::exp(x)));
    CHECK(functor::Tanh<double>()(x) == Approx(std::tanh(x)));
    CHECK(functor::Sigmoid<double>()(x) == Approx(1.0 / (1.0 + std::exp(-x))));
    CHECK(functor::Floor<double>()(x) == std::floor(x));
    CHECK(functor::Ceil<double>()(x) == std::ceil(x));
    CHECK(functor::Relu<double>()(x) == (x > 0 ? x : 0.0));
    CHECK(functor::Relu6<double>()(x) == std::min(std::max(x, 0.0), 6.0));
    CHECK(functor::Elu<double>()(x) == Approx(x < 0 ? std::exp(x) - 1.0 : x));
    CHECK(functor::Sign<double>()(x) == (x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0)));
    if (x > 0) {
      CHECK(functor::Log<double>()(x) == Approx(std::log(x)));
      CHECK(functor::Sqrt<double>()(x) == Approx(std::sqrt(x)));
      CHECK(functor::Rsqrt<double>()(x) == Approx(1.0 / std::sqrt(x)));
      CHECK(functor::Reciprocal<double>()(x) == Approx(1.0 / x));
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(functor::Relu<float>()(nan)));
  CHECK(std::isnan(functor::Relu6<float>()(nan)));
  CHECK(std::isnan(functor::Sign<float>()(nan)));
  CHECK(functor::Sigmoid<float>()(-200.0f) == 0.0f);  // no NaN from inf / inf
  CHECK(functor::Sigmoid<float>()(200.0f) == 1.0f);
  CHECK(functor::LogicalNot()(true) == false);
}

TEST_CASE("Integer functors wrap instead of overflowing", "[cwise][functors]") {
  const int32_t min32 = std::numeric_limits<int32_t>::min();
  const int32_t max32 = std::numeric_limits<int32_t>::max();
  CHECK(functor::Neg<int32_t>()(min32) == min32);
  CHECK(functor::Abs<int32_t>()(min32) == min32);
  CHECK(functor::Abs<int32_t>()(-5) == 5);
  CHECK(functor::Add<int32_t>()(max32, 1) == min32);
  CHECK(functor::Sub<int32_t>()(min32, 1) == max32);
  CHECK(functor::Mul<int32_t>()(65536, 65536) == 0);  // 2^32 mod 2^32
  CHECK(functor::Mul<int8_t>()(int8_t(16), int8_t(16)) == 0);
  CHECK(functor::Square<int64_t>()(int64_t(3037000500)) ==
        static_cast<int64_t>(3037000500ULL * 3037000500ULL));
  CHECK(functor::TruncDiv<int32_t>()(min32, -1) == min32);  // would trap as a raw division
  CHECK(functor::FloorDiv<int32_t>()(min32, -1) == min32);
  CHECK(functor::FloorMod<int32_t>()(min32, -1) == 0);
  CHECK(functor::Pow<int32_t>()(3, 4) == 81);
  CHECK(functor::Pow<int32_t>()(-2, 3) == -8);
  CHECK(functor::Pow<int32_t>()(0, 0) == 1);
  CHECK(functor::Pow<int64_t>()(2, 62) == (int64_t(1) << 62));
}

TEST_CASE("Integer division functors follow Python and C semantics", "[cwise][functors]") {
  for (int a = -9; a <= 9; ++a) {
    for (int b = -4; b <= 4; ++b) {
      if (b == 0) continue;
      CAPTURE(a, b);
      // Python: a // b == floor(a / b); a % b == a - b * (a // b).
      const int q = static_cast<int>(std::floor(static_cast<double>(a) / b));
      CHECK(functor::FloorDiv<int32_t>()(a, b) == q);
      CHECK(functor::FloorMod<int32_t>()(a, b) == a - b * q);
      CHECK(functor::FloorDiv<int64_t>()(a, b) == q);
      CHECK(functor::FloorMod<int64_t>()(a, b) == a - b * q);
      // C/TF Div: truncation toward zero.
      CHECK(functor::TruncDiv<int32_t>()(a, b) == static_cast<int>(std::trunc(double(a) / b)));
    }
  }
  // Hand-derived float cases.
  CHECK(functor::FloorDiv<float>()(-7.5f, 2.0f) == -4.0f);
  CHECK(functor::FloorMod<float>()(-7.5f, 2.0f) == 0.5f);
  CHECK(functor::FloorMod<float>()(7.5f, -2.0f) == -0.5f);
  CHECK(functor::FloorMod<double>()(6.0, 3.0) == 0.0);
}

TEST_CASE("Float FloorDiv and FloorMod follow Python's // and %", "[cwise][functors]") {
  // (a, b, a // b, a % b), worked by hand: the quotient rounds toward -inf and the remainder
  // takes the divisor's sign, so a == b * (a // b) + a % b.
  struct Case {
    float a, b, q, r;
  };
  const Case cases[] = {
      {7.0f, 2.0f, 3.0f, 1.0f},    {-7.0f, 2.0f, -4.0f, 1.0f},   {7.0f, -2.0f, -4.0f, -1.0f},
      {-7.0f, -2.0f, 3.0f, -1.0f}, {6.0f, 3.0f, 2.0f, 0.0f},     {-6.0f, 3.0f, -2.0f, 0.0f},
      {5.5f, 2.0f, 2.0f, 1.5f},    {-5.5f, 2.0f, -3.0f, 0.5f},   {5.5f, -2.0f, -3.0f, -0.5f},
      {0.75f, 0.5f, 1.0f, 0.25f},  {-0.75f, 0.5f, -2.0f, 0.25f}, {0.0f, -3.0f, -0.0f, 0.0f},
      {1.0f, 4.0f, 0.0f, 1.0f},    {-1.0f, 4.0f, -1.0f, 3.0f},
  };
  for (const Case& c : cases) {
    CAPTURE(c.a, c.b);
    CHECK(functor::FloorDiv<float>()(c.a, c.b) == c.q);
    CHECK(functor::FloorMod<float>()(c.a, c.b) == c.r);
  }
  // Division by zero follows IEEE (no error for floats, as in TF): +-inf quotient, NaN remainder.
  CHECK(functor::FloorDiv<float>()(1.0f, 0.0f) == std::numeric_limits<float>::infinity());
  CHECK(functor::FloorDiv<float>()(-1.0f, 0.0f) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(functor::FloorMod<float>()(1.0f, 0.0f)));
  CHECK(std::isnan(functor::FloorDiv<float>()(std::nanf(""), 2.0f)));
  CHECK(std::isnan(functor::FloorMod<float>()(std::nanf(""), 2.0f)));
}

TEST_CASE("EluGrad functor: gradients * (outputs + 1) where outputs < 0", "[cwise][functors]") {
  // outputs = elu(x): for x < 0 the derivative e^x equals outputs + 1.
  functor::EluGrad<float> f;
  CHECK(f(2.0f, 3.0f) == 2.0f);       // positive output: gradient passes through
  CHECK(f(2.0f, 0.0f) == 2.0f);       // 0 is not < 0
  CHECK(f(2.0f, -0.5f) == 1.0f);      // 2 * 0.5
  CHECK(f(-4.0f, -0.75f) == -1.0f);   // -4 * 0.25
  CHECK(f(3.0f, -1.0f) == 0.0f);      // saturated ELU: zero gradient
  const float y = std::expm1(-2.0f);  // elu(-2)
  CHECK(f(1.0f, y) == Approx(std::exp(-2.0f)));
  CHECK(functor::EluGrad<double>()(0.5, -0.5) == 0.25);
  CHECK(std::isnan(f(std::nanf(""), -0.5f)));
  CHECK(std::isnan(f(std::nanf(""), 1.0f)));
}

TEST_CASE("Binary float functors", "[cwise][functors]") {
  CHECK(functor::Add<float>()(1.5f, 2.25f) == 3.75f);
  CHECK(functor::RealDiv<float>()(1.0f, 4.0f) == 0.25f);
  CHECK(functor::SquaredDifference<float>()(1.0f, 4.0f) == 9.0f);
  CHECK(functor::Pow<double>()(2.0, 0.5) == Approx(std::sqrt(2.0)));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(functor::Maximum<double>()(nan, 1.0)));
  CHECK(std::isnan(functor::Maximum<double>()(1.0, nan)));
  CHECK(std::isnan(functor::Minimum<double>()(nan, 1.0)));
  CHECK(std::isnan(functor::Minimum<double>()(1.0, nan)));
  CHECK(functor::Maximum<double>()(-1.0, 2.0) == 2.0);
  CHECK(functor::Minimum<int32_t>()(-1, 2) == -1);
  CHECK(functor::Less<int>()(1, 2));
  CHECK_FALSE(functor::GreaterEqual<float>()(1.0f, 2.0f));
  CHECK(functor::NotEqual<double>()(nan, nan));
  CHECK_FALSE(functor::Equal<double>()(nan, nan));
  CHECK(functor::LogicalAnd()(true, true));
  CHECK_FALSE(functor::LogicalOr()(false, false));
}

TEST_CASE("BroadcastIndexer maps output indices to input offsets", "[cwise][functors]") {
  // x: [2, 1, 4], y: [3, 1] (as [1, 3, 1]) -> out [2, 3, 4].
  const int64_t out_dims[] = {2, 3, 4};
  const int64_t x_dims[] = {2, 1, 4};
  const int64_t y_dims[] = {1, 3, 1};
  functor::BroadcastIndexer idx;
  REQUIRE(functor::MakeBroadcastIndexer(3, out_dims, x_dims, y_dims, &idx));
  int64_t flat = 0;
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      for (int64_t k = 0; k < 4; ++k, ++flat) {
        int64_t xo, yo;
        idx.Offsets(flat, &xo, &yo);
        CAPTURE(i, j, k);
        CHECK(xo == i * 4 + k);  // x[i, 0, k]
        CHECK(yo == j);          // y[j, 0]
      }
    }
  }
  // Inconsistent dims and too-high rank are rejected, not mis-indexed.
  const int64_t bad_x[] = {2, 2, 4};
  CHECK_FALSE(functor::MakeBroadcastIndexer(3, out_dims, bad_x, y_dims, &idx));
  int64_t many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK_FALSE(functor::MakeBroadcastIndexer(9, many, many, many, &idx));
}
