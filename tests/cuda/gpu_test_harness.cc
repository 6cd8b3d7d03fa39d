#include "tests/cuda/gpu_test_harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>

#include "devices/cuda/cuda_device.h"
#include "devices/cuda/kernels/cudnn_paths.h"
#include "devices/device_set.h"
#include "graph/npy.h"
#include "graph/status_macros.h"
#include "passes/placer.h"
#include "runtime/session.h"
#include "tests/devices/kernel_test_util.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace gputest {

bool HarnessMode() {
  static const bool on =
      cuda::GpuCount() == 0 && std::getenv("QUIVER_GPU_HARNESS_CHECK") != nullptr;
  return on;
}

bool SkipWithoutGpu() {
  if (cuda::GpuCount() > 0) return false;
  if (HarnessMode()) {
    cuda::RegisterPendingGpuKernels();
    return false;
  }
  std::cout << "QUIVER_SKIPPED: no GPU here (" << cuda::DetectionMessage() << ")" << std::endl;
  return true;
}

Device* Gpu0() {
  static Device* gpu = []() -> Device* {
    auto set = DeviceSet::Create();  // registers the pending GPU kernels when a GPU answers
    if (!set.ok()) return nullptr;
    const DeviceInfo* info = set->Find("GPU:0");
    if (info == nullptr) return nullptr;
    auto d = CreateDevice(*info, DeviceOptions{});
    return d.ok() ? d->release() : nullptr;
  }();
  return gpu;
}

Tensor Random(const std::vector<int64_t>& dims, std::mt19937* rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<float> v(n);
  for (float& x : v) x = u(*rng);
  return Tensor::FromVector<float>(v, TensorShape(dims));
}

Tensor Random(const std::vector<int64_t>& dims, std::mt19937* rng, DataType dtype) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  const TensorShape shape(dims);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::uniform_int_distribution<int64_t> ints(-1000000007LL * 1000, 1000000007LL * 1000);
  switch (dtype) {
    case DT_DOUBLE: {
      std::vector<double> v(n);
      for (double& x : v) x = u(*rng);
      return Tensor::FromVector<double>(v, shape);
    }
    case DT_INT64: {
      std::vector<int64_t> v(n);
      for (int64_t& x : v) x = ints(*rng);
      return Tensor::FromVector<int64_t>(v, shape);
    }
    case DT_BOOL: {
      std::vector<bool> v(n);
      for (size_t i = 0; i < v.size(); ++i) v[i] = (*rng)() % 2 == 1;
      return Tensor::FromVector<bool>(v, shape);
    }
    default: {
      std::vector<float> v(n);
      for (float& x : v) x = static_cast<float>(u(*rng));
      return Tensor::FromVector<float>(v, shape);
    }
  }
}

absl::StatusOr<Node*> BuildNode(Graph& graph, const std::string& op, const AttrMap& attrs,
                                const std::vector<Tensor>& inputs) {
  std::vector<Node*> nodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(Node * n, testing::AddConst(graph, "input" + std::to_string(i), inputs[i]));
    nodes.push_back(n);
  }
  return testing::AddOpNode(graph, op, attrs, nodes);
}

absl::StatusOr<std::vector<Tensor>> RunGpu(Device* gpu, const std::string& op, const AttrMap& attrs,
                                           const std::vector<Tensor>& inputs, bool resident,
                                           const std::vector<int>& host_inputs) {
  Graph graph;
  ASSIGN_OR_RETURN(Node * node, BuildNode(graph, op, attrs, inputs));
  node->set_assigned_device(LocalDeviceName(kGpu, 0));
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel,
                   KernelRegistry::Global().CreateKernel(*node, kGpu));
  std::vector<TensorValue> in_values(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool host =
        std::find(host_inputs.begin(), host_inputs.end(), static_cast<int>(i)) != host_inputs.end();
    if (gpu != nullptr && resident && !host) {
      ASSIGN_OR_RETURN(in_values[i].tensor, CopyTensor(inputs[i], gpu));
    } else {
      ASSIGN_OR_RETURN(in_values[i].tensor, inputs[i].Clone());
    }
  }
  std::vector<TensorValue> out_values(node->num_outputs());
  StepResources resources;
  // The kernel in the context, as the executor passes it: HostMemory outputs go to the host.
  OpKernelContext ctx(*node, &in_values, &out_values, &resources,
                      gpu != nullptr && resident ? gpu : nullptr, kernel.get());
  RETURN_IF_ERROR(kernel->Compute(ctx));
  if (gpu != nullptr) RETURN_IF_ERROR(gpu->Sync());
  std::vector<Tensor> outputs;
  for (int i = 0; i < node->num_outputs(); ++i) {
    const Tensor& t = out_values[i].tensor;
    if (!t.valid()) return absl::InternalError(op + " did not set output " + std::to_string(i));
    if (gpu != nullptr) {
      ASSIGN_OR_RETURN(Tensor host, CopyTensor(t, Device::DefaultCpu(), gpu));
      outputs.push_back(std::move(host));
    } else {
      outputs.push_back(t);
    }
  }
  return outputs;
}

