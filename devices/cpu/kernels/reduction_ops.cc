// CPU kernels for Sum, Mean, Prod, Max and Min (and the bool Any and All) over any set of axes.
//
// The input shape is simplified first: size-1 dims are dropped and adjacent dims that are all
// reduced (or all kept) are merged, so [K0, R0, K1, R1, ...] alternates. Each reduced group is
// then removed by one pass of a single primitive that sees the data as [A, R, B] and produces
// [A, B]:
//   B == 1  (innermost axis, "rows"): each output is a contiguous dot-like reduction, done with
//           16 independent lanes so the compiler vectorises it without reassociating.
//   B > 1   (outer or middle axis, "columns"): rows of B are combined element-wise into an
//           accumulator row, which vectorises across B; B is blocked to stay in L1.
// Almost every real reduction is a single pass (one reduced group).
//
// float32 sums accumulate in double so results match NumPy/TensorFlow within 1e-6 relative
// even for millions of elements; integer sums wrap (unsigned accumulators, no UB); Mean of
// integers truncates like TensorFlow.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace {

enum class ReduceKind { kSum, kMean, kProd, kMax, kMin, kAny, kAll };

template <typename T, ReduceKind K>
struct AccumulatorOf {
  using type = T;
};
// Sums and products: double for floats, the unsigned type (wrapping) for integers.
template <typename T, bool kFloat = std::is_floating_point_v<T>>
struct Wide {
  using type = double;
};
template <typename T>
struct Wide<T, false> {
  using type = std::make_unsigned_t<T>;
};
template <typename T>
using WideAcc = typename Wide<T>::type;
template <typename T>
struct AccumulatorOf<T, ReduceKind::kSum> {
  using type = WideAcc<T>;
};
template <typename T>
struct AccumulatorOf<T, ReduceKind::kMean> {
  using type = WideAcc<T>;
};
template <typename T>
struct AccumulatorOf<T, ReduceKind::kProd> {
  using type = WideAcc<T>;
};
// Any / All: bytes, not bool (the passes keep std::vector<Acc> buffers).
template <typename T>
struct AccumulatorOf<T, ReduceKind::kAny> {
  using type = uint8_t;
};
template <typename T>
struct AccumulatorOf<T, ReduceKind::kAll> {
  using type = uint8_t;
};

template <typename Acc, ReduceKind K>
struct Reducer {
  static constexpr ReduceKind kKind = K;
  static Acc Identity() {
    if constexpr (K == ReduceKind::kProd || K == ReduceKind::kAll) {
      return Acc(1);
    } else if constexpr (K == ReduceKind::kMax) {
      return std::numeric_limits<Acc>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                    : std::numeric_limits<Acc>::lowest();
    } else if constexpr (K == ReduceKind::kMin) {
      return std::numeric_limits<Acc>::has_infinity ? std::numeric_limits<Acc>::infinity()
                                                    : std::numeric_limits<Acc>::max();
    } else {
      return Acc(0);
    }
  }
  static Acc Combine(Acc a, Acc b) {
    if constexpr (K == ReduceKind::kAny) {
      return a || b;
    } else if constexpr (K == ReduceKind::kAll) {
      return a && b;
    } else if constexpr (K == ReduceKind::kProd) {
      return functor::WrapMul(a, b);
    } else if constexpr (K == ReduceKind::kMax) {
      return functor::Maximum<Acc>()(a, b);  // NaN propagates, like NumPy and TF
    } else if constexpr (K == ReduceKind::kMin) {
      return functor::Minimum<Acc>()(a, b);
    } else {
      return a + b;  // unsigned for integers: wraps without UB
    }
  }
};

// Reduces n contiguous values.
template <typename In, typename Acc, typename Red>
Acc ReduceRow(const In* in, int64_t n) {
  if constexpr ((Red::kKind == ReduceKind::kMax || Red::kKind == ReduceKind::kMin) &&
                std::is_same_v<In, Acc>) {
    // GCC does not vectorise a NaN-propagating max over lanes; Eigen's packet max does (as
    // fast as a sum).
    if (n == 0) return Red::Identity();
    Eigen::Map<const Eigen::Array<In, Eigen::Dynamic, 1>> row(in, static_cast<Eigen::Index>(n));
    if constexpr (Red::kKind == ReduceKind::kMax) {
      return row.template maxCoeff<Eigen::PropagateNaN>();
    } else {
      return row.template minCoeff<Eigen::PropagateNaN>();
    }
  }
  constexpr int kLanes = 16;
  Acc lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = Red::Identity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] = Red::Combine(lanes[j], static_cast<Acc>(in[i + j]));
  }
  Acc tail = Red::Identity();
  for (; i < n; ++i) tail = Red::Combine(tail, static_cast<Acc>(in[i]));
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] = Red::Combine(lanes[j], lanes[j + width]);
  }
  return Red::Combine(lanes[0], tail);
}

