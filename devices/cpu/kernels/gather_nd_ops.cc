// GatherNd (tf.gather_nd, batch_dims 0) and ScatterNd (tf.scatter_nd). Indices [..., N] name
// slices of params (or of the output) by their first N coordinates; a slice is the contiguous
// block params.shape[N:]. Every index is checked before anything is written; a bad one is an
// error naming the node and the offending index row, as TF's CPU kernels report it
// (bad_indices_policy "IGNORE" instead gathers zeros / drops the update).
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/parallel_for.h"
#include "devices/kernel.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace xs = array_extra_shapes;
using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

// bad_indices_policy: "" / "DEFAULT" / "ERROR" fail on a bad index; "IGNORE" skips it.
absl::StatusOr<bool> ParseIgnoreBadIndices(const OpKernelConstruction& c) {
  auto policy = c.GetAttr<std::string>("bad_indices_policy");
  if (!policy.ok()) return false;  // an old GraphDef without the attr
  if (policy->empty() || *policy == "DEFAULT" || *policy == "ERROR") return false;
  if (*policy == "IGNORE") return true;
  return absl::InvalidArgumentError(absl::StrCat(
      "bad_indices_policy must be one of DEFAULT, ERROR, IGNORE, got '", *policy, "'"));
}

// The slice offset (in slices) of every index row of `indices` (int64 values, rows of `n`)
// into `dims[:n]`; -1 for a bad row when `ignore_bad`, else an error naming the row.
absl::StatusOr<std::vector<int64_t>> SliceOffsets(const OpKernelContext& ctx,
                                                  const std::vector<int64_t>& indices, int64_t n,
                                                  const TensorShape& shape, const char* what,
                                                  bool ignore_bad) {
  const int64_t rows = n == 0 ? static_cast<int64_t>(indices.size()) : indices.size() / n;
  std::vector<int64_t> offsets(static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t v = indices[r * n + k];
      const int64_t dim = shape.dim(static_cast<int>(k));
      if (v < 0 || v >= dim) {
        if (ignore_bad) {
          off = -1;
          break;
        }
        std::vector<int64_t> row(indices.begin() + r * n, indices.begin() + (r + 1) * n);
        return ctx.Error(absl::StrCat("indices[", r, "] = [", absl::StrJoin(row, ", "),
                                      "] does not index into ", what, " ", shape.DebugString()));
      }
      off = off * dim + v;
    }
    offsets[r] = off;
  }
  return offsets;
}

absl::StatusOr<std::vector<int64_t>> ReadIndices(const OpKernelContext& ctx, int i) {
  const Tensor& t = ctx.input(i);
  auto v = array_plans::IndicesAsInt64(t.dtype(), t.raw_data(), t.num_elements());
  if (!v.ok()) return NodeError(ctx, v.status());
  return v;
}

class GatherNdOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(ignore_bad_, ParseIgnoreBadIndices(c));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& params = ctx.input(0);
    const Tensor& indices_t = ctx.input(1);
    auto shape = xs::GatherNdShape(params.shape(), indices_t.shape());
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const int64_t n = indices_t.dim(indices_t.rank() - 1);
    const int64_t num_slices =
        array_plans::Product(indices_t.shape().dims(), 0, indices_t.rank() - 1);
    if (num_slices > 0 && params.num_elements() == 0 && n > 0) {
      return ctx.Error(
          absl::StrCat("Requested more than 0 entries, but params is empty. Params "
                       "shape: ",
                       params.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadIndices(ctx, 1));
    std::vector<int64_t> offsets;
    if (n > 0) {
      ASSIGN_OR_RETURN(offsets,
                       SliceOffsets(ctx, indices, n, params.shape(), "param shape", ignore_bad_));
    } else {
      offsets.assign(static_cast<size_t>(num_slices), 0);  // every slice is all of params
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    const int64_t slice = array_plans::Product(params.shape().dims(), n, params.rank());
    const size_t esize = DataTypeSize(params.dtype());
    const size_t block = static_cast<size_t>(slice) * esize;
    if (block == 0) return absl::OkStatus();
    const char* src = static_cast<const char*>(params.raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    ParallelFor(ctx.intra_op_threads(), num_slices,
                std::max<int64_t>(1, 32768 / static_cast<int64_t>(block)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    if (offsets[r] < 0) {
                      std::memset(dst + r * block, 0, block);
                    } else {
                      std::memcpy(dst + r * block, src + offsets[r] * block, block);
                    }
                  }
                });
    return absl::OkStatus();
  }

 private:
  bool ignore_bad_ = false;
};

// Sums wrap for integers (unsigned arithmetic: no UB).
template <typename T, bool kInt = std::is_integral_v<T>>
struct AddAcc {
  using type = T;
};
template <typename T>
struct AddAcc<T, true> {
  using type = std::make_unsigned_t<T>;
};

template <typename T>
class ScatterNdOp : public OpKernel {
  using Acc = typename AddAcc<T>::type;

 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(ignore_bad_, ParseIgnoreBadIndices(c));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& indices_t = ctx.input(0);
    const Tensor& updates = ctx.input(1);
    if (ctx.input(2).rank() != 1) {
      return ctx.Error(
          absl::StrCat("shape must be a vector, got shape ", ctx.input(2).shape().DebugString()));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> dims, ReadIndices(ctx, 2));  // int16 too
    auto shape = xs::ScatterNdShape(indices_t.shape(), updates.shape(), &dims,
                                    static_cast<int>(dims.size()));
    if (!shape.ok()) return NodeError(ctx, shape.status());
    auto checked = TensorShape::ValidatedNumElements(dims);
    if (!checked.ok()) return NodeError(ctx, checked.status());
    const int64_t n = indices_t.dim(indices_t.rank() - 1);
    const int64_t num_slices =
        array_plans::Product(indices_t.shape().dims(), 0, indices_t.rank() - 1);
    const int64_t slice = array_plans::Product(dims, n, dims.size());
    if (num_slices > 0 && slice > 0 && shape->num_elements() == 0) {
      return ctx.Error(absl::StrCat("Indices and updates specified for empty output shape ",
                                    shape->DebugString()));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadIndices(ctx, 0));
    std::vector<int64_t> offsets;
    if (n > 0) {
      ASSIGN_OR_RETURN(offsets, SliceOffsets(ctx, indices, n, *shape, "shape", ignore_bad_));
    } else {
      offsets.assign(static_cast<size_t>(num_slices), 0);
    }
    ASSIGN_OR_RETURN(Tensor * out_t, ctx.allocate_output(0, *shape));
    T* out = out_t->data<T>();
    const T* up = updates.data<T>();
    for (int64_t i = 0; i < out_t->num_elements(); ++i) out[i] = T(0);
    // Sequential: duplicate indices accumulate in index order (deterministic).
    for (int64_t r = 0; r < num_slices; ++r) {
      if (offsets[r] < 0) continue;
      T* d = out + offsets[r] * slice;
      const T* s = up + r * slice;
      for (int64_t j = 0; j < slice; ++j) {
        d[j] = static_cast<T>(static_cast<Acc>(static_cast<Acc>(d[j]) + static_cast<Acc>(s[j])));
      }
    }
    return absl::OkStatus();
  }

 private:
  bool ignore_bad_ = false;
};

QUIVER_REGISTER_KERNEL(KernelDef("GatherNd", kCpu).TypeConstraint("Tparams", AllTypes()),
                       InitFactory<GatherNdOp>());

#define QUIVER_SCATTER_ND(T)                                              \
  QUIVER_REGISTER_KERNEL(KernelDef("ScatterNd", kCpu)                     \
                             .TypeConstraint("T", {DataTypeOf<T>::value}) \
                             .HostMemory("shape"),                        \
                         InitFactory<ScatterNdOp<T>>())
QUIVER_SCATTER_ND(float);
QUIVER_SCATTER_ND(double);
QUIVER_SCATTER_ND(int32_t);
QUIVER_SCATTER_ND(int64_t);

}  // namespace
}  // namespace quiver
