// Placement: assigns every node of a graph to one device of a DeviceSet.
//
// Rules, in order of strength (TF's placer, simplified to one process):
//   1. colocation groups: nodes joined by `_class: ["loc:@other"]` or by a ref edge (a
//      VariableV2 and the Assign/Apply*/Identity ops taking it) always land together;
//   2. an explicit request (Node::requested_device, a possibly partial TF device spec) of
//      any member constrains the whole group;
//   3. soft placement: when no device satisfies the request (absent, or without a kernel),
//      fall back to a device with a kernel — only if allow_soft_placement, else an error;
//   4. defaults: generators (0 inputs, 1 non-ref output, e.g. Const) follow their consumers;
//      shape metadata and int32 bookkeeping go to the host CPU:0; other nodes follow their
//      data inputs; otherwise the highest-priority device with a kernel.
// Every node gets a reason, so a placement report can say why it landed where it did.
//
//   ASSIGN_OR_RETURN(DeviceSet devices, DeviceSet::Create({.num_virtual_cpus = 2}));
//   ASSIGN_OR_RETURN(Placement placement, PlaceGraph(&graph, devices, {}));
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/device_set.h"
#include "graph/graph.h"

namespace quiver {

enum class PlacementReason {
  kPreassigned,    // Node::assigned_device was already set to a device of the set
  kExplicit,       // the node's own requested device
  kColocation,     // pulled by its colocation group (another member's request or placement)
  kSoftPlacement,  // the request could not be met; fell back to a device with a kernel
  kGenerator,      // a 0-input node placed with its consumers
  kHost,           // shape metadata / int32 bookkeeping kept on the host
  kFollowInputs,   // placed with its data inputs
  kDefault,        // highest-priority device with a kernel
};
const char* PlacementReasonName(PlacementReason reason);  // "explicit", "colocation", ...

struct NodePlacement {
  std::string device;  // full device name (same as Node::assigned_device)
  PlacementReason reason = PlacementReason::kDefault;
  std::string explanation;  // e.g. "soft placement: requested /gpu:0 but no such device"
};

struct PlacerOptions {
  bool allow_soft_placement = false;
  // Prints "name: (op): device" per node, like TF's log_device_placement.
  bool log_device_placement = false;
  std::ostream* log = nullptr;  // where the log goes (nullptr: std::cerr)
};

struct Placement {
  // Indexed by Node::id() (entries of removed nodes are empty).
  std::vector<NodePlacement> nodes;
  const NodePlacement* Find(const Node& node) const {
    return node.id() < static_cast<int>(nodes.size()) && !nodes[node.id()].device.empty()
               ? &nodes[node.id()]
               : nullptr;
  }
};

// Places every node (sets Node::assigned_device) or returns an InvalidArgument error naming
// the node, its request and the device types that have a kernel for it. On error the graph's
// assigned devices are left unspecified.
absl::StatusOr<Placement> PlaceGraph(Graph* graph, const DeviceSet& devices,
                                     const PlacerOptions& options);

// True when `node`'s kernel on `device` keeps input `index` in host memory (KernelDef::
// HostMemory), so a producer on a CPU device feeds it without a copy.
bool IsHostMemoryInput(const Node& node, int index, const DeviceInfo& device);

}  // namespace quiver
