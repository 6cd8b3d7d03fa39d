// CPU element-wise kernels (unary, binary with broadcasting, comparisons, logic, Cast, AddN)
// and their shape functions. Expected values are hand-derived or computed here with plain
// scalar loops and std:: math over the inputs, independent of the kernels' code paths.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
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

// Matches a tensor against expected values: |got - want| <= abs + rel * |want| per element
// (NaN matches NaN, infinities match exactly; rel = abs = 0 compares exactly in T). Catch
// prints the first mismatch.
template <typename T>
class TensorMatches : public Catch::MatcherBase<Tensor> {
 public:
  TensorMatches(std::vector<T> want, double rel, double abs_tol, bool exact)
      : want_(std::move(want)), rel_(rel), abs_(abs_tol), exact_(exact) {}
  bool match(const Tensor& t) const override {
    if (t.num_elements() != static_cast<int64_t>(want_.size())) {
      mismatch_ = "element count " + std::to_string(t.num_elements());
      return false;
    }
    for (size_t i = 0; i < want_.size(); ++i) {
      const T g = t.data<T>()[i];
      if (!Same(g, want_[i])) {
        std::ostringstream os;
        os << "element " << i << " is " << +g << ", expected " << +want_[i];
        mismatch_ = os.str();
        return false;
      }
    }
    return true;
  }
  std::string describe() const override { return "matches the expected values; " + mismatch_; }

 private:
  bool Same(T got_t, T want_t) const {
    if (exact_) return got_t == want_t;
    const double got = static_cast<double>(got_t), want = static_cast<double>(want_t);
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == want;
    return std::fabs(got - want) <= abs_ + rel_ * std::fabs(want);
  }
  std::vector<T> want_;
  double rel_, abs_;
  bool exact_;
  mutable std::string mismatch_;
};

template <typename T>
TensorMatches<T> IsCloseTo(std::vector<T> want, double rel, double abs_tol = 0) {
  return TensorMatches<T>(std::move(want), rel, abs_tol, /*exact=*/false);
}

template <typename T>
TensorMatches<T> IsExactly(std::vector<T> want) {
  return TensorMatches<T>(std::move(want), 0, 0, /*exact=*/true);
}

Tensor RunOne(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
              int intra_op_threads = 1) {
  auto out = RunKernel(op, attrs, inputs, intra_op_threads);
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
      CHECK_THAT(yf, IsCloseTo(ef, c.float_rel, 1e-30));
      Tensor yd = RunOne(c.op, {Tensor::FromVector<double>(xd, {n})});
      CHECK_THAT(yd, IsCloseTo(ed, 1e-12, 1e-300));
    }
  }
}

TEST_CASE("Unary kernels handle special values", "[cwise]") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto run = [&](const std::string& op, std::vector<float> x) {
    return RunOne(op, {Tensor::FromVector<float>(x, {static_cast<int64_t>(x.size())})});
  };
  CHECK_THAT(run("Exp", {-inf, 0, 100}), IsCloseTo<float>({0, 1, inf}, 0));
  CHECK_THAT(run("Log", {0, 1, -1}), IsCloseTo<float>({-inf, 0, nan}, 0));
  CHECK_THAT(run("Sqrt", {0, 4, -1}), IsCloseTo<float>({0, 2, nan}, 0));
  CHECK_THAT(run("Rsqrt", {0, 4}), IsCloseTo<float>({inf, 0.5f}, 1e-6));
  CHECK_THAT(run("Sigmoid", {-200, 0, 200}), IsCloseTo<float>({0, 0.5f, 1}, 1e-6));
  CHECK_THAT(run("Tanh", {-inf, 0, inf, 50}), IsCloseTo<float>({-1, 0, 1, 1}, 1e-6));
  CHECK_THAT(run("Floor", {-1.5f, 1.5f, -0.0f}), IsCloseTo<float>({-2, 1, 0}, 0));
  CHECK_THAT(run("Ceil", {-1.5f, 1.5f}), IsCloseTo<float>({-1, 2}, 0));
  CHECK_THAT(run("Relu", {nan, -1, 2}), IsCloseTo<float>({nan, 0, 2}, 0));
  CHECK_THAT(run("Relu6", {nan, -1, 7, 3}), IsCloseTo<float>({nan, 0, 6, 3}, 0));
  CHECK_THAT(run("Sign", {nan, -0.0f, -3, 3}), IsCloseTo<float>({nan, 0, -1, 1}, 0));
  CHECK_THAT(run("Reciprocal", {0, -4}), IsCloseTo<float>({inf, -0.25f}, 0));
  // Scalars and empty tensors.
  CHECK_THAT(RunOne("Neg", {Tensor::Scalar<float>(2)}), IsCloseTo<float>({-2}, 0));
  Tensor empty = RunOne("Exp", {Tensor::FromVector<float>({}, {0, 3})});
  CHECK(empty.shape() == TensorShape{0, 3});
}

TEST_CASE("Unary integer kernels", "[cwise]") {
  const int32_t min32 = std::numeric_limits<int32_t>::min();
  Tensor x = Tensor::FromVector<int32_t>({-7, 0, 5, min32}, {2, 2});
  CHECK_THAT(RunOne("Neg", {x}), IsExactly<int32_t>({7, 0, -5, min32}));  // wraps like TF
  CHECK_THAT(RunOne("Abs", {x}), IsExactly<int32_t>({7, 0, 5, min32}));
  CHECK_THAT(RunOne("Sign", {x}), IsExactly<int32_t>({-1, 0, 1, -1}));
  CHECK_THAT(RunOne("Square", {Tensor::FromVector<int32_t>({-3, 4}, {2})}),
             IsExactly<int32_t>({9, 16}));
  Tensor x64 = Tensor::FromVector<int64_t>({-(int64_t(1) << 40), 3}, {2});
  CHECK_THAT(RunOne("Abs", {x64}), IsExactly<int64_t>({int64_t(1) << 40, 3}));
  CHECK_THAT(RunOne("Square", {x64}), IsExactly<int64_t>({0, 9}));  // 2^80 wraps to 0
  CHECK_THAT(RunOne("Relu", {x}), IsExactly<int32_t>({0, 0, 5, 0}));
  CHECK_THAT(RunOne("LogicalNot", {Tensor::FromVector<bool>({true, false}, {2})}),
             IsExactly<bool>({false, true}));
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
        CHECK_THAT(z, IsCloseTo(expected, 2e-6, 1e-6));

        // float64 through the same shapes.
        std::vector<double> xd(x.begin(), x.end()), yd(y.begin(), y.end());
        std::vector<double> expected_d = RefBroadcast<double, double>(
            xd, xs, yd, ys, [&](double a, double b) { return op.ref(a, b); }, &out_shape);
        Tensor zd = RunOne(op.name, {Tensor::FromVector<double>(xd, TensorShape(xs)),
                                     Tensor::FromVector<double>(yd, TensorShape(ys))});
        CHECK_THAT(zd, IsCloseTo(expected_d, 1e-12, 1e-12));
      }
    }
  }
}

