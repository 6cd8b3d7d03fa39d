// GPU UnsortedSegmentSum (float32): data and segment_ids (int16/int32/int64) on the device,
// num_segments HostMemory. Semantics and error messages follow the CPU kernel
// (devices/cpu/kernels/segment_ops.cc): both call devices/common/segment_plan.h. As the GPU
// GatherV2 kernel does, the ids are validated on the host before anything is summed
// (device-resident ids are copied back first: one stream synchronisation), so an id >=
// num_segments is an error here too (TF's GPU kernel drops it silently); the checked ids are
// uploaded as int64 and the kernel (segment_kernels.cu) sums with atomicAdd, skipping negative
// ids. Float sums on the GPU are not order-deterministic.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/common/segment_plan.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/segment_launchers.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

using array_kernels::NodeError;

bool OnDevice(const Tensor& t) {
  return t.allocator() != nullptr && !t.allocator()->host_accessible();
}

class UnsortedSegmentSumGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& ids_t = ctx.input(1);
    ASSIGN_OR_RETURN(int64_t num_segments, GpuHostScalar(ctx, 2, "num_segments"));
    ASSIGN_OR_RETURN(segment_plans::SegmentSumPlan plan,
                     segment_plans::PlanUnsortedSegmentSum(ctx, num_segments));
    const DataType itype = ids_t.dtype();
    if (itype != DT_INT64 && itype != DT_INT32 && itype != DT_INT16) {
      return ctx.Error(
          absl::StrCat("segment_ids must be an integer tensor, got ", DataTypeName(itype)));
    }
    const int64_t count = ids_t.num_elements();
    auto checked = [&](const void* host) -> absl::StatusOr<std::vector<int64_t>> {
      auto ids = array_plans::IndicesAsInt64(itype, host, count);
      if (!ids.ok()) return NodeError(ctx, ids.status());
      RETURN_IF_ERROR(segment_plans::CheckSegmentIds(ctx, *ids, num_segments));
      return ids;
    };

    Tensor upload;  // the checked ids as int64 (declared before the scope that stages it)
    std::vector<int64_t> ids;
    GpuScope g(ctx);
    if (!OnDevice(ids_t)) {  // validate before touching the device
      ASSIGN_OR_RETURN(ids, checked(ids_t.raw_data()));
      RETURN_IF_ERROR(g.Init());
    } else {
      RETURN_IF_ERROR(g.Init());
      std::vector<unsigned char> host(ids_t.num_bytes());
      if (!host.empty()) {
        RETURN_IF_ERROR(g.Check(cudaMemcpyAsync(host.data(), ids_t.raw_data(), host.size(),
                                                cudaMemcpyDeviceToHost, g.stream()),
                                "copying the segment ids to the host"));
        RETURN_IF_ERROR(g.Check(cudaStreamSynchronize(g.stream()), "reading the segment ids"));
      }
      ASSIGN_OR_RETURN(ids, checked(host.data()));
    }
    ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, plan.shape));
    if (plan.shape.num_elements() > 0) {
      const int64_t total = plan.n * plan.inner;
      const float* data = nullptr;
      const int64_t* d_ids = nullptr;
      if (total > 0) {
        upload = Tensor::FromVector<int64_t>(ids, TensorShape{count});
        ASSIGN_OR_RETURN(const void* p, g.In(upload));
        d_ids = static_cast<const int64_t*>(p);
        ASSIGN_OR_RETURN(data, g.InAs<float>(0));
      }
      RETURN_IF_ERROR(g.Check(LaunchUnsortedSegmentSumF32(data, d_ids, out, plan.n, plan.inner,
                                                          plan.num_segments, g.stream()),
                              "unsorted_segment_sum"));
    }
    return g.Finish();
  }
};

const bool registered = [] {
  RegisterGpuKernel(KernelDef("UnsortedSegmentSum", kGpu)
                        .TypeConstraint("T", {DT_FLOAT})
                        .HostMemory("num_segments"),
                    [](OpKernelConstruction&) -> KernelOrError {
                      return std::unique_ptr<OpKernel>(new UnsortedSegmentSumGpuOp());
                    });
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
