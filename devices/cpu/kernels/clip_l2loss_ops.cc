// ClipByValue and L2Loss (TF's math_ops / nn_ops kernels).
//   ClipByValue(t, lo, hi) = min(max(t, lo), hi) per element, TF's order: functor::ClipValue. lo
//     and hi are scalars or have t's shape (array_plans::CheckClipByValueInputs, shared with the
//     GPU kernel); there is no other broadcasting, as in TF.
//   L2Loss(t) = sum(t^2) / 2, a scalar; float sums accumulate in double.
#include <cstdint>

#include "devices/common/array_plans.h"
#include "devices/common/cwise_functors.h"
#include "devices/cpu/kernels/cwise_ops_common.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

template <typename T>
class ClipByValueOp : public OpKernel {
 public:
  explicit ClipByValueOp(OpKernelConstruction&) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(cwise::CheckDtype(ctx, i, DataTypeOf<T>::value));
    RETURN_IF_ERROR(array_plans::CheckClipByValueInputs(ctx));
    const Tensor& x = ctx.input(0);
    const Tensor& lo_t = ctx.input(1);
    const Tensor& hi_t = ctx.input(2);
    const int64_t n = x.num_elements();
    const T* in = x.data<T>();
    const T* lo = lo_t.data<T>();
    const T* hi = hi_t.data<T>();
    // A scalar bound has stride 0 (an empty t has a scalar or empty bound: nothing is read).
    const int64_t lo_step = lo_t.rank() == 0 ? 0 : 1;
    const int64_t hi_step = hi_t.rank() == 0 ? 0 : 1;
    ASSIGN_OR_RETURN(Tensor * y, ctx.forward_input_or_allocate_output(0, 0, x.shape()));
    T* out = y->data<T>();
    cwise::ParallelForRange(ctx, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        out[i] = functor::ClipValue(in[i], lo[i * lo_step], hi[i * hi_step]);
      }
    });
    return absl::OkStatus();
  }
};

template <typename T>
class L2LossOp : public OpKernel {
 public:
  explicit L2LossOp(OpKernelConstruction&) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DataTypeOf<T>::value));
    const Tensor& x = ctx.input(0);
    const T* in = x.data<T>();
    double sum = 0;
    for (int64_t i = 0, n = x.num_elements(); i < n; ++i) {
      const double v = static_cast<double>(in[i]);
      sum += v * v;
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, TensorShape{}));
    y->data<T>()[0] = static_cast<T>(sum / 2);
    return absl::OkStatus();
  }
};

#define QUIVER_CLIP(T)                                                            \
  QUIVER_REGISTER_KERNEL(                                                         \
      KernelDef("ClipByValue", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
      MakeFactory<ClipByValueOp<T>>())
QUIVER_CLIP(float);
QUIVER_CLIP(double);
QUIVER_CLIP(int32_t);
QUIVER_CLIP(int64_t);
#undef QUIVER_CLIP
QUIVER_REGISTER_KERNEL(KernelDef("L2Loss", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       MakeFactory<L2LossOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("L2Loss", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       MakeFactory<L2LossOp<double>>());

}  // namespace
}  // namespace quiver
