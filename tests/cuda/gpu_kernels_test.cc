// GPU kernels against the CPU kernels (the reference, itself tested against NumPy/TensorFlow
// values), on random inputs, one op at a time; then every TensorFlow fixture with its nodes
// requested on /gpu:0. Built only with CUDA, into quiver_gpu_tests (CTest label `gpu`).
// Without a GPU every case prints QUIVER_SKIPPED and CTest reports it skipped. The harness
// (RunGpu, MatchesCpu, QUIVER_GPU_HARNESS_CHECK mode) is shared: gpu_test_harness.h.
//
// (tests/CMakeLists.txt's glob for the CPU suite excludes tests/cuda/.)
#include <cudnn.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "devices/device.h"
#include "devices/device_set.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "runtime/session.h"
#include "tests/cuda/gpu_test_harness.h"
#include "tests/devices/kernel_test_util.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

// CPU vs GPU (both paths) for one op, with this file's positional tolerances and HostMemory
// inputs: true when every output matches (mismatches and GPU errors are reported as found).
bool MatchesCpu(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                double rtol = 1e-5, double atol = 1e-5, const std::vector<int>& host_inputs = {}) {
  MatchOptions options;
  options.rtol = rtol;
  options.atol = atol;
  options.host_inputs = host_inputs;
  return gputest::MatchesCpu(op, attrs, inputs, options);
}

TEST_CASE("GPU: element-wise unary ops match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(1);
  Tensor x = Random({3, 37, 5}, &rng, -3.f, 3.f);
  Tensor pos = Random({3, 37, 5}, &rng, 0.1f, 4.f);
  for (const char* op : {"Neg", "Abs", "Square", "Exp", "Tanh", "Sigmoid", "Relu", "Relu6", "Elu",
                         "Sign", "Floor", "Ceil"}) {
    CHECK(MatchesCpu(op, {}, {x}));
  }
  for (const char* op : {"Log", "Sqrt", "Rsqrt", "Reciprocal"}) CHECK(MatchesCpu(op, {}, {pos}));
}

TEST_CASE("GPU: element-wise binary ops with broadcasting match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(2);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{4, 5}, {4, 5}},    {{4, 5}, {5}}, {{4, 1}, {1, 5}},
      {{2, 3, 4}, {3, 1}}, {{}, {3, 2}},  {{6, 1, 7}, {1, 5, 1}}};
  for (const auto& [xs, ys] : shapes) {
    Tensor x = Random(xs, &rng), y = Random(ys, &rng, 0.5f, 2.f);
    for (const char* op : {"Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum",
                           "SquaredDifference", "Pow"}) {
      Tensor base = std::string(op) == "Pow" ? Random(xs, &rng, 0.1f, 2.f) : x;
      CHECK(MatchesCpu(op, {}, {base, y}));
    }
  }
  Tensor a = Random({8, 9}, &rng, -7.f, 7.f), g = Random({8, 9}, &rng);
  for (const char* op : {"ReluGrad", "Relu6Grad"}) CHECK(MatchesCpu(op, {}, {g, a}));
  Tensor y = Random({8, 9}, &rng, 0.f, 1.f);
  for (const char* op : {"SigmoidGrad", "TanhGrad"}) CHECK(MatchesCpu(op, {}, {y, g}));
}

TEST_CASE("GPU: Erf/Softplus/Selu/LeakyRelu..., Atan2, ClipByValue, L2Loss, Select match the CPU",
          "[gpu][cwise_extra]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(16);
  Tensor x = Random({3, 37, 5}, &rng, -4.f, 4.f);
  for (const char* op :
       {"Erf", "Erfc", "Softplus", "Softsign", "Cos", "Sin", "Round", "Selu", "LeakyRelu"}) {
    CAPTURE(op);
    CHECK(MatchesCpu(op, {}, {x}));
  }
  CHECK(MatchesCpu("LeakyRelu", {{"alpha", MakeAttr(0.05f)}}, {x}));
  // Halves (banker's rounding), large softplus arguments, NaN and infinities.
  const float inf = INFINITY;
  Tensor special = Vec<float>(
      {-2.5f, -0.5f, 0.5f, 1.5f, 2.5f, -30.f, 30.f, std::nanf(""), inf, -inf, 0.f, -3.4e38f});
  for (const char* op :
       {"Round", "Softplus", "Softsign", "Selu", "Erf", "IsNan", "IsInf", "IsFinite"}) {
    CAPTURE(op);
    CHECK(MatchesCpu(op, {}, {special}, 0, 0));
  }
  Tensor g = Random({8, 9}, &rng), f = Random({8, 9}, &rng, -3.f, 3.f);
  for (const char* op : {"SoftplusGrad", "SoftsignGrad", "LeakyReluGrad"}) {
    CHECK(MatchesCpu(op, {}, {g, f}));
  }
  CHECK(MatchesCpu("LeakyReluGrad", {{"alpha", MakeAttr(0.3f)}}, {g, f}));
  CHECK(MatchesCpu("SeluGrad", {}, {g, Random({8, 9}, &rng, -1.7f, 3.f)}));
  for (const auto& [ys, xs] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{4, 5}, {4, 5}}, {{4, 5}, {5}}, {{4, 1}, {1, 5}}, {{}, {3, 2}}}) {
    CHECK(MatchesCpu("Atan2", {}, {Random(ys, &rng), Random(xs, &rng)}));
  }
  Tensor t = Random({6, 7}, &rng, -2.f, 2.f);
  CHECK(MatchesCpu("ClipByValue", {},
                   {t, Tensor::Scalar<float>(-0.5f), Tensor::Scalar<float>(0.7f)}, 0, 0));
  CHECK(MatchesCpu("ClipByValue", {},
                   {t, Random({6, 7}, &rng, -1.f, 0.f), Random({6, 7}, &rng, 0.f, 1.f)}, 0, 0));
  CHECK(MatchesCpu("L2Loss", {}, {Random({1000, 37}, &rng)}, 1e-5, 1e-4));
  CHECK(MatchesCpu("L2Loss", {}, {t}));
  Tensor c = Tensor::FromVector<bool>({true, false, true, true, false, false}, {6});
  Tensor e = Random({6, 7}, &rng);
  CHECK(MatchesCpu("Select", {}, {c, t, e}, 0, 0));  // rows
  std::vector<bool> cv;
  for (int i = 0; i < 42; ++i) cv.push_back(rng() % 2 == 0);
  CHECK(MatchesCpu("Select", {}, {Tensor::FromVector<bool>(cv, {6, 7}), t, e}, 0, 0));
}

