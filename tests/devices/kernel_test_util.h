// Runs one op's CPU kernel (or shape function) without a Session: builds a tiny graph of
// Const/Placeholder nodes feeding the op, creates the kernel from the registry and calls
// Compute directly. Shared by the kernel tests.
//
//   auto out = RunKernel("Add", {}, {Tensor::FromVector<float>({1, 2}, {2}), Tensor::Scalar(1.f)});
//
// Type attrs that the caller leaves out ("T", "SrcT", "N", ...) are filled from the inputs'
// dtypes; pass them explicitly when an op's dtype does not follow from its inputs (Cast's DstT).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "devices/kernel.h"
#include "graph/attr_value.h"
#include "graph/graph.h"
#include "graph/status_macros.h"
#include "runtime/thread_pool.h"

namespace quiver {
namespace testing {

// Fills type attrs of `def` missing from `attrs` from the given input dtypes. Each plain arg
// takes one input; a single list arg ("N * T" or a type list) takes the rest.
inline absl::Status InferTypeAttrs(const OpDef& def, const std::vector<DataType>& dtypes,
                                   AttrMap* attrs) {
  int plain = 0;
  for (const ArgDef& arg : def.inputs) {
    if (arg.number_attr.empty() && arg.type_list_attr.empty()) ++plain;
  }
  const int list_len = static_cast<int>(dtypes.size()) - plain;
  if (list_len < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(def.name, " needs at least ", plain, " inputs, got ", dtypes.size()));
  }
  size_t next = 0;
  for (const ArgDef& arg : def.inputs) {
    const bool is_list = !arg.number_attr.empty() || !arg.type_list_attr.empty();
    const int count = is_list ? list_len : 1;
    if (next + count > dtypes.size()) break;
    if (!arg.number_attr.empty() && !attrs->count(arg.number_attr)) {
      (*attrs)[arg.number_attr] = MakeAttr(static_cast<int64_t>(count));
    }
    if (!arg.type_attr.empty() && !attrs->count(arg.type_attr) && count > 0) {
      (*attrs)[arg.type_attr] = MakeAttr(dtypes[next]);
    }
    if (!arg.type_list_attr.empty() && !attrs->count(arg.type_list_attr)) {
      (*attrs)[arg.type_list_attr] =
          MakeAttr(std::vector<DataType>(dtypes.begin() + next, dtypes.begin() + next + count));
    }
    next += count;
  }
  return absl::OkStatus();
}

// Adds the op node fed by `input_nodes` to `graph`.
inline absl::StatusOr<Node*> AddOpNode(Graph& graph, const std::string& op, AttrMap attrs,
                                       const std::vector<Node*>& input_nodes) {
  const OpDef* def = OpRegistry::Global().Find(op);
  if (def == nullptr) return absl::NotFoundError(absl::StrCat("unknown op ", op));
  std::vector<DataType> dtypes;
  NodeSpec spec;
  for (Node* n : input_nodes) {
    dtypes.push_back(n->output_type(0));
    spec.inputs.push_back({n, 0});
  }
  RETURN_IF_ERROR(InferTypeAttrs(*def, dtypes, &attrs));
  spec.name = "op";
  spec.op = op;
  spec.attrs = std::move(attrs);
  return graph.AddNode(std::move(spec));
}

inline absl::StatusOr<Node*> AddConst(Graph& graph, const std::string& name, const Tensor& t) {
  NodeSpec spec;
  spec.name = name;
  spec.op = "Const";
  spec.attrs["dtype"] = MakeAttr(t.dtype());
  spec.attrs["value"] = MakeAttr(t);
  return graph.AddNode(std::move(spec));
}

// Whether a kernel for `device_type` exists for Cast(from -> to) on a [2] input.
inline bool HasCastKernel(const std::string& device_type, DataType from, DataType to) {
  Graph graph;
  auto zeros = Tensor::Zeros(from, TensorShape{2});
  if (!zeros.ok()) return false;
  auto x = AddConst(graph, "x", *zeros);
  if (!x.ok()) return false;
  auto cast = AddOpNode(graph, "Cast", {{"DstT", MakeAttr(to)}}, {*x});
  if (!cast.ok()) return false;
  return KernelRegistry::Global().Find(**cast, device_type) != nullptr;
}

// Runs the CPU kernel of `op` on `inputs` (deep-copied, so the kernel may forward their
// buffers and the caller's tensors stay untouched). `intra_op_threads` > 1 exercises the
// kernels' parallel paths (ParallelFor over OpenMP).
inline absl::StatusOr<std::vector<Tensor>> RunKernel(const std::string& op, const AttrMap& attrs,
                                                     const std::vector<Tensor>& inputs,
                                                     int intra_op_threads = 1) {
  Graph graph;
  std::vector<Node*> input_nodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].valid()) {
      return absl::InvalidArgumentError(absl::StrCat("test input ", i, " is an empty tensor"));
    }
    ASSIGN_OR_RETURN(Node * n, AddConst(graph, absl::StrCat("input", i), inputs[i]));
    input_nodes.push_back(n);
  }
  ASSIGN_OR_RETURN(Node * node, AddOpNode(graph, op, attrs, input_nodes));
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel,
                   KernelRegistry::Global().CreateKernel(*node, kCpu));
  std::vector<TensorValue> in_values(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(in_values[i].tensor, inputs[i].Clone());
  }
  std::vector<TensorValue> out_values(node->num_outputs());
  StepResources resources;
  resources.intra_op_threads = intra_op_threads;
  OpKernelContext ctx(*node, &in_values, &out_values, &resources);
  RETURN_IF_ERROR(kernel->Compute(ctx));
  std::vector<Tensor> outputs;
  for (int i = 0; i < node->num_outputs(); ++i) {
    if (!out_values[i].tensor.valid()) {
      return absl::InternalError(absl::StrCat(op, " did not set output ", i));
    }
    if (out_values[i].tensor.dtype() != node->output_type(i)) {
      return absl::InternalError(absl::StrCat(op, " output ", i, " is ",
                                              DataTypeName(out_values[i].tensor.dtype()),
                                              ", expected ", DataTypeName(node->output_type(i))));
    }
    outputs.push_back(out_values[i].tensor);
  }
  return outputs;
}

