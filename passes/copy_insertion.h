// Copy insertion: after placement, every tensor that crosses devices goes through a
// `_Transfer` node on the destination device, so the bytes are really moved (and counted).
//
// Transfers follow the placement report's grouping (TF's DupRecvKey): one per (producer,
// output, destination device), however many consumers read it there. Control edges move no
// data and stay as they are; an input the destination kernel keeps in host memory needs no
// copy when the producer is a CPU; an output the producer's (accelerator) kernel keeps in host
// memory (KernelDef::HostMemory, e.g. a GPU Shape) needs none to a CPU or to a host-memory
// input; ref edges are never rewired (the placer colocates a ref consumer with its variable).
//
// Runs only on a session's private graph: graphs that are exported stay free of `_Transfer`.
//
//   ASSIGN_OR_RETURN(Placement placement, PlaceGraph(&graph, devices, {}));
//   ASSIGN_OR_RETURN(CopyInsertionStats stats, InsertCopies(&graph, devices));
#pragma once

#include "absl/status/statusor.h"
#include "devices/device_set.h"
#include "graph/graph.h"

namespace quiver {

inline constexpr char kTransferOp[] = "_Transfer";

struct CopyInsertionStats {
  int transfers_inserted = 0;  // new _Transfer nodes
  int edges_rewired = 0;       // consumer inputs now reading a _Transfer
};

// Where input `i` of `consumer` (placed on `dst`), produced at `src` on `src_dev`, must be
// copied to, or nullptr when it can read the tensor where it is. Usually `dst`; `host` (the
// set's CPU:0) when `dst` is an accelerator whose kernel keeps that argument in host memory
// (KernelDef::HostMemory, e.g. Reshape's shape) and the producer left the tensor in device
// memory, even on the same device. The one rule that copy insertion and the placement report
// share, so that the report predicts exactly the transfers a step executes.
const DeviceInfo* TransferTarget(const Node& consumer, int i, const Endpoint& src,
                                 const DeviceInfo& src_dev, const DeviceInfo& dst,
                                 const DeviceInfo& host);

// Inserts the transfers into a placed graph (every node assigned to a device of `devices`).
// Running it again changes nothing: existing transfers are reused, and a transfer never reads
// another transfer (consumers of one on a third device are fed from the original producer).
absl::StatusOr<CopyInsertionStats> InsertCopies(Graph* graph, const DeviceSet& devices);

}  // namespace quiver
