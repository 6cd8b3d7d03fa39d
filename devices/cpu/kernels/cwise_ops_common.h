// Shared machinery for the CPU element-wise kernels: broadcast planning, the unary and binary
// kernel templates, and their loops. The inner loops are plain contiguous loops over a functor
// from devices/common/cwise_functors.h so that the compiler vectorises them; broadcasting is
// reduced to "outer odometer + contiguous inner loop" after collapsing adjacent dims.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/common/cwise_functors.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"

namespace quiver {
namespace cwise {

// Below this many elements (scaled by per-element cost) a loop stays on one thread: spreading
// a few microseconds of work over threads costs more than it saves.
inline constexpr int64_t kParallelMinElements = 32768;

// How two input shapes broadcast, with adjacent dims that broadcast the same way merged and
// size-1 output dims dropped. `out_dims`, `x_dims`, `y_dims` all have the collapsed rank; an
// input dim is either the output dim or 1.
struct BroadcastPlan {
  TensorShape output_shape;  // the full (uncollapsed) NumPy result shape
  std::vector<int64_t> out_dims;
  std::vector<int64_t> x_dims;
  std::vector<int64_t> y_dims;
  int64_t num_elements = 0;
};

// Fails with "incompatible shapes for broadcasting: [2,3] vs [4]".
absl::StatusOr<BroadcastPlan> PlanBroadcast(const TensorShape& x, const TensorShape& y);

// Runs fn(begin, end) over [0, n), over the intra-op threads when the work is large enough.
// `cost` is a rough per-element cost relative to an add (10 for exp/tanh).
void ParallelForRange(OpKernelContext& ctx, int64_t n, int64_t cost,
                      const std::function<void(int64_t, int64_t)>& fn);

// Checks that a kernel got the dtype it was registered for (a feed could in principle carry
// another one); a mismatch is an error, never a reinterpretation of bytes.
absl::Status CheckDtype(OpKernelContext& ctx, int input, DataType expected);

// ---- loops -------------------------------------------------------------------------------

template <typename Tin, typename Tout, typename F>
inline void LoopVV(const Tin* x, const Tin* y, Tout* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], y[i]);
}
template <typename Tin, typename Tout, typename F>
inline void LoopSV(Tin x, const Tin* y, Tout* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(x, y[i]);
}
template <typename Tin, typename Tout, typename F>
inline void LoopVS(const Tin* x, Tin y, Tout* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], y);
}

// Evaluates out = f(x, y) over a broadcast plan. Output may alias x or y when that input has
// the full output shape (each output element then reads only its own position).
template <typename Tin, typename Tout, typename F>
void BinaryBroadcastLoop(OpKernelContext& ctx, const BroadcastPlan& plan, const Tin* x,
                         const Tin* y, Tout* out, int64_t cost, F f) {
  const int rank = static_cast<int>(plan.out_dims.size());
  if (rank == 0) {  // every dim is 1: a single element
    if (plan.num_elements == 1) out[0] = f(x[0], y[0]);
    return;
  }
  const int64_t inner = plan.out_dims[rank - 1];
  const bool x_inner = plan.x_dims[rank - 1] != 1;
  const bool y_inner = plan.y_dims[rank - 1] != 1;
  auto inner_loop = [&](const Tin* xp, const Tin* yp, Tout* op, int64_t n) {
    if (x_inner && y_inner) {
      LoopVV(xp, yp, op, n, f);
    } else if (x_inner) {
      LoopVS(xp, *yp, op, n, f);
    } else {
      LoopSV(*xp, yp, op, n, f);
    }
  };
  if (rank == 1) {
    ParallelForRange(ctx, inner, cost, [&](int64_t begin, int64_t end) {
      inner_loop(x + (x_inner ? begin : 0), y + (y_inner ? begin : 0), out + begin, end - begin);
    });
    return;
  }
  // Outer dims are walked with an odometer; strides are 0 along broadcast dims.
  const int outer_rank = rank - 1;
  std::vector<int64_t> x_strides(outer_rank), y_strides(outer_rank);
  int64_t xs = plan.x_dims[rank - 1], ys = plan.y_dims[rank - 1];
  int64_t outer = 1;
  for (int d = outer_rank - 1; d >= 0; --d) {
    x_strides[d] = plan.x_dims[d] == 1 ? 0 : xs;
    y_strides[d] = plan.y_dims[d] == 1 ? 0 : ys;
    xs *= plan.x_dims[d];
    ys *= plan.y_dims[d];
    outer *= plan.out_dims[d];
  }
  ParallelForRange(ctx, outer, cost * inner, [&](int64_t begin, int64_t end) {
    // Decompose the first row index once; then step the odometer.
    std::vector<int64_t> idx(outer_rank);
    int64_t rem = begin, xo = 0, yo = 0;
    for (int d = outer_rank - 1; d >= 0; --d) {
      idx[d] = rem % plan.out_dims[d];
      rem /= plan.out_dims[d];
      xo += idx[d] * x_strides[d];
      yo += idx[d] * y_strides[d];
    }
    for (int64_t row = begin; row < end; ++row) {
      inner_loop(x + xo, y + yo, out + row * inner, inner);
      for (int d = outer_rank - 1; d >= 0; --d) {
        xo += x_strides[d];
        yo += y_strides[d];
        if (++idx[d] < plan.out_dims[d]) break;
        xo -= x_strides[d] * plan.out_dims[d];
        yo -= y_strides[d] * plan.out_dims[d];
        idx[d] = 0;
      }
    }
  });
}

