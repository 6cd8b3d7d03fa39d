// Conv2D, DepthwiseConv2dNative, MaxPool, AvgPool and FusedBatchNorm: CPU kernels against
// direct reference loops (TF's padding formulas written out in nn_test_util.h) and
// hand-derived values, plus shape functions and error messages.
#include <catch2/catch.hpp>

#include "tests/devices/nn_test_util.h"

using namespace quiver;
using namespace quiver::nn_test;

namespace {

AttrMap ConvAttrs(const ConvSpec& s) {
  AttrMap a;
  a["strides"] = MakeAttr(std::vector<int64_t>{1, s.sh, s.sw, 1});
  a["dilations"] = MakeAttr(std::vector<int64_t>{1, s.dh, s.dw, 1});
  a["padding"] = MakeAttr(s.padding);
  if (!s.explicit_pads.empty()) a["explicit_paddings"] = MakeAttr(s.explicit_pads);
  return a;
}

template <typename T>
// Largest difference of the Conv2D kernel from the reference convolution (after checking the
// output shape against the shape function).
double ConvMaxError(const ConvSpec& s) {
  const std::vector<double> in = RandomValues(s.n * s.h * s.w * s.c, 11);
  const std::vector<double> f = RandomValues(s.kh * s.kw * s.fin * s.oc, 12);
  int64_t oh, ow;
  const std::vector<double> want = RefConv(s, in, f, &oh, &ow);
  auto out = RunKernel(
      "Conv2D", ConvAttrs(s),
      {MakeTensor<T>(in, {s.n, s.h, s.w, s.c}), MakeTensor<T>(f, {s.kh, s.kw, s.fin, s.oc})});
  REQUIRE(out.ok());
  REQUIRE((*out)[0].shape() == TensorShape{s.n, oh, ow, s.oc});
  // The shape function agrees with the kernel.
  auto shapes = InferShapes("Conv2D", ConvAttrs(s),
                            {TensorShape{s.n, s.h, s.w, s.c}, TensorShape{s.kh, s.kw, s.fin, s.oc}},
                            DataTypeOf<T>::value);
  REQUIRE(shapes.ok());
  CHECK((*shapes)[0] == (*out)[0].shape());
  return MaxError(ToDoubles<T>((*out)[0]), want);
}

template <typename T>
void CheckDepthwise(const ConvSpec& s, int64_t mult, double tol) {
  const std::vector<double> in = RandomValues(s.n * s.h * s.w * s.c, 13);
  const std::vector<double> f = RandomValues(s.kh * s.kw * s.c * mult, 14);
  int64_t oh, ow;
  const std::vector<double> want = RefDepthwise(s, mult, in, f, &oh, &ow);
  auto out = RunKernel(
      "DepthwiseConv2dNative", ConvAttrs(s),
      {MakeTensor<T>(in, {s.n, s.h, s.w, s.c}), MakeTensor<T>(f, {s.kh, s.kw, s.c, mult})});
  REQUIRE(out.ok());
  REQUIRE((*out)[0].shape() == TensorShape{s.n, oh, ow, s.c * mult});
  CHECK(MaxError(ToDoubles<T>((*out)[0]), want) < tol);
}

template <typename T>
void CheckPool(bool is_max, int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw,
               int64_t sh, int64_t sw, const std::string& padding, double tol) {
  const std::vector<double> in = RandomValues(n * h * w * c, 15);
  int64_t oh, ow;
  const std::vector<double> want =
      RefPool(is_max, n, h, w, c, kh, kw, sh, sw, padding, in, &oh, &ow);
  AttrMap attrs = {{"ksize", MakeAttr(std::vector<int64_t>{1, kh, kw, 1})},
                   {"strides", MakeAttr(std::vector<int64_t>{1, sh, sw, 1})},
                   {"padding", MakeAttr(padding)}};
  const char* op = is_max ? "MaxPool" : "AvgPool";
  auto out = RunKernel(op, attrs, {MakeTensor<T>(in, {n, h, w, c})});
  REQUIRE(out.ok());
  REQUIRE((*out)[0].shape() == TensorShape{n, oh, ow, c});
  CHECK(MaxError(ToDoubles<T>((*out)[0]), want) < tol);
  auto shapes = InferShapes(op, attrs, {TensorShape{n, h, w, c}}, DataTypeOf<T>::value);
  REQUIRE(shapes.ok());
  CHECK((*shapes)[0] == (*out)[0].shape());
}

}  // namespace

