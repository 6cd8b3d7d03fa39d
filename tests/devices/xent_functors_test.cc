// functor::SparseXentRow (the per-row body of the GPU SparseSoftmaxCrossEntropyWithLogits
// kernel), checked on the host against hand-derived values.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "devices/common/xent_functors.h"

using namespace quiver;

TEST_CASE("SparseXentRow: loss and backprop from hand-derived softmaxes", "[xent][functors]") {
  // Two equal logits: softmax (1/2, 1/2), loss -log(1/2) = log 2.
  {
    const float logits[] = {1.0f, 1.0f};
    float back[2];
    CHECK(functor::SparseXentRow(logits, 2, 0, back) == Approx(std::log(2.0)));
    CHECK(back[0] == Approx(-0.5));
    CHECK(back[1] == Approx(0.5));
  }
  // Logits (0, log 3): softmax (1/4, 3/4). Large offsets must not overflow (max subtracted).
  // The expected values use the logits' actual float difference d: p0 = 1 / (1 + e^d).
  for (float offset : {0.0f, 80.0f, 1000.0f, -1000.0f}) {
    CAPTURE(offset);
    const float logits[] = {offset, offset + std::log(3.0f)};
    const double d = static_cast<double>(logits[1]) - static_cast<double>(logits[0]);
    CHECK(d == Approx(std::log(3.0)).epsilon(1e-3));
    const double p0 = 1.0 / (1.0 + std::exp(d)), p1 = 1.0 - p0;
    float back[2];
    CHECK(functor::SparseXentRow(logits, 2, 0, back) == Approx(-std::log(p0)).epsilon(1e-5));
    CHECK(back[0] == Approx(p0 - 1.0).epsilon(1e-5));
    CHECK(back[1] == Approx(p1).epsilon(1e-5));
    CHECK(functor::SparseXentRow(logits, 2, 1, back) == Approx(-std::log(p1)).epsilon(1e-5));
    CHECK(back[0] == Approx(p0).epsilon(1e-5));
    CHECK(back[1] == Approx(p1 - 1.0).epsilon(1e-5));
  }
  // One class: softmax 1, loss 0, backprop 0.
  {
    const double logits[] = {-3.5};
    double back[1];
    CHECK(functor::SparseXentRow(logits, 1, 0, back) == 0.0);
    CHECK(back[0] == 0.0);
  }
  // A -inf logit on a wrong class contributes nothing.
  {
    const float logits[] = {-INFINITY, 0.0f, 0.0f};
    float back[3];
    CHECK(functor::SparseXentRow(logits, 3, 2, back) == Approx(std::log(2.0)));
    CHECK(back[0] == 0.0f);
    CHECK(back[1] == Approx(0.5));
    CHECK(back[2] == Approx(-0.5));
  }
}

TEST_CASE("SparseXentRow: an out-of-range label gives NaN, never an out-of-bounds read",
          "[xent][functors]") {
  const float logits[] = {0.5f, -0.5f, 2.0f};
  for (int64_t label : {int64_t{-1}, int64_t{3}, int64_t{1} << 40}) {
    CAPTURE(label);
    float back[3] = {0.f, 0.f, 0.f};
    CHECK(std::isnan(functor::SparseXentRow(logits, 3, label, back)));
    for (float b : back) CHECK(std::isnan(b));
  }
  float unused = 7.f;
  CHECK(functor::SparseXentRow(logits, 0, 0, &unused) == 0.0f);
  CHECK(unused == 7.f);
}