TEST_CASE("GPU: BiasAdd, BiasAddGrad and reductions match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(3);
  Tensor x = Random({2, 6, 5, 7}, &rng), b = Random({7}, &rng);
  CHECK(MatchesCpu("BiasAdd", {}, {x, b}));
  CHECK(MatchesCpu("BiasAddGrad", {}, {x}, 1e-5, 1e-4));
  AttrMap nchw = {{"data_format", MakeAttr(std::string("NCHW"))}};
  CHECK(MatchesCpu("BiasAdd", nchw, {x, Random({6}, &rng)}));
  CHECK(MatchesCpu("BiasAddGrad", nchw, {x}, 1e-5, 1e-4));
  for (const char* op : {"Sum", "Mean", "Max", "Min", "Prod"}) {
    for (const std::vector<int32_t>& axes :
         std::vector<std::vector<int32_t>>{{0}, {1, 2}, {3}, {0, 3}, {-1}, {0, 1, 2, 3}, {}}) {
      for (bool keep : {false, true}) {
        CAPTURE(axes, keep);
        CHECK(MatchesCpu(op, {{"keep_dims", MakeAttr(keep)}}, {x, Vec<int32_t>(axes)}, 1e-4, 1e-4,
                         {1}));
      }
    }
  }
  Tensor big = Random({1000, 300}, &rng);
  CHECK(MatchesCpu("Sum", {}, {big, Vec<int32_t>({0, 1})}, 1e-4, 1e-3, {1}));
  CHECK(MatchesCpu("Mean", {}, {big, Vec<int32_t>({1})}, 1e-4, 1e-4, {1}));
}

TEST_CASE("GPU: ArgMax/ArgMin, Softmax, LogSoftmax and cross-entropy match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(4);
  Tensor x = Random({5, 7, 9}, &rng);
  for (const char* op : {"ArgMax", "ArgMin"}) {
    for (int32_t axis : {0, 1, 2, -1}) {
      CHECK(MatchesCpu(op, {}, {x, Tensor::Scalar<int32_t>(axis)}, 0, 0, {1}));
      CHECK(MatchesCpu(op, {{"output_type", MakeAttr(DT_INT32)}},
                       {x, Tensor::Scalar<int32_t>(axis)}, 0, 0, {1}));
    }
  }
  Tensor logits = Random({64, 10}, &rng, -5.f, 5.f);
  CHECK(MatchesCpu("Softmax", {}, {logits}));
  CHECK(MatchesCpu("LogSoftmax", {}, {logits}));
  Tensor labels = Random({64, 10}, &rng, 0.f, 1.f);
  CHECK(MatchesCpu("SoftmaxCrossEntropyWithLogits", {}, {logits, labels}, 1e-5, 1e-5));
  // Broadcast labels (one row for every example) and logits, as TF allows.
  CHECK(MatchesCpu("SoftmaxCrossEntropyWithLogits", {}, {logits, Random({10}, &rng, 0.f, 1.f)},
                   1e-5, 1e-5));
  CHECK(MatchesCpu("SoftmaxCrossEntropyWithLogits", {}, {Random({1, 10}, &rng, -5.f, 5.f), labels},
                   1e-5, 1e-5));
}

