// Gradients of the element-wise activations, with TF's argument conventions:
//   ReluGrad(gradients, features)   = gradients * (features > 0)
//   Relu6Grad(gradients, features)  = gradients * (0 < features < 6)
//   EluGrad(gradients, outputs)     = outputs < 0 ? gradients * (outputs + 1) : gradients
//   SigmoidGrad(y, dy)              = dy * y * (1 - y)      (y: the forward output)
//   TanhGrad(y, dy)                 = dy * (1 - y * y)
//   SeluGrad(gradients, outputs)    = outputs < 0 ? gradients * (outputs + scale * alpha)
//                                                 : gradients * scale
//   LeakyReluGrad(gradients, features; alpha) = features > 0 ? gradients : gradients * alpha
//   SoftplusGrad(gradients, features)  = gradients / (1 + exp(-features))
//   SoftsignGrad(gradients, features)  = gradients / (1 + |features|)^2
// Both inputs must have one shape. The incoming gradient's buffer is reused when this node
// holds the only reference to it.
#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "devices/common/nn_functors.h"
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

// The newer ones run the shared functors (devices/common/nn_functors.h).
struct SeluGradF {
  static constexpr int kGradInput = 0;
  template <typename T>
  static T Apply(T g, T out) {
    return functor::SeluGrad<T>()(g, out);
  }
};
struct SoftplusGradF {
  static constexpr int kGradInput = 0;
  template <typename T>
  static T Apply(T g, T f) {
    return functor::SoftplusGrad<T>()(g, f);
  }
};
struct SoftsignGradF {
  static constexpr int kGradInput = 0;
  template <typename T>
  static T Apply(T g, T f) {
    return functor::SoftsignGrad<T>()(g, f);
  }
};
// LeakyReluGrad reads the node's `alpha` attr (kAlpha).
struct LeakyReluGradF {
  static constexpr int kGradInput = 0;
  static constexpr bool kAlpha = true;
  template <typename T>
  static T Apply(T g, T f, float alpha) {
    functor::LeakyReluGrad<T> fn;
    fn.alpha = static_cast<T>(alpha);
    return fn(g, f);
  }
};

template <typename F, typename = void>
struct UsesAlpha : std::false_type {};
template <typename F>
struct UsesAlpha<F, std::void_t<decltype(F::kAlpha)>> : std::true_type {};

template <typename T, typename F>
class ActivationGradOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    if constexpr (UsesAlpha<F>::value) {
      ASSIGN_OR_RETURN(alpha_, c.GetAttr<float>("alpha"));
    }
    return absl::OkStatus();
  }

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
      if constexpr (UsesAlpha<F>::value) {
        for (int64_t i = i0; i < i1; ++i) po[i] = F::Apply(pa[i], pb[i], alpha_);
      } else {
        for (int64_t i = i0; i < i1; ++i) po[i] = F::Apply(pa[i], pb[i]);
      }
    });
    return absl::OkStatus();
  }

 private:
  float alpha_ = 0.2f;
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
QUIVER_REGISTER_ACT_GRAD("SeluGrad", SeluGradF, float);
QUIVER_REGISTER_ACT_GRAD("SeluGrad", SeluGradF, double);
QUIVER_REGISTER_ACT_GRAD("LeakyReluGrad", LeakyReluGradF, float);
QUIVER_REGISTER_ACT_GRAD("LeakyReluGrad", LeakyReluGradF, double);
QUIVER_REGISTER_ACT_GRAD("SoftplusGrad", SoftplusGradF, float);
QUIVER_REGISTER_ACT_GRAD("SoftplusGrad", SoftplusGradF, double);
QUIVER_REGISTER_ACT_GRAD("SoftsignGrad", SoftsignGradF, float);
QUIVER_REGISTER_ACT_GRAD("SoftsignGrad", SoftsignGradF, double);
#undef QUIVER_REGISTER_ACT_GRAD

}  // namespace
}  // namespace quiver
