// Generated CUDA kernels for _FusedElementwise: one kernel per expression program, compiled at
// run time with NVRTC and cached process-wide per (program text, dtype, GPU arch).
//
// The kernel is a grid-stride loop over the output; each input is read at the output position
// (same element count as the output), at 0 (one element), or through the per-input strides of
// the N-input broadcast plan (elementwise::PlanBroadcast, as the CPU kernel uses). The
// expression itself is elementwise::ToCSource. Compiling needs only NVRTC (no GPU, no driver);
// loading and launching use the CUDA runtime's library API (cudaLibraryLoadData,
// cudaLibraryGetKernel, cudaLaunchKernel): never the driver API, which would make the binaries
// link libcuda.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/common/elementwise_program.h"
#include "graph/types.h"

namespace quiver {
namespace cuda {

// The generated kernel's only parameter, passed by value. The generated source declares the
// same struct with typed pointers (layout checked there with a static_assert on its size).
struct FusedElementwiseArgs {
  enum Mode : int32_t { kFull = 0, kScalar = 1, kStrided = 2 };
  const void* in[elementwise::kMaxInputs] = {};
  void* out = nullptr;
  long long n = 0;
  int32_t rank = 0;
  int32_t any_strided = 0;
  int32_t mode[elementwise::kMaxInputs] = {};
  long long out_dims[elementwise::BroadcastLayout::kMaxRank] = {};
  long long strides[elementwise::kMaxInputs][elementwise::BroadcastLayout::kMaxRank] = {};
};

// Fills everything in `args` but the pointers for inputs of `shapes`: n, the collapsed output
// dims, and per input its mode (kFull when it has the output's element count, so only size-1
// dims differ and memory order matches; kScalar for one element; else kStrided with the
// PlanBroadcast strides). `out_dims`: the uncollapsed output shape. Errors as PlanBroadcast.
absl::Status PlanFusedArgs(const std::vector<std::vector<int64_t>>& shapes,
                           std::vector<int64_t>* out_dims, FusedElementwiseArgs* args);

inline constexpr const char* kFusedKernelName = "quiver_fused_elementwise";
// The arch NVRTC targets when no GPU answers (H100/H200).
inline constexpr int kDefaultArch = 90;

// "float" / "double" for the dtypes the generated kernel supports, or an Unimplemented error.
absl::StatusOr<std::string> FusedElementTypeName(DataType dtype);

// The complete CUDA C++ source of the kernel `kFusedKernelName` for `p` over `type` ("float" or
// "double"). Needs no headers (NVRTC provides expf & co.).
std::string FusedElementwiseSource(const elementwise::Program& p, const std::string& type);

// Compiles `source` with NVRTC for sm_`arch`: a CUBIN image, or with `ptx` a NUL-terminated PTX
// text for compute_`arch`. Errors carry NVRTC's log.
absl::StatusOr<std::vector<char>> CompileCudaSource(const std::string& source,
                                                    const std::string& name, int arch, bool ptx);

// The compute capability (major * 10 + minor) of GPU `ordinal`, or kDefaultArch when no GPU
// answers.
int DeviceArch(int ordinal);

// One compiled program: immutable once built, loaded into the CUDA runtime on first launch.
class FusedKernel {
 public:
  FusedKernel(std::string key, std::string source, int arch, std::vector<char> cubin)
      : key_(std::move(key)), source_(std::move(source)), arch_(arch), cubin_(std::move(cubin)) {}
  FusedKernel(const FusedKernel&) = delete;
  FusedKernel& operator=(const FusedKernel&) = delete;

  const std::string& key() const { return key_; }
  const std::string& source() const { return source_; }
  int arch() const { return arch_; }
  // The CUBIN for sm_arch, or NUL-terminated PTX for an older compute arch when this NVRTC
  // cannot target the GPU (see FusedKernelCache::Get).
  const std::vector<char>& cubin() const { return cubin_; }

  // Launches on `stream` (of the current device). Loads the library the first time; the
  // library stays loaded for the life of the process (as the cache entry does).
  absl::Status Launch(const FusedElementwiseArgs& args, cudaStream_t stream) const;

 private:
  absl::StatusOr<cudaKernel_t> Kernel() const;

  const std::string key_;
  const std::string source_;
  const int arch_;
  const std::vector<char> cubin_;
  mutable std::mutex load_mu_;
  mutable bool loaded_ = false;
  mutable absl::Status load_status_;
  mutable cudaLibrary_t library_ = nullptr;
  mutable cudaKernel_t kernel_ = nullptr;
};

// Process-wide, thread-safe: one compile per (program text, dtype, arch), however many nodes
// and sessions use it. Concurrent requests for one key compile once; a failed compile is
// remembered (the same source fails the same way).
class FusedKernelCache {
 public:
  static FusedKernelCache& Global();

  absl::StatusOr<std::shared_ptr<const FusedKernel>> Get(const elementwise::Program& p,
                                                         DataType dtype, int arch);
  // Parses the wire form first (errors name the bad instruction).
  absl::StatusOr<std::shared_ptr<const FusedKernel>> Get(int num_inputs,
                                                         const std::vector<std::string>& program,
                                                         DataType dtype, int arch);
  // Entries (compiled or failed) and compiles run so far.
  size_t size() const;
  int64_t compiles() const;

 private:
  struct Entry {
    std::mutex mu;
    bool done = false;
    absl::StatusOr<std::shared_ptr<const FusedKernel>> result = absl::UnknownError("not built");
  };
  mutable std::mutex mu_;  // guards entries_ and compiles_; compiles run under Entry::mu only
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> entries_;
  int64_t compiles_ = 0;
};

// The cache key of a program: its wire text, the input count, the dtype and the arch.
std::string FusedKernelKey(const elementwise::Program& p, DataType dtype, int arch);

}  // namespace cuda
}  // namespace quiver