TEST_CASE("Conv2D hand-derived SAME padding is added after (bottom/right) when odd", "[nn]") {
  // 3x3 input 1..9, 2x2 filter of ones, SAME stride 1: TF pads 0 rows above, 1 below (and
  // 0 left, 1 right), so each output sums the window clipped at the bottom/right edge.
  Tensor in = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1});
  Tensor f = Tensor::FromVector<float>({1, 1, 1, 1}, {2, 2, 1, 1});
  AttrMap attrs = {{"strides", MakeAttr(std::vector<int64_t>{1, 1, 1, 1})},
                   {"padding", MakeAttr("SAME")}};
  for (DataType dt : {DT_FLOAT, DT_DOUBLE}) {
    auto out =
        RunKernel("Conv2D", attrs,
                  {dt == DT_FLOAT ? in : MakeTensor<double>(ToDoubles<float>(in), in.shape()),
                   dt == DT_FLOAT ? f : MakeTensor<double>(ToDoubles<float>(f), f.shape())});
    REQUIRE(out.ok());
    const std::vector<double> got =
        dt == DT_FLOAT ? ToDoubles<float>((*out)[0]) : ToDoubles<double>((*out)[0]);
    CHECK(got == std::vector<double>{12, 16, 9, 24, 28, 15, 15, 17, 9});
  }
}

