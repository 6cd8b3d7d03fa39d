// The training ops' CPU kernels and shape functions: softmax cross-entropy (dense and sparse),
// activation gradients, BiasAddGrad, Conv2D backprops, pooling gradients and the fused
// optimizers. References are written here independently of the kernels: plain loops in
// double / long double from the definitions, conv gradients by linearity over basis vectors
// through nn_test's forward reference, and optimizer steps from TF's documented formulas.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/session.h"
#include "tests/devices/kernel_test_util.h"
#include "tests/devices/nn_test_util.h"

using namespace quiver;
using namespace quiver::nn_test;

namespace {

// ---- softmax cross-entropy ------------------------------------------------------------------

// loss_b = sum_j labels_bj * (logsumexp_b - logits_bj), backprop = softmax - labels.
void RefXent(const std::vector<double>& logits, const std::vector<double>& labels, int64_t classes,
             std::vector<double>* loss, std::vector<double>* backprop) {
  const int64_t batch = static_cast<int64_t>(logits.size()) / classes;
  loss->assign(batch, 0.0);
  backprop->assign(logits.size(), 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    long double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < classes; ++j) mx = std::max<long double>(mx, logits[b * classes + j]);
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(logits[b * classes + j] - mx);
    const long double lse = mx + std::log(sum);
    long double l = 0;
    for (int64_t j = 0; j < classes; ++j) {
      l += labels[b * classes + j] * (lse - logits[b * classes + j]);
      (*backprop)[b * classes + j] =
          static_cast<double>(std::exp(logits[b * classes + j] - lse) - labels[b * classes + j]);
    }
    (*loss)[b] = static_cast<double>(l);
  }
}

// Rows of non-negative values summing to 1.
std::vector<double> RandomDistributions(int64_t batch, int64_t classes, uint32_t seed) {
  std::vector<double> v = RandomValues(batch * classes, seed, 0.0, 1.0);
  for (int64_t b = 0; b < batch; ++b) {
    double s = 0;
    for (int64_t j = 0; j < classes; ++j) s += v[b * classes + j];
    for (int64_t j = 0; j < classes; ++j) v[b * classes + j] /= s;
  }
  return v;
}

template <typename T>
void CheckXent(double tol) {
  const int64_t batch = 4, classes = 5;
  std::vector<double> logits = RandomValues(batch * classes, 21, -10.0, 10.0);
  // A row of huge logits: exp() overflows unless the max is subtracted first.
  for (int64_t j = 0; j < classes; ++j) logits[3 * classes + j] = 1000.0 + j;
  const std::vector<double> labels = RandomDistributions(batch, classes, 22);
  std::vector<double> want_loss, want_bp;
  RefXent(logits, labels, classes, &want_loss, &want_bp);
  auto out =
      RunKernel("SoftmaxCrossEntropyWithLogits", {},
                {MakeTensor<T>(logits, {batch, classes}), MakeTensor<T>(labels, {batch, classes})});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  REQUIRE((*out)[0].shape() == TensorShape{batch});
  REQUIRE((*out)[1].shape() == TensorShape{batch, classes});
  CHECK(MaxError(ToDoubles<T>((*out)[0]), want_loss) < tol);
  CHECK(MaxError(ToDoubles<T>((*out)[1]), want_bp) < tol);
}

}  // namespace

TEST_CASE("SoftmaxCrossEntropyWithLogits matches log-sum-exp references", "[training_ops]") {
  CheckXent<float>(2e-5);
  CheckXent<double>(1e-12);

  SECTION("hand values: uniform logits cost log(classes)") {
    auto out = RunKernel("SoftmaxCrossEntropyWithLogits", {},
                         {Tensor::FromVector<float>({0, 0, 0, 0}, {1, 4}),
                          Tensor::FromVector<float>({0, 0, 1, 0}, {1, 4})});
    REQUIRE(out.ok());
    CHECK((*out)[0].ToVector<float>()[0] == Approx(std::log(4.0)));
    const std::vector<float> bp = (*out)[1].ToVector<float>();
    CHECK(bp[0] == Approx(0.25));
    CHECK(bp[2] == Approx(-0.75));
  }

  SECTION("labels broadcast over the batch") {
    const std::vector<double> logits = RandomValues(3 * 4, 23);
    const std::vector<double> row = RandomDistributions(1, 4, 24);
    std::vector<double> labels;
    for (int b = 0; b < 3; ++b) labels.insert(labels.end(), row.begin(), row.end());
    std::vector<double> want_loss, want_bp;
    RefXent(logits, labels, 4, &want_loss, &want_bp);
    auto out = RunKernel("SoftmaxCrossEntropyWithLogits", {},
                         {MakeTensor<double>(logits, {3, 4}), MakeTensor<double>(row, {1, 4})});
    REQUIRE(out.ok());
    CHECK(MaxError(ToDoubles<double>((*out)[0]), want_loss) < 1e-12);
    CHECK(MaxError(ToDoubles<double>((*out)[1]), want_bp) < 1e-12);
  }

  SECTION("mismatched shapes are an error naming the node") {
    auto out = RunKernel(
        "SoftmaxCrossEntropyWithLogits", {},
        {Tensor::Zeros(DT_FLOAT, {2, 3}).value(), Tensor::Zeros(DT_FLOAT, {2, 4}).value()});
    REQUIRE_FALSE(out.ok());
    CHECK(Contains(out.status(), "node 'nn_node'"));
    CHECK(Contains(out.status(), "[2,3]"));
    auto rank3 = RunKernel(
        "SoftmaxCrossEntropyWithLogits", {},
        {Tensor::Zeros(DT_FLOAT, {2, 3, 1}).value(), Tensor::Zeros(DT_FLOAT, {2, 3, 1}).value()});
    CHECK_FALSE(rank3.ok());
  }

  SECTION("shape function") {
    auto s =
        InferShapes("SoftmaxCrossEntropyWithLogits", {}, {TensorShape{-1, 5}, TensorShape{8, -1}});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape{8});
    CHECK((*s)[1] == (TensorShape{8, 5}));
    auto bad =
        InferShapes("SoftmaxCrossEntropyWithLogits", {}, {TensorShape{2, 5}, TensorShape{2, 4}});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), kNodeName));
  }
}

