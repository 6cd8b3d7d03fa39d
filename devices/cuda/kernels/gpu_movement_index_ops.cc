// GPU kernels for the index-driven data movement ops: GatherV2, OneHot, DynamicStitch and
// ParallelDynamicStitch (the rest of the movement ops are in gpu_movement_ops.cc). Semantics and
// error messages follow devices/cpu/kernels/{gather,select_broadcast_stitch}_ops.cc.
//
//   GatherV2      params and indices (int16/int32/int64) on the device, axis HostMemory.
//                 Indices are validated on the host before anything is read: device-resident
//                 indices are copied back first (one stream synchronisation); the checked
//                 values are then uploaded as int64 for the kernel.
//   OneHot        indices (uint8/int8/int32/int64), on_value and off_value on the device
//                 (scalars read by the kernel), depth HostMemory.
//   DynamicStitch indices HostMemory (as TF's GPU kernel), data on the device. The host picks
//                 the winning (last) source row of every output row, so the kernel writes
//                 distinct rows (no races); rows no index names are zero, like the CPU kernel.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/kernels/movement_launchers.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

namespace as = array_shapes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

bool OnDevice(const Tensor& t) {
  return t.allocator() != nullptr && !t.allocator()->host_accessible();
}

// Host bytes of an integer index tensor (`data`, `count` elements of `dtype`) as int64.
absl::StatusOr<std::vector<int64_t>> IndicesAsInt64(const OpKernelContext& ctx, DataType dtype,
                                                    const void* data, int64_t count) {
  std::vector<int64_t> out(static_cast<size_t>(count));
  switch (dtype) {
    case DT_INT64:
      if (count > 0) std::memcpy(out.data(), data, static_cast<size_t>(count) * sizeof(int64_t));
      break;
    case DT_INT32:
      for (int64_t k = 0; k < count; ++k) out[k] = static_cast<const int32_t*>(data)[k];
      break;
    case DT_INT16:
      for (int64_t k = 0; k < count; ++k) out[k] = static_cast<const int16_t*>(data)[k];
      break;
    default:
      return ctx.Error(
          absl::StrCat("indices must be an integer tensor, got ", DataTypeName(dtype)));
  }
  return out;
}

absl::Status ValidateIndices(const OpKernelContext& ctx, const std::vector<int64_t>& indices,
                             int64_t limit) {
  for (size_t k = 0; k < indices.size(); ++k) {
    if (indices[k] < 0 || indices[k] >= limit) {
      return ctx.Error(
          absl::StrCat("indices[", k, "] = ", indices[k], " is not in [0, ", limit, ")"));
    }
  }
  return absl::OkStatus();
}

