// quiver bench GRAPH --fetch NAME [--feed NAME=FILE.npy ...] [--target NODE ...]
//                    [--init NODE ...] [--iters N] [--warmup N] [--profile-iters N] [--top K]
//                    [--inter-op-threads N] [--intra-op-threads N] [--max-seconds S]
//                    [--optimize-level 0|1] [--disable PASS ...] [--format text|json]
//                    [--restore CHECKPOINT]
// Like TensorFlow's benchmark_model: latency percentiles over timed runs, a per-op time table
// from profiled runs (one per timed run unless --profile-iters says otherwise), the peak tensor
// memory of a run and the process's peak resident memory above its level before the first run.
// --init runs the given targets once before warm-up (a training graph's variable initializer).
// --restore sets the variables from a TF or Quiver checkpoint first (as `quiver run`).
// --max-seconds stops the timed runs once they have taken that long (after at least 3).
// GRAPH may be a SavedModel directory: its signature is timed (--tags, --signature, as `run`).
// --optimize-level 0 times the graph as given; the default (1) is what a Session does: the
// optimization pipeline (folding, fusion, ...) runs first; --disable PASS leaves one pass out.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "runtime/session.h"
#include "runtime/tf_checkpoint.h"
#include "tools/cli/cli_model.h"
#include "tools/cli/cli_util.h"
#include "tools/cli/commands.h"

namespace quiver::cli {
namespace {

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), or -1 where there is none.
int64_t ProcStatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1) * 1024;
  }
  return -1;
}

// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; false where that is refused.
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

