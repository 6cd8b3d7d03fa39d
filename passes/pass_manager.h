// Graph optimization passes and the pipeline that runs them (like ORT's graph transformers,
// MLIR's PassManager and TF's Grappler meta-optimizer, reduced to one process and one graph).
//
// Pass contract (every GraphPass must honour it):
//   - A pass rewrites the Graph in place and leaves it valid: acyclic, every data input
//     connected, dtypes matching, shape inference succeeding.
//   - The nodes named by PassContext (fetches, feeds, targets) are never removed or renamed,
//     and a fetched tensor "node:i" keeps producing the same value under the same name.
//     Fed nodes are opaque: their value comes from the caller, so nothing is folded through
//     or merged into them.
//   - Stateful ops (variables, assignments, random ops) are never removed, merged or folded.
//   - Rewiring a consumer keeps ordering: control inputs/outputs of a removed node move to
//     the node(s) that take its place.
//   - A pass that cannot apply somewhere skips it and says why in PassStats::notes; an error
//     Status means the graph may be inconsistent and the pipeline stops.
//   - One job per pass; passes do not depend on each other's side tables.
//
// The pipeline (PassManager::Default) runs, in order:
//   prune -> control_only_prune -> constant_folding -> cse -> arithmetic_simplification
//   -> batch_norm_folding
//   -> fusion -> elementwise_fusion -> variable_update_ordering
//   -> memory_planning (analysis only: predicted peak bytes)
// Placement and copy insertion plug in at run time (Session), after these. Level 0 runs
// nothing; level 1 runs every pass not disabled by name.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph/graph.h"

namespace quiver {

// What the passes must preserve, and their knobs.
struct PassContext {
  std::vector<std::string> fetches;  // tensor names ("y", "y:1")
  std::vector<std::string> feeds;    // tensor names
  std::vector<std::string> targets;  // node names
  // Constant folding leaves outputs larger than this as computations.
  int64_t max_constant_bytes = int64_t{1} << 20;
  // Where the graph will run, for passes that rewrite into device-specific ops (fusion): the
  // device types the session has ("CPU", "GPU") and whether placement may fall back to the
  // CPU. Empty (offline `quiver optimize`): requested devices are taken at their word.
  std::set<std::string> device_types;
  bool allow_soft_placement = false;

  // Node names that are fetched, fed or targeted (what no pass may remove or rename).
  absl::flat_hash_set<std::string> PreservedNodes() const;
  // The same, plus, when there are no fetches or targets, every node of `graph` without a
  // consumer: those are the graph's implicit outputs.
  absl::flat_hash_set<std::string> PreservedNodes(const Graph& graph) const;
  // Node names whose output is fed (their graph value is not what runs).
  absl::flat_hash_set<std::string> FedNodes() const;
  bool has_fetches() const { return !fetches.empty() || !targets.empty(); }
  // The device type `n` will run on: its assigned device's, else its requested device's ("CPU"
  // when it names none). A requested type the session lacks is "CPU" under soft placement,
  // as the placer will decide (TF1's classic `with tf.device('/gpu:0')` model on a CPU-only
  // machine still fuses). "" when the device name does not parse.
  std::string DeviceTypeFor(const Node& n) const;
};

struct PassStats {
  int nodes_removed = 0;
  int nodes_added = 0;
  int nodes_changed = 0;
  std::vector<std::string> notes;    // why something was skipped
  std::vector<std::string> changes;  // what was rewritten (one line per fusion, fold, ...)
  absl::Duration time;
};

class GraphPass {
 public:
  virtual ~GraphPass() = default;
  virtual std::string name() const = 0;
  virtual absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) = 0;
};

#ifdef NDEBUG
inline constexpr bool kVerifyPassesByDefault = false;
#else
inline constexpr bool kVerifyPassesByDefault = true;
#endif

struct PassManagerOptions {
  int level = 1;                         // 0: run nothing, 1: run every enabled pass
  std::set<std::string> disabled;        // pass names to skip (like TF's RewriterConfig)
  bool verify = kVerifyPassesByDefault;  // check the graph after every pass
  std::string dump_after;                // pass name: write the graph after it as .pbtxt ...
  std::string dump_dir;                  // ... into this directory
};

struct PassReport {
  struct Entry {
    std::string pass;
    bool ran = false;  // false: disabled or level 0
    PassStats stats;
    int nodes_before = 0;
    int nodes_after = 0;
  };
  std::vector<Entry> passes;
  int nodes_before = 0;
  int nodes_after = 0;
  std::string dump_path;  // the file written for dump_after, if any
  std::string ToString() const;
};

// Structural checks the pipeline runs between passes when verifying: a topological order
// exists, every data input is connected and refers to a live node, shape inference succeeds.
absl::Status VerifyGraph(Graph* graph);

class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {}) : options_(std::move(options)) {}
  // The fixed pipeline: prune, control_only_prune, constant_folding, cse,
  // arithmetic_simplification,
  // batch_norm_folding, fusion, elementwise_fusion, variable_update_ordering, memory_planning
  // (see DefaultPassNames).
  static PassManager Default(PassManagerOptions options = {});
  // Names of the passes of the default pipeline, in order.
  static std::vector<std::string> DefaultPassNames();

  void AddPass(std::unique_ptr<GraphPass> pass) { passes_.push_back(std::move(pass)); }
  const PassManagerOptions& options() const { return options_; }

  // Runs the passes in order. An unknown name in `disabled` or `dump_after` is an error, so
  // typos do not silently run everything.
  absl::StatusOr<PassReport> Run(Graph* graph, const PassContext& ctx) const;

 private:
  PassManagerOptions options_;
  std::vector<std::unique_ptr<GraphPass>> passes_;
};

// Helpers shared by the passes.
namespace pass_util {
// Makes every consumer of `from` read `to` instead: data edges are rewired, control edges
// out of `from` now leave `to.node`, and `from`'s control inputs become control inputs of
// each consumer (so ordering survives; pass false when `to.node` already has the same control
// inputs). Does not remove `from`.
absl::Status ForwardOutputs(Graph* graph, Node* from, int from_output, Endpoint to,
                            bool move_control_inputs = true);
// Removes `node` if nothing consumes it and it is neither preserved nor stateful, then does
// the same for its inputs. Returns how many nodes were removed.
int RemoveIfDead(Graph* graph, Node* node, const absl::flat_hash_set<std::string>& preserved);

// Conditionals (graph/ops/control_flow_ops.cc). A Switch's outputs can be dead while the
// Switch itself ran, so a rewrite must never turn a read of a Switch output into a control
// edge from the Switch (the waiter would run on both branches). A Merge is alive when any
// input is: it must not be replaced by waits on all of them.
bool IsSwitch(const Node& n);
bool IsMerge(const Node& n);
bool ReadsSwitchOutput(const Node& n);
bool HasConditionals(const Graph& graph);
}  // namespace pass_util

}  // namespace quiver
