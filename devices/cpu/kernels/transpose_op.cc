// Transpose: a strided gather. StridedCopy merges dimensions that stay adjacent, turns an
// unchanged innermost block into memcpy runs, and tiles true 2-D (and batched 2-D) transposes
// for cache reuse. Permutations that only move size-1 dims alias the input.
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace as = array_shapes;
using array_kernels::CopyDim;
using array_kernels::NodeError;

class TransposeOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> perm, array_kernels::HostInts(ctx, 1, "perm"));
    auto shape = as::TransposeShape(in.shape(), &perm, static_cast<int>(perm.size()));
    if (!shape.ok()) return NodeError(ctx, shape.status());

    // Same byte order when the dims larger than 1 keep their relative order.
    bool same_order = true;
    int64_t last = -1;
    for (int64_t p : perm) {
      if (in.dim(static_cast<int>(p)) <= 1) continue;
      if (p < last) same_order = false;
      last = p;
    }
    if (same_order) {
      auto out = in.Reshaped(*shape);
      if (!out.ok()) return NodeError(ctx, out.status());
      ctx.set_output(0, *std::move(out));
      return absl::OkStatus();
    }

    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    std::vector<int64_t> in_strides = array_kernels::RowMajorStrides(in.shape().dims());
    std::vector<int64_t> out_strides = array_kernels::RowMajorStrides(shape->dims());
    std::vector<CopyDim> dims(perm.size());
    for (size_t k = 0; k < perm.size(); ++k) {
      dims[k] = {shape->dim(static_cast<int>(k)), in_strides[perm[k]], out_strides[k]};
    }
    array_kernels::StridedCopy(in.raw_data(), out->raw_data(), DataTypeSize(in.dtype()), 0, 0,
                               std::move(dims), ctx.intra_op_threads());
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("Transpose", kCpu).TypeConstraint("T", array_kernels::AllTypes()).HostMemory("perm"),
    array_kernels::InitFactory<TransposeOp>());

}  // namespace
}  // namespace quiver
