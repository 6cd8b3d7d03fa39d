// MirrorPad (REFLECT: the edge is not repeated, SYMMETRIC: it is) and its gradient
// MirrorPadGrad (each padded position's gradient added back onto the element it mirrors).
// Every output position along dim d maps to one source index along d; an odometer walks the
// output with those per-dim maps.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

// For each dim of the padded shape, the source offset (index * stride of the unpadded shape)
// of every padded position.
std::vector<std::vector<int64_t>> SourceMaps(const TensorShape& unpadded,
                                             const std::vector<int64_t>& paddings, bool reflect) {
  const int rank = unpadded.rank();
  const std::vector<int64_t> strides = array_kernels::RowMajorStrides(unpadded.dims());
  const int64_t offset = reflect ? 1 : 0;
  std::vector<std::vector<int64_t>> maps(rank);
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = unpadded.dim(d), before = paddings[2 * d], after = paddings[2 * d + 1];
    for (int64_t j = 0; j < dim + before + after; ++j) {
      int64_t i = j - before;
      if (i < 0) i = -i - 1 + offset;
      if (i >= dim) i = 2 * dim - 1 - i - offset;
      maps[d].push_back(i * strides[d]);
    }
  }
  return maps;
}

// Calls fn(padded_flat_index, unpadded_offset) for every element of the padded shape.
template <typename F>
void ForEachPadded(const std::vector<std::vector<int64_t>>& maps, F fn) {
  const int rank = static_cast<int>(maps.size());
  int64_t total = 1;
  for (const auto& m : maps) total *= static_cast<int64_t>(m.size());
  if (total == 0) return;
  std::vector<int64_t> idx(rank, 0);
  int64_t src = 0;
  for (int d = 0; d < rank; ++d) src += maps[d][0];
  for (int64_t i = 0; i < total; ++i) {
    fn(i, src);
    for (int d = rank - 1; d >= 0; --d) {  // advance the odometer, updating src incrementally
      src -= maps[d][idx[d]];
      if (++idx[d] < static_cast<int64_t>(maps[d].size())) {
        src += maps[d][idx[d]];
        break;
      }
      idx[d] = 0;
      src += maps[d][0];
    }
  }
}

class MirrorPadBase : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(mode_, c.GetAttr<std::string>("mode"));
    if (mode_ != "REFLECT" && mode_ != "SYMMETRIC") {
      return absl::InvalidArgumentError(
          absl::StrCat("mode must be REFLECT or SYMMETRIC, got '", mode_, "'"));
    }
    return absl::OkStatus();
  }

 protected:
  // Reads paddings and returns the output shape (checked as the shape function checks).
  absl::StatusOr<TensorShape> Plan(OpKernelContext& ctx, bool grad,
                                   std::vector<int64_t>* paddings) const {
    ASSIGN_OR_RETURN(*paddings, array_kernels::HostInts(ctx, 1, "paddings", /*want_rank=*/2));
    const Tensor& p = ctx.input(1);
    if (p.dim(1) != 2) {
      return ctx.Error(absl::StrCat("paddings must be a matrix with 2 columns, got shape ",
                                    p.shape().DebugString()));
    }
    auto shape = array_extra_shapes::MirrorPadShape(ctx.input(0).shape(), paddings,
                                                    static_cast<int>(p.dim(0)), mode_, grad);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    return shape;
  }
  std::string mode_;
};

class MirrorPadOp : public MirrorPadBase {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    std::vector<int64_t> paddings;
    ASSIGN_OR_RETURN(TensorShape shape, Plan(ctx, /*grad=*/false, &paddings));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, shape));
    const size_t esize = DataTypeSize(in.dtype());
    const char* src = static_cast<const char*>(in.raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    ForEachPadded(
        SourceMaps(in.shape(), paddings, mode_ == "REFLECT"),
        [&](int64_t i, int64_t from) { std::memcpy(dst + i * esize, src + from * esize, esize); });
    return absl::OkStatus();
  }
};

template <typename T>
class MirrorPadGradOp : public MirrorPadBase {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    std::vector<int64_t> paddings;
    ASSIGN_OR_RETURN(TensorShape shape, Plan(ctx, /*grad=*/true, &paddings));
    ASSIGN_OR_RETURN(Tensor * out_t, ctx.allocate_output(0, shape));
    T* out = out_t->data<T>();
    for (int64_t i = 0; i < out_t->num_elements(); ++i) out[i] = T(0);
    const T* g = in.data<T>();
    ForEachPadded(SourceMaps(shape, paddings, mode_ == "REFLECT"),
                  [&](int64_t i, int64_t to) { out[to] += g[i]; });
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("MirrorPad", kCpu).TypeConstraint("T", AllTypes()).HostMemory("paddings"),
    InitFactory<MirrorPadOp>());

#define QUIVER_MIRROR_PAD_GRAD(T)                                         \
  QUIVER_REGISTER_KERNEL(KernelDef("MirrorPadGrad", kCpu)                 \
                             .TypeConstraint("T", {DataTypeOf<T>::value}) \
                             .HostMemory("paddings"),                     \
                         InitFactory<MirrorPadGradOp<T>>())
QUIVER_MIRROR_PAD_GRAD(float);
QUIVER_MIRROR_PAD_GRAD(double);
QUIVER_MIRROR_PAD_GRAD(int32_t);
QUIVER_MIRROR_PAD_GRAD(int64_t);

}  // namespace
}  // namespace quiver
