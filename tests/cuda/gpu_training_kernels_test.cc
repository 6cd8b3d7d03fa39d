// GPU kernels for training graphs against the CPU kernels (the reference, itself tested):
// SparseSoftmaxCrossEntropyWithLogits, AssignAdd/AssignSub (with copy-on-write), EluGrad,
// FloorDiv/FloorMod with broadcasting, and DepthwiseConv2dNative (cuDNN grouped convolution).
// Same conventions as gpu_kernels_test.cc: without a GPU every case prints QUIVER_SKIPPED, and
// QUIVER_GPU_HARNESS_CHECK=1 runs the CPU references and constructs every GPU kernel.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "devices/device.h"
#include "devices/device_set.h"
#include "tests/cuda/gpu_test_harness.h"
#include "tests/devices/kernel_test_util.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

// CPU vs GPU (both paths) for one op: true when every output matches (mismatches and GPU
// errors are reported as found).
bool MatchesCpu(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                double rtol = 1e-5, double atol = 1e-5) {
  MatchOptions options;
  options.rtol = rtol;
  options.atol = atol;
  return gputest::MatchesCpu(op, attrs, inputs, options);
}

// The CPU kernel rejects `inputs` with a message containing `expect`; so must the GPU kernel
// (both paths).
bool FailsLikeCpu(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                  const std::string& expect) {
  CAPTURE(op, expect);
  auto cpu = testing::RunKernel(op, attrs, inputs);
  if (cpu.ok()) {
    FAIL_CHECK("the CPU reference accepted the input");
    return false;
  }
  CAPTURE(cpu.status().ToString());
  if (std::string(cpu.status().message()).find(expect) == std::string::npos) {
    FAIL_CHECK("unexpected CPU error");
    return false;
  }
  if (HarnessMode()) return GpuKernelConstructs(op, attrs, inputs);
  bool all_match = true;
  for (bool resident : {true, false}) {
    CAPTURE(resident);
    auto gpu = RunGpu(op, attrs, inputs, resident);
    if (gpu.ok()) {
      UNSCOPED_INFO("the GPU kernel accepted the input");
      all_match = false;
    } else if (std::string(gpu.status().message()).find(expect) == std::string::npos) {
      UNSCOPED_INFO("GPU error: " << gpu.status().ToString());
      all_match = false;
    }
  }
  return all_match;
}

// ---- SparseSoftmaxCrossEntropyWithLogits -------------------------------------------------------

template <typename L>
Tensor RandomLabels(int64_t n, int64_t classes, std::mt19937* rng) {
  std::vector<L> v(n);
  for (L& x : v) x = static_cast<L>(static_cast<int64_t>((*rng)() % classes));
  return Vec<L>(v);
}

TEST_CASE("GPU: SparseSoftmaxCrossEntropyWithLogits matches the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(21);
  for (const auto& [batch, classes] :
       std::vector<std::pair<int64_t, int64_t>>{{64, 10}, {3, 1}, {7, 1000}, {1, 2}, {0, 5}}) {
    CAPTURE(batch, classes);
    Tensor logits = Random({batch, classes}, &rng, -8.f, 8.f);
    CHECK(MatchesCpu("SparseSoftmaxCrossEntropyWithLogits", {},
                     {logits, RandomLabels<int32_t>(batch, classes, &rng)}));
    CHECK(MatchesCpu("SparseSoftmaxCrossEntropyWithLogits", {},
                     {logits, RandomLabels<int64_t>(batch, classes, &rng)}));
  }
  // Large logits: the max is subtracted before exp, so nothing overflows.
  Tensor big = Random({16, 12}, &rng, 500.f, 520.f);
  CHECK(MatchesCpu("SparseSoftmaxCrossEntropyWithLogits", {},
                   {big, RandomLabels<int64_t>(16, 12, &rng)}, 1e-5, 1e-4));
}

TEST_CASE("GPU: SparseSoftmaxCrossEntropyWithLogits rejects bad labels and shapes like the CPU",
          "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(22);
  Tensor logits = Random({4, 5}, &rng);
  const std::string range = "which is outside the valid range of [0, 5)";
  CHECK(FailsLikeCpu("SparseSoftmaxCrossEntropyWithLogits", {},
                     {logits, Vec<int32_t>({0, 4, 5, 1})}, "Received a label value of 5 " + range));
  CHECK(FailsLikeCpu("SparseSoftmaxCrossEntropyWithLogits", {},
                     {logits, Vec<int64_t>({0, -1, 2, 1})},
                     "Received a label value of -1 " + range));
  CHECK(FailsLikeCpu("SparseSoftmaxCrossEntropyWithLogits", {},
                     {logits, Vec<int64_t>({0, 1, 2, int64_t{1} << 40})}, range));
  CHECK(FailsLikeCpu("SparseSoftmaxCrossEntropyWithLogits", {}, {logits, Vec<int32_t>({0, 1, 2})},
                     "logits and labels must have the same first dimension"));
  CHECK(FailsLikeCpu("SparseSoftmaxCrossEntropyWithLogits", {},
                     {Random({4}, &rng), Vec<int32_t>({0, 1, 2, 3})}, "logits must be 2-D"));
}

