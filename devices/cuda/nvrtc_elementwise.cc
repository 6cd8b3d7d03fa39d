#include "devices/cuda/nvrtc_elementwise.h"

#include <nvrtc.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/cuda/cuda_device.h"

namespace quiver {
namespace cuda {

using elementwise::BroadcastLayout;
using elementwise::kMaxInputs;
using elementwise::Program;

absl::StatusOr<std::string> FusedElementTypeName(DataType dtype) {
  switch (dtype) {
    case DT_FLOAT:
      return std::string("float");
    case DT_DOUBLE:
      return std::string("double");
    default:
      return absl::UnimplementedError(
          absl::StrCat("the generated GPU _FusedElementwise kernel supports float and double, not ",
                       DataTypeName(dtype)));
  }
}

absl::Status PlanFusedArgs(const std::vector<std::vector<int64_t>>& shapes,
                           std::vector<int64_t>* out_dims, FusedElementwiseArgs* args) {
  auto layout = std::make_unique<BroadcastLayout>();
  absl::Status s = elementwise::PlanBroadcast(shapes, out_dims, layout.get());
  if (!s.ok()) return s;
  *args = FusedElementwiseArgs();
  args->n = layout->num_elements;
  args->rank = layout->rank;
  for (int d = 0; d < layout->rank; ++d) args->out_dims[d] = layout->out_dims[d];
  for (size_t i = 0; i < shapes.size(); ++i) {
    int64_t count = 1;
    for (int64_t d : shapes[i]) count *= d;
    if (count == args->n) {
      args->mode[i] = FusedElementwiseArgs::kFull;
    } else if (count == 1) {
      args->mode[i] = FusedElementwiseArgs::kScalar;
    } else {
      args->mode[i] = FusedElementwiseArgs::kStrided;
      args->any_strided = 1;
      for (int d = 0; d < layout->rank; ++d) args->strides[i][d] = layout->strides[i][d];
    }
  }
  return absl::OkStatus();
}

std::string FusedElementwiseSource(const Program& p, const std::string& type) {
  const int n = p.num_inputs;
  const int kRank = BroadcastLayout::kMaxRank;
  std::string s = absl::StrCat("// quiver _FusedElementwise<", type, ">: [",
                               absl::StrJoin(elementwise::ToStrings(p), ", "), "]\n");
  // Mirrors FusedElementwiseArgs (same member order and types; LP64 on host and device).
  absl::StrAppend(&s, "struct QuiverFusedArgs {\n", "  const ", type, "* in[", kMaxInputs, "];\n  ",
                  type, "* out;\n  long long n;\n  int rank;\n  int any_strided;\n", "  int mode[",
                  kMaxInputs, "];\n  long long out_dims[", kRank, "];\n", "  long long strides[",
                  kMaxInputs, "][", kRank, "];\n};\n",
                  "static_assert(sizeof(QuiverFusedArgs) == ", sizeof(FusedElementwiseArgs),
                  ", \"QuiverFusedArgs must match the host's FusedElementwiseArgs\");\n\n");
  // The expression, as the CPU's reference C rendering of the program.
  absl::StrAppend(&s, "static __device__ __forceinline__ ", type, " quiver_fused_eval(");
  for (int i = 0; i < n; ++i) absl::StrAppend(&s, i ? ", " : "", "const ", type, " in", i);
  absl::StrAppend(&s, ") {\n", elementwise::ToCSource(p, type), "}\n\n");
  // One input's element at flat output position i (idx: the output multi-index, valid when
  // any input is strided). The dim loops run to the fixed max rank, unrolled, so that idx
  // stays in registers instead of local memory.
  absl::StrAppend(&s, "static __device__ __forceinline__ ", type,
                  " quiver_load(const QuiverFusedArgs& a, int k, long long i, "
                  "const long long* idx) {\n"
                  "  if (a.mode[k] == 0) return a.in[k][i];\n"
                  "  if (a.mode[k] == 1) return a.in[k][0];\n"
                  "  long long o = 0;\n"
                  "#pragma unroll\n"
                  "  for (int d = 0; d < ",
                  kRank,
                  "; ++d) {\n"
                  "    if (d < a.rank) o += idx[d] * a.strides[k][d];\n"
                  "  }\n"
                  "  return a.in[k][o];\n}\n\n");
  absl::StrAppend(&s, "extern \"C\" __global__ void ", kFusedKernelName,
                  "(const QuiverFusedArgs a) {\n"
                  "  const long long step = (long long)gridDim.x * blockDim.x;\n"
                  "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; "
                  "i < a.n; i += step) {\n"
                  "    long long idx[",
                  kRank,
                  "];\n"
                  "    if (a.any_strided) {\n"
                  "      long long rem = i;\n"
                  "#pragma unroll\n"
                  "      for (int d = ",
                  kRank - 1,
                  "; d >= 0; --d) {\n"
                  "        if (d < a.rank) {\n"
                  "          const long long q = rem / a.out_dims[d];\n"
                  "          idx[d] = rem - q * a.out_dims[d];\n"
                  "          rem = q;\n"
                  "        }\n"
                  "      }\n"
                  "    }\n");
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&s, "    const ", type, " v", i, " = quiver_load(a, ", i, ", i, idx);\n");
  }
  absl::StrAppend(&s, "    a.out[i] = quiver_fused_eval(");
  for (int i = 0; i < n; ++i) absl::StrAppend(&s, i ? ", " : "", "v", i);
  absl::StrAppend(&s, ");\n  }\n}\n");
  return s;
}

