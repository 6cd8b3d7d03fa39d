// Kernels of the conditional ops (graph/ops/control_flow_ops.cc), shared by every device: they
// move no data, only route it. Switch forwards `data` (a tensor or a variable reference) to the
// output `pred` selects and marks the other dead; Merge forwards its first live input and its
// index. The executor skips nodes on a dead path, so Merge is the only kernel that sees a dead
// input. `pred` and `value_index` live in host memory on accelerators.
#pragma once

#include "devices/kernel.h"

namespace quiver {

KernelFactory SwitchKernelFactory();
KernelFactory SwitchNKernelFactory();
KernelFactory MergeKernelFactory();

}  // namespace quiver