// ---- AssignAdd / AssignSub ---------------------------------------------------------------------

// Runs `op` on a variable holding `initial` in CPU (mode 0), GPU resident (1) or GPU host-staged
// (2) mode. With `shared`, a reader holds the variable's value while the update runs: it must
// keep the old values (copy-on-write). Returns the variable's new value on the host, or an empty
// (invalid) tensor in harness mode (GPU modes) and after a failure (reported with FAIL_CHECK).
Tensor RunAssignUpdate(const std::string& op, const Tensor& initial, const Tensor& value, int mode,
                       bool shared) {
  CAPTURE(op, mode, shared);
  Graph graph;
  NodeSpec spec;
  spec.name = "var";
  spec.op = "VariableV2";
  spec.attrs["dtype"] = MakeAttr(DT_FLOAT);
  spec.attrs["shape"] = MakeAttr(initial.shape());
  auto var_node = graph.AddNode(std::move(spec));
  REQUIRE(var_node.ok());
  auto value_node = testing::AddConst(graph, "value", value);
  REQUIRE(value_node.ok());
  auto node =
      testing::AddOpNode(graph, op, {{"T", MakeAttr(DT_FLOAT)}, {"use_locking", MakeAttr(true)}},
                         {*var_node, *value_node});
  REQUIRE(node.ok());
  if (mode > 0) (*node)->set_assigned_device(LocalDeviceName(kGpu, 0));
  auto kernel = KernelRegistry::Global().CreateKernel(**node, mode == 0 ? kCpu : kGpu);
  if (!kernel.ok()) {
    FAIL_CHECK(kernel.status().ToString());
    return Tensor();
  }
  if (mode > 0 && HarnessMode()) return Tensor();
  auto run = [&]() -> absl::StatusOr<Tensor> {
    Device* gpu = mode > 0 ? Gpu0() : nullptr;
    if (mode > 0 && gpu == nullptr) return absl::InternalError("GPU:0 could not be created");
    Device* dev = mode == 1 ? gpu : nullptr;
    Variable var;
    ASSIGN_OR_RETURN(var.value, mode == 1 ? CopyTensor(initial, dev) : initial.Clone());
    Tensor reader;  // holds the pre-update buffer when `shared`
    if (shared) reader = var.value;
    std::vector<TensorValue> in(2);
    in[0].ref = &var;
    ASSIGN_OR_RETURN(in[1].tensor, mode == 1 ? CopyTensor(value, dev) : value.Clone());
    std::vector<TensorValue> out(1);
    StepResources resources;
    OpKernelContext ctx(**node, &in, &out, &resources, dev, kernel->get());
    RETURN_IF_ERROR((*kernel)->Compute(ctx));
    CHECK(out[0].ref == &var);
    if (gpu != nullptr) RETURN_IF_ERROR(gpu->Sync());
    if (shared) {
      CHECK_FALSE(reader.SharesBufferWith(var.value));
      ASSIGN_OR_RETURN(Tensor held,
                       mode == 1 ? CopyTensor(reader, Device::DefaultCpu(), gpu) : reader.Clone());
      fixture::Comparison c = fixture::CompareTensors(held, initial, 0, 0);
      if (!c.ok) FAIL_CHECK("the reader's tensor changed: " << c.message);
    }
    return mode == 1 ? CopyTensor(var.value, Device::DefaultCpu(), gpu) : var.value.Clone();
  };
  auto r = run();
  if (!r.ok()) {
    FAIL_CHECK(r.status().ToString());
    return Tensor();
  }
  return *r;
}

