// Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 on the CPU (NDHWC input, TF's
// DHWIO filter [KD, KH, KW, IC, OC]). float32 runs on oneDNN's 3-D convolution_forward /
// _backward_data / _backward_weights (the filter read in place through strides into a
// oneDNN-chosen blocked layout, as the 2-D kernels do: devices/cpu/kernels/conv_ops.cc,
// conv_grad_ops.cc); float64 on direct loops. The window arithmetic (TF's SAME/VALID, strides,
// dilations) is the 2-D ops' onednn::ComputeWindow, so the gradients always match the forward.
// As in TF's CPU kernel the input depth must equal the filter's in_channels (no groups).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/window3d_util.h"
#include "devices/cpu/onednn_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// A 3-D NDHWC convolution: the window of the input plus the output depth.
struct Conv3DDims {
  window3d::Geometry g;
  int64_t oc = 0;

  double Flops() const {
    return 2.0 * g.n * g.OutSpatial() * g.k[0] * g.k[1] * g.k[2] * static_cast<double>(g.c) * oc;
  }
  std::vector<int64_t> Key(int threads) const {
    std::vector<int64_t> key = {g.n, g.c, oc, threads};
    for (int i = 0; i < 3; ++i) {
      key.insert(key.end(),
                 {g.in[i], g.k[i], g.stride[i], g.dilation[i], g.pad_before[i], g.pad_after[i]});
    }
    return key;
  }
};

// The dims of a convolution of NDHWC `input` dims by DHWIO `filter` dims (5 each): the input
// depth must be the filter's in_channels, the filter's window positive and fitting.
absl::StatusOr<Conv3DDims> MakeDims(const OpKernelContext& ctx, const window3d::Attrs& w,
                                    const std::vector<int64_t>& input,
                                    const std::vector<int64_t>& filter) {
  for (int64_t v : input) {
    if (v < 0) return ctx.Error("the input shape must be non-negative");
  }
  for (int64_t v : filter) {
    if (v < 0) return ctx.Error("the filter shape must be non-negative");
  }
  const TensorShape in_shape(input), f_shape(filter);
  if (input[4] != filter[3]) {
    return ctx.Error(absl::StrCat("input depth ", input[4], " of ", in_shape.DebugString(),
                                  " must equal the filter's in_channels (dim 3) of ",
                                  f_shape.DebugString(),
                                  " (grouped 3-D convolutions are not supported on the CPU)"));
  }
  if (filter[0] < 1 || filter[1] < 1 || filter[2] < 1) {
    return ctx.Error("the filter's spatial sizes must be positive, got " + f_shape.DebugString());
  }
  Conv3DDims d;
  d.g.n = input[0];
  d.g.c = input[4];
  d.oc = filter[4];
  for (int i = 0; i < 3; ++i) {
    d.g.in[i] = input[i + 1];
    d.g.k[i] = filter[i];
  }
  RETURN_IF_ERROR(window3d::ComputeOutput(ctx, w, &d.g));
  return d;
}

TensorShape OutputShape(const Conv3DDims& d) {
  return TensorShape{d.g.n, d.g.out[0], d.g.out[1], d.g.out[2], d.oc};
}

absl::Status CheckRank5(const OpKernelContext& ctx, const Tensor& t, const char* what,
                        const char* layout) {
  if (t.rank() != 5) {
    return ctx.Error(
        absl::StrCat(what, " must be 5-D (", layout, "), got shape ", t.shape().DebugString()));
  }
  return absl::OkStatus();
}

// The backward ops' dims: the forward's from the input and filter shapes, and out_backprop
// must have the forward output's shape.
absl::StatusOr<Conv3DDims> BackpropDims(const OpKernelContext& ctx, const window3d::Attrs& w,
                                        const std::vector<int64_t>& input,
                                        const std::vector<int64_t>& filter,
                                        const Tensor& out_backprop) {
  ASSIGN_OR_RETURN(Conv3DDims d, MakeDims(ctx, w, input, filter));
  const TensorShape want = OutputShape(d);
  if (out_backprop.shape() != want) {
    return ctx.Error(absl::StrCat("out_backprop has shape ", out_backprop.shape().DebugString(),
                                  ", but Conv3D of input ", TensorShape(input).DebugString(),
                                  " and filter ", TensorShape(filter).DebugString(),
                                  " with padding ", w.padding, " gives ", want.DebugString()));
  }
  return d;
}

// ---- float64 (and reference) loops ----------------------------------------------------------

