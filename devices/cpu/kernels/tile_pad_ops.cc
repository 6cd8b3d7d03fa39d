// Tile, Pad, PadV2 (constant padding), as strided copies.
#include <cstring>
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

class TileOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> multiples, array_kernels::HostInts(ctx, 1, "multiples"));
    auto shape = as::TileShape(in.shape(), &multiples, static_cast<int>(multiples.size()));
    if (!shape.ok()) return NodeError(ctx, shape.status());
    if (*shape == in.shape()) {  // all multiples 1 (or an empty tensor)
      ctx.set_output(0, in);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    // Output dim j (size m_j * d_j) read row-major is the index pair (k_j, i_j) over
    // [m_j, d_j]; the source ignores k_j (step 0) and walks i_j with the input stride.
    std::vector<int64_t> in_strides = array_kernels::RowMajorStrides(in.shape().dims());
    std::vector<int64_t> out_strides = array_kernels::RowMajorStrides(shape->dims());
    std::vector<CopyDim> dims;
    for (int j = 0; j < in.rank(); ++j) {
      dims.push_back({multiples[j], 0, in.dim(j) * out_strides[j]});
      dims.push_back({in.dim(j), in_strides[j], out_strides[j]});
    }
    array_kernels::StridedCopy(in.raw_data(), out->raw_data(), DataTypeSize(in.dtype()), 0, 0,
                               std::move(dims), ctx.intra_op_threads());
    return absl::OkStatus();
  }
};

class PadOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> paddings,
                     array_kernels::HostInts(ctx, 1, "paddings", /*want_rank=*/2));
    ASSIGN_OR_RETURN(array_plans::PadPlan plan, array_plans::PlanPad(ctx, std::move(paddings)));
    if (plan.identity) {  // nothing to pad
      ctx.set_output(0, in);
      return absl::OkStatus();
    }
    const size_t esize = DataTypeSize(in.dtype());
    std::vector<unsigned char> pad_value(esize, 0);
    if (ctx.num_inputs() > 2) {  // PadV2
      std::memcpy(pad_value.data(), ctx.input(2).raw_data(), esize);
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, plan.shape));
    array_kernels::FillElements(out->raw_data(), out->num_elements(), pad_value.data(), esize);
    std::vector<int64_t> in_strides = array_kernels::RowMajorStrides(in.shape().dims());
    std::vector<int64_t> out_strides = array_kernels::RowMajorStrides(plan.shape.dims());
    std::vector<CopyDim> dims;
    int64_t base = 0;
    for (int j = 0; j < in.rank(); ++j) {
      base += plan.paddings[2 * j] * out_strides[j];
      dims.push_back({in.dim(j), in_strides[j], out_strides[j]});
    }
    array_kernels::StridedCopy(in.raw_data(), out->raw_data(), esize, 0, base, std::move(dims),
                               ctx.intra_op_threads());
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("Tile", kCpu).TypeConstraint("T", AllTypes()).HostMemory("multiples"),
    InitFactory<TileOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("Pad", kCpu).TypeConstraint("T", AllTypes()).HostMemory("paddings"),
    InitFactory<PadOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("PadV2", kCpu).TypeConstraint("T", AllTypes()).HostMemory("paddings"),
    InitFactory<PadOp>());

}  // namespace
}  // namespace quiver
