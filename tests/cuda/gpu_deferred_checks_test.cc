// Index checks without a mid-step sync: GatherV2, SparseSoftmaxCrossEntropyWithLogits and
// UnsortedSegmentSum on /gpu:0 with device-resident indices (an int64 Identity on the GPU of a
// fed tensor) check them on the device and report a bad one when the step ends
// (devices/cuda/kernels/deferred_index_check.h). Through a Session against the same graph on
// the CPU: good indices give the CPU's results, a bad one fails the step with the CPU's
// message. Like the other GPU tests: QUIVER_SKIPPED without a GPU; in harness mode both
// sessions run on the CPU (soft placement), which checks the test's own plumbing.
#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "devices/cuda/cuda_device.h"
#include "graph/builder.h"
#include "runtime/session.h"
#include "tests/cuda/gpu_test_harness.h"

namespace quiver {
namespace {

using namespace gputest;  // NOLINT: the shared harness (gpu_test_harness.h)

// x (float, fed), idx (int64, fed) -> idx_dev = Identity(idx) on /gpu:0 -> `op` on /gpu:0.
enum class Which { kGather, kXent, kSegment };

std::unique_ptr<Session> NewSession(Which which, bool cpu) {
  Graph graph;
  GraphBuilder b(&graph);
  Output x = b.Placeholder(DT_FLOAT, TensorShape::UnknownRank(), "x");
  Output idx = b.Placeholder(DT_INT64, TensorShape::UnknownRank(), "idx");
  {
    auto on_gpu = b.device("/gpu:0");
    Output idx_dev = Identity(idx, "idx_dev");
    switch (which) {
      case Which::kGather:
        b.Op("GatherV2", {x, idx_dev, b.Const(Tensor::Scalar<int32_t>(0), "axis")}, {}, "op");
        break;
      case Which::kXent:
        b.Op("SparseSoftmaxCrossEntropyWithLogits", {x, idx_dev}, {}, "op");
        break;
      case Which::kSegment:
        b.Op("UnsortedSegmentSum", {x, idx_dev, b.Const(Tensor::Scalar<int32_t>(4), "num")}, {},
             "op");
        break;
    }
  }
  REQUIRE(b.status().ok());
  if (cpu) {
    for (Node* n : graph.nodes()) n->set_requested_device("/cpu:0");
  }
  SessionOptions options;
  options.optimizer.level = 0;  // keep the Identity: it makes the indices device-resident
  auto session = Session::Create(graph, options);
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  return *std::move(session);
}

// With a GPU: the indices and the op really are on it (so the no-sync path runs).
void CheckOnGpu(Session& s) {
  if (cuda::GpuCount() == 0) return;
  for (const Node* n : s.graph().nodes()) {
    if (n->name() == "idx_dev" || n->name() == "op") {
      CAPTURE(n->name(), n->assigned_device());
      CHECK(n->assigned_device().find("GPU") != std::string::npos);
    }
  }
}

void Compare(Which which, const Tensor& x, const std::vector<int64_t>& idx,
             const std::vector<std::string>& fetches) {
  auto cpu = NewSession(which, true);
  auto gpu = NewSession(which, false);
  CheckOnGpu(*gpu);
  const std::vector<Session::Feed> feeds = {
      {"x", x}, {"idx", Tensor::FromVector<int64_t>(idx, {static_cast<int64_t>(idx.size())})}};
  auto c = cpu->Run(feeds, fetches);
  auto g = gpu->Run(feeds, fetches);
  REQUIRE(c.ok());
  if (!g.ok()) {
    FAIL_CHECK(g.status().ToString());
    return;
  }
  CHECK(SameOutputs(*g, *c, 1e-5, 1e-5));
}

void CompareError(Which which, const Tensor& x, const std::vector<int64_t>& idx,
                  const std::string& want_part) {
  auto cpu = NewSession(which, true);
  auto gpu = NewSession(which, false);
  CheckOnGpu(*gpu);
  const std::vector<Session::Feed> feeds = {
      {"x", x}, {"idx", Tensor::FromVector<int64_t>(idx, {static_cast<int64_t>(idx.size())})}};
  auto c = cpu->Run(feeds, {"op:0"});
  REQUIRE_FALSE(c.ok());
  const std::string want(c.status().message());
  CAPTURE(want);
  CHECK(want.find(want_part) != std::string::npos);
  auto g = gpu->Run(feeds, {"op:0"});
  CHECK_FALSE(g.ok());
  if (!g.ok()) {
    CHECK(g.status().code() == c.status().code());
    CHECK(std::string(g.status().message()) == want);
  }
  // A target-only step fails too, and the session stays usable after both.
  CHECK_FALSE(gpu->Run(feeds, {}, {"op"}).ok());
}

// The assertions at the call sites (CHECKs inside Compare / CompareError).
#define CHECK_MATCHES_CPU_SESSION(...) Compare(__VA_ARGS__)
#define CHECK_FAILS_LIKE_CPU_SESSION(...) CompareError(__VA_ARGS__)

TEST_CASE("GPU deferred index checks: GatherV2", "[gpu][deferred]") {
  GPU_TEST_PROLOGUE();
  Tensor params = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK_MATCHES_CPU_SESSION(Which::kGather, params, {2, 0, 1, 2}, {"op:0"});
  CHECK_MATCHES_CPU_SESSION(Which::kGather, params, {}, {"op:0"});
  CHECK_FAILS_LIKE_CPU_SESSION(Which::kGather, params, {0, 3, -1},
                               "indices[1] = 3 is not in [0, 3)");
  CHECK_FAILS_LIKE_CPU_SESSION(Which::kGather, params, {1, 1, -2},
                               "indices[2] = -2 is not in [0, 3)");
}

TEST_CASE("GPU deferred index checks: SparseSoftmaxCrossEntropyWithLogits", "[gpu][deferred]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(5);
  Tensor logits = Random({12, 5}, &rng);
  CHECK_MATCHES_CPU_SESSION(Which::kXent, logits, {0, 4, 2, 1, 3, 3, 0, 1, 2, 4, 4, 0},
                            {"op:0", "op:1"});
  // 12 labels: the message lists the first 10 and "...".
  CHECK_FAILS_LIKE_CPU_SESSION(
      Which::kXent, logits, {0, 4, 2, 1, 3, 3, 0, 1, 2, 4, 4, 5},
      "Received a label value of 5 which is outside the valid range of [0, 5)");
  CHECK_FAILS_LIKE_CPU_SESSION(
      Which::kXent, Random({3, 5}, &rng), {1, -1, 7},
      "Received a label value of -1 which is outside the valid range of [0, 5)");
}

TEST_CASE("GPU deferred index checks: UnsortedSegmentSum", "[gpu][deferred]") {
  GPU_TEST_PROLOGUE();
  std::mt19937 rng(6);
  Tensor data = Random({6, 3}, &rng);
  CHECK_MATCHES_CPU_SESSION(Which::kSegment, data, {3, 0, -1, 3, 1, 0}, {"op:0"});
  // Negative ids are skipped, not errors; the first id >= num_segments is named.
  CHECK_FAILS_LIKE_CPU_SESSION(Which::kSegment, data, {-7, 0, 4, 9, 1, 0},
                               "segment_ids[2] = 4 is out of range [0, 4)");
}

}  // namespace
}  // namespace quiver
