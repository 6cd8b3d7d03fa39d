// The cuDNN paths of MaxPool/AvgPool, Softmax/LogSoftmax and FusedBatchNorm inference
// (devices/cuda/kernels/cudnn_paths.h) against the CPU kernels, each case run with the cuDNN
// switch on and off (our kernels), so both GPU implementations meet the same reference. Shapes
// meant for cuDNN must take it when the switch is on (CudnnPathHitsForTesting counts, two per
// case: MatchesCpu runs the resident and the staged path); shapes cuDNN cannot express exactly
// (asymmetric SAME padding, 5-D batch norm, training, empty tensors) must not. Same conventions
// as gpu_kernels_test.cc: without a GPU every case prints QUIVER_SKIPPED, and
// QUIVER_GPU_HARNESS_CHECK=1 runs the CPU references and constructs every GPU kernel (no hit
// checks: nothing runs on a GPU).
#include <catch2/catch.hpp>

#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "devices/cuda/kernels/cudnn_paths.h"
#include "tests/cuda/gpu_test_harness.h"
#include "tests/devices/kernel_test_util.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

// MatchesCpu with the switch on, then off; with it on (on a GPU), checks that cuDNN ran for both
// GPU runs when `want_cudnn`, and never otherwise; with it off, that it never ran.
void CheckBothPaths(const std::string& label, const std::string& op, const AttrMap& attrs,
                    const std::vector<Tensor>& inputs, bool want_cudnn, double rtol = 1e-5,
                    double atol = 1e-5, const std::vector<int>& host_inputs = {}) {
  CudnnPathsRestorer restore;
  MatchOptions options;
  options.rtol = rtol;
  options.atol = atol;
  options.host_inputs = host_inputs;
  for (bool on : {true, false}) {
    CAPTURE(label, op, on, want_cudnn);
    cuda::SetUseCudnnPathsForTesting(on);
    const int64_t before = cuda::CudnnPathHitsForTesting();
    CHECK(MatchesCpu(op, attrs, inputs, options));
    if (HarnessMode()) continue;
    const int64_t hits = cuda::CudnnPathHitsForTesting() - before;
    std::cout << "cudnn paths: " << op << " " << label << ", switch " << (on ? "on" : "off") << ": "
              << (hits > 0 ? "cuDNN" : "our kernel") << " (" << hits << " cuDNN runs)" << std::endl;
    CHECK(hits == (on && want_cudnn ? 2 : 0));
  }
}

// The assertion at the call sites (CHECKs inside CheckBothPaths).
#define CHECK_BOTH_PATHS(...) CheckBothPaths(__VA_ARGS__)

AttrMap PoolAttrs(int64_t kh, int64_t kw, int64_t sh, int64_t sw, const std::string& padding,
                  std::vector<int64_t> explicit_pads = {}) {
  AttrMap a = {{"ksize", MakeAttr(std::vector<int64_t>{1, kh, kw, 1})},
               {"strides", MakeAttr(std::vector<int64_t>{1, sh, sw, 1})},
               {"padding", MakeAttr(padding)}};
  if (!explicit_pads.empty()) a["explicit_paddings"] = MakeAttr(explicit_pads);
  return a;
}

