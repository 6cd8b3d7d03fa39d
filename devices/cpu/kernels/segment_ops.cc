// UnsortedSegmentSum on the CPU (float32, float64, int32, int64):
//   output[segment_ids[j], k] += data[j, k]   (data viewed as [n, inner])
// Negative ids are dropped and ids >= num_segments are an error, checked before anything is
// written (TF's CPU kernel). The shared plan (devices/common/segment_plan.h) is the GPU
// kernel's too. Rows are summed in id order, so the result is deterministic.
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/common/segment_plan.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::NodeError;

template <typename T>
void SegmentSum(const T* data, const std::vector<int64_t>& ids, int64_t inner, T* out) {
  for (size_t j = 0; j < ids.size(); ++j) {
    const int64_t s = ids[j];
    if (s < 0) continue;
    const T* src = data + static_cast<int64_t>(j) * inner;
    T* dst = out + s * inner;
    for (int64_t k = 0; k < inner; ++k) dst[k] += src[k];
  }
}

class UnsortedSegmentSumOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& data = ctx.input(0);
    const Tensor& ids_t = ctx.input(1);
    ASSIGN_OR_RETURN(int64_t num_segments, array_kernels::HostScalar(ctx, 2, "num_segments"));
    ASSIGN_OR_RETURN(segment_plans::SegmentSumPlan plan,
                     segment_plans::PlanUnsortedSegmentSum(ctx, num_segments));
    auto ids = array_plans::IndicesAsInt64(ids_t.dtype(), ids_t.raw_data(), ids_t.num_elements());
    if (!ids.ok()) return NodeError(ctx, ids.status());
    RETURN_IF_ERROR(segment_plans::CheckSegmentIds(ctx, *ids, num_segments));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, plan.shape));
    const int64_t total = out->num_elements();
    if (total == 0) return absl::OkStatus();
    std::memset(out->raw_data(), 0, static_cast<size_t>(total) * DataTypeSize(out->dtype()));
    switch (data.dtype()) {
      case DT_FLOAT:
        SegmentSum(data.data<float>(), *ids, plan.inner, out->data<float>());
        break;
      case DT_DOUBLE:
        SegmentSum(data.data<double>(), *ids, plan.inner, out->data<double>());
        break;
      case DT_INT32:
        SegmentSum(data.data<int32_t>(), *ids, plan.inner, out->data<int32_t>());
        break;
      case DT_INT64:
        SegmentSum(data.data<int64_t>(), *ids, plan.inner, out->data<int64_t>());
        break;
      default:
        return ctx.Error(absl::StrCat("unsupported data type ", DataTypeName(data.dtype())));
    }
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(KernelDef("UnsortedSegmentSum", kCpu)
                           .TypeConstraint("T", {DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64})
                           .HostMemory("num_segments"),
                       [](OpKernelConstruction&) -> KernelOrError {
                         return std::unique_ptr<OpKernel>(new UnsortedSegmentSumOp());
                       });

}  // namespace
}  // namespace quiver