namespace {

absl::Status NvrtcStatus(nvrtcResult r, const char* what) {
  if (r == NVRTC_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("NVRTC ", what, ": ", nvrtcGetErrorString(r)));
}

}  // namespace

absl::StatusOr<std::vector<char>> CompileCudaSource(const std::string& source,
                                                    const std::string& name, int arch, bool ptx) {
  nvrtcProgram prog = nullptr;
  absl::Status s = NvrtcStatus(
      nvrtcCreateProgram(&prog, source.c_str(), name.c_str(), 0, nullptr, nullptr), "create");
  if (!s.ok()) return s;
  // Precise math (no --use_fast_math): results must agree with the CPU kernel within float
  // tolerance. A real sm_XX target yields a CUBIN, which needs no driver JIT.
  const std::string arch_opt = absl::StrCat("--gpu-architecture=", ptx ? "compute_" : "sm_", arch);
  const char* opts[] = {arch_opt.c_str(), "--std=c++17", "-default-device"};
  const nvrtcResult cr = nvrtcCompileProgram(prog, 3, opts);
  size_t log_size = 0;
  std::string log;
  if (nvrtcGetProgramLogSize(prog, &log_size) == NVRTC_SUCCESS && log_size > 1) {
    log.resize(log_size);
    nvrtcGetProgramLog(prog, log.data());
    log.resize(log_size - 1);  // the trailing NUL
  }
  std::vector<char> image;
  if (cr != NVRTC_SUCCESS) {
    s = absl::InvalidArgumentError(absl::StrCat("NVRTC could not compile ", name, " for ", arch_opt,
                                                ": ", nvrtcGetErrorString(cr), "\n", log));
  } else {
    size_t size = 0;
    s = NvrtcStatus(ptx ? nvrtcGetPTXSize(prog, &size) : nvrtcGetCUBINSize(prog, &size),
                    "image size");
    if (s.ok()) {
      image.resize(size);
      s = NvrtcStatus(ptx ? nvrtcGetPTX(prog, image.data()) : nvrtcGetCUBIN(prog, image.data()),
                      "image");
    }
    if (s.ok() && image.empty()) s = absl::InternalError("NVRTC returned an empty image");
  }
  nvrtcDestroyProgram(&prog);
  if (!s.ok()) return s;
  return image;
}

namespace {

// The newest arch this NVRTC can target that is <= `arch`, or 0 if none.
int NewestNvrtcArchUpTo(int arch) {
  int num = 0;
  if (nvrtcGetNumSupportedArchs(&num) != NVRTC_SUCCESS || num <= 0) return 0;
  std::vector<int> archs(static_cast<size_t>(num));
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS) return 0;
  int best = 0;
  for (int a : archs) {
    if (a <= arch && a > best) best = a;
  }
  return best;
}

}  // namespace

int DeviceArch(int ordinal) {
  if (GpuCount() == 0) return kDefaultArch;
  // Asked on every launch: remembered per ordinal (a device's arch never changes).
  static std::atomic<int> known[64] = {};
  const bool cacheable = ordinal >= 0 && ordinal < 64;
  if (cacheable) {
    if (const int a = known[ordinal].load(std::memory_order_relaxed); a > 0) return a;
  }
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ordinal) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, ordinal) != cudaSuccess) {
    cudaGetLastError();  // do not leave the error for the next kernel's check
    return kDefaultArch;
  }
  if (cacheable) known[ordinal].store(major * 10 + minor, std::memory_order_relaxed);
  return major * 10 + minor;
}

// ---- FusedKernel ---------------------------------------------------------------------------