TEST_CASE("SparseSoftmaxCrossEntropyWithLogits equals the dense op on one-hot labels",
          "[training_ops]") {
  const int64_t batch = 5, classes = 7;
  std::vector<double> logits = RandomValues(batch * classes, 31, -5.0, 5.0);
  for (int64_t j = 0; j < classes; ++j) logits[j] = -800.0 + 3.0 * j;  // stability
  const std::vector<int64_t> targets = {0, 6, 3, 3, 1};
  std::vector<double> one_hot(batch * classes, 0.0);
  for (int64_t b = 0; b < batch; ++b) one_hot[b * classes + targets[b]] = 1.0;
  std::vector<double> want_loss, want_bp;
  RefXent(logits, one_hot, classes, &want_loss, &want_bp);

  for (DataType tl : {DT_INT32, DT_INT64}) {
    Tensor labels = tl == DT_INT32 ? Tensor::FromVector<int32_t>({0, 6, 3, 3, 1}, {batch})
                                   : Tensor::FromVector<int64_t>(targets, {batch});
    AttrMap attrs = {{"Tlabels", MakeAttr(tl)}};
    auto f = RunKernel("SparseSoftmaxCrossEntropyWithLogits", attrs,
                       {MakeTensor<float>(logits, {batch, classes}), labels});
    INFO(f.status().ToString());
    REQUIRE(f.ok());
    CHECK(MaxError(ToDoubles<float>((*f)[0]), want_loss) < 2e-5);
    CHECK(MaxError(ToDoubles<float>((*f)[1]), want_bp) < 2e-5);
    auto d = RunKernel("SparseSoftmaxCrossEntropyWithLogits", attrs,
                       {MakeTensor<double>(logits, {batch, classes}), labels});
    REQUIRE(d.ok());
    CHECK(MaxError(ToDoubles<double>((*d)[0]), want_loss) < 1e-12);
    CHECK(MaxError(ToDoubles<double>((*d)[1]), want_bp) < 1e-12);
  }

  SECTION("a label outside [0, classes) fails and names the node and the label") {
    for (int32_t bad : {3, -1}) {
      auto out = RunKernel(
          "SparseSoftmaxCrossEntropyWithLogits", {{"Tlabels", MakeAttr(DT_INT32)}},
          {Tensor::Zeros(DT_FLOAT, {2, 3}).value(), Tensor::FromVector<int32_t>({0, bad}, {2})});
      REQUIRE_FALSE(out.ok());
      CHECK(Contains(out.status(), "node 'nn_node'"));
      CHECK(Contains(out.status(), absl::StrCat("label value of ", bad)));
      CHECK(Contains(out.status(), "[0, 3)"));
    }
  }

  SECTION("batch mismatch and shape function") {
    auto out = RunKernel(
        "SparseSoftmaxCrossEntropyWithLogits", {{"Tlabels", MakeAttr(DT_INT64)}},
        {Tensor::Zeros(DT_FLOAT, {2, 3}).value(), Tensor::FromVector<int64_t>({0, 1, 2}, {3})});
    REQUIRE_FALSE(out.ok());
    CHECK(Contains(out.status(), "same first dimension"));
    auto s = InferShapes("SparseSoftmaxCrossEntropyWithLogits", {{"Tlabels", MakeAttr(DT_INT64)}},
                         {TensorShape{-1, 10}, TensorShape{32}}, DT_FLOAT, {DT_FLOAT, DT_INT64});
    REQUIRE(s.ok());
    CHECK((*s)[0] == TensorShape{32});
    CHECK((*s)[1] == (TensorShape{32, 10}));
    auto bad = InferShapes("SparseSoftmaxCrossEntropyWithLogits", {{"Tlabels", MakeAttr(DT_INT64)}},
                           {TensorShape{4, 10}, TensorShape{5}}, DT_FLOAT, {DT_FLOAT, DT_INT64});
    CHECK_FALSE(bad.ok());
  }
}

// ---- activation gradients -------------------------------------------------------------------

namespace {

std::vector<double> RunGrad(const std::string& op, const std::vector<double>& a,
                            const std::vector<double>& b) {
  const int64_t n = static_cast<int64_t>(a.size());
  auto out = RunKernel(op, {}, {MakeTensor<double>(a, {n}), MakeTensor<double>(b, {n})});
  INFO(op << ": " << out.status().ToString());
  REQUIRE(out.ok());
  return ToDoubles<double>((*out)[0]);
}

}  // namespace

TEST_CASE("Activation gradients follow TF's argument order", "[training_ops]") {
  // (gradients, features): features at the kinks get 0, as TF does.
  CHECK(RunGrad("ReluGrad", {1, 2, 3, 4}, {-1, 0, 2, 7}) == std::vector<double>{0, 0, 3, 4});
  CHECK(RunGrad("Relu6Grad", {1, 2, 3, 4, 5}, {-1, 0, 2, 6, 7}) ==
        std::vector<double>{0, 0, 3, 0, 0});
  // EluGrad(gradients, outputs): outputs < 0 scale by outputs + 1 (= exp(features)).
  CHECK(RunGrad("EluGrad", {2, 2}, {-0.5, 3}) == std::vector<double>{1, 2});
  // (y, dy): y is the forward output.
  CHECK(RunGrad("SigmoidGrad", {0.25, 0.5}, {2, 4}) == std::vector<double>{0.375, 1.0});
  CHECK(RunGrad("TanhGrad", {0.5, -0.5}, {2, 3}) == std::vector<double>{1.5, 2.25});

  SECTION("SigmoidGrad and TanhGrad against central differences") {
    const std::vector<double> x = RandomValues(16, 41, -3.0, 3.0);
    const std::vector<double> dy = RandomValues(16, 42);
    std::vector<double> sig(16), th(16), want_sig(16), want_th(16);
    const double h = 1e-6;
    auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
    for (int i = 0; i < 16; ++i) {
      sig[i] = sigmoid(x[i]);
      th[i] = std::tanh(x[i]);
      want_sig[i] = dy[i] * (sigmoid(x[i] + h) - sigmoid(x[i] - h)) / (2 * h);
      want_th[i] = dy[i] * (std::tanh(x[i] + h) - std::tanh(x[i] - h)) / (2 * h);
    }
    CHECK(MaxError(RunGrad("SigmoidGrad", sig, dy), want_sig) < 1e-8);
    CHECK(MaxError(RunGrad("TanhGrad", th, dy), want_th) < 1e-8);
    auto f =
        RunKernel("TanhGrad", {}, {MakeTensor<float>(th, {4, 4}), MakeTensor<float>(dy, {4, 4})});
    REQUIRE(f.ok());
    CHECK(MaxError(ToDoubles<float>((*f)[0]), want_th) < 1e-5);
  }

  SECTION("shape mismatch") {
    auto out = RunKernel(
        "ReluGrad", {},
        {Tensor::Zeros(DT_FLOAT, {2, 3}).value(), Tensor::Zeros(DT_FLOAT, {3, 2}).value()});
    REQUIRE_FALSE(out.ok());
    CHECK(Contains(out.status(), "node 'nn_node'"));
    auto s = InferShapes("TanhGrad", {}, {TensorShape{-1, 3}, TensorShape{2, -1}});
    REQUIRE(s.ok());
    CHECK((*s)[0] == (TensorShape{2, 3}));
    CHECK_FALSE(InferShapes("ReluGrad", {}, {TensorShape{2, 3}, TensorShape{2, 4}}).ok());
  }
}

