// BroadcastGradientArgs (TF's op of the same name): given the shapes s0 and s1 of a broadcasting
// binary op's inputs, returns the axes of the broadcast output over which each input's
// gradient must be summed. Gradient functions use it when the shapes are not known well enough
// at graph-build time (x[?,784] + b[?]-style); shapes and axes always live in host memory.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/kernel.h"
#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

absl::Status BroadcastGradientArgsShape(InferenceContext& c) {
  for (int i = 0; i < 2; ++i) {
    const TensorShape& s = c.input_shape(i);
    if (!s.unknown_rank() && s.rank() != 1) {
      return c.Error(absl::StrCat("s", i, " must be a vector, got shape ", s.DebugString()));
    }
  }
  c.set_output(0, TensorShape{TensorShape::kUnknownDim});
  c.set_output(1, TensorShape{TensorShape::kUnknownDim});
  return absl::OkStatus();
}

class BroadcastGradientArgsOp : public OpKernel {
 public:
  explicit BroadcastGradientArgsOp(OpKernelConstruction&) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    std::vector<int64_t> s[2];
    for (int i = 0; i < 2; ++i) {
      if (ctx.input(i).rank() != 1) {
        return ctx.Error(absl::StrCat("s", i, " must be a vector, got shape ",
                                      ctx.input(i).shape().DebugString()));
      }
      auto v = ctx.input(i).AsInt64Vector();
      if (!v.ok()) return ctx.Error(std::string(v.status().message()));
      s[i] = *std::move(v);
    }
    const int r0 = static_cast<int>(s[0].size()), r1 = static_cast<int>(s[1].size());
    const int rank = std::max(r0, r1);
    std::vector<int64_t> reduce[2];
    for (int d = 0; d < rank; ++d) {
      const int i0 = d - (rank - r0), i1 = d - (rank - r1);
      const int64_t d0 = i0 >= 0 ? s[0][i0] : 1, d1 = i1 >= 0 ? s[1][i1] : 1;
      if (d0 != d1 && d0 != 1 && d1 != 1) {
        return ctx.Error(absl::StrCat("incompatible shapes for broadcasting: [",
                                      absl::StrJoin(s[0], ","), "] vs [", absl::StrJoin(s[1], ","),
                                      "]"));
      }
      // A size-1 (or missing) dim is summed over; summing a dim that stays size 1 is harmless
      // because callers reshape the sum to the input's shape.
      if (d0 == 1) reduce[0].push_back(d);
      if (d1 == 1) reduce[1].push_back(d);
    }
    for (int i = 0; i < 2; ++i) {
      ASSIGN_OR_RETURN(Tensor * out,
                       ctx.allocate_output(i, TensorShape{static_cast<int64_t>(reduce[i].size())}));
      for (size_t k = 0; k < reduce[i].size(); ++k) {
        if (out->dtype() == DT_INT64) {
          out->data<int64_t>()[k] = reduce[i][k];
        } else {
          out->data<int32_t>()[k] = static_cast<int32_t>(reduce[i][k]);
        }
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

QUIVER_REGISTER_OP("BroadcastGradientArgs")
    .Input("s0: T")
    .Input("s1: T")
    .Output("r0: T")
    .Output("r1: T")
    .Attr("T: {int32, int64} = DT_INT32")
    .SetShapeFn(BroadcastGradientArgsShape);

QUIVER_REGISTER_KERNEL(KernelDef("BroadcastGradientArgs", kCpu)
                           .TypeConstraint("T", {DT_INT32, DT_INT64})
                           .HostMemory("s0")
                           .HostMemory("s1")
                           .HostMemory("r0")
                           .HostMemory("r1"),
                       MakeFactory<BroadcastGradientArgsOp>());

QUIVER_NO_GRADIENT("BroadcastGradientArgs");

}  // namespace quiver