TEST_CASE("Conv2D SAME and VALID, strides 2, dilation 2, channels > 1", "[nn]") {
  struct Case {
    const char* name;
    ConvSpec spec;
  };
  const std::vector<Case> cases = {
      // SAME, in 8, k 3, s 2: out 4, pad total 1 -> 0 before, 1 after (asymmetric).
      {"same stride 2 asymmetric", {2, 8, 8, 3, 3, 3, 3, 4, 2, 2}},
      // SAME, in 7, k 3, s 2: out 4, pad total 2 -> 1 and 1.
      {"same stride 2 symmetric", {1, 7, 9, 3, 3, 3, 3, 5, 2, 2}},
      {"valid stride 2", {2, 9, 8, 3, 3, 2, 3, 4, 2, 2, 1, 1, "VALID"}},
      {"same dilation 2", {1, 9, 8, 2, 3, 3, 2, 3, 1, 1, 2, 2}},
      {"valid dilation 2", {1, 9, 10, 2, 3, 3, 2, 3, 1, 1, 2, 2, "VALID"}},
      {"same even kernel", {1, 6, 5, 4, 2, 4, 4, 3, 1, 1}},
      {"1x1", {3, 4, 4, 16, 1, 1, 16, 8, 1, 1}},
      {"wide channels", {1, 10, 10, 32, 3, 3, 32, 48, 1, 1}},
      {"grouped", {1, 6, 6, 4, 3, 3, 2, 6, 1, 1}},
      {"explicit", {1, 6, 7, 3, 3, 2, 3, 4, 2, 1, 1, 1, "EXPLICIT", {0, 0, 2, 1, 0, 3, 0, 0}}},
      // Padding wider than the window: some outputs see only padding (zeros).
      {"explicit wide", {1, 5, 5, 2, 2, 2, 2, 3, 1, 2, 1, 1, "EXPLICIT", {0, 0, 4, 3, 3, 5, 0, 0}}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(ConvMaxError<float>(c.spec) < 1e-5);
    CHECK(ConvMaxError<double>(c.spec) < 1e-12);
  }
}

TEST_CASE("Conv2D channel mismatch, bad padding and NCHW give clear errors", "[nn]") {
  AttrMap attrs = {{"strides", MakeAttr(std::vector<int64_t>{1, 1, 1, 1})},
                   {"padding", MakeAttr("SAME")}};
  Tensor in = Tensor::Zeros(DT_FLOAT, {1, 5, 5, 3}).value();
  Tensor f = Tensor::Zeros(DT_FLOAT, {3, 3, 2, 4}).value();
  auto out = RunKernel("Conv2D", attrs, {in, f});
  REQUIRE_FALSE(out.ok());
  CHECK(Contains(out.status(), "nn_node"));
  CHECK(Contains(out.status(), "input depth 3"));
  // An input of depth 0 (an empty tensor) against a real filter: an error, not a division by 0.
  auto empty = RunKernel("Conv2D", attrs, {Tensor::Zeros(DT_FLOAT, {1, 5, 5, 0}).value(), f});
  REQUIRE_FALSE(empty.ok());
  CHECK(Contains(empty.status(), "input depth 0"));
  auto shapes = InferShapes("Conv2D", attrs, {TensorShape{1, 5, 5, 3}, TensorShape{3, 3, 2, 4}});
  REQUIRE_FALSE(shapes.ok());
  CHECK(Contains(shapes.status(), "nn_node"));
  CHECK(Contains(shapes.status(), "not a multiple"));

  AttrMap bad_pad = attrs;
  bad_pad["padding"] = MakeAttr("FULL");
  auto pad = RunKernel("Conv2D", bad_pad, {in, Tensor::Zeros(DT_FLOAT, {3, 3, 3, 4}).value()});
  REQUIRE_FALSE(pad.ok());
  CHECK(Contains(pad.status(), "nn_node"));
  CHECK(Contains(pad.status(), "FULL"));

  AttrMap nchw = attrs;
  nchw["data_format"] = MakeAttr("NCHW");
  auto format = RunKernel("Conv2D", nchw, {in, Tensor::Zeros(DT_FLOAT, {3, 3, 3, 4}).value()});
  REQUIRE_FALSE(format.ok());
  CHECK(Contains(format.status(), "NHWC"));

  AttrMap batch_stride = attrs;
  batch_stride["strides"] = MakeAttr(std::vector<int64_t>{2, 1, 1, 1});
  auto stride =
      InferShapes("Conv2D", batch_stride, {TensorShape{1, 5, 5, 3}, TensorShape{3, 3, 3, 4}});
  REQUIRE_FALSE(stride.ok());
  CHECK(Contains(stride.status(), "batch and depth"));

  // VALID with a window larger than the input.
  AttrMap valid = attrs;
  valid["padding"] = MakeAttr("VALID");
  auto small = RunKernel("Conv2D", valid,
                         {Tensor::Zeros(DT_FLOAT, {1, 2, 2, 3}).value(),
                          Tensor::Zeros(DT_FLOAT, {3, 3, 3, 4}).value()});
  REQUIRE_FALSE(small.ok());
  CHECK(Contains(small.status(), "negative"));
  CHECK_FALSE(
      InferShapes("Conv2D", valid, {TensorShape{1, 2, 2, 3}, TensorShape{3, 3, 3, 4}}).ok());
}

TEST_CASE("Conv2D and pool shape functions with unknown dims", "[nn]") {
  AttrMap attrs = {{"strides", MakeAttr(std::vector<int64_t>{1, 2, 2, 1})},
                   {"padding", MakeAttr("SAME")}};
  auto s = InferShapes("Conv2D", attrs, {TensorShape{-1, 9, -1, 3}, TensorShape{3, 3, 3, 8}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{-1, 5, -1, 8});
  s = InferShapes("Conv2D", attrs, {TensorShape::UnknownRank(), TensorShape{3, 3, -1, 8}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{-1, -1, -1, 8});
  AttrMap nchw = attrs;
  nchw["data_format"] = MakeAttr("NCHW");
  nchw["padding"] = MakeAttr("VALID");
  nchw["strides"] = MakeAttr(std::vector<int64_t>{1, 1, 2, 2});
  s = InferShapes("Conv2D", nchw, {TensorShape{4, 3, 9, 10}, TensorShape{3, 3, 3, 8}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{4, 8, 4, 4});
  s = InferShapes("DepthwiseConv2dNative", attrs,
                  {TensorShape{2, 8, 8, 3}, TensorShape{3, 3, 3, 2}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{2, 4, 4, 6});
  auto dw = InferShapes("DepthwiseConv2dNative", attrs,
                        {TensorShape{2, 8, 8, 3}, TensorShape{3, 3, 4, 2}});
  REQUIRE_FALSE(dw.ok());
  CHECK(Contains(dw.status(), "3 vs 4"));
  AttrMap pool = {{"ksize", MakeAttr(std::vector<int64_t>{1, 3, 3, 1})},
                  {"strides", MakeAttr(std::vector<int64_t>{1, 2, 2, 1})},
                  {"padding", MakeAttr("VALID")}};
  s = InferShapes("MaxPool", pool, {TensorShape{-1, 9, 10, -1}});
  REQUIRE(s.ok());
  CHECK((*s)[0] == TensorShape{-1, 4, 4, -1});
  pool["ksize"] = MakeAttr(std::vector<int64_t>{1, 3, 3, 2});
  auto depth = InferShapes("AvgPool", pool, {TensorShape{1, 9, 10, 4}});
  REQUIRE_FALSE(depth.ok());
  CHECK(Contains(depth.status(), "batch and depth"));
}

TEST_CASE("DepthwiseConv2dNative against the direct reference", "[nn]") {
  const std::vector<ConvSpec> specs = {
      {2, 8, 7, 3, 3, 3, 3, 0, 2, 2},
      {1, 9, 9, 4, 3, 3, 4, 0, 1, 1, 2, 2},
      {1, 7, 8, 8, 3, 3, 8, 0, 2, 1, 1, 1, "VALID"},
  };
  for (const ConvSpec& s : specs) {
    for (int64_t mult : {1, 2}) {
      CheckDepthwise<float>(s, mult, 1e-5);
      CheckDepthwise<double>(s, mult, 1e-12);
    }
  }
  auto bad = RunKernel(
      "DepthwiseConv2dNative",
      {{"strides", MakeAttr(std::vector<int64_t>{1, 1, 1, 1})}, {"padding", MakeAttr("SAME")}},
      {Tensor::Zeros(DT_FLOAT, {1, 4, 4, 3}).value(),
       Tensor::Zeros(DT_FLOAT, {3, 3, 2, 1}).value()});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "nn_node"));
  CHECK(Contains(bad.status(), "in_channels"));
}

TEST_CASE("AvgPool hand-derived SAME excludes padding from the average", "[nn]") {
  // 3x3 input 1..9, 2x2 window, stride 1, SAME: padding below and right is not counted, so
  // the corner (2,2) is 9 / 1 and the edge (0,2) is (3 + 6) / 2.
  Tensor in = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1});
  AttrMap attrs = {{"ksize", MakeAttr(std::vector<int64_t>{1, 2, 2, 1})},
                   {"strides", MakeAttr(std::vector<int64_t>{1, 1, 1, 1})},
                   {"padding", MakeAttr("SAME")}};
  auto avg = RunKernel("AvgPool", attrs, {in});
  REQUIRE(avg.ok());
  CHECK((*avg)[0].ToVector<float>() == std::vector<float>{3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9});
  auto avg64 = RunKernel("AvgPool", attrs, {MakeTensor<double>(ToDoubles<float>(in), in.shape())});
  REQUIRE(avg64.ok());
  CHECK((*avg64)[0].ToVector<double>() == std::vector<double>{3, 4, 4.5, 6, 7, 7.5, 7.5, 8.5, 9});
  auto mx = RunKernel("MaxPool", attrs, {in});
  REQUIRE(mx.ok());
  CHECK((*mx)[0].ToVector<float>() == std::vector<float>{5, 6, 6, 8, 9, 9, 8, 9, 9});
}

TEST_CASE("MaxPool and AvgPool against the naive reference", "[nn]") {
  for (bool is_max : {true, false}) {
    INFO((is_max ? "MaxPool" : "AvgPool"));
    CheckPool<float>(is_max, 2, 5, 6, 3, 3, 3, 2, 2, "SAME", 1e-6);
    CheckPool<double>(is_max, 2, 5, 6, 3, 3, 3, 2, 2, "SAME", 1e-14);
    CheckPool<float>(is_max, 1, 8, 8, 16, 2, 2, 2, 2, "SAME", 1e-6);
    CheckPool<float>(is_max, 2, 7, 9, 5, 3, 2, 2, 3, "VALID", 1e-6);
    CheckPool<double>(is_max, 2, 7, 9, 5, 3, 2, 2, 3, "VALID", 1e-14);
    CheckPool<float>(is_max, 1, 4, 4, 2, 3, 3, 1, 1, "SAME", 1e-6);
  }
  auto bad = RunKernel("AvgPool",
                       {{"ksize", MakeAttr(std::vector<int64_t>{1, 2, 2, 1})},
                        {"strides", MakeAttr(std::vector<int64_t>{1, 1, 1, 1})},
                        {"padding", MakeAttr("EXPLICIT")}},
                       {Tensor::Zeros(DT_FLOAT, {1, 3, 3, 1}).value()});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "nn_node"));
}

