// Prune: removes nodes that no fetch, target, feed or stateful op needs (TF's
// graph pruning / Grappler's model pruner).
//
// Roots are the fetched, fed and target nodes plus every stateful node (variables and their
// updates keep their side effects). With no fetches or targets, every node without a
// consumer counts as an output and is a root. Everything not reachable backwards from a root
// along data or control edges is removed.
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class PrunePass : public GraphPass {
 public:
  std::string name() const override { return "prune"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver
