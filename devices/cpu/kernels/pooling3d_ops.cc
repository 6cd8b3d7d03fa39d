// MaxPool3D, AvgPool3D, MaxPool3DGrad and AvgPool3DGrad on the CPU (NDHWC), with the 2-D pools'
// window arithmetic (onednn::ComputeWindow: TF's SAME/VALID, windows clipped to the input).
// The forward pools run float32 on oneDNN's 3-D pooling (max, and average excluding the
// padding as TF does); AvgPool3D float64 on direct loops.
//
// The gradients are TF's CPU kernels' (pooling_ops_3d.cc): MaxPool3DGrad gives each window's
// gradient to every element of the window within 1e-5 of the window's value in orig_output
// (so ties all receive it, unlike 2-D MaxPoolGrad, which picks the first); AvgPool3DGrad
// spreads each gradient evenly over the in-bounds elements of its window. Overlapping windows
// accumulate. Images run in parallel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/window3d_util.h"
#include "devices/cpu/onednn_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using window3d::Geometry;

// The pooling window over NDHWC `input` dims (5, non-negative).
absl::StatusOr<Geometry> PoolGeometry(const OpKernelContext& ctx, const window3d::Attrs& w,
                                      const std::vector<int64_t>& input) {
  for (int64_t v : input) {
    if (v < 0) return ctx.Error("the input shape must be non-negative");
  }
  Geometry g;
  g.n = input[0];
  g.c = input[4];
  for (int i = 0; i < 3; ++i) {
    g.in[i] = input[i + 1];
    g.k[i] = w.ksize[i];
  }
  RETURN_IF_ERROR(window3d::ComputeOutput(ctx, w, &g));
  return g;
}

TensorShape PooledShape(const Geometry& g) {
  return TensorShape{g.n, g.out[0], g.out[1], g.out[2], g.c};
}

absl::Status CheckRank5(const OpKernelContext& ctx, const Tensor& t, const char* what) {
  if (t.rank() != 5) {
    return ctx.Error(
        absl::StrCat(what, " must be 5-D (NDHWC), got shape ", t.shape().DebugString()));
  }
  return absl::OkStatus();
}

absl::Status CheckPooledShape(const OpKernelContext& ctx, const Geometry& g, const Tensor& t,
                              const char* what) {
  const TensorShape pooled = PooledShape(g);
  if (t.shape() != pooled) {
    return ctx.Error(absl::StrCat(what, " has shape ", t.shape().DebugString(),
                                  ", but pooling the input gives ", pooled.DebugString()));
  }
  return absl::OkStatus();
}

// The window of output (oz, oy, ox) clipped to the input: [lo[i], hi[i]) per spatial dim.
void Window(const Geometry& g, int64_t oz, int64_t oy, int64_t ox, int64_t lo[3], int64_t hi[3]) {
  const int64_t o[3] = {oz, oy, ox};
  for (int i = 0; i < 3; ++i) {
    const int64_t start = o[i] * g.stride[i] - g.pad_before[i];
    lo[i] = std::max<int64_t>(start, 0);
    hi[i] = std::min<int64_t>(start + g.k[i], g.in[i]);
  }
}

// Calls fn(b, output offset, lo, hi) for every output position of images [b0, b1); offsets
// are of channel vectors.
template <typename Fn>
void ForEachWindow(const Geometry& g, int64_t b0, int64_t b1, Fn&& fn) {
  for (int64_t b = b0; b < b1; ++b) {
    for (int64_t oz = 0; oz < g.out[0]; ++oz) {
      for (int64_t oy = 0; oy < g.out[1]; ++oy) {
        for (int64_t ox = 0; ox < g.out[2]; ++ox) {
          int64_t lo[3], hi[3];
          Window(g, oz, oy, ox, lo, hi);
          const int64_t o = (((b * g.out[0] + oz) * g.out[1] + oy) * g.out[2] + ox) * g.c;
          fn(b, o, lo, hi);
        }
      }
    }
  }
}

// Input offset (of a channel vector) of position (z, y, x) of image b.
inline int64_t InOffset(const Geometry& g, int64_t b, int64_t z, int64_t y, int64_t x) {
  return (((b * g.in[0] + z) * g.in[1] + y) * g.in[2] + x) * g.c;
}

// Images per parallel chunk: enough window work (~64k element visits) to pay for a thread.
int64_t MinImagesPerChunk(const Geometry& g) {
  return std::max<int64_t>(
      1, 65536 / std::max<int64_t>(1, g.OutSpatial() * g.k[0] * g.k[1] * g.k[2] * g.c));
}

