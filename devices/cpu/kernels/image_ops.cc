// ResizeBilinear, ResizeNearestNeighbor and their gradients on the CPU (NHWC), index for index
// and rounding for rounding as TensorFlow's kernels (image/resize_bilinear_op.cc,
// image/resize_nearest_neighbor_op.cc, util/image_resizer_state.h):
//  - scale = (in - 1) / float(out - 1) with align_corners (and out > 1), else in / float(out);
//  - the source coordinate of output index x is x * scale (legacy), or, with
//    half_pixel_centers, (x + 0.5) * scale - 0.5 for bilinear and (x + 0.5) * scale for nearest
//    (whose floor() makes the - 0.5 unnecessary);
//  - nearest rounds (align_corners: roundf, else floorf) and clamps to [0, in - 1]; bilinear
//    takes floor/ceil clamped, with lerp = in - floor(in), and computes in float32 the same
//    expressions TF does.
// Floating-point contraction is off in this file: TF's x86 kernels multiply and add separately,
// and a fused multiply-add would change the last bit of the lerps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/ops/image_shapes.h"
#include "graph/status_macros.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace quiver {
namespace {

using array_kernels::InitFactory;
using array_kernels::NodeError;

// ---- element conversions ----------------------------------------------------------------

template <typename T>
inline float ToFloat(T v) {
  return static_cast<float>(v);
}
template <>
inline float ToFloat(Half v) {
  return HalfToFloat(v.bits);
}
template <>
inline float ToFloat(BFloat16 v) {
  return BFloat16ToFloat(v.bits);
}

template <typename T>
inline T FromFloat(float v) {
  return static_cast<T>(v);
}
template <>
inline Half FromFloat(float v) {
  return Half{FloatToHalf(v)};
}
template <>
inline BFloat16 FromFloat(float v) {
  return BFloat16{FloatToBFloat16(v)};
}

// a += b, as TF's Eigen types do it (16-bit floats add in float32 and round back).
template <typename T>
inline void AddTo(T& a, T b) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    a = FromFloat<T>(ToFloat(a) + ToFloat(b));
  } else {
    a = static_cast<T>(a + b);
  }
}

// ---- TF's scaling rules -------------------------------------------------------------------

inline float ResizeScale(int64_t in_size, int64_t out_size, bool align_corners) {
  return (align_corners && out_size > 1) ? (in_size - 1) / static_cast<float>(out_size - 1)
                                         : in_size / static_cast<float>(out_size);
}

// Bilinear source coordinate of output index x.
inline float BilinearSource(int x, float scale, bool half_pixel_centers) {
  return half_pixel_centers ? (static_cast<float>(x) + 0.5f) * scale - 0.5f
                            : static_cast<float>(x) * scale;
}

// Nearest-neighbour source index of output index i along a dim of `in_size`.
inline int64_t NearestSource(int64_t i, int64_t in_size, float scale, bool align_corners,
                             bool half_pixel_centers) {
  const float f = half_pixel_centers ? (static_cast<float>(static_cast<int>(i)) + 0.5f) * scale
                                     : static_cast<float>(static_cast<int>(i)) * scale;
  int64_t x = std::min(
      align_corners ? static_cast<int64_t>(std::round(f)) : static_cast<int64_t>(std::floor(f)),
      in_size - 1);
  if (half_pixel_centers) x = std::max<int64_t>(0, x);
  return x;
}

std::vector<int64_t> NearestIndices(int64_t out_size, int64_t in_size, float scale,
                                    bool align_corners, bool half_pixel_centers) {
  std::vector<int64_t> idx(static_cast<size_t>(out_size));
  for (int64_t i = 0; i < out_size; ++i) {
    idx[i] = NearestSource(i, in_size, scale, align_corners, half_pixel_centers);
  }
  return idx;
}

// One output index's two source indices and the weight of the upper one.
struct Interp {
  int64_t lower;
  int64_t upper;
  float lerp;
};

std::vector<Interp> BilinearWeights(int64_t out_size, int64_t in_size, float scale,
                                    bool half_pixel_centers) {
  std::vector<Interp> w(static_cast<size_t>(out_size));
  for (int64_t i = 0; i < out_size; ++i) {
    const float in = BilinearSource(static_cast<int>(i), scale, half_pixel_centers);
    const float in_f = std::floor(in);
    w[i].lower = std::max(static_cast<int64_t>(in_f), static_cast<int64_t>(0));
    w[i].upper = std::min(static_cast<int64_t>(std::ceil(in)), in_size - 1);
    w[i].lerp = in - in_f;
  }
  return w;
}