// ---- BiasAddGrad ----------------------------------------------------------------------------

TEST_CASE("BiasAddGrad sums over every dim but the channel", "[training_ops]") {
  auto check = [](const TensorShape& shape, const std::string& format) {
    const std::vector<double> x = RandomValues(shape.num_elements(), 51);
    const int rank = shape.rank();
    const int cdim = format == "NCHW" ? 1 : rank - 1;
    std::vector<double> want(shape.dim(cdim), 0.0);
    // Unravel each flat index to find its channel.
    for (int64_t i = 0; i < shape.num_elements(); ++i) {
      int64_t rem = i, ch = 0;
      for (int d = rank - 1; d >= 0; --d) {
        if (d == cdim) ch = rem % shape.dim(d);
        rem /= shape.dim(d);
      }
      want[ch] += x[i];
    }
    AttrMap attrs = {{"data_format", MakeAttr(format)}};
    auto f = RunKernel("BiasAddGrad", attrs, {MakeTensor<float>(x, shape)});
    auto d = RunKernel("BiasAddGrad", attrs, {MakeTensor<double>(x, shape)});
    INFO(shape.DebugString() << " " << format);
    REQUIRE(f.ok());
    REQUIRE(d.ok());
    CHECK((*f)[0].shape() == TensorShape{shape.dim(cdim)});
    CHECK(MaxError(ToDoubles<float>((*f)[0]), want) < 1e-5);
    CHECK(MaxError(ToDoubles<double>((*d)[0]), want) < 1e-12);
  };
  check(TensorShape{2, 3, 4, 5}, "NHWC");
  check(TensorShape{2, 5, 3, 4}, "NCHW");
  check(TensorShape{6, 3}, "NHWC");
  check(TensorShape{3, 4, 2}, "NCHW");

  SECTION("partial sums over threads add up in a fixed order") {
    constexpr int kThreads = 3;
    const TensorShape shape{300, 70, 8};
    const std::vector<double> x = RandomValues(shape.num_elements(), 52);
    std::vector<double> want(8, 0.0);
    for (size_t i = 0; i < x.size(); ++i) want[i % 8] += x[i];
    const Tensor in = MakeTensor<float>(x, shape);
    auto a = quiver::testing::RunKernel("BiasAddGrad", {}, {in}, kThreads);
    auto b = quiver::testing::RunKernel("BiasAddGrad", {}, {in}, kThreads);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(MaxError(ToDoubles<float>((*a)[0]), want) < 1e-5);
    CHECK((*a)[0].ToVector<float>() == (*b)[0].ToVector<float>());
  }

  auto ints =
      RunKernel("BiasAddGrad", {}, {Tensor::FromVector<int32_t>({1, 2, 3, 4, 5, 6}, {3, 2})});
  REQUIRE(ints.ok());
  CHECK((*ints)[0].ToVector<int32_t>() == std::vector<int32_t>{9, 12});

  auto bad = RunKernel("BiasAddGrad", {}, {Tensor::FromVector<float>({1, 2}, {2})});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "node 'nn_node'"));

  auto s =
      InferShapes("BiasAddGrad", {{"data_format", MakeAttr("NCHW")}}, {TensorShape{-1, 7, 3, 3}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{7});
  s = InferShapes("BiasAddGrad", {}, {TensorShape{-1, -1, 9}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{9});
}

// ---- Conv2D backprops -----------------------------------------------------------------------

namespace {

// T is explicit: Conv2DBackpropInput's first input is the int32 size vector.
AttrMap ConvAttrs(const ConvSpec& s, DataType t = DT_FLOAT) {
  AttrMap a;
  a["T"] = MakeAttr(t);
  a["strides"] = MakeAttr(std::vector<int64_t>{1, s.sh, s.sw, 1});
  a["dilations"] = MakeAttr(std::vector<int64_t>{1, s.dh, s.dw, 1});
  a["padding"] = MakeAttr(s.padding);
  if (!s.explicit_pads.empty()) a["explicit_paddings"] = MakeAttr(s.explicit_pads);
  return a;
}

double Dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The conv is linear in each argument, so the gradient of sum(G * conv(x, f)) along basis
// vector e_i is exactly sum(G * conv(e_i, f)) (and likewise for f): brute force through the
// forward reference, sharing nothing with the kernels' transposed loops. LinearGrad does it for
// either argument: sum(G * linear(e_i)) for each basis vector e_i of the n-element argument.
std::vector<double> LinearGrad(
    size_t n, const std::function<std::vector<double>(const std::vector<double>&)>& linear,
    const std::vector<double>& g) {
  std::vector<double> e(n, 0.0), out(n);
  for (size_t i = 0; i < n; ++i) {
    e[i] = 1;
    out[i] = Dot(linear(e), g);
    e[i] = 0;
  }
  return out;
}

std::vector<double> RefGradInput(const ConvSpec& s, const std::vector<double>& f,
                                 const std::vector<double>& g) {
  int64_t oh, ow;
  return LinearGrad(
      s.n * s.h * s.w * s.c,
      [&](const std::vector<double>& e) { return RefConv(s, e, f, &oh, &ow); }, g);
}

std::vector<double> RefGradFilter(const ConvSpec& s, const std::vector<double>& x,
                                  const std::vector<double>& g) {
  int64_t oh, ow;
  return LinearGrad(
      s.kh * s.kw * s.fin * s.oc,
      [&](const std::vector<double>& e) { return RefConv(s, x, e, &oh, &ow); }, g);
}

// Largest differences of the two backprop kernels from the brute-force gradients.
struct ConvGradErrors {
  double input = 0, filter = 0;
};

template <typename T>
ConvGradErrors ConvGradMaxErrors(const ConvSpec& s) {
  const std::vector<double> x = RandomValues(s.n * s.h * s.w * s.c, 61);
  const std::vector<double> f = RandomValues(s.kh * s.kw * s.fin * s.oc, 62);
  int64_t oh, ow;
  RefConv(s, x, f, &oh, &ow);  // the forward output size
  const std::vector<double> g = RandomValues(s.n * oh * ow * s.oc, 63);
  const TensorShape in_shape{s.n, s.h, s.w, s.c}, f_shape{s.kh, s.kw, s.fin, s.oc};
  const Tensor gt = MakeTensor<T>(g, {s.n, oh, ow, s.oc});

  auto din =
      RunKernel("Conv2DBackpropInput", ConvAttrs(s, DataTypeOf<T>::value),
                {Tensor::FromVector<int32_t>({static_cast<int32_t>(s.n), static_cast<int32_t>(s.h),
                                              static_cast<int32_t>(s.w), static_cast<int32_t>(s.c)},
                                             {4}),
                 MakeTensor<T>(f, f_shape), gt});
  INFO(din.status().ToString());
  REQUIRE(din.ok());
  REQUIRE((*din)[0].shape() == in_shape);
  ConvGradErrors errors;
  errors.input = MaxError(ToDoubles<T>((*din)[0]), RefGradInput(s, f, g));

  auto df = RunKernel(
      "Conv2DBackpropFilter", ConvAttrs(s, DataTypeOf<T>::value),
      {MakeTensor<T>(x, in_shape),
       Tensor::FromVector<int32_t>({static_cast<int32_t>(s.kh), static_cast<int32_t>(s.kw),
                                    static_cast<int32_t>(s.fin), static_cast<int32_t>(s.oc)},
                                   {4}),
       gt});
  INFO(df.status().ToString());
  REQUIRE(df.ok());
  REQUIRE((*df)[0].shape() == f_shape);
  errors.filter = MaxError(ToDoubles<T>((*df)[0]), RefGradFilter(s, x, g));
  return errors;
}

ConvSpec Spec(int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t oc, int64_t sh,
              int64_t sw, const std::string& padding) {
  ConvSpec s{2, h, w, c, kh, kw, c, oc};
  s.sh = sh;
  s.sw = sw;
  s.padding = padding;
  return s;
}

}  // namespace

TEST_CASE("Conv2D backprops equal brute-force gradients of the reference conv", "[training_ops]") {
  std::vector<std::pair<std::string, ConvSpec>> cases;
  cases.push_back({"SAME stride 1", Spec(5, 6, 3, 3, 3, 4, 1, 1, "SAME")});
  // H: out 3, total pad 1 -> 0 before, 1 after; W: 2x1 window with stride 1 pads 0/1 too.
  cases.push_back({"SAME stride 2 asymmetric", Spec(6, 5, 2, 3, 2, 3, 2, 1, "SAME")});
  // Rows past the last window (7 = 3 windows of 2 + 1) get no gradient.
  cases.push_back({"VALID stride 2 leftover", Spec(7, 7, 2, 2, 3, 3, 2, 2, "VALID")});
  ConvSpec dil = Spec(7, 6, 2, 3, 2, 2, 1, 1, "SAME");
  dil.dh = 2;
  dil.dw = 3;
  cases.push_back({"SAME dilated", dil});
  ConvSpec ex = Spec(4, 5, 2, 3, 3, 2, 2, 1, "EXPLICIT");
  ex.explicit_pads = {0, 0, 2, 1, 0, 2, 0, 0};
  cases.push_back({"EXPLICIT", ex});
  ConvSpec grouped = Spec(5, 5, 4, 3, 3, 6, 1, 1, "SAME");
  grouped.fin = 2;  // 2 groups of 2 input channels, 3 outputs each
  cases.push_back({"grouped", grouped});
  for (const auto& [name, s] : cases) {
    INFO(name);
    const ConvGradErrors f32 = ConvGradMaxErrors<float>(s);
    CHECK(f32.input < 1e-5);
    CHECK(f32.filter < 1e-5);
    const ConvGradErrors f64 = ConvGradMaxErrors<double>(s);
    CHECK(f64.input < 1e-12);
    CHECK(f64.filter < 1e-12);
  }
}

TEST_CASE("Conv2D backprop shapes and errors", "[training_ops]") {
  const ConvSpec s = Spec(6, 5, 2, 3, 2, 3, 2, 1, "SAME");  // output [2, 3, 5, 3]
  const Tensor filter = Tensor::Zeros(DT_FLOAT, {3, 2, 2, 3}).value();
  const Tensor grad = Tensor::Zeros(DT_FLOAT, {2, 3, 5, 3}).value();

  SECTION("2-element input_sizes take batch and depth from the other inputs") {
    auto out = RunKernel("Conv2DBackpropInput", ConvAttrs(s),
                         {Tensor::FromVector<int32_t>({6, 5}, {2}), filter, grad});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    CHECK((*out)[0].shape() == (TensorShape{2, 6, 5, 2}));
  }

  SECTION("out_backprop of the wrong size") {
    auto out = RunKernel("Conv2DBackpropInput", ConvAttrs(s),
                         {Tensor::FromVector<int32_t>({2, 7, 5, 2}, {4}), filter, grad});
    REQUIRE_FALSE(out.ok());
    CHECK(Contains(out.status(), "node 'nn_node'"));
    CHECK(Contains(out.status(), "[2,4,5,3]"));  // what Conv2D of a 7x5 input gives
    auto f = RunKernel("Conv2DBackpropFilter", ConvAttrs(s),
                       {Tensor::Zeros(DT_FLOAT, {2, 6, 5, 2}).value(),
                        Tensor::FromVector<int32_t>({3, 2, 2, 4}, {4}), grad});
    REQUIRE_FALSE(f.ok());
    CHECK(Contains(f.status(), "node 'nn_node'"));
  }

  SECTION("bad size vectors") {
    auto out = RunKernel("Conv2DBackpropInput", ConvAttrs(s),
                         {Tensor::FromVector<int32_t>({2, 6, 5}, {3}), filter, grad});
    REQUIRE_FALSE(out.ok());
    CHECK(Contains(out.status(), "input_sizes"));
    auto neg = RunKernel("Conv2DBackpropFilter", ConvAttrs(s),
                         {Tensor::Zeros(DT_FLOAT, {2, 6, 5, 2}).value(),
                          Tensor::FromVector<int32_t>({3, -2, 2, 3}, {4}), grad});
    CHECK_FALSE(neg.ok());
  }

  SECTION("shape functions read the size inputs when they are constants") {
    Graph g;
    auto add_const = [&](const std::string& name, const Tensor& t) {
      NodeSpec c;
      c.name = name;
      c.op = "Const";
      c.attrs["dtype"] = MakeAttr(t.dtype());
      c.attrs["value"] = MakeAttr(t);
      return *g.AddNode(std::move(c));
    };
    Node* sizes = add_const("sizes", Tensor::FromVector<int32_t>({2, 6, 5, 2}, {4}));
    Node* f = add_const("filter", filter);
    Node* gr = add_const("grad", grad);
    NodeSpec spec;
    spec.name = "bp";
    spec.op = "Conv2DBackpropInput";
    spec.attrs = ConvAttrs(s);
    spec.attrs["T"] = MakeAttr(DT_FLOAT);
    spec.inputs = {{sizes, 0}, {f, 0}, {gr, 0}};
    auto node = g.AddNode(std::move(spec));
    REQUIRE(node.ok());
    REQUIRE(g.InferShapes().ok());
    CHECK((*node)->output_shape(0) == (TensorShape{2, 6, 5, 2}));

    auto unknown = InferShapes("Conv2DBackpropFilter", ConvAttrs(s),
                               {TensorShape{2, 6, 5, 2}, TensorShape{4}, TensorShape{2, 3, 5, 3}},
                               DT_FLOAT, {DT_FLOAT, DT_INT32, DT_FLOAT});
    REQUIRE(unknown.ok());
    CHECK((*unknown)[0] == (TensorShape{-1, -1, -1, 3}));
  }

  SECTION("NCHW is refused when the kernel is built") {
    AttrMap attrs = ConvAttrs(s);
    attrs["data_format"] = MakeAttr("NCHW");
    attrs["strides"] = MakeAttr(std::vector<int64_t>{1, 1, 2, 1});
    auto out = RunKernel("Conv2DBackpropInput", attrs,
                         {Tensor::FromVector<int32_t>({2, 2, 6, 5}, {4}), filter, grad});
    REQUIRE_FALSE(out.ok());
    CHECK(Contains(out.status(), "NHWC"));
  }
}

// ---- pooling gradients ----------------------------------------------------------------------

namespace {

// T is explicit: AvgPoolGrad's first input is the int32 shape vector.
AttrMap PoolAttrs(int64_t kh, int64_t kw, int64_t sh, int64_t sw, const std::string& padding,
                  DataType t = DT_FLOAT) {
  return {{"T", MakeAttr(t)},
          {"ksize", MakeAttr(std::vector<int64_t>{1, kh, kw, 1})},
          {"strides", MakeAttr(std::vector<int64_t>{1, sh, sw, 1})},
          {"padding", MakeAttr(padding)}};
}

// Max or average pool gradient by the definition: each window's gradient goes to the first
// (row-major) maximum, or evenly to its in-bounds elements.
std::vector<double> RefPoolGrad(bool is_max, int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh,
                                int64_t kw, int64_t sh, int64_t sw, const std::string& padding,
                                const std::vector<double>& in, const std::vector<double>& grad) {
  const Window1D wy = RefWindow(h, kh, sh, 1, padding), wx = RefWindow(w, kw, sw, 1, padding);
  std::vector<double> out(n * h * w * c, 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < wy.out; ++y)
      for (int64_t x = 0; x < wx.out; ++x)
        for (int64_t ch = 0; ch < c; ++ch) {
          std::vector<int64_t> cells;  // flat input indices of the window, row-major
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t iy = y * sh - wy.before + i, ix = x * sw - wx.before + j;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                cells.push_back(((b * h + iy) * w + ix) * c + ch);
              }
            }
          const double g = grad[((b * wy.out + y) * wx.out + x) * c + ch];
          if (is_max) {
            int64_t best = cells[0];
            for (int64_t cell : cells) {
              if (in[cell] > in[best]) best = cell;
            }
            out[best] += g;
          } else {
            for (int64_t cell : cells) out[cell] += g / cells.size();
          }
        }
  return out;
}

