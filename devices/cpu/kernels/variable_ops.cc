// TF1 ref variables: VariableV2 / Variable, Assign, AssignAdd, AssignSub,
// IsVariableInitialized. The session owns each Variable (StepResources::variable); every
// read or write of Variable::value happens under Variable::mu, and writes are copy-on-write
// when a reader still holds the buffer (see Variable in devices/kernel.h).
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/device.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;
using array_kernels::NodeError;

absl::StatusOr<Variable*> RefInput(OpKernelContext& ctx, int i) {
  Variable* var = ctx.ref_input(i);
  if (var == nullptr) {
    return ctx.Error(absl::StrCat("input ", i, " must be a reference to a variable"));
  }
  return var;
}

class VariableOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(std::string shared_name, c.GetAttr<std::string>("shared_name"));
    // Variables are keyed by shared_name when given (several nodes share one), else node name.
    name_ = shared_name.empty() ? c.node().name() : shared_name;
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    if (!ctx.resources().variable) return ctx.Error("this step has no variable store");
    Variable* var = ctx.resources().variable(name_, /*create=*/true);
    if (var == nullptr) return ctx.Error(absl::StrCat("could not create variable '", name_, "'"));
    // The value may still be invalid: the executor reports "Attempting to use uninitialized
    // value" if a non-ref consumer dereferences it.
    ctx.set_output_ref(0, var);
    return absl::OkStatus();
  }

 private:
  std::string name_;
};

class IsVariableInitializedOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(Variable * var, RefInput(ctx, 0));
    bool initialized;
    {
      ReaderMutexLock lock(&var->mu);
      initialized = var->initialized();
    }
    ASSIGN_OR_RETURN(Tensor * out, ctx.allocate_output(0, TensorShape{}));
    *out->data<bool>() = initialized;
    return absl::OkStatus();
  }
};

class AssignOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(validate_shape_, c.GetAttr<bool>("validate_shape"));
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(Variable * var, RefInput(ctx, 0));
    const Tensor& value = ctx.input(1);
    if (!value.valid()) return ctx.Error("the value to assign is empty");
    // Held for the whole update whatever use_locking says: an unlocked swap of `value` could
    // free a buffer another thread is reading.
    MutexLock lock(&var->mu);
    if (var->initialized()) {
      if (validate_shape_ && var->value.shape() != value.shape()) {
        return ctx.Error(absl::StrCat(
            "Assign requires shapes of both tensors to match. lhs shape= ",
            var->value.shape().DebugString(), " rhs shape= ", value.shape().DebugString()));
      }
      const bool same_shape =
          var->value.shape() == value.shape() && var->value.dtype() == value.dtype();
      if (same_shape && var->value.SharesBufferWith(value)) {  // the variable's own read
        ctx.set_output_ref(0, var);
        return absl::OkStatus();
      }
      // In place when nobody reads the buffer (no allocation per step); otherwise the new
      // private copy below, leaving readers their old value.
      if (same_shape && !var->ValueIsShared()) {
        if (value.num_bytes() > 0) {
          std::memcpy(var->value.raw_data(), value.raw_data(), value.num_bytes());
        }
        ctx.set_output_ref(0, var);
        return absl::OkStatus();
      }
    }
    // First assignment (or a new shape): a private copy, never an alias of the input, which
    // may be a feed or another node's output, in the memory of the variable's device.
    auto copy = value.Clone(ctx.device()->allocator());
    if (!copy.ok()) return NodeError(ctx, copy.status());
    var->value = *std::move(copy);
    ctx.set_output_ref(0, var);
    return absl::OkStatus();
  }

 private:
  bool validate_shape_ = true;
};

// Element-wise update in the arithmetic type of T (float for 16-bit floats).
template <typename T, bool kAdd>
void Update(T* dst, const T* src, int64_t n) {
  if constexpr (std::is_same_v<T, Half>) {
    for (int64_t i = 0; i < n; ++i) {
      float a = HalfToFloat(dst[i].bits), b = HalfToFloat(src[i].bits);
      dst[i].bits = FloatToHalf(kAdd ? a + b : a - b);
    }
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    for (int64_t i = 0; i < n; ++i) {
      float a = BFloat16ToFloat(dst[i].bits), b = BFloat16ToFloat(src[i].bits);
      dst[i].bits = FloatToBFloat16(kAdd ? a + b : a - b);
    }
  } else {
    for (int64_t i = 0; i < n; ++i)
      dst[i] = static_cast<T>(kAdd ? dst[i] + src[i] : dst[i] - src[i]);
  }
}

template <typename T, bool kAdd>
class AssignUpdateOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    ASSIGN_OR_RETURN(Variable * var, RefInput(ctx, 0));
    const Tensor& value = ctx.input(1);
    MutexLock lock(&var->mu);
    if (!var->initialized()) {
      return ctx.Error(
          absl::StrCat("Attempting to use uninitialized value ", ctx.node().input(0).node->name()));
    }
    if (var->value.shape() != value.shape() || var->value.dtype() != value.dtype()) {
      return ctx.Error(absl::StrCat("variable of shape ", var->value.shape().DebugString(),
                                    " cannot be ", kAdd ? "incremented" : "decremented",
                                    " by a value of shape ", value.shape().DebugString()));
    }
    if (absl::Status s = var->PrepareForInPlaceWrite(); !s.ok()) return NodeError(ctx, s);
    Update<T, kAdd>(var->value.data<T>(), value.data<T>(), value.num_elements());
    ctx.set_output_ref(0, var);
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(KernelDef("VariableV2", kCpu).TypeConstraint("dtype", AllTypes()),
                       InitFactory<VariableOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Variable", kCpu).TypeConstraint("dtype", AllTypes()),
                       InitFactory<VariableOp>());
QUIVER_REGISTER_KERNEL(KernelDef("IsVariableInitialized", kCpu).TypeConstraint("dtype", AllTypes()),
                       InitFactory<IsVariableInitializedOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Assign", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<AssignOp>());

template <typename T>
using AssignAddOp = AssignUpdateOp<T, true>;
template <typename T>
using AssignSubOp = AssignUpdateOp<T, false>;

#define QUIVER_REGISTER_ASSIGN_UPDATE(T)                                                           \
  QUIVER_REGISTER_KERNEL(KernelDef("AssignAdd", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         InitFactory<AssignAddOp<T>>());                                           \
  QUIVER_REGISTER_KERNEL(KernelDef("AssignSub", kCpu).TypeConstraint("T", {DataTypeOf<T>::value}), \
                         InitFactory<AssignSubOp<T>>())
QUIVER_REGISTER_ASSIGN_UPDATE(float);
QUIVER_REGISTER_ASSIGN_UPDATE(double);
QUIVER_REGISTER_ASSIGN_UPDATE(int32_t);
QUIVER_REGISTER_ASSIGN_UPDATE(int64_t);
QUIVER_REGISTER_ASSIGN_UPDATE(int8_t);
QUIVER_REGISTER_ASSIGN_UPDATE(int16_t);
QUIVER_REGISTER_ASSIGN_UPDATE(uint8_t);
QUIVER_REGISTER_ASSIGN_UPDATE(Half);
QUIVER_REGISTER_ASSIGN_UPDATE(BFloat16);
#undef QUIVER_REGISTER_ASSIGN_UPDATE

}  // namespace
}  // namespace quiver
