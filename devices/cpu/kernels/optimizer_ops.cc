// The fused TF1 optimizer updates on ref variables: ApplyGradientDescent, ApplyMomentum and
// ApplyAdam, with TensorFlow's formulas (training_ops.cc):
//
//   GradientDescent: var -= alpha * delta
//   Momentum:        accum = accum * momentum + grad
//                    var -= lr * accum                                  (use_nesterov=false)
//                    var -= lr * grad + lr * momentum * accum           (use_nesterov=true)
//   Adam:            lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power)
//                    m += (grad - m) * (1 - beta1);  v += (grad^2 - v) * (1 - beta2)
//                    var -= lr_t * m / (sqrt(v) + epsilon)                     (nesterov=false)
//                    var -= lr_t * (m * beta1 + (1 - beta1) * grad) / (sqrt(v) + epsilon)
//
// Updates are in place on the variables' buffers and always hold the variables' mutexes,
// whatever use_locking says: Variable::value must never be written while another thread reads
// it. A buffer a reader still holds (a fetch, or an inference step's read) is copied first
// (Variable::PrepareForInPlaceWrite), so readers never see a half-applied update. The distinct
// variables are locked in address order, so two updates sharing variables cannot deadlock, and one
// variable passed twice is locked once.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/update_checks.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

constexpr int64_t kMinElementsPerChunk = 32 * 1024;

// The ref inputs [0, n) of an update, locked for its lifetime.
class LockedVariables {
 public:
  LockedVariables() = default;
  LockedVariables(const LockedVariables&) = delete;
  LockedVariables& operator=(const LockedVariables&) = delete;
  ~LockedVariables() {
    for (auto it = locked_.rbegin(); it != locked_.rend(); ++it) (*it)->mu.Unlock();
  }

  // Locks the variables behind ref inputs [0, n), then checks that each is initialised and
  // holds a T tensor of the first one's shape.
  absl::Status Acquire(OpKernelContext& ctx, int n, DataType dtype) {
    ASSIGN_OR_RETURN(vars_, update_checks::RefVariables(ctx, n));
    locked_ = vars_;
    std::sort(locked_.begin(), locked_.end());
    locked_.erase(std::unique(locked_.begin(), locked_.end()), locked_.end());
    for (Variable* v : locked_) v->mu.Lock();
    RETURN_IF_ERROR(update_checks::CheckVariables(ctx, vars_, dtype));
    for (Variable* v : locked_) {
      if (absl::Status s = v->PrepareForInPlaceWrite(); !s.ok()) {
        return array_kernels::NodeError(ctx, s);
      }
    }
    return absl::OkStatus();
  }

  Variable* var(int i) const { return vars_[i]; }
  template <typename T>
  T* data(int i) const {
    return vars_[i]->value.data<T>();
  }

 private:
  std::vector<Variable*> vars_;    // by input slot
  std::vector<Variable*> locked_;  // distinct, in lock order
};

// Checks the non-ref inputs: `grad` has the variables' shape, the others are scalars.
absl::Status CheckOperands(const OpKernelContext& ctx, const LockedVariables& vars, int first,
                           int grad) {
  return update_checks::CheckOperands(ctx, vars.var(0)->value.shape(), first, grad);
}

template <typename T>
T Scalar(const OpKernelContext& ctx, int i) {
  return *ctx.input(i).data<T>();
}

// Runs fn(begin, end) over the n elements, in parallel when large.
template <typename F>
void ForElements(const OpKernelContext& ctx, int64_t n, const F& fn) {
  ParallelFor(ctx.intra_op_threads(), n, kMinElementsPerChunk, fn);
}

template <typename T>
class ApplyGradientDescentOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    LockedVariables vars;
    RETURN_IF_ERROR(vars.Acquire(ctx, 1, DataTypeOf<T>::value));
    RETURN_IF_ERROR(CheckOperands(ctx, vars, 1, /*grad=*/2));
    T* var = vars.data<T>(0);
    const T alpha = Scalar<T>(ctx, 1);
    const T* delta = ctx.input(2).data<T>();
    ForElements(ctx, ctx.input(2).num_elements(), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) var[i] -= alpha * delta[i];
    });
    ctx.set_output_ref(0, vars.var(0));
    return absl::OkStatus();
  }
};

