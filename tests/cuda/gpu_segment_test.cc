// The GPU UnsortedSegmentSum kernel (devices/cuda/kernels/gpu_segment_ops.cc) against the CPU
// kernel (the reference, tested against hand-derived sums in tests/devices/segment_ops_test.cc):
// repeated, negative and out-of-range ids, rank-2 ids, int32/int64 ids and num_segments, empty
// inputs, and a larger sum with many collisions (atomicAdd). Like the other GPU tests: label
// `gpu`, QUIVER_SKIPPED without a GPU, and QUIVER_GPU_HARNESS_CHECK=1 runs the CPU references and
// constructs the GPU kernel (bad ids are also run through the GPU kernel on the host: they fail
// before its first CUDA call).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "devices/device_set.h"
#include "graph/builder.h"
#include "graph/optimizers.h"
#include "passes/placement_report.h"
#include "tests/cuda/gpu_test_harness.h"
#include "tests/devices/kernel_test_util.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

// Float sums in a different order (atomicAdd): close, not bit-equal.
bool SegmentSumMatches(const std::vector<Tensor>& inputs) {
  MatchOptions options;
  options.rtol = 1e-5;
  options.atol = 1e-5;
  options.host_inputs = {2};  // num_segments is HostMemory
  return MatchesCpu("UnsortedSegmentSum", {}, inputs, options);
}

TEST_CASE("GPU UnsortedSegmentSum matches the CPU", "[gpu][segment]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(31);
  Tensor data = Random({5, 3}, &rng);
  CHECK(SegmentSumMatches({data, Vec<int32_t>({2, 0, 2, -1, 0}), Tensor::Scalar<int32_t>(4)}));
  CHECK(SegmentSumMatches({data, Vec<int64_t>({1, 1, 1, 1, 1}), Tensor::Scalar<int64_t>(2)}));
  CHECK(SegmentSumMatches({data, Vec<int32_t>({-1, -1, -5, -1, -2}), Tensor::Scalar<int32_t>(3)}));
  // Rank-2 ids over [2, 3, 4] data; ids of data's full shape (scalar rows).
  Tensor d3 = Random({2, 3, 4}, &rng);
  CHECK(SegmentSumMatches({d3, Tensor::FromVector<int32_t>({0, 3, 0, -1, 3, 1}, TensorShape{2, 3}),
                           Tensor::Scalar<int32_t>(5)}));
  std::vector<int64_t> per_element(24);
  for (int i = 0; i < 24; ++i) per_element[i] = (i * 7) % 5 - 1;  // includes -1
  CHECK(SegmentSumMatches({d3, Tensor::FromVector<int64_t>(per_element, TensorShape{2, 3, 4}),
                           Tensor::Scalar<int32_t>(4)}));
  // int16 ids (in device memory when resident), int64 num_segments.
  CHECK(SegmentSumMatches({data, Vec<int16_t>({3, -1, 0, 3, 1}), Tensor::Scalar<int64_t>(5)}));
  // Empty: no ids (zeros), no segments (empty output).
  CHECK(SegmentSumMatches({Random({0, 3}, &rng), Vec<int32_t>({}), Tensor::Scalar<int32_t>(2)}));
  CHECK(SegmentSumMatches({Random({2}, &rng), Vec<int32_t>({-1, -1}), Tensor::Scalar<int32_t>(0)}));
  // Many collisions: 4096 rows of 33 into 7 segments.
  Tensor big = Random({4096, 33}, &rng);
  std::vector<int32_t> ids(4096);
  for (int i = 0; i < 4096; ++i) ids[i] = static_cast<int32_t>((i * 2654435761u) % 8) - 1;
  CHECK(SegmentSumMatches({big, Vec<int32_t>(ids), Tensor::Scalar<int32_t>(7)}));
}

TEST_CASE("GPU UnsortedSegmentSum rejects ids out of range like the CPU", "[gpu][segment]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(32);
  const std::vector<Tensor> inputs = {Random({3, 2}, &rng), Vec<int32_t>({0, 4, 1}),
                                      Tensor::Scalar<int32_t>(4)};
  auto cpu = testing::RunKernel("UnsortedSegmentSum", {}, inputs);
  REQUIRE_FALSE(cpu.ok());
  const std::string want(cpu.status().message());
  CAPTURE(want);
  CHECK(want.find("segment_ids[1] = 4 is out of range [0, 4)") != std::string::npos);
  if (HarnessMode()) {
    auto host = RunGpu(nullptr, "UnsortedSegmentSum", {}, inputs, false, {2});
    CHECK_FALSE(host.ok());
    if (!host.ok()) CHECK(std::string(host.status().message()) == want);
    return;
  }
  for (bool resident : {true, false}) {
    CAPTURE(resident);
    auto gpu = RunGpu("UnsortedSegmentSum", {}, inputs, resident, {2});
    CHECK_FALSE(gpu.ok());
    if (!gpu.ok()) CHECK(std::string(gpu.status().message()) == want);
  }
}

// Placement only (no GPU needed, like gpu_placement_test.cc): an embedding model trained on
// /gpu:0 keeps its GatherV2 gradient (UnsortedSegmentSum) on the GPU, and nothing but host-memory
// shape outputs goes from the GPU back to the host.
TEST_CASE("GPU placement: embedding training puts UnsortedSegmentSum on the GPU",
          "[gpu][placement][segment]") {
  Graph graph;
  {
    GraphBuilder b(&graph);
    Output ids = b.Placeholder(DT_INT32, {-1, 3}, "ids");
    Output labels = b.Placeholder(DT_FLOAT, {-1}, "labels");
    auto on_gpu = b.device("/gpu:0");
    auto table = b.Variable(b.Zeros({50, 8}), "embeddings");
    auto w = b.Variable(b.Zeros({8, 1}), "w");
    Output emb = b.Op("GatherV2", {table.value, ids, b.Const(Tensor::Scalar<int32_t>(0))});
    Output pred = Reshape(MatMul(ReduceMean(emb, {1}), w.value), {-1});
    Output loss = ReduceMeanAll(Square(pred - labels));
    auto train = GradientDescentOptimizer(0.1).Minimize(b, loss);
    REQUIRE(train.ok());
    REQUIRE(b.status().ok());
  }
  auto devices = gputest::CpuAndGpu0();
  REQUIRE(devices.ok());
  auto report = gputest::PlaceSoft(&graph, *devices);
  INFO((report.ok() ? "" : report.status().ToString()));
  REQUIRE(report.ok());
  int segment_sums = 0;
  for (const NodeReport& n : report->nodes) {
    if (n.op != "UnsortedSegmentSum") continue;
    ++segment_sums;
    CAPTURE(n.name, n.device);
    CHECK(n.device.find("GPU") != std::string::npos);
  }
  CHECK(segment_sums == 1);
  CHECK_ONLY_HOST_MEMORY_LEAVES_GPU(graph, *report, "embedding training");
}

}  // namespace
}  // namespace quiver
