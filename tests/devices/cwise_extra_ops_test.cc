// CPU kernels of the element-wise ops added for TF1/Keras graphs: Erf, Softplus, Softsign, Cos,
// Sin, Round, Rsqrt, IsNan/IsInf/IsFinite, LeakyRelu(+Grad), Selu(+Grad), SoftplusGrad,
// SoftsignGrad, Atan2, ClipByValue, L2Loss and Select (TF1's tf.where), with their shape functions
// and errors. Expected values were computed once with TensorFlow 2.21 (CPU, float32) by
// tf.math.erf / tf.nn.softplus / tf.nn.softsign / tf.cos / tf.sin / tf.round / tf.nn.selu /
// tf.nn.leaky_relu / gen_nn_ops.{selu,softplus,softsign,leaky_relu}_grad / tf.atan2 /
// tf.raw_ops.ClipByValue / tf.nn.l2_loss on the inputs below, printed with %.9g and pasted.
// Double kernels are checked against std:: math formulas written out here.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
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

Tensor RunOne(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {}) {
  auto out = RunKernel(op, attrs, inputs);
  INFO(op << ": " << (out.ok() ? "ok" : Message(out.status())));
  REQUIRE(out.ok());
  REQUIRE(out->size() == 1);
  return (*out)[0];
}

// |got - want| <= atol + rtol * |want| per element; NaN matches NaN, infinities match exactly.
template <typename T>
void ExpectClose(const Tensor& got, const std::vector<T>& want, double rtol, double atol = 0) {
  REQUIRE(got.dtype() == DataTypeOf<T>::value);
  REQUIRE(got.num_elements() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = static_cast<double>(got.data<T>()[i]), w = static_cast<double>(want[i]);
    CAPTURE(i, g, w);
    if (std::isnan(w)) {
      CHECK(std::isnan(g));
    } else if (std::isinf(w)) {
      CHECK(g == w);
    } else {
      CHECK(std::fabs(g - w) <= atol + rtol * std::fabs(w));
    }
  }
}

// The shared float inputs (13 values across every branch) and incoming gradients.
const std::vector<float> kX = {-20.f, -3.5f, -2.5f, -1.5f, -0.5f, -0.2f, 0.f,
                               0.3f,  0.5f,  1.5f,  2.5f,  3.7f,  15.f};
const std::vector<float> kG = {-1.20000005f,  -0.991666675f, -0.783333361f, -0.574999988f,
                               -0.366666675f, -0.158333331f, 0.0500000007f, 0.258333325f,
                               0.466666669f,  0.675000012f,  0.883333325f,  1.0916667f,
                               1.29999995f};

Tensor X() { return Tensor::FromVector<float>(kX, {13}); }
Tensor G() { return Tensor::FromVector<float>(kG, {13}); }

}  // namespace

