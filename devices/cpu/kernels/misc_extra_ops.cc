// LinSpace, Unique, TensorScatterUpdate/Add and SegmentSum/Mean on the CPU, as TF's CPU kernels
// compute them (graph/ops/misc_extra_ops.cc has the op definitions):
//
//  - LinSpace: step = (stop - start) / (num - 1) in T, value i = start + step * i, the last
//    value exactly `stop` (num == 1: just start).
//  - Unique: values in first-occurrence order, by == (so -0.0 joins 0.0 and every NaN is its
//    own value, as TF's hash map does).
//  - TensorScatterUpdate/Add: a copy of `tensor` (its buffer when it can be forwarded) with the
//    slices named by `indices` replaced / accumulated in index order (the last duplicate wins
//    for Update). Every index is checked before anything is written.
//  - SegmentSum/Mean: sorted ids; output dim 0 = last id + 1, segments with no rows are 0.
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::NodeError;

template <typename K>
KernelFactory Factory() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::unique_ptr<OpKernel>(new K()); };
}

absl::StatusOr<std::vector<int64_t>> ReadIndices(const OpKernelContext& ctx, int i) {
  const Tensor& t = ctx.input(i);
  auto v = array_plans::IndicesAsInt64(t.dtype(), t.raw_data(), t.num_elements());
  if (!v.ok()) return NodeError(ctx, v.status());
  return v;
}

// Integer sums wrap (unsigned arithmetic: no UB).
template <typename T>
T WrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}

// ---- LinSpace ---------------------------------------------------------------------------------

template <typename T>
class LinSpaceOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i : {0, 1}) {
      if (ctx.input(i).rank() != 0) {
        return ctx.Error(absl::StrCat(i == 0 ? "start" : "stop", " must be a scalar, not shape ",
                                      ctx.input(i).shape().DebugString()));
      }
    }
    ASSIGN_OR_RETURN(int64_t num, array_kernels::HostScalar(ctx, 2, "num"));
    if (ctx.input(2).rank() != 0) {
      return ctx.Error(
          absl::StrCat("num must be a scalar, not shape ", ctx.input(2).shape().DebugString()));
    }
    if (num <= 0) return ctx.Error(absl::StrCat("Requires num > 0: ", num));
    const T start = *ctx.input(0).data<T>(), stop = *ctx.input(1).data<T>();
    ASSIGN_OR_RETURN(Tensor * out_t, ctx.allocate_output(0, TensorShape{num}));
    T* out = out_t->data<T>();
    if (num == 1) {
      out[0] = start;
      return absl::OkStatus();
    }
    const T step = (stop - start) / static_cast<T>(num - 1);
    for (int64_t i = 0; i < num - 1; ++i) {
      // Rounded product, then sum, as TF's kernel: `volatile` keeps the compiler from fusing
      // them into one FMA (which rounds once and differs in the last bit).
      volatile T prod = step * static_cast<T>(i);
      out[i] = start + prod;
    }
    out[num - 1] = stop;
    return absl::OkStatus();
  }
};

// ---- Unique -----------------------------------------------------------------------------------

template <typename T>
class UniqueOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() != 1) {
      return ctx.Error("unique expects a 1D vector, got shape " + x.shape().DebugString());
    }
    const int64_t n = x.num_elements();
    const DataType idx_type = ctx.node().output_type(1);
    if (idx_type == DT_INT32 && n > INT32_MAX) {
      return ctx.Error(absl::StrCat("input of ", n, " elements is too large for int32 idx"));
    }
    const T* in = x.data<T>();
    std::unordered_map<T, int64_t> first;  // value -> its index in y
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::vector<T> y;
    for (int64_t i = 0; i < n; ++i) {
      auto [it, inserted] = first.emplace(in[i], static_cast<int64_t>(y.size()));
      if (inserted) y.push_back(in[i]);
      idx[i] = it->second;
    }
    ASSIGN_OR_RETURN(Tensor * y_t,
                     ctx.allocate_output(0, TensorShape{static_cast<int64_t>(y.size())}));
    std::copy(y.begin(), y.end(), y_t->data<T>());
    ASSIGN_OR_RETURN(Tensor * idx_t, ctx.allocate_output(1, TensorShape{n}));
    for (int64_t i = 0; i < n; ++i) {
      if (idx_type == DT_INT32) {
        idx_t->data<int32_t>()[i] = static_cast<int32_t>(idx[i]);
      } else {
        idx_t->data<int64_t>()[i] = idx[i];
      }
    }
    return absl::OkStatus();
  }
};

