// The in-memory graph: nodes with an op, typed attrs, a requested device, data inputs and
// control inputs. Edges are explicit objects so passes can walk consumers cheaply.
//
// Naming follows TensorFlow: tensor "node:i" is output i of node "node" ("node" alone means
// "node:0"); "^node" in an input list is a control input.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "graph/attr_value.h"
#include "graph/op_registry.h"
#include "graph/tensor_shape.h"
#include "graph/types.h"

namespace quiver {

class Node;

inline constexpr int kControlSlot = -1;

struct Edge {
  Node* src = nullptr;
  int src_output = 0;  // kControlSlot for control edges
  Node* dst = nullptr;
  int dst_input = 0;  // kControlSlot for control edges
  bool IsControl() const { return dst_input == kControlSlot; }
};

// One output of a node: what flows along a data edge.
struct Endpoint {
  Node* node = nullptr;
  int index = 0;
  std::string TensorName() const;  // "node:0"
  bool operator==(const Endpoint& o) const { return node == o.node && index == o.index; }
};

// Parses "node", "node:1" or "^node". Errors name the malformed string.
struct TensorId {
  std::string node;
  int index = 0;
  bool is_control = false;
  std::string ToString() const;
};
absl::StatusOr<TensorId> ParseTensorName(const std::string& name);

class Node {
 public:
  int id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& op() const { return op_; }
  const OpDef& op_def() const { return *op_def_; }
  const AttrMap& attrs() const { return attrs_; }
  AttrMap& mutable_attrs() { return attrs_; }
  template <typename T>
  absl::StatusOr<T> GetAttr(const std::string& attr_name) const {
    return ::quiver::GetAttr<T>(attrs_, attr_name);
  }
  // The OpDef argument that input / output slot `index` belongs to ("" if none): list args
  // (N, type lists) cover several slots. Kernels declare HostMemory by argument name.
  std::string InputArgName(int index) const;
  std::string OutputArgName(int index) const;

  // The device the user asked for ("" = no preference) and the one placement chose.
  const std::string& requested_device() const { return requested_device_; }
  void set_requested_device(std::string d) { requested_device_ = std::move(d); }
  const std::string& assigned_device() const { return assigned_device_; }
  void set_assigned_device(std::string d) { assigned_device_ = std::move(d); }

  int num_inputs() const { return static_cast<int>(input_types_.size()); }
  int num_outputs() const { return static_cast<int>(output_types_.size()); }
  DataType input_type(int i) const { return input_types_[i]; }
  DataType output_type(int i) const { return output_types_[i]; }
  bool input_is_ref(int i) const { return input_is_ref_[i]; }
  bool output_is_ref(int i) const { return output_is_ref_[i]; }
  const std::vector<DataType>& output_types() const { return output_types_; }

  // Data input i (its edge is always present in a valid graph).
  const Edge* input_edge(int i) const { return in_data_[i]; }
  Endpoint input(int i) const { return {in_data_[i]->src, in_data_[i]->src_output}; }
  const std::vector<Edge*>& control_in_edges() const { return in_control_; }
  const std::vector<Edge*>& out_edges() const { return out_edges_; }

  // Inferred output shapes (unknown rank until shape inference ran).
  const TensorShape& output_shape(int i) const { return output_shapes_[i]; }
  void set_output_shapes(std::vector<TensorShape> shapes) { output_shapes_ = std::move(shapes); }

  bool is_stateful() const { return op_def_->is_stateful; }

 private:
  friend class Graph;
  int id_ = -1;
  std::string name_;
  std::string op_;
  const OpDef* op_def_ = nullptr;
  AttrMap attrs_;
  std::string requested_device_;
  std::string assigned_device_;
  std::vector<DataType> input_types_;
  std::vector<DataType> output_types_;
  std::vector<bool> input_is_ref_;
  std::vector<bool> output_is_ref_;
  std::vector<Edge*> in_data_;  // indexed by input slot
  std::vector<Edge*> in_control_;
  std::vector<Edge*> out_edges_;
  std::vector<TensorShape> output_shapes_;
};

// What AddNode needs: the op resolves the signature, the attrs fix the dtypes.
struct NodeSpec {
  std::string name;
  std::string op;
  AttrMap attrs;
  std::string device;
  std::vector<Endpoint> inputs;
  std::vector<Node*> control_inputs;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Adds a node: looks up the op, fills default attrs, validates attrs, resolves dtypes and
  // checks the inputs' dtypes against the signature. Errors name the node and what is wrong.
  absl::StatusOr<Node*> AddNode(NodeSpec spec);
  // Removes a node and all its edges.
  void RemoveNode(Node* node);
  // Rewires data input `dst_input` of `dst` to come from `src`.
  absl::Status UpdateInput(Node* dst, int dst_input, Endpoint src);
  void AddControlEdge(Node* src, Node* dst);
  void RemoveEdge(Edge* edge);

  Node* FindNode(const std::string& name) const;
  // Live nodes in insertion order (ids are stable; removed slots are skipped).
  std::vector<Node*> nodes() const;
  int num_nodes() const { return num_live_nodes_; }
  // Upper bound on node ids, for id-indexed side tables.
  int num_node_ids() const { return static_cast<int>(nodes_.size()); }
  Node* node(int id) const { return nodes_[id].get(); }

  // A name not yet used in the graph: `base`, else `base_1`, `base_2`, ...
  std::string UniqueName(const std::string& base) const;

  // Nodes in an order where every node comes after its data and control inputs, or an error
  // naming nodes on a cycle.
  absl::StatusOr<std::vector<Node*>> TopologicalOrder() const;

  // Runs every node's shape function in topological order, storing output shapes.
  absl::Status InferShapes();
  // Runs one node's shape function from its inputs' current shapes.
  absl::Status InferNodeShape(Node* node);

  // Producer version recorded from an imported GraphDef (0 = unknown).
  int producer_version() const { return producer_version_; }
  void set_producer_version(int v) { producer_version_ = v; }

  // Deep copy (same names, attrs, devices, edges).
  absl::Status CopyFrom(const Graph& other);

 private:
  Edge* AddEdgeInternal(Node* src, int src_output, Node* dst, int dst_input);
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Edge>> edges_;
  absl::flat_hash_map<std::string, Node*> by_name_;
  int num_live_nodes_ = 0;
  int producer_version_ = 0;
};

}  // namespace quiver