TEST_CASE("New unary float kernels match TensorFlow", "[cwise][cwise_extra]") {
  struct Case {
    const char* op;
    std::vector<float> want;
    double rtol, atol;
  };
  const std::vector<Case> cases = {
      {"Erf",
       {-1.f, -0.999999404f, -0.99959296f, -0.966105103f, -0.520499885f, -0.222702593f, 0.f,
        0.328626782f, 0.520499885f, 0.966105103f, 0.99959296f, 0.99999994f, 1.f},
       1e-6,
       1e-7},
      // tf.math.erfc(kX) in TF 2.21, float32.
      {"Erfc",
       {2.f, 1.99999928f, 1.99959302f, 1.9661051f, 1.52049994f, 1.22270262f, 1.f, 0.671373188f,
        0.479500115f, 0.0338948481f, 0.000406952022f, 1.67150986e-07f, 0.f},
       1e-6,
       1e-7},
      {"Softplus",
       {2.06115369e-09f, 0.0297504216f, 0.0788897425f, 0.201413259f, 0.474076986f, 0.598138869f,
        0.693147182f, 0.854355216f, 0.974076986f, 1.70141327f, 2.57888985f, 3.72442293f, 15.f},
       2e-6,
       0},
      {"Softsign",
       {-0.952380955f, -0.777777791f, -0.714285731f, -0.600000024f, -0.333333343f, -0.166666657f,
        0.f, 0.230769247f, 0.333333343f, 0.600000024f, 0.714285731f, 0.787234068f, 0.9375f},
       1e-6,
       0},
      {"Cos",
       {0.408082068f, -0.93645668f, -0.801143587f, 0.070737198f, 0.87758255f, 0.980066597f, 1.f,
        0.955336511f, 0.87758255f, 0.070737198f, -0.801143587f, -0.848100007f, -0.759687901f},
       2e-6,
       1e-7},
      {"Sin",
       {-0.912945271f, 0.350783229f, -0.598472178f, -0.997494996f, -0.47942555f, -0.198669329f, 0.f,
        0.295520216f, 0.47942555f, 0.997494996f, 0.598472118f, -0.529836178f, 0.650287867f},
       2e-6,
       1e-7},
      {"Round", {-20.f, -4.f, -2.f, -2.f, -0.f, -0.f, 0.f, 0.f, 0.f, 2.f, 2.f, 4.f, 15.f}, 0, 0},
      {"Selu",
       {-1.75809932f, -1.70500934f, -1.61378574f, -1.36581433f, -0.691758156f, -0.318689317f, 0.f,
        0.315210313f, 0.525350511f, 1.57605147f, 2.62675261f, 3.88759375f, 15.7605152f},
       2e-6,
       0},
      {"LeakyRelu",  // default alpha = 0.2
       {-4.f, -0.699999988f, -0.5f, -0.300000012f, -0.100000001f, -0.0400000028f, 0.f, 0.300000012f,
        0.5f, 1.5f, 2.5f, 3.70000005f, 15.f},
       1e-7,
       0},
  };
  for (const Case& c : cases) {
    SECTION(c.op) {
      Tensor y = RunOne(c.op, {X()});
      CHECK(y.shape() == TensorShape{13});
      ExpectClose<float>(y, c.want, c.rtol, c.atol);
    }
  }
  SECTION("LeakyRelu alpha = 0.1") {
    ExpectClose<float>(RunOne("LeakyRelu", {X()}, {{"alpha", MakeAttr(0.1f)}}),
                       {-2.f, -0.349999994f, -0.25f, -0.150000006f, -0.0500000007f, -0.0200000014f,
                        0.f, 0.300000012f, 0.5f, 1.5f, 2.5f, 3.70000005f, 15.f},
                       1e-7);
  }
  SECTION("Rsqrt") {
    ExpectClose<float>(
        RunOne("Rsqrt", {Tensor::FromVector<float>({0.25f, 2.f, 9.f, 1e-4f}, {2, 2})}),
        {2.f, 0.707106769f, 0.333333343f, 100.f}, 1e-6);
  }
}

TEST_CASE("New unary double kernels match std:: math", "[cwise][cwise_extra]") {
  const std::vector<double> x = {-40, -3.25, -1, -0.5, -1e-3, 0, 0.7, 2.5, 3.5, 40};
  const double scale = 1.0507009873554804934193349852946;
  const double scale_alpha = 1.7580993408473768599402175208123;
  struct Case {
    const char* op;
    double (*ref)(double);
  };
  const Case cases[] = {
      {"Erf", [](double v) { return std::erf(v); }},
      {"Erfc", [](double v) { return std::erfc(v); }},
      {"Cos", [](double v) { return std::cos(v); }},
      {"Sin", [](double v) { return std::sin(v); }},
      {"Softplus", [](double v) { return v > 30 ? v : std::log1p(std::exp(v)); }},
      {"Softsign", [](double v) { return v / (1 + std::fabs(v)); }},
      {"Round", [](double v) { return std::nearbyint(v); }},
  };
  Tensor xt = Tensor::FromVector<double>(x, {10});
  for (const Case& c : cases) {
    CAPTURE(c.op);
    std::vector<double> want;
    for (double v : x) want.push_back(c.ref(v));
    ExpectClose<double>(RunOne(c.op, {xt}), want, 1e-13, 1e-300);
  }
  std::vector<double> selu;
  for (double v : x) selu.push_back(v < 0 ? scale_alpha * std::expm1(v) : scale * v);
  ExpectClose<double>(RunOne("Selu", {xt}), selu, 1e-13);
}

TEST_CASE("Round rounds half to even; integers pass through", "[cwise][cwise_extra]") {
  // TF 2.21: tf.round on these float32 values.
  ExpectClose<float>(
      RunOne("Round", {Tensor::FromVector<float>({-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 3.5f,
                                                  0.49999997f, -0.7f, 1e8f, 4.50000048f},
                                                 {11})}),
      {-2.f, -2.f, -0.f, 0.f, 2.f, 2.f, 4.f, 0.f, -1.f, 1e8f, 5.f}, 0);
  Tensor neg_zero = RunOne("Round", {Tensor::FromVector<float>({-0.4f}, {1})});
  CHECK(std::signbit(neg_zero.data<float>()[0]));  // -0, as TF
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ExpectClose<float>(RunOne("Round", {Tensor::FromVector<float>({inf, -inf, nan}, {3})}),
                     {inf, -inf, nan}, 0);
  Tensor ints = RunOne("Round", {Tensor::FromVector<int32_t>({-3, 0, 7}, {3})});
  CHECK(ints.ToVector<int32_t>() == std::vector<int32_t>{-3, 0, 7});
}