// ---- forward ----------------------------------------------------------------------------------

template <typename T, bool kMax>
void PoolLoops(const Geometry& g, const T* input, T* output) {
  ForEachWindow(g, 0, g.n, [&](int64_t b, int64_t o, const int64_t* lo, const int64_t* hi) {
    T* out = output + o;
    std::fill(out, out + g.c, kMax ? std::numeric_limits<T>::lowest() : T(0));
    for (int64_t z = lo[0]; z < hi[0]; ++z) {
      for (int64_t y = lo[1]; y < hi[1]; ++y) {
        for (int64_t x = lo[2]; x < hi[2]; ++x) {
          const T* in = input + InOffset(g, b, z, y, x);
          for (int64_t ch = 0; ch < g.c; ++ch) {
            if constexpr (kMax) {
              out[ch] = std::max(out[ch], in[ch]);
            } else {
              out[ch] += in[ch];
            }
          }
        }
      }
    }
    if constexpr (!kMax) {
      const T count =
          static_cast<T>(std::max<int64_t>((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]), 1));
      for (int64_t ch = 0; ch < g.c; ++ch) out[ch] /= count;
    }
  });
}

struct PoolEntry {
  dnnl::memory::desc src, dst;
  dnnl::pooling_forward prim;
};

template <typename T, bool kMax>
class Pool3DOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return window3d::ParseAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    if (input.rank() != 5) {
      return ctx.Error(absl::StrCat(kMax ? "MaxPool3D" : "AvgPool3D",
                                    " needs a 5-D input (NDHWC), got ",
                                    input.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(ctx, window_, input.shape().dims()));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, PooledShape(g)));
    if (out->num_elements() == 0) return absl::OkStatus();
    if constexpr (std::is_same_v<T, float>) {
      return RunOneDnn(ctx, g, input.data<float>(), out->data<float>());
    } else {
      PoolLoops<T, kMax>(g, input.data<T>(), out->data<T>());
      return absl::OkStatus();
    }
  }

 private:
  // SAME and VALID padding is always smaller than the window, so every window holds an input
  // element and oneDNN's result is defined everywhere.
  absl::Status RunOneDnn(const OpKernelContext& ctx, const Geometry& g, const float* input,
                         float* output) const {
    onednn::ScopedThreads threads(onednn::ThreadsForWork(onednn::kWorkPerElementVisit *
                                                         static_cast<double>(g.n) * g.OutSpatial() *
                                                         g.c * g.k[0] * g.k[1] * g.k[2]));
    std::vector<int64_t> key = {g.n, g.c, threads.threads()};
    for (int i = 0; i < 3; ++i) key.insert(key.end(), {g.in[i], g.pad_before[i], g.pad_after[i]});
    return onednn::Guard(ctx, "3-D pooling", [&]() -> absl::Status {
      auto entry = cache_.GetOrCreate(key, [&] {
        using tag = dnnl::memory::format_tag;
        const auto f32 = dnnl::memory::data_type::f32;
        PoolEntry e;
        e.src = dnnl::memory::desc({g.n, g.c, g.in[0], g.in[1], g.in[2]}, f32, tag::ndhwc);
        e.dst = dnnl::memory::desc({g.n, g.c, g.out[0], g.out[1], g.out[2]}, f32, tag::ndhwc);
        const auto alg =
            kMax ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
        e.prim = dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(
            dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, alg, e.src, e.dst,
                                        {g.stride[0], g.stride[1], g.stride[2]},
                                        {g.k[0], g.k[1], g.k[2]},
                                        {g.pad_before[0], g.pad_before[1], g.pad_before[2]},
                                        {g.pad_after[0], g.pad_after[1], g.pad_after[2]}),
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

  window3d::Attrs window_;
  onednn::PrimitiveCache<PoolEntry> cache_;
};

// ---- gradients --------------------------------------------------------------------------------

template <typename T>
class MaxPool3DGradOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return window3d::ParseAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    const Tensor& orig_out = ctx.input(1);
    const Tensor& grad = ctx.input(2);
    RETURN_IF_ERROR(CheckRank5(ctx, input, "orig_input"));
    RETURN_IF_ERROR(CheckRank5(ctx, orig_out, "orig_output"));
    RETURN_IF_ERROR(CheckRank5(ctx, grad, "grad"));
    ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(ctx, window_, input.shape().dims()));
    RETURN_IF_ERROR(CheckPooledShape(ctx, g, orig_out, "orig_output"));
    RETURN_IF_ERROR(CheckPooledShape(ctx, g, grad, "grad"));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, input.shape()));
    const T* in = input.data<T>();
    const T* y = orig_out.data<T>();
    const T* gr = grad.data<T>();
    T* o = out->data<T>();
    const int64_t image = g.InSpatial() * g.c;
    ParallelFor(ctx.intra_op_threads(), g.n, MinImagesPerChunk(g), [&](int64_t b0, int64_t b1) {
      std::fill(o + b0 * image, o + b1 * image, T(0));
      ForEachWindow(g, b0, b1, [&](int64_t b, int64_t w, const int64_t* lo, const int64_t* hi) {
        for (int64_t z = lo[0]; z < hi[0]; ++z) {
          for (int64_t yy = lo[1]; yy < hi[1]; ++yy) {
            for (int64_t x = lo[2]; x < hi[2]; ++x) {
              const int64_t i = InOffset(g, b, z, yy, x);
              for (int64_t ch = 0; ch < g.c; ++ch) {
                // TF's test: |input - window max| < 1e-5 (every tie takes the gradient).
                if (std::abs(in[i + ch] - y[w + ch]) < T(1e-5)) o[i + ch] += gr[w + ch];
              }
            }
          }
        }
      });
    });
    return absl::OkStatus();
  }

 private:
  window3d::Attrs window_;
};

