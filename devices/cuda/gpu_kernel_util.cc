#include "devices/cuda/gpu_kernel_util.h"

#include "absl/strings/str_cat.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/cuda/kernels/launchers.h"
#include "devices/device_name.h"
#include "graph/status_macros.h"

namespace quiver {
namespace cuda {

bool GpuScope::OnDevice(const Tensor& t) {
  return t.allocator() != nullptr && !t.allocator()->host_accessible();
}

GpuScope::~GpuScope() {
  if (device_ == nullptr) return;
  if (!finished_ && staged_) cudaStreamSynchronize(stream());  // host buffers may be freed next
  // Freed in stream order: later work on this stream that reuses a block runs after this
  // kernel, and the device's copy streams wait for compute before writing (CudaDevice).
  for (void* p : temps_) device_->allocator()->DeallocateRaw(p);
}

absl::Status GpuScope::Init() {
  device_ = AsCudaDevice(ctx_.device());
  if (device_ == nullptr) {
    int ordinal = 0;
    auto parsed = ParseDeviceName(ctx_.node().assigned_device());
    if (parsed.ok() && parsed->has_type && parsed->type == kGpu && parsed->has_id) {
      ordinal = parsed->id;
    }
    auto shared = SharedCudaDevice(ordinal);
    if (!shared.ok()) return ctx_.Error(std::string(shared.status().message()));
    device_ = *shared;
  }
  absl::Status s = device_->Activate();
  if (!s.ok()) return ctx_.Error(std::string(s.message()));
  return absl::OkStatus();
}

absl::StatusOr<void*> GpuScope::AllocDevice(size_t bytes) {
  void* p = device_->allocator()->AllocateRaw(Allocator::kDefaultAlignment, bytes);
  if (p == nullptr) {
    AllocatorStats st = device_->allocator()->GetStats();
    return absl::ResourceExhaustedError(absl::StrCat(
        "node '", ctx_.node().name(), "' (", ctx_.node().op(), "): out of GPU memory allocating ",
        bytes, " bytes from ", device_->allocator()->Name(), " (in use ", st.bytes_in_use,
        ", limit ", st.bytes_limit, ")"));
  }
  temps_.push_back(p);
  return p;
}

absl::StatusOr<const void*> GpuScope::In(const Tensor& t) {
  if (OnDevice(t) || t.num_bytes() == 0) return static_cast<const void*>(t.raw_data());
  auto d = AllocDevice(t.num_bytes());
  if (!d.ok()) return d.status();
  absl::Status s =
      Check(cudaMemcpyAsync(*d, t.raw_data(), t.num_bytes(), cudaMemcpyHostToDevice, stream()),
            "staging an input to the GPU");
  if (!s.ok()) return s;
  staged_ = true;
  return static_cast<const void*>(*d);
}

absl::StatusOr<void*> GpuScope::WriteTo(Tensor& t) {
  if (OnDevice(t) || t.num_bytes() == 0) return t.raw_data();
  auto d = AllocDevice(t.num_bytes());
  if (!d.ok()) return d.status();
  write_back_.push_back({t.raw_data(), *d, t.num_bytes()});
  staged_ = true;
  return *d;
}

absl::StatusOr<void*> GpuScope::InOut(Tensor& t) {
  if (OnDevice(t) || t.num_bytes() == 0) return t.raw_data();
  auto d = In(t);
  if (!d.ok()) return d.status();
  void* dev = const_cast<void*>(*d);
  write_back_.push_back({t.raw_data(), dev, t.num_bytes()});
  return dev;
}

absl::StatusOr<void*> GpuScope::Out(int i, const TensorShape& shape) {
  auto t = ctx_.allocate_output(i, shape);
  if (!t.ok()) return t.status();
  return WriteTo(**t);
}

absl::StatusOr<void*> GpuScope::Temp(size_t bytes) { return AllocDevice(bytes); }

absl::Status GpuScope::Check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("node '", ctx_.node().name(), "' (", ctx_.node().op(),
                                          "): ", what, ": ", cudaGetErrorName(err), ": ",
                                          cudaGetErrorString(err)));
}

absl::Status GpuScope::Finish() {
  // finished_ only once the stream has been waited for: on an early return the destructor
  // still synchronises before the staged host buffers can be freed.
  for (const Staged& s : write_back_) {
    absl::Status st =
        Check(cudaMemcpyAsync(s.host, s.device, s.bytes, cudaMemcpyDeviceToHost, stream()),
              "copying an output back to the host");
    if (!st.ok()) return st;
  }
  if (staged_) {
    absl::Status st = Check(cudaStreamSynchronize(stream()), "GPU kernel");
    if (!st.ok()) return st;
  }
  finished_ = true;
  return Check(cudaGetLastError(), "GPU kernel launch");
}

absl::Status RequireFloat(OpKernelContext& ctx, int input) {
  if (ctx.input(input).dtype() != DT_FLOAT) {
    return ctx.Error(absl::StrCat("the GPU kernel supports float32 only, got ",
                                  DataTypeName(ctx.input(input).dtype())));
  }
  return absl::OkStatus();
}

absl::Status RequireHostInput(const OpKernelContext& ctx, int i, const char* what) {
  const Tensor& t = ctx.input(i);
  if (t.allocator() != nullptr && !t.allocator()->host_accessible()) {
    return ctx.Error(absl::StrCat(what, " (input ", i,
                                  ") must be in host memory (HostMemory arg) "
                                  "but arrived in ",
                                  t.allocator()->Name()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> GpuHostInts(const OpKernelContext& ctx, int i,
                                                 const char* what, int want_rank) {
  absl::Status s = RequireHostInput(ctx, i, what);
  if (!s.ok()) return s;
  return array_kernels::HostInts(ctx, i, what, want_rank);
}

absl::StatusOr<int64_t> GpuHostScalar(const OpKernelContext& ctx, int i, const char* what) {
  absl::Status s = RequireHostInput(ctx, i, what);
  if (!s.ok()) return s;
  return array_kernels::HostScalar(ctx, i, what);
}

absl::Status GatherInputToOutput(OpKernelContext& ctx, const index::StridedIndexer& ix,
                                 const TensorShape& shape, const char* what) {
  GpuScope g(ctx);
  RETURN_IF_ERROR(g.Init());
  ASSIGN_OR_RETURN(const void* in, g.In(0));
  ASSIGN_OR_RETURN(void* out, g.Out(0, shape));
  RETURN_IF_ERROR(
      g.Check(LaunchGather(in, out, DataTypeSize(ctx.input(0).dtype()), ix, g.stream()), what));
  return g.Finish();
}

}  // namespace cuda
}  // namespace quiver