// Calls fn(input offset, filter offset, output offset) for every (output position, filter tap)
// pair whose tap lands inside the input: the input offset is of its channel vector, the filter
// offset of the tap's [IC, OC] block, the output offset of the output's channel vector.
template <typename Fn>
void ForEachTap(const Conv3DDims& d, Fn&& fn) {
  const window3d::Geometry& g = d.g;
  for (int64_t b = 0; b < g.n; ++b) {
    for (int64_t oz = 0; oz < g.out[0]; ++oz) {
      for (int64_t oy = 0; oy < g.out[1]; ++oy) {
        for (int64_t ox = 0; ox < g.out[2]; ++ox) {
          const int64_t o = (((b * g.out[0] + oz) * g.out[1] + oy) * g.out[2] + ox) * d.oc;
          for (int64_t kz = 0; kz < g.k[0]; ++kz) {
            const int64_t iz = oz * g.stride[0] - g.pad_before[0] + kz * g.dilation[0];
            if (iz < 0 || iz >= g.in[0]) continue;  // padding contributes zeros
            for (int64_t ky = 0; ky < g.k[1]; ++ky) {
              const int64_t iy = oy * g.stride[1] - g.pad_before[1] + ky * g.dilation[1];
              if (iy < 0 || iy >= g.in[1]) continue;
              for (int64_t kx = 0; kx < g.k[2]; ++kx) {
                const int64_t ix = ox * g.stride[2] - g.pad_before[2] + kx * g.dilation[2];
                if (ix < 0 || ix >= g.in[2]) continue;
                const int64_t i = (((b * g.in[0] + iz) * g.in[1] + iy) * g.in[2] + ix) * g.c;
                const int64_t f = ((kz * g.k[1] + ky) * g.k[2] + kx) * g.c * d.oc;
                fn(i, f, o);
              }
            }
          }
        }
      }
    }
  }
}

template <typename T>
void ForwardLoops(const Conv3DDims& d, const T* input, const T* filter, T* output) {
  std::fill(output, output + d.g.n * d.g.OutSpatial() * d.oc, T(0));
  ForEachTap(d, [&](int64_t i, int64_t f, int64_t o) {
    for (int64_t ci = 0; ci < d.g.c; ++ci) {
      const T x = input[i + ci];
      const T* frow = filter + f + ci * d.oc;
      for (int64_t co = 0; co < d.oc; ++co) output[o + co] += x * frow[co];
    }
  });
}

template <typename T>
void BackpropInputLoops(const Conv3DDims& d, const T* filter, const T* dout, T* din) {
  std::fill(din, din + d.g.n * d.g.InSpatial() * d.g.c, T(0));
  ForEachTap(d, [&](int64_t i, int64_t f, int64_t o) {
    for (int64_t ci = 0; ci < d.g.c; ++ci) {
      const T* frow = filter + f + ci * d.oc;
      T acc = 0;
      for (int64_t co = 0; co < d.oc; ++co) acc += frow[co] * dout[o + co];
      din[i + ci] += acc;
    }
  });
}

template <typename T>
void BackpropFilterLoops(const Conv3DDims& d, const T* input, const T* dout, T* dfilter) {
  std::fill(dfilter, dfilter + d.g.k[0] * d.g.k[1] * d.g.k[2] * d.g.c * d.oc, T(0));
  ForEachTap(d, [&](int64_t i, int64_t f, int64_t o) {
    for (int64_t ci = 0; ci < d.g.c; ++ci) {
      const T x = input[i + ci];
      T* frow = dfilter + f + ci * d.oc;
      for (int64_t co = 0; co < d.oc; ++co) frow[co] += x * dout[o + co];
    }
  });
}

// ---- float32 through oneDNN -----------------------------------------------------------------

// oneDNN descriptors: NDHWC activations, TF's DHWIO filter through strides (user_weights) and
// the layout oneDNN picks (any_weights), and the window as oneDNN takes it.
struct Layout {
  dnnl::memory::desc src, dst, user_weights, any_weights;
  onednn::Dims strides, dilates, pad_l, pad_r;
};

