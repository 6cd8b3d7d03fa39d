// MaxPoolGrad and AvgPoolGrad on the CPU (NHWC), with the forward pools' window arithmetic
// (onednn::ComputeWindow: TF's SAME/VALID/EXPLICIT padding, windows clipped to the input).
//
// MaxPoolGrad recomputes each window's maximum from orig_input and routes the window's
// gradient to the first position (row-major) holding it, as TF's CPU kernel does: ties go
// to the earliest element, and overlapping windows accumulate. Non-overlapping windows take a
// vectorised path that writes each element once; the 2x2 stride-2 pool that tiles its input
// (every CNN's) a specialised one.
// AvgPoolGrad spreads each gradient evenly over the in-bounds elements of its window (the
// forward divides by that count: padding never counts).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/onednn_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// The window as every device checks it (onednn::MaxPoolGradGeometry / AvgPoolGradGeometry),
// with the CPU loops' helpers.
struct PoolGeometry : index::PoolGeometry {
  explicit PoolGeometry(const index::PoolGeometry& g) : index::PoolGeometry(g) {}
  // The window of output (oy, ox), clipped to the input: rows [y0, y1), columns [x0, x1).
  void Window(int64_t oy, int64_t ox, int64_t* y0, int64_t* y1, int64_t* x0, int64_t* x1) const {
    const int64_t ys = oy * stride_h - pad_t, xs = ox * stride_w - pad_l;
    *y0 = std::max<int64_t>(ys, 0);
    *y1 = std::min<int64_t>(ys + kh, h);
    *x0 = std::max<int64_t>(xs, 0);
    *x1 = std::min<int64_t>(xs + kw, w);
  }
  // Images per parallel chunk: enough window work (~64k element visits) to pay for a thread.
  int64_t MinImagesPerChunk() const {
    return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, oh * ow * kh * kw * c));
  }
};

