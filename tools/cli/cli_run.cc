// quiver run GRAPH --feed NAME=FILE.npy --fetch NAME[:i] [--target NODE] [--out DIR]
//                  [--format text|json] [--optimize-level 0|1] [--disable PASS ...]
//                  [--timeout-ms N] [--restore CHECKPOINT] [--init NODE ...] [--save PREFIX]
// --restore sets the graph's variables before running, from a TF Saver checkpoint (a prefix
// with PREFIX.index and PREFIX.data-*) or a Quiver checkpoint file (runtime/tf_checkpoint.h).
// --init runs those targets once first (a variable initializer); --save writes every variable
// after the run as a TF Saver checkpoint at PREFIX (TF restores it; so does --restore).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "runtime/saved_model.h"
#include "runtime/session.h"
#include "runtime/tf_checkpoint.h"
#include "tools/cli/cli_model.h"
#include "tools/cli/cli_util.h"
#include "tools/cli/commands.h"

namespace quiver::cli {
namespace {

struct Summary {
  double min = 0, max = 0, mean = 0;
};

Summary Summarize(const Tensor& t) {
  Summary s;
  int64_t n = t.num_elements();
  if (n == 0) return s;
  s.min = s.max = t.ElementAsDouble(0);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v = t.ElementAsDouble(i);
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    sum += v;
  }
  s.mean = sum / static_cast<double>(n);
  return s;
}

std::string Values(const Tensor& t, int limit) {
  std::string out;
  for (int64_t i = 0; i < std::min<int64_t>(t.num_elements(), limit); ++i) {
    if (i) out += ", ";
    out += absl::StrFormat("%.6g", t.ElementAsDouble(i));
  }
  if (t.num_elements() > limit) out += ", ...";
  return out;
}

}  // namespace

