// FusedBatchNormGrad / V2 / V3 on the GPU against the CPU kernel (the reference, itself tested
// against TensorFlow's values in tests/devices/batch_norm_grad_test.cc), and the cuDNN
// convolution cases gpu_kernels_test.cc leaves out (grouped, EXPLICIT). Same conventions as
// gpu_kernels_test.cc: without a GPU every case prints QUIVER_SKIPPED, and
// QUIVER_GPU_HARNESS_CHECK=1 runs the CPU references and constructs every GPU kernel.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "tests/cuda/gpu_test_harness.h"
#include "tests/devices/kernel_test_util.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

TEST_CASE("GPU: FusedBatchNormGrad (training and inference) matches the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(21);
  struct Case {
    const char* op;
    std::string format;
    std::vector<int64_t> shape;
  };
  // Shapes with more samples per channel than a block has threads exercise the reduction.
  const std::vector<Case> cases = {
      {"FusedBatchNormGrad", "NHWC", {2, 3, 4, 5}},
      {"FusedBatchNormGradV2", "NCHW", {2, 5, 3, 4}},
      {"FusedBatchNormGradV3", "NHWC", {4, 9, 10, 3}},
      {"FusedBatchNormGradV3", "NCHW", {4, 3, 9, 10}},
      {"FusedBatchNormGradV3", "NDHWC", {2, 3, 2, 4, 6}},
      {"FusedBatchNormGradV3", "NCDHW", {2, 6, 3, 2, 4}},
      {"FusedBatchNormGradV3", "NHWC", {0, 2, 2, 3}},  // no samples: zero sums
  };
  for (const Case& k : cases) {
    for (bool training : {true, false}) {
      CAPTURE(k.op, k.format, training);
      const int64_t c = k.format[1] == 'C' ? k.shape[1] : k.shape.back();
      AttrMap attrs = {{"epsilon", MakeAttr(0.001f)},
                       {"data_format", MakeAttr(k.format)},
                       {"is_training", MakeAttr(training)}};
      if (std::string(k.op) != "FusedBatchNormGrad") attrs["U"] = MakeAttr(DT_FLOAT);
      std::vector<Tensor> inputs = {Random(k.shape, &rng), Random(k.shape, &rng, -2.f, 3.f),
                                    Random({c}, &rng, 0.5f, 2.f), Random({c}, &rng, -0.5f, 1.f),
                                    Random({c}, &rng, 0.5f, 2.f)};
      if (std::string(k.op) == "FusedBatchNormGradV3") inputs.push_back(Random({}, &rng));
      MatchOptions options;
      options.rtol = 1e-4;
      options.atol = 1e-4;
      CHECK(MatchesCpu(k.op, attrs, inputs, options));
    }
  }
}

// Grouped Conv2D (cuDNN group count with NHWC [OC, KH, KW, C/G] filters) and both backprops,
// which gpu_kernels_test.cc covers only ungrouped; EXPLICIT padding (symmetric: cuDNN's own
// padding; asymmetric: the zero-padded copy); and Conv2DBackpropInput's spatial-only
// input_sizes [H, W].
TEST_CASE("GPU: grouped and EXPLICIT-padded Conv2D and its backprops match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(31);
  auto attrs_for = [](const std::string& padding, int64_t stride, int64_t dilation,
                      std::vector<int64_t> pads) {
    AttrMap a = {{"strides", MakeAttr(std::vector<int64_t>{1, stride, stride, 1})},
                 {"dilations", MakeAttr(std::vector<int64_t>{1, dilation, dilation, 1})},
                 {"padding", MakeAttr(padding)}};
    if (!pads.empty()) a["explicit_paddings"] = MakeAttr(pads);
    return a;
  };
  struct Case {
    std::vector<int64_t> x, f;
    AttrMap attrs;
  };
  const std::vector<Case> cases = {
      {{2, 7, 6, 4}, {3, 3, 2, 6}, attrs_for("SAME", 1, 1, {})},   // 2 groups
      {{2, 8, 7, 4}, {2, 2, 2, 4}, attrs_for("SAME", 2, 1, {})},   // 2 groups, asymmetric SAME
      {{1, 9, 9, 6}, {3, 3, 2, 6}, attrs_for("VALID", 1, 2, {})},  // 3 groups, dilation 2
      {{2, 6, 5, 3}, {3, 3, 3, 4}, attrs_for("EXPLICIT", 1, 1, {0, 0, 1, 1, 2, 2, 0, 0})},
      {{2, 6, 5, 3}, {3, 3, 3, 4}, attrs_for("EXPLICIT", 2, 1, {0, 0, 2, 0, 0, 1, 0, 0})},
  };
  MatchOptions options;
  options.rtol = 1e-4;
  options.atol = 1e-4;
  MatchOptions input_sizes_on_host = options;
  input_sizes_on_host.host_inputs = {0};
  MatchOptions filter_sizes_on_host = options;
  filter_sizes_on_host.rtol = 1e-4;
  filter_sizes_on_host.atol = 1e-3;
  filter_sizes_on_host.host_inputs = {1};
  for (const Case& c : cases) {
    CAPTURE(c.x, c.f);
    Tensor x = Random(c.x, &rng), f = Random(c.f, &rng);
    CHECK(MatchesCpu("Conv2D", c.attrs, {x, f}, options));
    auto y = testing::RunKernel("Conv2D", c.attrs, {x, f});
    REQUIRE(y.ok());
    Tensor dy = Random((*y)[0].shape().dims(), &rng);
    std::vector<int32_t> xs(c.x.begin(), c.x.end()), fs(c.f.begin(), c.f.end());
    CHECK(
        MatchesCpu("Conv2DBackpropInput", c.attrs, {Vec<int32_t>(xs), f, dy}, input_sizes_on_host));
    CHECK(MatchesCpu("Conv2DBackpropInput", c.attrs,
                     {Vec<int32_t>({xs[1], xs[2]}), f, dy},  // spatial-only input_sizes
                     input_sizes_on_host));
    CHECK(MatchesCpu("Conv2DBackpropFilter", c.attrs, {x, Vec<int32_t>(fs), dy},
                     filter_sizes_on_host));
  }
}

// BatchMatMulV2 where a batch dim of 0 meets a broadcast 1: the output batch is 0 (not 1), so
// nothing may read the empty operand.
TEST_CASE("GPU: BatchMatMulV2 broadcasting an empty batch matches the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(32);
  const AttrMap attrs = {{"adj_x", MakeAttr(false)}, {"adj_y", MakeAttr(false)}};
  MatchOptions options;
  options.rtol = 1e-4;
  options.atol = 1e-4;
  CHECK(MatchesCpu("BatchMatMulV2", attrs, {Random({0, 2, 3}, &rng), Random({1, 3, 4}, &rng)},
                   options));
  CHECK(MatchesCpu("BatchMatMulV2", attrs, {Random({2, 1, 2, 3}, &rng), Random({1, 0, 3, 4}, &rng)},
                   options));
}

}  // namespace
}  // namespace quiver