int BenchMain(const std::vector<std::string>& argv) {
  const std::string cmd = "bench";
  Args args;
  absl::Status parsed =
      ParseArgs(argv,
                {"feed", "fetch", "target", "init", "iters", "warmup", "profile-iters", "top",
                 "format", "inter-op-threads", "intra-op-threads", "max-seconds", "optimize-level",
                 "restore", "disable", "tags", "signature"},
                {}, &args);
  if (!parsed.ok()) return Fail(cmd, kExitUsage, parsed);
  if (args.positional.size() != 1) return Fail(cmd, kExitUsage, "expected exactly one GRAPH file");
  int iters = std::atoi(args.Get("iters", "50").c_str());
  int warmup = std::atoi(args.Get("warmup", "5").c_str());
  int top = std::atoi(args.Get("top", "10").c_str());
  int profile_iters = std::atoi(args.Get("profile-iters", std::to_string(iters)).c_str());
  std::string format = args.Get("format", "text");
  const double max_seconds = std::atof(args.Get("max-seconds", "0").c_str());
  if (iters < 1 || warmup < 0 || top < 1 || profile_iters < 0) {
    return Fail(cmd, kExitUsage,
                "--iters and --top must be >= 1, --warmup and --profile-iters >= 0");
  }
  if (format != "text" && format != "json")
    return Fail(cmd, kExitUsage, "--format must be text or json");
  std::vector<Session::Feed> feeds;
  for (const std::string& f : args.All("feed")) {
    size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail(cmd, kExitUsage, "--feed must be NAME=FILE.npy");
    auto t = ReadNpyFile(f.substr(eq + 1));
    if (!t.ok())
      return Fail(cmd, kExitBadInput,
                  absl::StrCat("feed '", f.substr(0, eq), "': ", t.status().message()));
    feeds.emplace_back(f.substr(0, eq), *std::move(t));
  }
  SessionOptions options;
  if (args.Has("optimize-level")) {
    const std::string level = args.Get("optimize-level");
    if (level != "0" && level != "1")
      return Fail(cmd, kExitUsage, "--optimize-level must be 0 or 1");
    options.optimizer.level = std::atoi(level.c_str());
  }
  if (absl::Status s = ParseDisabledPasses(args, &options.optimizer.disabled_passes); !s.ok()) {
    return Fail(cmd, kExitUsage, s);
  }
  if (args.Has("inter-op-threads"))
    options.inter_op_threads = std::atoi(args.Get("inter-op-threads").c_str());
  if (args.Has("intra-op-threads"))
    options.intra_op_threads = std::atoi(args.Get("intra-op-threads").c_str());
  if (options.inter_op_threads < 0 || options.intra_op_threads < 0) {
    return Fail(cmd, kExitUsage, "--inter-op-threads and --intra-op-threads must be >= 0");
  }
  // A SavedModel benchmarks its signature (--signature, --tags), a GraphDef the --fetch list.
  auto model = OpenModel(args, options, &feeds);
  if (!model.ok()) return Fail(cmd, OpenModelExitCode(model.status()), model.status());
  Session* session = model->session;
  if (args.Has("restore")) {
    if (absl::Status r = RestoreAnyCheckpoint(*session, args.Get("restore")); !r.ok())
      return Fail(cmd, kExitBadInput, absl::StrCat("--restore: ", r.message()));
  }

  // Resident memory: the level after loading and session creation, then the peak above it
  // over warm-up and timed runs (first-run allocations, primitive caches and all).
  const bool hwm_reset = ResetPeakRss();
  const int64_t rss_baseline = ProcStatusBytes("VmRSS");
  double init_ms = 0;
  if (!args.All("init").empty()) {
    auto start = std::chrono::steady_clock::now();
    if (auto r = session->Run(feeds, {}, args.All("init")); !r.ok()) {
      return Fail(cmd, RunFailureExitCode(r.status(), kExitRunFailed), r.status());
    }
    init_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }

  auto run = [&](RunMetadata* meta) {
    return session->Run(feeds, model->fetches, args.All("target"), meta);
  };
  for (int i = 0; i < warmup; ++i) {
    if (auto r = run(nullptr); !r.ok())
      return Fail(cmd, RunFailureExitCode(r.status(), kExitRunFailed), r.status());
  }
  // Timed runs (no per-node clocks), then the same number of profiled runs.
  std::vector<double> ms;
  int64_t peak = 0;
  double timed_ms = 0;
  for (int i = 0; i < iters; ++i) {
    ResetTensorMemoryPeak();
    int64_t before = GetTensorMemoryStats().current_bytes;
    auto start = std::chrono::steady_clock::now();
    auto r = run(nullptr);
    double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!r.ok()) return Fail(cmd, RunFailureExitCode(r.status(), kExitRunFailed), r.status());
    ms.push_back(elapsed);
    peak = std::max(peak, GetTensorMemoryStats().peak_bytes - before);
    timed_ms += elapsed;
    if (max_seconds > 0 && timed_ms > max_seconds * 1e3 && i >= 2) break;  // at least 3 runs
  }
  iters = static_cast<int>(ms.size());
  const int64_t rss_peak = ProcStatusBytes("VmHWM");
  const int64_t rss_delta =
      hwm_reset && rss_peak >= 0 && rss_baseline >= 0 ? rss_peak - rss_baseline : -1;
  std::map<std::string, std::pair<int64_t, int>> per_op;  // op -> (total ns, node count)
  std::map<std::string, std::pair<int64_t, std::string>> per_node;
  for (int i = 0; i < profile_iters; ++i) {
    RunMetadata meta;
    meta.collect_node_stats = true;
    if (auto r = run(&meta); !r.ok())
      return Fail(cmd, RunFailureExitCode(r.status(), kExitRunFailed), r.status());
    for (const auto& n : meta.node_stats) {
      per_op[n.op].first += n.nanos;
      per_node[n.name].first += n.nanos;
      per_node[n.name].second = n.op;
    }
  }
  for (const auto& [name, v] : per_node) per_op[v.second].second++;
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
  };
  double mean = 0;
  for (double v : ms) mean += v / ms.size();
  int64_t op_total = 0;
  for (const auto& [op, v] : per_op) op_total += v.first;
  std::vector<std::pair<std::string, std::pair<int64_t, int>>> ops(per_op.begin(), per_op.end());
  std::sort(ops.begin(), ops.end(),
            [](auto& a, auto& b) { return a.second.first > b.second.first; });
  std::vector<std::pair<std::string, std::pair<int64_t, std::string>>> nodes(per_node.begin(),
                                                                             per_node.end());
  std::sort(nodes.begin(), nodes.end(),
            [](auto& a, auto& b) { return a.second.first > b.second.first; });

  const int prof_div = std::max(1, profile_iters);
  if (format == "json") {
    std::string out = absl::StrFormat(
        "{\"iters\": %d, \"latency_ms\": {\"min\": %.4f, \"p50\": %.4f, \"p90\": %.4f, \"p99\": "
        "%.4f, "
        "\"mean\": %.4f}, \"runs_per_s\": %.2f, \"peak_tensor_bytes\": %lld, "
        "\"rss_baseline_bytes\": %lld, "
        "\"peak_rss_delta_bytes\": %lld, \"init_ms\": %.3f, \"samples_ms\": [",
        iters, sorted.front(), pct(0.5), pct(0.9), pct(0.99), mean, 1000.0 / mean,
        static_cast<long long>(peak), static_cast<long long>(rss_baseline),
        static_cast<long long>(rss_delta), init_ms);
    for (size_t i = 0; i < ms.size(); ++i)
      absl::StrAppendFormat(&out, "%s%.4f", i ? ", " : "", ms[i]);
    absl::StrAppendFormat(&out, "], \"profile_iters\": %d, \"ops\": [", profile_iters);
    for (size_t i = 0; i < ops.size() && static_cast<int>(i) < top; ++i) {
      absl::StrAppendFormat(
          &out, "%s{\"op\": \"%s\", \"nodes\": %d, \"ms_per_run\": %.4f, \"percent\": %.1f}",
          i ? ", " : "", JsonEscape(ops[i].first), ops[i].second.second,
          ops[i].second.first / 1e6 / prof_div,
          100.0 * ops[i].second.first / std::max<int64_t>(1, op_total));
    }
    out += "], \"nodes\": [";
    for (size_t i = 0; i < nodes.size() && static_cast<int>(i) < top; ++i) {
      absl::StrAppendFormat(&out, "%s{\"node\": \"%s\", \"op\": \"%s\", \"ms_per_run\": %.4f}",
                            i ? ", " : "", JsonEscape(nodes[i].first),
                            JsonEscape(nodes[i].second.second),
                            nodes[i].second.first / 1e6 / prof_div);
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return kExitOk;
  }
  std::printf("graph: %s  (%d timed runs after %d warm-up)\n", args.positional[0].c_str(), iters,
              warmup);
  std::printf("latency ms: min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  mean %.3f  (%.1f runs/s)\n",
              sorted.front(), pct(0.5), pct(0.9), pct(0.99), mean, 1000.0 / mean);
  std::printf("peak tensor memory per run: %.3f MB\n", peak / 1e6);
  if (rss_delta >= 0) {
    std::printf("peak resident memory above the pre-run level: %.3f MB (baseline %.1f MB)\n",
                rss_delta / 1e6, rss_baseline / 1e6);
  }
  std::printf("\ntop ops by kernel time (profiled runs):\n  %-28s %6s %12s %7s\n", "op", "nodes",
              "ms/run", "%");
  for (size_t i = 0; i < ops.size() && static_cast<int>(i) < top; ++i) {
    std::printf("  %-28s %6d %12.4f %6.1f%%\n", ops[i].first.c_str(), ops[i].second.second,
                ops[i].second.first / 1e6 / prof_div,
                100.0 * ops[i].second.first / std::max<int64_t>(1, op_total));
  }
  std::printf("\ntop nodes:\n");
  for (size_t i = 0; i < nodes.size() && static_cast<int>(i) < top; ++i) {
    std::printf("  %-40s %-20s %10.4f ms/run\n", nodes[i].first.c_str(),
                nodes[i].second.second.c_str(), nodes[i].second.first / 1e6 / prof_div);
  }
  return kExitOk;
}

}  // namespace quiver::cli