// ---- TensorScatterUpdate / TensorScatterAdd -----------------------------------------------------

// The checked slice offsets of `indices` (input 1) into `tensor` (input 0), the slice size and
// the output (a forwarded or copied `tensor`).
struct ScatterPlan {
  std::vector<int64_t> offsets;
  int64_t slice = 0;
  Tensor* out = nullptr;
};

absl::StatusOr<ScatterPlan> PlanTensorScatter(OpKernelContext& ctx) {
  const Tensor& tensor = ctx.input(0);
  const Tensor& indices_t = ctx.input(1);
  const Tensor& updates = ctx.input(2);
  if (tensor.dtype() != updates.dtype()) return ctx.Error("tensor and updates dtypes differ");
  if (tensor.rank() == 0) {
    return ctx.Error("Output must be at least 1-D, got shape " + tensor.shape().DebugString());
  }
  if (indices_t.rank() < 1) {
    return ctx.Error("indices must be at least a vector, got shape " +
                     indices_t.shape().DebugString());
  }
  const std::vector<int64_t> dims(tensor.shape().dims().begin(), tensor.shape().dims().end());
  auto shape = array_extra_shapes::ScatterNdShape(indices_t.shape(), updates.shape(), &dims,
                                                  static_cast<int>(dims.size()));
  if (!shape.ok()) return NodeError(ctx, shape.status());
  const int64_t n = indices_t.dim(indices_t.rank() - 1);
  const int64_t rows = array_plans::Product(indices_t.shape().dims(), 0, indices_t.rank() - 1);
  ScatterPlan plan;
  plan.slice = array_plans::Product(dims, n, dims.size());
  ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadIndices(ctx, 1));
  plan.offsets.assign(static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t v = indices[r * n + k], dim = dims[k];
      if (v < 0 || v >= dim) {
        std::vector<int64_t> row(indices.begin() + r * n, indices.begin() + (r + 1) * n);
        return ctx.Error(absl::StrCat("indices[", r, "] = [", absl::StrJoin(row, ", "),
                                      "] does not index into shape ",
                                      tensor.shape().DebugString()));
      }
      off = off * dim + v;
    }
    plan.offsets[r] = off;
  }
  ASSIGN_OR_RETURN(plan.out, ctx.forward_input_or_allocate_output(0, 0, tensor.shape()));
  const size_t bytes = static_cast<size_t>(tensor.num_elements()) * DataTypeSize(tensor.dtype());
  if (bytes > 0 && plan.out->raw_data() != tensor.raw_data()) {
    std::memcpy(plan.out->raw_data(), tensor.raw_data(), bytes);
  }
  return plan;
}

// Update for any dtype: slices are copied as bytes.
class TensorScatterUpdateOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(ScatterPlan plan, PlanTensorScatter(ctx));
    const size_t block = static_cast<size_t>(plan.slice) * DataTypeSize(ctx.input(2).dtype());
    if (block == 0) return absl::OkStatus();
    const char* src = static_cast<const char*>(ctx.input(2).raw_data());
    char* dst = static_cast<char*>(plan.out->raw_data());
    for (size_t r = 0; r < plan.offsets.size(); ++r) {
      std::memcpy(dst + plan.offsets[r] * block, src + r * block, block);
    }
    return absl::OkStatus();
  }
};

template <typename T>
class TensorScatterAddOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(ScatterPlan plan, PlanTensorScatter(ctx));
    const T* up = ctx.input(2).data<T>();
    T* out = plan.out->data<T>();
    for (size_t r = 0; r < plan.offsets.size(); ++r) {
      T* d = out + plan.offsets[r] * plan.slice;
      const T* s = up + static_cast<int64_t>(r) * plan.slice;
      for (int64_t j = 0; j < plan.slice; ++j) d[j] = WrapAdd(d[j], s[j]);
    }
    return absl::OkStatus();
  }
};

// ---- SegmentSum / SegmentMean -------------------------------------------------------------------

