// Softmax and LogSoftmax over the last axis. float32 through oneDNN (vectorised, max-shifted);
// float64 through loops that subtract the row maximum before exponentiating, so large logits
// neither overflow nor lose the small terms.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

template <typename T, bool kLog>
void SoftmaxGeneric(int64_t rows, int64_t cols, const T* in, T* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = in + r * cols;
    T* y = out + r * cols;
    const T max = *std::max_element(x, x + cols);
    T sum = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const T e = std::exp(x[j] - max);
      if constexpr (!kLog) y[j] = e;
      sum += e;
    }
    if constexpr (kLog) {
      const T shift = max + std::log(sum);
      for (int64_t j = 0; j < cols; ++j) y[j] = x[j] - shift;
    } else {
      const T inv = T(1) / sum;
      for (int64_t j = 0; j < cols; ++j) y[j] *= inv;
    }
  }
}

struct SoftmaxEntry {
  dnnl::memory::desc md;
  dnnl::primitive prim;
};

template <typename T, bool kLog>
class SoftmaxOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& logits = ctx.input(0);
    if (logits.rank() < 1) {
      return ctx.Error(absl::StrCat(kLog ? "LogSoftmax" : "Softmax",
                                    " needs logits of rank >= 1, got a scalar"));
    }
    // Input and output have the same size, so the output may reuse the input's buffer.
    ASSIGN_OR_RETURN(Tensor * out, ctx.forward_input_or_allocate_output(0, 0, logits.shape()));
    if (logits.num_elements() == 0) return absl::OkStatus();
    const int64_t cols = logits.dim(logits.rank() - 1);
    const int64_t rows = logits.num_elements() / cols;
    if constexpr (std::is_same_v<T, float>) {
      return RunOneDnn(ctx, rows, cols, logits.data<float>(), out->data<float>());
    } else {
      SoftmaxGeneric<T, kLog>(rows, cols, logits.data<T>(), out->data<T>());
      return absl::OkStatus();
    }
  }

 private:
  absl::Status RunOneDnn(const OpKernelContext& ctx, int64_t rows, int64_t cols, const float* in,
                         float* out) const {
    return onednn::Guard(ctx, "softmax", [&]() -> absl::Status {
      auto entry = cache_.GetOrCreate({rows, cols}, [&] {
        SoftmaxEntry e;
        e.md = dnnl::memory::desc({rows, cols}, dnnl::memory::data_type::f32,
                                  dnnl::memory::format_tag::ab);
        const auto prop = dnnl::prop_kind::forward_inference;
        if constexpr (kLog) {
          e.prim = dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc(
              dnnl::logsoftmax_forward::desc(prop, e.md, 1), onednn::CpuEngine()));
        } else {
          e.prim = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
              dnnl::softmax_forward::desc(prop, e.md, 1), onednn::CpuEngine()));
        }
        return e;
      });
      dnnl::engine& eng = onednn::CpuEngine();
      dnnl::memory src(entry->md, eng, const_cast<float*>(in));
      dnnl::memory dst(entry->md, eng, out);
      dnnl::stream& s = onednn::ThreadStream();
      entry->prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
      s.wait();
      return absl::OkStatus();
    });
  }

  onednn::PrimitiveCache<SoftmaxEntry> cache_;
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
