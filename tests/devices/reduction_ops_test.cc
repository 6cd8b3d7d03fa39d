// CPU reduction kernels (Sum, Mean, Prod, Max, Min), ArgMax/ArgMin and their shape functions.
// References are naive loops over every input element, accumulating in double (or int64),
// written independently of the kernels' row/column/multi-pass strategy.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "graph/tensor.h"
#include "tests/devices/kernel_test_util.h"

using namespace quiver;
using quiver::testing::InferOpShapes;
using quiver::testing::RunKernel;
using quiver::testing::ShapeInput;

namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

std::vector<double> RandomDoubles(int64_t n, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

// Naive reduction: returns the output shape and the per-output list of reduced values' result.
struct RefResult {
  std::vector<int64_t> shape;
  std::vector<double> values;
};

RefResult RefReduce(const std::vector<double>& x, const std::vector<int64_t>& dims,
                    std::vector<int64_t> axes, bool keep_dims, const std::string& op) {
  const int rank = static_cast<int>(dims.size());
  std::vector<bool> red(rank, false);
  for (int64_t a : axes) red[a < 0 ? a + rank : a] = true;
  RefResult r;
  std::vector<int64_t> kept_dims;
  for (int d = 0; d < rank; ++d) {
    if (!red[d]) {
      r.shape.push_back(dims[d]);
      kept_dims.push_back(dims[d]);
    } else if (keep_dims) {
      r.shape.push_back(1);
    }
  }
  int64_t out_n = 1;
  for (int64_t d : kept_dims) out_n *= d;
  std::vector<std::vector<double>> groups(out_n);
  std::vector<int64_t> idx(rank, 0);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t rem = static_cast<int64_t>(i);
    for (int d = rank - 1; d >= 0; --d) {
      idx[d] = rem % dims[d];
      rem /= dims[d];
    }
    int64_t o = 0;
    for (int d = 0; d < rank; ++d) {
      if (!red[d]) o = o * dims[d] + idx[d];
    }
    groups[o].push_back(x[i]);
  }
  for (const auto& g : groups) {
    double acc;
    if (op == "Sum" || op == "Mean") {
      acc = 0;
      for (double v : g) acc += v;
      if (op == "Mean") acc /= static_cast<double>(g.size());
    } else if (op == "Prod") {
      acc = 1;
      for (double v : g) acc *= v;
    } else if (op == "Max") {
      acc = -std::numeric_limits<double>::infinity();
      for (double v : g) acc = std::max(acc, v);
    } else {
      acc = std::numeric_limits<double>::infinity();
      for (double v : g) acc = std::min(acc, v);
    }
    r.values.push_back(acc);
  }
  return r;
}

Tensor RunOne(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
              int intra_op_threads = 1) {
  auto out = RunKernel(op, attrs, inputs, intra_op_threads);
  INFO(op << ": " << (out.ok() ? "ok" : Message(out.status())));
  REQUIRE(out.ok());
  return (*out)[0];
}

AttrMap KeepDims(bool keep) { return {{"keep_dims", MakeAttr(keep)}}; }

void CheckNear(const Tensor& t, const std::vector<double>& expected, double rel) {
  REQUIRE(t.num_elements() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    const double got = t.ElementAsDouble(static_cast<int64_t>(i));
    CAPTURE(i, got, expected[i]);
    if (std::isnan(expected[i])) {
      CHECK(std::isnan(got));
    } else if (std::isinf(expected[i])) {
      CHECK(got == expected[i]);
    } else {
      CHECK(std::fabs(got - expected[i]) <= rel * std::max(1.0, std::fabs(expected[i])));
    }
  }
}

}  // namespace