TEST_CASE("IsNan, IsInf and IsFinite give bools", "[cwise][cwise_extra]") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float big = std::numeric_limits<float>::max();
  const float tiny = std::numeric_limits<float>::denorm_min();
  Tensor x = Tensor::FromVector<float>({nan, inf, -inf, 0.f, -1.5f, big, -big, tiny}, {2, 4});
  auto bools = [](const Tensor& t) {
    REQUIRE(t.dtype() == DT_BOOL);
    REQUIRE(t.shape() == TensorShape{2, 4});
    std::vector<bool> v;
    for (int64_t i = 0; i < t.num_elements(); ++i) v.push_back(t.data<bool>()[i]);
    return v;
  };
  CHECK(bools(RunOne("IsNan", {x})) ==
        std::vector<bool>{true, false, false, false, false, false, false, false});
  CHECK(bools(RunOne("IsInf", {x})) ==
        std::vector<bool>{false, true, true, false, false, false, false, false});
  CHECK(bools(RunOne("IsFinite", {x})) ==
        std::vector<bool>{false, false, false, true, true, true, true, true});
  Tensor xd = Tensor::FromVector<double>({std::nan(""), -HUGE_VAL, 1e300}, {3});
  Tensor fin = RunOne("IsFinite", {xd});
  CHECK(fin.data<bool>()[0] == false);
  CHECK(fin.data<bool>()[1] == false);
  CHECK(fin.data<bool>()[2] == true);
  auto s = InferOpShapes("IsNan", {}, {ShapeInput::Of(DT_FLOAT, {-1, 3})});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape({-1, 3}));
}

TEST_CASE("Activation gradient kernels match TensorFlow", "[cwise][cwise_extra]") {
  // SeluGrad takes the forward output: selu(kX) as TF computed it (see "Selu" above).
  Tensor selu_y = Tensor::FromVector<float>(
      {-1.75809932f, -1.70500934f, -1.61378574f, -1.36581433f, -0.691758156f, -0.318689317f, 0.f,
       0.315210313f, 0.525350511f, 1.57605147f, 2.62675261f, 3.88759375f, 15.7605152f},
      {13});
  ExpectClose<float>(RunOne("SeluGrad", {G(), selu_y}),
                     {-0.f, -0.0526475608f, -0.11304564f, -0.225563869f, -0.390991777f,
                      -0.22790657f, 0.0525350533f, 0.271431088f, 0.49032715f, 0.709223211f,
                      0.928119242f, 1.14701533f, 1.36591125f},
                     2e-5,
                     1e-6);  // y + scale * alpha cancels near y = -1.758 (TF uses the same formula)
  ExpectClose<float>(RunOne("SoftplusGrad", {G(), X()}),
                     {-2.47338461e-09f, -0.0290679634f, -0.0594222434f, -0.104894675f,
                      -0.138431579f, -0.0712762848f, 0.0250000004f, 0.148397639f, 0.290481031f,
                      0.551862776f, 0.816325247f, 1.065328f, 1.29999948f},
                     2e-6);
  ExpectClose<float>(RunOne("SoftsignGrad", {G(), X()}),
                     {-0.00272108847f, -0.0489711948f, -0.063945584f, -0.0920000002f, -0.162962973f,
                      -0.109953701f, 0.0500000007f, 0.152859971f, 0.207407415f, 0.108000003f,
                      0.0721088424f, 0.0494190492f, 0.00507812481f},
                     2e-6);
  ExpectClose<float>(RunOne("LeakyReluGrad", {G(), X()}, {{"alpha", MakeAttr(0.3f)}}),
                     {-0.360000014f, -0.297500014f, -0.235000014f, -0.172499999f, -0.110000007f,
                      -0.0475000031f, 0.0150000006f, 0.258333325f, 0.466666669f, 0.675000012f,
                      0.883333325f, 1.0916667f, 1.29999995f},
                     1e-6);
  auto bad = RunKernel("SoftplusGrad", {}, {G(), Tensor::FromVector<float>({1, 2}, {2})});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(Message(bad.status()),
             Catch::Contains("'op'") && Catch::Contains("[13]") && Catch::Contains("[2]"));
}

