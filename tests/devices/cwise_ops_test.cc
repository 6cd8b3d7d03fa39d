// CPU element-wise kernels (unary, binary with broadcasting, comparisons, logic, Cast, AddN)
// and their shape functions. Expected values are hand-derived or computed here with plain
// scalar loops and std:: math over the inputs, independent of the kernels' code paths.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "graph/tensor.h"
#include "runtime/thread_pool.h"
#include "tests/devices/kernel_test_util.h"

using namespace quiver;
using quiver::testing::InferOpShapes;
using quiver::testing::RunKernel;
using quiver::testing::ShapeInput;

namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

template <typename T>
std::vector<T> RandomValues(int64_t n, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(dist(rng));
  return v;
}

std::vector<int64_t> Dims(const TensorShape& s) { return s.dims(); }

// Reference NumPy broadcasting with a naive multi-index walk.
template <typename T, typename R>
std::vector<R> RefBroadcast(const std::vector<T>& x, const std::vector<int64_t>& xs,
                            const std::vector<T>& y, const std::vector<int64_t>& ys,
                            const std::function<R(T, T)>& f, std::vector<int64_t>* out_shape) {
  const size_t rank = std::max(xs.size(), ys.size());
  std::vector<int64_t> xp(rank, 1), yp(rank, 1), out(rank);
  std::copy(xs.begin(), xs.end(), xp.begin() + (rank - xs.size()));
  std::copy(ys.begin(), ys.end(), yp.begin() + (rank - ys.size()));
  int64_t n = 1;
  for (size_t d = 0; d < rank; ++d) {
    out[d] = std::max(xp[d], yp[d]);
    if (xp[d] == 0 || yp[d] == 0) out[d] = 0;
    n *= out[d];
  }
  *out_shape = out;
  std::vector<R> result;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i;
    for (size_t d = rank; d-- > 0;) {
      idx[d] = rem % out[d];
      rem /= out[d];
    }
    int64_t xi = 0, yi = 0;
    for (size_t d = 0; d < rank; ++d) {
      xi = xi * xp[d] + (xp[d] == 1 ? 0 : idx[d]);
      yi = yi * yp[d] + (yp[d] == 1 ? 0 : idx[d]);
    }
    result.push_back(f(x[xi], y[yi]));
  }
  return result;
}

template <typename T>
void CheckClose(const Tensor& t, const std::vector<T>& expected, double rel, double abs_tol = 0) {
  REQUIRE(t.num_elements() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    const double got = static_cast<double>(t.data<T>()[i]);
    const double want = static_cast<double>(expected[i]);
    CAPTURE(i, got, want);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
    } else if (std::isinf(want)) {
      CHECK(got == want);
    } else {
      CHECK(std::fabs(got - want) <= abs_tol + rel * std::fabs(want));
    }
  }
}

template <typename T>
void CheckEqual(const Tensor& t, const std::vector<T>& expected) {
  REQUIRE(t.num_elements() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(t.data<T>()[i] == expected[i]);
  }
}

Tensor RunOne(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
              ThreadPool* pool = nullptr) {
  auto out = RunKernel(op, attrs, inputs, pool);
  INFO(op << ": " << (out.ok() ? "ok" : Message(out.status())));
  REQUIRE(out.ok());
  REQUIRE(out->size() == 1);
  return (*out)[0];
}

struct UnaryCase {
  std::string op;
  double lo, hi;  // input domain
  std::function<double(double)> ref;
  double float_rel;
};

}  // namespace

