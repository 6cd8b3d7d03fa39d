// GPU UnsortedSegmentSum (float32): data and segment_ids (int16/int32/int64) on the device,
// num_segments HostMemory. Semantics and error messages follow the CPU kernel
// (devices/cpu/kernels/segment_ops.cc): both call devices/common/segment_plan.h. As the GPU
// GatherV2 kernel does, an id >= num_segments is an error here too (TF's GPU kernel drops it
// silently): host ids are checked before anything is summed and uploaded as int64;
// device-resident ids in an executor step are checked and widened on the device without a
// sync and a bad one fails the step at its end (outside a step: copied back and checked, a
// sync). The kernel (segment_kernels.cu) sums with atomicAdd, skipping negative and too-large
// ids. Float sums on the GPU are not order-deterministic.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/common/segment_plan.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/deferred_index_check.h"
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
    int64_t* widened = nullptr;  // device int64 ids, when checked on the device
    GpuScope g(ctx);
    if (!OnDevice(ids_t)) {  // validate before touching the device
      ASSIGN_OR_RETURN(ids, checked(ids_t.raw_data()));
      RETURN_IF_ERROR(g.Init());
    } else {
      RETURN_IF_ERROR(g.Init());
      if (CanDeferIndexCheck(ctx, g, ids_t)) {
        // No sync: checked (and widened) on the device, reported at the step's end; the
        // kernel skips an id >= num_segments meanwhile.
        if (count > 0) {
          if (plan.n * plan.inner > 0 && plan.shape.num_elements() > 0) {
            ASSIGN_OR_RETURN(void* w, g.Temp(static_cast<size_t>(count) * sizeof(int64_t)));
            widened = static_cast<int64_t*>(w);
          }
          const TensorShape shape = ids_t.shape();
          RETURN_IF_ERROR(DeferIndexCheck(
              g, ids_t, INT64_MIN, num_segments, widened, 0,
              [shape, count, num_segments](int64_t k, int64_t v, const void*) {
                // Negative ids are never errors: the other ids stand in as -1.
                std::vector<int64_t> ids(static_cast<size_t>(count), -1);
                ids[static_cast<size_t>(k)] = v;
                return std::string(
                    segment_plans::CheckSegmentIds(ids, shape, num_segments).message());
              }));
        }
      } else {
        std::vector<unsigned char> host(ids_t.num_bytes());
        if (!host.empty()) {
          RETURN_IF_ERROR(g.Check(cudaMemcpyAsync(host.data(), ids_t.raw_data(), host.size(),
                                                  cudaMemcpyDeviceToHost, g.stream()),
                                  "copying the segment ids to the host"));
          RETURN_IF_ERROR(g.Check(cudaStreamSynchronize(g.stream()), "reading the segment ids"));
        }
        ASSIGN_OR_RETURN(ids, checked(host.data()));
      }
    }
    ASSIGN_OR_RETURN(float* out, g.OutAs<float>(0, plan.shape));
    if (plan.shape.num_elements() > 0) {
      const int64_t total = plan.n * plan.inner;
      const float* data = nullptr;
      const int64_t* d_ids = nullptr;
      if (total > 0) {
        d_ids = widened;
        if (d_ids == nullptr) {
          upload = Tensor::FromVector<int64_t>(ids, TensorShape{count});
          ASSIGN_OR_RETURN(const void* p, g.In(upload));
          d_ids = static_cast<const int64_t*>(p);
        }
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
