// What placement decided, in a form people and tools can read: every node with its device
// and reason, per-device load (node count, op histogram, estimated FLOPs) and every tensor
// that has to cross devices.
//
// Transfers follow TF's partitioner (DupRecvKey): one per (producer, output slot, destination
// device, host-or-device memory at the destination), however many consumers share it there.
// Control edges move no data; an input the destination kernel keeps in host memory
// (KernelDef::HostMemory, e.g. Reshape's shape) needs no copy when the producer is a CPU.
// Ref edges are never shared (each consumer of a variable gets its own).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/device_set.h"
#include "graph/graph.h"
#include "passes/placer.h"

namespace quiver {

struct NodeReport {
  std::string name;
  std::string op;
  std::string device;  // full name
  std::string reason;  // the placer's explanation ("" if the graph was placed elsewhere)
  int64_t flops = 0;   // estimated; -1 when a shape it depends on is unknown
};

struct DeviceReport {
  std::string name;        // full name
  std::string short_name;  // "CPU:0"
  int node_count = 0;
  std::map<std::string, int> op_histogram;
  int64_t flops = 0;            // sum over nodes with known FLOPs
  int unknown_flops_nodes = 0;  // nodes whose FLOPs depend on unknown dims
};

struct TransferReport {
  std::string tensor;  // "node:0"
  std::string from;    // full device names
  std::string to;
  std::string dtype;                   // "float"
  std::string shape;                   // "[?,10]"
  int64_t bytes = -1;                  // -1 when the shape is not fully known
  std::vector<std::string> consumers;  // nodes on `to` reading it
};

struct PlacementTotals {
  int nodes = 0;
  int devices_used = 0;
  int transfers = 0;
  int64_t transfer_bytes = 0;  // over transfers of known size
  int transfers_unknown_bytes = 0;
  int64_t flops = 0;
  int unknown_flops_nodes = 0;
};

struct PlacementReport {
  std::vector<NodeReport> nodes;      // topological order
  std::vector<DeviceReport> devices;  // every device of the set, in priority order
  std::vector<TransferReport> transfers;
  PlacementTotals totals;
};

// Estimated FLOPs of one node from its inferred shapes: MatMul 2*M*N*K, Conv2D
// 2*out_elems*kh*kw*in_c, element-wise ops one per output element, others 0; -1 if unknown.
int64_t EstimateFlops(const Node& node);

// Builds the report from a placed graph (every node has an assigned device of `devices`).
// `placement` supplies the reasons; it may be null.
absl::StatusOr<PlacementReport> BuildPlacementReport(const Graph& graph, const DeviceSet& devices,
                                                     const Placement* placement);

// log_device_placement-style table: nodes, then devices, then transfers, then totals.
std::string RenderPlacementText(const PlacementReport& report);
// {"devices": [...], "nodes": [{name, op, device, reason}], "transfers": [{tensor, from, to,
// dtype, shape, bytes}], "totals": {...}}
std::string RenderPlacementJson(const PlacementReport& report);
// Graphviz: one cluster per device; transfers as red bold edges, control edges dashed.
std::string RenderPlacementDot(const Graph& graph, const PlacementReport& report);

}  // namespace quiver