template <typename T>
void CheckPoolGrads(int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                    const std::string& padding, double tol) {
  const int64_t n = 2;
  // Values on a coarse grid so windows often tie.
  std::vector<double> in = RandomValues(n * h * w * c, 71);
  for (double& v : in) v = std::round(v * 2);
  int64_t oh, ow;
  const std::vector<double> pooled =
      RefPool(true, n, h, w, c, kh, kw, sh, sw, padding, in, &oh, &ow);
  const std::vector<double> grad = RandomValues(n * oh * ow * c, 72);
  const AttrMap attrs = PoolAttrs(kh, kw, sh, sw, padding, DataTypeOf<T>::value);
  auto mx = RunKernel("MaxPoolGrad", attrs,
                      {MakeTensor<T>(in, {n, h, w, c}), MakeTensor<T>(pooled, {n, oh, ow, c}),
                       MakeTensor<T>(grad, {n, oh, ow, c})});
  INFO(mx.status().ToString());
  REQUIRE(mx.ok());
  CHECK(MaxError(ToDoubles<T>((*mx)[0]),
                 RefPoolGrad(true, n, h, w, c, kh, kw, sh, sw, padding, in, grad)) < tol);
  auto avg =
      RunKernel("AvgPoolGrad", attrs,
                {Tensor::FromVector<int32_t>({static_cast<int32_t>(n), static_cast<int32_t>(h),
                                              static_cast<int32_t>(w), static_cast<int32_t>(c)},
                                             {4}),
                 MakeTensor<T>(grad, {n, oh, ow, c})});
  INFO(avg.status().ToString());
  REQUIRE(avg.ok());
  CHECK(MaxError(ToDoubles<T>((*avg)[0]),
                 RefPoolGrad(false, n, h, w, c, kh, kw, sh, sw, padding, in, grad)) < tol);
}

}  // namespace