int RunMain(const std::vector<std::string>& argv) {
  const std::string cmd = "run";
  Args args;
  absl::Status parsed = ParseArgs(
      argv,
      {"feed", "fetch", "target", "out", "format", "inter-op-threads", "virtual-devices",
       "optimize-level", "timeout-ms", "restore", "disable", "init", "save", "tags", "signature"},
      {"log-device-placement"}, &args);
  if (!parsed.ok()) return Fail(cmd, kExitUsage, parsed);
  if (args.positional.size() != 1) {
    return Fail(cmd, kExitUsage, "expected exactly one GRAPH file (see 'quiver --help')");
  }
  std::string format = args.Get("format", "text");
  if (format != "text" && format != "json") {
    return Fail(cmd, kExitUsage, "--format must be text or json, got '" + format + "'");
  }

  std::vector<Session::Feed> feeds;
  for (const std::string& f : args.All("feed")) {
    size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == f.size()) {
      return Fail(cmd, kExitUsage, "--feed must be NAME=FILE.npy, got '" + f + "'");
    }
    auto t = ReadNpyFile(f.substr(eq + 1));
    if (!t.ok()) {
      return Fail(cmd, kExitBadInput,
                  absl::StrCat("feed '", f.substr(0, eq), "': ", t.status().message()));
    }
    feeds.emplace_back(f.substr(0, eq), *std::move(t));
  }

  SessionOptions options;
  if (args.Has("inter-op-threads"))
    options.inter_op_threads = std::atoi(args.Get("inter-op-threads").c_str());
  if (args.Has("virtual-devices")) {
    options.virtual_cpu_devices = std::atoi(args.Get("virtual-devices").c_str());
    if (options.virtual_cpu_devices < 0 || options.virtual_cpu_devices > 64) {
      return Fail(cmd, kExitUsage, "--virtual-devices must be between 0 and 64");
    }
  }
  options.log_device_placement = args.Has("log-device-placement");
  if (args.Has("optimize-level")) {
    options.optimizer.level = std::atoi(args.Get("optimize-level").c_str());
    if (options.optimizer.level < 0 || options.optimizer.level > 1) {
      return Fail(cmd, kExitUsage, "--optimize-level must be 0 or 1");
    }
  }
  if (absl::Status s = ParseDisabledPasses(args, &options.optimizer.disabled_passes); !s.ok()) {
    return Fail(cmd, kExitUsage, s);
  }
  RunOptions run_options;
  if (args.Has("timeout-ms")) {
    run_options.timeout_ms = std::atoll(args.Get("timeout-ms").c_str());
    if (run_options.timeout_ms <= 0) return Fail(cmd, kExitUsage, "--timeout-ms must be > 0");
  }
  // A SavedModel serves a signature (its variables restored); a GraphDef runs as given.
  auto model = OpenModel(args, options, &feeds);
  if (!model.ok()) return Fail(cmd, OpenModelExitCode(model.status()), model.status());
  Session* session = model->session;
  const std::vector<std::string>& fetches = model->fetches;
  const std::vector<std::string>& labels = model->labels;
  if (args.Has("restore")) {
    if (absl::Status r = RestoreAnyCheckpoint(*session, args.Get("restore")); !r.ok())
      return Fail(cmd, kExitBadInput, absl::StrCat("--restore: ", r.message()));
  }

  if (!args.All("init").empty()) {
    if (auto r = session->Run(run_options, feeds, {}, args.All("init"), nullptr); !r.ok()) {
      return Fail(cmd, RunFailureExitCode(r.status(), kExitRunFailed),
                  absl::StrCat("--init: ", r.status().message()));
    }
  }
  auto outputs = session->Run(run_options, feeds, fetches, args.All("target"), nullptr);
  if (!outputs.ok()) {
    absl::StatusCode code = outputs.status().code();
    bool input_problem =
        code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound;
    return Fail(
        cmd, RunFailureExitCode(outputs.status(), input_problem ? kExitBadInput : kExitRunFailed),
        outputs.status());
  }

  if (args.Has("save")) {
    if (absl::Status s = SaveTfCheckpoint(*session, args.Get("save")); !s.ok()) {
      return Fail(cmd, kExitIoError, absl::StrCat("--save: ", s.message()));
    }
  }

  std::string out_dir = args.Get("out");
  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec)
      return Fail(cmd, kExitIoError,
                  "cannot create --out directory '" + out_dir + "': " + ec.message());
  }
  std::string json = "{\"outputs\": [";
  for (size_t i = 0; i < fetches.size(); ++i) {
    const Tensor& t = (*outputs)[i];
    std::string path;
    if (!out_dir.empty()) {
      path = (std::filesystem::path(out_dir) / (TensorFileName(labels[i]) + ".npy")).string();
      absl::Status w = WriteNpyFile(t, path);
      if (!w.ok()) return Fail(cmd, kExitIoError, w);
    }
    Summary s = Summarize(t);
    if (format == "text") {
      std::printf("%s: %s %s  min=%.6g max=%.6g mean=%.6g  [%s]%s\n", labels[i].c_str(),
                  DataTypeName(t.dtype()).c_str(), t.shape().DebugString().c_str(), s.min, s.max,
                  s.mean, Values(t, 6).c_str(), path.empty() ? "" : (" -> " + path).c_str());
    } else {
      if (i) json += ", ";
      json += absl::StrFormat(
          "{\"name\": \"%s\", \"dtype\": \"%s\", \"shape\": [%s], \"min\": %.9g, \"max\": %.9g, "
          "\"mean\": %.9g, \"file\": %s}",
          JsonEscape(labels[i]), DataTypeName(t.dtype()),
          [&] {
            std::string dims;
            for (int d = 0; d < t.rank(); ++d) absl::StrAppend(&dims, d ? ", " : "", t.dim(d));
            return dims;
          }(),
          s.min, s.max, s.mean,
          path.empty() ? std::string("null") : absl::StrCat("\"", JsonEscape(path), "\""));
    }
  }
  if (format == "json") std::printf("%s]}\n", json.c_str());
  return kExitOk;
}

}  // namespace quiver::cli