TEST_CASE("GPU: AssignAdd and AssignSub match the CPU, copy-on-write included", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(23);
  Tensor initial = Random({17, 9}, &rng), value = Random({17, 9}, &rng);
  for (const char* op : {"AssignAdd", "AssignSub"}) {
    for (bool shared : {false, true}) {
      Tensor cpu = RunAssignUpdate(op, initial, value, 0, shared);
      if (!cpu.valid()) continue;  // reported
      // Independent check of the reference: initial +- value, element by element.
      const float* a = initial.data<float>();
      const float* b = value.data<float>();
      const float* r = cpu.data<float>();
      for (int64_t i = 0; i < initial.num_elements(); ++i) {
        REQUIRE(r[i] == (std::string(op) == "AssignAdd" ? a[i] + b[i] : a[i] - b[i]));
      }
      for (int mode = 1; mode <= 2; ++mode) {
        Tensor gpu = RunAssignUpdate(op, initial, value, mode, shared);
        if (HarnessMode() || !gpu.valid()) continue;  // a failure is reported already
        fixture::Comparison c = fixture::CompareTensors(gpu, cpu, 0, 0);
        if (!c.ok) FAIL_CHECK(op << " mode " << mode << " shared " << shared << ": " << c.message);
      }
    }
  }
}

TEST_CASE("GPU: AssignAdd rejects a value of another shape like the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  for (const char* op : {"AssignAdd", "AssignSub"}) {
    for (int mode = 0; mode <= 2; ++mode) {
      CAPTURE(op, mode);
      Graph graph;
      NodeSpec spec;
      spec.name = "var";
      spec.op = "VariableV2";
      spec.attrs["dtype"] = MakeAttr(DT_FLOAT);
      spec.attrs["shape"] = MakeAttr(TensorShape{3});
      auto var_node = graph.AddNode(std::move(spec));
      REQUIRE(var_node.ok());
      auto value_node = testing::AddConst(graph, "value", Vec<float>({1.f, 2.f}));
      REQUIRE(value_node.ok());
      auto node =
          testing::AddOpNode(graph, op, {{"T", MakeAttr(DT_FLOAT)}}, {*var_node, *value_node});
      REQUIRE(node.ok());
      if (mode > 0) (*node)->set_assigned_device(LocalDeviceName(kGpu, 0));
      auto kernel = KernelRegistry::Global().CreateKernel(**node, mode == 0 ? kCpu : kGpu);
      if (!kernel.ok()) {
        FAIL_CHECK(kernel.status().ToString());
        continue;
      }
      if (mode > 0 && HarnessMode()) continue;
      Device* dev = mode == 1 ? Gpu0() : nullptr;
      if (mode == 1 && dev == nullptr) {
        FAIL_CHECK("GPU:0 could not be created");
        continue;
      }
      for (bool initialized : {false, true}) {
        CAPTURE(initialized);
        Variable var;
        if (initialized) {
          auto v0 = mode == 1 ? CopyTensor(Vec<float>({1.f, 2.f, 3.f}), dev)
                              : absl::StatusOr<Tensor>(Vec<float>({1.f, 2.f, 3.f}));
          if (!v0.ok()) {
            FAIL_CHECK(v0.status().ToString());
            continue;
          }
          var.value = *v0;
        }
        std::vector<TensorValue> in(2);
        in[0].ref = &var;
        auto val = mode == 1 ? CopyTensor(Vec<float>({1.f, 2.f}), dev)
                             : absl::StatusOr<Tensor>(Vec<float>({1.f, 2.f}));
        if (!val.ok()) {
          FAIL_CHECK(val.status().ToString());
          continue;
        }
        in[1].tensor = *val;
        std::vector<TensorValue> out(1);
        StepResources resources;
        OpKernelContext ctx(**node, &in, &out, &resources, dev, kernel->get());
        absl::Status s = (*kernel)->Compute(ctx);
        CHECK_FALSE(s.ok());
        const std::string want =
            initialized ? "cannot be" : "Attempting to use uninitialized value";
        CHECK_THAT(std::string(s.message()), Catch::Contains(want));
      }
    }
  }
}

// ---- EluGrad, FloorDiv, FloorMod ---------------------------------------------------------------

TEST_CASE("GPU: EluGrad, FloorDiv and FloorMod (broadcasting) match the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(24);
  // EluGrad(gradients, outputs): outputs of an ELU lie in (-1, inf).
  Tensor g = Random({8, 9}, &rng, -2.f, 2.f), y = Random({8, 9}, &rng, -0.99f, 3.f);
  CHECK(MatchesCpu("EluGrad", {}, {g, y}, 0, 0));
  CHECK(FailsLikeCpu("EluGrad", {}, {g, Random({9}, &rng)}, "must have the same shape"));
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{4, 5}, {4, 5}},    {{4, 5}, {5}}, {{4, 1}, {1, 5}},
      {{2, 3, 4}, {3, 1}}, {{}, {3, 2}},  {{6, 1, 7}, {1, 5, 1}}};
  for (const auto& [xs, ys] : shapes) {
    CAPTURE(xs, ys);
    Tensor x = Random(xs, &rng, -9.f, 9.f);
    // Divisors of both signs, kept away from 0.
    Tensor d = Random(ys, &rng, 0.5f, 3.f);
    float* dp = d.data<float>();
    for (int64_t i = 0; i < d.num_elements(); ++i) {
      if (rng() % 2) dp[i] = -dp[i];
    }
    CHECK(MatchesCpu("FloorDiv", {}, {x, d}, 0, 0));
    CHECK(MatchesCpu("FloorMod", {}, {x, d}, 1e-6, 1e-6));
  }
  // Exact multiples, zeros and hand-picked signs.
  Tensor a = Vec<float>({7.f, -7.f, 7.f, -7.f, 6.f, -6.f, 0.f, 5.5f, -5.5f});
  Tensor b = Vec<float>({2.f, 2.f, -2.f, -2.f, 3.f, 3.f, -3.f, 2.f, -2.f});
  CHECK(MatchesCpu("FloorDiv", {}, {a, b}, 0, 0));
  CHECK(MatchesCpu("FloorMod", {}, {a, b}, 0, 0));
}

