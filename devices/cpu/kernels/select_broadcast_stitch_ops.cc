// SelectV2 (and TF1's Select), BroadcastTo and DynamicStitch / ParallelDynamicStitch: the array
// ops TF 2.x graphs use in tf.where (and its gradient) and in the gradient of a mean or sum whose
// input rank is unknown. They move elements, not numbers, so they work on element sizes, like the
// other array kernels; the shape rules are shared with the shape functions
// (graph/ops/array_shapes.h).
#include <cstring>
#include <memory>
#include <vector>

#include "devices/common/array_plans.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::CopyDim;
using array_kernels::InitFactory;

// The strided copy that broadcasts `in` (dims aligned from the right, each equal to the
// output's or 1) to `out`: a source step of 0 along broadcast dims.
std::vector<CopyDim> BroadcastDims(const TensorShape& in, const TensorShape& out) {
  std::vector<int64_t> in_strides = array_kernels::RowMajorStrides(in.dims());
  std::vector<int64_t> out_strides = array_kernels::RowMajorStrides(out.dims());
  const int offset = out.rank() - in.rank();
  std::vector<CopyDim> dims;
  for (int j = 0; j < out.rank(); ++j) {
    const int k = j - offset;
    const int64_t src_step = k >= 0 && in.dim(k) != 1 ? in_strides[k] : 0;
    dims.push_back({out.dim(j), src_step, out_strides[j]});
  }
  return dims;
}

// `in` broadcast to `shape` in `dst` (which holds shape.num_elements() elements).
void BroadcastInto(const Tensor& in, const TensorShape& shape, void* dst, int threads) {
  const size_t esize = DataTypeSize(in.dtype());
  if (in.shape() == shape) {
    std::memcpy(dst, in.raw_data(), static_cast<size_t>(shape.num_elements()) * esize);
    return;
  }
  array_kernels::StridedCopy(in.raw_data(), dst, esize, 0, 0, BroadcastDims(in.shape(), shape),
                             threads);
}

class BroadcastToOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> dims, array_kernels::HostInts(ctx, 1, "shape"));
    ASSIGN_OR_RETURN(TensorShape shape, array_plans::PlanBroadcastTo(ctx, dims));
    if (shape == in.shape()) {
      ctx.set_output(0, in);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, shape));
    if (out->num_elements() == 0) return absl::OkStatus();
    BroadcastInto(in, shape, out->raw_data(), ctx.intra_op_threads());
    return absl::OkStatus();
  }
};

// out[i] = cond[i] ? t[i] : out[i], on elements of U (an unsigned type of the element size).
template <typename U>
void SelectInPlace(const bool* cond, const void* t, void* out, int64_t n) {
  const U* tp = static_cast<const U*>(t);
  U* op = static_cast<U*>(out);
  for (int64_t i = 0; i < n; ++i) op[i] = cond[i] ? tp[i] : op[i];
}