TEST_CASE("MaxPoolGrad routes to the first maximum; AvgPoolGrad divides by valid counts",
          "[training_ops]") {
  // Worked by hand (and identical to TensorFlow's CPU kernel): 2x2 windows, stride 1, SAME on
  // a 3x4 image pads one row below and one column right. Ties go to the first position.
  const Tensor x = Tensor::FromVector<float>({1, 3, 3, 0,  //
                                              3, 2, 1, 3,  //
                                              0, 0, 0, 0},
                                             {1, 3, 4, 1});
  const Tensor pooled =
      Tensor::FromVector<float>({3, 3, 3, 3, 3, 2, 3, 3, 0, 0, 0, 0}, {1, 3, 4, 1});
  std::vector<float> g(12);
  for (int i = 0; i < 12; ++i) g[i] = static_cast<float>(i + 1);
  const Tensor grad = Tensor::FromVector<float>(g, {1, 3, 4, 1});
  const AttrMap attrs = PoolAttrs(2, 2, 1, 1, "SAME");
  auto mx = RunKernel("MaxPoolGrad", attrs, {x, pooled, grad});
  REQUIRE(mx.ok());
  CHECK((*mx)[0].ToVector<float>() == std::vector<float>{0, 3, 3, 0, 5, 6, 0, 19, 9, 10, 11, 12});
  auto avg =
      RunKernel("AvgPoolGrad", attrs, {Tensor::FromVector<int32_t>({1, 3, 4, 1}, {4}), grad});
  REQUIRE(avg.ok());
  const std::vector<double> want_avg = {0.25, 0.75, 1.25, 2.75,  1.5,   3.5,
                                        4.5,  8.5,  5.75, 12.25, 13.75, 23.25};
  CHECK(MaxError(ToDoubles<float>((*avg)[0]), want_avg) < 1e-6);

  CheckPoolGrads<float>(6, 7, 3, 3, 3, 2, 2, "SAME", 1e-5);
  CheckPoolGrads<double>(6, 7, 3, 3, 3, 2, 2, "SAME", 1e-12);
  CheckPoolGrads<float>(7, 6, 2, 2, 2, 2, 2, "VALID", 1e-5);
  CheckPoolGrads<double>(5, 5, 2, 3, 2, 1, 2, "VALID", 1e-12);

  SECTION("errors name the node") {
    auto bad =
        RunKernel("MaxPoolGrad", attrs, {x, pooled, Tensor::Zeros(DT_FLOAT, {1, 2, 2, 1}).value()});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), "node 'nn_node'"));
    CHECK(Contains(bad.status(), "[1,3,4,1]"));
    auto sizes = RunKernel("AvgPoolGrad", attrs, {Tensor::FromVector<int32_t>({3, 4}, {2}), grad});
    REQUIRE_FALSE(sizes.ok());
    CHECK(Contains(sizes.status(), "orig_input_shape"));
  }

  SECTION("shape functions") {
    auto s = InferShapes(
        "MaxPoolGrad", attrs,
        {TensorShape{-1, 3, 4, 1}, TensorShape::UnknownRank(), TensorShape{-1, 3, 4, 1}});
    REQUIRE(s.ok());
    CHECK((*s)[0] == (TensorShape{-1, 3, 4, 1}));
    auto a = InferShapes("AvgPoolGrad", attrs, {TensorShape{4}, TensorShape{1, 3, 4, 1}}, DT_FLOAT,
                         {DT_INT32, DT_FLOAT});
    REQUIRE(a.ok());
    CHECK((*a)[0] == (TensorShape{-1, -1, -1, -1}));
  }
}