TEST_CASE("Atan2 covers every quadrant and broadcasts", "[cwise][cwise_extra]") {
  // tf.atan2(y, x) for these (y, x) pairs.
  Tensor y = Tensor::FromVector<float>({1, 1, -1, -1, 0, 0, 2.5f, -0.5f}, {8});
  Tensor x = Tensor::FromVector<float>({1, -1, 1, -1, 1, -1, 0, 0}, {8});
  ExpectClose<float>(RunOne("Atan2", {y, x}),
                     {0.785398126f, 2.3561945f, -0.785398126f, -2.3561945f, 0.f, 3.14159274f,
                      1.57079637f, -1.57079637f},
                     1e-7);
  Tensor yd = Tensor::FromVector<double>({1, -2, 3, 0.5, -0.25, 7}, {2, 3});
  Tensor xd = Tensor::FromVector<double>({-1.5, 2}, {2, 1});
  std::vector<double> want;
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) {
      want.push_back(std::atan2(yd.data<double>()[r * 3 + c], xd.data<double>()[r]));
    }
  }
  Tensor z = RunOne("Atan2", {yd, xd});
  CHECK(z.shape() == TensorShape{2, 3});
  ExpectClose<double>(z, want, 1e-15);
}

TEST_CASE("ClipByValue with scalar or same-shape bounds", "[cwise][cwise_extra]") {
  Tensor t = Tensor::FromVector<float>({-2, -0.5f, 0.5f, 1.5f, 3, -4}, {2, 3});
  // tf.raw_ops.ClipByValue(t, -1, 1) and with the tensor bounds below.
  ExpectClose<float>(
      RunOne("ClipByValue", {t, Tensor::Scalar<float>(-1), Tensor::Scalar<float>(1)}),
      {-1, -0.5f, 0.5f, 1, 1, -1}, 0);
  Tensor lo = Tensor::FromVector<float>({-3, 0, 0, 1, 1, -5}, {2, 3});
  Tensor hi = Tensor::FromVector<float>({-1, 1, 0.2f, 2, 2, -4.5f}, {2, 3});
  ExpectClose<float>(RunOne("ClipByValue", {t, lo, hi}), {-2, 0, 0.2f, 1.5f, 2, -4.5f}, 0);
  ExpectClose<float>(RunOne("ClipByValue", {t, lo, Tensor::Scalar<float>(0)}), {-2, 0, 0, 1, 1, -4},
                     0);
  Tensor ti = Tensor::FromVector<int32_t>({-5, 3, 9}, {3});
  CHECK(RunOne("ClipByValue", {ti, Tensor::Scalar<int32_t>(0), Tensor::Scalar<int32_t>(4)})
            .ToVector<int32_t>() == std::vector<int32_t>{0, 3, 4});
  auto bad = RunKernel("ClipByValue", {},
                       {t, Tensor::FromVector<float>({0, 0, 0}, {3}), Tensor::Scalar<float>(1)});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Message(bad.status()), Catch::Contains("'op'") && Catch::Contains("ClipByValue") &&
                                        Catch::Contains("clip_value_min") &&
                                        Catch::Contains("[2,3]") && Catch::Contains("[3]"));
}

TEST_CASE("L2Loss is half the sum of squares, a scalar", "[cwise][cwise_extra]") {
  // tf.nn.l2_loss of the ClipByValue test's t, and of kX.
  Tensor t = Tensor::FromVector<float>({-2, -0.5f, 0.5f, 1.5f, 3, -4}, {2, 3});
  Tensor y = RunOne("L2Loss", {t});
  CHECK(y.shape() == TensorShape{});
  ExpectClose<float>(y, {15.875f}, 0);
  ExpectClose<float>(RunOne("L2Loss", {X()}), {334.285004f}, 1e-6);
  ExpectClose<double>(RunOne("L2Loss", {Tensor::FromVector<double>({1e-3, 3, -4}, {3})}),
                      {12.5000005}, 1e-15);
  ExpectClose<float>(RunOne("L2Loss", {Tensor::FromVector<float>({}, {0, 4})}), {0.f}, 0);
  auto s = InferOpShapes("L2Loss", {}, {ShapeInput::Of(DT_FLOAT, {-1, 3})});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape({}));
}

