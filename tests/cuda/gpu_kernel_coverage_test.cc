// Issue 5 asks that every op the CPU runs runs on the GPU too. This checks the kernel tables
// (no GPU needed): every op with a float32 CPU kernel has a float32 GPU kernel, except the ops
// listed below, which stay on the host by design (as in TensorFlow, where int32 shape
// arithmetic and feeds live in host memory). `quiver ops --device gpu --missing` prints the
// same list for a user.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "devices/cuda/cuda_device.h"
#include "devices/kernel.h"
#include "tests/devices/kernel_test_util.h"

namespace quiver {
namespace {

bool TakesFloat(const KernelRegistry::Entry& e) {
  return e.allowed_types.empty() || std::find(e.allowed_types.begin(), e.allowed_types.end(),
                                              DT_FLOAT) != e.allowed_types.end();
}

// Ops whose float32 kernel is CPU-only on purpose, and why.
const std::map<std::string, std::string>& HostOnlyOps() {
  static const auto* ops = new std::map<std::string, std::string>{
      {"Placeholder", "fed from host memory; a GPU consumer gets one transfer (inputs in)"},
      {"Range", "shape arithmetic: its outputs size other tensors and are read by the host"},
      {"Variable", "the legacy TF0 op; VariableV2 has the GPU kernel"},
      {"IsVariableInitialized", "a host bool read by control flow"},
      {"_While", "loops run on the CPU, their cond and body in CPU sessions of their own"},
      // TensorArrays/TensorLists (graph/tensor_list_lowering.h) live with the loops that
      // write them.
      {"_DenseListReserve", "a list for a loop (loops run on the CPU)"},
      {"_DenseTensorArray", "a list for a loop (loops run on the CPU)"},
      {"_DenseListSetItem", "writes a loop's list (loops run on the CPU)"},
      {"_DenseListGetItem", "reads a loop's list (loops run on the CPU)"},
      {"_DenseListGather", "reads a loop's list (loops run on the CPU)"},
      {"_DenseListScatter", "fills a loop's list (loops run on the CPU)"},
      {"_DenseListEmpty", "a loop's gradient accumulator (loops run on the CPU)"},
      {"_DenseListPushBack", "fills a loop's gradient accumulator (loops run on the CPU)"},
      {"_DenseListPopBack", "reads a loop's gradient accumulator (loops run on the CPU)"},
      {"ConcatOffset", "int32 shape arithmetic for ConcatV2's gradient: host bookkeeping"},
      {"_DenseListLength", "a loop's list length: host bookkeeping"},
      {"_DenseListElementShape", "a loop's list element shape: host bookkeeping"},
      // Image resizes and space/batch/depth rearrangements (graph/ops/image_ops.cc).
      {"ResizeBilinear", "no GPU kernel yet: runs on the CPU under soft placement"},
      {"ResizeBilinearGrad", "no GPU kernel yet: runs on the CPU under soft placement"},
      {"ResizeNearestNeighbor", "no GPU kernel yet: runs on the CPU under soft placement"},
      {"ResizeNearestNeighborGrad", "no GPU kernel yet: runs on the CPU under soft placement"},
      {"DepthToSpace", "no GPU kernel yet: runs on the CPU under soft placement"},
      {"SpaceToDepth", "no GPU kernel yet: runs on the CPU under soft placement"},
      {"SpaceToBatchND", "no GPU kernel yet: runs on the CPU under soft placement"},
      {"BatchToSpaceND", "no GPU kernel yet: runs on the CPU under soft placement"},
      // Less common array ops (graph/ops/array_extra_ops.cc): CPU kernels only so far.
      {"ReverseSequence", "per-row variable-length reversal: no GPU kernel yet"},
      {"Cumsum", "a sequential scan: no GPU scan kernel yet"},
      {"Cumprod", "a sequential scan: no GPU scan kernel yet"},
      {"GatherNd", "needs host-checked N-d indices: no GPU kernel yet"},
      {"ScatterNd", "accumulates duplicate indices: no GPU scatter-add kernel yet"},
      {"Where", "data-dependent output shape, read by the host"},
      {"TopKV2", "per-row partial sort: no GPU kernel yet"},
      {"MirrorPad", "mirrored index map: no GPU kernel yet"},
      {"MirrorPadGrad", "scatter-add of mirrored positions: no GPU kernel yet"},
      {"Any", "bool reduction (no type attr): no GPU kernel yet"},
      {"All", "bool reduction (no type attr): no GPU kernel yet"},
      // 3-D convolution and pooling (graph/ops/nn3d_ops.cc): oneDNN CPU kernels only so far.
      {"Conv3D",
       "no GPU kernel yet (cuDNN 3-D path not written): runs on the CPU under soft placement"},
      {"Conv3DBackpropInputV2",
       "no GPU kernel yet (cuDNN 3-D path not written): runs on the CPU under soft placement"},
      {"Conv3DBackpropFilterV2",
       "no GPU kernel yet (cuDNN 3-D path not written): runs on the CPU under soft placement"},
      {"MaxPool3D",
       "no GPU kernel yet (cuDNN 3-D path not written): runs on the CPU under soft placement"},
      {"AvgPool3D",
       "no GPU kernel yet (cuDNN 3-D path not written): runs on the CPU under soft placement"},
      {"MaxPool3DGrad",
       "no GPU kernel yet (cuDNN 3-D path not written): runs on the CPU under soft placement"},
      {"AvgPool3DGrad",
       "no GPU kernel yet (cuDNN 3-D path not written): runs on the CPU under soft placement"},
      // Transformer ops (graph/ops/einsum_ops.cc): CPU kernels only so far.
      {"Einsum",
       "no GPU kernel yet (needs a GPU strided copy + reduce around cuBLAS batched GEMM): runs "
       "on the CPU under soft placement"},
      {"MatrixBandPart", "no GPU kernel yet: runs on the CPU under soft placement"},
      // Stateless random ops (graph/ops/stateless_random_ops.cc).
      {"StatelessRandomUniform", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessRandomNormal", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessTruncatedNormal", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessRandomUniformV2", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessRandomNormalV2", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessTruncatedNormalV2", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessRandomGetKeyCounter", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessRandomGetKeyCounterAlg", "stateless random: CPU kernel, bit-exact with TF's"},
      {"StatelessRandomGetAlg", "stateless random: CPU kernel, bit-exact with TF's"},
      // graph/ops/misc_extra_ops.cc: CPU kernels only so far.
      {"LinSpace", "a small host-computed sequence (TF keeps its inputs in host memory too)"},
      {"Unique", "data-dependent output shape, read by the host"},
      {"TensorScatterUpdate", "needs host-checked N-d indices: no GPU kernel yet"},
      {"TensorScatterAdd", "needs host-checked N-d indices: no GPU scatter-add kernel yet"},
      {"SegmentSum", "needs host-checked sorted ids: no GPU segment kernel yet"},
      {"SegmentMean", "needs host-checked sorted ids: no GPU segment kernel yet"},
      // Object-detection ops (graph/ops/detection_ops.cc).
      {"NonMaxSuppressionV3", "detection post-processing: CPU kernel"},
      {"NonMaxSuppressionV4", "detection post-processing: CPU kernel"},
      {"NonMaxSuppressionV5", "detection post-processing: CPU kernel"},
      {"CropAndResize", "detection post-processing: CPU kernel"},
  };
  return *ops;
}

TEST_CASE("GPU coverage: every float32 CPU op has a float32 GPU kernel or is host-only by design",
          "[gpu][coverage]") {
  cuda::RegisterPendingGpuKernels();  // fills the tables; adds no device
  std::map<std::string, bool> cpu_float, gpu_float;
  for (const KernelRegistry::Entry& e : KernelRegistry::Global().List()) {
    if (!TakesFloat(e)) continue;
    if (e.device_type == kCpu) cpu_float[e.op] = true;
    if (e.device_type == kGpu) gpu_float[e.op] = true;
  }
  REQUIRE(cpu_float.size() > 100);
  std::set<std::string> missing;
  for (const auto& [op, unused] : cpu_float) {
    if (!gpu_float.count(op) && !HostOnlyOps().count(op)) missing.insert(op);
  }
  INFO("float32 CPU ops without a GPU kernel: " << [&] {
    std::string s;
    for (const std::string& op : missing) s += op + " ";
    return s;
  }());
  CHECK(missing.empty());
  // The exemption list stays honest: an op that gains a GPU kernel leaves it.
  for (const auto& [op, why] : HostOnlyOps()) {
    CAPTURE(op, why);
    CHECK(cpu_float.count(op) == 1);
    CHECK(gpu_float.count(op) == 0);
  }
}

// The GPU Cast converts between float32/float64/int32/int64/bool only: a node casting to or
// from another type must find no GPU kernel (and so be placed on the CPU, not fail at run time).
TEST_CASE("GPU coverage: Cast has a GPU kernel only when both of its types have one",
          "[gpu][coverage]") {
  cuda::RegisterPendingGpuKernels();
  auto gpu_cast = [](DataType from, DataType to) { return testing::HasCastKernel(kGpu, from, to); };
  CHECK(gpu_cast(DT_FLOAT, DT_INT32));
  CHECK(gpu_cast(DT_BOOL, DT_FLOAT));
  CHECK(gpu_cast(DT_INT64, DT_DOUBLE));
  CHECK_FALSE(gpu_cast(DT_FLOAT, DT_HALF));
  CHECK_FALSE(gpu_cast(DT_FLOAT, DT_UINT8));
  CHECK_FALSE(gpu_cast(DT_INT8, DT_FLOAT));
}

}  // namespace
}  // namespace quiver
