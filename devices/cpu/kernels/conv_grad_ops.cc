// Conv2DBackpropInput and Conv2DBackpropFilter on the CPU (NHWC), the gradients of Conv2D
// with respect to its input and its filter. The window arithmetic (TF's SAME/VALID/EXPLICIT
// padding, including SAME's extra row/column after, strides and dilations) is the forward
// conv's (onednn::ComputeConvOutput), so the gradients always match the op they differentiate.
// float32 runs on oneDNN's convolution_backward_data / _weights (the input gradient of inputs
// with at most 4 channels as one GEMM + col2im instead); float64 on direct loops.
// Grouped filters (in_channels dividing the input depth) are supported, as in Conv2D.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using onednn::ConvDims;

// ---- float64 (and reference) loops ----------------------------------------------------------

// d_input[b, iy, ix, ci] = sum over the output positions and filter taps that read it.
template <typename T>
void BackpropInputLoops(const ConvDims& d, const T* filter, const T* dout, T* din) {
  const int64_t icg = d.c / d.groups, ocg = d.oc / d.groups;
  std::fill(din, din + d.n * d.h * d.w * d.c, T(0));
  for (int64_t b = 0; b < d.n; ++b) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        const T* g = dout + ((b * d.oh + oy) * d.ow + ox) * d.oc;
        for (int64_t ky = 0; ky < d.kh; ++ky) {
          const int64_t iy = oy * d.stride_h - d.pad_t + ky * d.dilation_h;
          if (iy < 0 || iy >= d.h) continue;  // a tap on the padding: no input to credit
          for (int64_t kx = 0; kx < d.kw; ++kx) {
            const int64_t ix = ox * d.stride_w - d.pad_l + kx * d.dilation_w;
            if (ix < 0 || ix >= d.w) continue;
            T* in = din + ((b * d.h + iy) * d.w + ix) * d.c;
            const T* f = filter + (ky * d.kw + kx) * icg * d.oc;
            for (int64_t grp = 0; grp < d.groups; ++grp) {
              for (int64_t i = 0; i < icg; ++i) {
                const T* frow = f + i * d.oc + grp * ocg;  // contiguous over output channels
                const T* grow = g + grp * ocg;
                T acc = 0;
                for (int64_t o = 0; o < ocg; ++o) acc += frow[o] * grow[o];
                in[grp * icg + i] += acc;
              }
            }
          }
        }
      }
    }
  }
}

// d_filter[ky, kx, ci, o] = sum over batch and output positions of input * out_backprop.
template <typename T>
void BackpropFilterLoops(const ConvDims& d, const T* input, const T* dout, T* dfilter) {
  const int64_t icg = d.c / d.groups, ocg = d.oc / d.groups;
  std::fill(dfilter, dfilter + d.kh * d.kw * icg * d.oc, T(0));
  for (int64_t b = 0; b < d.n; ++b) {
    for (int64_t oy = 0; oy < d.oh; ++oy) {
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        const T* g = dout + ((b * d.oh + oy) * d.ow + ox) * d.oc;
        for (int64_t ky = 0; ky < d.kh; ++ky) {
          const int64_t iy = oy * d.stride_h - d.pad_t + ky * d.dilation_h;
          if (iy < 0 || iy >= d.h) continue;
          for (int64_t kx = 0; kx < d.kw; ++kx) {
            const int64_t ix = ox * d.stride_w - d.pad_l + kx * d.dilation_w;
            if (ix < 0 || ix >= d.w) continue;
            const T* in = input + ((b * d.h + iy) * d.w + ix) * d.c;
            T* f = dfilter + (ky * d.kw + kx) * icg * d.oc;
            for (int64_t grp = 0; grp < d.groups; ++grp) {
              for (int64_t i = 0; i < icg; ++i) {
                const T x = in[grp * icg + i];
                T* frow = f + i * d.oc + grp * ocg;
                const T* grow = g + grp * ocg;
                for (int64_t o = 0; o < ocg; ++o) frow[o] += x * grow[o];
              }
            }
          }
        }
      }
    }
  }
}

// ---- float32 through oneDNN -----------------------------------------------------------------

