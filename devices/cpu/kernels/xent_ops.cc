// SoftmaxCrossEntropyWithLogits and SparseSoftmaxCrossEntropyWithLogits on the CPU.
//
// Per row, with m = max(logits) and s = sum(exp(logits - m)) (log-sum-exp, so large logits
// never overflow):
//   loss     = sum_j labels_j * (log(s) - (logits_j - m))
//   backprop = exp(logits_j - m) / s - labels_j
// The sparse form has a one-hot label row. Sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::InitFactory;
using array_kernels::NodeError;

// Rows per parallel chunk scale with the row length so a chunk is ~32k elements.
int64_t MinRowsPerChunk(int64_t classes) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(classes, 1));
}

// One row: `labels(j)` reads label j (a strided or one-hot view). Writes backprop, returns loss.
template <typename T, typename Labels>
double XentRow(const T* logits, int64_t logit_stride, int64_t classes, const Labels& labels,
               T* backprop) {
  T mx = logits[0];
  for (int64_t j = 1; j < classes; ++j) mx = std::max(mx, logits[j * logit_stride]);
  double sum = 0;
  for (int64_t j = 0; j < classes; ++j) {
    const T e = std::exp(logits[j * logit_stride] - mx);
    backprop[j] = e;
    sum += static_cast<double>(e);
  }
  const double log_sum = std::log(sum);
  double loss = 0;
  for (int64_t j = 0; j < classes; ++j) {
    const double label = static_cast<double>(labels(j));
    if (label != 0) {  // 0 * inf would turn a -inf logit with label 0 into NaN
      loss += label * (log_sum - static_cast<double>(logits[j * logit_stride] - mx));
    }
    backprop[j] = static_cast<T>(static_cast<double>(backprop[j]) / sum - label);
  }
  return loss;
}

template <typename T>
class SoftmaxXentOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& logits = ctx.input(0);
    const Tensor& labels = ctx.input(1);
    ASSIGN_OR_RETURN(array_plans::XentPlan plan, array_plans::PlanXent(ctx));
    const int64_t batch = plan.batch, classes = plan.classes;
    const int64_t lg_row = plan.logits_row_stride, lg_col = plan.logits_col_stride;
    const int64_t lb_row = plan.labels_row_stride, lb_col = plan.labels_col_stride;
    ASSIGN_OR_RETURN(Tensor * loss, ctx.allocate_output(0, TensorShape{batch}));
    ASSIGN_OR_RETURN(Tensor * backprop, ctx.allocate_output(1, plan.shape));
    if (batch == 0) return absl::OkStatus();
    const T* lg = logits.data<T>();
    const T* lb = labels.data<T>();
    T* loss_p = loss->data<T>();
    T* bp = backprop->data<T>();
    ParallelFor(
        ctx.intra_op_threads(), batch, MinRowsPerChunk(classes), [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            const T* label_row = lb + b * lb_row;
            auto label = [&](int64_t j) { return label_row[j * lb_col]; };
            loss_p[b] =
                static_cast<T>(XentRow(lg + b * lg_row, lg_col, classes, label, bp + b * classes));
          }
        });
    return absl::OkStatus();
  }
};

template <typename T, typename L>
class SparseSoftmaxXentOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& logits = ctx.input(0);
    const Tensor& labels = ctx.input(1);
    ASSIGN_OR_RETURN(array_plans::SparseXentPlan plan, array_plans::PlanSparseXent(ctx));
    const int64_t batch = plan.batch, classes = plan.classes;
    // Checked before any output is written: a bad label fails the step, as in TF.
    const L* lb = labels.data<L>();
    RETURN_IF_ERROR(NodeError(ctx, array_plans::CheckSparseLabels(lb, batch, classes)));
    ASSIGN_OR_RETURN(Tensor * loss, ctx.allocate_output(0, TensorShape{batch}));
    ASSIGN_OR_RETURN(Tensor * backprop, ctx.allocate_output(1, logits.shape()));
    const T* lg = logits.data<T>();
    T* loss_p = loss->data<T>();
    T* bp = backprop->data<T>();
    ParallelFor(
        ctx.intra_op_threads(), batch, MinRowsPerChunk(classes), [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t target = static_cast<int64_t>(lb[b]);
            auto label = [target](int64_t j) { return j == target ? 1.0 : 0.0; };
            loss_p[b] =
                static_cast<T>(XentRow(lg + b * classes, 1, classes, label, bp + b * classes));
          }
        });
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("SoftmaxCrossEntropyWithLogits", kCpu).TypeConstraint("T", {DT_FLOAT}),
    InitFactory<SoftmaxXentOp<float>>());
QUIVER_REGISTER_KERNEL(
    KernelDef("SoftmaxCrossEntropyWithLogits", kCpu).TypeConstraint("T", {DT_DOUBLE}),
    InitFactory<SoftmaxXentOp<double>>());

// The label dtype is a second type attr; the registry constrains one attr, so the kernel
// dispatches on Tlabels itself.
template <typename T>
KernelOrError CreateSparseXent(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(DataType tlabels, c.GetAttr<DataType>("Tlabels"));
  if (tlabels == DT_INT32) return InitFactory<SparseSoftmaxXentOp<T, int32_t>>()(c);
  if (tlabels == DT_INT64) return InitFactory<SparseSoftmaxXentOp<T, int64_t>>()(c);
  return c.Error("Tlabels must be int32 or int64, got " + DataTypeName(tlabels));
}

QUIVER_REGISTER_KERNEL(
    KernelDef("SparseSoftmaxCrossEntropyWithLogits", kCpu).TypeConstraint("T", {DT_FLOAT}),
    CreateSparseXent<float>);
QUIVER_REGISTER_KERNEL(
    KernelDef("SparseSoftmaxCrossEntropyWithLogits", kCpu).TypeConstraint("T", {DT_DOUBLE}),
    CreateSparseXent<double>);

}  // namespace
}  // namespace quiver
