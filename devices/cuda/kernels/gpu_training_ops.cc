// GPU OpKernels (float32) for training graphs, next to gpu_ops.cc:
// SparseSoftmaxCrossEntropyWithLogits (int32 or int64 labels) and AssignAdd / AssignSub on ref
// variables. Semantics and error messages follow the CPU kernels (devices/cpu/kernels/
// xent_ops.cc, variable_ops.cc). Device-resident labels are range-checked on the device and
// reported at the step's end (deferred_index_check.h): no mid-step sync.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/deferred_index_check.h"
#include "devices/cuda/kernels/launchers.h"
#include "devices/cuda/kernels/var_locks.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

using array_kernels::NodeError;

// ---- SparseSoftmaxCrossEntropyWithLogits -------------------------------------------------------

// The labels (int32 or int64) as host int64 values: read in place when the tensor is in host
// memory, else copied back on the compute stream (the stream that produced them) and waited for.
absl::StatusOr<std::vector<int64_t>> HostLabels(GpuScope& g, const Tensor& labels) {
  const int64_t n = labels.num_elements();
  std::vector<int64_t> out(static_cast<size_t>(n));
  if (n == 0) return out;
  const Allocator* a = labels.allocator();
  const void* src = labels.raw_data();
  std::vector<char> staged;
  if (a != nullptr && !a->host_accessible()) {
    staged.resize(labels.num_bytes());
    RETURN_IF_ERROR(g.Check(
        cudaMemcpyAsync(staged.data(), src, labels.num_bytes(), cudaMemcpyDeviceToHost, g.stream()),
        "copying the labels to the host"));
    RETURN_IF_ERROR(g.Check(cudaStreamSynchronize(g.stream()), "copying the labels to the host"));
    src = staged.data();
  }
  if (labels.dtype() == DT_INT64) {
    std::memcpy(out.data(), src, static_cast<size_t>(n) * sizeof(int64_t));
  } else {
    const int32_t* p = static_cast<const int32_t*>(src);
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
  }
  return out;
}

class SparseXentGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(RequireFloat(ctx, 0));
    const Tensor& logits = ctx.input(0);
    const Tensor& labels = ctx.input(1);
    if (labels.dtype() != DT_INT32 && labels.dtype() != DT_INT64) {
      return ctx.Error("Tlabels must be int32 or int64, got " + DataTypeName(labels.dtype()));
    }
    ASSIGN_OR_RETURN(array_plans::SparseXentPlan plan, array_plans::PlanSparseXent(ctx));
    const int64_t batch = plan.batch, classes = plan.classes;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    // A bad label fails the step, as on the CPU (TF's GPU kernel writes NaN instead; the
    // device kernel does too, meanwhile or as a backstop). Device-resident labels in an
    // executor step are checked on the device without a sync, reported at the step's end;
    // otherwise they are checked on the host before any output is written.
    if (CanDeferIndexCheck(ctx, g, labels)) {
      if (batch > 0) {
        const bool wide = labels.dtype() == DT_INT64;
        const int64_t shown = std::min<int64_t>(batch, 10);
        const size_t esize = wide ? sizeof(int64_t) : sizeof(int32_t);
        RETURN_IF_ERROR(DeferIndexCheck(
            g, labels, 0, classes, nullptr, static_cast<size_t>(shown) * esize,
            [wide, shown, batch, classes](int64_t k, int64_t v, const void* first) {
              // The message shows the first labels (copied); the others stand in as 0,
              // in range for every position before k.
              auto message = [&](auto zero) {
                using L = decltype(zero);
                std::vector<L> lb(static_cast<size_t>(batch), L{0});
                std::memcpy(lb.data(), first, static_cast<size_t>(shown) * sizeof(L));
                lb[static_cast<size_t>(k)] = static_cast<L>(v);
                return std::string(
                    array_plans::CheckSparseLabels(lb.data(), batch, classes).message());
              };
              return wide ? message(int64_t{0}) : message(int32_t{0});
            }));
      }
    } else {
      ASSIGN_OR_RETURN(std::vector<int64_t> lb, HostLabels(g, labels));
      RETURN_IF_ERROR(NodeError(ctx, array_plans::CheckSparseLabels(lb.data(), batch, classes)));
    }
    ASSIGN_OR_RETURN(float* loss, g.OutAs<float>(0, TensorShape{batch}));
    ASSIGN_OR_RETURN(float* back, g.OutAs<float>(1, logits.shape()));
    if (batch == 0) return g.Finish();
    ASSIGN_OR_RETURN(const float* lp, g.InAs<float>(0));
    ASSIGN_OR_RETURN(const void* yp, g.In(1));
    RETURN_IF_ERROR(g.Check(LaunchSparseSoftmaxXent(lp, yp, labels.dtype() == DT_INT64, loss, back,
                                                    batch, classes, g.stream()),
                            "sparse xent"));
    return g.Finish();
  }
};

