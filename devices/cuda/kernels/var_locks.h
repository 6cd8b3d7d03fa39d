// Locking and copy-on-write for GPU kernels that update ref variables in place (the optimizer
// updates in gpu_ops.cc, AssignAdd/AssignSub in gpu_training_ops.cc). See Variable in
// devices/kernel.h: a writer holds the variable's mutex exclusively and, when a reader still
// shares the value's buffer, first replaces the value by a private copy.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "devices/cuda/gpu_kernel_util.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {

// Locks the distinct variables behind ref inputs [0, n) in address order.
class VarLocks {
 public:
  VarLocks() = default;
  VarLocks(const VarLocks&) = delete;
  VarLocks& operator=(const VarLocks&) = delete;
  ~VarLocks() {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) (*it)->mu.Unlock();
  }
  absl::Status Acquire(OpKernelContext& ctx, int n) {
    std::vector<Variable*> v;
    for (int i = 0; i < n; ++i) {
      if (ctx.ref_input(i) == nullptr) {
        return ctx.Error(absl::StrCat("input ", i, " must be a reference to a variable"));
      }
      v.push_back(ctx.ref_input(i));
    }
    Lock(std::move(v));
    for (int i = 0; i < n; ++i) {
      Variable* x = ctx.ref_input(i);
      if (!x->initialized()) {
        return ctx.Error(absl::StrCat("Attempting to use uninitialized value ",
                                      ctx.node().input(i).node->name()));
      }
      if (x->value.dtype() != DT_FLOAT || x->value.shape() != ctx.ref_input(0)->value.shape()) {
        return ctx.Error("the variables of an update must be float32 of one shape");
      }
    }
    return absl::OkStatus();
  }

  // Locks the distinct variables of `v` in address order (Acquire without its checks: the
  // optimizer updates check with the CPU kernels' messages, update_checks.h).
  void Lock(std::vector<Variable*> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    for (Variable* x : v) {
      x->mu.Lock();
      vars_.push_back(x);
    }
  }

  // Copy-on-write (see Variable): gives every locked variable whose buffer a reader still
  // holds a private copy, made before the update is enqueued: on the compute stream for a
  // device-resident value; on the host for a host-resident one (the kernel then stages the
  // copy in through InOut; a device-side copy would be written back only at Finish, after
  // InOut had already staged the copy's uninitialised bytes).
  absl::Status DetachShared(GpuScope& g) {
    for (Variable* x : vars_) {
      if (!x->ValueIsShared()) continue;
      const Allocator* a = x->value.allocator();
      if (a == nullptr || a->host_accessible()) {
        RETURN_IF_ERROR(x->PrepareForInPlaceWrite());
        continue;
      }
      const Tensor& old = x->value;
      ASSIGN_OR_RETURN(Tensor copy, Tensor::Create(old.dtype(), old.shape(), old.allocator()));
      if (old.num_bytes() > 0) {
        ASSIGN_OR_RETURN(const void* src, g.In(old));
        ASSIGN_OR_RETURN(void* dst, g.WriteTo(copy));
        RETURN_IF_ERROR(g.Check(
            cudaMemcpyAsync(dst, src, old.num_bytes(), cudaMemcpyDeviceToDevice, g.stream()),
            "variable copy-on-write"));
      }
      x->value = std::move(copy);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<Variable*> vars_;
};

}  // namespace cuda
}  // namespace quiver