namespace {

// y = (x - mean) / sqrt(var + eps) * scale + offset, per channel.
std::vector<double> RefBatchNorm(const std::vector<double>& x, int64_t c, int64_t inner,
                                 const std::vector<double>& scale,
                                 const std::vector<double>& offset, const std::vector<double>& mean,
                                 const std::vector<double>& var, double eps) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t ch = (static_cast<int64_t>(i) / inner) % c;
    y[i] = (x[i] - mean[ch]) / std::sqrt(var[ch] + eps) * scale[ch] + offset[ch];
  }
  return y;
}

}  // namespace

TEST_CASE("FusedBatchNorm inference, NHWC and NCHW, V1 and V3", "[nn]") {
  const int64_t c = 5;
  const std::vector<double> x = RandomValues(2 * 3 * 4 * c, 20, -3, 3);
  const std::vector<double> scale = RandomValues(c, 21), offset = RandomValues(c, 22);
  const std::vector<double> mean = RandomValues(c, 23), var = RandomValues(c, 24, 0.1, 2.0);
  for (const char* op : {"FusedBatchNorm", "FusedBatchNormV3"}) {
    for (const char* format : {"NHWC", "NCHW"}) {
      INFO(op << " " << format);
      const bool nchw = std::string(format) == "NCHW";
      const TensorShape shape = nchw ? TensorShape{2, c, 3, 4} : TensorShape{2, 3, 4, c};
      auto out = RunKernel(op,
                           {{"is_training", MakeAttr(false)},
                            {"epsilon", MakeAttr(0.001f)},
                            {"data_format", MakeAttr(format)}},
                           {MakeTensor<float>(x, shape), MakeTensor<float>(scale, {c}),
                            MakeTensor<float>(offset, {c}), MakeTensor<float>(mean, {c}),
                            MakeTensor<float>(var, {c})});
      REQUIRE(out.ok());
      REQUIRE(out->size() == (std::string(op) == "FusedBatchNorm" ? 5u : 6u));
      REQUIRE((*out)[0].shape() == shape);
      const std::vector<double> want =
          RefBatchNorm(x, c, nchw ? 12 : 1, scale, offset, mean, var, 0.001);
      CHECK(MaxError(ToDoubles<float>((*out)[0]), want) < 1e-5);
      CHECK(MaxError(ToDoubles<float>((*out)[1]), mean) < 1e-7);
      CHECK(MaxError(ToDoubles<float>((*out)[2]), var) < 1e-7);
    }
  }
}