TEST_CASE("Unary float kernels match std:: math", "[cwise]") {
  const std::vector<UnaryCase> cases = {
      {"Neg", -5, 5, [](double x) { return -x; }, 0},
      {"Abs", -5, 5, [](double x) { return std::fabs(x); }, 0},
      {"Square", -5, 5, [](double x) { return x * x; }, 1e-7},
      {"Sign", -5, 5, [](double x) { return double((x > 0) - (x < 0)); }, 0},
      {"Reciprocal", 0.1, 5, [](double x) { return 1 / x; }, 1e-7},
      {"Exp", -20, 20, [](double x) { return std::exp(x); }, 2e-6},
      {"Log", 1e-3, 100, [](double x) { return std::log(x); }, 2e-6},
      {"Sqrt", 0, 100, [](double x) { return std::sqrt(x); }, 1e-6},
      {"Rsqrt", 1e-3, 100, [](double x) { return 1 / std::sqrt(x); }, 2e-6},
      {"Tanh", -10, 10, [](double x) { return std::tanh(x); }, 2e-6},
      {"Sigmoid", -30, 30, [](double x) { return 1 / (1 + std::exp(-x)); }, 2e-6},
      {"Floor", -5, 5, [](double x) { return std::floor(x); }, 0},
      {"Ceil", -5, 5, [](double x) { return std::ceil(x); }, 0},
      {"Relu", -5, 5, [](double x) { return x > 0 ? x : 0; }, 0},
      {"Relu6", -3, 9, [](double x) { return std::min(std::max(x, 0.0), 6.0); }, 0},
      {"Elu", -10, 5, [](double x) { return x < 0 ? std::expm1(x) : x; }, 2e-6},
  };
  // 1003 elements: vector bodies plus a scalar tail.
  const int64_t n = 1003;
  for (const UnaryCase& c : cases) {
    SECTION(c.op) {
      std::vector<float> xf = RandomValues<float>(n, 7, c.lo, c.hi);
      std::vector<double> xd = RandomValues<double>(n, 7, c.lo, c.hi);
      std::vector<float> ef;
      std::vector<double> ed;
      // The float reference is computed in double from the float input, then rounded.
      for (float v : xf) ef.push_back(static_cast<float>(c.ref(v)));
      for (double v : xd) ed.push_back(c.ref(v));
      Tensor yf = RunOne(c.op, {Tensor::FromVector<float>(xf, {n})});
      REQUIRE(yf.dtype() == DT_FLOAT);
      REQUIRE(yf.shape() == TensorShape{n});
      CheckClose(yf, ef, c.float_rel, 1e-30);
      Tensor yd = RunOne(c.op, {Tensor::FromVector<double>(xd, {n})});
      CheckClose(yd, ed, 1e-12, 1e-300);
    }
  }
}

TEST_CASE("Unary kernels handle special values", "[cwise]") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto run = [&](const std::string& op, std::vector<float> x) {
    return RunOne(op, {Tensor::FromVector<float>(x, {static_cast<int64_t>(x.size())})});
  };
  CheckClose<float>(run("Exp", {-inf, 0, 100}), {0, 1, inf}, 0);
  CheckClose<float>(run("Log", {0, 1, -1}), {-inf, 0, nan}, 0);
  CheckClose<float>(run("Sqrt", {0, 4, -1}), {0, 2, nan}, 0);
  CheckClose<float>(run("Rsqrt", {0, 4}), {inf, 0.5f}, 1e-6);
  CheckClose<float>(run("Sigmoid", {-200, 0, 200}), {0, 0.5f, 1}, 1e-6);
  CheckClose<float>(run("Tanh", {-inf, 0, inf, 50}), {-1, 0, 1, 1}, 1e-6);
  CheckClose<float>(run("Floor", {-1.5f, 1.5f, -0.0f}), {-2, 1, 0}, 0);
  CheckClose<float>(run("Ceil", {-1.5f, 1.5f}), {-1, 2}, 0);
  CheckClose<float>(run("Relu", {nan, -1, 2}), {nan, 0, 2}, 0);
  CheckClose<float>(run("Relu6", {nan, -1, 7, 3}), {nan, 0, 6, 3}, 0);
  CheckClose<float>(run("Sign", {nan, -0.0f, -3, 3}), {nan, 0, -1, 1}, 0);
  CheckClose<float>(run("Reciprocal", {0, -4}), {inf, -0.25f}, 0);
  // Scalars and empty tensors.
  CheckClose<float>(RunOne("Neg", {Tensor::Scalar<float>(2)}), {-2}, 0);
  Tensor empty = RunOne("Exp", {Tensor::FromVector<float>({}, {0, 3})});
  CHECK(empty.shape() == TensorShape{0, 3});
}

TEST_CASE("Unary integer kernels", "[cwise]") {
  const int32_t min32 = std::numeric_limits<int32_t>::min();
  Tensor x = Tensor::FromVector<int32_t>({-7, 0, 5, min32}, {2, 2});
  CheckEqual<int32_t>(RunOne("Neg", {x}), {7, 0, -5, min32});  // wraps like TF
  CheckEqual<int32_t>(RunOne("Abs", {x}), {7, 0, 5, min32});
  CheckEqual<int32_t>(RunOne("Sign", {x}), {-1, 0, 1, -1});
  CheckEqual<int32_t>(RunOne("Square", {Tensor::FromVector<int32_t>({-3, 4}, {2})}), {9, 16});
  Tensor x64 = Tensor::FromVector<int64_t>({-(int64_t(1) << 40), 3}, {2});
  CheckEqual<int64_t>(RunOne("Abs", {x64}), {int64_t(1) << 40, 3});
  CheckEqual<int64_t>(RunOne("Square", {x64}), {0, 9});  // 2^80 wraps to 0
  CheckEqual<int32_t>(RunOne("Relu", {x}), {0, 0, 5, 0});
  CheckEqual<bool>(RunOne("LogicalNot", {Tensor::FromVector<bool>({true, false}, {2})}),
                   {false, true});
}