TEST_CASE("GPU: NaN propagation and long or cancelling reductions match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(15);
  // NaNs at scattered positions of x and (elsewhere) of y; row 2 of x has two.
  std::vector<float> xv(6 * 33), yv(6 * 33);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  for (float& v : xv) v = u(rng);
  for (float& v : yv) v = u(rng);
  for (int i : {5, 70, 80, 150}) xv[i] = std::nanf("");
  for (int i : {6, 100}) yv[i] = std::nanf("");
  Tensor x = Tensor::FromVector<float>(xv, TensorShape{6, 33});
  Tensor y = Tensor::FromVector<float>(yv, TensorShape{6, 33});
  for (const char* op : {"Neg", "Abs", "Relu", "Relu6", "Sign"}) {  // the shared functors
    CHECK(MatchesCpu(op, {}, {x}));
  }
  for (const char* op : {"Maximum", "Minimum", "Add", "Mul"}) CHECK(MatchesCpu(op, {}, {x, y}));
  for (const char* op : {"Sum", "Mean", "Max", "Min"}) {
    for (int32_t axis : {0, 1}) {
      CAPTURE(op, axis);
      CHECK(MatchesCpu(op, {}, {x, Vec<int32_t>({axis})}, 1e-5, 1e-5, {1}));
    }
  }
  for (const char* op : {"ArgMax", "ArgMin"}) {
    for (int32_t axis : {0, 1}) {
      CHECK(MatchesCpu(op, {}, {x, Tensor::Scalar<int32_t>(axis)}, 0, 0, {1}));
    }
  }
  // Large values that cancel plus small ones: a float accumulator loses the small part (the
  // CPU accumulates in double), and one long column of 20000 values per output.
  std::vector<float> cv(20000 * 3);
  std::uniform_real_distribution<float> small(0.f, 0.01f);
  for (size_t i = 0; i < cv.size(); ++i) cv[i] = ((i / 3) % 2 ? 3e4f : -3e4f) + small(rng);
  Tensor c = Tensor::FromVector<float>(cv, TensorShape{20000, 3});
  CHECK(MatchesCpu("Sum", {}, {c, Vec<int32_t>({0})}, 1e-5, 1e-3, {1}));
  CHECK(MatchesCpu("Mean", {}, {c, Vec<int32_t>({0})}, 1e-5, 1e-6, {1}));
  CHECK(MatchesCpu("BiasAddGrad", {}, {c}, 1e-5, 1e-3));
}

TEST_CASE("GPU: Transpose, Slice and ConcatV2 match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(5);
  Tensor x = Random({3, 4, 5, 6}, &rng);
  for (const std::vector<int32_t>& perm :
       std::vector<std::vector<int32_t>>{{0, 1, 2, 3}, {3, 2, 1, 0}, {0, 3, 1, 2}, {2, 0, 3, 1}}) {
    CHECK(MatchesCpu("Transpose", {}, {x, Vec<int32_t>(perm)}, 0, 0, {1}));
  }
  CHECK(MatchesCpu("Slice", {}, {x, Vec<int32_t>({1, 0, 2, 3}), Vec<int32_t>({2, -1, 3, 2})}, 0, 0,
                   {1, 2}));
  auto masks = [](int64_t b, int64_t e, int64_t ell, int64_t na, int64_t sh) {
    return AttrMap{{"begin_mask", MakeAttr(b)},        {"end_mask", MakeAttr(e)},
                   {"ellipsis_mask", MakeAttr(ell)},   {"new_axis_mask", MakeAttr(na)},
                   {"shrink_axis_mask", MakeAttr(sh)}, {"Index", MakeAttr(DT_INT32)}};
  };
  // x[1:3, ::-2, 4:0:-1, :] and x[..., 1] (shrink) and x[:, newaxis, 2].
  CHECK(MatchesCpu(
      "StridedSlice", masks(0b1000, 0b1010, 0, 0, 0),
      {x, Vec<int32_t>({1, 0, 4, 0}), Vec<int32_t>({3, 0, 0, 0}), Vec<int32_t>({1, -2, -1, 1})}, 0,
      0, {1, 2, 3}));
  CHECK(MatchesCpu("StridedSlice", masks(0, 0, 0b1, 0, 0b10),
                   {x, Vec<int32_t>({0, 1}), Vec<int32_t>({0, 2}), Vec<int32_t>({1, 1})}, 0, 0,
                   {1, 2, 3}));
  CHECK(MatchesCpu("StridedSlice", masks(0b1, 0b1, 0, 0b10, 0b100),
                   {x, Vec<int32_t>({0, 0, 2}), Vec<int32_t>({0, 0, 3}), Vec<int32_t>({1, 1, 1})},
                   0, 0, {1, 2, 3}));
  Tensor a = Random({3, 2, 5}, &rng), b = Random({3, 4, 5}, &rng), c = Random({3, 1, 5}, &rng);
  CHECK(MatchesCpu("ConcatV2", {}, {a, b, c, Tensor::Scalar<int32_t>(1)}, 0, 0, {3}));
  CHECK(MatchesCpu("ConcatV2", {}, {a, a, Tensor::Scalar<int32_t>(-1)}, 0, 0, {2}));
}