// out = cond ? t : e with cond, t and e broadcast to `shape` (SelectV2, and Select with its
// condition viewed as the plan says).
absl::Status RunSelect(OpKernelContext& ctx, const Tensor& cond, const Tensor& t, const Tensor& e,
                       const TensorShape& shape) {
  // A scalar condition picks a whole operand.
  if (cond.num_elements() == 1 && cond.rank() == 0) {
    const Tensor& pick = cond.data<bool>()[0] ? t : e;
    if (pick.shape() == shape) {
      ctx.set_output(0, pick);
      return absl::OkStatus();
    }
  }
  ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, shape));
  const int64_t n = out->num_elements();
  if (n == 0) return absl::OkStatus();
  const int threads = ctx.intra_op_threads();
  const size_t esize = DataTypeSize(t.dtype());
  // out = broadcast(e); then the elements where cond holds take broadcast(t).
  BroadcastInto(e, shape, out->raw_data(), threads);
  std::unique_ptr<bool[]> cond_buf;
  const bool* c = cond.data<bool>();
  if (cond.shape() != shape) {
    cond_buf.reset(new bool[n]);
    BroadcastInto(cond, shape, cond_buf.get(), threads);
    c = cond_buf.get();
  }
  std::unique_ptr<unsigned char[]> t_buf;
  const void* tv = t.raw_data();
  if (t.shape() != shape) {
    t_buf.reset(new unsigned char[static_cast<size_t>(n) * esize]);
    BroadcastInto(t, shape, t_buf.get(), threads);
    tv = t_buf.get();
  }
  switch (esize) {
    case 1:
      SelectInPlace<uint8_t>(c, tv, out->raw_data(), n);
      break;
    case 2:
      SelectInPlace<uint16_t>(c, tv, out->raw_data(), n);
      break;
    case 4:
      SelectInPlace<uint32_t>(c, tv, out->raw_data(), n);
      break;
    case 8:
      SelectInPlace<uint64_t>(c, tv, out->raw_data(), n);
      break;
    default: {
      auto* o = static_cast<unsigned char*>(out->raw_data());
      const auto* s = static_cast<const unsigned char*>(tv);
      for (int64_t i = 0; i < n; ++i) {
        if (c[i]) std::memcpy(o + i * esize, s + i * esize, esize);
      }
    }
  }
  return absl::OkStatus();
}

class SelectV2Op : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(TensorShape shape, array_plans::PlanSelectV2(ctx));
    return RunSelect(ctx, ctx.input(0), ctx.input(1), ctx.input(2), shape);
  }
};

// Select (TF1's tf.where): a vector condition picks rows; the plan views it as [n, 1, ...].
class SelectOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(array_plans::SelectPlan plan, array_plans::PlanSelect(ctx));
    const Tensor& cond = ctx.input(0);
    if (plan.cond_shape == cond.shape()) {
      return RunSelect(ctx, cond, ctx.input(1), ctx.input(2), plan.shape);
    }
    ASSIGN_OR_RETURN(Tensor rows, cond.Reshaped(plan.cond_shape));
    return RunSelect(ctx, rows, ctx.input(1), ctx.input(2), plan.shape);
  }
};

// merged[indices[i][j...], ...] = data[i][j..., ...]; later (i, j) win on duplicate indices,
// as in TF. Rows no index names are zero (TF leaves them unspecified).
class DynamicStitchOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs() / 2;
    ASSIGN_OR_RETURN(array_plans::StitchPlan plan, array_plans::PlanDynamicStitch(ctx));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, plan.shape));
    if (out->num_elements() == 0) return absl::OkStatus();
    const size_t esize = DataTypeSize(out->dtype());
    const size_t row = static_cast<size_t>(plan.row) * esize;
    auto* dst = static_cast<unsigned char*>(out->raw_data());
    std::memset(dst, 0, static_cast<size_t>(out->num_elements()) * esize);
    for (int i = 0; i < n; ++i) {
      const Tensor& idx = ctx.input(i);
      const auto* src = static_cast<const unsigned char*>(ctx.input(n + i).raw_data());
      const int32_t* v = idx.data<int32_t>();
      for (int64_t k = 0; k < idx.num_elements(); ++k) {
        std::memcpy(dst + static_cast<size_t>(v[k]) * row, src + static_cast<size_t>(k) * row, row);
      }
    }
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("BroadcastTo", kCpu).TypeConstraint("T", AllTypes()).HostMemory("shape"),
    InitFactory<BroadcastToOp>());
QUIVER_REGISTER_KERNEL(KernelDef("SelectV2", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<SelectV2Op>());
QUIVER_REGISTER_KERNEL(KernelDef("Select", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<SelectOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("DynamicStitch", kCpu).TypeConstraint("T", AllTypes()).HostMemory("indices"),
    InitFactory<DynamicStitchOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("ParallelDynamicStitch", kCpu).TypeConstraint("T", AllTypes()).HostMemory("indices"),
    InitFactory<DynamicStitchOp>());

}  // namespace
}  // namespace quiver