TEST_CASE("Binary float kernels broadcast like NumPy", "[cwise]") {
  struct Op {
    std::string name;
    std::function<double(double, double)> ref;
    double lo, hi;  // keeps Pow/RealDiv/FloorMod away from poles
    // Where float rounding of an intermediate matters (floor(a / b)), the float reference
    // repeats that rounding.
    std::function<float(float, float)> ref_float = nullptr;
  };
  const std::vector<Op> ops = {
      {"Add", [](double a, double b) { return a + b; }, -5, 5},
      {"AddV2", [](double a, double b) { return a + b; }, -5, 5},
      {"Sub", [](double a, double b) { return a - b; }, -5, 5},
      {"Mul", [](double a, double b) { return a * b; }, -5, 5},
      {"RealDiv", [](double a, double b) { return a / b; }, 0.5, 5},
      {"Div", [](double a, double b) { return a / b; }, 0.5, 5},
      {"Maximum", [](double a, double b) { return std::max(a, b); }, -5, 5},
      {"Minimum", [](double a, double b) { return std::min(a, b); }, -5, 5},
      {"Pow", [](double a, double b) { return std::pow(a, b); }, 0.5, 3},
      {"SquaredDifference", [](double a, double b) { return (a - b) * (a - b); }, -5, 5},
      {"FloorDiv", [](double a, double b) { return std::floor(a / b); }, 0.5, 5,
       [](float a, float b) { return std::floor(a / b); }},
      // Positive operands: the floored remainder is the exact fmod.
      {"FloorMod", [](double a, double b) { return std::fmod(a, b); }, 0.5, 5},
  };
  // Shape pairs that hit every fast path: same shape, scalar on either side, row vector,
  // column vector, outer product, middle-axis and multi-axis broadcasting, rank 5, empty.
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{2, 3}, {2, 3}},       {{37}, {37}},
      {{}, {2, 3}},           {{2, 3}, {}},
      {{2, 3}, {3}},          {{3}, {4, 3}},
      {{2, 1, 4}, {3, 1}},    {{4, 1}, {1, 5}},
      {{2, 3, 4}, {2, 1, 4}}, {{5, 1, 3, 1, 2}, {4, 3, 1, 2}},
      {{1, 1}, {1}},          {{}, {}},
      {{0, 3}, {3}},          {{6, 1}, {6, 17}},
      {{2, 1, 3}, {1, 5, 1}},
  };
  for (const Op& op : ops) {
    for (const auto& [xs, ys] : shapes) {
      DYNAMIC_SECTION(op.name << " " << TensorShape(xs).DebugString() << " vs "
                              << TensorShape(ys).DebugString()) {
        const int64_t nx = TensorShape(xs).num_elements(), ny = TensorShape(ys).num_elements();
        std::vector<float> x = RandomValues<float>(nx, 1, op.lo, op.hi);
        std::vector<float> y = RandomValues<float>(ny, 2, op.lo, op.hi);
        std::vector<int64_t> out_shape;
        std::vector<float> expected = RefBroadcast<float, float>(
            x, xs, y, ys,
            [&](float a, float b) {
              return op.ref_float ? op.ref_float(a, b) : static_cast<float>(op.ref(a, b));
            },
            &out_shape);
        Tensor z = RunOne(op.name, {Tensor::FromVector<float>(x, TensorShape(xs)),
                                    Tensor::FromVector<float>(y, TensorShape(ys))});
        CHECK(Dims(z.shape()) == out_shape);
        CheckClose(z, expected, 2e-6, 1e-6);

        // float64 through the same shapes.
        std::vector<double> xd(x.begin(), x.end()), yd(y.begin(), y.end());
        std::vector<double> expected_d = RefBroadcast<double, double>(
            xd, xs, yd, ys, [&](double a, double b) { return op.ref(a, b); }, &out_shape);
        Tensor zd = RunOne(op.name, {Tensor::FromVector<double>(xd, TensorShape(xs)),
                                     Tensor::FromVector<double>(yd, TensorShape(ys))});
        CheckClose(zd, expected_d, 1e-12, 1e-12);
      }
    }
  }
}

