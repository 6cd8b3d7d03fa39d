// The executor: a graph compiled for one Run signature (feeds -> fetches + targets).
//
// Build() prunes the graph to the nodes the fetches and targets need (fed tensors cut the
// graph: their producers do not run), instantiates one kernel per node, and precomputes
// the dataflow bookkeeping. Run() is thread-safe: all per-step state lives on the stack of the
// call, so several steps may run at once on one Executor.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/kernel.h"
#include "graph/graph.h"
#include "runtime/thread_pool.h"

namespace quiver {

struct ExecutorSpec {
  std::vector<TensorId> feeds;
  std::vector<TensorId> fetches;
  std::vector<std::string> targets;
};

// Kernels of stateful nodes (random generators, ...) shared by every executor of a session,
// so that their state advances across Run signatures as in TF.
class StatefulKernelCache {
 public:
  absl::StatusOr<std::shared_ptr<OpKernel>> GetOrCreate(const Node& node);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<OpKernel>> kernels_;
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

class Executor {
 public:
  // `graph` must outlive the executor and stay unchanged while it exists.
  static absl::StatusOr<std::unique_ptr<Executor>> Build(const Graph& graph,
                                                         const ExecutorSpec& spec,
                                                         StatefulKernelCache* cache = nullptr);

  // feed_values are in the order of spec.feeds; returns fetches in the order of spec.fetches.
  // `pool` (may be null) runs independent nodes concurrently.
  // `intra_op_threads` (> 0) caps the OpenMP threads oneDNN kernels use on every thread that
  // runs nodes, so that inter-op x intra-op threads stay within the cores.
  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Tensor>& feed_values,
                                          StepResources& resources, ThreadPool* pool,
                                          StepStats* stats = nullptr,
                                          int intra_op_threads = 0) const;

  int num_nodes() const { return static_cast<int>(items_.size()); }

 private:
  // Where an input comes from: a slot in the step's value table, or a feed.
  struct InputSource {
    int slot = -1;       // index into the step's values (when >= 0)
    int feed = -1;       // index into feed_values (when >= 0)
    bool wants_ref = false;
  };
  struct Item {
    const Node* node = nullptr;
    std::shared_ptr<OpKernel> kernel;
    std::vector<InputSource> inputs;
    int output_base = 0;           // first slot of this node's outputs
    std::vector<int> consumers;    // items to notify (one entry per data/control edge)
    int num_pending = 0;           // in-edges from other items
    std::vector<int> slot_uses;    // per output: consumers + fetches (for early release)
  };
  struct FetchSource {
    int slot = -1;
    int feed = -1;
  };

  std::vector<Item> items_;
  std::vector<int> roots_;  // items with no pending inputs
  std::vector<FetchSource> fetches_;
  int num_slots_ = 0;

  class StepState;
};

}  // namespace quiver