inline float Lerp2(float top_left, float top_right, float bottom_left, float bottom_right,
                   float x_lerp, float y_lerp) {
  const float top = top_left + (top_right - top_left) * x_lerp;
  const float bottom = bottom_left + (bottom_right - bottom_left) * x_lerp;
  return top + (bottom - top) * y_lerp;
}

// Rows of at least this many output values per parallel chunk.
constexpr int64_t kMinValuesPerChunk = 16 * 1024;

int64_t RowsPerChunk(int64_t row_values) {
  return std::max<int64_t>(1, kMinValuesPerChunk / std::max<int64_t>(row_values, 1));
}

// Attrs shared by the four ops.
class ResizeKernelBase : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(align_corners_, c.GetAttr<bool>("align_corners"));
    ASSIGN_OR_RETURN(half_pixel_centers_, c.GetAttr<bool>("half_pixel_centers"));
    if (align_corners_ && half_pixel_centers_) {
      return c.Error("If half_pixel_centers is True, align_corners must be False.");
    }
    return absl::OkStatus();
  }

 protected:
  // The validated output shape of a forward resize (input 0 images, input 1 size).
  absl::StatusOr<TensorShape> ForwardShape(const OpKernelContext& ctx) const {
    ASSIGN_OR_RETURN(std::vector<int64_t> size,
                     array_kernels::HostInts(ctx, 1, "size", /*want_rank=*/1));
    auto shape =
        image_shapes::ResizeShape(ctx.input(0).shape(), &size, align_corners_, half_pixel_centers_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    return shape;
  }

  bool align_corners_ = false;
  bool half_pixel_centers_ = false;
};

// ---- ResizeBilinear -----------------------------------------------------------------------

template <typename T>
class ResizeBilinearOp : public ResizeKernelBase {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(TensorShape shape, ForwardShape(ctx));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, shape));
    if (out->num_elements() == 0) return absl::OkStatus();
    const Tensor& in = ctx.input(0);
    const int64_t batch = in.dim(0), in_h = in.dim(1), in_w = in.dim(2), ch = in.dim(3);
    const int64_t out_h = shape.dim(1), out_w = shape.dim(2);
    const T* src = in.data<T>();
    float* dst = out->data<float>();
    if (out_h == in_h && out_w == in_w) {  // TF's no-op resize: a cast
      for (int64_t i = 0, n = in.num_elements(); i < n; ++i) dst[i] = ToFloat(src[i]);
      return absl::OkStatus();
    }
    const std::vector<Interp> ys =
        BilinearWeights(out_h, in_h, ResizeScale(in_h, out_h, align_corners_), half_pixel_centers_);
    const std::vector<Interp> xs =
        BilinearWeights(out_w, in_w, ResizeScale(in_w, out_w, align_corners_), half_pixel_centers_);
    const int64_t in_row = in_w * ch, out_row = out_w * ch;
    ParallelFor(ctx.intra_op_threads(), batch * out_h, RowsPerChunk(out_row),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    const int64_t b = r / out_h, y = r % out_h;
                    const T* lower = src + (b * in_h + ys[y].lower) * in_row;
                    const T* upper = src + (b * in_h + ys[y].upper) * in_row;
                    const float y_lerp = ys[y].lerp;
                    float* o = dst + r * out_row;
                    for (int64_t x = 0; x < out_w; ++x) {
                      const int64_t xl = xs[x].lower * ch, xu = xs[x].upper * ch;
                      const float x_lerp = xs[x].lerp;
                      for (int64_t c = 0; c < ch; ++c) {
                        o[x * ch + c] =
                            Lerp2(ToFloat(lower[xl + c]), ToFloat(lower[xu + c]),
                                  ToFloat(upper[xl + c]), ToFloat(upper[xu + c]), x_lerp, y_lerp);
                      }
                    }
                  }
                });
    return absl::OkStatus();
  }
};

// ---- ResizeBilinearGrad -------------------------------------------------------------------