TEST_CASE("Binary integer kernels", "[cwise]") {
  Tensor a = Tensor::FromVector<int32_t>({7, -7, 7, -7, 6, 0}, {6});
  Tensor b = Tensor::FromVector<int32_t>({2, 2, -2, -2, 3, 5}, {6});
  // Div truncates (C++/TF Div); FloorDiv/FloorMod follow Python.
  CHECK_THAT(RunOne("Div", {a, b}), IsExactly<int32_t>({3, -3, -3, 3, 2, 0}));
  CHECK_THAT(RunOne("FloorDiv", {a, b}), IsExactly<int32_t>({3, -4, -4, 3, 2, 0}));
  CHECK_THAT(RunOne("FloorMod", {a, b}), IsExactly<int32_t>({1, 1, -1, -1, 0, 0}));
  CHECK_THAT(RunOne("Add", {a, b}), IsExactly<int32_t>({9, -5, 5, -9, 9, 5}));
  CHECK_THAT(RunOne("Sub", {a, b}), IsExactly<int32_t>({5, -9, 9, -5, 3, -5}));
  CHECK_THAT(RunOne("Mul", {a, b}), IsExactly<int32_t>({14, -14, -14, 14, 18, 0}));
  CHECK_THAT(RunOne("Maximum", {a, b}), IsExactly<int32_t>({7, 2, 7, -2, 6, 5}));
  CHECK_THAT(RunOne("Minimum", {a, b}), IsExactly<int32_t>({2, -7, -2, -7, 3, 0}));
  CHECK_THAT(RunOne("SquaredDifference", {a, b}), IsExactly<int32_t>({25, 81, 81, 25, 9, 25}));
  CHECK_THAT(RunOne("Pow", {a, Tensor::FromVector<int32_t>({0, 1, 2, 3, 2, 0}, {6})}),
             IsExactly<int32_t>({1, -7, 49, -343, 36, 1}));
  // int64 with broadcasting: [2,3] op [3].
  Tensor m = Tensor::FromVector<int64_t>({10, 20, 30, -10, -20, -30}, {2, 3});
  Tensor v = Tensor::FromVector<int64_t>({3, -4, 7}, {3});
  CHECK_THAT(RunOne("FloorDiv", {m, v}), IsExactly<int64_t>({3, -5, 4, -4, 5, -5}));
  CHECK_THAT(RunOne("FloorMod", {m, v}), IsExactly<int64_t>({1, 0, 2, 2, 0, 5}));
  CHECK_THAT(RunOne("Add", {m, v}), IsExactly<int64_t>({13, 16, 37, -7, -24, -23}));
  // MIN / -1 must not trap.
  const int32_t min32 = std::numeric_limits<int32_t>::min();
  CHECK_THAT(RunOne("Div", {Tensor::Scalar<int32_t>(min32), Tensor::Scalar<int32_t>(-1)}),
             IsExactly<int32_t>({min32}));
  // Wrapping addition.
  CHECK_THAT(RunOne("Add", {Tensor::Scalar<int32_t>(std::numeric_limits<int32_t>::max()),
                            Tensor::Scalar<int32_t>(1)}),
             IsExactly<int32_t>({min32}));
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
  CHECK_THAT(RunOne("Maximum", {a, b}), IsCloseTo<float>({nan, nan, 3}, 0));
  CHECK_THAT(RunOne("Minimum", {a, b}), IsCloseTo<float>({nan, nan, 2}, 0));
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
  CHECK_THAT(RunOne("Less", {x, y}), IsExactly<bool>({true, false, true, false, false, true}));
  CHECK_THAT(RunOne("LessEqual", {x, y}), IsExactly<bool>({true, true, true, false, false, true}));
  CHECK_THAT(RunOne("Greater", {x, y}), IsExactly<bool>({false, false, false, true, true, false}));
  CHECK_THAT(RunOne("GreaterEqual", {x, y}),
             IsExactly<bool>({false, true, false, true, true, false}));
  CHECK_THAT(RunOne("Equal", {x, y}), IsExactly<bool>({false, true, false, false, false, false}));
  CHECK_THAT(RunOne("NotEqual", {x, y}), IsExactly<bool>({true, false, true, true, true, true}));
  // Scalar on the left, int64.
  Tensor v = Tensor::FromVector<int64_t>({-1, 0, 1}, {3});
  CHECK_THAT(RunOne("Greater", {Tensor::Scalar<int64_t>(0), v}),
             IsExactly<bool>({true, false, false}));
  // double and int32 with NaN / outer broadcasting.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THAT(RunOne("Equal", {Tensor::FromVector<double>({nan, 1}, {2}),
                              Tensor::FromVector<double>({nan, 1}, {2})}),
             IsExactly<bool>({false, true}));
  CHECK_THAT(RunOne("Less", {Tensor::FromVector<int32_t>({1, 2}, {2, 1}),
                             Tensor::FromVector<int32_t>({0, 1, 2}, {1, 3})}),
             IsExactly<bool>({false, false, true, false, false, false}));
  CHECK_THAT(
      RunOne("Equal", {Tensor::FromVector<bool>({true, false}, {2}), Tensor::Scalar<bool>(true)}),
      IsExactly<bool>({true, false}));
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
  CHECK_THAT(RunOne("LogicalAnd", {a, b}), IsExactly<bool>({true, false, false, false}));
  CHECK_THAT(RunOne("LogicalOr", {a, b}), IsExactly<bool>({true, true, true, false}));
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
  CHECK_THAT(cast(f, DT_INT32),
             IsExactly<int32_t>({2, -2, 0, 0, std::numeric_limits<int32_t>::max(),
                                 std::numeric_limits<int32_t>::min(), 0}));
  CHECK_THAT(cast(f, DT_INT64), IsExactly<int64_t>({2, -2, 0, 0, 3000000000LL, -3000000000LL, 0}));
  CHECK_THAT(cast(Tensor::FromVector<float>({255.9f, 256.0f, -1.0f, 12.5f}, {4}), DT_UINT8),
             IsExactly<uint8_t>({255, 255, 0, 12}));
  CHECK_THAT(cast(Tensor::FromVector<double>({-128.7, 127.9, 200}, {3}), DT_INT8),
             IsExactly<int8_t>({-128, 127, 127}));
  // Integer narrowing wraps.
  CHECK_THAT(cast(Tensor::FromVector<int64_t>({(int64_t(1) << 32) + 5, -1}, {2}), DT_INT32),
             IsExactly<int32_t>({5, -1}));
  CHECK_THAT(cast(Tensor::FromVector<int32_t>({-1, 256, 65}, {3}), DT_UINT8),
             IsExactly<uint8_t>({255, 0, 65}));
  CHECK_THAT(cast(Tensor::FromVector<int32_t>({70000}, {1}), DT_INT16),
             IsExactly<int16_t>({static_cast<int16_t>(70000 - 65536)}));
  // Bool both ways.
  CHECK_THAT(cast(Tensor::FromVector<float>({0.0f, -0.0f, 0.1f, nan}, {4}), DT_BOOL),
             IsExactly<bool>({false, false, true, true}));
  CHECK_THAT(cast(Tensor::FromVector<int32_t>({0, 3}, {2}), DT_BOOL),
             IsExactly<bool>({false, true}));
  CHECK_THAT(cast(Tensor::FromVector<bool>({true, false}, {2}), DT_FLOAT),
             IsExactly<float>({1.0f, 0.0f}));
  CHECK_THAT(cast(Tensor::FromVector<bool>({true, false}, {2}), DT_INT64),
             IsExactly<int64_t>({1, 0}));
  // Int -> float rounds to nearest.
  CHECK_THAT(cast(Tensor::FromVector<int32_t>({16777217, -3}, {2}), DT_FLOAT),
             IsExactly<float>({16777216.0f, -3.0f}));
  CHECK_THAT(cast(Tensor::FromVector<float>({0.1f}, {1}), DT_DOUBLE),
             IsExactly<double>({static_cast<double>(0.1f)}));
  CHECK_THAT(cast(Tensor::FromVector<double>({0.1}, {1}), DT_FLOAT), IsExactly<float>({0.1f}));
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
  CHECK_THAT(cast(h, DT_FLOAT),
             IsExactly<float>(
                 {1.0f, -2.0f, 65504.0f, std::numeric_limits<float>::infinity(), 5.9604645e-8f}));
  CHECK_THAT(cast(cast(Tensor::FromVector<float>({2.75f, -3.5f}, {2}), DT_HALF), DT_INT32),
             IsExactly<int32_t>({2, -3}));
  // bfloat16: 1 + 3*2^-9 lies between 1.0 (0x3F80) and 1 + 2^-7 (0x3F81), nearer the latter.
  Tensor b = Tensor::FromVector<float>({1.005859375f, -2.0f}, {2});
  Tensor rounded = cast(b, DT_BFLOAT16);
  CHECK(rounded.data<uint16_t>()[0] == 0x3F81);
  CHECK(rounded.data<uint16_t>()[1] == 0xC000);
  Tensor truncated = cast(b, DT_BFLOAT16, /*truncate=*/true);
  CHECK(truncated.data<uint16_t>()[0] == 0x3F80);
  CHECK_THAT(cast(rounded, DT_DOUBLE), IsExactly<double>({1.0078125, -2.0}));
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
  CHECK_THAT(RunOne("AddN", {a, b, c}), IsExactly<float>({111, 222, 333, 444}));
  CHECK_THAT(RunOne("AddN", {a}), IsExactly<float>({1, 2, 3, 4}));
  CHECK_THAT(RunOne("AddN", {Tensor::FromVector<int64_t>({1, 2}, {2}),
                             Tensor::FromVector<int64_t>({3, 4}, {2})}),
             IsExactly<int64_t>({4, 6}));
  // Larger than one block, with the same tensor twice (no in-place aliasing surprises).
  const int64_t n = 5000;
  std::vector<double> x = RandomValues<double>(n, 3, -1, 1);
  Tensor xt = Tensor::FromVector<double>(x, {n});
  std::vector<double> expected;
  for (double v : x) expected.push_back(v + v + v);
  CHECK_THAT(RunOne("AddN", {xt, xt, xt}), IsCloseTo(expected, 1e-15));
  auto bad = RunKernel("AddN", {}, {a, Tensor::FromVector<float>({1, 2}, {2})});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(Message(bad.status()), Catch::Contains("[2,2]") && Catch::Contains("[2]"));
}

