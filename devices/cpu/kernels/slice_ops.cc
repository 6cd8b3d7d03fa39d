// Slice and StridedSlice. Both resolve to (begin, stride, size) per input dimension (the
// shared planner in graph/ops/array_shapes.cc, also used by shape inference) and then one
// strided copy; a slice that covers the whole input aliases it.
#include <vector>

#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace as = array_shapes;
using array_kernels::AllTypes;
using array_kernels::CopyDim;
using array_kernels::InitFactory;
using array_kernels::NodeError;

// Copies the selected elements of input 0 into a fresh output 0 of `out_shape` (which has the
// same element order as the per-dimension `size`, up to inserted/removed 1s).
absl::Status CopySelection(OpKernelContext& ctx, const TensorShape& out_shape,
                           const std::vector<int64_t>& begin, const std::vector<int64_t>& stride,
                           const std::vector<int64_t>& size) {
  const Tensor& in = ctx.input(0);
  ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, out_shape));
  std::vector<int64_t> in_strides = array_kernels::RowMajorStrides(in.shape().dims());
  std::vector<int64_t> out_strides = array_kernels::RowMajorStrides(size);
  std::vector<CopyDim> dims(size.size());
  int64_t base = 0;
  for (size_t d = 0; d < size.size(); ++d) {
    base += begin[d] * in_strides[d];
    // A dim taking one element never steps (and a huge stride times a stride could overflow).
    dims[d] = {size[d], size[d] > 1 ? stride[d] * in_strides[d] : 0, out_strides[d]};
  }
  array_kernels::StridedCopy(in.raw_data(), out->raw_data(), DataTypeSize(in.dtype()), base, 0,
                             std::move(dims), ctx.intra_op_threads());
  return absl::OkStatus();
}

class SliceOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> begin, array_kernels::HostInts(ctx, 1, "begin"));
    ASSIGN_OR_RETURN(std::vector<int64_t> size, array_kernels::HostInts(ctx, 2, "size"));
    std::vector<int64_t> b, s;
    auto shape = array_kernels::SliceBounds(ctx, begin, size, &b, &s);
    if (!shape.ok()) return shape.status();
    if (*shape == in.shape()) {  // the whole tensor
      ctx.set_output(0, in);
      return absl::OkStatus();
    }
    return CopySelection(ctx, *shape, b, std::vector<int64_t>(b.size(), 1), s);
  }
};

class StridedSliceOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(masks_, array_plans::ParseStridedSliceMasks(c));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> begin, array_kernels::HostInts(ctx, 1, "begin"));
    ASSIGN_OR_RETURN(std::vector<int64_t> end, array_kernels::HostInts(ctx, 2, "end"));
    ASSIGN_OR_RETURN(std::vector<int64_t> strides, array_kernels::HostInts(ctx, 3, "strides"));
    auto plan = as::PlanStridedSlice(in.shape(), &begin, &end, &strides,
                                     static_cast<int>(begin.size()), masks_);
    if (!plan.ok()) return NodeError(ctx, plan.status());
    if (plan->is_identity) {
      auto out = in.Reshaped(plan->output_shape);
      if (!out.ok()) return NodeError(ctx, out.status());
      ctx.set_output(0, *std::move(out));
      return absl::OkStatus();
    }
    return CopySelection(ctx, plan->output_shape, plan->begin, plan->stride, plan->size);
  }

 private:
  as::StridedSliceMasks masks_;
};

QUIVER_REGISTER_KERNEL(
    KernelDef("Slice", kCpu).TypeConstraint("T", AllTypes()).HostMemory("begin").HostMemory("size"),
    InitFactory<SliceOp>());
QUIVER_REGISTER_KERNEL(KernelDef("StridedSlice", kCpu)
                           .TypeConstraint("T", AllTypes())
                           .HostMemory("begin")
                           .HostMemory("end")
                           .HostMemory("strides"),
                       InitFactory<StridedSliceOp>());

}  // namespace
}  // namespace quiver