TEST_CASE("Select picks elements, or rows with a vector condition", "[cwise][cwise_extra]") {
  Tensor t = Tensor::FromVector<float>({0, 1, 2, 3, 4, 5}, {3, 2});
  Tensor e = Tensor::FromVector<float>({-10, -11, -12, -13, -14, -15}, {3, 2});
  SECTION("same-shape condition") {
    Tensor c = Tensor::FromVector<bool>({true, false, false, true, true, false}, {3, 2});
    ExpectClose<float>(RunOne("Select", {c, t, e}), {0, -11, -12, 3, 4, -15}, 0);
  }
  SECTION("vector condition selects rows") {
    Tensor c = Tensor::FromVector<bool>({true, false, true}, {3});
    Tensor out = RunOne("Select", {c, t, e});
    CHECK(out.shape() == TensorShape{3, 2});
    ExpectClose<float>(out, {0, 1, -12, -13, 4, 5}, 0);
    Tensor t3 = Tensor::FromVector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
    Tensor e3 = Tensor::FromVector<int64_t>({0, 0, 0, 0, 0, 0, 0, 0}, {2, 2, 2});
    CHECK(RunOne("Select", {Tensor::FromVector<bool>({false, true}, {2}), t3, e3})
              .ToVector<int64_t>() == std::vector<int64_t>{0, 0, 0, 0, 5, 6, 7, 8});
  }
  SECTION("vector condition on vectors selects elements; scalar condition picks a tensor") {
    Tensor tv = Tensor::FromVector<float>({1, 2, 3}, {3});
    Tensor ev = Tensor::FromVector<float>({-1, -2, -3}, {3});
    ExpectClose<float>(
        RunOne("Select", {Tensor::FromVector<bool>({false, true, false}, {3}), tv, ev}),
        {-1, 2, -3}, 0);
    ExpectClose<float>(RunOne("Select", {Tensor::Scalar<bool>(false), t, e}),
                       {-10, -11, -12, -13, -14, -15}, 0);
  }
  SECTION("bad shapes are errors naming the node") {
    auto rows = RunKernel("Select", {}, {Tensor::FromVector<bool>({true, false}, {2}), t, e});
    REQUIRE_FALSE(rows.ok());
    CHECK(rows.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(rows.status()),
               Catch::Contains("'op'") && Catch::Contains("[2]") && Catch::Contains("[3,2]"));
    auto te = RunKernel("Select", {},
                        {Tensor::FromVector<bool>({true, false, true}, {3}), t,
                         Tensor::FromVector<float>({1, 2, 3}, {3, 1})});
    REQUIRE_FALSE(te.ok());
    CHECK_THAT(Message(te.status()), Catch::Contains("same shape") && Catch::Contains("[3,1]"));
    // No broadcasting (that is SelectV2): a [1,2] condition for [3,2] operands is an error.
    auto bc = RunKernel("Select", {}, {Tensor::FromVector<bool>({true, false}, {1, 2}), t, e});
    REQUIRE_FALSE(bc.ok());
    CHECK_THAT(Message(bc.status()), Catch::Contains("[1,2]"));
  }
  SECTION("shape function") {
    auto s = InferOpShapes("Select", {},
                           {ShapeInput::Of(DT_BOOL, {-1}), ShapeInput::Of(DT_FLOAT, {-1, 4}),
                            ShapeInput::Of(DT_FLOAT, {5, -1})});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape({5, 4}));
    auto bad = InferOpShapes("Select", {},
                             {ShapeInput::Of(DT_BOOL, {4}), ShapeInput::Of(DT_FLOAT, {5, 4}),
                              ShapeInput::Of(DT_FLOAT, {5, 4})});
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(Message(bad.status()), Catch::Contains("[4]") && Catch::Contains("[5,4]"));
  }
}

TEST_CASE("New ops declare TensorFlow's signatures", "[cwise][cwise_extra][shape]") {
  const OpDef* leaky = OpRegistry::Global().Find("LeakyRelu");
  REQUIRE(leaky != nullptr);
  REQUIRE(leaky->FindAttr("alpha") != nullptr);
  const OpDef* atan2 = OpRegistry::Global().Find("Atan2");
  REQUIRE(atan2 != nullptr);
  CHECK(atan2->inputs[0].name == "y");
  CHECK(atan2->inputs[1].name == "x");
  const OpDef* clip = OpRegistry::Global().Find("ClipByValue");
  REQUIRE(clip != nullptr);
  CHECK(clip->inputs[1].name == "clip_value_min");
  CHECK(clip->inputs[2].name == "clip_value_max");
  for (const char* op :
       {"Erf", "Softplus", "Softsign", "Cos", "Sin", "Round", "IsNan", "IsInf", "IsFinite", "Selu",
        "SeluGrad", "LeakyReluGrad", "SoftplusGrad", "SoftsignGrad", "L2Loss", "Select"}) {
    CAPTURE(op);
    CHECK(OpRegistry::Global().Find(op) != nullptr);
  }
}
