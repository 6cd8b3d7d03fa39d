// MatMul, BatchMatMul(V2), Softmax, LogSoftmax and BiasAdd: CPU kernels against naive
// references and hand-derived values, plus the shape functions and error messages.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "tests/devices/kernel_test_util.h"
#include "tests/devices/nn_test_util.h"

using namespace quiver;
using namespace quiver::nn_test;

namespace {

// Runs MatMul for one transpose combination: the max error against the double reference.
template <typename T>
double MatMulError(int64_t m, int64_t k, int64_t n, bool ta, bool tb) {
  const std::vector<double> a = RandomValues(m * k, 1), b = RandomValues(k * n, 2);
  const TensorShape as = ta ? TensorShape{k, m} : TensorShape{m, k};
  const TensorShape bs = tb ? TensorShape{n, k} : TensorShape{k, n};
  auto out = RunKernel("MatMul", {{"transpose_a", MakeAttr(ta)}, {"transpose_b", MakeAttr(tb)}},
                       {MakeTensor<T>(a, as), MakeTensor<T>(b, bs)});
  REQUIRE(out.ok());
  REQUIRE((*out)[0].shape() == TensorShape{m, n});
  return MaxError(ToDoubles<T>((*out)[0]), RefMatMul(a.data(), b.data(), m, k, n, ta, tb));
}

// BatchMatMulV2 on broadcast batch shapes: the max error against per-batch reference products.
template <typename T>
double BatchMatMulError(const std::vector<int64_t>& xb, const std::vector<int64_t>& yb, int64_t m,
                        int64_t k, int64_t n, bool adj_x, bool adj_y) {
  std::vector<int64_t> xd = xb, yd = yb;
  xd.insert(xd.end(), {adj_x ? k : m, adj_x ? m : k});
  yd.insert(yd.end(), {adj_y ? n : k, adj_y ? k : n});
  const TensorShape xs(xd), ys(yd);
  const std::vector<double> x = RandomValues(xs.num_elements(), 3);
  const std::vector<double> y = RandomValues(ys.num_elements(), 4);
  auto out = RunKernel("BatchMatMulV2", {{"adj_x", MakeAttr(adj_x)}, {"adj_y", MakeAttr(adj_y)}},
                       {MakeTensor<T>(x, xs), MakeTensor<T>(y, ys)});
  REQUIRE(out.ok());
  // Expected batch shape: right-aligned broadcast.
  const size_t nb = std::max(xb.size(), yb.size());
  std::vector<int64_t> ob(nb), xp(nb, 1), yp(nb, 1);
  std::copy(xb.begin(), xb.end(), xp.begin() + (nb - xb.size()));
  std::copy(yb.begin(), yb.end(), yp.begin() + (nb - yb.size()));
  for (size_t i = 0; i < nb; ++i) ob[i] = std::max(xp[i], yp[i]);
  std::vector<int64_t> od = ob;
  od.insert(od.end(), {m, n});
  REQUIRE((*out)[0].shape() == TensorShape(od));
  std::vector<double> want;
  const int64_t batches = TensorShape(ob).num_elements();
  for (int64_t bi = 0; bi < batches; ++bi) {
    // Unravel bi over ob, then ravel into x's and y's batch dims with broadcasting.
    int64_t rem = bi, xo = 0, yo = 0, xs_stride = 1, ys_stride = 1;
    for (int i = static_cast<int>(nb) - 1; i >= 0; --i) {
      const int64_t idx = rem % ob[i];
      rem /= ob[i];
      xo += (xp[i] == 1 ? 0 : idx) * xs_stride;
      yo += (yp[i] == 1 ? 0 : idx) * ys_stride;
      xs_stride *= xp[i];
      ys_stride *= yp[i];
    }
    std::vector<double> c =
        RefMatMul(x.data() + xo * m * k, y.data() + yo * k * n, m, k, n, adj_x, adj_y);
    want.insert(want.end(), c.begin(), c.end());
  }
  return MaxError(ToDoubles<T>((*out)[0]), want);
}

}  // namespace