// Accumulates TF's four weighted contributions per gradient value, in TF's order, into `acc`
// (an [batch, orig_h, orig_w, ch] buffer of Acc, zeroed here). Batches run in parallel: each
// writes only its own slice, so the sums are the same for any thread count.
template <typename Acc>
void BilinearGradInto(const float* grads, int64_t batch, int64_t res_h, int64_t res_w, int64_t ch,
                      int64_t orig_h, int64_t orig_w, float h_scale, float w_scale,
                      bool half_pixel_centers, int threads, Acc* acc) {
  std::fill(acc, acc + batch * orig_h * orig_w * ch, Acc(0));
  ParallelFor(
      threads, batch, std::max<int64_t>(1, RowsPerChunk(res_h * res_w * ch * 4)),
      [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          Acc* out = acc + b * orig_h * orig_w * ch;
          for (int64_t y = 0; y < res_h; ++y) {
            const float in_y = BilinearSource(static_cast<int>(y), h_scale, half_pixel_centers);
            const int64_t top =
                std::max(static_cast<int64_t>(std::floor(in_y)), static_cast<int64_t>(0));
            const int64_t bottom = std::min(static_cast<int64_t>(std::ceil(in_y)), orig_h - 1);
            const float y_lerp = in_y - std::floor(in_y);
            const float inv_y_lerp = 1.0f - y_lerp;
            for (int64_t x = 0; x < res_w; ++x) {
              const float in_x = BilinearSource(static_cast<int>(x), w_scale, half_pixel_centers);
              const int64_t left =
                  std::max(static_cast<int64_t>(std::floor(in_x)), static_cast<int64_t>(0));
              const int64_t right = std::min(static_cast<int64_t>(std::ceil(in_x)), orig_w - 1);
              const float x_lerp = in_x - std::floor(in_x);
              const float inv_x_lerp = 1.0f - x_lerp;
              const float* g = grads + ((b * res_h + y) * res_w + x) * ch;
              Acc* tl = out + (top * orig_w + left) * ch;
              Acc* tr = out + (top * orig_w + right) * ch;
              Acc* bl = out + (bottom * orig_w + left) * ch;
              Acc* br = out + (bottom * orig_w + right) * ch;
              for (int64_t c = 0; c < ch; ++c) {
                tl[c] += Acc(g[c] * inv_y_lerp * inv_x_lerp);
                tr[c] += Acc(g[c] * inv_y_lerp * x_lerp);
                bl[c] += Acc(g[c] * y_lerp * inv_x_lerp);
                br[c] += Acc(g[c] * y_lerp * x_lerp);
              }
            }
          }
        }
      });
}

template <typename T>
class ResizeBilinearGradOp : public ResizeKernelBase {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& grads = ctx.input(0);
    const TensorShape& orig = ctx.input(1).shape();
    if (grads.rank() != 4) {
      return ctx.Error(absl::StrCat("input_grad must be 4-dimensional, got shape ",
                                    grads.shape().DebugString()));
    }
    if (orig.rank() != 4) {
      return ctx.Error(
          absl::StrCat("original_image must be 4-dimensional, got shape ", orig.DebugString()));
    }
    const int64_t batch = grads.dim(0), res_h = grads.dim(1), res_w = grads.dim(2),
                  ch = grads.dim(3);
    const int64_t orig_h = orig.dim(1), orig_w = orig.dim(2);
    if (res_h <= 0 || res_w <= 0) {
      return ctx.Error(absl::StrCat("resized dimensions must be positive, got grads of shape ",
                                    grads.shape().DebugString()));
    }
    if (orig_h <= 0 || orig_w <= 0) {
      return ctx.Error(absl::StrCat("original dimensions must be positive, got original_image ",
                                    orig.DebugString()));
    }
    if (orig.dim(0) != batch || orig.dim(3) != ch) {
      return ctx.Error(absl::StrCat("grads ", grads.shape().DebugString(), " and original_image ",
                                    orig.DebugString(), " differ in batch or channels"));
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{batch, orig_h, orig_w, ch}));
    if (out->num_elements() == 0) return absl::OkStatus();
    const float h_scale = ResizeScale(orig_h, res_h, align_corners_);
    const float w_scale = ResizeScale(orig_w, res_w, align_corners_);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      BilinearGradInto<T>(grads.data<float>(), batch, res_h, res_w, ch, orig_h, orig_w, h_scale,
                          w_scale, half_pixel_centers_, ctx.intra_op_threads(), out->data<T>());
    } else {  // 16-bit floats accumulate in float32, as TF does, then round once
      std::vector<float> acc(static_cast<size_t>(out->num_elements()));
      BilinearGradInto<float>(grads.data<float>(), batch, res_h, res_w, ch, orig_h, orig_w, h_scale,
                              w_scale, half_pixel_centers_, ctx.intra_op_threads(), acc.data());
      T* o = out->data<T>();
      for (size_t i = 0; i < acc.size(); ++i) o[i] = FromFloat<T>(acc[i]);
    }
    return absl::OkStatus();
  }
};

