// Reshape, Squeeze, ExpandDims: metadata-only; the output aliases the input's buffer.
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace as = array_shapes;
using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::SetReshaped;

class ReshapeOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> requested, array_kernels::HostInts(ctx, 1, "shape"));
    return SetReshaped(ctx, as::ReshapeShape(ctx.input(0).shape(), requested));
  }
};

class SqueezeOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(dims_, c.GetAttr<std::vector<int64_t>>("squeeze_dims"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    return SetReshaped(ctx, as::SqueezeShape(ctx.input(0).shape(), dims_));
  }

 private:
  std::vector<int64_t> dims_;
};

class ExpandDimsOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t dim, array_kernels::HostScalar(ctx, 1, "dim"));
    return SetReshaped(ctx, as::ExpandDimsShape(ctx.input(0).shape(), &dim));
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("Reshape", kCpu).TypeConstraint("T", AllTypes()).HostMemory("shape"),
    InitFactory<ReshapeOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Squeeze", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<SqueezeOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("ExpandDims", kCpu).TypeConstraint("T", AllTypes()).HostMemory("dim"),
    InitFactory<ExpandDimsOp>());

}  // namespace
}  // namespace quiver