TEST_CASE("Binary integer kernels", "[cwise]") {
  Tensor a = Tensor::FromVector<int32_t>({7, -7, 7, -7, 6, 0}, {6});
  Tensor b = Tensor::FromVector<int32_t>({2, 2, -2, -2, 3, 5}, {6});
  // Div truncates (C++/TF Div); FloorDiv/FloorMod follow Python.
  CheckEqual<int32_t>(RunOne("Div", {a, b}), {3, -3, -3, 3, 2, 0});
  CheckEqual<int32_t>(RunOne("FloorDiv", {a, b}), {3, -4, -4, 3, 2, 0});
  CheckEqual<int32_t>(RunOne("FloorMod", {a, b}), {1, 1, -1, -1, 0, 0});
  CheckEqual<int32_t>(RunOne("Add", {a, b}), {9, -5, 5, -9, 9, 5});
  CheckEqual<int32_t>(RunOne("Sub", {a, b}), {5, -9, 9, -5, 3, -5});
  CheckEqual<int32_t>(RunOne("Mul", {a, b}), {14, -14, -14, 14, 18, 0});
  CheckEqual<int32_t>(RunOne("Maximum", {a, b}), {7, 2, 7, -2, 6, 5});
  CheckEqual<int32_t>(RunOne("Minimum", {a, b}), {2, -7, -2, -7, 3, 0});
  CheckEqual<int32_t>(RunOne("SquaredDifference", {a, b}), {25, 81, 81, 25, 9, 25});
  CheckEqual<int32_t>(RunOne("Pow", {a, Tensor::FromVector<int32_t>({0, 1, 2, 3, 2, 0}, {6})}),
                      {1, -7, 49, -343, 36, 1});
  // int64 with broadcasting: [2,3] op [3].
  Tensor m = Tensor::FromVector<int64_t>({10, 20, 30, -10, -20, -30}, {2, 3});
  Tensor v = Tensor::FromVector<int64_t>({3, -4, 7}, {3});
  CheckEqual<int64_t>(RunOne("FloorDiv", {m, v}), {3, -5, 4, -4, 5, -5});
  CheckEqual<int64_t>(RunOne("FloorMod", {m, v}), {1, 0, 2, 2, 0, 5});
  CheckEqual<int64_t>(RunOne("Add", {m, v}), {13, 16, 37, -7, -24, -23});
  // MIN / -1 must not trap.
  const int32_t min32 = std::numeric_limits<int32_t>::min();
  CheckEqual<int32_t>(RunOne("Div", {Tensor::Scalar<int32_t>(min32), Tensor::Scalar<int32_t>(-1)}),
                      {min32});
  // Wrapping addition.
  CheckEqual<int32_t>(RunOne("Add", {Tensor::Scalar<int32_t>(std::numeric_limits<int32_t>::max()),
                                     Tensor::Scalar<int32_t>(1)}),
                      {min32});
}

TEST_CASE("Integer division by zero and negative powers are errors", "[cwise]") {
  Tensor a = Tensor::FromVector<int32_t>({1, 2, 3}, {3});
  Tensor zero = Tensor::FromVector<int32_t>({1, 0, 1}, {3});
  for (const char* op : {"Div", "FloorDiv", "FloorMod"}) {
    auto r = RunKernel(op, {}, {a, zero});
    INFO(op);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(Message(r.status()), Catch::Contains("division by zero"));
    CHECK_THAT(Message(r.status()), Catch::Contains("'op'"));
  }
  auto p = RunKernel("Pow", {}, {a, Tensor::FromVector<int32_t>({1, -1, 2}, {3})});
  REQUIRE_FALSE(p.ok());
  CHECK_THAT(Message(p.status()), Catch::Contains("negative integer powers"));
  // Float division by zero is IEEE.
  Tensor q = RunOne("RealDiv", {Tensor::FromVector<float>({1, -1, 0}, {3}),
                                Tensor::FromVector<float>({0, 0, 0}, {3})});
  CHECK(std::isinf(q.data<float>()[0]));
  CHECK(q.data<float>()[0] > 0);
  CHECK(q.data<float>()[1] < 0);
  CHECK(std::isnan(q.data<float>()[2]));
}

TEST_CASE("Maximum and Minimum propagate NaN", "[cwise]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = Tensor::FromVector<float>({nan, 1, 2}, {3});
  Tensor b = Tensor::FromVector<float>({1, nan, 3}, {3});
  CheckClose<float>(RunOne("Maximum", {a, b}), {nan, nan, 3}, 0);
  CheckClose<float>(RunOne("Minimum", {a, b}), {nan, nan, 2}, 0);
}