// ---- DepthwiseConv2dNative ---------------------------------------------------------------------

AttrMap DepthwiseAttrs(const std::string& padding, int64_t stride_h, int64_t stride_w,
                       int64_t dilation = 1, std::vector<int64_t> explicit_pads = {}) {
  AttrMap a = {{"strides", MakeAttr(std::vector<int64_t>{1, stride_h, stride_w, 1})},
               {"padding", MakeAttr(padding)},
               {"dilations", MakeAttr(std::vector<int64_t>{1, dilation, dilation, 1})}};
  if (!explicit_pads.empty()) a["explicit_paddings"] = MakeAttr(explicit_pads);
  return a;
}

TEST_CASE("GPU: DepthwiseConv2dNative (cuDNN grouped convolution) matches the CPU", "[gpu]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(25);
  struct Case {
    std::vector<int64_t> input, filter;
    AttrMap attrs;
  };
  const std::vector<Case> cases = {
      {{2, 9, 8, 3}, {3, 3, 3, 1}, DepthwiseAttrs("SAME", 1, 1)},
      {{2, 9, 8, 3}, {3, 3, 3, 2}, DepthwiseAttrs("SAME", 2, 2)},  // multiplier 2, SAME stride 2
      {{2, 10, 7, 4}, {3, 3, 4, 3}, DepthwiseAttrs("SAME", 2, 2)},
      {{1, 9, 9, 5}, {3, 2, 5, 2}, DepthwiseAttrs("SAME", 2, 1)},  // asymmetric SAME padding
      {{2, 8, 8, 2}, {2, 2, 2, 4}, DepthwiseAttrs("SAME", 1, 1)},  // even kernel
      {{2, 9, 8, 3}, {3, 3, 3, 2}, DepthwiseAttrs("VALID", 1, 1)},
      {{2, 11, 9, 3}, {3, 3, 3, 1}, DepthwiseAttrs("VALID", 2, 3)},
      {{1, 12, 12, 4}, {3, 3, 4, 2}, DepthwiseAttrs("SAME", 1, 1, 2)},  // dilation 2
      {{1, 12, 11, 2}, {3, 3, 2, 3}, DepthwiseAttrs("VALID", 1, 1, 2)},
      {{2, 7, 6, 3}, {3, 3, 3, 2}, DepthwiseAttrs("EXPLICIT", 1, 1, 1, {0, 0, 1, 2, 0, 1, 0, 0})},
      {{1, 8, 8, 32}, {5, 5, 32, 1}, DepthwiseAttrs("SAME", 1, 1)},  // MobileNet-like
  };
  for (const Case& c : cases) {
    CAPTURE(c.input, c.filter);
    CHECK(MatchesCpu("DepthwiseConv2dNative", c.attrs,
                     {Random(c.input, &rng), Random(c.filter, &rng)}, 1e-4, 1e-4));
  }
  // Empty problems: no batch, and a zero multiplier.
  CHECK(MatchesCpu("DepthwiseConv2dNative", DepthwiseAttrs("SAME", 1, 1),
                   {Random({0, 5, 5, 3}, &rng), Random({3, 3, 3, 2}, &rng)}));
  CHECK(MatchesCpu("DepthwiseConv2dNative", DepthwiseAttrs("SAME", 1, 1),
                   {Random({1, 5, 5, 3}, &rng), Random({3, 3, 3, 0}, &rng)}));
  // The filter's in_channels must be the input depth.
  CHECK(FailsLikeCpu("DepthwiseConv2dNative", DepthwiseAttrs("SAME", 1, 1),
                     {Random({1, 5, 5, 3}, &rng), Random({3, 3, 2, 1}, &rng)},
                     "must equal the filter's in_channels"));
}

}  // namespace
}  // namespace quiver