// An input to a shape-inference run: a partial shape (a Placeholder) or a known value (Const).
struct ShapeInput {
  DataType dtype = DT_FLOAT;
  TensorShape shape;
  std::optional<Tensor> value;
  static ShapeInput Of(DataType dtype, TensorShape shape) { return {dtype, std::move(shape), {}}; }
  static ShapeInput Known(const Tensor& t) { return {t.dtype(), t.shape(), t}; }
};

// Runs the op's shape function and returns its output shapes.
inline absl::StatusOr<std::vector<TensorShape>> InferOpShapes(
    const std::string& op, const AttrMap& attrs, const std::vector<ShapeInput>& inputs) {
  Graph graph;
  std::vector<Node*> input_nodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = absl::StrCat("input", i);
    if (inputs[i].value.has_value()) {
      ASSIGN_OR_RETURN(Node * n, AddConst(graph, name, *inputs[i].value));
      input_nodes.push_back(n);
    } else {
      NodeSpec spec;
      spec.name = name;
      spec.op = "Placeholder";
      spec.attrs["dtype"] = MakeAttr(inputs[i].dtype);
      spec.attrs["shape"] = MakeAttr(inputs[i].shape);
      ASSIGN_OR_RETURN(Node * n, graph.AddNode(std::move(spec)));
      input_nodes.push_back(n);
    }
  }
  ASSIGN_OR_RETURN(Node * node, AddOpNode(graph, op, attrs, input_nodes));
  RETURN_IF_ERROR(graph.InferShapes());
  std::vector<TensorShape> shapes;
  for (int i = 0; i < node->num_outputs(); ++i) shapes.push_back(node->output_shape(i));
  return shapes;
}

}  // namespace testing
}  // namespace quiver