// ---- optimizers -----------------------------------------------------------------------------

namespace {

// Variables in a test-owned store (the session's, in miniature) and a graph to hold the nodes.
struct VarFixture {
  Graph graph;
  std::map<std::string, std::unique_ptr<Variable>> vars;
  StepResources resources;
  int next_const = 0;

  VarFixture() {
    resources.variable = [this](const std::string& name, bool create) -> Variable* {
      auto it = vars.find(name);
      if (it != vars.end()) return it->second.get();
      if (!create) return nullptr;
      return (vars[name] = std::make_unique<Variable>()).get();
    };
  }

  // A VariableV2 node and its variable, initialised to `init` unless it is empty.
  std::pair<Node*, Variable*> Var(const std::string& name, DataType dtype, const TensorShape& shape,
                                  const Tensor& init) {
    NodeSpec spec;
    spec.name = name;
    spec.op = "VariableV2";
    spec.attrs["dtype"] = MakeAttr(dtype);
    spec.attrs["shape"] = MakeAttr(shape);
    auto n = graph.AddNode(std::move(spec));
    REQUIRE(n.ok());
    Variable* v = resources.variable(name, true);
    if (init.valid()) v->value = init.Clone().value();
    return {*n, v};
  }

  Node* Const(const Tensor& t) {
    NodeSpec spec;
    spec.name = absl::StrCat("c", next_const++);
    spec.op = "Const";
    spec.attrs["dtype"] = MakeAttr(t.dtype());
    spec.attrs["value"] = MakeAttr(t);
    auto n = graph.AddNode(std::move(spec));
    REQUIRE(n.ok());
    return *n;
  }

  // Builds `op` over variable nodes then constant operands and returns the node.
  Node* Op(const std::string& op, const std::vector<Node*>& var_nodes,
           const std::vector<Tensor>& operands, AttrMap attrs) {
    NodeSpec spec;
    spec.name = "update";
    spec.op = op;
    spec.attrs = std::move(attrs);
    spec.attrs["T"] = MakeAttr(operands[0].dtype());
    for (Node* v : var_nodes) spec.inputs.push_back({v, 0});
    for (const Tensor& t : operands) spec.inputs.push_back({Const(t), 0});
    auto n = graph.AddNode(std::move(spec));
    INFO(n.status().ToString());
    REQUIRE(n.ok());
    return *n;
  }

  // Runs the node's kernel with the variables as ref inputs and `operands` as values.
  absl::StatusOr<TensorValue> Run(const OpKernel& kernel, const Node& node,
                                  const std::vector<Variable*>& refs,
                                  const std::vector<Tensor>& operands) {
    std::vector<TensorValue> in;
    for (Variable* v : refs) in.push_back({Tensor(), v});  // a ref edge carries no tensor
    for (const Tensor& t : operands) in.push_back({t, nullptr});
    std::vector<TensorValue> out(node.num_outputs());
    OpKernelContext ctx(node, &in, &out, &resources);
    RETURN_IF_ERROR(kernel.Compute(ctx));
    return out[0];
  }
};

template <typename T>
Tensor Vec(const std::vector<double>& v) {
  return MakeTensor<T>(v, {static_cast<int64_t>(v.size())});
}
template <typename T>
Tensor Scl(double v) {
  return Tensor::Scalar<T>(static_cast<T>(v));
}

template <typename T>
std::vector<double> Values(Variable* v) {
  ReaderMutexLock lock(&v->mu);
  return ToDoubles<T>(v->value);
}

}  // namespace