TEST_CASE("GPU: MatMul and BatchMatMulV2 (cuBLAS) match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(6);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Tensor a = Random(ta ? std::vector<int64_t>{33, 17} : std::vector<int64_t>{17, 33}, &rng);
      Tensor b = Random(tb ? std::vector<int64_t>{29, 33} : std::vector<int64_t>{33, 29}, &rng);
      CHECK(MatchesCpu("MatMul", {{"transpose_a", MakeAttr(ta)}, {"transpose_b", MakeAttr(tb)}},
                       {a, b}, 1e-4, 1e-4));
    }
  }
  Tensor x = Random({4, 3, 5, 6}, &rng), y = Random({3, 6, 7}, &rng),
         z = Random({4, 1, 6, 7}, &rng);
  for (bool adj_y : {false, true}) {
    Tensor yy = adj_y ? Random({3, 7, 6}, &rng) : y;
    CHECK(MatchesCpu("BatchMatMulV2", {{"adj_x", MakeAttr(false)}, {"adj_y", MakeAttr(adj_y)}},
                     {x, yy}, 1e-4, 1e-4));
  }
  Tensor w = Random({1, 3, 6, 7}, &rng);
  CHECK(MatchesCpu("BatchMatMulV2", {{"adj_x", MakeAttr(false)}, {"adj_y", MakeAttr(false)}},
                   {Random({4, 1, 5, 6}, &rng), w}, 1e-4, 1e-4));  // mixed broadcasting
  CHECK(MatchesCpu("BatchMatMulV2", {{"adj_x", MakeAttr(false)}, {"adj_y", MakeAttr(false)}},
                   {x, z}, 1e-4, 1e-4));
}

AttrMap ConvAttrs(const std::string& padding, int64_t stride) {
  return {{"strides", MakeAttr(std::vector<int64_t>{1, stride, stride, 1})},
          {"padding", MakeAttr(padding)}};
}

TEST_CASE("GPU: Conv2D and its backprops (cuDNN) match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(7);
  for (const std::string padding : {"SAME", "VALID"}) {
    for (int64_t stride : {1, 2}) {
      CAPTURE(padding, stride);
      Tensor x = Random({2, 9, 8, 3}, &rng), f = Random({3, 3, 3, 5}, &rng);
      AttrMap attrs = ConvAttrs(padding, stride);
      CHECK(MatchesCpu("Conv2D", attrs, {x, f}, 1e-4, 1e-4));
      auto y = testing::RunKernel("Conv2D", attrs, {x, f});
      REQUIRE(y.ok());
      Tensor dy = Random((*y)[0].shape().dims(), &rng);
      CHECK(MatchesCpu("Conv2DBackpropInput", attrs, {Vec<int32_t>({2, 9, 8, 3}), f, dy}, 1e-4,
                       1e-4, {0}));
      CHECK(MatchesCpu("Conv2DBackpropFilter", attrs, {x, Vec<int32_t>({3, 3, 3, 5}), dy}, 1e-4,
                       1e-3, {1}));
    }
  }
  // 5x5 SAME stride 1 (the MNIST CNN's first layer) and an asymmetric SAME case (even kernel).
  Tensor x = Random({4, 28, 28, 1}, &rng), f = Random({5, 5, 1, 8}, &rng);
  CHECK(MatchesCpu("Conv2D", ConvAttrs("SAME", 1), {x, f}, 1e-4, 1e-4));
  Tensor f2 = Random({2, 2, 1, 4}, &rng);
  CHECK(MatchesCpu("Conv2D", ConvAttrs("SAME", 1), {x, f2}, 1e-4, 1e-4));
}