Layout MakeLayout(const Conv3DDims& d) {
  using tag = dnnl::memory::format_tag;
  const auto f32 = dnnl::memory::data_type::f32;
  const window3d::Geometry& g = d.g;
  Layout s;
  s.src = dnnl::memory::desc({g.n, g.c, g.in[0], g.in[1], g.in[2]}, f32, tag::ndhwc);
  s.dst = dnnl::memory::desc({g.n, d.oc, g.out[0], g.out[1], g.out[2]}, f32, tag::ndhwc);
  const onednn::Dims wdims = {d.oc, g.c, g.k[0], g.k[1], g.k[2]};
  const int64_t tap = g.c * d.oc;  // one tap's [IC, OC] block
  s.user_weights =
      onednn::StridedDesc(wdims, {1, d.oc, g.k[1] * g.k[2] * tap, g.k[2] * tap, tap});  // DHWIO
  s.any_weights = dnnl::memory::desc(wdims, f32, tag::any);
  for (int i = 0; i < 3; ++i) {
    s.strides.push_back(g.stride[i]);
    s.dilates.push_back(g.dilation[i] - 1);  // oneDNN counts extra gaps from 0
    s.pad_l.push_back(g.pad_before[i]);
    s.pad_r.push_back(g.pad_after[i]);
  }
  return s;
}

struct ForwardEntry {
  dnnl::memory::desc src, user_weights, weights, dst;
  dnnl::convolution_forward prim;
  dnnl::reorder weights_reorder;  // empty when the primitive reads DHWIO directly
};

absl::Status ForwardF32(const OpKernelContext& ctx,
                        const onednn::PrimitiveCache<ForwardEntry>& cache, const Conv3DDims& d,
                        const float* input, const float* filter, float* output) {
  onednn::ScopedThreads threads(onednn::ThreadsForWork(d.Flops()));
  return onednn::Guard(ctx, "3-D convolution", [&]() -> absl::Status {
    auto entry = cache.GetOrCreate(d.Key(threads.threads()), [&] {
      const Layout s = MakeLayout(d);
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                          dnnl::algorithm::convolution_direct, s.src, s.any_weights,
                                          s.dst, s.strides, s.dilates, s.pad_l, s.pad_r),
          onednn::ScratchpadAttr(), onednn::CpuEngine());
      ForwardEntry e;
      e.src = s.src;
      e.dst = s.dst;
      e.user_weights = s.user_weights;
      e.weights = pd.weights_desc();
      e.prim = dnnl::convolution_forward(pd);
      e.weights_reorder = onednn::ReorderIfNeeded(e.user_weights, e.weights);
      return e;
    });
    dnnl::engine& eng = onednn::CpuEngine();
    dnnl::stream& stream = onednn::ThreadStream();
    dnnl::memory src(entry->src, eng, const_cast<float*>(input));
    dnnl::memory dst(entry->dst, eng, output);
    dnnl::memory weights = onednn::WeightsFor(entry->weights_reorder, entry->user_weights,
                                              entry->weights, filter, stream);
    onednn::Execute(entry->prim, stream,
                    {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    return absl::OkStatus();
  });
}

// The forward primitive descriptor oneDNN wants as a hint for the backward ones.
dnnl::convolution_forward::primitive_desc ForwardHint(const Layout& s) {
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                      dnnl::algorithm::convolution_direct, s.src, s.any_weights,
                                      s.dst, s.strides, s.dilates, s.pad_l, s.pad_r),
      onednn::CpuEngine());
}

struct BackwardDataEntry {
  dnnl::memory::desc diff_src, user_weights, weights, diff_dst;
  dnnl::convolution_backward_data prim;
  dnnl::reorder weights_reorder;
};

