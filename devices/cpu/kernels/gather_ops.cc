// GatherV2 and OneHot: index-driven copies of whole element blocks (bytes, any dtype).
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"
#include "runtime/thread_pool.h"

namespace quiver {
namespace {

namespace as = array_shapes;
using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

// Reads indices of any of the integer index dtypes as int64.
absl::StatusOr<std::vector<int64_t>> ReadIndices(const OpKernelContext& ctx, int i) {
  const Tensor& t = ctx.input(i);
  std::vector<int64_t> out(t.num_elements());
  switch (t.dtype()) {
    case DT_INT64:
      std::memcpy(out.data(), t.raw_data(), t.num_bytes());
      break;
    case DT_INT32:
      for (size_t k = 0; k < out.size(); ++k) out[k] = t.data<int32_t>()[k];
      break;
    case DT_INT16:
      for (size_t k = 0; k < out.size(); ++k) out[k] = t.data<int16_t>()[k];
      break;
    case DT_INT8:
      for (size_t k = 0; k < out.size(); ++k) out[k] = t.data<int8_t>()[k];
      break;
    case DT_UINT8:
      for (size_t k = 0; k < out.size(); ++k) out[k] = t.data<uint8_t>()[k];
      break;
    default:
      return ctx.Error(
          absl::StrCat("indices must be an integer tensor, got ", DataTypeName(t.dtype())));
  }
  return out;
}

class GatherV2Op : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(batch_dims_, c.GetAttr<int64_t>("batch_dims"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& params = ctx.input(0);
    const Tensor& indices_t = ctx.input(1);
    ASSIGN_OR_RETURN(int64_t axis, array_kernels::HostScalar(ctx, 2, "axis"));
    auto shape = as::GatherShape(params.shape(), indices_t.shape(), &axis, batch_dims_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const int p_rank = params.rank();
    const int ax = static_cast<int>(axis < 0 ? axis + p_rank : axis);
    const int bd = static_cast<int>(batch_dims_ < 0 ? batch_dims_ + indices_t.rank() : batch_dims_);
    const std::vector<int64_t>& pd = params.shape().dims();
    const int64_t batch = Product(pd, 0, bd);
    const int64_t outer = Product(pd, bd, ax);
    const int64_t limit = pd[ax];
    const int64_t inner = Product(pd, ax + 1, pd.size());
    const int64_t n = Product(indices_t.shape().dims(), bd, indices_t.rank());

    ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadIndices(ctx, 1));
    for (size_t k = 0; k < indices.size(); ++k) {  // validate before copying anything
      if (indices[k] < 0 || indices[k] >= limit) {
        return ctx.Error(
            absl::StrCat("indices[", k, "] = ", indices[k], " is not in [0, ", limit, ")"));
      }
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    const size_t esize = DataTypeSize(params.dtype());
    const size_t block = static_cast<size_t>(inner) * esize;
    const char* src = static_cast<const char*>(params.raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    const int64_t rows = batch * outer * n;
    ParallelFor(ctx.intra_op_pool(), rows,
                std::max<int64_t>(1, 32768 / std::max<int64_t>(1, static_cast<int64_t>(block))),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    const int64_t j = r % n;   // position in the indices (per batch)
                    const int64_t bo = r / n;  // batch * outer + o
                    const int64_t b = bo / outer;
                    const int64_t idx = indices[b * n + j];
                    std::memcpy(dst + r * block, src + (bo * limit + idx) * block, block);
                  }
                });
    return absl::OkStatus();
  }

 private:
  int64_t batch_dims_ = 0;
};

class OneHotOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(axis_, c.GetAttr<int64_t>("axis"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& indices_t = ctx.input(0);
    ASSIGN_OR_RETURN(int64_t depth, array_kernels::HostScalar(ctx, 1, "depth"));
    const Tensor& on = ctx.input(2);
    const Tensor& off = ctx.input(3);
    if (on.num_elements() != 1 || off.num_elements() != 1) {
      return ctx.Error("on_value and off_value must be scalars");
    }
    auto shape = as::OneHotShape(indices_t.shape(), &depth, axis_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadIndices(ctx, 0));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    const int rank = indices_t.rank();
    const int ax = static_cast<int>(axis_ == -1 ? rank : axis_);
    const int64_t prefix = Product(indices_t.shape().dims(), 0, ax);
    const int64_t suffix = Product(indices_t.shape().dims(), ax, rank);
    const size_t esize = DataTypeSize(out->dtype());
    char* dst = static_cast<char*>(out->raw_data());
    array_kernels::FillElements(dst, out->num_elements(), off.raw_data(), esize);
    // Out-of-range (including negative) indices give an all-off row, as in TF.
    for (int64_t p = 0; p < prefix; ++p) {
      for (int64_t s = 0; s < suffix; ++s) {
        int64_t d = indices[p * suffix + s];
        if (d < 0 || d >= depth) continue;
        std::memcpy(dst + ((p * depth + d) * suffix + s) * static_cast<int64_t>(esize),
                    on.raw_data(), esize);
      }
    }
    return absl::OkStatus();
  }

 private:
  int64_t axis_ = -1;
};

QUIVER_REGISTER_KERNEL(
    KernelDef("GatherV2", kCpu).TypeConstraint("Tparams", AllTypes()).HostMemory("axis"),
    InitFactory<GatherV2Op>());
QUIVER_REGISTER_KERNEL(
    KernelDef("OneHot", kCpu).TypeConstraint("T", AllTypes()).HostMemory("depth"),
    InitFactory<OneHotOp>());

}  // namespace
}  // namespace quiver