// Tolerances: float32 rounding vs the float64 formula; float64 a few ulps.
template <typename T>
constexpr double kOptimizerTol = std::is_same_v<T, float> ? 1e-6 : 1e-13;

TEMPLATE_TEST_CASE("ApplyGradientDescent updates in place with TF's formula", "[training_ops]",
                   float, double) {
  using T = TestType;
  const double tol = kOptimizerTol<T>;
  VarFixture f;
  auto [wn, w] = f.Var("W", DataTypeOf<T>::value, {3}, Vec<T>({1, 2, 3}));
  const std::vector<Tensor> operands = {Scl<T>(0.1), Vec<T>({1, -2, 0.5})};
  Node* node = f.Op("ApplyGradientDescent", {wn}, operands, {});
  auto kernel = KernelRegistry::Global().CreateKernel(*node, kCpu);
  REQUIRE(kernel.ok());
  const void* buffer = w->value.raw_data();
  for (int step = 0; step < 2; ++step) {
    auto out = f.Run(**kernel, *node, {w}, operands);
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    CHECK(out->ref == w);
  }
  // var -= alpha * delta, twice.
  CHECK(MaxError(Values<T>(w), {0.8, 2.4, 2.9}) < tol);
  CHECK(w->value.raw_data() == buffer);  // updated in place: nobody else held it

  // A reader holding the value keeps what it read (copy-on-write).
  Tensor held = w->value;
  REQUIRE(f.Run(**kernel, *node, {w}, operands).ok());
  CHECK(MaxError(ToDoubles<T>(held), {0.8, 2.4, 2.9}) < tol);
  CHECK(MaxError(Values<T>(w), {0.7, 2.6, 2.85}) < tol);
  CHECK_FALSE(w->value.SharesBufferWith(held));
}

TEMPLATE_TEST_CASE("ApplyMomentum follows TF's formula, with and without Nesterov",
                   "[training_ops]", float, double) {
  using T = TestType;
  const double tol = kOptimizerTol<T>;
  for (bool nesterov : {false, true}) {
    INFO("nesterov " << nesterov);
    VarFixture f;
    auto [wn, w] = f.Var("W", DataTypeOf<T>::value, {2}, Vec<T>({1.0, -1.0}));
    auto [an, a] = f.Var("accum", DataTypeOf<T>::value, {2}, Vec<T>({0.0, 0.0}));
    const double lr = 0.1, mom = 0.9;
    const std::vector<std::vector<double>> grads = {{0.5, -1.0}, {0.25, 2.0}, {-1.0, 0.0}};
    Node* node = f.Op("ApplyMomentum", {wn, an}, {Scl<T>(lr), Vec<T>(grads[0]), Scl<T>(mom)},
                      {{"use_nesterov", MakeAttr(nesterov)}});
    auto kernel = KernelRegistry::Global().CreateKernel(*node, kCpu);
    REQUIRE(kernel.ok());
    // TF's documented update: accum = accum * momentum + grad; var -= lr * accum, or with
    // Nesterov var -= lr * grad + lr * momentum * accum.
    std::vector<double> var = {1.0, -1.0}, accum = {0.0, 0.0};
    for (const auto& g : grads) {
      REQUIRE(f.Run(**kernel, *node, {w, a}, {Scl<T>(lr), Vec<T>(g), Scl<T>(mom)}).ok());
      for (int i = 0; i < 2; ++i) {
        accum[i] = accum[i] * mom + g[i];
        var[i] -= nesterov ? lr * g[i] + lr * mom * accum[i] : lr * accum[i];
      }
    }
    CHECK(MaxError(Values<T>(w), var) < tol);
    CHECK(MaxError(Values<T>(a), accum) < tol);
    if (!nesterov) {
      // By hand, coordinate 0: accum 0.5, 0.7, -0.37; var 0.95, 0.88, 0.917.
      CHECK(Values<T>(w)[0] == Approx(0.917).epsilon(1e-5));
    }
  }
}

TEMPLATE_TEST_CASE("ApplyAdam follows TF's formula, with and without Nesterov", "[training_ops]",
                   float, double) {
  using T = TestType;
  const double tol = kOptimizerTol<T>;
  for (bool nesterov : {false, true}) {
    INFO("nesterov " << nesterov);
    VarFixture f;
    const DataType dt = DataTypeOf<T>::value;
    auto [wn, w] = f.Var("W", dt, {3}, Vec<T>({1.0, 2.0, -3.0}));
    auto [mn, m] = f.Var("m", dt, {3}, Vec<T>({0, 0, 0}));
    auto [vn, v] = f.Var("v", dt, {3}, Vec<T>({0, 0, 0}));
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const std::vector<std::vector<double>> grads = {
        {0.5, -0.2, 3.0}, {0.1, 0.4, -1.0}, {-0.3, 0.0, 2.0}};
    auto operands = [&](int t, const std::vector<double>& g) {
      return std::vector<Tensor>{Scl<T>(std::pow(b1, t)),
                                 Scl<T>(std::pow(b2, t)),
                                 Scl<T>(lr),
                                 Scl<T>(b1),
                                 Scl<T>(b2),
                                 Scl<T>(eps),
                                 Vec<T>(g)};
    };
    Node* node = f.Op("ApplyAdam", {wn, mn, vn}, operands(1, grads[0]),
                      {{"use_nesterov", MakeAttr(nesterov)}});
    auto kernel = KernelRegistry::Global().CreateKernel(*node, kCpu);
    REQUIRE(kernel.ok());
    // Kingma & Ba with TF's epsilon placement: m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2,
    // lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), var -= lr_t m_t / (sqrt(v_t) + eps); Nesterov uses
    // b1 m_t + (1 - b1) g in place of m_t.
    std::vector<double> var = {1.0, 2.0, -3.0}, mv(3, 0.0), vv(3, 0.0);
    for (int t = 1; t <= 3; ++t) {
      const auto& g = grads[t - 1];
      auto out = f.Run(**kernel, *node, {w, m, v}, operands(t, g));
      INFO(out.status().ToString());
      REQUIRE(out.ok());
      const double lr_t = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      for (int i = 0; i < 3; ++i) {
        mv[i] = b1 * mv[i] + (1 - b1) * g[i];
        vv[i] = b2 * vv[i] + (1 - b2) * g[i] * g[i];
        const double num = nesterov ? b1 * mv[i] + (1 - b1) * g[i] : mv[i];
        var[i] -= lr_t * num / (std::sqrt(vv[i]) + eps);
      }
      if (t == 1 && !nesterov) {
        // Adam's first step moves each coordinate by about lr against its gradient's sign.
        const std::vector<double> w1 = Values<T>(w);
        CHECK(w1[0] == Approx(0.99).epsilon(1e-5));
        CHECK(w1[1] == Approx(2.01).epsilon(1e-5));
      }
    }
    CHECK(MaxError(Values<T>(w), var) < tol);
    CHECK(MaxError(Values<T>(m), mv) < tol);
    CHECK(MaxError(Values<T>(v), vv) < tol);
  }
}