template <typename T>
class MaxPoolGradOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return onednn::ParseWindowAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& input = ctx.input(0);
    ASSIGN_OR_RETURN(const index::PoolGeometry checked,
                     onednn::MaxPoolGradGeometry(ctx, window_, input, ctx.input(1), ctx.input(2)));
    const PoolGeometry g(checked);
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, input.shape()));
    const T* in = input.data<T>();
    const T* grad = ctx.input(2).data<T>();
    T* o = out->data<T>();
    if (g.kh == 2 && g.kw == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_t == 0 &&
        g.pad_l == 0 && g.h == 2 * g.oh && g.w == 2 * g.ow) {
      TwoByTwo(ctx, g, in, grad, o);
      return absl::OkStatus();
    }
    if (g.stride_h >= g.kh && g.stride_w >= g.kw) {
      NonOverlapping(ctx, g, in, grad, o);
      return absl::OkStatus();
    }
    std::fill(o, o + out->num_elements(), T(0));
    // Images are independent (each writes only its own slice of the output).
    ParallelFor(ctx.intra_op_threads(), g.n, g.MinImagesPerChunk(), [&](int64_t b0, int64_t b1) {
      std::vector<T> best(g.c);
      std::vector<int64_t> where(g.c);  // flat y * w + x of each channel's first maximum
      for (int64_t b = b0; b < b1; ++b) {
        const T* img = in + b * g.h * g.w * g.c;
        T* dimg = o + b * g.h * g.w * g.c;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            int64_t y0, y1, x0, x1;
            g.Window(oy, ox, &y0, &y1, &x0, &x1);
            if (y0 >= y1 || x0 >= x1) continue;  // wholly in (EXPLICIT) padding: no maximum
            const T* first = img + (y0 * g.w + x0) * g.c;
            std::copy(first, first + g.c, best.begin());
            std::fill(where.begin(), where.end(), y0 * g.w + x0);
            for (int64_t y = y0; y < y1; ++y) {
              for (int64_t x = x0; x < x1; ++x) {
                const T* px = img + (y * g.w + x) * g.c;
                for (int64_t ch = 0; ch < g.c; ++ch) {
                  if (best[ch] < px[ch]) {  // strict: an equal later value keeps the first
                    best[ch] = px[ch];
                    where[ch] = y * g.w + x;
                  }
                }
              }
            }
            const T* gr = grad + ((b * g.oh + oy) * g.ow + ox) * g.c;
            for (int64_t ch = 0; ch < g.c; ++ch) dimg[where[ch] * g.c + ch] += gr[ch];
          }
        }
      }
    });
    return absl::OkStatus();
  }

 private:
  // The 2x2 stride-2 pool that tiles its input exactly (every CNN's): the four elements of a
  // window are at fixed offsets, so one branch-free channel loop finds the maximum (strict <
  // from the first element, as the reference loop) and writes all four outputs; no zeroing
  // pass, no per-window bookkeeping.
  static void TwoByTwo(const OpKernelContext& ctx, const PoolGeometry& g, const T* in,
                       const T* grad, T* o) {
    const int64_t c = g.c, row = g.w * c;
    const int64_t rows = g.n * g.oh;  // output rows, each owning two input rows
    const int64_t min_rows = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, g.ow * 4 * c));
    ParallelFor(ctx.intra_op_threads(), rows, min_rows, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* top = in + 2 * r * row;  // input rows 2*oy and 2*oy + 1 of image b
        T* dtop = o + 2 * r * row;
        const T* gr_row = grad + r * g.ow * c;
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          TwoByTwoWindow(top + 2 * ox * c, dtop + 2 * ox * c, gr_row + ox * c, c, row);
        }
      }
    });
  }

  // One window: the inputs at p, p + c, p + row, p + row + c (and the outputs likewise).
  static void TwoByTwoWindow(const T* __restrict p, T* __restrict d, const T* __restrict gr,
                             int64_t c, int64_t row) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const T a = p[ch], b = p[c + ch], e = p[row + ch], f = p[row + c + ch];
      T m = a;
      m = m < b ? b : m;
      m = m < e ? e : m;
      m = m < f ? f : m;
      // The first element equal to the maximum takes the gradient; a NaN maximum can only be
      // the first element (strict < never picks a later NaN). Masks as 0/1 values keep the
      // loop branch-free.
      const T t0 = static_cast<T>((a == m) | (m != m));
      const T t1 = static_cast<T>(b == m) * (T(1) - t0);
      const T t2 = static_cast<T>(e == m) * (T(1) - t0 - t1);
      const T t3 = T(1) - t0 - t1 - t2;
      const T gv = gr[ch];
      d[ch] = t0 != T(0) ? gv : T(0);
      d[c + ch] = t1 != T(0) ? gv : T(0);
      d[row + ch] = t2 != T(0) ? gv : T(0);
      d[row + c + ch] = t3 != T(0) ? gv : T(0);
    }
  }

  // Windows that do not overlap (stride >= window, as in the usual 2x2 stride-2 pool): every
  // input element lies in at most one window, so each window writes its elements outright,
  // the gradient at its first maximum and zero elsewhere, with branch-free channel loops that
  // vectorise. Elements in no window are zeroed first unless the windows tile the input.
  static void NonOverlapping(const OpKernelContext& ctx, const PoolGeometry& g, const T* in,
                             const T* grad, T* o) {
    const bool tiles = g.pad_t == 0 && g.pad_l == 0 && g.stride_h == g.kh && g.stride_w == g.kw &&
                       g.oh * g.kh >= g.h && g.ow * g.kw >= g.w;
    ParallelFor(ctx.intra_op_threads(), g.n, g.MinImagesPerChunk(), [&](int64_t b0, int64_t b1) {
      if (!tiles) std::fill(o + b0 * g.h * g.w * g.c, o + b1 * g.h * g.w * g.c, T(0));
      std::vector<T> best_v(g.c), done_v(g.c);
      T* __restrict best = best_v.data();
      T* __restrict done = done_v.data();
      const int64_t c = g.c;
      for (int64_t b = b0; b < b1; ++b) {
        const T* img = in + b * g.h * g.w * c;
        T* dimg = o + b * g.h * g.w * c;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            int64_t y0, y1, x0, x1;
            g.Window(oy, ox, &y0, &y1, &x0, &x1);
            if (y0 >= y1 || x0 >= x1) continue;
            // The maximum as the reference loop finds it: strict <, so a NaN first element
            // stays the maximum and later NaNs never win.
            const T* __restrict first = img + (y0 * g.w + x0) * c;
            for (int64_t ch = 0; ch < c; ++ch) {
              best[ch] = first[ch];
              done[ch] = T(0);
            }
            for (int64_t y = y0; y < y1; ++y) {
              for (int64_t x = x0; x < x1; ++x) {
                const T* __restrict px = img + (y * g.w + x) * c;
                for (int64_t ch = 0; ch < c; ++ch) best[ch] = best[ch] < px[ch] ? px[ch] : best[ch];
              }
            }
            // The first element (row-major) equal to the maximum takes the gradient; a NaN
            // maximum came from the first element.
            const T* __restrict gr = grad + ((b * g.oh + oy) * g.ow + ox) * c;
            for (int64_t y = y0; y < y1; ++y) {
              for (int64_t x = x0; x < x1; ++x) {
                const T* __restrict px = img + (y * g.w + x) * c;
                T* __restrict dst = dimg + (y * g.w + x) * c;
                // Branch-free with unconditional stores: a conditional store compiles to
                // vmaskmovps, which is microcoded and slow on AMD cores.
                for (int64_t ch = 0; ch < c; ++ch) {
                  const T is_max = (px[ch] == best[ch] || best[ch] != best[ch]) ? T(1) : T(0);
                  const T take = is_max * (T(1) - done[ch]);  // 1 only at the first maximum
                  dst[ch] = take != T(0) ? gr[ch] : T(0);
                  done[ch] += take;
                }
              }
            }
          }
        }
      }
    });
  }

  onednn::WindowAttrs window_;
};

