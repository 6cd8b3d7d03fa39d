// CPU kernels for ArgMax and ArgMin. The input is viewed as [A, R, B] around the reduced
// dimension; the first index wins on ties, as in TensorFlow and NumPy. A NaN counts as the
// extreme value (the first NaN wins), as in NumPy; TensorFlow's result with NaNs depends on
// their position.
#include <vector>

#include <Eigen/Core>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace {

template <typename T, bool kMax>
inline bool Better(T candidate, T best) {
  // A NaN candidate beats any number; nothing beats a NaN best.
  const bool nan = functor::IsNan(candidate) & !functor::IsNan(best);
  if constexpr (kMax) {
    return (candidate > best) | nan;
  } else {
    return (candidate < best) | nan;
  }
}

// The row's extreme value (NaN if any), with Eigen's vectorised packet max/min.
template <typename T, bool kMax>
T RowExtreme(const T* row, int64_t n) {
  Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> x(row, static_cast<Eigen::Index>(n));
  if constexpr (kMax) {
    return x.template maxCoeff<Eigen::PropagateNaN>();
  } else {
    return x.template minCoeff<Eigen::PropagateNaN>();
  }
}

// The first r with pred(row[r]). Blocks are first tested with a branch-free count that the
// loop vectoriser handles (a block of 256 is not fully unrolled, so it is not left to the SLP
// vectoriser, which gives up on such reductions), then scanned inside the matching block.
template <typename T, typename Pred>
int64_t FirstMatch(const T* row, int64_t n, Pred pred) {
  constexpr int64_t kBlock = 256;
  int64_t r = 0;
  for (; r + kBlock <= n; r += kBlock) {
    int count = 0;
    for (int64_t j = 0; j < kBlock; ++j) count += pred(row[r + j]) ? 1 : 0;
    if (count != 0) break;
  }
  for (; r < n; ++r) {
    if (pred(row[r])) return r;
  }
  return 0;  // unreachable when the value comes from the row
}

template <typename T>
int64_t FirstIndexOf(const T* row, int64_t n, T m) {
  if (functor::IsNan(m)) return FirstMatch(row, n, [](T v) { return functor::IsNan(v); });
  return FirstMatch(row, n, [m](T v) { return v == m; });
}

template <typename T, bool kMax>
class ArgOp : public OpKernel {
 public:
  // The index type comes from the node's output dtype (output_type attr) at Compute time.
  explicit ArgOp(OpKernelConstruction&) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DataTypeOf<T>::value));
    const Tensor& x = ctx.input(0);
    // The checks and messages every device shares.
    ASSIGN_OR_RETURN(const int axis, array_plans::ArgReductionAxis(ctx));
    const int rank = x.rank();
    const int64_t R = x.dim(axis);
    int64_t A = 1, B = 1;
    std::vector<int64_t> out_dims;
    for (int d = 0; d < rank; ++d) {
      if (d < axis) A *= x.dim(d);
      if (d > axis) B *= x.dim(d);
      if (d != axis) out_dims.push_back(x.dim(d));
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape(std::move(out_dims))));
    if (out->dtype() == DT_INT32) {
      Run(ctx, x.data<T>(), out->data<int32_t>(), A, R, B);
    } else if (out->dtype() == DT_INT64) {
      Run(ctx, x.data<T>(), out->data<int64_t>(), A, R, B);
    } else {
      return ctx.Error(absl::StrCat("unsupported output_type ", DataTypeName(out->dtype()),
                                    " (expected int32 or int64)"));
    }
    return absl::OkStatus();
  }

 private:
  template <typename Index>
  static void Run(OpKernelContext& ctx, const T* in, Index* out, int64_t A, int64_t R, int64_t B) {
    if (B == 1) {
      // Contiguous rows: a vectorised pass finds the extreme value, a second pass (on data
      // still in cache, stopping early) finds its first position. Much faster than one
      // branchy compare-and-track pass.
      cwise::ParallelForRange(ctx, A, 2 * R, [&](int64_t a0, int64_t a1) {
        for (int64_t a = a0; a < a1; ++a) {
          const T* row = in + a * R;
          out[a] = static_cast<Index>(FirstIndexOf(row, R, RowExtreme<T, kMax>(row, R)));
        }
      });
      return;
    }
    // Columns: keep a running best per column; the inner loop over B vectorises.
    cwise::ParallelForRange(ctx, A, R * B, [&](int64_t a0, int64_t a1) {
      std::vector<T> best(B);
      for (int64_t a = a0; a < a1; ++a) {
        const T* slab = in + a * R * B;
        Index* o = out + a * B;
        for (int64_t b = 0; b < B; ++b) {
          best[b] = slab[b];
          o[b] = 0;
        }
        for (int64_t r = 1; r < R; ++r) {
          const T* row = slab + r * B;
          for (int64_t b = 0; b < B; ++b) {
            const bool better = Better<T, kMax>(row[b], best[b]);
            best[b] = better ? row[b] : best[b];
            o[b] = better ? static_cast<Index>(r) : o[b];
          }
        }
      }
    });
  }
};

#define QUIVER_ARG(op, kMax, T)                                                           \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (MakeFactory<ArgOp<T, kMax>>()))
#define QUIVER_ARG_ALL(op, kMax) \
  QUIVER_ARG(op, kMax, float);   \
  QUIVER_ARG(op, kMax, double);  \
  QUIVER_ARG(op, kMax, int32_t); \
  QUIVER_ARG(op, kMax, int64_t); \
  QUIVER_ARG(op, kMax, uint8_t); \
  QUIVER_ARG(op, kMax, int8_t);  \
  QUIVER_ARG(op, kMax, int16_t)

QUIVER_ARG_ALL("ArgMax", true);
QUIVER_ARG_ALL("ArgMin", false);

}  // namespace
}  // namespace quiver