TEST_CASE("Reductions over every subset of axes match a naive reference", "[reduce]") {
  const std::vector<int64_t> dims = {2, 3, 4};
  std::vector<double> x = RandomDoubles(24, 5, 0.5, 1.5);
  std::vector<float> xf(x.begin(), x.end());
  std::vector<double> xr(xf.begin(), xf.end());  // the float input, exactly, in double
  for (const char* op : {"Sum", "Mean", "Prod", "Max", "Min"}) {
    for (int mask = 0; mask < 8; ++mask) {
      for (bool keep : {false, true}) {
        std::vector<int64_t> axes;
        for (int d = 0; d < 3; ++d) {
          // Alternate positive and negative spellings of the same axis.
          if (mask & (1 << d)) axes.push_back(mask % 2 ? d : d - 3);
        }
        DYNAMIC_SECTION(op << " axes mask " << mask << " keep_dims " << keep) {
          RefResult ref = RefReduce(xr, dims, axes, keep, op);
          Tensor axes_t = Tensor::FromVector<int32_t>(
              std::vector<int32_t>(axes.begin(), axes.end()), {static_cast<int64_t>(axes.size())});
          Tensor out = RunOne(op, {Tensor::FromVector<float>(xf, TensorShape(dims)), axes_t},
                              KeepDims(keep));
          CHECK(out.dtype() == DT_FLOAT);
          CHECK(out.shape().dims() == ref.shape);
          CheckNear(out, ref.values, 1e-6);
          // float64 with int64 axes.
          Tensor axes64 = Tensor::FromVector<int64_t>(axes, {static_cast<int64_t>(axes.size())});
          Tensor out64 = RunOne(op, {Tensor::FromVector<double>(xr, TensorShape(dims)), axes64},
                                KeepDims(keep));
          CHECK(out64.shape().dims() == ref.shape);
          CheckNear(out64, ref.values, 1e-13);
        }
      }
    }
  }
}

TEST_CASE("Reductions over 4-D inputs with several separate axes", "[reduce]") {
  // [3, 4, 5, 6] reduced over {0, 2} and {1, 3}: two separate reduced groups (multi-pass).
  const std::vector<int64_t> dims = {3, 4, 5, 6};
  std::vector<double> x = RandomDoubles(360, 9, -2, 2);
  for (const std::vector<int64_t>& axes :
       std::vector<std::vector<int64_t>>{{0, 2}, {1, 3}, {0, 3}, {0, 1, 3}, {2, 1}}) {
    for (const char* op : {"Sum", "Mean", "Max", "Min"}) {
      CAPTURE(op, axes);
      RefResult ref = RefReduce(x, dims, axes, true, op);
      Tensor out = RunOne(op,
                          {Tensor::FromVector<double>(x, TensorShape(dims)),
                           Tensor::FromVector<int64_t>(axes, {static_cast<int64_t>(axes.size())})},
                          KeepDims(true));
      CHECK(out.shape().dims() == ref.shape);
      CheckNear(out, ref.values, 1e-12);
    }
  }
}

TEST_CASE("Integer reductions", "[reduce]") {
  Tensor x = Tensor::FromVector<int32_t>({1, 2, 3, -4, -5, 7}, {2, 3});
  Tensor axis1 = Tensor::Scalar<int32_t>(1);
  Tensor axis0 = Tensor::Scalar<int32_t>(0);
  CHECK(RunOne("Sum", {x, axis1}).ToVector<int32_t>() == std::vector<int32_t>{6, -2});
  CHECK(RunOne("Sum", {x, axis0}).ToVector<int32_t>() == std::vector<int32_t>{-3, -3, 10});
  CHECK(RunOne("Prod", {x, axis1}).ToVector<int32_t>() == std::vector<int32_t>{6, 140});
  CHECK(RunOne("Max", {x, axis0}).ToVector<int32_t>() == std::vector<int32_t>{1, 2, 7});
  CHECK(RunOne("Min", {x, axis1}).ToVector<int32_t>() == std::vector<int32_t>{1, -5});
  // Mean of integers truncates toward zero: 6/3 = 2, -2/3 = 0, (1-4)/2 = -1, 10/2 = 5.
  CHECK(RunOne("Mean", {x, axis1}).ToVector<int32_t>() == std::vector<int32_t>{2, 0});
  CHECK(RunOne("Mean", {x, axis0}).ToVector<int32_t>() == std::vector<int32_t>{-1, -1, 5});
  // int64 sum beyond 32 bits, and int32 sums wrap like TF.
  Tensor big = Tensor::FromVector<int64_t>({int64_t(1) << 40, int64_t(1) << 40}, {2});
  CHECK(RunOne("Sum", {big, axis0}).ToVector<int64_t>() == std::vector<int64_t>{int64_t(1) << 41});
  Tensor wrap = Tensor::FromVector<int32_t>({std::numeric_limits<int32_t>::max(), 1}, {2});
  CHECK(RunOne("Sum", {wrap, axis0}).ToVector<int32_t>() ==
        std::vector<int32_t>{std::numeric_limits<int32_t>::min()});
  // Max/Min of int64 use the full range.
  Tensor ext = Tensor::FromVector<int64_t>({std::numeric_limits<int64_t>::min(), -1}, {2});
  CHECK(RunOne("Max", {ext, axis0}).ToVector<int64_t>() == std::vector<int64_t>{-1});
  CHECK(RunOne("Min", {ext, axis0}).ToVector<int64_t>() ==
        std::vector<int64_t>{std::numeric_limits<int64_t>::min()});
}

