// Switch, RefSwitch, Merge, RefMerge on the GPU: they route device tensors without touching
// them; the predicate and Merge's value_index stay in host memory.
#include "devices/control_flow_kernels.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cpu/kernels/ref_identity_op.h"
#include "devices/cuda/cuda_device.h"

namespace quiver {
namespace cuda {
namespace {

using array_kernels::AllTypes;

QUIVER_REGISTER_GPU_KERNEL(
    KernelDef("Switch", kGpu).TypeConstraint("T", AllTypes()).HostMemory("pred"),
    SwitchKernelFactory());
QUIVER_REGISTER_GPU_KERNEL(
    KernelDef("RefSwitch", kGpu).TypeConstraint("T", AllTypes()).HostMemory("pred"),
    SwitchKernelFactory());
QUIVER_REGISTER_GPU_KERNEL(
    KernelDef("_SwitchN", kGpu).TypeConstraint("T", AllTypes()).HostMemory("output_index"),
    SwitchNKernelFactory());
QUIVER_REGISTER_GPU_KERNEL(
    KernelDef("Merge", kGpu).TypeConstraint("T", AllTypes()).HostMemory("value_index"),
    MergeKernelFactory());
QUIVER_REGISTER_GPU_KERNEL(
    KernelDef("RefMerge", kGpu).TypeConstraint("T", AllTypes()).HostMemory("value_index"),
    MergeKernelFactory());

// A variable reference passed through (TF2 cond branches reading a variable): no data moves.
QUIVER_REGISTER_GPU_KERNEL(KernelDef("RefIdentity", kGpu).TypeConstraint("T", AllTypes()),
                           RefIdentityKernelFactory());

}  // namespace
}  // namespace cuda
}  // namespace quiver
