// GPU kernels for the index-driven data movement ops: GatherV2, OneHot, DynamicStitch and
// ParallelDynamicStitch (the rest of the movement ops are in gpu_movement_ops.cc). Semantics and
// error messages follow devices/cpu/kernels/{gather,select_broadcast_stitch}_ops.cc: both call
// the shared plans of devices/common/array_plans.h.
//
//   GatherV2      params and indices (int16/int32/int64) on the device, axis HostMemory.
//                 Host indices are validated before anything is read, then uploaded as int64.
//                 Device-resident indices, in an executor step, are checked and widened on the
//                 device without a sync; a bad one fails the step at its end (its rows gather
//                 zeros meanwhile). Outside a step they are copied back and checked (a sync).
//   OneHot        indices (uint8/int8/int32/int64), on_value and off_value on the device
//                 (scalars read by the kernel), depth HostMemory.
//   DynamicStitch indices HostMemory (as TF's GPU kernel), data on the device. The host picks
//                 the winning (last) source row of every output row, so the kernel writes
//                 distinct rows (no races); rows no index names are zero, like the CPU kernel.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/array_plans.h"
#include "devices/common/int_attr_kernel.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/deferred_index_check.h"
#include "devices/cuda/kernels/movement_launchers.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

using array_kernels::InitFactory;
using array_kernels::NodeError;

bool OnDevice(const Tensor& t) {
  return t.allocator() != nullptr && !t.allocator()->host_accessible();
}

// Host bytes of an integer index tensor (`data`, `count` elements of `dtype`), checked to lie
// in [0, limit), as int64.
absl::StatusOr<std::vector<int64_t>> CheckedIndices(const OpKernelContext& ctx, DataType dtype,
                                                    const void* data, int64_t count,
                                                    int64_t limit) {
  auto indices = array_plans::IndicesAsInt64(dtype, data, count);
  if (!indices.ok()) return NodeError(ctx, indices.status());
  RETURN_IF_ERROR(NodeError(ctx, array_plans::CheckIndicesInRange(*indices, limit)));
  return indices;
}

class GatherV2GpuOp : public Int64AttrKernel {
 public:
  GatherV2GpuOp() : Int64AttrKernel("batch_dims") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& params = ctx.input(0);
    const Tensor& indices_t = ctx.input(1);
    ASSIGN_OR_RETURN(int64_t axis, GpuHostScalar(ctx, 2, "axis"));
    ASSIGN_OR_RETURN(array_plans::GatherPlan plan, array_plans::PlanGather(ctx, axis, attr()));
    const DataType itype = indices_t.dtype();
    if (itype != DT_INT64 && itype != DT_INT32 && itype != DT_INT16) {
      return ctx.Error(
          absl::StrCat("indices must be an integer tensor, got ", DataTypeName(itype)));
    }
    movement::GatherIndexer ix;
    ix.batch = plan.batch;
    ix.outer = plan.outer;
    ix.limit = plan.limit;
    ix.inner = plan.inner;
    ix.n = plan.n;
    const int64_t count = indices_t.num_elements();

    Tensor upload;  // the checked indices as int64 (declared before the scope that stages it)
    std::vector<int64_t> indices;
    int64_t* widened = nullptr;  // device int64 indices, when checked on the device
    GpuScope g(ctx);
    if (!OnDevice(indices_t)) {  // validate before touching the device
      ASSIGN_OR_RETURN(indices, CheckedIndices(ctx, itype, indices_t.raw_data(), count, ix.limit));
      RETURN_IF_ERROR(g.Init());
    } else {
      RETURN_IF_ERROR(g.Init());
      if (CanDeferIndexCheck(ctx, g, indices_t)) {
        // No sync: checked on the device, reported at the step's end (bad rows gather zeros).
        if (ix.NumOutputs() > 0) {
          ASSIGN_OR_RETURN(void* w, g.Temp(static_cast<size_t>(count) * sizeof(int64_t)));
          widened = static_cast<int64_t*>(w);
        }
        if (count > 0) {
          const int64_t limit = ix.limit;
          RETURN_IF_ERROR(DeferIndexCheck(
              g, indices_t, 0, limit, widened, 0, [limit](int64_t k, int64_t v, const void*) {
                return absl::StrCat("indices[", k, "] = ", v, " is not in [0, ", limit, ")");
              }));
        }
      } else {
        std::vector<unsigned char> host(indices_t.num_bytes());
        if (!host.empty()) {
          RETURN_IF_ERROR(g.Check(cudaMemcpyAsync(host.data(), indices_t.raw_data(), host.size(),
                                                  cudaMemcpyDeviceToHost, g.stream()),
                                  "copying the indices to the host"));
          RETURN_IF_ERROR(g.Check(cudaStreamSynchronize(g.stream()), "reading the indices"));
        }
        ASSIGN_OR_RETURN(indices, CheckedIndices(ctx, itype, host.data(), count, ix.limit));
      }
    }
    ASSIGN_OR_RETURN(void* out, g.Out(0, plan.shape));
    if (ix.NumOutputs() > 0) {
      const int64_t* d_indices = widened;
      if (d_indices == nullptr) {
        upload = Tensor::FromVector<int64_t>(indices, TensorShape{count});
        ASSIGN_OR_RETURN(const void* up, g.In(upload));
        d_indices = static_cast<const int64_t*>(up);
      }
      ASSIGN_OR_RETURN(const void* in, g.In(0));
      RETURN_IF_ERROR(
          g.Check(LaunchGatherV2(in, d_indices, out, DataTypeSize(params.dtype()), ix, g.stream()),
                  "gather"));
    }
    return g.Finish();
  }
};

