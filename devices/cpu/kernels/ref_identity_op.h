// RefIdentity's kernel (graph/ops/ref_identity_op.cc): output 0 is the variable input 0 refers
// to; nothing is read, copied or touched on any device, so every device can register it.
#pragma once

#include "devices/kernel.h"

namespace quiver {

KernelFactory RefIdentityKernelFactory();

}  // namespace quiver
