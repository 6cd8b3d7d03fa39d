// _Transfer on CPU: a deep copy into a fresh buffer of the destination device's allocator (the
// node runs on the destination), which is what moving the bytes between two devices' memories
// costs. A source in memory the host cannot read (a GPU's) is copied out by its own device,
// found by the node's `src_device` attr in the session's device table. Every executed transfer
// counts itself in the step's counters.
#include <string>

#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/device.h"
#include "devices/kernel.h"

namespace quiver {
namespace {

class TransferOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction& c) {
    // Absent on hand-made transfers: then only host-readable sources can be copied.
    auto src = c.GetAttr<std::string>("src_device");
    if (src.ok()) src_device_ = *src;
    return absl::OkStatus();
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    Device* src = nullptr;
    if (in.allocator() != nullptr && !in.allocator()->host_accessible()) {
      src = src_device_.empty() ? nullptr : ctx.FindDevice(src_device_);
      if (src == nullptr || src->allocator()->host_accessible()) {
        return array_kernels::UnreadableTransferSource(ctx, src_device_);
      }
    }
    return array_kernels::OutputTransfer(ctx, ctx.device(), src);
  }

 private:
  std::string src_device_;
};

QUIVER_REGISTER_KERNEL(KernelDef("_Transfer", kCpu).TypeConstraint("T", array_kernels::AllTypes()),
                       array_kernels::InitFactory<TransferOp>());

}  // namespace
}  // namespace quiver
