// The input checks of the fused optimizer updates (ApplyGradientDescent, ApplyMomentum,
// ApplyAdam), shared by the CPU kernels (optimizer_ops.cc) and the GPU ones
// (devices/cuda/kernels/gpu_ops.cc) so that a bad update fails with one message on every
// device.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/kernel.h"

namespace quiver {
namespace update_checks {

// The variables behind ref inputs [0, n), by input slot; an error names the first input that
// is not a reference to a variable.
absl::StatusOr<std::vector<Variable*>> RefVariables(const OpKernelContext& ctx, int n);

// With `vars` (from RefVariables) locked: each is initialised (else FailedPrecondition, as in
// TF), holds `dtype`, and has the first one's shape.
absl::Status CheckVariables(const OpKernelContext& ctx, const std::vector<Variable*>& vars,
                            DataType dtype);

// The non-ref inputs [first, num_inputs): input `grad` has `var_shape`, the others are scalars.
absl::Status CheckOperands(const OpKernelContext& ctx, const TensorShape& var_shape, int first,
                           int grad);

}  // namespace update_checks
}  // namespace quiver