template <typename T>
class ApplyMomentumOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(nesterov_, c.GetAttr<bool>("use_nesterov"));
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    LockedVariables vars;
    RETURN_IF_ERROR(vars.Acquire(ctx, 2, DataTypeOf<T>::value));
    RETURN_IF_ERROR(CheckOperands(ctx, vars, 2, /*grad=*/3));
    T* var = vars.data<T>(0);
    T* accum = vars.data<T>(1);
    const T lr = Scalar<T>(ctx, 2), momentum = Scalar<T>(ctx, 4);
    const T* grad = ctx.input(3).data<T>();
    const bool nesterov = nesterov_;
    ForElements(ctx, ctx.input(3).num_elements(), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        accum[i] = accum[i] * momentum + grad[i];
        if (nesterov) {
          var[i] -= grad[i] * lr + accum[i] * momentum * lr;
        } else {
          var[i] -= accum[i] * lr;
        }
      }
    });
    ctx.set_output_ref(0, vars.var(0));
    return absl::OkStatus();
  }

 private:
  bool nesterov_ = false;
};

template <typename T>
class ApplyAdamOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(nesterov_, c.GetAttr<bool>("use_nesterov"));
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    LockedVariables vars;
    RETURN_IF_ERROR(vars.Acquire(ctx, 3, DataTypeOf<T>::value));
    RETURN_IF_ERROR(CheckOperands(ctx, vars, 3, /*grad=*/9));
    T* var = vars.data<T>(0);
    T* m = vars.data<T>(1);
    T* v = vars.data<T>(2);
    const T beta1_power = Scalar<T>(ctx, 3), beta2_power = Scalar<T>(ctx, 4);
    const T lr = Scalar<T>(ctx, 5), beta1 = Scalar<T>(ctx, 6), beta2 = Scalar<T>(ctx, 7);
    const T epsilon = Scalar<T>(ctx, 8);
    const T* grad = ctx.input(9).data<T>();
    // The bias corrections of m and v folded into the step size, as TF does.
    const T alpha = lr * std::sqrt(T(1) - beta2_power) / (T(1) - beta1_power);
    // Adam on a 3M-parameter layer is memory-bound, so the update must vectorise. A plain
    // loop does not (std::sqrt keeps errno semantics, so GCC emits scalar code: measured 17%
    // of a CNN training step under perf); Eigen's packet sqrt/divide do, with IEEE results.
    // Blocks of kBlock elements keep the three passes' re-reads in the L1 cache.
    const T one_minus_beta1 = T(1) - beta1, one_minus_beta2 = T(1) - beta2;
    const T nesterov_scale = nesterov_ ? beta1 : T(1);
    const T nesterov_grad = nesterov_ ? one_minus_beta1 : T(0);
    ForElements(ctx, ctx.input(9).num_elements(), [&](int64_t i0, int64_t i1) {
      using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
      constexpr int64_t kBlock = 1024;
      for (int64_t b = i0; b < i1; b += kBlock) {
        const Eigen::Index len = static_cast<Eigen::Index>(std::min(kBlock, i1 - b));
        Eigen::Map<const Array> g(grad + b, len);
        Eigen::Map<Array> m_b(m + b, len), v_b(v + b, len), var_b(var + b, len);
        m_b += (g - m_b) * one_minus_beta1;
        v_b += (g * g - v_b) * one_minus_beta2;
        var_b -= ((g * nesterov_grad + m_b * nesterov_scale) * alpha) / (v_b.sqrt() + epsilon);
      }
    });
    ctx.set_output_ref(0, vars.var(0));
    return absl::OkStatus();
  }

 private:
  bool nesterov_ = false;
};

using array_kernels::InitFactory;

#define QUIVER_REGISTER_APPLY(op, Kernel, T)                                              \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         InitFactory<Kernel<T>>())
QUIVER_REGISTER_APPLY("ApplyGradientDescent", ApplyGradientDescentOp, float);
QUIVER_REGISTER_APPLY("ApplyGradientDescent", ApplyGradientDescentOp, double);
QUIVER_REGISTER_APPLY("ApplyMomentum", ApplyMomentumOp, float);
QUIVER_REGISTER_APPLY("ApplyMomentum", ApplyMomentumOp, double);
QUIVER_REGISTER_APPLY("ApplyAdam", ApplyAdamOp, float);
QUIVER_REGISTER_APPLY("ApplyAdam", ApplyAdamOp, double);
#undef QUIVER_REGISTER_APPLY

}  // namespace
}  // namespace quiver