TEST_CASE("Reduction edge cases: empty axes, size-1 dims, empty inputs, NaN", "[reduce]") {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  // No axes: the input unchanged.
  Tensor none = RunOne("Sum", {x, Tensor::FromVector<int32_t>({}, {0})});
  CHECK(none.shape() == TensorShape({2, 3}));
  CHECK(none.ToVector<float>() == x.ToVector<float>());
  // Reducing a size-1 axis only reshapes.
  Tensor col = Tensor::FromVector<float>({1, 2, 3}, {3, 1});
  Tensor squeezed = RunOne("Mean", {col, Tensor::Scalar<int32_t>(1)});
  CHECK(squeezed.shape() == TensorShape({3}));
  CHECK(squeezed.ToVector<float>() == std::vector<float>{1, 2, 3});
  // Scalar input with no axes.
  CHECK(RunOne("Max", {Tensor::Scalar<float>(4), Tensor::FromVector<int32_t>({}, {0})})
            .ToVector<float>() == std::vector<float>{4});
  // Empty inputs reduce to the identity: 0, 1, -inf, +inf, NaN for a float mean.
  Tensor empty = Tensor::FromVector<float>({}, {0, 3});
  Tensor a0 = Tensor::Scalar<int32_t>(0);
  CHECK(RunOne("Sum", {empty, a0}).ToVector<float>() == std::vector<float>{0, 0, 0});
  CHECK(RunOne("Prod", {empty, a0}).ToVector<float>() == std::vector<float>{1, 1, 1});
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(RunOne("Max", {empty, a0}).ToVector<float>() == std::vector<float>{-inf, -inf, -inf});
  CHECK(RunOne("Min", {empty, a0}).ToVector<float>() == std::vector<float>{inf, inf, inf});
  Tensor mean = RunOne("Mean", {empty, a0});
  CHECK(std::isnan(mean.data<float>()[0]));
  CHECK(RunOne("Sum", {empty, Tensor::Scalar<int32_t>(1)}).shape() == TensorShape({0}));
  Tensor empty_int = Tensor::FromVector<int32_t>({}, {0});
  CHECK(RunOne("Max", {empty_int, a0}).ToVector<int32_t>() ==
        std::vector<int32_t>{std::numeric_limits<int32_t>::lowest()});
  CHECK(RunOne("Mean", {empty_int, a0}).ToVector<int32_t>() == std::vector<int32_t>{0});
  // NaN propagates through Max/Min (rows and columns).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor withnan = Tensor::FromVector<float>({1, nan, 3, 4}, {2, 2});
  Tensor rows = RunOne("Max", {withnan, Tensor::Scalar<int32_t>(1)});
  CHECK(std::isnan(rows.data<float>()[0]));
  CHECK(rows.data<float>()[1] == 4);
  Tensor cols = RunOne("Min", {withnan, a0});
  CHECK(cols.data<float>()[0] == 1);
  CHECK(std::isnan(cols.data<float>()[1]));
}

TEST_CASE("Bad reduction axes are errors naming the node", "[reduce]") {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto out_of_range = RunKernel("Sum", {}, {x, Tensor::Scalar<int32_t>(2)});
  REQUIRE_FALSE(out_of_range.ok());
  CHECK_THAT(Message(out_of_range.status()),
             Catch::Contains("'op'") && Catch::Contains("axis 2") && Catch::Contains("[2,3]"));
  auto negative = RunKernel("Max", {}, {x, Tensor::Scalar<int64_t>(-3)});
  REQUIRE_FALSE(negative.ok());
  CHECK_THAT(Message(negative.status()), Catch::Contains("-3"));
  auto duplicate = RunKernel("Mean", {}, {x, Tensor::FromVector<int32_t>({1, -1}, {2})});
  REQUIRE_FALSE(duplicate.ok());
  CHECK_THAT(Message(duplicate.status()), Catch::Contains("more than once"));
  auto matrix_axes = RunKernel("Sum", {}, {x, Tensor::FromVector<int32_t>({0, 1}, {1, 2})});
  REQUIRE_FALSE(matrix_axes.ok());
  CHECK_THAT(Message(matrix_axes.status()), Catch::Contains("[1,2]"));
}