// The label dtype is a second type attr; the registry constrains one, so the kernel checks
// Tlabels itself (as the CPU kernel does).
KernelOrError CreateSparseXent(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(DataType tlabels, c.GetAttr<DataType>("Tlabels"));
  if (tlabels != DT_INT32 && tlabels != DT_INT64) {
    return c.Error("Tlabels must be int32 or int64, got " + DataTypeName(tlabels));
  }
  return std::unique_ptr<OpKernel>(new SparseXentGpuOp());
}

// ---- AssignAdd / AssignSub -------------------------------------------------------------------

// var += value (or -=) in place, under the variable's lock, with the copy-on-write protocol of
// the optimizer updates (VarLocks). use_locking is accepted and, as on the CPU, the variable
// is always locked.
class AssignUpdateGpuOp : public OpKernel {
 public:
  explicit AssignUpdateGpuOp(bool add) : add_(add) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    VarLocks locks;
    RETURN_IF_ERROR(locks.Acquire(ctx, 1));
    Variable* var = ctx.ref_input(0);
    const Tensor& value = ctx.input(1);
    if (var->value.shape() != value.shape() || var->value.dtype() != value.dtype()) {
      return ctx.Error(absl::StrCat("variable of shape ", var->value.shape().DebugString(),
                                    " cannot be ", add_ ? "incremented" : "decremented",
                                    " by a value of shape ", value.shape().DebugString()));
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    RETURN_IF_ERROR(locks.DetachShared(g));
    // After DetachShared: var->value may be a new tensor; `value` may still alias the old one.
    ASSIGN_OR_RETURN(void* vp, g.InOut(var->value));
    ASSIGN_OR_RETURN(const float* in, g.InAs<float>(1));
    RETURN_IF_ERROR(g.Check(LaunchAssignUpdate(static_cast<float*>(vp), in,
                                               var->value.num_elements(), add_, g.stream()),
                            add_ ? "AssignAdd" : "AssignSub"));
    RETURN_IF_ERROR(g.Finish());
    ctx.set_output_ref(0, var);
    return absl::OkStatus();
  }

 private:
  bool add_;
};

KernelFactory AssignUpdateFactory(bool add) {
  return [add](OpKernelConstruction&) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new AssignUpdateGpuOp(add));
  };
}

const bool registered = [] {
  RegisterGpuKernel(
      KernelDef("SparseSoftmaxCrossEntropyWithLogits", kGpu).TypeConstraint("T", {DT_FLOAT}),
      CreateSparseXent);
  RegisterGpuKernel(KernelDef("AssignAdd", kGpu).TypeConstraint("T", {DT_FLOAT}),
                    AssignUpdateFactory(true));
  RegisterGpuKernel(KernelDef("AssignSub", kGpu).TypeConstraint("T", {DT_FLOAT}),
                    AssignUpdateFactory(false));
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