absl::StatusOr<cudaKernel_t> FusedKernel::Kernel() const {
  std::lock_guard<std::mutex> lock(load_mu_);
  if (!loaded_) {
    loaded_ = true;
    cudaError_t err =
        cudaLibraryLoadData(&library_, cubin_.data(), nullptr, nullptr, 0, nullptr, nullptr, 0);
    if (err == cudaSuccess) err = cudaLibraryGetKernel(&kernel_, library_, kFusedKernelName);
    if (err != cudaSuccess) {
      cudaGetLastError();
      load_status_ =
          absl::InternalError(absl::StrCat("loading the generated kernel for ", key_, ": ",
                                           cudaGetErrorName(err), ": ", cudaGetErrorString(err)));
    }
  }
  if (!load_status_.ok()) return load_status_;
  return kernel_;
}

absl::Status FusedKernel::Launch(const FusedElementwiseArgs& args, cudaStream_t stream) const {
  if (args.n <= 0) return absl::OkStatus();
  absl::StatusOr<cudaKernel_t> k = Kernel();
  if (!k.ok()) return k.status();
  constexpr long long kThreads = 256;
  // The grid-stride loop covers the rest; 4096 blocks fill any current GPU many times over.
  const long long blocks = std::min<long long>((args.n + kThreads - 1) / kThreads, 4096);
  FusedElementwiseArgs a = args;  // cudaLaunchKernel copies from these addresses
  void* params[] = {&a};
  const cudaError_t err =
      cudaLaunchKernel(reinterpret_cast<const void*>(*k), dim3(static_cast<unsigned>(blocks)),
                       dim3(static_cast<unsigned>(kThreads)), params, 0, stream);
  return CudaStatus(err, "launching the generated _FusedElementwise kernel");
}

// ---- FusedKernelCache ----------------------------------------------------------------------

std::string FusedKernelKey(const Program& p, DataType dtype, int arch) {
  return absl::StrCat(DataTypeName(dtype), "|sm_", arch, "|", p.num_inputs, "|",
                      absl::StrJoin(elementwise::ToStrings(p), ";"));
}

FusedKernelCache& FusedKernelCache::Global() {
  static FusedKernelCache* cache = new FusedKernelCache();  // never destroyed: see Launch
  return *cache;
}

absl::StatusOr<std::shared_ptr<const FusedKernel>> FusedKernelCache::Get(const Program& p,
                                                                         DataType dtype, int arch) {
  absl::StatusOr<std::string> type = FusedElementTypeName(dtype);
  if (!type.ok()) return type.status();
  const std::string key = FusedKernelKey(p, dtype, arch);
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<Entry>& e = entries_[key];
    if (e == nullptr) e = std::make_shared<Entry>();
    entry = e;
  }
  // Per-entry lock: other programs compile concurrently, the same one compiles once.
  std::lock_guard<std::mutex> lock(entry->mu);
  if (!entry->done) {
    entry->done = true;
    {
      std::lock_guard<std::mutex> count_lock(mu_);
      ++compiles_;
    }
    std::string source = FusedElementwiseSource(p, *type);
    absl::StatusOr<std::vector<char>> cubin =
        CompileCudaSource(source, "quiver_fused_elementwise.cu", arch, /*ptx=*/false);
    if (!cubin.ok()) {
      // A GPU newer than this NVRTC: PTX for the newest arch NVRTC knows, which the (newer)
      // driver JIT-compiles at load. SASS is preferred otherwise: PTX from an NVRTC newer
      // than the driver would not load.
      const int fallback = NewestNvrtcArchUpTo(arch);
      if (fallback > 0 && fallback != arch) {
        auto ptx = CompileCudaSource(source, "quiver_fused_elementwise.cu", fallback, true);
        if (ptx.ok()) cubin = std::move(ptx);
      }
    }
    if (cubin.ok()) {
      entry->result = std::shared_ptr<const FusedKernel>(
          new FusedKernel(key, std::move(source), arch, *std::move(cubin)));
    } else {
      entry->result = cubin.status();
    }
  }
  return entry->result;
}

absl::StatusOr<std::shared_ptr<const FusedKernel>> FusedKernelCache::Get(
    int num_inputs, const std::vector<std::string>& program, DataType dtype, int arch) {
  absl::StatusOr<Program> p = elementwise::Parse(num_inputs, program);
  if (!p.ok()) return p.status();
  return Get(*p, dtype, arch);
}

size_t FusedKernelCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

int64_t FusedKernelCache::compiles() const {
  std::lock_guard<std::mutex> lock(mu_);
  return compiles_;
}

}  // namespace cuda
}  // namespace quiver