TEST_CASE("Element-wise kernels over intra-op threads", "[cwise]") {
  constexpr int kThreads = 3;
  const int64_t rows = 300, cols = 1000;
  std::vector<float> x = RandomValues<float>(rows * cols, 11, -3, 3);
  std::vector<float> bias = RandomValues<float>(cols, 12, -3, 3);
  std::vector<float> expected(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) expected[r * cols + c] = x[r * cols + c] + bias[c];
  }
  Tensor z = RunOne(
      "Add", {Tensor::FromVector<float>(x, {rows, cols}), Tensor::FromVector<float>(bias, {cols})},
      {}, kThreads);
  CHECK_THAT(z, IsCloseTo(expected, 0));
  // Column broadcast [rows, 1] across [rows, cols].
  std::vector<float> col = RandomValues<float>(rows, 13, -3, 3);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) expected[r * cols + c] = x[r * cols + c] * col[r];
  }
  Tensor m = RunOne(
      "Mul",
      {Tensor::FromVector<float>(x, {rows, cols}), Tensor::FromVector<float>(col, {rows, 1})}, {},
      kThreads);
  CHECK_THAT(m, IsCloseTo(expected, 0));
  // A parallel transcendental unary op.
  std::vector<float> e;
  for (float v : x) e.push_back(static_cast<float>(std::tanh(static_cast<double>(v))));
  CHECK_THAT(RunOne("Tanh", {Tensor::FromVector<float>(x, {rows, cols})}, {}, kThreads),
             IsCloseTo(e, 2e-6, 1e-7));
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
