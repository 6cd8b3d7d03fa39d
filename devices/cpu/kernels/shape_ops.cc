// Shape, ShapeN, Size, Rank: read metadata only; outputs live in host memory.
#include <cstdint>
#include <limits>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;

// Writes `values` into output i as int32 or int64 (the node's output dtype); int32 outputs
// reject values that do not fit, as TF does.
absl::Status WriteInts(OpKernelContext& ctx, int i, const std::vector<int64_t>& values,
                       const TensorShape& shape) {
  ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(i, shape));
  if (out->dtype() == DT_INT64) {
    for (size_t k = 0; k < values.size(); ++k) out->data<int64_t>()[k] = values[k];
    return absl::OkStatus();
  }
  for (size_t k = 0; k < values.size(); ++k) {
    if (values[k] > std::numeric_limits<int32_t>::max()) {
      return array_kernels::Int32OutputOverflow(ctx, values[k]);
    }
    out->data<int32_t>()[k] = static_cast<int32_t>(values[k]);
  }
  return absl::OkStatus();
}

class ShapeOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i = 0; i < ctx.num_inputs() && i < ctx.num_outputs(); ++i) {
      const std::vector<int64_t>& dims = ctx.input(i).shape().dims();
      RETURN_IF_ERROR(WriteInts(ctx, i, dims, TensorShape{static_cast<int64_t>(dims.size())}));
    }
    return absl::OkStatus();
  }
};

class SizeOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    return WriteInts(ctx, 0, {ctx.input(0).num_elements()}, TensorShape{});
  }
};

class RankOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    return WriteInts(ctx, 0, {ctx.input(0).rank()}, TensorShape{});
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("Shape", kCpu).TypeConstraint("T", AllTypes()).HostMemory("output"),
    InitFactory<ShapeOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("ShapeN", kCpu).TypeConstraint("T", AllTypes()).HostMemory("output"),
    InitFactory<ShapeOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Size", kCpu).TypeConstraint("T", AllTypes()).HostMemory("output"),
                       InitFactory<SizeOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Rank", kCpu).TypeConstraint("T", AllTypes()).HostMemory("output"),
                       InitFactory<RankOp>());

}  // namespace
}  // namespace quiver
