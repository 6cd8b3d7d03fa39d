// Executors: what a Session compiles for one Run signature (feeds -> fetches + targets).
//
// PartitionedExecutor::Build prunes the graph to what the fetches and targets need (fed tensors
// cut the graph: their producers do not run), partitions it per device (runtime/partition.h)
// and builds one Executor per partition, with one kernel per node created for the partition's
// device type. Run() starts every partition of the step at once on the inter-op pool; tensors
// and control signals cross partitions through the step's Rendezvous. The first error (or a
// cancellation, or the deadline) aborts the rendezvous, so every partition stops and the step
// returns that status; the step's intermediate tensors are freed when Run returns. Checks the
// accelerator kernels deferred (StepResources::deferred_checks) run once the step's devices are
// waited for, at its end; a failing one fails the step.
//
// Run is thread-safe: all per-step state lives in the call, so several steps may run at once.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/device.h"
#include "devices/kernel.h"
#include "graph/graph.h"
#include "runtime/partition.h"
#include "runtime/rendezvous.h"
#include "runtime/run_options.h"
#include "runtime/thread_pool.h"

namespace quiver {

// Kernels of stateful nodes (random generators, ...) shared by every executor of a session,
// so that their state advances across Run signatures as in TF.
class StatefulKernelCache {
 public:
  absl::StatusOr<std::shared_ptr<OpKernel>> GetOrCreate(const Node& node,
                                                        const std::string& device_type);

 private:
  Mutex mu_;
  std::map<std::string, std::shared_ptr<OpKernel>> kernels_;
};

struct ExecutorOptions {
  // false: no early release of dead tensors and no input forwarding, so that a memory
  // planner's effect on the peak can be measured against this baseline.
  bool reuse_buffers = true;
};

// How long one node's kernel ran in a step (wall time of Compute, on whichever thread).
struct NodeTiming {
  const Node* node = nullptr;
  int64_t nanos = 0;
};

struct StepStats {
  bool collect_node_timings = false;  // input: time every kernel (costs two clock reads)
  std::vector<NodeTiming> node_timings;
  int64_t nodes_executed = 0;
  int64_t transfers = 0;       // _Transfer kernels executed (cross-device copies)
  int64_t transfer_bytes = 0;  // bytes they copied
};

// What every partition of one step shares.
struct StepParams {
  StepResources* resources = nullptr;  // the session's; each partition takes a copy
  ThreadPool* pool = nullptr;          // may be null: everything runs on the caller
  // (> 0) caps the OpenMP threads oneDNN kernels use on every thread that runs nodes, so that
  // inter-op x intra-op threads stay within the cores.
  int intra_op_threads = 0;
  const CancellationToken* cancellation = nullptr;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // false: a fetched tensor may share the buffer of a feed (or a variable) instead of being
  // copied, for callers that never write a buffer they fed (a loop's iterations).
  bool copy_shared_fetches = true;
  // Set by PartitionedExecutor::Run (the step's; callers leave it null).
  DeferredChecks* deferred_checks = nullptr;
  // When the caller hands its feeds over (Session::RunCallable with an rvalue), the same
  // vector as Run's `feeds`, which the step may move from: a feed's last reader takes its
  // buffer and may work in place (a loop's list written once per iteration). Null: feeds
  // are only read.
  std::vector<Tensor>* owned_feeds = nullptr;
  // Set by PartitionedExecutor::Run with owned_feeds: per feed, the reads still to come.
  std::atomic<int>* feed_reads_left = nullptr;
};

// The nodes of one partition (one device).
class Executor {
 public:
  // `graph` and `device` must outlive the executor; the graph must stay unchanged meanwhile.
  static absl::StatusOr<std::unique_ptr<Executor>> Build(const Graph& graph,
                                                         const PartitionedGraph& parts,
                                                         int partition, const ExecutorSpec& spec,
                                                         Device* device, StatefulKernelCache* cache,
                                                         const ExecutorOptions& options);
  int num_nodes() const;
  Device* device() const { return device_; }

 private:
  friend class PartitionedExecutor;
  // Where an input comes from: a slot in the step's value table, or a feed.
  struct InputSource {
    int slot = -1;  // index into the step's values (when >= 0)
    int feed = -1;  // index into the feeds (when >= 0)
    bool wants_ref = false;
  };
  struct Send {
    int output = 0;  // kControlSlot: a control signal
    int edge = 0;    // index into PartitionedGraph::edges
  };
  struct Item {
    const Node* node = nullptr;  // nullptr: a recv of `recv_edge`
    int recv_edge = -1;
    std::shared_ptr<OpKernel> kernel;
    std::vector<InputSource> inputs;
    int output_base = 0;                 // first slot of this item's outputs
    std::vector<int> consumers;          // items to notify (one entry per data/control edge)
    std::vector<int> control_producers;  // items this one waits on by control edges
    int num_pending = 0;                 // in-edges from other items
    bool is_merge = false;               // alive when any data input is (not all of them)
    std::vector<int> slot_uses;          // per output: consumers + fetches (for early release)
    std::vector<Send> sends;
  };
  struct FetchSource {
    int fetch = 0;  // index into the spec's fetches
    int slot = -1;
    std::string name;  // "node:index", for errors
  };

  const PartitionedGraph* parts_ = nullptr;
  Device* device_ = nullptr;
  ExecutorOptions options_;
  std::vector<Item> items_;
  std::vector<int> roots_;  // node items with no pending inputs
  std::vector<FetchSource> fetches_;
  std::vector<int> feed_reads_;  // per feed: the inputs of this partition's items that read it
  int num_slots_ = 0;
  // The graph has Switches: a node may be on an untaken branch. Without any, the dead-input
  // checks are skipped.
  bool has_conditionals_ = false;

  class StepState;
};

// Every partition of one Run signature.
class PartitionedExecutor {
 public:
  // The Device a partition runs on, by assigned device name ("" for unplaced nodes).
  using DeviceLookup = std::function<Device*(const std::string& device_name)>;
  static absl::StatusOr<std::unique_ptr<PartitionedExecutor>> Build(
      const Graph& graph, const ExecutorSpec& spec, const DeviceLookup& devices,
      StatefulKernelCache* cache, const ExecutorOptions& options = {});

  // feeds are in the order of spec.feeds; returns fetches in the order of spec.fetches.
  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Tensor>& feeds,
                                          const StepParams& params,
                                          StepStats* stats = nullptr) const;

  const PartitionedGraph& partitions() const { return parts_; }
  const std::vector<std::unique_ptr<Executor>>& executors() const { return executors_; }
  int num_nodes() const;

 private:
  PartitionedGraph parts_;
  std::vector<std::unique_ptr<Executor>> executors_;  // one per partition, same order
  std::vector<int> fed_fetch_;                        // per fetch: its feed index, or -1
  std::vector<int> feed_reads_;                       // per feed: reads by all partitions
};

}  // namespace quiver
