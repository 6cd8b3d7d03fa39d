// _FusedConv2D's GPU kernel against the CPU's fused kernel (oneDNN with the bias and activation
// as post-ops), each case with the cuDNN switch (devices/cuda/kernels/cudnn_paths.h) on and off.
// On: [BiasAdd] and [BiasAdd, Relu] may run as one cudnnConvolutionBiasActivationForward call
// (CudnnFusedConvHitsForTesting counts them, two per MatchesCpu: the resident and the staged
// run); [BiasAdd, Relu6] never does (cuDNN's fused call has no such activation: the
// convolution and our bias/activation kernels run instead). Off: never. For [BiasAdd, Relu] on
// plain symmetric-padding problems the fused call must have run; for the rest (IDENTITY, which
// cuDNN takes only with one algorithm; dilation; groups; the asymmetric-SAME pre-pad path) the
// outcome is printed, and the fallback must match the CPU either way.
//
// No NaN inputs: the CPU reference (oneDNN's relu post-op) turns NaN into 0, the fused cuDNN call
// (CUDNN_NOT_PROPAGATE_NAN) promises nothing documented, and the fallback's Relu keeps NaN (as
// the Relu op does): no single answer to test.
//
// Same conventions as gpu_kernels_test.cc: without a GPU every case prints QUIVER_SKIPPED, and
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

struct Case {
  const char* label;
  std::vector<int64_t> x, f;  // NHWC input, [KH, KW, C/G, OC] filter
  std::string padding;
  int64_t stride;
  int64_t dilation;
  bool must_fuse;  // [BiasAdd, Relu] with the switch on must run the fused cuDNN call
};

AttrMap FusedAttrs(const Case& c, const std::vector<std::string>& ops) {
  return {{"strides", MakeAttr(std::vector<int64_t>{1, c.stride, c.stride, 1})},
          {"dilations", MakeAttr(std::vector<int64_t>{1, c.dilation, c.dilation, 1})},
          {"padding", MakeAttr(c.padding)},
          {"fused_ops", MakeAttr(ops)},
          {"num_args", MakeAttr(int64_t{1})}};
}

TEST_CASE("GPU: _FusedConv2D on cuDNN's fused call and on the fallback matches the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(71);
  const std::vector<Case> cases = {
      // Symmetric padding: SAME 3x3 stride 1 pads 1/1; stride 2 over 9 pads 1/1.
      {"SAME 3x3 s1", {2, 7, 7, 3}, {3, 3, 3, 4}, "SAME", 1, 1, true},
      {"VALID 3x3 s1", {2, 8, 9, 5}, {3, 3, 5, 6}, "VALID", 1, 1, true},
      {"SAME 3x3 s2 (pads 1/1)", {2, 9, 9, 3}, {3, 3, 3, 4}, "SAME", 2, 1, true},
      {"VALID 2x2 s2", {1, 10, 11, 4}, {2, 2, 4, 3}, "VALID", 2, 1, true},
      {"1x1", {2, 5, 5, 8}, {1, 1, 8, 16}, "VALID", 1, 1, true},
      // Dilation 2 (3x3 spans 5: SAME pads 2/2) and groups (C = 4, filter depth 2): cuDNN may
      // or may not fuse them.
      {"SAME 3x3 dilation 2", {2, 9, 9, 3}, {3, 3, 3, 4}, "SAME", 1, 2, false},
      {"grouped (2 groups)", {2, 6, 6, 4}, {3, 3, 2, 6}, "SAME", 1, 1, false},
      // Asymmetric SAME (the input is copied into a zero-padded buffer first): 2x2 stride 1
      // pads 0/1; 3x3 stride 2 over 8 pads 0/1.
      {"SAME 2x2 s1 (pads 0/1)", {2, 8, 8, 3}, {2, 2, 3, 5}, "SAME", 1, 1, false},
      {"SAME 3x3 s2 (pads 0/1)", {1, 8, 8, 3}, {3, 3, 3, 4}, "SAME", 2, 1, false},
  };
  CudnnPathsRestorer restore;
  for (const Case& c : cases) {
    const Tensor x = Random(c.x, &rng, -3.f, 3.f);
    const Tensor f = Random(c.f, &rng);
    const Tensor bias = Random({c.f[3]}, &rng);
    for (const std::vector<std::string>& ops : std::vector<std::vector<std::string>>{
             {"BiasAdd"}, {"BiasAdd", "Relu"}, {"BiasAdd", "Relu6"}}) {
      const bool cudnn_act = ops.size() == 1 || ops[1] == "Relu";
      for (bool on : {true, false}) {
        CAPTURE(c.label, ops, on);
        cuda::SetUseCudnnPathsForTesting(on);
        const int64_t before = cuda::CudnnFusedConvHitsForTesting();
        CHECK(MatchesCpu("_FusedConv2D", FusedAttrs(c, ops), {x, f, bias},
                         MatchOptions{1e-4, 1e-4, {}, false}));
        if (HarnessMode()) continue;
        const int64_t hits = cuda::CudnnFusedConvHitsForTesting() - before;
        std::cout << "fused conv: " << c.label << " [" << ops.back() << "], switch "
                  << (on ? "on" : "off") << ": "
                  << (hits > 0 ? "cudnnConvolutionBiasActivationForward"
                               : "convolution + our bias/activation kernels")
                  << " (" << hits << " fused runs)" << std::endl;
        if (!on || !cudnn_act) {
          CHECK(hits == 0);
        } else if (c.must_fuse && ops.size() == 2) {
          CHECK(hits == 2);
        } else {
          // Either path, but the same one for both runs (the decision is remembered).
          const bool same_path_twice = hits == 0 || hits == 2;
          CHECK(same_path_twice);
        }
      }
    }
  }
}

// The fallback's memory: a problem the fused call declined stays on the plain path, and the
// switch turned off and on again changes nothing for problems it took (the cached algorithm).
TEST_CASE("GPU: _FusedConv2D gives the same result on repeated runs with the switch toggled",
          "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(72);
  const Case c = {"SAME 3x3 s1", {1, 6, 6, 2}, {3, 3, 2, 3}, "SAME", 1, 1, true};
  const Tensor x = Random(c.x, &rng, -3.f, 3.f);
  const Tensor f = Random(c.f, &rng);
  const Tensor bias = Random({c.f[3]}, &rng);
  CudnnPathsRestorer restore;
  for (bool on : {true, false, true}) {
    CAPTURE(on);
    cuda::SetUseCudnnPathsForTesting(on);
    CHECK(MatchesCpu("_FusedConv2D", FusedAttrs(c, {"BiasAdd", "Relu"}), {x, f, bias},
                     MatchOptions{1e-4, 1e-4, {}, false}));
  }
}

}  // namespace
}  // namespace quiver
