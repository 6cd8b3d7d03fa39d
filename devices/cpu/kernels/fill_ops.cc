// Fill, ZerosLike, OnesLike, Range.
#include <cstring>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

namespace as = array_shapes;
using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

class FillOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(std::vector<int64_t> dims, array_kernels::HostInts(ctx, 0, "dims"));
    const Tensor& value = ctx.input(1);
    ASSIGN_OR_RETURN(const TensorShape shape, array_kernels::FillShape(ctx, dims));
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, shape));
    array_kernels::FillElements(out->raw_data(), out->num_elements(), value.raw_data(),
                                DataTypeSize(value.dtype()));
    return absl::OkStatus();
  }
};

// The bytes of the value 1 in dtype `t` (at most 8 bytes).
void OneBytes(DataType t, unsigned char* out) {
  std::memset(out, 0, 8);
  auto put = [&](auto v) { std::memcpy(out, &v, sizeof(v)); };
  switch (t) {
    case DT_FLOAT:
      return put(1.0f);
    case DT_DOUBLE:
      return put(1.0);
    case DT_HALF:
      return put(FloatToHalf(1.0f));
    case DT_BFLOAT16:
      return put(FloatToBFloat16(1.0f));
    case DT_BOOL:
      return put(true);
    default: {
      // Little-endian integers of any width: the low byte is 1.
      out[0] = 1;
      return;
    }
  }
}

class ConstantLikeOp : public OpKernel {
 public:
  explicit ConstantLikeOp(bool ones = false) : ones_(ones) {}
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    // The input's values are irrelevant: reuse its buffer when this step owns it.
    ASSIGN_OR_RETURN(Tensor * out, ctx.forward_input_or_allocate_output(0, 0, in.shape()));
    if (!ones_) {
      if (out->num_bytes() > 0) std::memset(out->raw_data(), 0, out->num_bytes());
    } else {
      unsigned char one[8];
      OneBytes(out->dtype(), one);
      array_kernels::FillElements(out->raw_data(), out->num_elements(), one,
                                  DataTypeSize(out->dtype()));
    }
    return absl::OkStatus();
  }

 private:
  bool ones_;
};

class OnesLikeOp : public ConstantLikeOp {
 public:
  OnesLikeOp() : ConstantLikeOp(true) {}
};

// Range computed in double for floating types and int64 for integers, stored as T.
template <typename T>
class RangeOp : public OpKernel {
 public:
  using A = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    A v[3];
    static const char* kNames[] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; ++i) {
      const Tensor& t = ctx.input(i);
      if (t.num_elements() != 1) {
        return ctx.Error(absl::StrCat("'", kNames[i], "' must be a scalar, got shape ",
                                      t.shape().DebugString()));
      }
      v[i] = Read(t);
    }
    auto n = as::RangeSize(v[0], v[1], v[2]);
    if (!n.ok()) return NodeError(ctx, n.status());
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{*n}));
    T* data = out->data<T>();
    // start + i * delta rather than accumulation: no drift for long float ranges.
    for (int64_t i = 0; i < *n; ++i) data[i] = Write(v[0] + static_cast<A>(i) * v[2]);
    return absl::OkStatus();
  }

 private:
  static A Read(const Tensor& t) {
    if constexpr (std::is_same_v<T, int64_t>) {
      return t.data<int64_t>()[0];
    } else {
      return static_cast<A>(t.ElementAsDouble(0));
    }
  }
  static T Write(A x) {
    if constexpr (std::is_same_v<T, Half>) {
      return Half{FloatToHalf(static_cast<float>(x))};
    } else if constexpr (std::is_same_v<T, BFloat16>) {
      return BFloat16{FloatToBFloat16(static_cast<float>(x))};
    } else {
      return static_cast<T>(x);
    }
  }
};

QUIVER_REGISTER_KERNEL(KernelDef("Fill", kCpu).TypeConstraint("T", AllTypes()).HostMemory("dims"),
                       InitFactory<FillOp>());
QUIVER_REGISTER_KERNEL(KernelDef("ZerosLike", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<ConstantLikeOp>());
QUIVER_REGISTER_KERNEL(KernelDef("OnesLike", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<OnesLikeOp>());

#define QUIVER_REGISTER_RANGE(T, DT)                       \
  QUIVER_REGISTER_KERNEL(KernelDef("Range", kCpu)          \
                             .TypeConstraint("Tidx", {DT}) \
                             .HostMemory("start")          \
                             .HostMemory("limit")          \
                             .HostMemory("delta"),         \
                         InitFactory<RangeOp<T>>())
QUIVER_REGISTER_RANGE(float, DT_FLOAT);
QUIVER_REGISTER_RANGE(double, DT_DOUBLE);
QUIVER_REGISTER_RANGE(Half, DT_HALF);
QUIVER_REGISTER_RANGE(BFloat16, DT_BFLOAT16);
QUIVER_REGISTER_RANGE(int32_t, DT_INT32);
QUIVER_REGISTER_RANGE(int64_t, DT_INT64);
QUIVER_REGISTER_RANGE(int8_t, DT_INT8);
QUIVER_REGISTER_RANGE(int16_t, DT_INT16);
QUIVER_REGISTER_RANGE(uint16_t, DT_UINT16);
QUIVER_REGISTER_RANGE(uint32_t, DT_UINT32);
#undef QUIVER_REGISTER_RANGE

}  // namespace
}  // namespace quiver