TEST_CASE("Large float32 sums stay accurate", "[reduce]") {
  // 2^20 values in [0, 1): a naive float accumulator would drift by ~1e-4 relative.
  const int64_t n = int64_t(1) << 20;
  std::vector<double> x = RandomDoubles(n, 21, 0, 1);
  std::vector<float> xf(x.begin(), x.end());
  double total = 0;
  for (float v : xf) total += v;
  for (int threads : {1, 3}) {
    Tensor s = RunOne("Sum", {Tensor::FromVector<float>(xf, {n}), Tensor::Scalar<int32_t>(0)}, {},
                      threads);
    CHECK(std::fabs(s.data<float>()[0] - total) <= 1e-6 * total);
    Tensor m = RunOne("Mean", {Tensor::FromVector<float>(xf, {n}), Tensor::Scalar<int32_t>(0)}, {},
                      threads);
    CHECK(std::fabs(m.data<float>()[0] - total / n) <= 1e-6 * total / n);
  }
  // Column sums of a tall matrix (the outermost axis).
  const int64_t rows = 100000, cols = 3;
  std::vector<float> tall(xf.begin(), xf.begin() + rows * cols);
  std::vector<double> col_ref(cols, 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) col_ref[c] += tall[r * cols + c];
  }
  Tensor cs =
      RunOne("Sum", {Tensor::FromVector<float>(tall, {rows, cols}), Tensor::Scalar<int32_t>(0)});
  CheckNear(cs, col_ref, 1e-6);
}

TEST_CASE("Reductions over intra-op threads", "[reduce]") {
  constexpr int kThreads = 3;
  const std::vector<int64_t> dims = {8, 512, 24};
  std::vector<double> x = RandomDoubles(8 * 512 * 24, 31, -1, 1);
  std::vector<float> xf(x.begin(), x.end());
  std::vector<double> xr(xf.begin(), xf.end());
  for (const std::vector<int64_t>& axes :
       std::vector<std::vector<int64_t>>{{0}, {1}, {2}, {0, 2}, {0, 1, 2}}) {
    for (const char* op : {"Sum", "Max"}) {
      CAPTURE(op, axes);
      RefResult ref = RefReduce(xr, dims, axes, false, op);
      Tensor out = RunOne(op,
                          {Tensor::FromVector<float>(xf, TensorShape(dims)),
                           Tensor::FromVector<int64_t>(axes, {static_cast<int64_t>(axes.size())})},
                          {}, kThreads);
      CHECK(out.shape().dims() == ref.shape);
      CheckNear(out, ref.values, 1e-5);
    }
  }
}

TEST_CASE("ArgMax and ArgMin", "[reduce][argmax]") {
  // Ties resolve to the first index.
  Tensor x = Tensor::FromVector<float>({3, 7, 7, 1,  //
                                        5, 5, 2, 9,  //
                                        0, 0, 0, 0},
                                       {3, 4});
  Tensor rows = RunOne("ArgMax", {x, Tensor::Scalar<int32_t>(1)});
  CHECK(rows.dtype() == DT_INT64);
  CHECK(rows.ToVector<int64_t>() == std::vector<int64_t>{1, 3, 0});
  CHECK(RunOne("ArgMin", {x, Tensor::Scalar<int32_t>(-1)}).ToVector<int64_t>() ==
        std::vector<int64_t>{3, 2, 0});
  CHECK(RunOne("ArgMax", {x, Tensor::Scalar<int64_t>(0)}).ToVector<int64_t>() ==
        std::vector<int64_t>{1, 0, 0, 1});
  CHECK(RunOne("ArgMin", {x, Tensor::Scalar<int32_t>(0)}).ToVector<int64_t>() ==
        std::vector<int64_t>{2, 2, 2, 2});
  // output_type int32, int inputs, a middle axis of a 3-D input.
  Tensor y = Tensor::FromVector<int32_t>({1, 9, 4, 4, 9, 1, 0, 0, -1, 5, 5, 2}, {2, 3, 2});
  Tensor mid =
      RunOne("ArgMax", {y, Tensor::Scalar<int32_t>(1)}, {{"output_type", MakeAttr(DT_INT32)}});
  CHECK(mid.dtype() == DT_INT32);
  CHECK(mid.shape() == TensorShape({2, 2}));
  CHECK(mid.ToVector<int32_t>() == std::vector<int32_t>{2, 0, 2, 1});
  // Against a reference on random data with many ties.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> dist(0, 4);
  std::vector<double> r(6 * 7 * 5);
  for (double& v : r) v = dist(rng);
  Tensor rt = Tensor::FromVector<double>(r, {6, 7, 5});
  for (int axis = 0; axis < 3; ++axis) {
    Tensor got = RunOne("ArgMax", {rt, Tensor::Scalar<int32_t>(axis)});
    const int64_t d[3] = {6, 7, 5};
    std::vector<int64_t> expected;
    for (int64_t i = 0; i < d[0]; ++i) {
      for (int64_t j = 0; j < d[1]; ++j) {
        for (int64_t k = 0; k < d[2]; ++k) {
          int64_t pos[3] = {i, j, k};
          if (pos[axis] != 0) continue;
          int64_t best = 0;
          double best_v = -1;
          for (int64_t t = 0; t < d[axis]; ++t) {
            pos[axis] = t;
            double v = r[(pos[0] * d[1] + pos[1]) * d[2] + pos[2]];
            if (v > best_v) {
              best_v = v;
              best = t;
            }
          }
          expected.push_back(best);
        }
      }
    }
    CAPTURE(axis);
    CHECK(got.ToVector<int64_t>() == expected);
  }
}