TEST_CASE("GPU: convolutions over empty inputs or filters match the CPU without cuDNN", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(17);
  const AttrMap valid = ConvAttrs("VALID", 1), same = ConvAttrs("SAME", 2);
  // EXPLICIT padding 1 on each side: an empty 0x0 image still has a 2x2 output (of zeros).
  AttrMap expl = ConvAttrs("EXPLICIT", 1);
  expl["explicit_paddings"] = MakeAttr(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 0, 0});
  struct Case {
    std::vector<int64_t> x, f;
    AttrMap attrs;
  };
  const std::vector<Case> cases = {
      {{0, 5, 5, 3}, {3, 3, 3, 4}, same},   // no batch: empty output
      {{2, 0, 5, 3}, {1, 1, 3, 4}, same},   // no rows: empty output
      {{2, 5, 5, 3}, {3, 3, 3, 0}, valid},  // no output channels
      {{1, 0, 0, 2}, {1, 1, 2, 3}, expl},   // empty input, 1x2x2x3 output of zeros
      {{2, 5, 5, 3}, {0, 3, 3, 4}, valid},  // empty filter (0 rows): 2x6x3x4 zeros
  };
  for (const Case& c : cases) {
    CAPTURE(c.x, c.f);
    Tensor x = Random(c.x, &rng), f = Random(c.f, &rng);
    CHECK(MatchesCpu("Conv2D", c.attrs, {x, f}));
    auto y = testing::RunKernel("Conv2D", c.attrs, {x, f});
    REQUIRE(y.ok());
    Tensor dy = Random((*y)[0].shape().dims(), &rng);
    std::vector<int32_t> xs(c.x.begin(), c.x.end()), fsizes(c.f.begin(), c.f.end());
    CHECK(MatchesCpu("Conv2DBackpropInput", c.attrs, {Vec<int32_t>(xs), f, dy}, 1e-5, 1e-5, {0}));
    CHECK(MatchesCpu("Conv2DBackpropFilter", c.attrs, {x, Vec<int32_t>(fsizes), dy}, 1e-5, 1e-5,
                     {1}));
    // _FusedConv2D: an empty output as on the CPU; a non-empty one over an empty input or
    // filter is the activation of the bias (the unfused Conv2D + BiasAdd + Relu; the CPU's
    // fused kernel rejects that case).
    AttrMap fused = c.attrs;
    fused["fused_ops"] = MakeAttr(std::vector<std::string>{"BiasAdd", "Relu"});
    fused["num_args"] = MakeAttr(int64_t{1});
    const int64_t oc = c.f[3];
    Tensor bias = Random({oc}, &rng);
    const Tensor& yt = (*y)[0];
    if (yt.num_elements() == 0) {
      CHECK(MatchesCpu("_FusedConv2D", fused, {x, f, bias}));
      continue;
    }
    if (HarnessMode()) {
      CHECK(GpuKernelConstructs("_FusedConv2D", fused, {x, f, bias}));
      continue;
    }
    std::vector<float> want(yt.num_elements());
    for (size_t i = 0; i < want.size(); ++i) {
      want[i] = std::max(bias.data<float>()[i % oc], 0.f);
    }
    const Tensor expected = Tensor::FromVector<float>(want, yt.shape());
    for (bool resident : {true, false}) {
      CAPTURE(resident);
      auto got = RunGpu("_FusedConv2D", fused, {x, f, bias}, resident);
      if (!got.ok()) {
        FAIL_CHECK(got.status().ToString());
        continue;
      }
      CHECK(SameOutputs(*got, {expected}, 1e-6, 1e-6));
    }
  }
}

TEST_CASE("GPU: _FusedMatMul and _FusedConv2D match the CPU's fused kernels", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(11);
  for (const std::vector<std::string>& ops : std::vector<std::vector<std::string>>{
           {"BiasAdd"}, {"BiasAdd", "Relu"}, {"BiasAdd", "Relu6"}, {"BiasAdd", "Tanh"}}) {
    CAPTURE(ops);
    AttrMap mm = {{"transpose_a", MakeAttr(false)},
                  {"transpose_b", MakeAttr(true)},
                  {"fused_ops", MakeAttr(ops)},
                  {"num_args", MakeAttr(int64_t{1})}};
    CHECK(MatchesCpu("_FusedMatMul", mm,
                     {Random({16, 12}, &rng, -3.f, 3.f), Random({9, 12}, &rng), Random({9}, &rng)},
                     1e-4, 1e-4));
    AttrMap conv = ConvAttrs("SAME", 1);
    conv["fused_ops"] = MakeAttr(ops);
    conv["num_args"] = MakeAttr(int64_t{1});
    CHECK(MatchesCpu(
        "_FusedConv2D", conv,
        {Random({2, 7, 7, 3}, &rng, -3.f, 3.f), Random({3, 3, 3, 4}, &rng), Random({4}, &rng)},
        1e-4, 1e-4));
  }
}

TEST_CASE("GPU: FusedBatchNorm (training and inference) matches the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(12);
  for (const std::string format : {"NHWC", "NCHW"}) {
    for (bool training : {true, false}) {
      for (float factor : {1.0f, 0.3f}) {
        CAPTURE(format, training, factor);
        Tensor x = Random({4, 5, 6, 3}, &rng, -2.f, 3.f);
        const int64_t c = format == "NHWC" ? 3 : 5;
        AttrMap attrs = {{"epsilon", MakeAttr(0.001f)},
                         {"exponential_avg_factor", MakeAttr(factor)},
                         {"data_format", MakeAttr(format)},
                         {"is_training", MakeAttr(training)},
                         {"U", MakeAttr(DT_FLOAT)}};
        CHECK(MatchesCpu("FusedBatchNormV3", attrs,
                         {x, Random({c}, &rng, 0.5f, 2.f), Random({c}, &rng), Random({c}, &rng),
                          Random({c}, &rng, 0.5f, 2.f)},
                         1e-4, 1e-4));
      }
    }
  }
}

