// The index helpers the CUDA data-movement and reduction kernels are built on, checked on the
// host against naive nested loops over multi-indices (tests/devices/index_test_util.h) and against
// hand-derived values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "devices/common/index_helpers.h"
#include "devices/common/nn_functors.h"
#include "tests/devices/index_test_util.h"

using namespace quiver;
using index::StridedIndexer;
using index_test::Product;
using index_test::Ravel;
using index_test::Unravel;

TEST_CASE("Index helpers: row-major strides", "[index]") {
  int64_t dims[3] = {2, 3, 4}, strides[3];
  index::RowMajorStrides(3, dims, strides);
  CHECK(strides[0] == 12);
  CHECK(strides[1] == 4);
  CHECK(strides[2] == 1);
}

TEST_CASE("Index helpers: transpose matches the definition out[i] = in[perm(i)]", "[index]") {
  const std::vector<int64_t> in_dims = {2, 3, 4, 5};
  const std::vector<std::vector<int>> perms = {
      {0, 1, 2, 3}, {3, 2, 1, 0}, {0, 3, 1, 2}, {1, 0, 3, 2}, {2, 0, 3, 1}};
  for (const auto& perm : perms) {
    StridedIndexer ix;
    REQUIRE(index::MakeTransposeIndexer(4, in_dims.data(), perm.data(), &ix));
    std::vector<int64_t> out_dims(4);
    for (int d = 0; d < 4; ++d) out_dims[d] = in_dims[perm[d]];
    REQUIRE(ix.NumElements() == Product(in_dims));
    for (int64_t o = 0; o < Product(out_dims); ++o) {
      std::vector<int64_t> oi = Unravel(o, out_dims), ii(4);
      for (int d = 0; d < 4; ++d) ii[perm[d]] = oi[d];  // out axis d is in axis perm[d]
      REQUIRE(ix.Offset(o) == Ravel(ii, in_dims));
    }
  }
  // A 2-d transpose by hand: [2,3] -> [3,2]; out[1,0] = in[0,1] = offset 1; out[0,1] = in[1,0].
  int64_t d2[2] = {2, 3};
  int p2[2] = {1, 0};
  StridedIndexer t;
  REQUIRE(index::MakeTransposeIndexer(2, d2, p2, &t));
  CHECK(t.Offset(2) == 1);
  CHECK(t.Offset(1) == 3);
  int bad[2] = {0, 0};
  CHECK_FALSE(index::MakeTransposeIndexer(2, d2, bad, &t));
  int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  int p9[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  CHECK_FALSE(index::MakeTransposeIndexer(9, d9, p9, &t));
}

TEST_CASE("Index helpers: slices with positive and negative steps", "[index]") {
  const std::vector<int64_t> in = {4, 5, 6};
  // x[1:4, 4:0:-2, ::3] -> dims {3, 2, 2}
  const int64_t begin[3] = {1, 4, 0}, step[3] = {1, -2, 3}, out_dims[3] = {3, 2, 2};
  StridedIndexer ix;
  REQUIRE(index::MakeSliceIndexer(3, in.data(), begin, step, out_dims, &ix));
  std::vector<int64_t> od(out_dims, out_dims + 3);
  for (int64_t o = 0; o < Product(od); ++o) {
    std::vector<int64_t> oi = Unravel(o, od), ii(3);
    for (int d = 0; d < 3; ++d) ii[d] = begin[d] + oi[d] * step[d];
    REQUIRE(ix.Offset(o) == Ravel(ii, in));
  }
  // First element x[1,4,0] = 1*30 + 4*6 + 0 = 54; last x[3,2,3] = 90 + 12 + 3 = 105.
  CHECK(ix.Offset(0) == 54);
  CHECK(ix.Offset(11) == 105);
  // Out-of-range slices are refused.
  const int64_t bad_begin[3] = {3, 4, 0};
  CHECK_FALSE(index::MakeSliceIndexer(3, in.data(), bad_begin, step, out_dims, &ix));
  // Empty slices are fine whatever the begin.
  const int64_t empty_dims[3] = {0, 2, 2};
  CHECK(index::MakeSliceIndexer(3, in.data(), bad_begin, step, empty_dims, &ix));
  CHECK(ix.NumElements() == 0);
}

TEST_CASE("Index helpers: concat inputs land at their axis offsets", "[index]") {
  // Concat [2,1,3] and [2,4,3] along axis 1 -> [2,5,3].
  const std::vector<int64_t> a = {2, 1, 3}, b = {2, 4, 3}, out = {2, 5, 3};
  std::vector<int> owner(Product(out), -1);
  std::vector<int64_t> src(Product(out), -1);
  int k = 0;
  int64_t offset = 0;
  for (const auto* in : {&a, &b}) {
    StridedIndexer ix;
    REQUIRE(index::MakeConcatInputIndexer(3, in->data(), out.data(), 1, offset, &ix));
    for (int64_t i = 0; i < Product(*in); ++i) {
      int64_t o = ix.Offset(i);
      REQUIRE(owner[o] == -1);  // every output element written exactly once
      owner[o] = k;
      src[o] = i;
    }
    offset += (*in)[1];
    ++k;
  }
  for (int64_t o = 0; o < Product(out); ++o) {
    std::vector<int64_t> oi = Unravel(o, out);
    int expect_owner = oi[1] < 1 ? 0 : 1;
    CHECK(owner[o] == expect_owner);
    std::vector<int64_t> ii = oi;
    if (expect_owner == 1) ii[1] -= 1;
    CHECK(src[o] == Ravel(ii, expect_owner == 0 ? a : b));
  }
  StridedIndexer ix;
  CHECK_FALSE(index::MakeConcatInputIndexer(3, b.data(), out.data(), 1, 2, &ix));  // overflows
  const std::vector<int64_t> wrong = {3, 1, 3};
  CHECK_FALSE(index::MakeConcatInputIndexer(3, wrong.data(), out.data(), 1, 0, &ix));
}

TEST_CASE("Index helpers: reductions over any axes sum like nested loops", "[index]") {
  const std::vector<int64_t> dims = {2, 3, 4, 5};
  std::vector<double> x(Product(dims));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>((i * 7919) % 101) - 50.0;
  for (int mask = 0; mask < 16; ++mask) {
    bool reduced[4];
    for (int d = 0; d < 4; ++d) reduced[d] = (mask >> d) & 1;
    // Reference: accumulate every input element into its kept-dims output slot.
    std::vector<int64_t> kept_dims;
    for (int d = 0; d < 4; ++d) {
      if (!reduced[d]) kept_dims.push_back(dims[d]);
    }
    std::vector<double> expect(Product(kept_dims), 0.0);
    for (int64_t i = 0; i < Product(dims); ++i) {
      std::vector<int64_t> ii = Unravel(i, dims), ki;
      for (int d = 0; d < 4; ++d) {
        if (!reduced[d]) ki.push_back(ii[d]);
      }
      expect[Ravel(ki, kept_dims)] += x[i];
    }
    // Through the helpers, collapsed first as the launchers do.
    int64_t cdims[4];
    bool cred[4];
    int crank = index::CollapseReduceDims(4, dims.data(), reduced, cdims, cred);
    index::ReduceIndexer r;
    REQUIRE(index::MakeReduceIndexer(crank, cdims, cred, &r));
    CAPTURE(mask, crank);
    REQUIRE(r.num_outputs == static_cast<int64_t>(expect.size()));
    REQUIRE(r.num_outputs * r.num_reduced == Product(dims));
    for (int64_t o = 0; o < r.num_outputs; ++o) {
      double s = 0;
      for (int64_t k = 0; k < r.num_reduced; ++k) s += x[r.kept.Offset(o) + r.reduce.Offset(k)];
      REQUIRE(s == expect[o]);
    }
  }
}

TEST_CASE("Index helpers: collapsing reduce dims", "[index]") {
  // [N,H,W,C] over {1,2} -> [N, H*W, C] with mask {0,1,0}.
  const int64_t dims[4] = {8, 7, 6, 5};
  const bool red[4] = {false, true, true, false};
  int64_t od[4];
  bool orr[4];
  REQUIRE(index::CollapseReduceDims(4, dims, red, od, orr) == 3);
  CHECK(od[0] == 8);
  CHECK(od[1] == 42);
  CHECK(od[2] == 5);
  CHECK((!orr[0] && orr[1] && !orr[2]));
  // Size-1 dims vanish; a rank-0 input becomes [1].
  const int64_t ones[3] = {1, 4, 1};
  const bool r3[3] = {true, true, false};
  REQUIRE(index::CollapseReduceDims(3, ones, r3, od, orr) == 1);
  CHECK(od[0] == 4);
  CHECK(orr[0]);
  REQUIRE(index::CollapseReduceDims(0, ones, r3, od, orr) == 1);
  CHECK(od[0] == 1);
  CHECK_FALSE(orr[0]);
  // Empty: dims kept so that a reduced zero-size axis still yields outputs.
  const int64_t empty[2] = {3, 0};
  const bool r2[2] = {false, true};
  REQUIRE(index::CollapseReduceDims(2, empty, r2, od, orr) == 2);
  index::ReduceIndexer r;
  REQUIRE(index::MakeReduceIndexer(2, od, orr, &r));
  CHECK(r.num_outputs == 3);
  CHECK(r.num_reduced == 0);
}

TEST_CASE("Index helpers: pooling windows follow TF's SAME padding", "[index]") {
  // 5x5 input, 2x2 window, stride 2, SAME: out 3x3, total pad (3-1)*2+2-5 = 1, all after.
  index::PoolGeometry g;
  g.n = 2;
  g.h = g.w = 5;
  g.c = 3;
  g.kh = g.kw = 2;
  g.stride_h = g.stride_w = 2;
  g.oh = g.ow = 3;
  g.pad_t = g.pad_l = 0;
  CHECK(g.NumOutputs() == 2 * 3 * 3 * 3);
  for (int64_t o = 0; o < g.NumOutputs(); ++o) {
    std::vector<int64_t> oi = Unravel(o, {2, 3, 3, 3});  // b, oy, ox, ch
    int64_t b, ch, h0, h1, w0, w1;
    g.Window(o, &b, &ch, &h0, &h1, &w0, &w1);
    CHECK(b == oi[0]);
    CHECK(ch == oi[3]);
    CHECK(h0 == oi[1] * 2);
    CHECK(w0 == oi[2] * 2);
    CHECK(h1 == std::min<int64_t>(oi[1] * 2 + 2, 5));  // the last window is clipped to 1 row
    CHECK(w1 == std::min<int64_t>(oi[2] * 2 + 2, 5));
  }
  CHECK(g.InputOffset(1, 4, 4, 2) == Ravel({1, 4, 4, 2}, {2, 5, 5, 3}));
  // 3x3 window, stride 1, SAME on 4x4: pad 1 before; output (0,0) covers rows/cols [0, 2).
  index::PoolGeometry s;
  s.n = 1;
  s.h = s.w = 4;
  s.c = 1;
  s.kh = s.kw = 3;
  s.oh = s.ow = 4;
  s.pad_t = s.pad_l = 1;
  int64_t b, ch, h0, h1, w0, w1;
  s.Window(0, &b, &ch, &h0, &h1, &w0, &w1);
  CHECK((h0 == 0 && h1 == 2 && w0 == 0 && w1 == 2));
  s.Window(5, &b, &ch, &h0, &h1, &w0, &w1);  // (1,1): rows/cols [0, 3)
  CHECK((h0 == 0 && h1 == 3 && w0 == 0 && w1 == 3));
}

TEST_CASE("NN functors: softmax and cross-entropy rows", "[index][functors]") {
  const std::vector<double> logits = {1.0, -2.0, 0.5, 3.0};
  const std::vector<double> labels = {0.1, 0.2, 0.3, 0.4};
  // Reference without the max shift (the logits are small): p_j = e^l_j / sum e^l.
  double z = 0;
  for (double l : logits) z += std::exp(l);
  std::vector<double> sm(4), lsm(4), back(4);
  functor::SoftmaxRow(logits.data(), 4, false, sm.data());
  functor::SoftmaxRow(logits.data(), 4, true, lsm.data());
  double loss = functor::XentRow(logits.data(), labels.data(), 4, back.data());
  double expect_loss = 0;
  for (int j = 0; j < 4; ++j) {
    const double p = std::exp(logits[j]) / z;
    CHECK(sm[j] == Approx(p).epsilon(1e-12));
    CHECK(lsm[j] == Approx(std::log(p)).epsilon(1e-12));
    CHECK(back[j] == Approx(p - labels[j]).epsilon(1e-12));
    expect_loss -= labels[j] * std::log(p);
  }
  CHECK(loss == Approx(expect_loss).epsilon(1e-12));
  // Large logits do not overflow (the max is subtracted first).
  const std::vector<float> big = {1000.f, 1000.f};
  const std::vector<float> half = {0.5f, 0.5f};
  std::vector<float> bp(2);
  float l = functor::XentRow(big.data(), half.data(), 2, bp.data());
  CHECK(l == Approx(std::log(2.0)));
  CHECK(bp[0] == Approx(0.0f).margin(1e-7));
  // A -inf logit whose label is 0 adds nothing (the CPU kernel's rule), not 0 * inf = NaN:
  // softmax over {0, -inf} is {1, 0}, so the loss of labels {1, 0} is 0.
  const std::vector<float> masked = {0.f, -std::numeric_limits<float>::infinity()};
  const std::vector<float> onehot = {1.f, 0.f};
  float masked_loss = functor::XentRow(masked.data(), onehot.data(), 2, bp.data());
  CHECK(masked_loss == 0.0f);
  CHECK(bp[0] == 0.0f);
  CHECK(bp[1] == 0.0f);
}

TEST_CASE("NN functors: activation gradients and optimizer updates", "[index][functors]") {
  CHECK(functor::ReluGrad<float>()(2.f, -1.f) == 0.f);
  CHECK(functor::ReluGrad<float>()(2.f, 0.5f) == 2.f);
  CHECK(functor::Relu6Grad<float>()(2.f, 6.5f) == 0.f);
  CHECK(functor::Relu6Grad<float>()(2.f, 5.5f) == 2.f);
  CHECK(functor::SigmoidGrad<double>()(0.25, 2.0) == Approx(2.0 * 0.25 * 0.75));
  CHECK(functor::TanhGrad<double>()(0.5, 2.0) == Approx(2.0 * 0.75));

  double var = 1.0;
  functor::ApplyGradientDescent(&var, 0.1, 0.5);
  CHECK(var == Approx(0.95));

  // Momentum by hand: accum = 0.2*0.9 + 0.5 = 0.68; var = 1 - 0.1*0.68 = 0.932.
  double v = 1.0, acc = 0.2;
  functor::ApplyMomentum(&v, &acc, 0.1, 0.5, 0.9, false);
  CHECK(acc == Approx(0.68));
  CHECK(v == Approx(0.932));
  // Nesterov: var -= lr*grad + lr*momentum*accum = 0.05 + 0.1*0.9*0.68.
  v = 1.0;
  acc = 0.2;
  functor::ApplyMomentum(&v, &acc, 0.1, 0.5, 0.9, true);
  CHECK(v == Approx(1.0 - 0.05 - 0.0612));

  // Adam, first step from m = v = 0 (TF defaults): lr_t = 0.001*sqrt(1-0.999)/(1-0.9);
  // m = 0.1*g, v = 0.001*g^2, update = lr_t * m / (sqrt(v) + eps).
  const double lr_t = functor::AdamLearningRate(0.001, 0.9, 0.999);
  CHECK(lr_t == Approx(0.001 * std::sqrt(0.001) / 0.1));
  double w = 2.0, m = 0.0, s = 0.0;
  const double g = 0.3;
  functor::ApplyAdam(&w, &m, &s, lr_t, 0.9, 0.999, 1e-8, g, false);
  CHECK(m == Approx(0.03));
  CHECK(s == Approx(0.001 * 0.09));
  CHECK(w == Approx(2.0 - lr_t * 0.03 / (std::sqrt(0.001 * 0.09) + 1e-8)));
}

TEST_CASE("NN functors: batch-norm channel coefficients", "[index][functors]") {
  // Inference: y = (x - mean) / sqrt(var + eps) * scale + offset = x * mul + add.
  float mul = 0, add = 0;
  functor::BatchNormInferenceChannel(2.0f, 0.5f, 1.0f, 3.0f, 1.0f, &mul, &add);
  CHECK(mul == Approx(1.0f));   // 2 / sqrt(4)
  CHECK(add == Approx(-0.5f));  // 0.5 - 1 * 1
  // Training on the samples {1, 2, 3, 6}: mean 3, biased variance (4+1+0+9)/4 = 3.5,
  // Bessel-corrected 14/3; with eps 0.5 the scale factor is 1/sqrt(4) = 0.5.
  float bm = 0, bv = 0, sm = 0, sv = 0;
  functor::BatchNormTrainingChannel(3.0, 3.5, 4, 1.0f, 0.0f, 0.0f, 0.0f, 0.5f, 1.0f, &mul, &add,
                                    &bm, &bv, &sm, &sv);
  CHECK(mul == Approx(0.5f));
  CHECK(add == Approx(-1.5f));
  CHECK(bm == Approx(3.0f));
  CHECK(bv == Approx(14.0f / 3.0f));
  CHECK(sm == Approx(3.0f));
  CHECK(sv == Approx(3.5f));
  // exponential_avg_factor 0.25 blends with the running values (old mean 1, old var 2).
  functor::BatchNormTrainingChannel(3.0, 3.5, 4, 1.0f, 0.0f, 1.0f, 2.0f, 0.5f, 0.25f, &mul, &add,
                                    &bm, &bv, &sm, &sv);
  CHECK(bm == Approx(0.75f * 1.0f + 0.25f * 3.0f));
  CHECK(bv == Approx(0.75f * 2.0f + 0.25f * 14.0f / 3.0f));
}

TEST_CASE("NN functors: Cast saturates, truncates and maps NaN to 0", "[index][functors]") {
  CHECK(functor::CastValue<int32_t>(-2.7f) == -2);
  CHECK(functor::CastValue<int32_t>(3.9) == 3);
  CHECK(functor::CastValue<int32_t>(3e9f) == 2147483647);
  CHECK(functor::CastValue<int32_t>(-3e9f) == -2147483647 - 1);
  CHECK(functor::CastValue<int64_t>(std::nanf("")) == 0);
  CHECK(functor::CastValue<int64_t>(1e30) == 9223372036854775807LL);
  CHECK(functor::CastValue<bool>(0.5f));
  CHECK_FALSE(functor::CastValue<bool>(0.0f));
  CHECK(functor::CastValue<float>(true) == 1.0f);
  CHECK(functor::CastValue<int32_t>(int64_t{4294967297}) == 1);  // wraps
}
