// Softmax and LogSoftmax over the last axis, for float32 and float64, with Eigen's vectorised
// exp/log. Each row is shifted by its maximum before exponentiating, so large logits neither
// overflow nor lose the small terms. The arithmetic follows TF's CPU kernel step by step
// (softmax = exp(x - max) * (1 / sum), logsoftmax = (x - max) - log(sum)): oneDNN's
// softmax uses faster, approximate exp/log and drifts past TF-fixture tolerances on
// LogSoftmax, where the subtraction exposes the approximation error.
#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "devices/common/array_plans.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// About this many elements per parallel chunk: below it, threading costs more than it saves.
constexpr int64_t kElementsPerChunk = 1 << 14;

template <typename T, bool kLog>
void SoftmaxRows(int64_t begin, int64_t end, int64_t cols, const T* in, T* out) {
  using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
  for (int64_t r = begin; r < end; ++r) {
    // Rows may alias (the output can reuse the input's buffer): every expression below reads
    // an element before, or in the same step as, writing it.
    Eigen::Map<const Row> x(in + r * cols, cols);
    Eigen::Map<Row> y(out + r * cols, cols);
    const T max = x.maxCoeff();
    if constexpr (kLog) {
      const T log_sum = std::log((x - max).exp().sum());
      y = (x - max) - log_sum;
    } else {
      y = (x - max).exp();
      y *= T(1) / y.sum();
    }
  }
}

template <typename T, bool kLog>
class SoftmaxOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& logits = ctx.input(0);
    RETURN_IF_ERROR(array_plans::CheckSoftmaxLogits(ctx, kLog));
    // Input and output have the same size, so the output may reuse the input's buffer.
    ASSIGN_OR_RETURN(Tensor * out, ctx.forward_input_or_allocate_output(0, 0, logits.shape()));
    if (logits.num_elements() == 0) return absl::OkStatus();
    const int64_t cols = logits.dim(logits.rank() - 1);
    const int64_t rows = logits.num_elements() / cols;
    const T* in = logits.data<T>();
    T* o = out->data<T>();
    ParallelFor(ctx.intra_op_threads(), rows, std::max<int64_t>(1, kElementsPerChunk / cols),
                [&](int64_t begin, int64_t end) { SoftmaxRows<T, kLog>(begin, end, cols, in, o); });
    return absl::OkStatus();
  }
};

template <typename T, bool kLog>
KernelOrError CreateSoftmax(OpKernelConstruction&) {
  return std::unique_ptr<OpKernel>(new SoftmaxOp<T, kLog>());
}

QUIVER_REGISTER_KERNEL(KernelDef("Softmax", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (CreateSoftmax<float, false>));
QUIVER_REGISTER_KERNEL(KernelDef("Softmax", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       (CreateSoftmax<double, false>));
QUIVER_REGISTER_KERNEL(KernelDef("LogSoftmax", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (CreateSoftmax<float, true>));
QUIVER_REGISTER_KERNEL(KernelDef("LogSoftmax", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       (CreateSoftmax<double, true>));

}  // namespace
}  // namespace quiver
