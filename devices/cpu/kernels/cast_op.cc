// CPU kernel for Cast between every dtype a Tensor can hold.
//
// Semantics follow TensorFlow (C++ static_cast) where that is defined: float -> int truncates
// toward zero, int -> int wraps, anything -> bool is "!= 0", bool -> number is 0/1, and
// float16/bfloat16 go through float32 (round to nearest even; Truncate=true makes float ->
// bfloat16 drop the low mantissa bits instead, like TF). Where static_cast is undefined
// (NaN or out-of-range float -> int) Quiver saturates and maps NaN to 0 (XLA's choice) rather
// than returning whatever the CPU's conversion instruction produces.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/cwise_ops_common.h"

namespace quiver {
namespace {

template <typename T>
inline constexpr bool kIs16BitFloat = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// Source values are first widened to a "compute" type: 16-bit floats to float.
template <typename Src>
inline auto Widen(Src v) {
  if constexpr (std::is_same_v<Src, Half>) {
    return HalfToFloat(v.bits);
  } else if constexpr (std::is_same_v<Src, BFloat16>) {
    return BFloat16ToFloat(v.bits);
  } else {
    return v;
  }
}

// Floating -> integer with truncation toward zero, saturation, NaN -> 0.
template <typename Dst, typename F>
inline Dst FloatToInt(F v) {
  if (v != v) return Dst(0);
  // 2^digits is one past the largest value and exactly representable in F.
  const F upper = std::ldexp(F(1), std::numeric_limits<Dst>::digits);
  if (v >= upper) return std::numeric_limits<Dst>::max();
  if (v <= F(std::numeric_limits<Dst>::min()) - F(1)) return std::numeric_limits<Dst>::min();
  return static_cast<Dst>(v);
}

template <typename Dst, typename Src>
inline Dst Convert(Src src, bool truncate) {
  auto v = Widen(src);
  using V = decltype(v);
  if constexpr (std::is_same_v<Dst, bool>) {
    return v != V(0);
  } else if constexpr (std::is_same_v<Dst, Half>) {
    return Half{FloatToHalf(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<Dst, BFloat16>) {
    const float f = static_cast<float>(v);
    if (truncate && f == f) {
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      return BFloat16{static_cast<uint16_t>(bits >> 16)};
    }
    return BFloat16{FloatToBFloat16(f)};
  } else if constexpr (std::is_floating_point_v<V> && std::is_integral_v<Dst>) {
    return FloatToInt<Dst>(v);
  } else {
    return static_cast<Dst>(v);  // int <-> int wraps (defined since C++20); int -> float rounds
  }
}

template <typename Src, typename Dst>
class CastOp : public OpKernel {
 public:
  CastOp(OpKernelConstruction&, bool truncate) : truncate_(truncate) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    RETURN_IF_ERROR(cwise::CheckDtype(ctx, 0, DataTypeOf<Src>::value));
    const Tensor& x = ctx.input(0);
    if constexpr (std::is_same_v<Src, Dst>) {
      ctx.set_output(0, x);  // tensors are immutable: the identity cast aliases
      return absl::OkStatus();
    }
    const Src* in = x.data<Src>();
    const int64_t n = x.num_elements();
    // No forwarding: the output dtype differs from the input's, so the buffer is never reusable.
    ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.shape()));
    Dst* out = y->data<Dst>();
    const bool truncate = truncate_;
    cwise::ParallelForRange(ctx, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = Convert<Dst>(in[i], truncate);
    });
    return absl::OkStatus();
  }

 private:
  bool truncate_;
};

// Calls fn(T{}) for the C++ type of dtype; false if the dtype is not castable.
template <typename Fn>
bool DispatchType(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DT_FLOAT:
      fn(float{});
      return true;
    case DT_DOUBLE:
      fn(double{});
      return true;
    case DT_INT32:
      fn(int32_t{});
      return true;
    case DT_INT64:
      fn(int64_t{});
      return true;
    case DT_INT16:
      fn(int16_t{});
      return true;
    case DT_INT8:
      fn(int8_t{});
      return true;
    case DT_UINT8:
      fn(uint8_t{});
      return true;
    case DT_UINT16:
      fn(uint16_t{});
      return true;
    case DT_UINT32:
      fn(uint32_t{});
      return true;
    case DT_UINT64:
      fn(uint64_t{});
      return true;
    case DT_BOOL:
      fn(bool{});
      return true;
    case DT_HALF:
      fn(Half{});
      return true;
    case DT_BFLOAT16:
      fn(BFloat16{});
      return true;
    default:
      return false;
  }
}

KernelOrError MakeCast(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(DataType src, c.GetAttr<DataType>("SrcT"));
  ASSIGN_OR_RETURN(DataType dst, c.GetAttr<DataType>("DstT"));
  auto truncate_attr = c.GetAttr<bool>("Truncate");
  const bool truncate = truncate_attr.ok() && *truncate_attr;
  std::unique_ptr<OpKernel> kernel;
  bool ok = DispatchType(src, [&](auto s) {
    DispatchType(dst, [&](auto d) {
      kernel = std::make_unique<CastOp<decltype(s), decltype(d)>>(c, truncate);
    });
  });
  if (!ok || kernel == nullptr) {
    return c.Error(absl::StrCat("no CPU cast from ", DataTypeName(src), " to ", DataTypeName(dst)));
  }
  return kernel;
}

QUIVER_REGISTER_KERNEL(KernelDef("Cast", kCpu)
                           .TypeConstraint("SrcT",
                                           {DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_INT16,
                                            DT_INT8, DT_UINT8, DT_UINT16, DT_UINT32, DT_UINT64,
                                            DT_BOOL, DT_HALF, DT_BFLOAT16}),
                       MakeCast);

}  // namespace
}  // namespace quiver