TEST_CASE("Incompatible broadcast shapes are errors naming both shapes", "[cwise]") {
  auto r = RunKernel("Add", {},
                     {Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3}),
                      Tensor::FromVector<float>({1, 2, 3, 4}, {4})});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Message(r.status()), Catch::Contains("[2,3]") && Catch::Contains("[4]") &&
                                      Catch::Contains("'op'") && Catch::Contains("Add"));
  auto c = RunKernel(
      "Less", {},
      {Tensor::FromVector<int32_t>({1, 2}, {2}), Tensor::FromVector<int32_t>({1, 2, 3}, {3})});
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(Message(c.status()), Catch::Contains("[2]") && Catch::Contains("[3]"));
}

TEST_CASE("Comparison kernels", "[cwise]") {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = Tensor::FromVector<float>({2, 2, 7}, {3});
  CheckEqual<bool>(RunOne("Less", {x, y}), {true, false, true, false, false, true});
  CheckEqual<bool>(RunOne("LessEqual", {x, y}), {true, true, true, false, false, true});
  CheckEqual<bool>(RunOne("Greater", {x, y}), {false, false, false, true, true, false});
  CheckEqual<bool>(RunOne("GreaterEqual", {x, y}), {false, true, false, true, true, false});
  CheckEqual<bool>(RunOne("Equal", {x, y}), {false, true, false, false, false, false});
  CheckEqual<bool>(RunOne("NotEqual", {x, y}), {true, false, true, true, true, true});
  // Scalar on the left, int64.
  Tensor v = Tensor::FromVector<int64_t>({-1, 0, 1}, {3});
  CheckEqual<bool>(RunOne("Greater", {Tensor::Scalar<int64_t>(0), v}), {true, false, false});
  // double and int32 with NaN / outer broadcasting.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CheckEqual<bool>(RunOne("Equal", {Tensor::FromVector<double>({nan, 1}, {2}),
                                    Tensor::FromVector<double>({nan, 1}, {2})}),
                   {false, true});
  CheckEqual<bool>(RunOne("Less", {Tensor::FromVector<int32_t>({1, 2}, {2, 1}),
                                   Tensor::FromVector<int32_t>({0, 1, 2}, {1, 3})}),
                   {false, false, true, false, false, false});
  CheckEqual<bool>(
      RunOne("Equal", {Tensor::FromVector<bool>({true, false}, {2}), Tensor::Scalar<bool>(true)}),
      {true, false});
}

TEST_CASE("Equal with incompatible_shape_error=false returns a scalar", "[cwise]") {
  Tensor a = Tensor::FromVector<int32_t>({1, 2}, {2});
  Tensor b = Tensor::FromVector<int32_t>({1, 2, 3}, {3});
  AttrMap lenient{{"incompatible_shape_error", MakeAttr(false)}};
  Tensor eq = RunOne("Equal", {a, b}, lenient);
  CHECK(eq.shape() == TensorShape{});
  CHECK(eq.data<bool>()[0] == false);
  Tensor ne = RunOne("NotEqual", {a, b}, lenient);
  CHECK(ne.data<bool>()[0] == true);
  CHECK_FALSE(RunKernel("Equal", {}, {a, b}).ok());
}

TEST_CASE("Logical kernels broadcast", "[cwise]") {
  Tensor a = Tensor::FromVector<bool>({true, true, false, false}, {2, 2});
  Tensor b = Tensor::FromVector<bool>({true, false}, {2});
  CheckEqual<bool>(RunOne("LogicalAnd", {a, b}), {true, false, false, false});
  CheckEqual<bool>(RunOne("LogicalOr", {a, b}), {true, true, true, false});
}