// ---- kernels -----------------------------------------------------------------------------

// Validation hook for binary ops whose inputs can be invalid (integer division by zero,
// negative integer powers). The default accepts everything.
struct NoCheck {
  template <typename T>
  static absl::Status Check(OpKernelContext&, const T*, int64_t) {
    return absl::OkStatus();
  }
};

// y = f(x) with a functor; `Bulk` lets a specialisation replace the loop (Eigen's vectorised
// exp/log/tanh on the CPU) while keeping the functor for the GPU and the tests.
template <template <typename> class F>
struct FunctorBulk {
  template <typename T>
  static void Run(const T* in, T* out, int64_t n) {
    F<T> f;
    for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
  }
};

template <typename T, typename Bulk, int kCost = 1>
class UnaryOp : public OpKernel {
 public:
  explicit UnaryOp(OpKernelConstruction&) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckDtype(ctx, 0, DataTypeOf<T>::value));
    const Tensor& x = ctx.input(0);
    const T* in = x.data<T>();  // read before forwarding (the buffer stays alive either way)
    const int64_t n = x.num_elements();
    ASSIGN_OR_RETURN(Tensor * y, ctx.forward_input_or_allocate_output(0, 0, x.shape()));
    T* out = y->data<T>();
    ParallelForRange(ctx, n, kCost, [&](int64_t begin, int64_t end) {
      Bulk::Run(in + begin, out + begin, end - begin);
    });
    return absl::OkStatus();
  }
};

// z = f(x, y) with NumPy broadcasting. kEquality: Equal/NotEqual, whose
// incompatible_shape_error=false turns a shape mismatch into a scalar result (false for Equal,
// true for NotEqual) instead of an error, as in TensorFlow.
template <typename Tin, typename Tout, typename F, typename Checker = NoCheck, int kCost = 1,
          bool kEquality = false>
class BinaryOp : public OpKernel {
 public:
  explicit BinaryOp(OpKernelConstruction& c) {
    if constexpr (kEquality) {
      auto flag = c.GetAttr<bool>("incompatible_shape_error");
      incompatible_shape_error_ = !flag.ok() || *flag;
    }
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckDtype(ctx, 0, DataTypeOf<Tin>::value));
    RETURN_IF_ERROR(CheckDtype(ctx, 1, DataTypeOf<Tin>::value));
    const Tensor& xt = ctx.input(0);
    const Tensor& yt = ctx.input(1);
    auto plan = PlanBroadcast(xt.shape(), yt.shape());
    if (!plan.ok()) {
      if (kEquality && !incompatible_shape_error_) {
        ASSIGN_OR_RETURN(Tensor * z, ctx.allocate_output(0, TensorShape{}));
        // NotEqual's functor maps (0, 1) to true, Equal's to false.
        z->data<Tout>()[0] = F()(Tin(0), Tin(1));
        return absl::OkStatus();
      }
      return ctx.Error(std::string(plan.status().message()));
    }
    const Tin* x = xt.data<Tin>();
    const Tin* y = yt.data<Tin>();
    RETURN_IF_ERROR(Checker::Check(ctx, y, yt.num_elements()));
    // Reuse an input buffer when that input already has the output's shape.
    int forward = xt.shape() == plan->output_shape ? 0 : yt.shape() == plan->output_shape ? 1 : -1;
    Tensor* z;
    if (forward >= 0) {
      ASSIGN_OR_RETURN(z, ctx.forward_input_or_allocate_output(forward, 0, plan->output_shape));
    } else {
      ASSIGN_OR_RETURN(z, ctx.allocate_output(0, plan->output_shape));
    }
    if (plan->num_elements == 0) return absl::OkStatus();
    BinaryBroadcastLoop(ctx, *plan, x, y, z->data<Tout>(), kCost, F());
    return absl::OkStatus();
  }

 private:
  bool incompatible_shape_error_ = true;
};

// Integer Div/FloorDiv/FloorMod: a zero divisor is an error, as in TensorFlow.
struct IntDivCheck {
  template <typename T>
  static absl::Status Check(OpKernelContext& ctx, const T* y, int64_t n) {
    if constexpr (std::is_integral_v<T>) {
      bool zero = false;
      for (int64_t i = 0; i < n; ++i) zero |= y[i] == T(0);
      if (zero) return ctx.Error("Integer division by zero");
    }
    return absl::OkStatus();
  }
};

// Integer Pow: negative exponents have no integer result.
struct IntPowCheck {
  template <typename T>
  static absl::Status Check(OpKernelContext& ctx, const T* y, int64_t n) {
    if constexpr (std::is_integral_v<T>) {
      bool negative = false;
      for (int64_t i = 0; i < n; ++i) negative |= y[i] < T(0);
      if (negative) return ctx.Error("Integers to negative integer powers are not allowed");
    }
    return absl::OkStatus();
  }
};

// The factory for a same-type binary op T x T -> T with functor template F.
template <typename T, template <typename> class F, typename Checker = NoCheck, int kCost = 1>
KernelFactory BinaryFactory() {
  return MakeFactory<BinaryOp<T, T, F<T>, Checker, kCost>>();
}

}  // namespace cwise
}  // namespace quiver