class OneHotGpuOp : public Int64AttrKernel {
 public:
  OneHotGpuOp() : Int64AttrKernel("axis") {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& indices_t = ctx.input(0);
    ASSIGN_OR_RETURN(int64_t depth, GpuHostScalar(ctx, 1, "depth"));
    const Tensor& on = ctx.input(2);
    ASSIGN_OR_RETURN(array_plans::OneHotPlan plan, array_plans::PlanOneHot(ctx, depth, attr()));
    IndexType itype;
    switch (indices_t.dtype()) {
      case DT_INT32:
        itype = IndexType::kInt32;
        break;
      case DT_INT64:
        itype = IndexType::kInt64;
        break;
      case DT_UINT8:
        itype = IndexType::kUint8;
        break;
      case DT_INT8:
        itype = IndexType::kInt8;
        break;
      default:
        return ctx.Error(absl::StrCat("indices must be an integer tensor, got ",
                                      DataTypeName(indices_t.dtype())));
    }
    movement::OneHotIndexer ix;
    ix.prefix = plan.prefix;
    ix.depth = plan.depth;
    ix.suffix = plan.suffix;
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, plan.shape));
    if (ix.NumOutputs() > 0) {
      ASSIGN_OR_RETURN(const void* in, g.In(0));
      ASSIGN_OR_RETURN(const void* on_v, g.In(2));
      ASSIGN_OR_RETURN(const void* off_v, g.In(3));
      RETURN_IF_ERROR(g.Check(
          LaunchOneHot(in, itype, on_v, off_v, out, DataTypeSize(on.dtype()), ix, g.stream()),
          "one_hot"));
    }
    return g.Finish();
  }
};

// merged[indices[i][j...], ...] = data[i][j..., ...]; later (i, j) win on duplicate indices.
class DynamicStitchGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs() / 2;
    for (int i = 0; i < n; ++i) {  // the plan reads the indices on the host
      const Tensor& idx = ctx.input(i);
      if (OnDevice(idx)) {
        return ctx.Error(absl::StrCat("indices[", i,
                                      "] must be in host memory (HostMemory arg) but arrived in ",
                                      idx.allocator()->Name()));
      }
    }
    ASSIGN_OR_RETURN(array_plans::StitchPlan plan, array_plans::PlanDynamicStitch(ctx));
    const int64_t first_dim = plan.first_dim;
    // The winner of every output row: the last (i, k) that names it.
    std::vector<int> win_input(static_cast<size_t>(first_dim), -1);
    std::vector<int64_t> win_row(static_cast<size_t>(first_dim), 0);
    for (int i = 0; i < n; ++i) {
      const Tensor& idx = ctx.input(i);
      const int32_t* v = idx.data<int32_t>();
      for (int64_t k = 0; k < idx.num_elements(); ++k) {
        win_input[v[k]] = i;
        win_row[v[k]] = k;
      }
    }
    // (source row, destination row) pairs per data input.
    std::vector<Tensor> uploads(n);  // declared before the scope that stages them
    std::vector<std::vector<int64_t>> pairs(n);
    for (int64_t r = 0; r < first_dim; ++r) {
      if (win_input[r] < 0) continue;
      pairs[win_input[r]].push_back(win_row[r]);
      pairs[win_input[r]].push_back(r);
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, plan.shape));
    const int64_t total = plan.shape.num_elements();
    if (total == 0) return g.Finish();
    const size_t esize = DataTypeSize(ctx.input(n).dtype());
    const int64_t row = plan.row;
    RETURN_IF_ERROR(g.Check(cudaMemsetAsync(out, 0, static_cast<size_t>(total) * esize, g.stream()),
                            "zeroing the output"));
    for (int i = 0; i < n; ++i) {
      if (pairs[i].empty()) continue;
      const int64_t count = static_cast<int64_t>(pairs[i].size() / 2);
      uploads[i] = Tensor::FromVector<int64_t>(pairs[i], TensorShape{2 * count});
      ASSIGN_OR_RETURN(const void* rows, g.In(uploads[i]));
      ASSIGN_OR_RETURN(const void* src, g.In(n + i));
      RETURN_IF_ERROR(g.Check(LaunchCopyRows(src, out, esize, row,
                                             static_cast<const int64_t*>(rows), count, g.stream()),
                              "stitch"));
    }
    return g.Finish();
  }
};

template <typename K>
KernelFactory Make() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::unique_ptr<OpKernel>(new K()); };
}

const bool registered = [] {
  // No int32 data: as in TF, int32 tensors are shapes and axes, kept in host memory.
  const std::vector<DataType> movable = {DT_FLOAT, DT_INT64, DT_DOUBLE, DT_BOOL};
  RegisterGpuKernel(
      KernelDef("GatherV2", kGpu).TypeConstraint("Tparams", movable).HostMemory("axis"),
      InitFactory<GatherV2GpuOp>());
  RegisterGpuKernel(KernelDef("OneHot", kGpu).TypeConstraint("T", movable).HostMemory("depth"),
                    InitFactory<OneHotGpuOp>());
  RegisterGpuKernel(
      KernelDef("DynamicStitch", kGpu).TypeConstraint("T", movable).HostMemory("indices"),
      Make<DynamicStitchGpuOp>());
  RegisterGpuKernel(
      KernelDef("ParallelDynamicStitch", kGpu).TypeConstraint("T", movable).HostMemory("indices"),
      Make<DynamicStitchGpuOp>());
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