// Combines rows [r0, r1) of an [R, B] slab into out[b0, b1) (which must be initialised).
template <typename In, typename Acc, typename Red>
void ReduceColumns(const In* slab, int64_t B, int64_t r0, int64_t r1, int64_t b0, int64_t b1,
                   Acc* out) {
  for (int64_t r = r0; r < r1; ++r) {
    const In* row = slab + r * B;
    for (int64_t b = b0; b < b1; ++b) out[b] = Red::Combine(out[b], static_cast<Acc>(row[b]));
  }
}

// in viewed as [A, R, B] -> out [A, B].
template <typename In, typename Acc, typename Red>
void ReduceMiddle(OpKernelContext& ctx, const In* in, Acc* out, int64_t A, int64_t R, int64_t B) {
  const int workers = ctx.intra_op_threads();
  if (B == 1) {
    if (A < workers && R >= 2 * cwise::kParallelMinElements && workers > 1) {
      // Few long rows (e.g. a full reduction): split each row, then combine the partials.
      for (int64_t a = 0; a < A; ++a) {
        const In* row = in + a * R;
        const int64_t chunks = workers;
        const int64_t per = (R + chunks - 1) / chunks;
        std::vector<Acc> partial(chunks, Red::Identity());
        ParallelFor(workers, chunks, 1, [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c) {
            const int64_t begin = std::min(R, c * per), end = std::min(R, begin + per);
            partial[c] = ReduceRow<In, Acc, Red>(row + begin, end - begin);
          }
        });
        Acc acc = Red::Identity();
        for (Acc p : partial) acc = Red::Combine(acc, p);
        out[a] = acc;
      }
      return;
    }
    cwise::ParallelForRange(ctx, A, R, [&](int64_t a0, int64_t a1) {
      for (int64_t a = a0; a < a1; ++a) out[a] = ReduceRow<In, Acc, Red>(in + a * R, R);
    });
    return;
  }
  // Column reductions: the accumulator block of kBlock values stays in L1 across the R rows.
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (B + kBlock - 1) / kBlock;
  auto run = [&](int64_t a, int64_t blk) {
    const int64_t b0 = blk * kBlock, b1 = std::min(B, b0 + kBlock);
    Acc* o = out + a * B;
    for (int64_t b = b0; b < b1; ++b) o[b] = Red::Identity();
    ReduceColumns<In, Acc, Red>(in + a * R * B, B, 0, R, b0, b1, o);
  };
  if (A >= workers || blocks < workers) {
    cwise::ParallelForRange(ctx, A, R * B, [&](int64_t a0, int64_t a1) {
      for (int64_t a = a0; a < a1; ++a) {
        for (int64_t blk = 0; blk < blocks; ++blk) run(a, blk);
      }
    });
  } else {
    cwise::ParallelForRange(ctx, blocks, R * kBlock * A, [&](int64_t k0, int64_t k1) {
      for (int64_t a = 0; a < A; ++a) {
        for (int64_t blk = k0; blk < k1; ++blk) run(a, blk);
      }
    });
  }
}

// Turns an accumulator into the output value.
template <typename T, typename Acc, ReduceKind K>
T Finalize(Acc acc, int64_t count) {
  if constexpr (K == ReduceKind::kMean) {
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(acc / static_cast<Acc>(count));  // 0/0 = NaN for an empty mean
    } else {
      // Integer mean truncates (TF); an empty integer mean is 0 rather than a SIGFPE.
      if (count == 0) return T(0);
      return static_cast<T>(static_cast<int64_t>(static_cast<T>(acc)) / count);
    }
  } else {
    return static_cast<T>(acc);  // unsigned -> signed wraps back to the two's-complement sum
  }
}

struct ReducePlan {
  TensorShape out_shape;
  std::vector<int64_t> dims;  // simplified: no size-1 dims, adjacent same-kind dims merged
  std::vector<bool> reduced;
  int64_t count = 1;  // input elements folded into each output element
};

absl::StatusOr<ReducePlan> PlanReduce(OpKernelContext& ctx, const TensorShape& shape,
                                      const Tensor& axes_t, bool keep_dims) {
  // The checks and messages every device shares.
  ASSIGN_OR_RETURN(const std::vector<bool> is_reduced,
                   array_plans::ReductionMask(ctx, axes_t, shape));
  const int rank = shape.rank();
  ReducePlan plan;
  std::vector<int64_t> out_dims;
  for (int d = 0; d < rank; ++d) {
    const int64_t size = shape.dim(d);
    if (is_reduced[d]) {
      plan.count *= size;
      if (keep_dims) out_dims.push_back(1);
    } else {
      out_dims.push_back(size);
    }
    if (size == 1) continue;
    if (!plan.dims.empty() && plan.reduced.back() == is_reduced[d]) {
      plan.dims.back() *= size;
    } else {
      plan.dims.push_back(size);
      plan.reduced.push_back(is_reduced[d]);
    }
  }
  plan.out_shape = TensorShape(std::move(out_dims));
  return plan;
}