absl::StatusOr<std::vector<Tensor>> RunGpu(const std::string& op, const AttrMap& attrs,
                                           const std::vector<Tensor>& inputs, bool resident,
                                           const std::vector<int>& host_inputs) {
  Device* gpu = Gpu0();
  if (gpu == nullptr) return absl::InternalError("GPU:0 could not be created");
  return RunGpu(gpu, op, attrs, inputs, resident, host_inputs);
}

bool GpuKernelConstructs(const std::string& op, const AttrMap& attrs,
                         const std::vector<Tensor>& inputs) {
  Graph graph;
  auto node = BuildNode(graph, op, attrs, inputs);
  REQUIRE(node.ok());
  auto kernel = KernelRegistry::Global().CreateKernel(**node, kGpu);
  if (!kernel.ok()) {
    FAIL_CHECK("GPU kernel: " << kernel.status().ToString());
    return false;
  }
  return true;
}

bool SameOutputs(const std::vector<Tensor>& gpu, const std::vector<Tensor>& cpu, double rtol,
                 double atol) {
  if (gpu.size() != cpu.size()) {
    FAIL_CHECK("the GPU kernel gave " << gpu.size() << " outputs, the CPU " << cpu.size());
    return false;
  }
  bool all = true;
  for (size_t i = 0; i < cpu.size(); ++i) {
    CAPTURE(i);
    fixture::Comparison c = fixture::CompareTensors(gpu[i], cpu[i], rtol, atol);
    if (!c.ok) {
      UNSCOPED_INFO("output " << i << ": " << c.message);
      all = false;
    }
  }
  return all;
}

bool MatchesCpu(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                const MatchOptions& options) {
  CAPTURE(op);
  auto cpu = testing::RunKernel(op, attrs, inputs);
  if (!cpu.ok()) {
    FAIL_CHECK("CPU reference: " << cpu.status().ToString());
    return false;
  }
  if (HarnessMode()) {  // the GPU kernel must at least be found and constructed for this node
    if (!GpuKernelConstructs(op, attrs, inputs)) return false;
    if (!options.host_only) return true;
    auto host = RunGpu(nullptr, op, attrs, inputs, false, options.host_inputs);
    if (!host.ok()) {
      FAIL_CHECK("GPU kernel on the host: " << host.status().ToString());
      return false;
    }
    return SameOutputs(*host, *cpu, options.rtol, options.atol);
  }
  bool all_match = true;
  for (bool resident : {true, false}) {
    CAPTURE(resident);
    auto gpu = RunGpu(op, attrs, inputs, resident, options.host_inputs);
    if (!gpu.ok()) {
      FAIL_CHECK("GPU (" << (resident ? "resident" : "staged")
                         << " inputs): " << gpu.status().ToString());
      all_match = false;
      continue;
    }
    all_match = SameOutputs(*gpu, *cpu, options.rtol, options.atol) && all_match;
  }
  return all_match;
}

CudnnPathsRestorer::CudnnPathsRestorer() : saved_(cuda::UseCudnnPaths()) {}
CudnnPathsRestorer::~CudnnPathsRestorer() { cuda::SetUseCudnnPathsForTesting(saved_); }

std::vector<std::filesystem::path> FixtureDirs(const std::string& folder) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("QUIVER_TEST_DATA_DIR");
  const fs::path root = fs::path(env != nullptr ? env : QUIVER_TEST_DATA_DIR) / folder;
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

absl::StatusOr<DeviceSet> CpuAndGpu0() {
  cuda::RegisterPendingGpuKernels();
  ASSIGN_OR_RETURN(DeviceSet devices, DeviceSet::Create());
  if (devices.Find("GPU:0") == nullptr) RETURN_IF_ERROR(devices.AddDevice(kGpu, 0));
  return devices;
}

absl::StatusOr<PlacementReport> PlaceSoft(Graph* graph, const DeviceSet& devices) {
  PlacerOptions options;
  options.allow_soft_placement = true;
  ASSIGN_OR_RETURN(Placement placement, PlaceGraph(graph, devices, options));
  return BuildPlacementReport(*graph, devices, &placement);
}