TEST_CASE("GPU: MaxPool/AvgPool on cuDNN (symmetric windows) and on our kernels match the CPU",
          "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(41);
  struct Case {
    const char* label;
    std::vector<int64_t> x;
    AttrMap attrs;
    bool cudnn;     // the padding is symmetric: cuDNN when the switch is on
    bool max_only;  // EXPLICIT padding: MaxPool only (AvgPool takes SAME/VALID)
  };
  const std::vector<Case> cases = {
      {"SAME 3x3/2 (pads 1,1)", {2, 9, 7, 3}, PoolAttrs(3, 3, 2, 2, "SAME"), true, false},
      {"VALID 2x2/2", {2, 9, 7, 3}, PoolAttrs(2, 2, 2, 2, "VALID"), true, false},
      {"SAME 3x3/1", {1, 8, 8, 4}, PoolAttrs(3, 3, 1, 1, "SAME"), true, false},
      {"SAME 3x2/(1,2)", {2, 10, 8, 5}, PoolAttrs(3, 2, 1, 2, "SAME"), true, false},
      {"VALID 2x2/2 large", {4, 32, 32, 16}, PoolAttrs(2, 2, 2, 2, "VALID"), true, false},
      {"SAME 3x3/2 33x33", {2, 33, 33, 8}, PoolAttrs(3, 3, 2, 2, "SAME"), true, false},
      {"EXPLICIT 1,1,1,1 3x3/2",
       {2, 9, 7, 3},
       PoolAttrs(3, 3, 2, 2, "EXPLICIT", {0, 0, 1, 1, 1, 1, 0, 0}),
       true,
       true},
      // Our kernels: asymmetric SAME (odd total padding), asymmetric EXPLICIT, windows that
      // can lie wholly in the padding, and an empty batch.
      {"SAME 2x2/2 (pads 0,1)", {2, 9, 7, 3}, PoolAttrs(2, 2, 2, 2, "SAME"), false, false},
      {"SAME 2x2/1 (pads 0,1)", {2, 6, 6, 3}, PoolAttrs(2, 2, 1, 1, "SAME"), false, false},
      {"EXPLICIT 1,0,0,1",
       {2, 6, 6, 3},
       PoolAttrs(2, 2, 1, 1, "EXPLICIT", {0, 0, 1, 0, 0, 1, 0, 0}),
       false,
       true},
      {"EXPLICIT pad 2 >= 2x2 window",
       {1, 5, 5, 2},
       PoolAttrs(2, 2, 1, 1, "EXPLICIT", {0, 0, 2, 2, 2, 2, 0, 0}),
       false,
       true},
      {"empty batch", {0, 4, 4, 3}, PoolAttrs(2, 2, 2, 2, "VALID"), false, false},
  };
  for (const Case& k : cases) {
    Tensor x = Random(k.x, &rng, -3.f, 3.f);
    CHECK_BOTH_PATHS(k.label, "MaxPool", k.attrs, {x}, k.cudnn);
    if (!k.max_only) CHECK_BOTH_PATHS(k.label, "AvgPool", k.attrs, {x}, k.cudnn);
  }
  // The gradients stay on our kernels whatever the padding.
  Tensor x = Random({2, 9, 7, 3}, &rng);
  const AttrMap attrs = PoolAttrs(3, 3, 2, 2, "SAME");
  auto y = testing::RunKernel("MaxPool", attrs, {x});
  REQUIRE(y.ok());
  Tensor dy = Random((*y)[0].shape().dims(), &rng);
  CHECK_BOTH_PATHS("SAME 3x3/2 grad", "MaxPoolGrad", attrs, {x, (*y)[0], dy}, false);
  CHECK_BOTH_PATHS("SAME 3x3/2 grad", "AvgPoolGrad", attrs, {Vec<int32_t>({2, 9, 7, 3}), dy}, false,
                   1e-5, 1e-5, {0});
}

