// DepthToSpace, SpaceToDepth (NHWC), SpaceToBatchND and BatchToSpaceND on the CPU, as strided
// copies (they move bytes, so one kernel serves every dtype). Shapes and errors come from
// graph/ops/image_shapes.h, shared with the shape functions.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/image_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::CopyDim;
using array_kernels::InitFactory;
using array_kernels::NodeError;

// ---- DepthToSpace / SpaceToDepth ----------------------------------------------------------

// kToSpace: DepthToSpace, out[n, h*bs + by, w*bs + bx, c] = in[n, h, w, (by*bs + bx)*oc + c];
// else SpaceToDepth, its inverse.
template <bool kToSpace>
class DepthSpaceOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(block_size_, c.GetAttr<int64_t>("block_size"));
    ASSIGN_OR_RETURN(std::string data_format, c.GetAttr<std::string>("data_format"));
    if (data_format != "NHWC") {
      return c.Error(absl::StrCat("data_format '", data_format, "' is not supported: ",
                                  kToSpace ? "DepthToSpace" : "SpaceToDepth",
                                  " runs in NHWC only (transpose the input to NHWC)"));
    }
    if (block_size_ < 2) return c.Error(absl::StrCat("block_size must be >= 2, got ", block_size_));
    return absl::OkStatus();
  }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    auto shape = kToSpace ? image_shapes::DepthToSpaceShape(in.shape(), block_size_, "NHWC")
                          : image_shapes::SpaceToDepthShape(in.shape(), block_size_, "NHWC");
    if (!shape.ok()) return NodeError(ctx, shape.status());
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    if (out->num_elements() == 0) return absl::OkStatus();
    const int64_t bs = block_size_;
    // The space side [n, H, W, d] and the depth side [n, H/bs, W/bs, d*bs*bs].
    const TensorShape& space = kToSpace ? *shape : in.shape();
    const int64_t n = space.dim(0), h = space.dim(1) / bs, w = space.dim(2) / bs, d = space.dim(3);
    // Walk (n, h, by, w, bx, c) on both sides.
    const std::vector<int64_t> space_steps = {
        h * bs * w * bs * d, bs * w * bs * d, w * bs * d, bs * d, d, 1};
    const std::vector<int64_t> depth_steps = {
        h * w * bs * bs * d, w * bs * bs * d, bs * d, bs * bs * d, d, 1};
    const std::vector<int64_t> counts = {n, h, bs, w, bs, d};
    std::vector<CopyDim> dims;
    for (size_t i = 0; i < counts.size(); ++i) {
      dims.push_back(kToSpace ? CopyDim{counts[i], depth_steps[i], space_steps[i]}
                              : CopyDim{counts[i], space_steps[i], depth_steps[i]});
    }
    array_kernels::StridedCopy(in.raw_data(), out->raw_data(), DataTypeSize(in.dtype()), 0, 0,
                               std::move(dims), ctx.intra_op_threads());
    return absl::OkStatus();
  }

 private:
  int64_t block_size_ = 2;
};