TEST_CASE("GPU: MaxPool, AvgPool and their gradients match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(8);
  Tensor x = Random({2, 9, 7, 3}, &rng);
  for (const std::string padding : {"SAME", "VALID"}) {
    for (int64_t k : {2, 3}) {
      AttrMap attrs = {{"ksize", MakeAttr(std::vector<int64_t>{1, k, k, 1})},
                       {"strides", MakeAttr(std::vector<int64_t>{1, 2, 2, 1})},
                       {"padding", MakeAttr(padding)}};
      CAPTURE(padding, k);
      CHECK(MatchesCpu("MaxPool", attrs, {x}));
      CHECK(MatchesCpu("AvgPool", attrs, {x}));
      auto y = testing::RunKernel("MaxPool", attrs, {x});
      REQUIRE(y.ok());
      Tensor dy = Random((*y)[0].shape().dims(), &rng);
      CHECK(MatchesCpu("MaxPoolGrad", attrs, {x, (*y)[0], dy}, 1e-5, 1e-5));
      CHECK(MatchesCpu("AvgPoolGrad", attrs, {Vec<int32_t>({2, 9, 7, 3}), dy}, 1e-5, 1e-5, {0}));
    }
  }
}

TEST_CASE("GPU: random ops draw the CPU kernels' Philox streams", "[gpu]") {
  GPU_TEST_PROLOGUE();
  for (const char* op : {"RandomUniform", "RandomStandardNormal", "TruncatedNormal"}) {
    AttrMap attrs = {{"dtype", MakeAttr(DT_FLOAT)},
                     {"seed", MakeAttr(int64_t{87654321})},
                     {"seed2", MakeAttr(int64_t{42})}};
    CHECK(MatchesCpu(op, attrs, {Vec<int32_t>({7, 13})}, 1e-5, 1e-6, {0}));
  }
}

TEST_CASE("GPU: optimizer updates match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  // Runs the update op on variables held in host or device memory and returns var (and slots).
  std::mt19937 rng(9);
  Tensor var0 = Random({33, 7}, &rng), m0 = Random({33, 7}, &rng),
         v0 = Random({33, 7}, &rng, 0.f, 1.f);
  Tensor grad = Random({33, 7}, &rng);
  struct Case {
    std::string op;
    int num_vars;
    std::vector<Tensor> scalars_and_grad;  // inputs after the refs, in OpDef order
    AttrMap attrs;
  };
  const std::vector<Case> cases = {
      {"ApplyGradientDescent", 1, {Tensor::Scalar(0.1f), grad}, {}},
      {"ApplyMomentum",
       2,
       {Tensor::Scalar(0.1f), grad, Tensor::Scalar(0.9f)},
       {{"use_nesterov", MakeAttr(true)}}},
      {"ApplyAdam",
       3,
       {Tensor::Scalar(0.9f), Tensor::Scalar(0.999f), Tensor::Scalar(0.01f), Tensor::Scalar(0.9f),
        Tensor::Scalar(0.999f), Tensor::Scalar(1e-7f), grad},
       {{"use_nesterov", MakeAttr(false)}}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.op);
    std::vector<Tensor> expected;           // the CPU's (mode 0) var and slots
    for (int mode = 0; mode < 3; ++mode) {  // 0: CPU, 1: GPU resident, 2: GPU host-staged
      CAPTURE(mode);
      Graph graph;
      std::vector<Node*> inputs;
      for (int i = 0; i < c.num_vars; ++i) {
        NodeSpec spec;
        spec.name = "var" + std::to_string(i);
        spec.op = "VariableV2";
        spec.attrs["dtype"] = MakeAttr(DT_FLOAT);
        spec.attrs["shape"] = MakeAttr(var0.shape());
        auto n = graph.AddNode(std::move(spec));
        REQUIRE(n.ok());
        inputs.push_back(*n);
      }
      for (size_t i = 0; i < c.scalars_and_grad.size(); ++i) {
        auto n = testing::AddConst(graph, "in" + std::to_string(i), c.scalars_and_grad[i]);
        REQUIRE(n.ok());
        inputs.push_back(*n);
      }
      AttrMap attrs = c.attrs;
      attrs["T"] = MakeAttr(DT_FLOAT);
      auto node = testing::AddOpNode(graph, c.op, attrs, inputs);
      REQUIRE(node.ok());
      auto kernel = KernelRegistry::Global().CreateKernel(**node, mode == 0 ? kCpu : kGpu);
      if (!kernel.ok()) {
        FAIL_CHECK(kernel.status().ToString());
        if (mode == 0) break;  // no reference
        continue;
      }
      if (mode > 0 && HarnessMode()) continue;
      // A GPU failure fails this mode's check only; the other mode and cases still run.
      auto run = [&]() -> absl::StatusOr<std::vector<Tensor>> {
        Device* dev = mode == 1 ? Gpu0() : nullptr;
        if (mode == 1 && dev == nullptr) return absl::InternalError("GPU:0 could not be created");
        std::vector<Variable> vars(c.num_vars);
        const Tensor initial[3] = {var0, m0, v0};
        std::vector<TensorValue> in(inputs.size());
        for (int i = 0; i < c.num_vars; ++i) {
          ASSIGN_OR_RETURN(vars[i].value,
                           mode == 1 ? CopyTensor(initial[i], dev) : initial[i].Clone());
          in[i].ref = &vars[i];  // a ref edge carries the Variable only
        }
        for (size_t i = 0; i < c.scalars_and_grad.size(); ++i) {
          ASSIGN_OR_RETURN(in[c.num_vars + i].tensor, mode == 1
                                                          ? CopyTensor(c.scalars_and_grad[i], dev)
                                                          : c.scalars_and_grad[i].Clone());
        }
        std::vector<TensorValue> out(1);
        StepResources resources;
        OpKernelContext ctx(**node, &in, &out, &resources, dev, kernel->get());
        RETURN_IF_ERROR((*kernel)->Compute(ctx));
        std::vector<Tensor> r;
        for (int i = 0; i < c.num_vars; ++i) {
          ASSIGN_OR_RETURN(Tensor host, mode == 1
                                            ? CopyTensor(vars[i].value, Device::DefaultCpu(), dev)
                                            : vars[i].value.Clone());
          r.push_back(std::move(host));
        }
        return r;
      };
      auto r = run();
      if (!r.ok()) {
        FAIL_CHECK(r.status().ToString());
        if (mode == 0) break;
        continue;
      }
      if (mode == 0) {
        expected = std::move(*r);
        continue;
      }
      for (int i = 0; i < c.num_vars; ++i) {
        fixture::Comparison cmp = fixture::CompareTensors((*r)[i], expected[i], 1e-5, 1e-6);
        if (!cmp.ok) FAIL_CHECK("mode " << mode << " var " << i << ": " << cmp.message);
      }
    }
  }
}

