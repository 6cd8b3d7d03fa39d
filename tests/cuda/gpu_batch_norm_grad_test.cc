// FusedBatchNormGrad / V2 / V3 on the GPU against the CPU kernel (the reference, itself tested
// against TensorFlow's values in tests/devices/batch_norm_grad_test.cc). Same conventions as
// gpu_kernels_test.cc: without a GPU every case prints QUIVER_SKIPPED, and
// QUIVER_GPU_HARNESS_CHECK=1 runs the CPU references and constructs every GPU kernel.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "tests/cuda/gpu_test_harness.h"

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

}  // namespace
}  // namespace quiver