TEST_CASE("Cast converts like TensorFlow", "[cwise][cast]") {
  auto cast = [](const Tensor& x, DataType dst, bool truncate = false) {
    AttrMap attrs{{"DstT", MakeAttr(dst)}};
    if (truncate) attrs["Truncate"] = MakeAttr(true);
    return RunOne("Cast", {x}, attrs);
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Float -> int truncates toward zero; out-of-range saturates; NaN -> 0.
  Tensor f = Tensor::FromVector<float>({2.7f, -2.7f, 0.5f, -0.5f, 3e9f, -3e9f, nan}, {7});
  CheckEqual<int32_t>(cast(f, DT_INT32), {2, -2, 0, 0, std::numeric_limits<int32_t>::max(),
                                          std::numeric_limits<int32_t>::min(), 0});
  CheckEqual<int64_t>(cast(f, DT_INT64), {2, -2, 0, 0, 3000000000LL, -3000000000LL, 0});
  CheckEqual<uint8_t>(
      cast(Tensor::FromVector<float>({255.9f, 256.0f, -1.0f, 12.5f}, {4}), DT_UINT8),
      {255, 255, 0, 12});
  CheckEqual<int8_t>(cast(Tensor::FromVector<double>({-128.7, 127.9, 200}, {3}), DT_INT8),
                     {-128, 127, 127});
  // Integer narrowing wraps.
  CheckEqual<int32_t>(
      cast(Tensor::FromVector<int64_t>({(int64_t(1) << 32) + 5, -1}, {2}), DT_INT32), {5, -1});
  CheckEqual<uint8_t>(cast(Tensor::FromVector<int32_t>({-1, 256, 65}, {3}), DT_UINT8),
                      {255, 0, 65});
  CheckEqual<int16_t>(cast(Tensor::FromVector<int32_t>({70000}, {1}), DT_INT16),
                      {static_cast<int16_t>(70000 - 65536)});
  // Bool both ways.
  CheckEqual<bool>(cast(Tensor::FromVector<float>({0.0f, -0.0f, 0.1f, nan}, {4}), DT_BOOL),
                   {false, false, true, true});
  CheckEqual<bool>(cast(Tensor::FromVector<int32_t>({0, 3}, {2}), DT_BOOL), {false, true});
  CheckEqual<float>(cast(Tensor::FromVector<bool>({true, false}, {2}), DT_FLOAT), {1.0f, 0.0f});
  CheckEqual<int64_t>(cast(Tensor::FromVector<bool>({true, false}, {2}), DT_INT64), {1, 0});
  // Int -> float rounds to nearest.
  CheckEqual<float>(cast(Tensor::FromVector<int32_t>({16777217, -3}, {2}), DT_FLOAT),
                    {16777216.0f, -3.0f});
  CheckEqual<double>(cast(Tensor::FromVector<float>({0.1f}, {1}), DT_DOUBLE),
                     {static_cast<double>(0.1f)});
  CheckEqual<float>(cast(Tensor::FromVector<double>({0.1}, {1}), DT_FLOAT), {0.1f});
}

TEST_CASE("Cast to and from float16 and bfloat16", "[cwise][cast]") {
  auto cast = [](const Tensor& x, DataType dst, bool truncate = false) {
    AttrMap attrs{{"DstT", MakeAttr(dst)}};
    if (truncate) attrs["Truncate"] = MakeAttr(true);
    return RunOne("Cast", {x}, attrs);
  };
  // IEEE half bit patterns, hand-derived: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF (max),
  // 1e6 overflows to +inf 0x7C00, 2^-24 = 0x0001 (smallest subnormal).
  Tensor f = Tensor::FromVector<float>({1.0f, -2.0f, 65504.0f, 1e6f, 5.9604645e-8f}, {5});
  Tensor h = cast(f, DT_HALF);
  const std::vector<uint16_t> half_bits = {0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x0001};
  for (size_t i = 0; i < half_bits.size(); ++i) CHECK(h.data<uint16_t>()[i] == half_bits[i]);
  // Back to float32 and to int32 (through float).
  CheckEqual<float>(cast(h, DT_FLOAT),
                    {1.0f, -2.0f, 65504.0f, std::numeric_limits<float>::infinity(), 5.9604645e-8f});
  CheckEqual<int32_t>(cast(cast(Tensor::FromVector<float>({2.75f, -3.5f}, {2}), DT_HALF), DT_INT32),
                      {2, -3});
  // bfloat16: 1 + 3*2^-9 lies between 1.0 (0x3F80) and 1 + 2^-7 (0x3F81), nearer the latter.
  Tensor b = Tensor::FromVector<float>({1.005859375f, -2.0f}, {2});
  Tensor rounded = cast(b, DT_BFLOAT16);
  CHECK(rounded.data<uint16_t>()[0] == 0x3F81);
  CHECK(rounded.data<uint16_t>()[1] == 0xC000);
  Tensor truncated = cast(b, DT_BFLOAT16, /*truncate=*/true);
  CHECK(truncated.data<uint16_t>()[0] == 0x3F80);
  CheckEqual<double>(cast(rounded, DT_DOUBLE), {1.0078125, -2.0});
  // Half <-> bfloat16 via float.
  Tensor hb = cast(h, DT_BFLOAT16);
  CHECK(hb.data<uint16_t>()[0] == 0x3F80);  // 1.0
  CHECK(hb.data<uint16_t>()[1] == 0xC000);  // -2.0
}

TEST_CASE("Cast covers every pair of the supported dtypes", "[cwise][cast]") {
  // Small non-negative integers survive every conversion exactly (bool: 0/1 only).
  const std::vector<DataType> types = {DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_INT8,
                                       DT_UINT8, DT_INT16,  DT_BOOL,  DT_HALF,  DT_BFLOAT16};
  const std::vector<double> values = {0, 1, 1, 0};
  for (DataType src : types) {
    Tensor x = RunOne("Cast", {Tensor::FromVector<double>(values, {4})}, {{"DstT", MakeAttr(src)}});
    for (DataType dst : types) {
      CAPTURE(DataTypeName(src), DataTypeName(dst));
      auto y = RunKernel("Cast", {{"DstT", MakeAttr(dst)}}, {x});
      REQUIRE(y.ok());
      REQUIRE((*y)[0].dtype() == dst);
      for (int i = 0; i < 4; ++i) CHECK((*y)[0].ElementAsDouble(i) == values[i]);
    }
  }
}

TEST_CASE("AddN sums same-shape inputs", "[cwise]") {
  Tensor a = Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::FromVector<float>({10, 20, 30, 40}, {2, 2});
  Tensor c = Tensor::FromVector<float>({100, 200, 300, 400}, {2, 2});
  CheckEqual<float>(RunOne("AddN", {a, b, c}), {111, 222, 333, 444});
  CheckEqual<float>(RunOne("AddN", {a}), {1, 2, 3, 4});
  CheckEqual<int64_t>(RunOne("AddN", {Tensor::FromVector<int64_t>({1, 2}, {2}),
                                      Tensor::FromVector<int64_t>({3, 4}, {2})}),
                      {4, 6});
  // Larger than one block, with the same tensor twice (no in-place aliasing surprises).
  const int64_t n = 5000;
  std::vector<double> x = RandomValues<double>(n, 3, -1, 1);
  Tensor xt = Tensor::FromVector<double>(x, {n});
  std::vector<double> expected;
  for (double v : x) expected.push_back(v + v + v);
  CheckClose(RunOne("AddN", {xt, xt, xt}), expected, 1e-15);
  auto bad = RunKernel("AddN", {}, {a, Tensor::FromVector<float>({1, 2}, {2})});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(Message(bad.status()), Catch::Contains("[2,2]") && Catch::Contains("[2]"));
}

TEST_CASE("Element-wise kernels on the intra-op pool", "[cwise]") {
  ThreadPool pool(2);
  const int64_t rows = 300, cols = 1000;
  std::vector<float> x = RandomValues<float>(rows * cols, 11, -3, 3);
  std::vector<float> bias = RandomValues<float>(cols, 12, -3, 3);
  std::vector<float> expected(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) expected[r * cols + c] = x[r * cols + c] + bias[c];
  }
  Tensor z = RunOne(
      "Add", {Tensor::FromVector<float>(x, {rows, cols}), Tensor::FromVector<float>(bias, {cols})},
      {}, &pool);
  CheckClose(z, expected, 0);
  // Column broadcast [rows, 1] across [rows, cols].
  std::vector<float> col = RandomValues<float>(rows, 13, -3, 3);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) expected[r * cols + c] = x[r * cols + c] * col[r];
  }
  Tensor m = RunOne(
      "Mul",
      {Tensor::FromVector<float>(x, {rows, cols}), Tensor::FromVector<float>(col, {rows, 1})}, {},
      &pool);
  CheckClose(m, expected, 0);
  // A parallel transcendental unary op.
  std::vector<float> e;
  for (float v : x) e.push_back(static_cast<float>(std::tanh(static_cast<double>(v))));
  CheckClose(RunOne("Tanh", {Tensor::FromVector<float>(x, {rows, cols})}, {}, &pool), e, 2e-6,
             1e-7);
}