TEST_CASE("GPU: shape plumbing (Tile, Fill, AddN, Shape, ExpandDims, Squeeze) matches the CPU",
          "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(10);
  Tensor x = Random({2, 3, 4}, &rng);
  CHECK(MatchesCpu("Tile", {}, {x, Vec<int32_t>({2, 1, 3})}, 0, 0, {1}));
  CHECK(MatchesCpu("Tile", {}, {Random({5}, &rng), Vec<int64_t>({4})}, 0, 0, {1}));
  CHECK(MatchesCpu("Fill", {}, {Vec<int32_t>({3, 5}), Tensor::Scalar(2.5f)}, 0, 0, {0}));
  CHECK(MatchesCpu("ZerosLike", {}, {x}, 0, 0));
  CHECK(MatchesCpu("OnesLike", {}, {x}, 0, 0));
  CHECK(MatchesCpu("AddN", {}, {x, Random({2, 3, 4}, &rng), Random({2, 3, 4}, &rng)}, 1e-6, 1e-6));
  CHECK(MatchesCpu("AddN", {}, {x}, 0, 0));
  CHECK(MatchesCpu("Shape", {}, {x}, 0, 0));
  CHECK(MatchesCpu("Shape", {{"out_type", MakeAttr(DT_INT64)}}, {x}, 0, 0));
  CHECK(MatchesCpu("Size", {}, {x}, 0, 0));
  CHECK(MatchesCpu("Rank", {}, {x}, 0, 0));
  CHECK(MatchesCpu("ExpandDims", {}, {x, Tensor::Scalar<int32_t>(-1)}, 0, 0, {1}));
  CHECK(MatchesCpu("Squeeze", {}, {Random({1, 3, 1, 2}, &rng)}, 0, 0));
  CHECK(MatchesCpu("Squeeze", {{"squeeze_dims", MakeAttr(std::vector<int64_t>{2})}},
                   {Random({1, 3, 1, 2}, &rng)}, 0, 0));
  CHECK(MatchesCpu("Reshape", {}, {x, Vec<int32_t>({4, -1})}, 0, 0, {1}));
}

