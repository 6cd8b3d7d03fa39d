// Switch, RefSwitch, Merge, RefMerge on the CPU (devices/control_flow_kernels.h).
#include "devices/control_flow_kernels.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"

namespace quiver {
namespace {

using array_kernels::AllTypes;

QUIVER_REGISTER_KERNEL(KernelDef("Switch", kCpu).TypeConstraint("T", AllTypes()),
                       SwitchKernelFactory());
QUIVER_REGISTER_KERNEL(KernelDef("RefSwitch", kCpu).TypeConstraint("T", AllTypes()),
                       SwitchKernelFactory());
QUIVER_REGISTER_KERNEL(KernelDef("_SwitchN", kCpu).TypeConstraint("T", AllTypes()),
                       SwitchNKernelFactory());
QUIVER_REGISTER_KERNEL(KernelDef("Merge", kCpu).TypeConstraint("T", AllTypes()),
                       MergeKernelFactory());
QUIVER_REGISTER_KERNEL(KernelDef("RefMerge", kCpu).TypeConstraint("T", AllTypes()),
                       MergeKernelFactory());

}  // namespace
}  // namespace quiver
