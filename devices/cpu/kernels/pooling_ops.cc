// MaxPool and AvgPool on the CPU (NHWC). float32 through oneDNN pooling; other dtypes through
// direct loops. AvgPool divides by the number of in-bounds elements of each window (TF's SAME
// semantics: padding is excluded, not averaged as zeros).
#include <algorithm>
#include <limits>
#include <type_traits>

#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// The window, as every device checks it (onednn::PoolForwardGeometry).
using PoolDims = index::PoolGeometry;

template <typename T, bool kMax>
void PoolGeneric(const PoolDims& d, const T* input, T* output) {
  std::vector<T> acc(d.c);
  for (int64_t b = 0; b < d.n; ++b) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      // The window clipped to the input: padding never contributes.
      const int64_t y0 = std::max<int64_t>(oy * d.stride_h - d.pad_t, 0);
      const int64_t y1 = std::min<int64_t>(oy * d.stride_h - d.pad_t + d.kh, d.h);
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        const int64_t x0 = std::max<int64_t>(ox * d.stride_w - d.pad_l, 0);
        const int64_t x1 = std::min<int64_t>(ox * d.stride_w - d.pad_l + d.kw, d.w);
        std::fill(acc.begin(), acc.end(), kMax ? std::numeric_limits<T>::lowest() : T(0));
        for (int64_t y = y0; y < y1; ++y) {
          for (int64_t x = x0; x < x1; ++x) {
            const T* in = input + ((b * d.h + y) * d.w + x) * d.c;
            for (int64_t ch = 0; ch < d.c; ++ch) {
              if constexpr (kMax) {
                acc[ch] = std::max(acc[ch], in[ch]);
              } else {
                acc[ch] += in[ch];
              }
            }
          }
        }
        T* out = output + ((b * d.oh + oy) * d.ow + ox) * d.c;
        const int64_t count = std::max<int64_t>((y1 - y0) * (x1 - x0), 1);
        for (int64_t ch = 0; ch < d.c; ++ch) {
          out[ch] = kMax ? acc[ch] : static_cast<T>(acc[ch] / static_cast<T>(count));
        }
      }
    }
  }
}

struct PoolEntry {
  dnnl::memory::desc src, dst;
  dnnl::pooling_forward prim;
};

template <typename T, bool kMax>
class PoolOp : public OpKernel {
 public:
  explicit PoolOp(const onednn::WindowAttrs& w) : window_(w) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const char* op = kMax ? "MaxPool" : "AvgPool";
    const Tensor& input = ctx.input(0);
    int64_t pad_b = 0, pad_r = 0;
    ASSIGN_OR_RETURN(const PoolDims d,
                     onednn::PoolForwardGeometry(ctx, window_, input, op, &pad_b, &pad_r));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{d.n, d.oh, d.ow, d.c}));
    if (out->num_elements() == 0) return absl::OkStatus();
    if constexpr (std::is_same_v<T, float>) {
      // A window lying wholly in the padding has no value; keep such (EXPLICIT-only) cases
      // on the loop path, which defines them, rather than on oneDNN's.
      if (d.pad_t < d.kh && pad_b < d.kh && d.pad_l < d.kw && pad_r < d.kw) {
        return RunOneDnn(ctx, d, pad_b, pad_r, input.data<float>(), out->data<float>());
      }
    }
    PoolGeneric<T, kMax>(d, input.data<T>(), out->data<T>());
    return absl::OkStatus();
  }

 private:
  absl::Status RunOneDnn(const OpKernelContext& ctx, const PoolDims& d, int64_t pad_b,
                         int64_t pad_r, const float* input, float* output) const {
    onednn::ScopedThreads threads(onednn::ThreadsForWork(
        onednn::kWorkPerElementVisit * static_cast<double>(d.n) * d.oh * d.ow * d.c * d.kh * d.kw));
    const std::vector<int64_t> key = {
        d.n, d.h, d.w, d.c, d.pad_t, pad_b, d.pad_l, pad_r, threads.threads()};
    return onednn::Guard(ctx, "pooling", [&]() -> absl::Status {
      auto entry = cache_.GetOrCreate(key, [&] {
        using tag = dnnl::memory::format_tag;
        const auto f32 = dnnl::memory::data_type::f32;
        PoolEntry e;
        e.src = dnnl::memory::desc({d.n, d.c, d.h, d.w}, f32, tag::nhwc);
        e.dst = dnnl::memory::desc({d.n, d.c, d.oh, d.ow}, f32, tag::nhwc);
        const auto alg =
            kMax ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
        e.prim = dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(
            dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, alg, e.src, e.dst,
                                        {d.stride_h, d.stride_w}, {d.kh, d.kw}, {d.pad_t, d.pad_l},
                                        {pad_b, pad_r}),
            onednn::ScratchpadAttr(), onednn::CpuEngine()));
        return e;
      });
      dnnl::engine& eng = onednn::CpuEngine();
      dnnl::memory src(entry->src, eng, const_cast<float*>(input));
      dnnl::memory dst(entry->dst, eng, output);
      dnnl::stream& s = onednn::ThreadStream();
      onednn::Execute(entry->prim, s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
      return absl::OkStatus();
    });
  }

  const onednn::WindowAttrs window_;
  onednn::PrimitiveCache<PoolEntry> cache_;
};

template <typename T, bool kMax>
KernelOrError CreatePool(OpKernelConstruction& c) {
  onednn::WindowAttrs w;
  RETURN_IF_ERROR(onednn::ParseWindowAttrs(c, &w));
  return std::unique_ptr<OpKernel>(new PoolOp<T, kMax>(w));
}

QUIVER_REGISTER_KERNEL(KernelDef("MaxPool", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (CreatePool<float, true>));
QUIVER_REGISTER_KERNEL(KernelDef("MaxPool", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       (CreatePool<double, true>));
QUIVER_REGISTER_KERNEL(KernelDef("MaxPool", kCpu).TypeConstraint("T", {DT_INT32}),
                       (CreatePool<int32_t, true>));
QUIVER_REGISTER_KERNEL(KernelDef("AvgPool", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (CreatePool<float, false>));
QUIVER_REGISTER_KERNEL(KernelDef("AvgPool", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       (CreatePool<double, false>));

}  // namespace
}  // namespace quiver
