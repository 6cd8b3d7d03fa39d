// The harness shared by the GPU kernel tests (gpu_kernels_test.cc, gpu_training_kernels_test.cc,
// gpu_movement_kernels_test.cc): run one op's GPU kernel on Const inputs and compare it with the
// CPU kernel (the reference, itself tested against NumPy/TensorFlow values).
//
// Without a GPU every case prints QUIVER_SKIPPED and CTest reports it skipped.
// QUIVER_GPU_HARNESS_CHECK=1 on a machine without a GPU checks the harness's own plumbing: every
// CPU reference run succeeds and every GPU kernel is created (attrs parsed) for the same node;
// nothing runs on a GPU. Used before spending scarce GPU time; CTest never sets it.
//
// A failure on the GPU side (a kernel that cannot be created, a cuDNN error, a wrong answer) is
// reported with FAIL_CHECK / a false result, never by aborting the TEST_CASE: on the one-shot
// GPU run, one failing shape must not hide the checks after it. REQUIRE is kept for harness
// setup that cannot go on (a graph that cannot be built).
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/device.h"
#include "devices/device_set.h"
#include "graph/attr_value.h"
#include "graph/graph.h"
#include "graph/graphdef.h"
#include "graph/tensor.h"
#include "passes/placement_report.h"

namespace quiver {
namespace cuda {
class CudaDevice;
}  // namespace cuda
namespace gputest {

// True when QUIVER_GPU_HARNESS_CHECK is set and no GPU answers (see above).
bool HarnessMode();

// True (after printing QUIVER_SKIPPED) when the case cannot run: no GPU and not in harness
// mode. In harness mode it registers the GPU kernels so that they can be constructed.
bool SkipWithoutGpu();

#define GPU_TEST_PROLOGUE() \
  if (::quiver::gputest::SkipWithoutGpu()) return

// The GPU:0 Device (as a session would create it) with the GPU kernels registered; nullptr
// when it cannot be created.
Device* Gpu0();

// Uniform float32 values in [lo, hi).
Tensor Random(const std::vector<int64_t>& dims, std::mt19937* rng, float lo = -1.f, float hi = 1.f);
// Random values of `dtype`: float32/float64 in [-1, 1), int64 over a wide range, bool; any
// other dtype gives float32.
Tensor Random(const std::vector<int64_t>& dims, std::mt19937* rng, DataType dtype);

template <typename T>
Tensor Vec(std::vector<T> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<T>(v, TensorShape{n});
}

// Builds the op node (named "op", as testing::RunKernel does) over Const inputs "input<i>".
absl::StatusOr<Node*> BuildNode(Graph& graph, const std::string& op, const AttrMap& attrs,
                                const std::vector<Tensor>& inputs);

// Runs op's GPU kernel. `gpu` null: a host context with host inputs (the GPU kernel must finish
// without device work, or fail before its first CUDA call). Otherwise, with `resident`, inputs
// other than `host_inputs` are copied to device memory and the context device is the GPU (the
// executor's way); without, inputs stay on the host and the kernel stages them (the fallback
// path). Outputs come back as host tensors.
absl::StatusOr<std::vector<Tensor>> RunGpu(Device* gpu, const std::string& op, const AttrMap& attrs,
                                           const std::vector<Tensor>& inputs, bool resident,
                                           const std::vector<int>& host_inputs = {});
// The same on Gpu0() (an error when it cannot be created).
absl::StatusOr<std::vector<Tensor>> RunGpu(const std::string& op, const AttrMap& attrs,
                                           const std::vector<Tensor>& inputs, bool resident,
                                           const std::vector<int>& host_inputs = {});

// Harness mode: the GPU kernel must be found and constructed for this node. False (after a
// FAIL_CHECK) when it is not.
bool GpuKernelConstructs(const std::string& op, const AttrMap& attrs,
                         const std::vector<Tensor>& inputs);

// Compares outputs within tolerance; false (with the details as unscoped info) on a mismatch
// or a different number of outputs.
bool SameOutputs(const std::vector<Tensor>& gpu, const std::vector<Tensor>& cpu, double rtol,
                 double atol);

struct MatchOptions {
  double rtol = 1e-5, atol = 1e-5;  // 0, 0: exact (data movement)
  std::vector<int> host_inputs;     // inputs that stay in host memory (HostMemory args)
  // The GPU kernel does no device work (aliases or host outputs): harness mode also runs it on
  // the host and compares.
  bool host_only = false;
};

// CPU vs GPU (resident and staged) for one op: true when every output matches. Mismatches and
// GPU errors are reported as they are found (FAIL_CHECK / unscoped info) and make the result
// false; the calling TEST_CASE goes on.
bool MatchesCpu(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                const MatchOptions& options);

// Restores cuda::UseCudnnPaths() on scope exit (tests that flip SetUseCudnnPathsForTesting).
class CudnnPathsRestorer {
 public:
  CudnnPathsRestorer();
  ~CudnnPathsRestorer();
  CudnnPathsRestorer(const CudnnPathsRestorer&) = delete;
  CudnnPathsRestorer& operator=(const CudnnPathsRestorer&) = delete;