template <typename T>
class AvgPoolGradOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) { return onednn::ParseWindowAttrs(c, &window_); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                     array_kernels::HostInts(ctx, 0, "orig_input_shape", /*want_rank=*/1));
    const Tensor& grad = ctx.input(1);
    ASSIGN_OR_RETURN(const index::PoolGeometry checked,
                     onednn::AvgPoolGradGeometry(ctx, window_, shape, grad));
    const PoolGeometry g(checked);
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(shape)));
    const T* gr = grad.data<T>();
    T* o = out->data<T>();
    std::fill(o, o + out->num_elements(), T(0));
    ParallelFor(ctx.intra_op_threads(), g.n, g.MinImagesPerChunk(), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        T* dimg = o + b * g.h * g.w * g.c;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            int64_t y0, y1, x0, x1;
            g.Window(oy, ox, &y0, &y1, &x0, &x1);
            if (y0 >= y1 || x0 >= x1) continue;
            const T count = static_cast<T>((y1 - y0) * (x1 - x0));
            const T* gp = gr + ((b * g.oh + oy) * g.ow + ox) * g.c;
            for (int64_t y = y0; y < y1; ++y) {
              for (int64_t x = x0; x < x1; ++x) {
                T* px = dimg + (y * g.w + x) * g.c;
                for (int64_t ch = 0; ch < g.c; ++ch) px[ch] += gp[ch] / count;
              }
            }
          }
        }
      }
    });
    return absl::OkStatus();
  }

 private:
  onednn::WindowAttrs window_;
};

using array_kernels::InitFactory;

QUIVER_REGISTER_KERNEL(KernelDef("MaxPoolGrad", kCpu).TypeConstraint("T", {DT_FLOAT}),
                       InitFactory<MaxPoolGradOp<float>>());
QUIVER_REGISTER_KERNEL(KernelDef("MaxPoolGrad", kCpu).TypeConstraint("T", {DT_DOUBLE}),
                       InitFactory<MaxPoolGradOp<double>>());
QUIVER_REGISTER_KERNEL(
    KernelDef("AvgPoolGrad", kCpu).TypeConstraint("T", {DT_FLOAT}).HostMemory("orig_input_shape"),
    InitFactory<AvgPoolGradOp<float>>());
QUIVER_REGISTER_KERNEL(
    KernelDef("AvgPoolGrad", kCpu).TypeConstraint("T", {DT_DOUBLE}).HostMemory("orig_input_shape"),
    InitFactory<AvgPoolGradOp<double>>());

}  // namespace
}  // namespace quiver