template <typename T, bool kMean>
class SegmentReductionOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& data = ctx.input(0);
    const Tensor& ids_t = ctx.input(1);
    if (ids_t.rank() != 1) {
      return ctx.Error("segment_ids should be a vector, got shape " + ids_t.shape().DebugString());
    }
    if (data.rank() < 1 || ids_t.dim(0) != data.dim(0)) {
      return ctx.Error(
          absl::StrCat("segment_ids should be the same size as dimension 0 of input: segment_ids ",
                       ids_t.shape().DebugString(), ", data ", data.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> ids, ReadIndices(ctx, 1));
    const int64_t n = static_cast<int64_t>(ids.size());
    const int64_t segments = n == 0 ? 0 : ids.back() + 1;
    for (int64_t j = 0; j < n; ++j) {
      if (ids[j] < 0 || ids[j] >= segments) {
        return ctx.Error(absl::StrCat("Segment id ", ids[j], " out of range [0, ", segments,
                                      "), possibly because 'segment_ids' input is not sorted."));
      }
      if (j > 0 && ids[j] < ids[j - 1]) return ctx.Error("segment ids are not increasing");
    }
    std::vector<int64_t> dims(data.shape().dims().begin(), data.shape().dims().end());
    dims[0] = segments;
    ASSIGN_OR_RETURN(Tensor * out_t, ctx.allocate_output(0, TensorShape(dims)));
    const int64_t inner = n == 0 ? 0 : data.num_elements() / n;
    T* out = out_t->data<T>();
    for (int64_t i = 0; i < out_t->num_elements(); ++i) out[i] = T(0);
    const T* in = data.data<T>();
    for (int64_t j = 0; j < n;) {
      int64_t end = j;
      T* dst = out + ids[j] * inner;
      for (; end < n && ids[end] == ids[j]; ++end) {
        const T* src = in + end * inner;
        for (int64_t k = 0; k < inner; ++k) dst[k] = WrapAdd(dst[k], src[k]);
      }
      if constexpr (kMean) {
        const T count = static_cast<T>(end - j);
        for (int64_t k = 0; k < inner; ++k) dst[k] /= count;
      }
      j = end;
    }
    return absl::OkStatus();
  }
};

// ---- registrations ------------------------------------------------------------------------------

#define QUIVER_LINSPACE(T)                                                                       \
  QUIVER_REGISTER_KERNEL(                                                                        \
      KernelDef("LinSpace", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}).HostMemory("num"), \
      Factory<LinSpaceOp<T>>())
QUIVER_LINSPACE(float);
QUIVER_LINSPACE(double);
#undef QUIVER_LINSPACE

#define QUIVER_UNIQUE(T)                                                                        \
  QUIVER_REGISTER_KERNEL(KernelDef("Unique", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         Factory<UniqueOp<T>>())
QUIVER_UNIQUE(float);
QUIVER_UNIQUE(double);
QUIVER_UNIQUE(int32_t);
QUIVER_UNIQUE(int64_t);
QUIVER_UNIQUE(uint8_t);
QUIVER_UNIQUE(int8_t);
QUIVER_UNIQUE(int16_t);
QUIVER_UNIQUE(bool);
#undef QUIVER_UNIQUE

QUIVER_REGISTER_KERNEL(KernelDef("TensorScatterUpdate", kCpu).TypeConstraint("T", AllTypes()),
                       Factory<TensorScatterUpdateOp>());

#define QUIVER_SCATTER_ADD(T)                                                          \
  QUIVER_REGISTER_KERNEL(                                                              \
      KernelDef("TensorScatterAdd", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
      Factory<TensorScatterAddOp<T>>())
QUIVER_SCATTER_ADD(float);
QUIVER_SCATTER_ADD(double);
QUIVER_SCATTER_ADD(int32_t);
QUIVER_SCATTER_ADD(int64_t);
#undef QUIVER_SCATTER_ADD

#define QUIVER_SEGMENT(T)                                                         \
  QUIVER_REGISTER_KERNEL(                                                         \
      KernelDef("SegmentSum", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}),  \
      (Factory<SegmentReductionOp<T, false>>()));                                 \
  QUIVER_REGISTER_KERNEL(                                                         \
      KernelDef("SegmentMean", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
      (Factory<SegmentReductionOp<T, true>>()))
QUIVER_SEGMENT(float);
QUIVER_SEGMENT(double);
QUIVER_SEGMENT(int32_t);
QUIVER_SEGMENT(int64_t);
#undef QUIVER_SEGMENT

}  // namespace
}  // namespace quiver