 private:
  bool saved_;
};

// ---- Placement checks (they run without a GPU: only the kernel tables are needed) ----

// CPU:0 + GPU:0 as the placer sees them, with the GPU kernels registered (in this process only:
// the CPU suite never sees them). Where no GPU answers, GPU:0 is added by hand; nothing runs on it.
absl::StatusOr<DeviceSet> CpuAndGpu0();

// Places `graph` on `devices` with soft placement (nodes without a GPU kernel stay on the CPU,
// as `quiver place --soft` does) and returns the placement report (an error when either fails).
absl::StatusOr<PlacementReport> PlaceSoft(Graph* graph, const DeviceSet& devices);

// Checks that no tensor in device memory goes back to the host: every GPU -> CPU transfer of
// `report` carries a host-memory output (Shape, Size, Rank). `what` names the graph in failures.
void CheckOnlyHostMemoryLeavesGpu(const Graph& graph, const PlacementReport& report,
                                  const std::string& what);
#define CHECK_ONLY_HOST_MEMORY_LEAVES_GPU(graph, report, what) \
  ::quiver::gputest::CheckOnlyHostMemoryLeavesGpu(graph, report, what)

// ---- Host-to-device staging ----

// GPU:0 as a CudaDevice, synced, with the pinned allocator's bytes in use at that point: the
// staging tests check that every staging buffer is back there after their copies.
struct StagingGpu {
  Device* gpu = nullptr;
  cuda::CudaDevice* cuda_device = nullptr;
  int64_t pinned_before = 0;
};
// An error when GPU:0 cannot be created, is not a CudaDevice or does not sync.
absl::StatusOr<StagingGpu> SyncedStagingGpu();

// ---- TensorFlow fixtures (manifest.txt, graph.pb or graph.pbtxt, .npy feeds and outputs) ----

// The fixture folders under QUIVER_TEST_DATA_DIR/<folder> (the environment variable wins over
// the build's path: tools/gpu_check.sh runs a carried build), sorted; [] if there is none.
std::vector<std::filesystem::path> FixtureDirs(const std::string& folder);
// The fixture's GraphDef with every node requested on /gpu:0.
absl::StatusOr<tensorflow::GraphDef> FixtureGraphOnGpu(const std::filesystem::path& dir);
// Runs the fixture with every node requested on /gpu:0 (soft placement keeps nodes without a
// GPU kernel on the CPU) at optimizer `level` and checks each fetch against TensorFlow's
// output within the manifest's tolerances. Failures are FAIL_CHECKs (the caller goes on).
// Prints "fixture <label>: k of n nodes on the GPU, t transfers" (gpu_check.sh collects it).
void CheckFixtureOnGpu(const std::filesystem::path& dir, const std::string& label, int level);
#define CHECK_FIXTURE_ON_GPU(dir, label, level) \
  ::quiver::gputest::CheckFixtureOnGpu(dir, label, level)

}  // namespace gputest
}  // namespace quiver