TEST_CASE("Element-wise shape functions", "[cwise][shape]") {
  auto infer = [](const std::string& op, std::vector<ShapeInput> in, AttrMap attrs = {}) {
    return InferOpShapes(op, attrs, in);
  };
  auto u = TensorShape::UnknownRank();
  {
    auto s = infer("Add", {ShapeInput::Of(DT_FLOAT, {-1, 3}), ShapeInput::Of(DT_FLOAT, {2, 1})});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({2, 3}));
  }
  {
    auto s = infer("Mul", {ShapeInput::Of(DT_FLOAT, {2, 1, 4}), ShapeInput::Of(DT_FLOAT, {3, 1})});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({2, 3, 4}));
  }
  {
    auto s = infer("Sub", {ShapeInput::Of(DT_FLOAT, u), ShapeInput::Of(DT_FLOAT, {3})});
    REQUIRE(s.ok());
    CHECK((*s)[0].unknown_rank());
  }
  {
    auto s = infer("Less", {ShapeInput::Of(DT_INT32, {-1}), ShapeInput::Of(DT_INT32, {})});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({-1}));
  }
  {
    auto s = infer("Add", {ShapeInput::Of(DT_FLOAT, {2, 3}), ShapeInput::Of(DT_FLOAT, {4})});
    REQUIRE_FALSE(s.ok());
    CHECK_THAT(Message(s.status()),
               Catch::Contains("[2,3]") && Catch::Contains("[4]") && Catch::Contains("'op'"));
  }
  {
    AttrMap lenient{{"incompatible_shape_error", MakeAttr(false)}};
    auto s =
        infer("Equal", {ShapeInput::Of(DT_FLOAT, {2}), ShapeInput::Of(DT_FLOAT, {3})}, lenient);
    REQUIRE(s.ok());
    CHECK((*s)[0].unknown_rank());
  }
  {
    auto s = infer("Exp", {ShapeInput::Of(DT_FLOAT, {-1, 5})});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({-1, 5}));
  }
  {
    auto s = infer("Cast", {ShapeInput::Of(DT_INT32, {7, -1})}, {{"DstT", MakeAttr(DT_FLOAT)}});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({7, -1}));
  }
  {
    auto s = infer("AddN", {ShapeInput::Of(DT_FLOAT, {-1, 3}), ShapeInput::Of(DT_FLOAT, u),
                            ShapeInput::Of(DT_FLOAT, {2, -1})});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({2, 3}));
    auto bad = infer("AddN", {ShapeInput::Of(DT_FLOAT, {2, 3}), ShapeInput::Of(DT_FLOAT, {3, 3})});
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(Message(bad.status()), Catch::Contains("[2,3]") && Catch::Contains("[3,3]"));
  }
}