TEST_CASE("FusedBatchNorm training computes batch statistics like TF", "[nn]") {
  const int64_t c = 3, rows = 2 * 4 * 5;
  const std::vector<double> x = RandomValues(rows * c, 30, -2, 4);
  const std::vector<double> scale = RandomValues(c, 31), offset = RandomValues(c, 32);
  std::vector<double> mean(c, 0.0), var(c, 0.0);
  for (int64_t i = 0; i < rows * c; ++i) mean[i % c] += x[i] / rows;
  for (int64_t i = 0; i < rows * c; ++i)
    var[i % c] += (x[i] - mean[i % c]) * (x[i] - mean[i % c]) / rows;
  auto out = RunKernel("FusedBatchNormV3", {{"epsilon", MakeAttr(0.01f)}},  // is_training default
                       {MakeTensor<float>(x, {2, 4, 5, c}), MakeTensor<float>(scale, {c}),
                        MakeTensor<float>(offset, {c}), Tensor::Zeros(DT_FLOAT, {0}).value(),
                        Tensor::Zeros(DT_FLOAT, {0}).value()});
  REQUIRE(out.ok());
  CHECK(MaxError(ToDoubles<float>((*out)[0]),
                 RefBatchNorm(x, c, 1, scale, offset, mean, var, 0.01)) < 1e-5);
  CHECK(MaxError(ToDoubles<float>((*out)[1]), mean) < 1e-6);
  std::vector<double> unbiased = var;
  for (double& v : unbiased) v *= static_cast<double>(rows) / (rows - 1);  // Bessel
  CHECK(MaxError(ToDoubles<float>((*out)[2]), unbiased) < 1e-6);
  CHECK(MaxError(ToDoubles<float>((*out)[3]), mean) < 1e-6);
  CHECK(MaxError(ToDoubles<float>((*out)[4]), var) < 1e-6);
}