TEST_CASE("MatMul hand-derived 2x2 product", "[nn]") {
  // [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]]; with transpose_a: [[26,30],[38,44]].
  Tensor a = Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::FromVector<float>({5, 6, 7, 8}, {2, 2});
  auto out = RunKernel("MatMul", {}, {a, b});
  REQUIRE(out.ok());
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{19, 22, 43, 50});
  out = RunKernel("MatMul", {{"transpose_a", MakeAttr(true)}}, {a, b});
  REQUIRE(out.ok());
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{26, 30, 38, 44});
  auto i32 = RunKernel("MatMul", {},
                       {Tensor::FromVector<int32_t>({1, 2, 3, 4}, {2, 2}),
                        Tensor::FromVector<int32_t>({5, 6, 7, 8}, {2, 2})});
  REQUIRE(i32.ok());
  CHECK((*i32)[0].ToVector<int32_t>() == std::vector<int32_t>{19, 22, 43, 50});
}

TEST_CASE("MatMul odd sizes and every transpose combination", "[nn]") {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      INFO("transpose_a=" << ta << " transpose_b=" << tb);
      CHECK(MatMulError<float>(7, 13, 5, ta, tb) < 1e-5);
      CHECK(MatMulError<double>(7, 13, 5, ta, tb) < 1e-12);
      CHECK(MatMulError<float>(65, 130, 33, ta, tb) < 1e-4);  // past one SIMD block in every dim
      CHECK(MatMulError<double>(1, 1, 1, ta, tb) < 1e-12);
    }
  }
}

TEST_CASE("MatMul with empty dimensions", "[nn]") {
  // K = 0: an empty sum, so zeros (not uninitialised memory).
  auto out =
      RunKernel("MatMul", {},
                {Tensor::Zeros(DT_FLOAT, {3, 0}).value(), Tensor::Zeros(DT_FLOAT, {0, 4}).value()});
  REQUIRE(out.ok());
  REQUIRE((*out)[0].shape() == TensorShape{3, 4});
  CHECK((*out)[0].ToVector<float>() == std::vector<float>(12, 0.0f));
  out =
      RunKernel("MatMul", {},
                {Tensor::Zeros(DT_FLOAT, {0, 3}).value(), Tensor::Zeros(DT_FLOAT, {3, 4}).value()});
  REQUIRE(out.ok());
  CHECK((*out)[0].shape() == TensorShape{0, 4});
}

TEST_CASE("MatMul inner-dimension mismatch is an error naming the node", "[nn]") {
  Tensor a = Tensor::Zeros(DT_FLOAT, {2, 3}).value();
  Tensor b = Tensor::Zeros(DT_FLOAT, {4, 5}).value();
  auto out = RunKernel("MatMul", {}, {a, b});
  REQUIRE_FALSE(out.ok());
  CHECK(Contains(out.status(), "nn_node"));
  CHECK(Contains(out.status(), "[2,3]"));
  CHECK(Contains(out.status(), "[4,5]"));
  auto shapes = InferShapes("MatMul", {}, {TensorShape{2, 3}, TensorShape{4, 5}});
  REQUIRE_FALSE(shapes.ok());
  CHECK(Contains(shapes.status(), "nn_node"));
  CHECK(Contains(shapes.status(), "3 vs 4"));
  // transpose_b makes them agree: [2,3] x [5,3]^T.
  CHECK(InferShapes("MatMul", {{"transpose_b", MakeAttr(true)}},
                    {TensorShape{2, 3}, TensorShape{5, 3}})
            .ok());
  auto rank = InferShapes("MatMul", {}, {TensorShape{2, 3, 4}, TensorShape{4, 5}});
  REQUIRE_FALSE(rank.ok());
  CHECK(Contains(rank.status(), "2-D"));
}

