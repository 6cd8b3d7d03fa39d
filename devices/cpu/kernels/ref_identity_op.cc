// RefIdentity on the CPU (devices/cpu/kernels/ref_identity_op.h).
#include "devices/cpu/kernels/ref_identity_op.h"

#include "devices/cpu/kernels/array_kernel_util.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;

class RefIdentityOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    Variable* var = ctx.ref_input(0);
    if (var == nullptr) return ctx.Error("input 0 must be a reference to a variable");
    ctx.set_output_ref(0, var);
    return absl::OkStatus();
  }
};

}  // namespace

KernelFactory RefIdentityKernelFactory() {
  return [](OpKernelConstruction&) -> KernelOrError { return std::make_unique<RefIdentityOp>(); };
}

namespace {
QUIVER_REGISTER_KERNEL(KernelDef("RefIdentity", kCpu).TypeConstraint("T", AllTypes()),
                       RefIdentityKernelFactory());
}  // namespace

}  // namespace quiver
