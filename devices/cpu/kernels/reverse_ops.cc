// ReverseV2 (a strided copy with negative source steps) and ReverseSequence (per-batch-row
// reversal of the first seq_lengths[b] entries along seq_dim). Both move bytes: any dtype.
#include <cstring>
#include <vector>

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
using array_kernels::CopyDim;
using array_kernels::InitFactory;
using array_kernels::NodeError;

class ReverseV2Op : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, array_kernels::HostInts(ctx, 1, "axis"));
    auto mask = xs::ReverseAxes(axes, in.rank());
    if (!mask.ok()) return NodeError(ctx, mask.status());
    bool any = false;
    for (int d = 0; d < in.rank(); ++d) any = any || ((*mask)[d] && in.dim(d) > 1);
    if (!any || in.num_elements() == 0) {  // nothing moves
      ctx.set_output(0, in);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, in.shape()));
    const std::vector<int64_t> strides = array_kernels::RowMajorStrides(in.shape().dims());
    std::vector<CopyDim> dims;
    int64_t src_base = 0;
    for (int d = 0; d < in.rank(); ++d) {
      if ((*mask)[d]) {
        src_base += (in.dim(d) - 1) * strides[d];
        dims.push_back({in.dim(d), -strides[d], strides[d]});
      } else {
        dims.push_back({in.dim(d), strides[d], strides[d]});
      }
    }
    array_kernels::StridedCopy(in.raw_data(), out->raw_data(), DataTypeSize(in.dtype()), src_base,
                               0, std::move(dims), ctx.intra_op_threads());
    return absl::OkStatus();
  }
};

class ReverseSequenceOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(seq_dim_, c.GetAttr<int64_t>("seq_dim"));
    ASSIGN_OR_RETURN(batch_dim_, c.GetAttr<int64_t>("batch_dim"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    const Tensor& lengths_t = ctx.input(1);
    auto lengths = array_plans::IndicesAsInt64(lengths_t.dtype(), lengths_t.raw_data(),
                                               lengths_t.num_elements());
    if (!lengths.ok()) return NodeError(ctx, lengths.status());
    RETURN_IF_ERROR(NodeError(ctx, xs::CheckReverseSequence(in.shape(), lengths_t.shape(), seq_dim_,
                                                            batch_dim_, &*lengths)));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, in.shape()));
    const int64_t n = in.num_elements();
    if (n == 0) return absl::OkStatus();
    const size_t esize = DataTypeSize(in.dtype());
    std::memcpy(out->raw_data(), in.raw_data(), static_cast<size_t>(n) * esize);
    const std::vector<int64_t> strides = array_kernels::RowMajorStrides(in.shape().dims());
    const int sd = static_cast<int>(seq_dim_), bd = static_cast<int>(batch_dim_);
    const int64_t seq_stride = strides[sd], seq_size = in.dim(sd);
    const int64_t batch_stride = strides[bd], batch_size = in.dim(bd);
    const char* src = static_cast<const char*>(in.raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    const std::vector<int64_t>& len = *lengths;
    ParallelFor(ctx.intra_op_threads(), n, 16384, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t s = i / seq_stride % seq_size;
        const int64_t b = i / batch_stride % batch_size;
        if (s >= len[b]) continue;
        const int64_t from = i + (len[b] - 1 - 2 * s) * seq_stride;
        std::memcpy(dst + i * esize, src + from * esize, esize);
      }
    });
    return absl::OkStatus();
  }

 private:
  int64_t seq_dim_ = 0;
  int64_t batch_dim_ = 0;
};

QUIVER_REGISTER_KERNEL(
    KernelDef("ReverseV2", kCpu).TypeConstraint("T", AllTypes()).HostMemory("axis"),
    InitFactory<ReverseV2Op>());
QUIVER_REGISTER_KERNEL(KernelDef("ReverseSequence", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<ReverseSequenceOp>());

}  // namespace
}  // namespace quiver