TEST_CASE("Optimizer errors: uninitialised variables, shapes, scalars", "[training_ops]") {
  VarFixture f;
  auto [wn, w] = f.Var("W", DT_FLOAT, {2}, Tensor());
  auto [an, a] = f.Var("accum", DT_FLOAT, {2}, Vec<float>({0, 0}));
  const std::vector<Tensor> operands = {Scl<float>(0.1), Vec<float>({1, 1}), Scl<float>(0.9)};
  Node* node = f.Op("ApplyMomentum", {wn, an}, operands, {});
  auto kernel = KernelRegistry::Global().CreateKernel(*node, kCpu);
  REQUIRE(kernel.ok());

  auto uninit = f.Run(**kernel, *node, {w, a}, operands);
  REQUIRE_FALSE(uninit.ok());
  CHECK(uninit.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Contains(uninit.status(), "node 'update' (ApplyMomentum)"));
  CHECK(Contains(uninit.status(), "Attempting to use uninitialized value W"));

  w->value = Vec<float>({1, 2, 3});  // now initialised, but not accum's shape
  auto mismatch = f.Run(**kernel, *node, {w, a}, operands);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(Contains(mismatch.status(), "node 'update'"));
  CHECK(Contains(mismatch.status(), "var and accum do not have the same shape"));

  w->value = Vec<float>({1, 2});
  auto grad =
      f.Run(**kernel, *node, {w, a}, {Scl<float>(0.1), Vec<float>({1, 1, 1}), Scl<float>(0.9)});
  REQUIRE_FALSE(grad.ok());
  CHECK(Contains(grad.status(), "var and grad do not have the same shape"));
  auto lr =
      f.Run(**kernel, *node, {w, a}, {Vec<float>({0.1, 0.1}), Vec<float>({1, 1}), Scl<float>(0.9)});
  REQUIRE_FALSE(lr.ok());
  CHECK(Contains(lr.status(), "lr is not a scalar"));
  CHECK(Values<float>(w) == std::vector<double>{1, 2});  // failed updates change nothing

  // A plain (non-ref) tensor where the variable belongs.
  std::vector<TensorValue> in = {{Vec<float>({1, 2}), nullptr}, {Tensor(), a}};
  for (const Tensor& t : operands) in.push_back({t, nullptr});
  std::vector<TensorValue> out(1);
  OpKernelContext ctx(*node, &in, &out, &f.resources);
  absl::Status s = (*kernel)->Compute(ctx);
  REQUIRE_FALSE(s.ok());
  CHECK(Contains(s, "must be a reference to a variable"));

  // The shape function catches static mismatches at graph construction.
  VarFixture g;
  auto [gw, gwv] = g.Var("W", DT_FLOAT, {2, 2}, Tensor());
  g.Op("ApplyGradientDescent", {gw}, {Scl<float>(0.1), Vec<float>({1, 2, 3})}, {});
  absl::Status shapes = g.graph.InferShapes();
  REQUIRE_FALSE(shapes.ok());
  CHECK(Contains(shapes, "node 'update' (ApplyGradientDescent)"));
  (void)gwv;
}

TEST_CASE("ApplyGradientDescent trains through a Session", "[training_ops]") {
  Graph g;
  auto add = [&](NodeSpec spec) {
    auto n = g.AddNode(std::move(spec));
    INFO(n.status().ToString());
    REQUIRE(n.ok());
    return *n;
  };
  NodeSpec var;
  var.name = "W";
  var.op = "VariableV2";
  var.attrs = {{"dtype", MakeAttr(DT_FLOAT)}, {"shape", MakeAttr(TensorShape{2})}};
  Node* w = add(var);
  auto constant = [&](const std::string& name, const Tensor& t) {
    NodeSpec c;
    c.name = name;
    c.op = "Const";
    c.attrs = {{"dtype", MakeAttr(t.dtype())}, {"value", MakeAttr(t)}};
    return add(c);
  };
  Node* init_value = constant("init_value", Tensor::FromVector<float>({1, 2}, {2}));
  Node* lr = constant("lr", Tensor::Scalar<float>(0.5f));
  Node* grad = constant("grad", Tensor::FromVector<float>({0.25, -1}, {2}));
  NodeSpec init;
  init.name = "init";
  init.op = "Assign";
  init.attrs = {{"T", MakeAttr(DT_FLOAT)}};
  init.inputs = {{w, 0}, {init_value, 0}};
  add(init);
  NodeSpec step;
  step.name = "train";
  step.op = "ApplyGradientDescent";
  step.attrs = {{"T", MakeAttr(DT_FLOAT)}};
  step.inputs = {{w, 0}, {lr, 0}, {grad, 0}};
  add(step);

  auto session = Session::Create(g);
  REQUIRE(session.ok());
  auto early = (*session)->Run({}, {}, {"train"});
  REQUIRE_FALSE(early.ok());
  CHECK(Contains(early.status(), "Attempting to use uninitialized value W"));

  REQUIRE((*session)->Run({}, {}, {"init"}).ok());
  for (int i = 0; i < 3; ++i) REQUIRE((*session)->Run({}, {}, {"train"}).ok());
  auto value = (*session)->Run({}, {"W:0"});
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  // Three steps of 0.5 * grad.
  CHECK((*value)[0].ToVector<float>() == std::vector<float>{0.625f, 3.5f});
  auto fetched = (*session)->Run({}, {"train:0"});
  REQUIRE(fetched.ok());
  CHECK((*fetched)[0].ToVector<float>() == std::vector<float>{0.5f, 4.0f});
}
