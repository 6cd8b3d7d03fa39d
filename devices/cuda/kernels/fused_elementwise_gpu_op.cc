// _FusedElementwise on the GPU (float32 and float64): the node's program compiled by NVRTC
// into one kernel (devices/cuda/nvrtc_elementwise.h), shared through the process-wide cache by
// every node with the same program, dtype and GPU arch. Broadcasting follows the CPU kernel:
// elementwise::PlanBroadcast gives per-input strides over the collapsed output dims
// (PlanFusedArgs).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/elementwise_program.h"
#include "devices/cpu/kernels/cwise_ops_common.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/cuda/nvrtc_elementwise.h"
#include "devices/device_name.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {
namespace {

using elementwise::Program;

class FusedElementwiseGpuOp : public OpKernel {
 public:
  FusedElementwiseGpuOp(const Program& p, DataType dtype, std::shared_ptr<const FusedKernel> k)
      : p_(p), dtype_(dtype), built_(std::move(k)) {}

  absl::Status Compute(OpKernelContext& ctx) const override {
    const int n = p_.num_inputs;
    if (ctx.num_inputs() != n) {
      return ctx.Error(absl::StrCat("expected ", n, " inputs, got ", ctx.num_inputs()));
    }
    std::vector<std::vector<int64_t>> shapes(n);
    for (int i = 0; i < n; ++i) {
      RETURN_IF_ERROR(cwise::CheckDtype(ctx, i, dtype_));
      shapes[i] = ctx.input(i).shape().dims();
    }
    std::vector<int64_t> out_dims;
    FusedElementwiseArgs args;
    if (absl::Status s = PlanFusedArgs(shapes, &out_dims, &args); !s.ok()) {
      return ctx.Error(std::string(s.message()));
    }
    GpuScope g(ctx);
    RETURN_IF_ERROR(g.Init());
    // Built for the node's GPU at construction; another arch (a mixed machine) asks the cache.
    std::shared_ptr<const FusedKernel> kernel = built_;
    const int arch = DeviceArch(g.device()->ordinal());
    if (kernel->arch() != arch) {
      auto k = FusedKernelCache::Global().Get(p_, dtype_, arch);
      if (!k.ok()) return ctx.Error(std::string(k.status().message()));
      kernel = *std::move(k);
    }
    for (int i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(args.in[i], g.In(i));
    }
    ASSIGN_OR_RETURN(args.out, g.Out(0, TensorShape(out_dims)));
    if (args.n > 0) {
      absl::Status s = kernel->Launch(args, g.stream());
      if (!s.ok()) return ctx.Error(std::string(s.message()));
    }
    return g.Finish();
  }

 private:
  const Program p_;
  const DataType dtype_;
  const std::shared_ptr<const FusedKernel> built_;
};

// Parses the program and compiles it (or finds it compiled) at kernel creation, so that a bad
// program or an NVRTC failure is an error naming the node before anything runs.
KernelOrError CreateFusedElementwiseGpu(OpKernelConstruction& c) {
  ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("N"));
  ASSIGN_OR_RETURN(DataType dtype, c.GetAttr<DataType>("T"));
  ASSIGN_OR_RETURN(std::vector<std::string> text, c.GetAttr<std::vector<std::string>>("program"));
  absl::StatusOr<Program> p = elementwise::Parse(static_cast<int>(n), text);
  if (!p.ok()) return c.Error(std::string(p.status().message()));
  int ordinal = 0;
  auto parsed = ParseDeviceName(c.node().assigned_device());
  if (parsed.ok() && parsed->has_type && parsed->type == kGpu && parsed->has_id) {
    ordinal = parsed->id;
  }
  auto k = FusedKernelCache::Global().Get(*p, dtype, DeviceArch(ordinal));
  if (!k.ok()) return c.Error(std::string(k.status().message()));
  return std::unique_ptr<OpKernel>(new FusedElementwiseGpuOp(*p, dtype, *std::move(k)));
}

const bool fused_registered = [] {
  RegisterGpuKernel(KernelDef("_FusedElementwise", kGpu).TypeConstraint("T", {DT_FLOAT}),
                    CreateFusedElementwiseGpu);
  RegisterGpuKernel(KernelDef("_FusedElementwise", kGpu).TypeConstraint("T", {DT_DOUBLE}),
                    CreateFusedElementwiseGpu);
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace quiver