template <typename T, ReduceKind K>
class ReduceOp : public OpKernel {
  using Acc = typename AccumulatorOf<T, K>::type;
  using Red = Reducer<Acc, K>;

 public:
  explicit ReduceOp(OpKernelConstruction& c) {
    auto keep = c.GetAttr<bool>("keep_dims");
    keep_dims_ = keep.ok() && *keep;
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DataTypeOf<T>::value));
    const Tensor& x = ctx.input(0);
    ASSIGN_OR_RETURN(ReducePlan plan, PlanReduce(ctx, x.shape(), ctx.input(1), keep_dims_));
    const bool any_reduced =
        std::find(plan.reduced.begin(), plan.reduced.end(), true) != plan.reduced.end();
    if (x.num_elements() > 0 && !any_reduced) {
      // Only size-1 dims (or none) are reduced: every output is one input value.
      ASSIGN_OR_RETURN(Tensor aliased, x.Reshaped(plan.out_shape));
      ctx.set_output(0, std::move(aliased));
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Tensor * out_t, ctx.allocate_output(0, plan.out_shape));
    T* out = out_t->data<T>();
    if (x.num_elements() == 0) {  // empty reductions yield the identity (NaN for a float mean)
      const T value = Finalize<T, Acc, K>(Red::Identity(), plan.count);
      for (int64_t i = 0; i < out_t->num_elements(); ++i) out[i] = value;
      return absl::OkStatus();
    }

    std::vector<int64_t> dims = plan.dims;
    std::vector<bool> reduced = plan.reduced;
    const T* src_t = x.data<T>();
    std::vector<Acc> src_acc, dst_acc;
    bool first = true;
    // Write the last pass straight into the output when no conversion is needed.
    constexpr bool kDirect = std::is_same_v<T, Acc> && K != ReduceKind::kMean;
    for (;;) {
      int j = static_cast<int>(reduced.size()) - 1;
      while (j >= 0 && !reduced[j]) --j;
      if (j < 0) break;
      int64_t A = 1, B = 1;
      for (int d = 0; d < j; ++d) A *= dims[d];
      for (size_t d = j + 1; d < dims.size(); ++d) B *= dims[d];
      const int64_t R = dims[j];
      dims.erase(dims.begin() + j);
      reduced.erase(reduced.begin() + j);
      // The kept groups on either side of j are now adjacent: merge them.
      if (j > 0 && static_cast<size_t>(j) < dims.size()) {
        dims[j - 1] *= dims[j];
        dims.erase(dims.begin() + j);
        reduced.erase(reduced.begin() + j);
      }
      const bool last = std::find(reduced.begin(), reduced.end(), true) == reduced.end();
      Acc* dst;
      if (kDirect && last) {
        dst = reinterpret_cast<Acc*>(out);
      } else {
        dst_acc.resize(A * B);
        dst = dst_acc.data();
      }
      if (first) {
        ReduceMiddle<T, Acc, Red>(ctx, src_t, dst, A, R, B);
      } else {
        ReduceMiddle<Acc, Acc, Red>(ctx, src_acc.data(), dst, A, R, B);
      }
      first = false;
      if (kDirect && last) return absl::OkStatus();
      std::swap(src_acc, dst_acc);
    }
    const int64_t n = out_t->num_elements();
    const Acc* acc = src_acc.data();
    const int64_t count = plan.count;
    for (int64_t i = 0; i < n; ++i) out[i] = Finalize<T, Acc, K>(acc[i], count);
    return absl::OkStatus();
  }

 private:
  bool keep_dims_ = false;
};

#define QUIVER_REDUCE(op, kind, T)                                                        \
  QUIVER_REGISTER_KERNEL(KernelDef(op, kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         (MakeFactory<ReduceOp<T, ReduceKind::kind>>()))
#define QUIVER_REDUCE_ALL(op, kind) \
  QUIVER_REDUCE(op, kind, float);   \
  QUIVER_REDUCE(op, kind, double);  \
  QUIVER_REDUCE(op, kind, int32_t); \
  QUIVER_REDUCE(op, kind, int64_t)

QUIVER_REDUCE_ALL("Sum", kSum);
QUIVER_REDUCE_ALL("Mean", kMean);
QUIVER_REDUCE_ALL("Prod", kProd);
QUIVER_REDUCE_ALL("Max", kMax);
QUIVER_REDUCE_ALL("Min", kMin);
QUIVER_REGISTER_KERNEL(KernelDef("Any", kCpu), (MakeFactory<ReduceOp<bool, ReduceKind::kAny>>()));
QUIVER_REGISTER_KERNEL(KernelDef("All", kCpu), (MakeFactory<ReduceOp<bool, ReduceKind::kAll>>()));

}  // namespace
}  // namespace quiver