TEST_CASE("Math ops declare TensorFlow's signatures", "[cwise][shape]") {
  const OpDef* sum = OpRegistry::Global().Find("Sum");
  REQUIRE(sum != nullptr);
  REQUIRE(sum->inputs.size() == 2);
  CHECK(sum->inputs[0].name == "input");
  CHECK(sum->inputs[1].name == "reduction_indices");
  CHECK(sum->outputs[0].name == "output");
  const AttrDef* keep = sum->FindAttr("keep_dims");
  REQUIRE(keep != nullptr);
  REQUIRE(keep->default_value.has_value());
  CHECK(keep->default_value->b() == false);
  const AttrDef* tidx = sum->FindAttr("Tidx");
  REQUIRE(tidx != nullptr);
  CHECK(tidx->default_value->type() == static_cast<int>(DT_INT32));
  const OpDef* argmax = OpRegistry::Global().Find("ArgMax");
  REQUIRE(argmax != nullptr);
  CHECK(argmax->inputs[1].name == "dimension");
  CHECK(argmax->FindAttr("output_type")->default_value->type() == static_cast<int>(DT_INT64));
  const OpDef* relu = OpRegistry::Global().Find("Relu");
  REQUIRE(relu != nullptr);
  CHECK(relu->inputs[0].name == "features");
  CHECK(relu->outputs[0].name == "activations");
  const OpDef* cast = OpRegistry::Global().Find("Cast");
  REQUIRE(cast != nullptr);
  CHECK(cast->FindAttr("Truncate")->default_value->b() == false);
  for (const char* op : {"Add",       "AddV2",      "Sub",     "Mul",          "RealDiv",
                         "Div",       "Maximum",    "Minimum", "Pow",          "SquaredDifference",
                         "FloorDiv",  "FloorMod",   "Neg",     "Abs",          "Exp",
                         "Log",       "Sqrt",       "Rsqrt",   "Square",       "Reciprocal",
                         "Tanh",      "Sigmoid",    "Floor",   "Ceil",         "Sign",
                         "Relu",      "Relu6",      "Elu",     "Equal",        "NotEqual",
                         "Less",      "LessEqual",  "Greater", "GreaterEqual", "LogicalAnd",
                         "LogicalOr", "LogicalNot", "Cast",    "Sum",          "Mean",
                         "Max",       "Min",        "Prod",    "ArgMax",       "ArgMin",
                         "AddN"}) {
    CAPTURE(op);
    CHECK(OpRegistry::Global().Find(op) != nullptr);
  }
}
