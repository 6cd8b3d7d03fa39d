// Sources and identities: Placeholder, PlaceholderWithDefault, Const, Identity, IdentityN,
// StopGradient, Snapshot, NoOp. All but Snapshot alias their input (no copy).
#include <string>

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;
using array_kernels::InitFactory;

// Runs only when the placeholder was not fed: feeds replace the node before execution.
class PlaceholderOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(DataType dtype, c.GetAttr<DataType>("dtype"));
    auto shape = c.GetAttr<TensorShape>("shape");
    message_ = absl::StrCat("You must feed a value for placeholder tensor '", c.node().name(),
                            "' with dtype ", DataTypeName(dtype));
    if (shape.ok() && !shape->unknown_rank()) {
      absl::StrAppend(&message_, " and shape ", shape->DebugString());
    }
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    return absl::InvalidArgumentError(message_);
  }

 private:
  std::string message_;
};

class ConstOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(DataType dtype, c.GetAttr<DataType>("dtype"));
    auto value = c.GetAttr<Tensor>("value");
    if (!value.ok()) return c.Error(std::string(value.status().message()));
    if (value->dtype() != dtype) {
      return c.Error(absl::StrCat("Type mismatch between value (", DataTypeName(value->dtype()),
                                  ") and dtype (", DataTypeName(dtype), ")"));
    }
    value_ = *std::move(value);
    return absl::OkStatus();
  }
  // Every step shares the decoded buffer; consumers never write to their inputs in place
  // unless they own them exclusively, which a constant's buffer never is.
  absl::Status Compute(OpKernelContext& ctx) const override {
    ctx.set_output(0, value_);
    return absl::OkStatus();
  }

 private:
  Tensor value_;
};

// Identity, StopGradient, PlaceholderWithDefault, IdentityN: output i aliases input i.
class ForwardOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    for (int i = 0; i < ctx.num_inputs() && i < ctx.num_outputs(); ++i) {
      ctx.set_output(i, ctx.input(i));
    }
    return absl::OkStatus();
  }
};

// Snapshot exists to take a copy of a value (typically a variable) that may change later.
class SnapshotOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    auto copy = ctx.input(0).Clone();
    if (!copy.ok()) return array_kernels::NodeError(ctx, copy.status());
    ctx.set_output(0, *std::move(copy));
    return absl::OkStatus();
  }
};

class NoOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext&) const override { return absl::OkStatus(); }
};

QUIVER_REGISTER_KERNEL(KernelDef("Placeholder", kCpu).TypeConstraint("dtype", AllTypes()),
                       InitFactory<PlaceholderOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Const", kCpu).TypeConstraint("dtype", AllTypes()),
                       InitFactory<ConstOp>());
QUIVER_REGISTER_KERNEL(
    KernelDef("PlaceholderWithDefault", kCpu).TypeConstraint("dtype", AllTypes()),
    InitFactory<ForwardOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Identity", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<ForwardOp>());
QUIVER_REGISTER_KERNEL(KernelDef("StopGradient", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<ForwardOp>());
// IdentityN's T is a list(type): no single-type constraint applies.
QUIVER_REGISTER_KERNEL(KernelDef("IdentityN", kCpu), InitFactory<ForwardOp>());
QUIVER_REGISTER_KERNEL(KernelDef("Snapshot", kCpu).TypeConstraint("T", AllTypes()),
                       InitFactory<SnapshotOp>());
QUIVER_REGISTER_KERNEL(KernelDef("NoOp", kCpu), InitFactory<NoOp>());

}  // namespace
}  // namespace quiver
