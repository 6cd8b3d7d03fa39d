// Dense lists on the CPU (graph/ops/tensor_list_ops.cc): TensorArrays and TensorLists as one
// tensor [n] + element shape. The kernels move bytes, so one implementation serves every dtype.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;

class NoAttrKernel : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
};

TensorShape ElementShape(const Tensor& list) {
  std::vector<int64_t> dims;
  for (int i = 1; i < list.rank(); ++i) dims.push_back(list.dim(i));
  return TensorShape(dims);
}

TensorShape Prepend(int64_t n, const TensorShape& element) {
  std::vector<int64_t> dims = {n};
  for (int i = 0; i < element.rank(); ++i) dims.push_back(element.dim(i));
  return TensorShape(dims);
}

absl::Status CheckIsList(const OpKernelContext& ctx) {
  if (ctx.input(0).rank() < 1) {
    return ctx.Error(absl::StrCat("the list must have rank >= 1, got shape ",
                                  ctx.input(0).shape().DebugString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CheckedIndex(const OpKernelContext& ctx, int64_t index, int64_t n) {
  if (index < 0 || index >= n) {
    return ctx.Error(absl::StrCat("index ", index, " is out of range for a list of ", n,
                                  " elements (growing a list is not supported)"));
  }
  return index;
}

// Output `out` as a zero-filled list [n] + element.
absl::StatusOr<Tensor*> AllocateZeros(OpKernelContext& ctx, int out, int64_t n,
                                      const TensorShape& element) {
  ASSIGN_OR_RETURN(Tensor * t, ctx.allocate_output(out, Prepend(n, element)));
  if (t->num_bytes() > 0) std::memset(t->raw_data(), 0, t->num_bytes());
  return t;
}

// Output 0 as input 0's list, ready to have elements of shape `element` written: the input's
// own buffer when the step owns it, else a copy; an unallocated list (no bytes) is allocated
// zero-filled with `element` as its element shape.
absl::StatusOr<Tensor*> WritableList(OpKernelContext& ctx, const TensorShape& element) {
  const Tensor& list = ctx.input(0);
  if (ElementShape(list) == element) {
    ASSIGN_OR_RETURN(Tensor * out, ctx.forward_input_or_allocate_output(0, 0, list.shape()));
    if (!out->SharesBufferWith(ctx.input(0)) && out->num_bytes() > 0) {
      std::memcpy(out->raw_data(), list.raw_data(), list.num_bytes());
    }
    return out;
  }
  if (list.num_elements() == 0) return AllocateZeros(ctx, 0, list.dim(0), element);
  return ctx.Error(absl::StrCat("the list's elements have shape ", ElementShape(list).DebugString(),
                                ", the value written has shape ", element.DebugString()));
}

size_t ElementBytes(const Tensor& list) {
  const int64_t n = list.dim(0);
  return n == 0 ? 0 : list.num_bytes() / static_cast<size_t>(n);
}

// TensorListReserve(element_shape, num_elements) and TensorArrayV3(size): a list of n
// elements, zero-filled when the element shape is fully known, else unallocated.
absl::Status MakeList(OpKernelContext& ctx, int out, int64_t n, std::vector<int64_t> dims) {
  if (n < 0) return ctx.Error(absl::StrCat("a list cannot have ", n, " elements"));
  for (int64_t& d : dims) d = d < 0 ? 0 : d;  // unknown: nothing allocated until written
  return AllocateZeros(ctx, out, n, TensorShape(dims)).status();
}

class ReserveOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& shape = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                     array_kernels::HostInts(ctx, 0, "element_shape", /*want_rank=*/-1));
    if (shape.rank() == 0) {  // -1: unknown rank, learnt from the first write
      if (dims[0] != -1) {
        return ctx.Error(absl::StrCat("element_shape must be a vector or -1, got ", dims[0]));
      }
      dims = {0};
    } else if (shape.rank() != 1) {
      return ctx.Error("element_shape must be a vector or the scalar -1, got shape " +
                       shape.shape().DebugString());
    }
    ASSIGN_OR_RETURN(int64_t n, array_kernels::HostScalar(ctx, 1, "num_elements"));
    return MakeList(ctx, 0, n, dims);
  }
};

class EmptyOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                     array_kernels::HostInts(ctx, 0, "element_shape", /*want_rank=*/-1));
    if (ctx.input(0).rank() == 0) dims = {0};  // unknown rank: learnt from the first push
    return MakeList(ctx, 0, 0, dims);
  }
};

class PushBackOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    const Tensor& list = ctx.input(0);
    const Tensor& item = ctx.input(1);
    const int64_t n = list.dim(0);
    const bool allocated = ElementShape(list) == item.shape();
    if (!allocated && list.num_elements() != 0) {
      return ctx.Error(absl::StrCat("the list's elements have shape ",
                                    ElementShape(list).DebugString(),
                                    ", the value pushed has shape ", item.shape().DebugString()));
    }
    const size_t bytes = item.num_bytes();
    const TensorShape out_shape = Prepend(n + 1, item.shape());
    char* dst = nullptr;
    if (allocated && ctx.input_buffer_is_forwardable(0, 0) &&
        list.buffer_bytes() >= static_cast<size_t>(n + 1) * bytes) {
      ASSIGN_OR_RETURN(Tensor view, list.ViewOfBuffer(out_shape));  // room to spare: in place
      ctx.set_output(0, std::move(view));
      dst = static_cast<char*>(ctx.output(0).raw_data());
    } else {
      const int64_t capacity = std::max<int64_t>(2 * (n + 1), 8);
      ASSIGN_OR_RETURN(Tensor * t, ctx.allocate_output(0, Prepend(capacity, item.shape())));
      dst = static_cast<char*>(t->raw_data());
      if (bytes > 0 && n > 0) {
        if (allocated) {
          std::memcpy(dst, list.raw_data(), static_cast<size_t>(n) * bytes);
        } else {
          std::memset(dst, 0, static_cast<size_t>(n) * bytes);
        }
      }
      ASSIGN_OR_RETURN(Tensor view, t->ViewOfBuffer(out_shape));
      *t = std::move(view);
    }
    if (bytes > 0) std::memcpy(dst + n * bytes, item.raw_data(), bytes);
    return absl::OkStatus();
  }
};

class PopBackOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    const Tensor& list = ctx.input(0);
    const int64_t n = list.dim(0);
    if (n == 0) return ctx.Error("cannot pop from an empty list");
    const TensorShape element = ElementShape(list);
    ASSIGN_OR_RETURN(Tensor * item, ctx.allocate_output(1, element));
    const size_t bytes = ElementBytes(list);
    if (bytes > 0) {
      std::memcpy(item->raw_data(), static_cast<const char*>(list.raw_data()) + (n - 1) * bytes,
                  bytes);
    }
    // The rest is a view of the same buffer: nobody writes a shared buffer in place.
    ASSIGN_OR_RETURN(Tensor rest, list.ViewOfBuffer(Prepend(n - 1, element)));
    ctx.set_output(0, std::move(rest));
    return absl::OkStatus();
  }
};

class TensorArrayOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(element_shape_, c.GetAttr<TensorShape>("element_shape"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(int64_t n, array_kernels::HostScalar(ctx, 0, "size"));
    ASSIGN_OR_RETURN(Tensor * handle, ctx.allocate_output(0, TensorShape({})));
    *handle->data<int32_t>() = 0;
    std::vector<int64_t> dims = {0};
    if (!element_shape_.unknown_rank()) {
      dims.clear();
      for (int i = 0; i < element_shape_.rank(); ++i) dims.push_back(element_shape_.dim(i));
    }
    return MakeList(ctx, 1, n, dims);
  }

 private:
  TensorShape element_shape_;
};

class SetItemOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    ASSIGN_OR_RETURN(int64_t raw, array_kernels::HostScalar(ctx, 1, "index"));
    ASSIGN_OR_RETURN(int64_t index, CheckedIndex(ctx, raw, ctx.input(0).dim(0)));
    const Tensor& item = ctx.input(2);
    ASSIGN_OR_RETURN(Tensor * out, WritableList(ctx, item.shape()));
    if (item.num_bytes() > 0) {
      std::memcpy(static_cast<char*>(out->raw_data()) + index * item.num_bytes(), item.raw_data(),
                  item.num_bytes());
    }
    return absl::OkStatus();
  }
};

class GetItemOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    const Tensor& list = ctx.input(0);
    ASSIGN_OR_RETURN(int64_t raw, array_kernels::HostScalar(ctx, 1, "index"));
    ASSIGN_OR_RETURN(int64_t index, CheckedIndex(ctx, raw, list.dim(0)));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, ElementShape(list)));
    const size_t bytes = ElementBytes(list);
    if (bytes > 0) {
      std::memcpy(out->raw_data(), static_cast<const char*>(list.raw_data()) + index * bytes,
                  bytes);
    }
    return absl::OkStatus();
  }
};

class GatherOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    const Tensor& list = ctx.input(0);
    ASSIGN_OR_RETURN(std::vector<int64_t> indices,
                     array_kernels::HostInts(ctx, 1, "indices", /*want_rank=*/1));
    ASSIGN_OR_RETURN(
        Tensor * out,
        ctx.allocate_output(0, Prepend(static_cast<int64_t>(indices.size()), ElementShape(list))));
    const size_t bytes = ElementBytes(list);
    for (size_t k = 0; k < indices.size(); ++k) {
      ASSIGN_OR_RETURN(int64_t index, CheckedIndex(ctx, indices[k], list.dim(0)));
      if (bytes == 0) continue;
      std::memcpy(static_cast<char*>(out->raw_data()) + k * bytes,
                  static_cast<const char*>(list.raw_data()) + index * bytes, bytes);
    }
    return absl::OkStatus();
  }
};

class ScatterOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    const Tensor& list = ctx.input(0);
    const Tensor& value = ctx.input(2);
    ASSIGN_OR_RETURN(std::vector<int64_t> indices,
                     array_kernels::HostInts(ctx, 1, "indices", /*want_rank=*/1));
    if (value.rank() < 1 || value.dim(0) != static_cast<int64_t>(indices.size())) {
      return ctx.Error(absl::StrCat("scattering ", indices.size(), " indices needs a value of ",
                                    indices.size(), " rows, got shape ",
                                    value.shape().DebugString()));
    }
    const int64_t n = list.dim(0);
    bool identity = list.num_elements() == 0 && static_cast<int64_t>(indices.size()) == n;
    for (size_t k = 0; k < indices.size(); ++k) {
      RETURN_IF_ERROR(CheckedIndex(ctx, indices[k], n).status());
      identity &= indices[k] == static_cast<int64_t>(k);
    }
    const TensorShape element = ElementShape(value);
    // tf.TensorArray.unstack into a fresh array: the list is the value itself.
    if (identity && value.num_elements() > 0) {
      ctx.set_output(0, value);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Tensor * out, WritableList(ctx, element));
    const size_t bytes = ElementBytes(value);
    for (size_t k = 0; k < indices.size() && bytes > 0; ++k) {
      std::memcpy(static_cast<char*>(out->raw_data()) + indices[k] * bytes,
                  static_cast<const char*>(value.raw_data()) + k * bytes, bytes);
    }
    return absl::OkStatus();
  }
};

class LengthOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape({})));
    *out->data<int32_t>() = static_cast<int32_t>(ctx.input(0).dim(0));
    return absl::OkStatus();
  }
};

class ElementShapeOp : public NoAttrKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(CheckIsList(ctx));
    const TensorShape element = ElementShape(ctx.input(0));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape({element.rank()})));
    for (int i = 0; i < element.rank(); ++i) {
      if (out->dtype() == DT_INT64) {
        out->data<int64_t>()[i] = element.dim(i);
      } else {
        out->data<int32_t>()[i] = static_cast<int32_t>(element.dim(i));
      }
    }
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(
    KernelDef("_DenseListReserve", kCpu).TypeConstraint("element_dtype", AllTypes()),
    InitFactory<ReserveOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("_DenseListEmpty", kCpu).TypeConstraint("element_dtype", AllTypes()),
    InitFactory<EmptyOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListPushBack", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<PushBackOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListPopBack", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<PopBackOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseTensorArray", kCpu).TypeConstraint("dtype", AllTypes()),
                       InitFactory<TensorArrayOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListSetItem", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<SetItemOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListGetItem", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<GetItemOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListGather", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<GatherOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListScatter", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<ScatterOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListLength", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<LengthOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_DenseListElementShape", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<ElementShapeOp>());

}  // namespace
}  // namespace quiver