// Whether any GPU kernel is registered for `op` (else soft placement runs it on the CPU).
static bool HasGpuKernel(const std::string& op) {
  static const auto* ops = [] {
    auto* set = new std::set<std::string>;
    for (const KernelRegistry::Entry& e : KernelRegistry::Global().List()) {
      if (e.device_type == kGpu) set->insert(e.op);
    }
    return set;
  }();
  return ops->count(op) > 0;
}

void CheckOnlyHostMemoryLeavesGpu(const Graph& graph, const PlacementReport& report,
                                  const std::string& what) {
  for (const TransferReport& t : report.transfers) {
    if (t.from.find("GPU") == std::string::npos) continue;
    const Node* n = graph.FindNode(t.tensor.substr(0, t.tensor.rfind(':')));
    REQUIRE(n != nullptr);
    CAPTURE(what, t.tensor, n->op());
    // Also by design: a conditional's predicate or branch index (a bool or int32 scalar a
    // Switch/_SwitchN reads on the host), and the inputs of ops that have no GPU kernel and
    // so run on the CPU under soft placement: loops (`_While`, runtime/while_op.cc), the
    // lists they write (`_DenseList*`, graph/tensor_list_lowering.h) and the ops
    // `quiver ops --device gpu --missing` lists.
    const bool predicate = (t.dtype == "bool" || t.dtype == "int32") && t.shape == "[]";
    bool cpu_only_consumer = false;
    for (const std::string& c : t.consumers) {
      const Node* consumer = graph.FindNode(c);
      cpu_only_consumer |= consumer != nullptr && !HasGpuKernel(consumer->op());
    }
    if (predicate || cpu_only_consumer) continue;
    CHECK((n->op() == "Shape" || n->op() == "Size" || n->op() == "Rank"));
  }
}

absl::StatusOr<StagingGpu> SyncedStagingGpu() {
  StagingGpu out;
  out.gpu = Gpu0();
  if (out.gpu == nullptr) return absl::UnavailableError("GPU:0 cannot be created");
  out.cuda_device = cuda::AsCudaDevice(out.gpu);
  if (out.cuda_device == nullptr) return absl::InternalError("GPU:0 is not a CudaDevice");
  RETURN_IF_ERROR(out.cuda_device->Sync());
  out.pinned_before = out.cuda_device->pinned_allocator()->GetStats().bytes_in_use;
  return out;
}

absl::StatusOr<tensorflow::GraphDef> FixtureGraphOnGpu(const std::filesystem::path& dir) {
  ASSIGN_OR_RETURN(tensorflow::GraphDef graph_def,
                   ReadGraphDefFile(fixture::GraphFile(dir).string()));
  for (auto& node : *graph_def.mutable_node()) node.set_device("/device:GPU:0");
  return graph_def;
}

void CheckFixtureOnGpu(const std::filesystem::path& dir, const std::string& label, int level) {
  CAPTURE(label, level);
  auto m = fixture::ParseManifest((dir / "manifest.txt").string());
  REQUIRE(m.ok());
  auto graph_def = FixtureGraphOnGpu(dir);
  REQUIRE(graph_def.ok());
  SessionOptions options;
  options.allow_soft_placement = true;
  options.optimizer.level = level;
  auto session = Session::Create(*graph_def, options);
  if (!session.ok()) {  // a GPU-side failure: report it; the caller goes on
    FAIL_CHECK(session.status().ToString());
    return;
  }
  auto feeds = fixture::ReadFeeds(*m, dir);
  INFO(feeds.status().ToString());
  REQUIRE(feeds.ok());
  const std::vector<std::string> fetches = fixture::FetchNames(*m);
  RunMetadata md;
  md.collect_node_stats = true;
  auto out = (*session)->Run(*feeds, fetches, {}, &md);
  if (!out.ok()) {
    FAIL_CHECK(out.status().ToString());
    return;
  }
  int on_gpu = 0;
  for (const auto& st : md.node_stats) on_gpu += st.device.find("GPU") != std::string::npos;
  std::cout << "fixture " << label << ": " << on_gpu << " of " << md.node_stats.size()
            << " nodes on the GPU, " << md.transfers << " transfers" << std::endl;
  for (size_t i = 0; i < fetches.size(); ++i) {
    auto expected = ReadNpyFile((dir / m->fetches[i].second).string());
    REQUIRE(expected.ok());
    fixture::Comparison c = fixture::CompareTensors((*out)[i], *expected, m->rtol, m->atol);
    if (!c.ok) FAIL_CHECK(label << " fetch " << fetches[i] << ": " << c.message);
  }
}

}  // namespace gputest
}  // namespace quiver
