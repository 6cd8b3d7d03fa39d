// Partitioning: splits what one Run signature needs of a placed (and copy-inserted) graph into
// one partition per device. Every data edge between partitions becomes a send/recv pair that
// meets in the step's Rendezvous, one per (producer output, destination device) however many
// consumers read it there; a control edge between partitions becomes a data-free signal, one
// per (producer, destination device), which keeps the ordering.
//
// The partitions do not copy the graph: they list its nodes, so building one is cheap and a
// partition's node pointers stay valid as long as the graph does.
//
//   ASSIGN_OR_RETURN(PartitionedGraph parts, PartitionGraph(graph, spec));
//   for (const Partition& p : parts.partitions) { ... p.device, p.nodes, p.sends, p.recvs ... }
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace quiver {

// What one Run computes: fed tensors (which cut the graph: their producers do not run),
// fetched tensors and target nodes.
struct ExecutorSpec {
  std::vector<TensorId> feeds;
  std::vector<TensorId> fetches;
  std::vector<std::string> targets;
};

// A tensor (or, for a control edge, a bare signal) crossing from one partition to another.
struct CrossEdge {
  std::string key;  // rendezvous key: "a:0->/job:.../device:CPU:1" or "^a->..."
  const Node* src = nullptr;
  int src_output = 0;  // kControlSlot: a control signal, no data
  int src_partition = -1;
  int dst_partition = -1;
  bool is_control() const { return src_output == kControlSlot; }
};

struct Partition {
  std::string device;              // assigned device ("" for nodes nobody placed)
  std::vector<const Node*> nodes;  // the nodes this step runs there, in topological order
  std::vector<int> sends;          // indexes into PartitionedGraph::edges produced here
  std::vector<int> recvs;          // ... consumed here
};

struct PartitionedGraph {
  std::vector<Partition> partitions;  // sorted by device name
  std::vector<CrossEdge> edges;
  // Per spec fetch: the partition that produces it, or -1 when the fetch is fed.
  std::vector<int> fetch_partition;

  int num_data_edges() const;
  int num_control_edges() const;
  // The partition of `device`, or -1.
  int Find(const std::string& device) const;
};

// Prunes `graph` to what `spec` needs and partitions it by Node::assigned_device. Errors name
// an unknown feed, fetch or target, or a cycle.
absl::StatusOr<PartitionedGraph> PartitionGraph(const Graph& graph, const ExecutorSpec& spec);

}  // namespace quiver
