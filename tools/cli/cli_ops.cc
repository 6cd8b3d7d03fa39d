// quiver ops [--op NAME ...] [--device cpu|gpu] [--missing] [--format text|json]: the op
// catalogue of this build, like `tf.raw_ops`, with the kernels each device type has (dtypes)
// and whether the op is differentiable. GPU kernels are listed whenever the build has the CUDA
// device, whether or not this machine has a GPU.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/cpu/kernels/array_kernel_util.h"
#include "devices/kernel.h"
#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "tools/cli/cli_util.h"
#include "tools/cli/commands.h"
#ifdef QUIVER_WITH_CUDA
#include "devices/cuda/cuda_device.h"
#endif

namespace quiver::cli {
namespace {

struct OpRow {
  std::string op;
  std::map<std::string, std::set<std::string>> dtypes;  // device type -> dtype names ("any")
  std::string gradient;                                 // "yes", "none" or "-"
};

std::string GradientOf(const std::string& op) {
  bool no_gradient = false;
  const GradFn* fn = GradientRegistry::Global().Find(op, &no_gradient);
  if (fn != nullptr) return "yes";
  return no_gradient ? "none" : "-";
}

std::vector<OpRow> Catalogue() {
  std::map<std::string, OpRow> rows;
  for (const std::string& op : OpRegistry::Global().ListOps()) rows[op].op = op;
  for (const KernelRegistry::Entry& e : KernelRegistry::Global().List()) {
    OpRow& row = rows[e.op];
    row.op = e.op;
    std::set<std::string>& types = row.dtypes[e.device_type];
    if (e.allowed_types.empty()) types.insert("any");
    for (DataType t : e.allowed_types) types.insert(DataTypeName(t));
  }
  std::vector<OpRow> out;
  for (auto& [name, row] : rows) {
    row.gradient = GradientOf(name);
    out.push_back(std::move(row));
  }
  return out;
}

std::string Types(const OpRow& row, const std::string& device_type) {
  auto it = row.dtypes.find(device_type);
  if (it == row.dtypes.end()) return "-";
  if (it->second.count("any")) return "any";
  // The data-movement kernels take every dtype: say so instead of listing 13 names.
  std::set<std::string> all;
  for (DataType t : array_kernels::AllTypes()) all.insert(DataTypeName(t));
  if (it->second == all) return "all";
  return absl::StrJoin(it->second, ",");
}

}  // namespace

int OpsMain(const std::vector<std::string>& argv) {
  const std::string cmd = "ops";
  Args args;
  absl::Status parsed = ParseArgs(argv, {"op", "device", "format"}, {"missing"}, &args);
  if (!parsed.ok()) return Fail(cmd, kExitUsage, parsed);
  if (!args.positional.empty()) return Fail(cmd, kExitUsage, "takes no positional arguments");
  const std::string format = args.Get("format", "text");
  if (format != "text" && format != "json") {
    return Fail(cmd, kExitUsage, "--format must be text or json");
  }
  std::string device = absl::AsciiStrToUpper(args.Get("device", ""));
  if (!device.empty() && device != kCpu && device != kGpu) {
    return Fail(cmd, kExitUsage, "--device must be cpu or gpu");
  }
  if (args.Has("missing") && device.empty()) {
    return Fail(cmd, kExitUsage, "--missing needs --device: the ops without a kernel there");
  }
#ifdef QUIVER_WITH_CUDA
  cuda::RegisterPendingGpuKernels();  // lists the GPU kernels; adds no device
  const bool gpu_built = true;
#else
  const bool gpu_built = false;
#endif

  std::vector<OpRow> rows = Catalogue();
  std::set<std::string> wanted(args.All("op").begin(), args.All("op").end());
  for (const std::string& op : wanted) {
    bool known = false;
    for (const OpRow& r : rows) known |= r.op == op;
    if (!known) return Fail(cmd, kExitUsage, absl::StrCat("unknown op '", op, "'"));
  }
  std::vector<OpRow> shown;
  for (OpRow& r : rows) {
    if (!wanted.empty() && !wanted.count(r.op)) continue;
    const bool has = !device.empty() && r.dtypes.count(device) > 0;
    if (!device.empty() && args.Has("missing") == has) continue;
    shown.push_back(std::move(r));
  }

  if (format == "json") {
    std::vector<std::string> items;
    for (const OpRow& r : shown) {
      std::vector<std::string> kernels;
      for (const auto& [dev, types] : r.dtypes) {
        std::vector<std::string> quoted;
        for (const std::string& t : types) quoted.push_back(absl::StrCat("\"", t, "\""));
        kernels.push_back(absl::StrCat("\"", dev, "\": [", absl::StrJoin(quoted, ", "), "]"));
      }
      items.push_back(absl::StrCat("{\"op\": \"", JsonEscape(r.op), "\", \"kernels\": {",
                                   absl::StrJoin(kernels, ", "), "}, \"gradient\": \"", r.gradient,
                                   "\"}"));
    }
    std::printf("{\"gpu_kernels_built\": %s, \"ops\": [\n  %s\n]}\n", gpu_built ? "true" : "false",
                absl::StrJoin(items, ",\n  ").c_str());
    return kExitOk;
  }
  // Columns as wide as their widest cell.
  size_t w_op = 2, w_cpu = 17, w_gpu = 17;
  for (const OpRow& r : shown) {
    w_op = std::max(w_op, r.op.size());
    w_cpu = std::max(w_cpu, Types(r, kCpu).size());
    w_gpu = std::max(w_gpu, Types(r, kGpu).size());
  }
  auto line = [&](const std::string& a, const std::string& b, const std::string& c,
                  const std::string& d) {
    std::printf("%-*s  %-*s  %-*s  %s\n", static_cast<int>(w_op), a.c_str(),
                static_cast<int>(w_cpu), b.c_str(), static_cast<int>(w_gpu), c.c_str(), d.c_str());
  };
  line("op", "CPU kernel dtypes", "GPU kernel dtypes", "gradient");
  int cpu = 0, gpu = 0;
  for (const OpRow& r : shown) {
    line(r.op, Types(r, kCpu), Types(r, kGpu), r.gradient);
    cpu += r.dtypes.count(kCpu) > 0;
    gpu += r.dtypes.count(kGpu) > 0;
  }
  std::printf(
      "\n%zu ops: %d with a CPU kernel, %d with a GPU kernel%s.\nall: every dtype "
      "but string; gradient: yes, none (declared not differentiable) or - "
      "(differentiating it is an error)\n",
      shown.size(), cpu, gpu, gpu_built ? "" : " (this build has no CUDA device)");
  return kExitOk;
}

}  // namespace quiver::cli