TEST_CASE("MatMul shape function with unknown dims and rank", "[nn]") {
  auto s = InferShapes("MatMul", {{"transpose_a", MakeAttr(true)}},
                       {TensorShape{-1, 7}, TensorShape{-1, 4}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{7, 4});
  s = InferShapes("MatMul", {}, {TensorShape::UnknownRank(), TensorShape{3, -1}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{-1, -1});
}

TEST_CASE("BatchMatMulV2 broadcasts batch dimensions", "[nn]") {
  for (bool adj_x : {false, true}) {
    for (bool adj_y : {false, true}) {
      INFO("adj_x=" << adj_x << " adj_y=" << adj_y);
      CHECK(BatchMatMulError<float>({2, 1}, {1, 3}, 4, 5, 6, adj_x, adj_y) <
            1e-5);  // both broadcast
      CHECK(BatchMatMulError<double>({2, 1}, {1, 3}, 4, 5, 6, adj_x, adj_y) < 1e-12);
      CHECK(BatchMatMulError<float>({3}, {}, 7, 13, 5, adj_x, adj_y) < 1e-5);  // y unbatched
      CHECK(BatchMatMulError<float>({}, {3}, 7, 13, 5, adj_x, adj_y) < 1e-5);  // x unbatched
      CHECK(BatchMatMulError<float>({2, 3}, {2, 3}, 3, 4, 2, adj_x, adj_y) <
            1e-5);  // equal batches
      CHECK(BatchMatMulError<double>({4, 1, 2}, {3, 1}, 2, 3, 4, adj_x, adj_y) < 1e-12);
      CHECK(BatchMatMulError<float>({4, 1, 2}, {3, 1}, 2, 3, 4, adj_x, adj_y) < 1e-5);
    }
  }
}

TEST_CASE("BatchMatMul (V1) needs equal batches; V2 rejects unbroadcastable ones", "[nn]") {
  const std::vector<double> x = RandomValues(2 * 3 * 4, 5), y = RandomValues(2 * 4 * 5, 6);
  auto out = RunKernel("BatchMatMul", {},
                       {MakeTensor<float>(x, {2, 3, 4}), MakeTensor<float>(y, {2, 4, 5})});
  REQUIRE(out.ok());
  REQUIRE((*out)[0].shape() == TensorShape{2, 3, 5});
  std::vector<double> want = RefMatMul(x.data(), y.data(), 3, 4, 5, false, false);
  std::vector<double> second = RefMatMul(x.data() + 12, y.data() + 20, 3, 4, 5, false, false);
  want.insert(want.end(), second.begin(), second.end());
  CHECK(MaxError(ToDoubles<float>((*out)[0]), want) < 1e-5);

  auto bad = RunKernel(
      "BatchMatMul", {},
      {Tensor::Zeros(DT_FLOAT, {2, 3, 4}).value(), Tensor::Zeros(DT_FLOAT, {1, 4, 5}).value()});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "nn_node"));
  auto v2 = RunKernel(
      "BatchMatMulV2", {},
      {Tensor::Zeros(DT_FLOAT, {2, 3, 4}).value(), Tensor::Zeros(DT_FLOAT, {3, 4, 5}).value()});
  REQUIRE_FALSE(v2.ok());
  CHECK(Contains(v2.status(), "broadcast"));
  auto inner = RunKernel(
      "BatchMatMulV2", {},
      {Tensor::Zeros(DT_DOUBLE, {2, 3, 4}).value(), Tensor::Zeros(DT_DOUBLE, {2, 3, 5}).value()});
  REQUIRE_FALSE(inner.ok());
  CHECK(Contains(inner.status(), "inner dimensions"));
}

TEST_CASE("BatchMatMul shape functions", "[nn]") {
  auto s = InferShapes("BatchMatMulV2", {{"adj_y", MakeAttr(true)}},
                       {TensorShape{2, 1, 3, 4}, TensorShape{5, 6, 4}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{2, 5, 3, 6});
  s = InferShapes("BatchMatMulV2", {}, {TensorShape{-1, 3, 4}, TensorShape{4, -1}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{-1, 3, -1});
  s = InferShapes("BatchMatMulV2", {}, {TensorShape::UnknownRank(), TensorShape{4, 2}});
  REQUIRE(s.ok());
  CHECK((*s)[0].unknown_rank());
  auto bad = InferShapes("BatchMatMulV2", {}, {TensorShape{2, 3, 4}, TensorShape{3, 4, 5}});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "broadcastable"));
  bad = InferShapes("BatchMatMulV2", {}, {TensorShape{3, 4}, TensorShape{5, 6}});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "4 vs 5"));
  bad = InferShapes("BatchMatMul", {}, {TensorShape{2, 3, 4}, TensorShape{4, 5}});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "equal rank"));
  s = InferShapes("BatchMatMul", {}, {TensorShape{-1, 3, 4}, TensorShape{7, 4, 5}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{7, 3, 5});
}

