// Non-template helpers shared by the element-wise kernels (see cwise_ops_common.h). The
// kernels themselves live in cwise_unary.cc, cwise_binary*.cc, comparison_ops.cc and
// cast_op.cc so that each translation unit stays small.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace cwise {

absl::StatusOr<BroadcastPlan> PlanBroadcast(const TensorShape& x, const TensorShape& y) {
  BroadcastPlan plan;
  const int rx = x.rank(), ry = y.rank();
  const int rank = std::max(rx, ry);
  std::vector<int64_t> out(rank);
  for (int i = 0; i < rank; ++i) {
    const int ix = i - (rank - rx), iy = i - (rank - ry);
    const int64_t dx = ix >= 0 ? x.dim(ix) : 1;
    const int64_t dy = iy >= 0 ? y.dim(iy) : 1;
    if (dx != dy && dx != 1 && dy != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "incompatible shapes for broadcasting: ", x.DebugString(), " vs ", y.DebugString()));
    }
    out[i] = dx == 1 ? dy : dx;
    // Collapse: drop size-1 output dims, merge a dim into the previous one when both inputs
    // are broadcast (or not) the same way in both.
    if (out[i] == 1) continue;
    const bool bx = dx == 1, by = dy == 1;
    const size_t n = plan.out_dims.size();
    if (n > 0 && (plan.x_dims[n - 1] == 1) == bx && (plan.y_dims[n - 1] == 1) == by) {
      plan.out_dims[n - 1] *= out[i];
      if (!bx) plan.x_dims[n - 1] *= out[i];
      if (!by) plan.y_dims[n - 1] *= out[i];
    } else {
      plan.out_dims.push_back(out[i]);
      plan.x_dims.push_back(bx ? 1 : out[i]);
      plan.y_dims.push_back(by ? 1 : out[i]);
    }
  }
  plan.output_shape = TensorShape(std::move(out));
  plan.num_elements = plan.output_shape.num_elements();
  // A zero-size output needs no loop; dropping its dims keeps the loops simple.
  if (plan.num_elements == 0) {
    plan.out_dims.clear();
    plan.x_dims.clear();
    plan.y_dims.clear();
  }
  return plan;
}

void ParallelForRange(OpKernelContext& ctx, int64_t n, int64_t cost,
                      const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t min_chunk = std::max<int64_t>(1, kParallelMinElements / std::max<int64_t>(1, cost));
  ParallelFor(ctx.intra_op_threads(), n, min_chunk, fn);
}

absl::Status CheckDtype(OpKernelContext& ctx, int input, DataType expected) {
  const Tensor& t = ctx.input(input);
  if (t.dtype() != expected) {
    return ctx.Error(absl::StrCat("input ", input, " is ", DataTypeName(t.dtype()), " (",
                                  t.shape().DebugString(), "), expected ", DataTypeName(expected)));
  }
  return absl::OkStatus();
}

}  // namespace cwise
}  // namespace quiver