class GatherV2GpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(batch_dims_, c.GetAttr<int64_t>("batch_dims"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& params = ctx.input(0);
    const Tensor& indices_t = ctx.input(1);
    ASSIGN_OR_RETURN(int64_t axis, GpuHostScalar(ctx, 2, "axis"));
    auto shape = as::GatherShape(params.shape(), indices_t.shape(), &axis, batch_dims_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    const DataType itype = indices_t.dtype();
    if (itype != DT_INT64 && itype != DT_INT32 && itype != DT_INT16) {
      return ctx.Error(
          absl::StrCat("indices must be an integer tensor, got ", DataTypeName(itype)));
    }
    const int p_rank = params.rank();
    const int ax = static_cast<int>(axis < 0 ? axis + p_rank : axis);
    const int bd = static_cast<int>(batch_dims_ < 0 ? batch_dims_ + indices_t.rank() : batch_dims_);
    const std::vector<int64_t>& pd = params.shape().dims();
    movement::GatherIndexer ix;
    ix.batch = Product(pd, 0, bd);
    ix.outer = Product(pd, bd, ax);
    ix.limit = pd[ax];
    ix.inner = Product(pd, ax + 1, pd.size());
    ix.n = Product(indices_t.shape().dims(), bd, indices_t.rank());
    const int64_t count = indices_t.num_elements();

    Tensor upload;  // the checked indices as int64 (declared before the scope that stages it)
    std::vector<int64_t> indices;
    GpuScope g(ctx);
    if (!OnDevice(indices_t)) {  // validate before touching the device
      ASSIGN_OR_RETURN(indices, IndicesAsInt64(ctx, itype, indices_t.raw_data(), count));
      RETURN_IF_ERROR(ValidateIndices(ctx, indices, ix.limit));
      RETURN_IF_ERROR(g.Init());
    } else {
      RETURN_IF_ERROR(g.Init());
      std::vector<unsigned char> host(indices_t.num_bytes());
      if (!host.empty()) {
        RETURN_IF_ERROR(g.Check(cudaMemcpyAsync(host.data(), indices_t.raw_data(), host.size(),
                                                cudaMemcpyDeviceToHost, g.stream()),
                                "copying the indices to the host"));
        RETURN_IF_ERROR(g.Check(cudaStreamSynchronize(g.stream()), "reading the indices"));
      }
      ASSIGN_OR_RETURN(indices, IndicesAsInt64(ctx, itype, host.data(), count));
      RETURN_IF_ERROR(ValidateIndices(ctx, indices, ix.limit));
    }
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
    if (ix.NumOutputs() > 0) {
      upload = Tensor::FromVector<int64_t>(indices, TensorShape{count});
      ASSIGN_OR_RETURN(const void* d_indices, g.In(upload));
      ASSIGN_OR_RETURN(const void* in, g.In(0));
      RETURN_IF_ERROR(g.Check(LaunchGatherV2(in, static_cast<const int64_t*>(d_indices), out,
                                             DataTypeSize(params.dtype()), ix, g.stream()),
                              "gather"));
    }
    return g.Finish();
  }

 private:
  int64_t batch_dims_ = 0;
};

class OneHotGpuOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(axis_, c.GetAttr<int64_t>("axis"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& indices_t = ctx.input(0);
    ASSIGN_OR_RETURN(int64_t depth, GpuHostScalar(ctx, 1, "depth"));
    const Tensor& on = ctx.input(2);
    const Tensor& off = ctx.input(3);
    if (on.num_elements() != 1 || off.num_elements() != 1) {
      return ctx.Error("on_value and off_value must be scalars");
    }
    auto shape = as::OneHotShape(indices_t.shape(), &depth, axis_);
    if (!shape.ok()) return NodeError(ctx, shape.status());
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
    const int rank = indices_t.rank();
    const int ax = static_cast<int>(axis_ == -1 ? rank : axis_);
    movement::OneHotIndexer ix;
    ix.prefix = Product(indices_t.shape().dims(), 0, ax);
    ix.depth = depth;
    ix.suffix = Product(indices_t.shape().dims(), ax, rank);
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
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

 private:
  int64_t axis_ = -1;
};

// merged[indices[i][j...], ...] = data[i][j..., ...]; later (i, j) win on duplicate indices.
class DynamicStitchGpuOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = ctx.num_inputs() / 2;
    std::vector<TensorShape> index_shapes, data_shapes;
    int64_t first_dim = 0;
    for (int i = 0; i < n; ++i) {
      const Tensor& idx = ctx.input(i);
      if (OnDevice(idx)) {
        return ctx.Error(absl::StrCat("indices[", i,
                                      "] must be in host memory (HostMemory arg) but arrived in ",
                                      idx.allocator()->Name()));
      }
      if (idx.dtype() != DT_INT32) {
        return ctx.Error(
            absl::StrCat("indices[", i, "] must be int32, got ", DataTypeName(idx.dtype())));
      }
      const int32_t* v = idx.data<int32_t>();
      for (int64_t k = 0; k < idx.num_elements(); ++k) {
        if (v[k] < 0) {
          return ctx.Error(
              absl::StrCat("indices[", i, "] holds ", v[k], ", but indices must be >= 0"));
        }
        first_dim = std::max<int64_t>(first_dim, static_cast<int64_t>(v[k]) + 1);
      }
      index_shapes.push_back(idx.shape());
      data_shapes.push_back(ctx.input(n + i).shape());
    }
    auto shape = as::DynamicStitchShape(index_shapes, data_shapes, first_dim);
    if (!shape.ok()) return NodeError(ctx, shape.status());
    for (int i = 0; i < n; ++i) {  // runtime shapes are concrete: prefixes must match exactly
      for (int k = 0; k < index_shapes[i].rank(); ++k) {
        if (data_shapes[i].dim(k) != index_shapes[i].dim(k)) {
          return ctx.Error(absl::StrCat("data[", i, "].shape ", data_shapes[i].DebugString(),
                                        " must start with indices[", i, "].shape ",
                                        index_shapes[i].DebugString()));
        }
      }
    }
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
    ASSIGN_OR_RETURN(void* out, g.Out(0, *shape));
    const int64_t total = shape->num_elements();
    if (total == 0) return g.Finish();
    const size_t esize = DataTypeSize(ctx.input(n).dtype());
    const int64_t row = total / first_dim;
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
