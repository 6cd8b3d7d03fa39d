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

// _SwitchN: output `output_index` takes the data (the last one for an index out of range, as
// TF's Case runs its default branch); every other output is dead.
class SwitchNOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& index = ctx.input(1);
    if (!index.valid() || index.dtype() != DT_INT32 || index.num_elements() != 1 ||
        index.shape().rank() != 0) {
      return ctx.Error(absl::StrCat("output_index must be an int32 scalar, got ",
                                    index.valid() ? index.shape().DebugString() : "no value"));
    }
    const int n = ctx.num_outputs();
    int taken = *index.data<int32_t>();
    if (taken < 0 || taken >= n) taken = n - 1;
    for (int k = 0; k < n; ++k) {
      if (k == taken) {
        ForwardValue(ctx, 0, k);
      } else {
        ctx.set_output_dead(k);
      }
    }
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

KernelFactory SwitchNKernelFactory() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::make_unique<SwitchNOp>(); };
}

KernelFactory MergeKernelFactory() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::make_unique<MergeOp>(); };
}

}  // namespace quiver
