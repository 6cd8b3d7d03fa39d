// Session: runs a graph with feed_dict-style inputs, TF1 style.
//
//   quiver::Session session(graph, options);
//   auto outs = session.Run({{"x", x_tensor}}, {"y:0"}, {"train_step"});
//
// The session keeps its own copy of the graph; variables live in the session and persist
// across Run calls. Compiled executables are cached per (feeds, fetches, targets) signature.
// Run may be called from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/tensor.h"
#include "proto/graph.pb.h"
#include "runtime/run_options.h"

namespace quiver {

struct SessionOptions {
  // Threads for running independent nodes concurrently (0: a quarter of the cores, at
  // least 1, the caller's thread included).
  int inter_op_threads = 0;
  // OpenMP threads each oneDNN kernel may use (0: cores / inter-op threads, so that the two
  // never oversubscribe the cores).
  int intra_op_threads = 0;
  // Fall back to a device that has a kernel when the requested one is absent (TF's
  // allow_soft_placement). Without it a "/gpu:0" request on a machine with no GPU is an error.
  bool allow_soft_placement = true;
  // Prints the placement report (every node's device and why) when the session is created.
  bool log_device_placement = false;
  // Extra logical CPU devices (CPU:1..CPU:N) that placement may use, like TF's virtual devices.
  // Each device has its own allocator, so crossing devices is a real copy.
  int virtual_cpu_devices = 0;
  // false: CPU devices only, even where GPUs answer (TF's device_count={"GPU": 0}).
  bool use_accelerators = true;

  // The graph optimization pipeline (PassManager::Default), run per Run signature before
  // placement: level 0 runs nothing, 1 every pass not listed in `disabled_passes` (names as in
  // PassManager::DefaultPassNames; an unknown name fails the Run that compiles). Fed tensors,
  // fetches, targets, variables, stateful and random ops are never folded or removed.
  struct Optimizer {
    int level = 1;
    std::vector<std::string> disabled_passes;
  } optimizer;
  // With the optimizer on, a Run signature is compiled for the shapes its Placeholders are fed
  // (as XLA compiles per shape), so that shape arithmetic (Shape, Size, the gradients'
  // BroadcastGradientArgs and Reshape sizes) folds into constants and never runs, and a GPU
  // step moves nothing but its feeds and fetches. Each signature gets at most this many
  // shape-specialised executables; its further shapes share one compiled for any shape.
  // 0: never specialise.
  int max_shape_specializations = 8;
  // false: keep every intermediate tensor until the step ends and never compute in place,
  // the baseline against which memory planning's peak is measured.
  bool reuse_buffers = true;

  // Resource limits, checked before allocating (ResourceExhausted naming node, op, shape,
  // bytes and the limit). max_tensor_bytes caps one tensor a kernel allocates (0: none);
  // the default, 16 GiB, refuses absurd declared shapes without touching real models.
  int64_t max_tensor_bytes = int64_t{16} << 30;
  // Caps the bytes held at once by each device's allocator of this session (intermediates,
  // variables, fetched results still alive). 0: no cap beyond what the OS grants.
  int64_t max_total_bytes = 0;
};

struct RunMetadata {
  // Input: also time every node (like TF's RunOptions.trace_level), filling node_stats.
  bool collect_node_stats = false;
  struct NodeStats {
    std::string name, op, device;
    int64_t nanos = 0;
  };
  std::vector<NodeStats> node_stats;
  int64_t nodes_executed = 0;
  // Cross-device copies the step executed (one per producer output and destination device)
  // and the bytes they moved.
  int64_t transfers = 0;
  int64_t transfer_bytes = 0;
  // Per device of the session, after the step: bytes its allocator holds now and its peak
  // since the session was created.
  struct DeviceMemory {
    std::string device;  // full name
    std::string allocator;
    int64_t bytes_in_use = 0;
    int64_t peak_bytes_in_use = 0;
    int64_t bytes_limit = 0;  // 0: none
  };
  std::vector<DeviceMemory> device_memory;
};

class SessionImpl;

class Session {
 public:
  // Copies `graph` (later changes to it are not seen; build a new Session or call Extend).
  static absl::StatusOr<std::unique_ptr<Session>> Create(const Graph& graph,
                                                         const SessionOptions& options = {});
  static absl::StatusOr<std::unique_ptr<Session>> Create(const tensorflow::GraphDef& graph_def,
                                                         const SessionOptions& options = {});
  ~Session();

