// GatherV2 and OneHot: index-driven copies of whole element blocks (bytes, any dtype).
#include <cstring>
#include <vector>

#include "devices/common/array_plans.h"
#include "devices/common/int_attr_kernel.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

// Reads indices of any of the integer index dtypes as int64.
absl::StatusOr<std::vector<int64_t>> ReadIndices(const OpKernelContext& ctx, int i) {
  const Tensor& t = ctx.input(i);
  auto v = array_plans::IndicesAsInt64(t.dtype(), t.raw_data(), t.num_elements());
  if (!v.ok()) return NodeError(ctx, v.status());
  return v;
}

class GatherV2Op : public Int64AttrKernel {
 public:
  GatherV2Op() : Int64AttrKernel("batch_dims") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& params = ctx.input(0);
    ASSIGN_OR_RETURN(int64_t axis, array_kernels::HostScalar(ctx, 2, "axis"));
    ASSIGN_OR_RETURN(array_plans::GatherPlan plan, array_plans::PlanGather(ctx, axis, attr()));
    const int64_t batch = plan.batch, outer = plan.outer, limit = plan.limit;
    const int64_t inner = plan.inner, n = plan.n;

    ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadIndices(ctx, 1));
    // Validate before copying anything.
    RETURN_IF_ERROR(NodeError(ctx, array_plans::CheckIndicesInRange(indices, limit)));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, plan.shape));
    const size_t esize = DataTypeSize(params.dtype());
    const size_t block = static_cast<size_t>(inner) * esize;
    const char* src = static_cast<const char*>(params.raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    const int64_t rows = batch * outer * n;
    ParallelFor(ctx.intra_op_threads(), rows,
                std::max<int64_t>(1, 32768 / std::max<int64_t>(1, static_cast<int64_t>(block))),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    const int64_t j = r % n;   // position in the indices (per batch)
                    const int64_t bo = r / n;  // batch * outer + o
                    const int64_t b = bo / outer;
                    const int64_t idx = indices[b * n + j];
                    std::memcpy(dst + r * block, src + (bo * limit + idx) * block, block);
                  }
                });
    return absl::OkStatus();
  }
};

class OneHotOp : public Int64AttrKernel {
 public:
  OneHotOp() : Int64AttrKernel("axis") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t depth, array_kernels::HostScalar(ctx, 1, "depth"));
    const Tensor& on = ctx.input(2);
    const Tensor& off = ctx.input(3);
    ASSIGN_OR_RETURN(array_plans::OneHotPlan plan, array_plans::PlanOneHot(ctx, depth, attr()));
    ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadIndices(ctx, 0));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, plan.shape));
    const int64_t prefix = plan.prefix, suffix = plan.suffix;
    const size_t esize = DataTypeSize(out->dtype());
    char* dst = static_cast<char*>(out->raw_data());
    array_kernels::FillElements(dst, out->num_elements(), off.raw_data(), esize);
    // Out-of-range (including negative) indices give an all-off row, as in TF.
    for (int64_t p = 0; p < prefix; ++p) {
      for (int64_t s = 0; s < suffix; ++s) {
        int64_t d = indices[p * suffix + s];
        if (d < 0 || d >= depth) continue;
        std::memcpy(dst + ((p * depth + d) * suffix + s) * static_cast<int64_t>(esize),
                    on.raw_data(), esize);
      }
    }
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("GatherV2", kCpu).TypeConstraint("Tparams", AllTypes()).HostMemory("axis"),
    InitFactory<GatherV2Op>());
QUIVER_REGISTER_KERNEL(
    KernelDef("OneHot", kCpu).TypeConstraint("T", AllTypes()).HostMemory("depth"),
    InitFactory<OneHotOp>());

}  // namespace
}  // namespace quiver
