// _Transfer on CPU: a deep copy into a fresh buffer, which is what moving the bytes between two
// devices' memories costs. Every executed transfer counts itself in the step's counters.
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"

namespace quiver {
namespace {

class TransferOp : public OpKernel {
 public:
  absl::Status Init(OpKernelConstruction&) { return absl::OkStatus(); }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    auto copy = in.Clone();
    if (!copy.ok()) return array_kernels::NodeError(ctx, copy.status());
    ctx.set_output(0, *std::move(copy));
    if (StepCounters* counters = ctx.resources().counters) {
      counters->transfers.fetch_add(1, std::memory_order_relaxed);
      counters->transfer_bytes.fetch_add(static_cast<int64_t>(in.num_bytes()),
                                         std::memory_order_relaxed);
    }
    return absl::OkStatus();
  }
};

QUIVER_REGISTER_KERNEL(KernelDef("_Transfer", kCpu).TypeConstraint("T", array_kernels::AllTypes()),
                       array_kernels::InitFactory<TransferOp>());

}  // namespace
}  // namespace quiver