TEST_CASE("GPU: Softmax/LogSoftmax on cuDNN and on our kernel match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(42);
  struct Case {
    const char* label;
    Tensor x;
    bool cudnn;
    double rtol, atol;
  };
  // Long rows with large magnitudes: row 0 moderate, row 1 spread over [-1000, 1000] (one
  // dominant term), row 2 offset by 1e4 (the max subtraction must be exact), row 3 all equal.
  std::vector<float> long_rows(4 * 10000);
  {
    std::uniform_real_distribution<float> small(-5.f, 5.f), wide(-1000.f, 1000.f);
    for (int64_t i = 0; i < 10000; ++i) {
      long_rows[i] = small(rng);
      long_rows[10000 + i] = wide(rng);
      long_rows[20000 + i] = 1e4f + small(rng);
      long_rows[30000 + i] = 7.f;
    }
  }
  const std::vector<Case> cases = {
      {"[64,10]", Random({64, 10}, &rng, -5.f, 5.f), true, 1e-5, 1e-5},
      {"long rows [4,10000]", Tensor::FromVector<float>(long_rows, TensorShape{4, 10000}), true,
       1e-4, 1e-5},
      {"rank 1 [37]", Random({37}, &rng, -5.f, 5.f), true, 1e-5, 1e-5},
      {"rank 3 [3,5,17]", Random({3, 5, 17}, &rng, -5.f, 5.f), true, 1e-5, 1e-5},
      {"one column [6,1]", Random({6, 1}, &rng, -5.f, 5.f), true, 1e-5, 1e-5},
      {"many rows [70000,3]", Random({70000, 3}, &rng, -5.f, 5.f), true, 1e-5, 1e-5},
      // Empty tensors: our kernel (cuDNN's descriptors take no zero sizes).
      {"empty rows [0,5]", Random({0, 5}, &rng), false, 1e-5, 1e-5},
      {"empty cols [3,0]", Random({3, 0}, &rng), false, 1e-5, 1e-5},
  };
  for (const Case& k : cases) {
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      CHECK_BOTH_PATHS(k.label, op, {}, {k.x}, k.cudnn, k.rtol, k.atol);
    }
  }
}

TEST_CASE("GPU: FusedBatchNorm inference on cuDNN, training and 5-D on our kernel, match the CPU",
          "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(43);
  struct Case {
    const char* op;
    std::string format;
    std::vector<int64_t> x;
    bool training;
    float factor;
    float epsilon;
    bool cudnn;
  };
  const std::vector<Case> cases = {
      {"FusedBatchNormV3", "NHWC", {4, 5, 6, 3}, false, 1.f, 1e-3f, true},
      {"FusedBatchNormV3", "NCHW", {4, 5, 6, 3}, false, 1.f, 1e-3f, true},
      {"FusedBatchNormV3", "NHWC", {8, 16, 16, 32}, false, 0.3f, 1e-5f, true},
      {"FusedBatchNormV2", "NHWC", {2, 7, 7, 16}, false, 1.f, 1e-3f, true},
      {"FusedBatchNorm", "NCHW", {2, 8, 3, 3}, false, 1.f, 1e-4f, true},
      // Our kernel: 5-D formats, training (see cudnn_paths.h), an empty batch.
      {"FusedBatchNormV3", "NDHWC", {2, 3, 4, 5, 3}, false, 1.f, 1e-3f, false},
      {"FusedBatchNormV3", "NCDHW", {2, 3, 4, 5, 3}, false, 1.f, 1e-3f, false},
      {"FusedBatchNormV3", "NHWC", {4, 5, 6, 3}, true, 1.f, 1e-3f, false},
      {"FusedBatchNormV3", "NCHW", {4, 5, 6, 3}, true, 0.3f, 1e-3f, false},
      {"FusedBatchNormV3", "NHWC", {0, 4, 4, 3}, false, 1.f, 1e-3f, false},
  };
  for (const Case& k : cases) {
    const int64_t c = k.format[1] == 'C' ? k.x[1] : k.x.back();
    AttrMap attrs = {{"epsilon", MakeAttr(k.epsilon)},
                     {"exponential_avg_factor", MakeAttr(k.factor)},
                     {"data_format", MakeAttr(k.format)},
                     {"is_training", MakeAttr(k.training)}};
    if (std::string(k.op) != "FusedBatchNorm") attrs["U"] = MakeAttr(DT_FLOAT);
    const std::string label =
        k.format + (k.training ? " training " : " inference ") + TensorShape(k.x).DebugString();
    CHECK_BOTH_PATHS(label, k.op, attrs,
                     {Random(k.x, &rng, -2.f, 3.f), Random({c}, &rng, 0.5f, 2.f), Random({c}, &rng),
                      Random({c}, &rng), Random({c}, &rng, 0.5f, 2.f)},
                     k.cudnn, 1e-4, 1e-4);
  }
}

}  // namespace
}  // namespace quiver
