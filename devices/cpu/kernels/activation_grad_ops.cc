// Gradients of the element-wise activations, with TF's argument conventions:
//   ReluGrad(gradients, features)   = gradients * (features > 0)
//   Relu6Grad(gradients, features)  = gradients * (0 < features < 6)
//   EluGrad(gradients, outputs)     = outputs < 0 ? gradients * (outputs + 1) : gradients
//   SigmoidGrad(y, dy)              = dy * y * (1 - y)      (y: the forward output)
//   TanhGrad(y, dy)                 = dy * (1 - y * y)
// Both inputs must have one shape. The incoming gradient's buffer is reused when this node
// holds the only reference to it.
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// Each functor maps (input 0, input 1) to the output; kGradInput is the gradient's slot.
struct ReluGradF {
  static constexpr int kGradInput = 0;
  template <typename T>
  static T Apply(T g, T f) {
    return f > T(0) ? g : T(0);
  }
};
struct Relu6GradF {
  static constexpr int kGradInput = 0;
  template <typename T>
  static T Apply(T g, T f) {
    return (f > T(0) && f < T(6)) ? g : T(0);
  }
};
struct EluGradF {
  static constexpr int kGradInput = 0;
  template <typename T>
  static T Apply(T g, T out) {
    return out < T(0) ? g * (out + T(1)) : g;
  }
};
struct SigmoidGradF {
  static constexpr int kGradInput = 1;
  template <typename T>
  static T Apply(T y, T dy) {
    return dy * y * (T(1) - y);
  }
};
struct TanhGradF {
  static constexpr int kGradInput = 1;
  template <typename T>
  static T Apply(T y, T dy) {
    return dy * (T(1) - y * y);
  }
};

template <typename T, typename F>
class ActivationGradOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (a.shape() != b.shape()) {
      return ctx.Error(
          absl::StrCat("the gradient and the forward tensor must have the same shape, "
                       "got ",
                       a.shape().DebugString(), " and ", b.shape().DebugString()));
    }
    // Element i of the output is written after both inputs' element i are read, so writing
    // over the gradient's buffer is safe.
    ASSIGN_OR_RETURN(Tensor * out,
                     ctx.forward_input_or_allocate_output(F::kGradInput, 0, a.shape()));
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out->data<T>();
    ParallelFor(ctx.intra_op_threads(), a.num_elements(), 32 * 1024, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) po[i] = F::Apply(pa[i], pb[i]);
    });
    return absl::OkStatus();
  }
};

using array_kernels::InitFactory;

#define QUIVER_REGISTER_ACT_GRAD(op, F, T)                                                \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (InitFactory<ActivationGradOp<T, F>>()))
QUIVER_REGISTER_ACT_GRAD("ReluGrad", ReluGradF, float);
QUIVER_REGISTER_ACT_GRAD("ReluGrad", ReluGradF, double);
QUIVER_REGISTER_ACT_GRAD("ReluGrad", ReluGradF, int32_t);
QUIVER_REGISTER_ACT_GRAD("ReluGrad", ReluGradF, int64_t);
QUIVER_REGISTER_ACT_GRAD("Relu6Grad", Relu6GradF, float);
QUIVER_REGISTER_ACT_GRAD("Relu6Grad", Relu6GradF, double);
QUIVER_REGISTER_ACT_GRAD("EluGrad", EluGradF, float);
QUIVER_REGISTER_ACT_GRAD("EluGrad", EluGradF, double);
QUIVER_REGISTER_ACT_GRAD("SigmoidGrad", SigmoidGradF, float);
QUIVER_REGISTER_ACT_GRAD("SigmoidGrad", SigmoidGradF, double);
QUIVER_REGISTER_ACT_GRAD("TanhGrad", TanhGradF, float);
QUIVER_REGISTER_ACT_GRAD("TanhGrad", TanhGradF, double);
#undef QUIVER_REGISTER_ACT_GRAD

}  // namespace
}  // namespace quiver