TEST_CASE("GPU: comparisons and Cast match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(13);
  // Rounded values so that ties (Equal true) really occur.
  std::vector<float> a(60), b(12);
  for (float& v : a) v = static_cast<float>(static_cast<int>(rng() % 5)) - 2.f;
  for (float& v : b) v = static_cast<float>(static_cast<int>(rng() % 5)) - 2.f;
  Tensor x = Tensor::FromVector<float>(a, TensorShape{5, 12});
  Tensor y = Tensor::FromVector<float>(b, TensorShape{12});
  Tensor xi = Tensor::FromVector<int64_t>({1, 5, -3, 7, 5, 2}, TensorShape{6});
  Tensor yi = Tensor::FromVector<int64_t>({1, 4, -3, 8, 5, 9}, TensorShape{6});
  for (const char* op : {"Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual"}) {
    CHECK(MatchesCpu(op, {}, {x, y}, 0, 0));
    CHECK(MatchesCpu(op, {}, {x, x}, 0, 0));
    CHECK(MatchesCpu(op, {}, {xi, yi}, 0, 0));
  }
  Tensor f = Tensor::FromVector<float>({-2.7f, -0.5f, 0.f, 0.5f, 3.9f, 3e9f, -3e9f, std::nanf("")},
                                       TensorShape{8});
  for (DataType to : {DT_INT32, DT_INT64, DT_BOOL, DT_DOUBLE}) {
    CHECK(MatchesCpu("Cast", {{"DstT", MakeAttr(to)}}, {f}, 0, 0));
  }
  Tensor bools = Tensor::FromVector<bool>({true, false, true}, TensorShape{3});
  CHECK(MatchesCpu("Cast", {{"DstT", MakeAttr(DT_FLOAT)}}, {bools}, 0, 0));
  CHECK(MatchesCpu("Cast", {{"DstT", MakeAttr(DT_FLOAT)}}, {xi}, 0, 0));
  CHECK(MatchesCpu("Cast", {{"DstT", MakeAttr(DT_INT32)}}, {xi}, 0, 0));
}

// Every TensorFlow fixture with every node requested on /gpu:0 (soft placement keeps the
// nodes without a GPU kernel on the CPU), against TensorFlow's expected outputs.
TEST_CASE("GPU: TensorFlow fixtures on /gpu:0 give TensorFlow's results", "[gpu][tf_fixtures]") {
  GPU_TEST_PROLOGUE();
  // In harness mode (no GPU) soft placement runs the fixtures on the CPU: a check of the harness.
  const std::vector<fs::path> cases = FixtureDirs("tf");
  REQUIRE(cases.size() >= 10);
  for (const fs::path& dir : cases) {
    const std::string name = dir.filename().string();
    DYNAMIC_SECTION("case " << name) { CHECK_FIXTURE_ON_GPU(dir, name, /*level=*/1); }
  }
}

TEST_CASE("GPU: detection and the device set", "[gpu]") {
  // Runs everywhere: without a GPU the factory adds no device (and so registers no GPU kernel).
  auto set = DeviceSet::Create();
  REQUIRE(set.ok());
  const bool has_gpu = set->Find("GPU:0") != nullptr;
  CHECK(has_gpu == (cuda::GpuCount() > 0));
  CHECK(cuda::NumGpuKernels() > 40);
  if (!has_gpu) {  // the CPU-only facts are the test here: it passes, not skips
    CHECK(!cuda::DetectionMessage().empty());
    std::cout << "no GPU: " << cuda::DetectionMessage() << std::endl;
    return;
  }
  Device* gpu = Gpu0();
  REQUIRE(gpu != nullptr);
  CHECK_FALSE(gpu->allocator()->host_accessible());
  // For the GPU run's record: which driver and libraries this process loaded.
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::cout << "GPU:0 " << prop.name << " sm_" << prop.major << prop.minor << ", "
            << prop.totalGlobalMem / (1 << 20) << " MiB; CUDA driver " << driver << ", runtime "
            << runtime << ", cuDNN " << cudnnGetVersion() << std::endl;
  // A round trip through device memory.
  Tensor t = Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape{4});
  auto d = CopyTensor(t, gpu);
  REQUIRE(d.ok());
  auto back = CopyTensor(*d, Device::DefaultCpu(), gpu);
  REQUIRE(back.ok());
  CHECK(back->ToVector<float>() == std::vector<float>{1, 2, 3, 4});
  // The device BFC allocator (cudaMalloc regions) and the pinned host one (cudaHostAlloc).
  auto* cuda_dev = cuda::AsCudaDevice(gpu);
  REQUIRE(cuda_dev != nullptr);
  const AllocatorStats before = gpu->allocator()->GetStats();
  std::vector<void*> blocks;
  for (size_t bytes : {size_t{1}, size_t{1000}, size_t{1} << 20, size_t{100} << 20}) {
    void* p = gpu->allocator()->AllocateRaw(256, bytes);
    REQUIRE(p != nullptr);
    CHECK(cudaMemsetAsync(p, 0, bytes, cuda_dev->streams().compute) == cudaSuccess);
    blocks.push_back(p);
  }
  CHECK(gpu->Sync().ok());
  CHECK(gpu->allocator()->GetStats().bytes_in_use > before.bytes_in_use);
  for (void* p : blocks) gpu->allocator()->DeallocateRaw(p);
  CHECK(gpu->allocator()->GetStats().bytes_in_use == before.bytes_in_use);
  Allocator* pinned = cuda_dev->pinned_allocator();
  CHECK(pinned->host_accessible());
  auto* host = static_cast<float*>(pinned->AllocateRaw(64, 4 * sizeof(float)));
  REQUIRE(host != nullptr);
  CHECK(gpu->CopyToHost(d->raw_data(), host, 4 * sizeof(float)).ok());
  CHECK(host[3] == 4.0f);
  pinned->DeallocateRaw(host);
}

}  // namespace
}  // namespace quiver