TEST_CASE("FusedBatchNorm shape function and channel errors", "[nn]") {
  AttrMap attrs = {{"is_training", MakeAttr(false)}};
  auto s = InferShapes("FusedBatchNormV3", attrs,
                       {TensorShape{-1, 7, 7, -1}, TensorShape{16}, TensorShape{-1},
                        TensorShape{16}, TensorShape{16}});
  REQUIRE(s.ok());
  REQUIRE(s->size() == 6u);
  CHECK((*s)[0] == TensorShape{-1, 7, 7, 16});
  CHECK((*s)[1] == TensorShape{16});
  auto bad = InferShapes("FusedBatchNorm", attrs,
                         {TensorShape{1, 7, 7, 8}, TensorShape{16}, TensorShape{16},
                          TensorShape{16}, TensorShape{16}});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "8 vs 16"));
  auto kernel =
      RunKernel("FusedBatchNorm", attrs,
                {Tensor::Zeros(DT_FLOAT, {1, 2, 2, 8}).value(),
                 Tensor::Zeros(DT_FLOAT, {4}).value(), Tensor::Zeros(DT_FLOAT, {4}).value(),
                 Tensor::Zeros(DT_FLOAT, {4}).value(), Tensor::Zeros(DT_FLOAT, {4}).value()});
  REQUIRE_FALSE(kernel.ok());
  CHECK(Contains(kernel.status(), "nn_node"));
  CHECK(Contains(kernel.status(), "channel"));
}