template <typename T>
class AvgPool3DGradOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return window3d::ParseAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                     array_kernels::HostInts(ctx, 0, "orig_input_shape", /*want_rank=*/1));
    if (shape.size() != 5) {
      return ctx.Error(
          absl::StrCat("orig_input_shape must have 5 elements (NDHWC), got ", shape.size()));
    }
    const Tensor& grad = ctx.input(1);
    RETURN_IF_ERROR(CheckRank5(ctx, grad, "grad"));
    ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(ctx, window_, shape));
    RETURN_IF_ERROR(CheckPooledShape(ctx, g, grad, "grad"));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(shape)));
    const T* gr = grad.data<T>();
    T* o = out->data<T>();
    const int64_t image = g.InSpatial() * g.c;
    ParallelFor(ctx.intra_op_threads(), g.n, MinImagesPerChunk(g), [&](int64_t b0, int64_t b1) {
      std::fill(o + b0 * image, o + b1 * image, T(0));
      ForEachWindow(g, b0, b1, [&](int64_t b, int64_t w, const int64_t* lo, const int64_t* hi) {
        const int64_t count = (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
        if (count <= 0) return;
        const T divisor = static_cast<T>(count);
        for (int64_t z = lo[0]; z < hi[0]; ++z) {
          for (int64_t y = lo[1]; y < hi[1]; ++y) {
            for (int64_t x = lo[2]; x < hi[2]; ++x) {
              T* px = o + InOffset(g, b, z, y, x);
              for (int64_t ch = 0; ch < g.c; ++ch) px[ch] += gr[w + ch] / divisor;
            }
          }
        }
      });
    });
    return absl::OkStatus();
  }

 private:
  window3d::Attrs window_;
};

using array_kernels::InitFactory;

QUIVER_REGISTER_KERNEL(KernelDef("MaxPool3D", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (InitFactory<Pool3DOp<float, true>>()));
QUIVER_REGISTER_KERNEL(KernelDef("AvgPool3D", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       (InitFactory<Pool3DOp<float, false>>()));
QUIVER_REGISTER_KERNEL(KernelDef("AvgPool3D", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       (InitFactory<Pool3DOp<double, false>>()));
QUIVER_REGISTER_KERNEL(KernelDef("MaxPool3DGrad", kCpu)
                           .TypeConstraint("T", {DT_FLOAT})
                           .TypeConstraint("TInput", {DT_FLOAT}),
                       InitFactory<MaxPool3DGradOp<float>>());
QUIVER_REGISTER_KERNEL(
    KernelDef("AvgPool3DGrad", kCpu).TypeConstraint("T", {DT_FLOAT}).HostMemory("orig_input_shape"),
    InitFactory<AvgPool3DGradOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("AvgPool3DGrad", kCpu)
                           .TypeConstraint("T", {DT_DOUBLE})
                           .HostMemory("orig_input_shape"),
                       InitFactory<AvgPool3DGradOp<double>>());

}  // namespace
}  // namespace quiver