TEST_CASE("Softmax and LogSoftmax over the last axis", "[nn]") {
  // Hand-derived: softmax([0, ln 3]) = [1/4, 3/4].
  auto hand = RunKernel("Softmax", {}, {Tensor::FromVector<double>({0.0, std::log(3.0)}, {1, 2})});
  REQUIRE(hand.ok());
  CHECK((*hand)[0].ToVector<double>()[0] == Approx(0.25).epsilon(1e-14));
  CHECK((*hand)[0].ToVector<double>()[1] == Approx(0.75).epsilon(1e-14));

  const TensorShape shape{2, 3, 17};
  std::vector<double> x = RandomValues(shape.num_elements(), 7, -5, 5);
  x[0] = 1000.0;  // large logits: a naive exp would overflow
  x[1] = 999.0;
  x[17] = -1000.0;
  for (bool log : {false, true}) {
    const char* op = log ? "LogSoftmax" : "Softmax";
    INFO(op);
    const std::vector<double> want = RefSoftmax(x, 17, log);
    auto f = RunKernel(op, {}, {MakeTensor<float>(x, shape)});
    REQUIRE(f.ok());
    REQUIRE((*f)[0].shape() == shape);
    // TF-fixture accuracy (float32 rounding only, no approximate exp/log).
    CHECK(MaxError(ToDoubles<float>((*f)[0]), want) < 1e-6);
    auto d = RunKernel(op, {}, {MakeTensor<double>(x, shape)});
    REQUIRE(d.ok());
    CHECK(MaxError(ToDoubles<double>((*d)[0]), want) < 1e-13);
  }
  auto scalar = RunKernel("Softmax", {}, {Tensor::Scalar<float>(1.0f)});
  REQUIRE_FALSE(scalar.ok());
  CHECK(Contains(scalar.status(), "nn_node"));
  CHECK_FALSE(InferShapes("Softmax", {}, {TensorShape{}}).ok());
  auto s = InferShapes("LogSoftmax", {}, {TensorShape{-1, 10}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{-1, 10});
}

TEST_CASE("BiasAdd NHWC and NCHW, float and double", "[nn]") {
  // Hand-derived: [[1,2,3],[4,5,6]] + [10,20,30].
  auto hand = RunKernel("BiasAdd", {},
                        {Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3}),
                         Tensor::FromVector<float>({10, 20, 30}, {3})});
  REQUIRE(hand.ok());
  CHECK((*hand)[0].ToVector<float>() == std::vector<float>{11, 22, 33, 14, 25, 36});

  const TensorShape nhwc{2, 3, 4, 5}, nchw{2, 5, 3, 4};
  const std::vector<double> v = RandomValues(nhwc.num_elements(), 8);
  const std::vector<double> b = RandomValues(5, 9);
  std::vector<double> want_nhwc(v.size()), want_nchw(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    want_nhwc[i] = v[i] + b[i % 5];
    want_nchw[i] = v[i] + b[(i / 12) % 5];
  }
  auto f = RunKernel("BiasAdd", {}, {MakeTensor<float>(v, nhwc), MakeTensor<float>(b, {5})});
  REQUIRE(f.ok());
  CHECK(MaxError(ToDoubles<float>((*f)[0]), want_nhwc) < 1e-6);
  auto d = RunKernel("BiasAdd", {{"data_format", MakeAttr("NCHW")}},
                     {MakeTensor<double>(v, nchw), MakeTensor<double>(b, {5})});
  REQUIRE(d.ok());
  CHECK(MaxError(ToDoubles<double>((*d)[0]), want_nchw) < 1e-15);

  // A large input the kernel owns alone is updated in place (its buffer becomes the output).
  const TensorShape big{64, 1000};
  Tensor value = MakeTensor<float>(RandomValues(big.num_elements(), 10), big);
  const std::vector<double> vv = ToDoubles<float>(value);
  const void* buffer = value.raw_data();
  Tensor bias = MakeTensor<float>(RandomValues(1000, 11), {1000});
  auto runner = KernelRunner::Create("BiasAdd", {}, {value, bias});
  REQUIRE(runner.ok());
  std::vector<Tensor> inputs;  // not an initializer_list: that would copy, not move
  inputs.push_back(std::move(value));
  inputs.push_back(bias);
  auto in_place = (*runner)->Run(std::move(inputs));
  REQUIRE(in_place.ok());
  CHECK((*in_place)[0].raw_data() == buffer);
  std::vector<double> want(vv.size());
  for (size_t i = 0; i < vv.size(); ++i) want[i] = vv[i] + bias.data<float>()[i % 1000];
  CHECK(MaxError(ToDoubles<float>((*in_place)[0]), want) < 1e-6);
}