// The forward primitive descriptor oneDNN wants as a hint for the backward ones.
dnnl::convolution_forward::primitive_desc ForwardHint(const onednn::ConvLayout& s) {
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                      dnnl::algorithm::convolution_direct, s.src, s.any_weights,
                                      s.dst, s.strides, s.dilates, s.pad_l, s.pad_r),
      onednn::CpuEngine());
}

struct BackwardDataEntry {
  dnnl::memory::desc diff_src, user_weights, weights, diff_dst;
  dnnl::convolution_backward_data prim;
  dnnl::reorder weights_reorder;  // empty when the primitive reads HWIO directly
};

absl::Status BackwardDataF32(const OpKernelContext& ctx,
                             const onednn::PrimitiveCache<BackwardDataEntry>& cache,
                             const ConvDims& d, const float* filter, const float* dout,
                             float* din) {
  onednn::ScopedThreads threads(onednn::ThreadsForWork(onednn::ConvFlops(d)));
  return onednn::Guard(ctx, "convolution backward data", [&]() -> absl::Status {
    auto entry = cache.GetOrCreate(ConvKey(d, threads.threads()), [&] {
      const onednn::ConvLayout s = onednn::MakeConvLayout(d);
      dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, s.src,
                                                s.any_weights, s.dst, s.strides, s.dilates, s.pad_l,
                                                s.pad_r),
          onednn::ScratchpadAttr(), onednn::CpuEngine(), ForwardHint(s));
      BackwardDataEntry e;
      e.diff_src = s.src;
      e.diff_dst = s.dst;
      e.user_weights = s.user_weights;
      e.weights = pd.weights_desc();
      e.prim = dnnl::convolution_backward_data(pd);
      e.weights_reorder = onednn::ReorderIfNeeded(e.user_weights, e.weights);
      return e;
    });
    dnnl::engine& eng = onednn::CpuEngine();
    dnnl::stream& stream = onednn::ThreadStream();
    dnnl::memory weights = onednn::WeightsFor(entry->weights_reorder, entry->user_weights,
                                              entry->weights, filter, stream);
    dnnl::memory diff_dst(entry->diff_dst, eng, const_cast<float*>(dout));
    dnnl::memory diff_src(entry->diff_src, eng, din);
    onednn::Execute(entry->prim, stream,
                    {{DNNL_ARG_DIFF_DST, diff_dst},
                     {DNNL_ARG_WEIGHTS, weights},
                     {DNNL_ARG_DIFF_SRC, diff_src}});
    return absl::OkStatus();
  });
}

struct BackwardWeightsEntry {
  dnnl::memory::desc src, diff_dst, diff_weights, user_diff_weights;
  dnnl::convolution_backward_weights prim;
  dnnl::reorder weights_reorder;  // oneDNN's layout -> HWIO; empty when they agree
};

absl::Status BackwardWeightsF32(const OpKernelContext& ctx,
                                const onednn::PrimitiveCache<BackwardWeightsEntry>& cache,
                                const ConvDims& d, const float* input, const float* dout,
                                float* dfilter) {
  onednn::ScopedThreads threads(onednn::ThreadsForWork(onednn::ConvFlops(d)));
  return onednn::Guard(ctx, "convolution backward weights", [&]() -> absl::Status {
    auto entry = cache.GetOrCreate(ConvKey(d, threads.threads()), [&] {
      const onednn::ConvLayout s = onednn::MakeConvLayout(d);
      dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, s.src,
                                                   s.any_weights, s.dst, s.strides, s.dilates,
                                                   s.pad_l, s.pad_r),
          onednn::ScratchpadAttr(), onednn::CpuEngine(), ForwardHint(s));
      BackwardWeightsEntry e;
      e.src = s.src;
      e.diff_dst = s.dst;
      e.user_diff_weights = s.user_weights;
      e.diff_weights = pd.diff_weights_desc();
      e.prim = dnnl::convolution_backward_weights(pd);
      e.weights_reorder = onednn::ReorderIfNeeded(e.diff_weights, e.user_diff_weights);
      return e;
    });
    dnnl::engine& eng = onednn::CpuEngine();
    dnnl::stream& stream = onednn::ThreadStream();
    dnnl::memory src(entry->src, eng, const_cast<float*>(input));
    dnnl::memory diff_dst(entry->diff_dst, eng, const_cast<float*>(dout));
    dnnl::memory user(entry->user_diff_weights, eng, dfilter);
    dnnl::memory diff_weights =
        entry->weights_reorder ? dnnl::memory(entry->diff_weights, eng) : user;
    onednn::Execute(entry->prim, stream,
                    {{DNNL_ARG_SRC, src},
                     {DNNL_ARG_DIFF_DST, diff_dst},
                     {DNNL_ARG_DIFF_WEIGHTS, diff_weights}});
    if (entry->weights_reorder) onednn::Reorder(entry->weights_reorder, stream, diff_weights, user);
    return absl::OkStatus();
  });
}

