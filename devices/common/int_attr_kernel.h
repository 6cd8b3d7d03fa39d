// A kernel base shared by the CPU and GPU kernels of the ops configured by one int64 attr.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {

// An OpKernel configured by one int64 attr (Pack, Unpack and OneHot's "axis", GatherV2's
// "batch_dims"), read in Init (array_kernels::InitFactory) so that a missing or mistyped attr
// fails when the session compiles the graph, not in Compute.
class Int64AttrKernel : public OpKernel {
 public:
  explicit Int64AttrKernel(const char* name) : name_(name) {}
  absl::Status Init(OpKernelConstruction& c) {
    ASSIGN_OR_RETURN(value_, c.GetAttr<int64_t>(name_));
    return absl::OkStatus();
  }

 protected:
  // The attr's value (valid after Init).
  int64_t attr() const { return value_; }

 private:
  const char* name_;
  int64_t value_ = 0;
};

}  // namespace quiver