// ---- ResizeNearestNeighbor ----------------------------------------------------------------

// Moves bytes, so one kernel serves every dtype.
class ResizeNearestNeighborOp : public ResizeKernelBase {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(TensorShape shape, ForwardShape(ctx));
    const Tensor& in = ctx.input(0);
    const int64_t batch = in.dim(0), in_h = in.dim(1), in_w = in.dim(2), ch = in.dim(3);
    if (in_h >= (int64_t{1} << 24) || in_w >= (int64_t{1} << 24)) {
      return ctx.Error("nearest neighbor requires max height & width of 2^24");
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, shape));
    if (out->num_elements() == 0) return absl::OkStatus();
    const int64_t out_h = shape.dim(1), out_w = shape.dim(2);
    const std::vector<int64_t> ys = NearestIndices(
        out_h, in_h, ResizeScale(in_h, out_h, align_corners_), align_corners_, half_pixel_centers_);
    const std::vector<int64_t> xs = NearestIndices(
        out_w, in_w, ResizeScale(in_w, out_w, align_corners_), align_corners_, half_pixel_centers_);
    const size_t esize = DataTypeSize(in.dtype());
    const size_t pixel = static_cast<size_t>(ch) * esize;
    const auto* src = static_cast<const unsigned char*>(in.raw_data());
    auto* dst = static_cast<unsigned char*>(out->raw_data());
    ParallelFor(ctx.intra_op_threads(), batch * out_h, RowsPerChunk(out_w * ch),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    const int64_t b = r / out_h, y = r % out_h;
                    const unsigned char* row = src + (b * in_h + ys[y]) * in_w * pixel;
                    unsigned char* o = dst + r * out_w * pixel;
                    for (int64_t x = 0; x < out_w; ++x) {
                      std::memcpy(o + x * pixel, row + xs[x] * pixel, pixel);
                    }
                  }
                });
    return absl::OkStatus();
  }
};

// ---- ResizeNearestNeighborGrad ------------------------------------------------------------

template <typename T>
class ResizeNearestNeighborGradOp : public ResizeKernelBase {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& grads = ctx.input(0);
    if (grads.rank() != 4) {
      return ctx.Error(
          absl::StrCat("input must be 4-dimensional, got shape ", grads.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> size,
                     array_kernels::HostInts(ctx, 1, "size", /*want_rank=*/1));
    if (size.size() != 2) {
      return ctx.Error(absl::StrCat("size must have two elements, got ", size.size()));
    }
    if (size[0] <= 0 || size[1] <= 0) {
      return ctx.Error(
          absl::StrCat("size's elements must be positive, got [", size[0], ", ", size[1], "]"));
    }
    const int64_t batch = grads.dim(0), in_h = grads.dim(1), in_w = grads.dim(2), ch = grads.dim(3);
    const int64_t out_h = size[0], out_w = size[1];
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{batch, out_h, out_w, ch}));
    if (out->num_elements() == 0) return absl::OkStatus();
    T* dst = out->data<T>();
    std::fill(dst, dst + out->num_elements(), FromFloat<T>(0.0f));
    if (grads.num_elements() == 0) return absl::OkStatus();
    // TF's scales map the gradient's (resized) grid onto the original one.
    const std::vector<int64_t> ys = NearestIndices(
        in_h, out_h, ResizeScale(out_h, in_h, align_corners_), align_corners_, half_pixel_centers_);
    const std::vector<int64_t> xs = NearestIndices(
        in_w, out_w, ResizeScale(out_w, in_w, align_corners_), align_corners_, half_pixel_centers_);
    const T* src = grads.data<T>();
    ParallelFor(ctx.intra_op_threads(), batch, RowsPerChunk(in_h * in_w * ch),
                [&](int64_t begin, int64_t end) {
                  for (int64_t b = begin; b < end; ++b) {
                    for (int64_t y = 0; y < in_h; ++y) {
                      for (int64_t x = 0; x < in_w; ++x) {
                        const T* g = src + ((b * in_h + y) * in_w + x) * ch;
                        T* o = dst + ((b * out_h + ys[y]) * out_w + xs[x]) * ch;
                        for (int64_t c = 0; c < ch; ++c) AddTo(o[c], g[c]);
                      }
                    }
                  }
                });
    return absl::OkStatus();
  }
};