TEST_CASE("BiasAdd splits large inputs over intra-op threads", "[nn]") {
  // 300 x 1000 elements: several chunks for both layouts, computed on 4 threads.
  constexpr int kThreads = 4;
  const TensorShape nhwc{3, 10, 10, 1000}, nchw{3, 1000, 10, 10};
  const std::vector<double> v = RandomValues(nhwc.num_elements(), 12);
  const std::vector<double> b = RandomValues(1000, 13);
  for (bool is_nchw : {false, true}) {
    INFO((is_nchw ? "NCHW" : "NHWC"));
    AttrMap attrs = {{"data_format", MakeAttr(is_nchw ? "NCHW" : "NHWC")}};
    auto out = quiver::testing::RunKernel(
        "BiasAdd", attrs,
        {MakeTensor<float>(v, is_nchw ? nchw : nhwc), MakeTensor<float>(b, {1000})}, kThreads);
    REQUIRE(out.ok());
    std::vector<double> want(v.size());
    for (size_t i = 0; i < v.size(); ++i) want[i] = v[i] + b[is_nchw ? (i / 100) % 1000 : i % 1000];
    CHECK(MaxError(ToDoubles<float>((*out)[0]), want) < 1e-6);
  }
}

TEST_CASE("BiasAdd channel mismatch and shape function", "[nn]") {
  auto bad =
      RunKernel("BiasAdd", {},
                {Tensor::Zeros(DT_FLOAT, {2, 3}).value(), Tensor::Zeros(DT_FLOAT, {4}).value()});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "nn_node"));
  CHECK(Contains(bad.status(), "channel"));
  auto s = InferShapes("BiasAdd", {{"data_format", MakeAttr("NCHW")}},
                       {TensorShape{-1, -1, 8, 8}, TensorShape{16}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{-1, 16, 8, 8});
  auto mismatch = InferShapes("BiasAdd", {}, {TensorShape{2, 3}, TensorShape{4}});
  REQUIRE_FALSE(mismatch.ok());
  CHECK(Contains(mismatch.status(), "3 vs 4"));
  CHECK_FALSE(InferShapes("BiasAdd", {}, {TensorShape{3}, TensorShape{3}}).ok());
}

TEST_CASE("NN kernels are safe to run from several threads at once", "[nn]") {
  // One kernel object, several threads, different shapes: the primitive caches are shared.
  auto runner = KernelRunner::Create(
      "MatMul", {},
      {Tensor::Zeros(DT_FLOAT, {1, 1}).value(), Tensor::Zeros(DT_FLOAT, {1, 1}).value()});
  REQUIRE(runner.ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // B is a Const input of the node, which MatMul packs once per buffer: keep every B alive
      // so that no later B reuses a buffer with other values (a Const's buffer never changes).
      std::vector<Tensor> bs;
      for (int iter = 0; iter < 20; ++iter) {
        const int64_t m = 3 + (t + iter) % 5, k = 4 + t, n = 2 + iter % 3;
        const std::vector<double> a = RandomValues(m * k, t * 100 + iter);
        const std::vector<double> b = RandomValues(k * n, t * 100 + iter + 50);
        bs.push_back(MakeTensor<float>(b, {k, n}));
        auto out = (*runner)->Run({MakeTensor<float>(a, {m, k}), bs.back()});
        if (!out.ok() || MaxError(ToDoubles<float>((*out)[0]),
                                  RefMatMul(a.data(), b.data(), m, k, n, false, false)) > 1e-5) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  CHECK(failures == 0);
}