// ---- float32, shallow inputs: GEMM + col2im --------------------------------------------------

// oneDNN's backward-data kernels are slow when the input has very few channels (1-channel
// MNIST images: ~18 GFLOP/s, 5% of a Deep MNIST training step). There the gradient is one
// GEMM, cols[T, P] = filter[T, OC] x out_backprop[P, OC]^T, for the T = KH*KW*C filter taps
// (TF's HWIO filter is that [T, OC] matrix as stored) and the P output positions, then a
// col2im that adds each tap's row back to the input positions it read: for stride 1 a
// contiguous, vectorised add per output row. Images go in chunks so cols stays small.
constexpr int64_t kShallowMaxChannels = 4;

bool UseShallowBackpropInput(const ConvDims& d) {
  return d.groups == 1 && d.c <= kShallowMaxChannels;
}

int64_t CeilDiv(int64_t a, int64_t b) {  // b > 0; rounds toward +infinity for any sign of a
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

absl::Status ShallowBackpropInputF32(const OpKernelContext& ctx, const ConvDims& d,
                                     const float* filter, const float* dout, float* din) {
  const int64_t taps = d.kh * d.kw * d.c;
  const int64_t positions = d.oh * d.ow;  // per image
  const int64_t chunk = std::max<int64_t>(1, (256 * 1024) / std::max<int64_t>(1, positions * taps));
  std::vector<float> cols(std::min(chunk, d.n) * positions * taps);
  for (int64_t b0 = 0; b0 < d.n; b0 += chunk) {
    const int64_t nb = std::min(chunk, d.n - b0);
    const int64_t p = nb * positions;  // cols is [taps, p]
    onednn::BatchMatMulDims mm;
    mm.m = taps;
    mm.n = p;
    mm.k = d.oc;
    mm.transpose_b = true;
    RETURN_IF_ERROR(onednn::MatMulF32(ctx, mm, filter, dout + b0 * positions * d.oc, cols.data()));
    float* img0 = din + b0 * d.h * d.w * d.c;
    std::fill(img0, img0 + nb * d.h * d.w * d.c, 0.f);
    for (int64_t ky = 0; ky < d.kh; ++ky) {
      for (int64_t kx = 0; kx < d.kw; ++kx) {
        // Output columns whose tap kx lands inside the input: ix = ox*stride - pad + kx*dil.
        const int64_t shift = kx * d.dilation_w - d.pad_l;
        const int64_t ox0 = std::max<int64_t>(0, CeilDiv(-shift, d.stride_w));
        const int64_t ox1 = std::min<int64_t>(d.ow, CeilDiv(d.w - shift, d.stride_w));
        for (int64_t c = 0; c < d.c; ++c) {
          const float* row_t = cols.data() + ((ky * d.kw + kx) * d.c + c) * p;
          for (int64_t b = 0; b < nb; ++b) {
            float* img = img0 + b * d.h * d.w * d.c;
            for (int64_t oy = 0; oy < d.oh; ++oy) {
              const int64_t iy = oy * d.stride_h - d.pad_t + ky * d.dilation_h;
              if (iy < 0 || iy >= d.h) continue;
              if (ox1 <= ox0) continue;
              // First output column in range and the input element it reads.
              const float* __restrict src = row_t + (b * d.oh + oy) * d.ow + ox0;
              float* __restrict dst = img + (iy * d.w + ox0 * d.stride_w + shift) * d.c + c;
              const int64_t len = ox1 - ox0;
              if (d.stride_w == 1 && d.c == 1) {
                for (int64_t j = 0; j < len; ++j) dst[j] += src[j];
              } else {
                const int64_t step = d.stride_w * d.c;
                for (int64_t j = 0; j < len; ++j) dst[j * step] += src[j];
              }
            }
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

// ---- kernels --------------------------------------------------------------------------------

template <typename T>
class Conv2DBackpropInputOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return onednn::ParseWindowAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                     array_kernels::HostInts(ctx, 0, "input_sizes", /*want_rank=*/1));
    const Tensor& filter = ctx.input(1);
    const Tensor& dout = ctx.input(2);
    ASSIGN_OR_RETURN(const ConvDims d,
                     onednn::ConvBackpropInputDims(ctx, window_, &sizes, filter, dout));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(sizes)));
    T* din = out->data<T>();
    if (out->num_elements() == 0) return absl::OkStatus();
    if (dout.num_elements() == 0 || filter.num_elements() == 0) {  // empty sums
      std::fill(din, din + out->num_elements(), T(0));
      return absl::OkStatus();
    }
    if constexpr (std::is_same_v<T, float>) {
      if (UseShallowBackpropInput(d)) {
        return ShallowBackpropInputF32(ctx, d, filter.data<float>(), dout.data<float>(), din);
      }
      return BackwardDataF32(ctx, cache_, d, filter.data<float>(), dout.data<float>(), din);
    } else {
      BackpropInputLoops<T>(d, filter.data<T>(), dout.data<T>(), din);
      return absl::OkStatus();
    }
  }

 private:
  onednn::WindowAttrs window_;
  onednn::PrimitiveCache<BackwardDataEntry> cache_;
};

template <typename T>
class Conv2DBackpropFilterOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return onednn::ParseWindowAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                     array_kernels::HostInts(ctx, 1, "filter_sizes", /*want_rank=*/1));
    const Tensor& dout = ctx.input(2);
    ASSIGN_OR_RETURN(const ConvDims d,
                     onednn::ConvBackpropFilterDims(ctx, window_, input, sizes, dout));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(sizes)));
    T* dfilter = out->data<T>();
    if (out->num_elements() == 0) return absl::OkStatus();
    if (dout.num_elements() == 0 || input.num_elements() == 0) {
      std::fill(dfilter, dfilter + out->num_elements(), T(0));
      return absl::OkStatus();
    }
    if constexpr (std::is_same_v<T, float>) {
      return BackwardWeightsF32(ctx, cache_, d, input.data<float>(), dout.data<float>(), dfilter);
    } else {
      BackpropFilterLoops<T>(d, input.data<T>(), dout.data<T>(), dfilter);
      return absl::OkStatus();
    }
  }

 private:
  onednn::WindowAttrs window_;
  onednn::PrimitiveCache<BackwardWeightsEntry> cache_;
};

using array_kernels::InitFactory;

QUIVER_REGISTER_KERNEL(KernelDef("Conv2DBackpropInput", kCpu)
                           .TypeConstraint("T", {DT_FLOAT})
                           .HostMemory("input_sizes"),
                       InitFactory<Conv2DBackpropInputOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv2DBackpropInput", kCpu)
                           .TypeConstraint("T", {DT_DOUBLE})
                           .HostMemory("input_sizes"),
                       InitFactory<Conv2DBackpropInputOp<double>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv2DBackpropFilter", kCpu)
                           .TypeConstraint("T", {DT_FLOAT})
                           .HostMemory("filter_sizes"),
                       InitFactory<Conv2DBackpropFilterOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv2DBackpropFilter", kCpu)
                           .TypeConstraint("T", {DT_DOUBLE})
                           .HostMemory("filter_sizes"),
                       InitFactory<Conv2DBackpropFilterOp<double>>());

}  // namespace
}  // namespace quiver
