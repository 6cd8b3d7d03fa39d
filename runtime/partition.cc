#include "runtime/partition.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace quiver {

int PartitionedGraph::num_data_edges() const {
  return static_cast<int>(std::count_if(edges.begin(), edges.end(),
                                        [](const CrossEdge& e) { return !e.is_control(); }));
}

int PartitionedGraph::num_control_edges() const {
  return static_cast<int>(edges.size()) - num_data_edges();
}

int PartitionedGraph::Find(const std::string& device) const {
  for (size_t i = 0; i < partitions.size(); ++i) {
    if (partitions[i].device == device) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<PartitionedGraph> PartitionGraph(const Graph& graph, const ExecutorSpec& spec) {
  absl::flat_hash_set<std::pair<int, int>> fed;  // (node id, output)
  for (const TensorId& f : spec.feeds) {
    const Node* n = graph.FindNode(f.node);
    if (n == nullptr) return absl::NotFoundError("feed: no node named '" + f.node + "'");
    fed.insert({n->id(), f.index});
  }
  // A node whose every output is fed does not run: what waits on it by a control edge waits
  // on nothing (TF moves such edges to the feed, which is ready when the step starts).
  auto fully_fed = [&](const Node* n) {
    for (int o = 0; o < n->num_outputs(); ++o) {
      if (!fed.contains({n->id(), o})) return false;
    }
    return n->num_outputs() > 0;
  };

  // Prune: walk back from fetches and targets, stopping at fed tensors.
  std::vector<bool> needed(graph.num_node_ids(), false);
  std::vector<const Node*> stack;
  auto visit = [&](const Node* n) {
    if (!needed[n->id()]) {
      needed[n->id()] = true;
      stack.push_back(n);
    }
  };
  for (const TensorId& f : spec.fetches) {
    const Node* n = graph.FindNode(f.node);
    if (n == nullptr) return absl::NotFoundError("fetch: no node named '" + f.node + "'");
    if (!fed.contains({n->id(), f.index})) visit(n);
  }
  for (const std::string& t : spec.targets) {
    const Node* n = graph.FindNode(t);
    if (n == nullptr) return absl::NotFoundError("target: no node named '" + t + "'");
    visit(n);
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      if (!fed.contains({in.node->id(), in.index})) visit(in.node);
    }
    for (const Edge* e : n->control_in_edges()) {
      if (!fully_fed(e->src)) visit(e->src);
    }
  }

  PartitionedGraph out;
  ASSIGN_OR_RETURN(std::vector<Node*> order, graph.TopologicalOrder());
  std::map<std::string, std::vector<const Node*>> by_device;
  for (const Node* n : order) {
    if (needed[n->id()]) by_device[n->assigned_device()].push_back(n);
  }
  std::vector<int> partition_of(graph.num_node_ids(), -1);
  for (auto& [device, nodes] : by_device) {
    for (const Node* n : nodes) partition_of[n->id()] = static_cast<int>(out.partitions.size());
    out.partitions.push_back(Partition{device, std::move(nodes), {}, {}});
  }

  // One edge per (producer, output or control, destination partition).
  std::map<std::tuple<int, int, int>, int> edge_index;
  auto add_edge = [&](const Node* src, int src_output, int dst_partition) {
    std::tuple<int, int, int> key{src->id(), src_output, dst_partition};
    if (edge_index.contains(key)) return;
    CrossEdge e;
    const std::string& dst_device = out.partitions[dst_partition].device;
    e.key = src_output == kControlSlot
                ? absl::StrCat("^", src->name(), "->", dst_device)
                : absl::StrCat(src->name(), ":", src_output, "->", dst_device);
    e.src = src;
    e.src_output = src_output;
    e.src_partition = partition_of[src->id()];
    e.dst_partition = dst_partition;
    int index = static_cast<int>(out.edges.size());
    edge_index.emplace(key, index);
    out.partitions[e.src_partition].sends.push_back(index);
    out.partitions[dst_partition].recvs.push_back(index);
    out.edges.push_back(std::move(e));
  };
  for (const Node* n : order) {
    const int p = partition_of[n->id()];
    if (p < 0) continue;
    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      if (fed.contains({in.node->id(), in.index})) continue;  // every partition sees the feeds
      if (partition_of[in.node->id()] != p) add_edge(in.node, in.index, p);
    }
    for (const Edge* e : n->control_in_edges()) {
      const int src = partition_of[e->src->id()];
      if (src >= 0 && src != p) add_edge(e->src, kControlSlot, p);  // src < 0: fully fed
    }
  }

  for (const TensorId& f : spec.fetches) {
    const Node* n = graph.FindNode(f.node);
    out.fetch_partition.push_back(fed.contains({n->id(), f.index}) ? -1 : partition_of[n->id()]);
  }
  return out;
}

}  // namespace quiver