absl::Status BackwardDataF32(const OpKernelContext& ctx,
                             const onednn::PrimitiveCache<BackwardDataEntry>& cache,
                             const Conv3DDims& d, const float* filter, const float* dout,
                             float* din) {
  onednn::ScopedThreads threads(onednn::ThreadsForWork(d.Flops()));
  return onednn::Guard(ctx, "3-D convolution backward data", [&]() -> absl::Status {
    auto entry = cache.GetOrCreate(d.Key(threads.threads()), [&] {
      const Layout s = MakeLayout(d);
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
  dnnl::reorder weights_reorder;  // oneDNN's layout -> DHWIO; empty when they agree
};

absl::Status BackwardWeightsF32(const OpKernelContext& ctx,
                                const onednn::PrimitiveCache<BackwardWeightsEntry>& cache,
                                const Conv3DDims& d, const float* input, const float* dout,
                                float* dfilter) {
  onednn::ScopedThreads threads(onednn::ThreadsForWork(d.Flops()));
  return onednn::Guard(ctx, "3-D convolution backward weights", [&]() -> absl::Status {
    auto entry = cache.GetOrCreate(d.Key(threads.threads()), [&] {
      const Layout s = MakeLayout(d);
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

// ---- kernels --------------------------------------------------------------------------------

template <typename T>
class Conv3DOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return window3d::ParseAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    const Tensor& filter = ctx.input(1);
    if (input.rank() != 5 || filter.rank() != 5) {
      return ctx.Error(
          absl::StrCat("Conv3D needs a 5-D input (NDHWC) and a 5-D filter (DHWIO), got ",
                       input.shape().DebugString(), " and ", filter.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(const Conv3DDims d,
                     MakeDims(ctx, window_, input.shape().dims(), filter.shape().dims()));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, OutputShape(d)));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* o = out->data<T>();
    if (input.num_elements() == 0 || filter.num_elements() == 0) {  // empty sums
      std::fill(o, o + out->num_elements(), T(0));
      return absl::OkStatus();
    }
    if constexpr (std::is_same_v<T, float>) {
      return ForwardF32(ctx, cache_, d, input.data<float>(), filter.data<float>(), o);
    } else {
      ForwardLoops<T>(d, input.data<T>(), filter.data<T>(), o);
      return absl::OkStatus();
    }
  }

 private:
  window3d::Attrs window_;
  onednn::PrimitiveCache<ForwardEntry> cache_;
};

template <typename T>
class Conv3DBackpropInputOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return window3d::ParseAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                     array_kernels::HostInts(ctx, 0, "input_sizes", /*want_rank=*/1));
    const Tensor& filter = ctx.input(1);
    const Tensor& dout = ctx.input(2);
    RETURN_IF_ERROR(CheckRank5(ctx, filter, "filter", "DHWIO"));
    RETURN_IF_ERROR(CheckRank5(ctx, dout, "out_backprop", "NDHWC"));
    if (sizes.size() != 5) {
      return ctx.Error(absl::StrCat("input_sizes must have 5 elements, got ", sizes.size()));
    }
    ASSIGN_OR_RETURN(const Conv3DDims d,
                     BackpropDims(ctx, window_, sizes, filter.shape().dims(), dout));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(sizes)));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* din = out->data<T>();
    if (dout.num_elements() == 0 || filter.num_elements() == 0) {
      std::fill(din, din + out->num_elements(), T(0));
      return absl::OkStatus();
    }
    if constexpr (std::is_same_v<T, float>) {
      return BackwardDataF32(ctx, cache_, d, filter.data<float>(), dout.data<float>(), din);
    } else {
      BackpropInputLoops<T>(d, filter.data<T>(), dout.data<T>(), din);
      return absl::OkStatus();
    }
  }

 private:
  window3d::Attrs window_;
  onednn::PrimitiveCache<BackwardDataEntry> cache_;
};

template <typename T>
class Conv3DBackpropFilterOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return window3d::ParseAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                     array_kernels::HostInts(ctx, 1, "filter_sizes", /*want_rank=*/1));
    const Tensor& dout = ctx.input(2);
    RETURN_IF_ERROR(CheckRank5(ctx, input, "input", "NDHWC"));
    RETURN_IF_ERROR(CheckRank5(ctx, dout, "out_backprop", "NDHWC"));
    if (sizes.size() != 5) {
      return ctx.Error(absl::StrCat("filter_sizes must have 5 elements, got ", sizes.size()));
    }
    ASSIGN_OR_RETURN(const Conv3DDims d,
                     BackpropDims(ctx, window_, input.shape().dims(), sizes, dout));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(sizes)));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* dfilter = out->data<T>();
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
  window3d::Attrs window_;
  onednn::PrimitiveCache<BackwardWeightsEntry> cache_;
};

using array_kernels::InitFactory;

QUIVER_REGISTER_KERNEL(KernelDef("Conv3D", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       InitFactory<Conv3DOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv3D", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       InitFactory<Conv3DOp<double>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv3DBackpropInputV2", kCpu)
                           .TypeConstraint("T", {DT_FLOAT})
                           .HostMemory("input_sizes"),
                       InitFactory<Conv3DBackpropInputOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv3DBackpropInputV2", kCpu)
                           .TypeConstraint("T", {DT_DOUBLE})
                           .HostMemory("input_sizes"),
                       InitFactory<Conv3DBackpropInputOp<double>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv3DBackpropFilterV2", kCpu)
                           .TypeConstraint("T", {DT_FLOAT})
                           .HostMemory("filter_sizes"),
                       InitFactory<Conv3DBackpropFilterOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("Conv3DBackpropFilterV2", kCpu)
                           .TypeConstraint("T", {DT_DOUBLE})
                           .HostMemory("filter_sizes"),
                       InitFactory<Conv3DBackpropFilterOp<double>>());

}  // namespace
}  // namespace quiver
