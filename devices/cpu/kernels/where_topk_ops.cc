// Where (one input: the coordinates of the true / non-zero elements, int64 [num_true, rank], in
// row-major order; the output shape depends on the data) and TopKV2 (the k largest entries of
// each last-dim row, sorted descending; equal values keep the lower index first, as TF).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

// Element i of `t` != 0 (NaN counts as non-zero, -0.0 as zero, like TF's `value != T(0)`).
template <typename T>
void NonZero(const Tensor& t, std::vector<int64_t>* hits) {
  const T* v = t.data<T>();
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    bool nz;
    if constexpr (std::is_same_v<T, Half>) {
      nz = HalfToFloat(v[i].bits) != 0.0f;
    } else if constexpr (std::is_same_v<T, BFloat16>) {
      nz = BFloat16ToFloat(v[i].bits) != 0.0f;
    } else {
      nz = v[i] != T(0);
    }
    if (nz) hits->push_back(i);
  }
}

class WhereOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    std::vector<int64_t> hits;
    switch (in.dtype()) {
#define QUIVER_WHERE_CASE(T) \
  case DataTypeOf<T>::value: \
    NonZero<T>(in, &hits);   \
    break;
      QUIVER_WHERE_CASE(float)
      QUIVER_WHERE_CASE(double)
      QUIVER_WHERE_CASE(int32_t)
      QUIVER_WHERE_CASE(int64_t)
      QUIVER_WHERE_CASE(int16_t)
      QUIVER_WHERE_CASE(int8_t)
      QUIVER_WHERE_CASE(uint8_t)
      QUIVER_WHERE_CASE(uint16_t)
      QUIVER_WHERE_CASE(uint32_t)
      QUIVER_WHERE_CASE(uint64_t)
      QUIVER_WHERE_CASE(bool)
      QUIVER_WHERE_CASE(Half)
      QUIVER_WHERE_CASE(BFloat16)
#undef QUIVER_WHERE_CASE
      default:
        return ctx.Error(absl::StrCat("unsupported input dtype ", DataTypeName(in.dtype())));
    }
    const int rank = in.rank();
    const int64_t count = static_cast<int64_t>(hits.size());
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{count, rank}));
    int64_t* o = out->data<int64_t>();
    const std::vector<int64_t> strides = array_kernels::RowMajorStrides(in.shape().dims());
    for (int64_t r = 0; r < count; ++r) {
      int64_t flat = hits[r];
      for (int d = 0; d < rank; ++d) {
        o[r * rank + d] = flat / strides[d];
        flat %= strides[d];
      }
    }
    return absl::OkStatus();
  }
};

template <typename T>
bool IsNan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

template <typename I>
void StoreIndices(Tensor* t, int64_t at, const std::vector<int64_t>& order, int64_t k) {
  I* p = t->data<I>() + at;
  for (int64_t j = 0; j < k; ++j) p[j] = static_cast<I>(order[j]);
}

template <typename T>
class TopKOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    const Tensor& k_t = ctx.input(1);
    if (k_t.rank() != 0) {
      return ctx.Error(absl::StrCat("k must be 0-D, got shape ", k_t.shape().DebugString()));
    }
    auto k_v = array_plans::IndicesAsInt64(k_t.dtype(), k_t.raw_data(), 1);
    if (!k_v.ok()) return NodeError(ctx, k_v.status());
    const int64_t k = (*k_v)[0];
    auto shape = array_extra_shapes::TopKShape(in.shape(), &k);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    ASSIGN_OR_RETURN(Tensor * values, ctx.allocate_output(0, *shape));
    ASSIGN_OR_RETURN(Tensor * indices, ctx.allocate_output(1, *shape));
    const int64_t cols = in.dim(in.rank() - 1);
    const int64_t rows = cols == 0 ? 0 : in.num_elements() / cols;
    if (k == 0 || rows == 0) return absl::OkStatus();
    const T* x = in.data<T>();
    T* v = values->data<T>();
    const DataType itype = indices->dtype();
    ParallelFor(ctx.intra_op_threads(), rows, std::max<int64_t>(1, 16384 / cols),
                [&](int64_t r0, int64_t r1) {
                  std::vector<int64_t> order(cols);
                  for (int64_t r = r0; r < r1; ++r) {
                    const T* row = x + r * cols;
                    std::iota(order.begin(), order.end(), int64_t{0});
                    // Larger first, ties by lower index; NaN ranks above +inf so that the
                    // order stays a strict weak one (TF leaves NaN's place unspecified).
                    auto greater = [row](int64_t a, int64_t b) {
                      const bool na = IsNan(row[a]), nb = IsNan(row[b]);
                      if (na != nb) return na;
                      if (!na && row[a] != row[b]) return row[a] > row[b];
                      return a < b;
                    };
                    if (k < cols) {
                      std::partial_sort(order.begin(), order.begin() + k, order.end(), greater);
                    } else {
                      std::sort(order.begin(), order.end(), greater);
                    }
                    for (int64_t j = 0; j < k; ++j) v[r * k + j] = row[order[j]];
                    if (itype == DT_INT32) {
                      StoreIndices<int32_t>(indices, r * k, order, k);
                    } else if (itype == DT_INT64) {
                      StoreIndices<int64_t>(indices, r * k, order, k);
                    } else {
                      StoreIndices<int16_t>(indices, r * k, order, k);
                    }
                  }
                });
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(KernelDef("Where", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<WhereOp>());

#define QUIVER_TOPK(T)                                                                       \
  QUIVER_REGISTER_KERNEL(                                                                    \
      KernelDef("TopKV2", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}).HostMemory("k"), \
      InitFactory<TopKOp<T>>())
QUIVER_TOPK(float);
QUIVER_TOPK(double);
QUIVER_TOPK(int32_t);
QUIVER_TOPK(int64_t);

}  // namespace
}  // namespace quiver