// ---- SpaceToBatchND / BatchToSpaceND ------------------------------------------------------

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The space side S [n, s_1..s_M, rest] and the batch side T [prod(block) * n, t_1..t_M, rest]:
//   T[k * n + b, o_1.., r] = S[b, o_i * block_i + k_i - pad_i, r]
// for each block offset k (row-major over the block), where the S index is in range. pad_i is
// the start padding (SpaceToBatchND) or the start crop (BatchToSpaceND).
template <bool kToBatch>
class SpaceBatchOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }

  absl::Status Compute(OpKernelContext& ctx) const override {
    const char* what = kToBatch ? "paddings" : "crops";
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> block,
                     array_kernels::HostInts(ctx, 1, "block_shape", /*want_rank=*/1));
    ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                     array_kernels::HostInts(ctx, 2, what, /*want_rank=*/2));
    const int m = static_cast<int>(block.size());
    const TensorShape& ps = ctx.input(2).shape();
    if (ps.dim(0) != m || ps.dim(1) != 2) {
      return ctx.Error(
          absl::StrCat(what, " should have shape [", m, ", 2], got shape ", ps.DebugString()));
    }
    auto shape = kToBatch ? image_shapes::SpaceToBatchShape(in.shape(), &block, m, &pads)
                          : image_shapes::BatchToSpaceShape(in.shape(), &block, m, &pads);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, *shape));
    if (out->num_elements() == 0) return absl::OkStatus();
    const size_t esize = DataTypeSize(in.dtype());
    const TensorShape& s_shape = kToBatch ? in.shape() : *shape;
    const TensorShape& t_shape = kToBatch ? *shape : in.shape();
    if (kToBatch && std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; })) {
      std::memset(out->raw_data(), 0, static_cast<size_t>(out->num_elements()) * esize);
    }
    // Strides over [batch, spatial..., rest] with the rest flattened.
    const int64_t n = s_shape.dim(0);
    int64_t rest = 1;
    for (int d = 1 + m; d < s_shape.rank(); ++d) rest *= s_shape.dim(d);
    std::vector<int64_t> s_dims = {n}, t_dims = {t_shape.dim(0)};
    for (int i = 0; i < m; ++i) {
      s_dims.push_back(s_shape.dim(1 + i));
      t_dims.push_back(t_shape.dim(1 + i));
    }
    s_dims.push_back(rest);
    t_dims.push_back(rest);
    const std::vector<int64_t> s_strides = array_kernels::RowMajorStrides(s_dims);
    const std::vector<int64_t> t_strides = array_kernels::RowMajorStrides(t_dims);

    int64_t blocks = 1;
    for (int64_t b : block) blocks *= b;
    std::vector<int64_t> offset(m, 0);  // the block offset k, row-major
    for (int64_t k = 0; k < blocks; ++k) {
      if (k > 0) {
        for (int i = m - 1; i >= 0; --i) {
          if (++offset[i] < block[i]) break;
          offset[i] = 0;
        }
      }
      int64_t s_base = 0, t_base = k * n * t_strides[0];
      std::vector<CopyDim> dims = {{n, s_strides[0], t_strides[0]}};
      bool empty = false;
      for (int i = 0; i < m && !empty; ++i) {
        // o in [lo, hi): 0 <= o * block + offset - pad < s and 0 <= o < t.
        const int64_t shift = offset[i] - pads[2 * i];
        const int64_t lo = std::max<int64_t>(0, FloorDiv(-shift + block[i] - 1, block[i]));
        const int64_t hi =
            std::min<int64_t>(t_dims[1 + i], FloorDiv(s_dims[1 + i] - 1 - shift, block[i]) + 1);
        if (lo >= hi) {
          empty = true;
          break;
        }
        s_base += (lo * block[i] + shift) * s_strides[1 + i];
        t_base += lo * t_strides[1 + i];
        dims.push_back({hi - lo, block[i] * s_strides[1 + i], t_strides[1 + i]});
      }
      if (empty) continue;
      dims.push_back({rest, 1, 1});
      if (kToBatch) {
        array_kernels::StridedCopy(in.raw_data(), out->raw_data(), esize, s_base, t_base,
                                   std::move(dims), ctx.intra_op_threads());
      } else {
        for (CopyDim& d : dims) std::swap(d.src_step, d.dst_step);
        array_kernels::StridedCopy(in.raw_data(), out->raw_data(), esize, t_base, s_base,
                                   std::move(dims), ctx.intra_op_threads());
      }
    }
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(KernelDef("DepthToSpace", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<DepthSpaceOp<true>>());
QUIVER_REGISTER_KERNEL(KernelDef("SpaceToDepth", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<DepthSpaceOp<false>>());
QUIVER_REGISTER_KERNEL(KernelDef("SpaceToBatchND", kCpu)
                           .TypeConstraint("T", AllTypes())
                           .HostMemory("block_shape")
                           .HostMemory("paddings"),
                       InitFactory<SpaceBatchOp<true>>());
QUIVER_REGISTER_KERNEL(KernelDef("BatchToSpaceND", kCpu)
                           .TypeConstraint("T", AllTypes())
                           .HostMemory("block_shape")
                           .HostMemory("crops"),
                       InitFactory<SpaceBatchOp<false>>());

}  // namespace
}  // namespace quiver