  // Replaces the session's graph with a newer version of it (nodes added since). Variables
  // keep their values; cached executables are dropped.
  absl::Status Extend(const Graph& graph);

  using Feed = std::pair<std::string, Tensor>;
  // feeds: tensor names ("x", "x:0") with values; fetches: tensor names; targets: node names
  // run for their side effects. Returns the fetched tensors in order.
  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Feed>& feeds,
                                          const std::vector<std::string>& fetches,
                                          const std::vector<std::string>& targets = {},
                                          RunMetadata* metadata = nullptr);
  // The same with a deadline and/or a cancellation token (runtime/run_options.h): the step
  // returns DeadlineExceeded or Cancelled, frees its memory, and the session stays usable.
  // No defaults (metadata may be nullptr), so that calls like Run({}, {}, {"t"}) stay
  // unambiguous.
  absl::StatusOr<std::vector<Tensor>> Run(const RunOptions& run_options,
                                          const std::vector<Feed>& feeds,
                                          const std::vector<std::string>& fetches,
                                          const std::vector<std::string>& targets,
                                          RunMetadata* metadata);

  // A prepared Run signature (TF's Session::MakeCallable): names are resolved and checked
  // once, the executable compiled on first use, so RunCallable skips the per-call name
  // parsing and signature lookup of Run. Feeds are values in the order of `feeds`; results
  // come in the order of `fetches`. A handle stays valid until released or Extend.
  // With `results_may_alias_feeds`, a result may share a feed's buffer instead of being a
  // copy (Run copies, since a caller may write its feed afterwards): for callers that never
  // do, like a loop feeding one iteration's results to the next.
  using CallableHandle = int64_t;
  absl::StatusOr<CallableHandle> MakeCallable(const std::vector<std::string>& feeds,
                                              const std::vector<std::string>& fetches,
                                              const std::vector<std::string>& targets = {},
                                              bool results_may_alias_feeds = false);
  absl::StatusOr<std::vector<Tensor>> RunCallable(CallableHandle handle,
                                                  const std::vector<Tensor>& feeds,
                                                  const RunOptions& run_options = {});
  // The same, taking the feeds over: a feed's buffer that nothing else holds may then be
  // reused in place by the ops that read it (a loop hands one iteration's values to the next
  // this way, so a list written every iteration is never copied). `feeds` is left unspecified.
  absl::StatusOr<std::vector<Tensor>> RunCallable(CallableHandle handle,
                                                  std::vector<Tensor>&& feeds,
                                                  const RunOptions& run_options = {});
  absl::Status ReleaseCallable(CallableHandle handle);

  // The session's placed graph, including the internal _Transfer nodes copy insertion added
  // between devices (export the graph you built, not this one). This is the whole graph,
  // unoptimized; each Run signature runs its own optimized and placed copy.
  const Graph& graph() const;

  // A copy of every initialised variable's value, by variable name (checkpoints use this).
  absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> ReadVariables();
  // Sets variables by name; each must be a VariableV2 of the graph with a matching dtype and
  // shape. All are checked before any is written.
  absl::Status AssignVariables(const std::vector<std::pair<std::string, Tensor>>& values);

 private:
  explicit Session(std::unique_ptr<SessionImpl> impl);
  std::unique_ptr<SessionImpl> impl_;
};

}  // namespace quiver