// ---- registration -------------------------------------------------------------------------

#define QUIVER_REGISTER_RESIZE_BILINEAR(T, DT)                                        \
  QUIVER_REGISTER_KERNEL(                                                             \
      KernelDef("ResizeBilinear", kCpu).TypeConstraint("T", {DT}).HostMemory("size"), \
      InitFactory<ResizeBilinearOp<T>>())

QUIVER_REGISTER_RESIZE_BILINEAR(float, DT_FLOAT);
QUIVER_REGISTER_RESIZE_BILINEAR(double, DT_DOUBLE);
QUIVER_REGISTER_RESIZE_BILINEAR(int8_t, DT_INT8);
QUIVER_REGISTER_RESIZE_BILINEAR(uint8_t, DT_UINT8);
QUIVER_REGISTER_RESIZE_BILINEAR(int16_t, DT_INT16);
QUIVER_REGISTER_RESIZE_BILINEAR(uint16_t, DT_UINT16);
QUIVER_REGISTER_RESIZE_BILINEAR(int32_t, DT_INT32);
QUIVER_REGISTER_RESIZE_BILINEAR(int64_t, DT_INT64);
QUIVER_REGISTER_RESIZE_BILINEAR(Half, DT_HALF);
QUIVER_REGISTER_RESIZE_BILINEAR(BFloat16, DT_BFLOAT16);

#define QUIVER_REGISTER_RESIZE_BILINEAR_GRAD(T, DT)                                       \
  QUIVER_REGISTER_KERNEL(KernelDef("ResizeBilinearGrad", kCpu).TypeConstraint("T", {DT}), \
                         InitFactory<ResizeBilinearGradOp<T>>())

QUIVER_REGISTER_RESIZE_BILINEAR_GRAD(float, DT_FLOAT);
QUIVER_REGISTER_RESIZE_BILINEAR_GRAD(double, DT_DOUBLE);
QUIVER_REGISTER_RESIZE_BILINEAR_GRAD(Half, DT_HALF);
QUIVER_REGISTER_RESIZE_BILINEAR_GRAD(BFloat16, DT_BFLOAT16);

QUIVER_REGISTER_KERNEL(KernelDef("ResizeNearestNeighbor", kCpu)
                           .TypeConstraint("T",
                                           {DT_INT8, DT_UINT8, DT_INT16, DT_UINT16, DT_INT32,
                                            DT_INT64, DT_HALF, DT_FLOAT, DT_DOUBLE, DT_BFLOAT16})
                           .HostMemory("size"),
                       InitFactory<ResizeNearestNeighborOp>());

#define QUIVER_REGISTER_RESIZE_NEAREST_GRAD(T, DT)                                               \
  QUIVER_REGISTER_KERNEL(                                                                        \
      KernelDef("ResizeNearestNeighborGrad", kCpu).TypeConstraint("T", {DT}).HostMemory("size"), \
      InitFactory<ResizeNearestNeighborGradOp<T>>())

QUIVER_REGISTER_RESIZE_NEAREST_GRAD(float, DT_FLOAT);
QUIVER_REGISTER_RESIZE_NEAREST_GRAD(double, DT_DOUBLE);
QUIVER_REGISTER_RESIZE_NEAREST_GRAD(int32_t, DT_INT32);
QUIVER_REGISTER_RESIZE_NEAREST_GRAD(int8_t, DT_INT8);
QUIVER_REGISTER_RESIZE_NEAREST_GRAD(uint8_t, DT_UINT8);
QUIVER_REGISTER_RESIZE_NEAREST_GRAD(Half, DT_HALF);
QUIVER_REGISTER_RESIZE_NEAREST_GRAD(BFloat16, DT_BFLOAT16);

}  // namespace
}  // namespace quiver
