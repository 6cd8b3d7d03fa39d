// GPU ReverseV2: one strided gather (index::StridedIndexer with negative steps along the
// reversed dims), the launcher Slice/StridedSlice use. The axes are a HostMemory input and are
// checked by the rule the CPU kernel and the shape function share
// (array_extra_shapes::ReverseAxes), before any CUDA call.
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

class ReverseV2GpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, GpuHostInts(ctx, 1, "axis"));
    auto mask = array_extra_shapes::ReverseAxes(axes, in.rank());
    if (!mask.ok()) return array_kernels::NodeError(ctx, mask.status());
    // Collapse: drop size-1 dims, merge neighbours that are both reversed or both kept
    // (reversing a merged block reverses both of its dims).
    std::vector<int64_t> dims;
    std::vector<bool> rev;
    for (int d = 0; d < in.rank(); ++d) {
      if (in.dim(d) == 1) continue;
      if (!dims.empty() && rev.back() == (*mask)[d]) {
        dims.back() *= in.dim(d);
      } else {
        dims.push_back(in.dim(d));
        rev.push_back((*mask)[d]);
      }
    }
    bool any = false;
    for (bool r : rev) any = any || r;
    if (!any || in.num_elements() == 0) {  // nothing moves
      ctx.set_output(0, in);
      return absl::OkStatus();
    }
    if (dims.size() > static_cast<size_t>(index::kMaxRank)) {
      return ctx.Error("the GPU ReverseV2 supports at most 8 dims after collapsing");
    }
    index::StridedIndexer ix;
    ix.rank = static_cast<int>(dims.size());
    const std::vector<int64_t> strides = array_kernels::RowMajorStrides(dims);
    for (int d = 0; d < ix.rank; ++d) {
      ix.dims[d] = dims[d];
      ix.strides[d] = rev[d] ? -strides[d] : strides[d];
      if (rev[d]) ix.base += (dims[d] - 1) * strides[d];
    }
    return GatherInputToOutput(ctx, ix, in.shape(), "reverse");
  }
};

const bool registered = [] {
  // int32 stays on the host, as for the other movement kernels.
  RegisterGpuKernel(KernelDef("ReverseV2", kGpu)
                        .TypeConstraint("T", {DT_FLOAT, DT_INT64, DT_DOUBLE, DT_BOOL})
                        .HostMemory("axis"),
                    [](OpKernelConstruction&) -> KernelOrError {
                      return std::unique_ptr<OpKernel>(new ReverseV2GpuOp());
                    });
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
