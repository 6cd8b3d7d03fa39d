#include "devices/control_flow_kernels.h"

#include "absl/strings/str_cat.h"

namespace quiver {
namespace {

// Output i takes input `in` as it came: a tensor, or the variable a ref edge points at.
void ForwardValue(OpKernelContext& ctx, int in, int out) {
  if (Variable* ref = ctx.ref_input(in)) {
    ctx.set_output_ref(out, ref);
  } else {
    ctx.set_output(out, ctx.input(in));
  }
}

class SwitchOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& pred = ctx.input(1);
    if (!pred.valid() || pred.dtype() != DT_BOOL || pred.num_elements() != 1 ||
        pred.shape().rank() != 0) {
      return ctx.Error(absl::StrCat("pred must be a bool scalar, got ",
                                    pred.valid() ? pred.shape().DebugString() : "no value"));
    }
    const int taken = *pred.data<bool>() ? 1 : 0;
    ForwardValue(ctx, 0, taken);
    ctx.set_output_dead(1 - taken);
    return absl::OkStatus();
  }
};

class MergeOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.input_is_dead(i)) continue;
      ForwardValue(ctx, i, 0);
      auto index = ctx.allocate_output(1, TensorShape({}));
      if (!index.ok()) return index.status();
      *(*index)->data<int32_t>() = i;
      return absl::OkStatus();
    }
    // The executor runs a Merge only when an input is alive.
    return ctx.Error("every input is dead");
  }
};

}  // namespace

KernelFactory SwitchKernelFactory() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::make_unique<SwitchOp>(); };
}

KernelFactory MergeKernelFactory() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::make_unique<MergeOp>(); };
}

}  // namespace quiver