TEST_CASE("ArgMax errors", "[reduce][argmax]") {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto bad_axis = RunKernel("ArgMax", {}, {x, Tensor::Scalar<int32_t>(2)});
  REQUIRE_FALSE(bad_axis.ok());
  CHECK_THAT(Message(bad_axis.status()), Catch::Contains("'op'") && Catch::Contains("got 2"));
  auto empty =
      RunKernel("ArgMin", {}, {Tensor::FromVector<float>({}, {2, 0}), Tensor::Scalar<int32_t>(1)});
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(Message(empty.status()), Catch::Contains("empty"));
  auto scalar_input =
      RunKernel("ArgMax", {}, {Tensor::Scalar<float>(1), Tensor::Scalar<int32_t>(0)});
  CHECK_FALSE(scalar_input.ok());
}

TEST_CASE("Reduction and ArgMax shape functions", "[reduce][shape]") {
  auto infer = [](const std::string& op, std::vector<ShapeInput> in, AttrMap attrs = {}) {
    return InferOpShapes(op, attrs, in);
  };
  const TensorShape u = TensorShape::UnknownRank();
  auto axes = [](std::vector<int32_t> a) {
    return ShapeInput::Known(Tensor::FromVector<int32_t>(a, {static_cast<int64_t>(a.size())}));
  };
  {
    auto s = infer("Sum", {ShapeInput::Of(DT_FLOAT, {-1, 3, 4}), axes({1, -1})});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({-1}));
  }
  {
    auto s = infer("Mean", {ShapeInput::Of(DT_FLOAT, {-1, 3, 4}), axes({1})}, KeepDims(true));
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({-1, 1, 4}));
  }
  {
    // Unknown axes: keep_dims keeps the rank, otherwise nothing is known.
    auto s = infer("Max", {ShapeInput::Of(DT_FLOAT, {2, 3}), ShapeInput::Of(DT_INT32, {1})},
                   KeepDims(true));
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({-1, -1}));
    auto t = infer("Max", {ShapeInput::Of(DT_FLOAT, {2, 3}), ShapeInput::Of(DT_INT32, {1})});
    REQUIRE(t.ok());
    CHECK((*t)[0].unknown_rank());
    auto e = infer("Max", {ShapeInput::Of(DT_FLOAT, u), ShapeInput::Of(DT_INT32, {0})});
    REQUIRE(e.ok());
    CHECK((*e)[0].unknown_rank());
  }
  {
    auto s = infer("Sum", {ShapeInput::Of(DT_FLOAT, u), axes({0})});
    REQUIRE(s.ok());
    CHECK((*s)[0].unknown_rank());
  }
  {
    auto s = infer("Sum", {ShapeInput::Of(DT_FLOAT, {2, 3}), axes({2})});
    REQUIRE_FALSE(s.ok());
    CHECK_THAT(Message(s.status()), Catch::Contains("'op'") && Catch::Contains("axis 2"));
    auto d = infer("Sum", {ShapeInput::Of(DT_FLOAT, {2, 3}), axes({0, -2})});
    REQUIRE_FALSE(d.ok());
    CHECK_THAT(Message(d.status()), Catch::Contains("more than once"));
  }
  {
    auto s = infer("ArgMax", {ShapeInput::Of(DT_FLOAT, {5, -1, 7}),
                              ShapeInput::Known(Tensor::Scalar<int32_t>(-2))});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({5, 7}));
    auto unknown_dim =
        infer("ArgMin", {ShapeInput::Of(DT_FLOAT, {5, -1, 7}), ShapeInput::Of(DT_INT32, {})});
    REQUIRE(unknown_dim.ok());
    CHECK((*unknown_dim)[0] == TensorShape({-1, -1}));
    auto bad = infer("ArgMax", {ShapeInput::Of(DT_FLOAT, {5, 7}),
                                ShapeInput::Known(Tensor::Scalar<int32_t>(2))});
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(Message(bad.status()), Catch::Contains("got 2"));
  }
}
