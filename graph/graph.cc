#include "graph/graph.h"

#include <algorithm>
#include <deque>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"

namespace quiver {

std::string Endpoint::TensorName() const { return absl::StrCat(node->name(), ":", index); }

std::string TensorId::ToString() const {
  if (is_control) return "^" + node;
  return absl::StrCat(node, ":", index);
}

absl::StatusOr<TensorId> ParseTensorName(const std::string& name) {
  TensorId id;
  std::string s = name;
  if (!s.empty() && s[0] == '^') {
    id.is_control = true;
    s = s.substr(1);
  }
  size_t colon = s.rfind(':');
  if (colon != std::string::npos && !id.is_control) {
    int index;
    if (!absl::SimpleAtoi(s.substr(colon + 1), &index) || index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("malformed tensor name '", name, "'"));
    }
    id.index = index;
    s = s.substr(0, colon);
  }
  if (s.empty())
    return absl::InvalidArgumentError(absl::StrCat("malformed tensor name '", name, "'"));
  id.node = s;
  return id;
}

namespace {

// TF's rule: [A-Za-z0-9.][A-Za-z0-9_./\-]*  (TF also accepts '-' after the first char)
bool IsValidNodeName(const std::string& name) {
  if (name.empty()) return false;
  auto ok_first = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.'; };
  auto ok_rest = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' ||
           c == '-';
  };
  if (!ok_first(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(), ok_rest);
}

}  // namespace

absl::StatusOr<Node*> Graph::AddNode(NodeSpec spec) {
  if (!IsValidNodeName(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid node name '", spec.name,
                                                   "' (must match [A-Za-z0-9.][A-Za-z0-9_./-]*)"));
  }
  if (by_name_.contains(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate node name '", spec.name, "'"));
  }
  const OpDef* op_def = OpRegistry::Global().Find(spec.op);
  if (op_def == nullptr) {
    return absl::NotFoundError(absl::StrCat("node '", spec.name, "': unknown op '", spec.op, "'"));
  }
  auto node = std::make_unique<Node>();
  node->name_ = spec.name;
  node->op_ = spec.op;
  node->op_def_ = op_def;
  node->attrs_ = std::move(spec.attrs);
  node->requested_device_ = std::move(spec.device);
  RETURN_IF_ERROR(AddDefaultsAndValidateAttrs(*op_def, node->name_, &node->attrs_));
  RETURN_IF_ERROR(ResolveSignature(*op_def, node->name_, node->attrs_, &node->input_types_,
                                   &node->output_types_, &node->input_is_ref_,
                                   &node->output_is_ref_));
  auto prefix = [&] { return absl::StrCat("node '", node->name_, "' (", node->op_, "): "); };
  if (spec.inputs.size() != node->input_types_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix(), "expects ", node->input_types_.size(),
                                                   " inputs, got ", spec.inputs.size()));
  }
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const Endpoint& in = spec.inputs[i];
    if (in.node == nullptr || in.index < 0 || in.index >= in.node->num_outputs()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix(), "input ", i, " refers to ",
                       in.node ? absl::StrCat("output ", in.index, " of '", in.node->name(),
                                              "', which has ", in.node->num_outputs(), " outputs")
                               : "no node"));
    }
    DataType got = in.node->output_type(in.index);
    if (got != node->input_types_[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix(), "input ", i, " ('", in.TensorName(), "') is ", DataTypeName(got),
                       " but the op expects ", DataTypeName(node->input_types_[i])));
    }
    if (node->input_is_ref_[i] && !in.node->output_is_ref(in.index)) {
      return absl::InvalidArgumentError(absl::StrCat(prefix(), "input ", i, " ('", in.TensorName(),
                                                     "') must be a variable reference"));
    }
  }
  Node* raw = node.get();
  raw->id_ = static_cast<int>(nodes_.size());
  raw->output_shapes_.assign(raw->output_types_.size(), TensorShape::UnknownRank());
  raw->in_data_.assign(spec.inputs.size(), nullptr);
  nodes_.push_back(std::move(node));
  by_name_[raw->name_] = raw;
  ++num_live_nodes_;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    AddEdgeInternal(spec.inputs[i].node, spec.inputs[i].index, raw, static_cast<int>(i));
  }
  for (Node* c : spec.control_inputs) AddControlEdge(c, raw);
  return raw;
}

Edge* Graph::AddEdgeInternal(Node* src, int src_output, Node* dst, int dst_input) {
  auto edge = std::make_unique<Edge>();
  edge->src = src;
  edge->src_output = src_output;
  edge->dst = dst;
  edge->dst_input = dst_input;
  Edge* e = edge.get();
  edges_.push_back(std::move(edge));
  src->out_edges_.push_back(e);
  if (dst_input == kControlSlot) {
    dst->in_control_.push_back(e);
  } else {
    dst->in_data_[dst_input] = e;
  }
  return e;
}

void Graph::AddControlEdge(Node* src, Node* dst) {
  for (Edge* e : dst->in_control_) {
    if (e->src == src) return;  // already there
  }
  AddEdgeInternal(src, kControlSlot, dst, kControlSlot);
}

void Graph::RemoveEdge(Edge* edge) {
  auto erase = [](std::vector<Edge*>& v, Edge* e) {
    v.erase(std::remove(v.begin(), v.end(), e), v.end());
  };
  erase(edge->src->out_edges_, edge);
  if (edge->IsControl()) {
    erase(edge->dst->in_control_, edge);
  } else {
    edge->dst->in_data_[edge->dst_input] = nullptr;
  }
  for (auto& owned : edges_) {
    if (owned.get() == edge) {
      owned.reset();
      break;
    }
  }
  edges_.erase(std::remove(edges_.begin(), edges_.end(), nullptr), edges_.end());
}

absl::Status Graph::UpdateInput(Node* dst, int dst_input, Endpoint src) {
  if (dst_input < 0 || dst_input >= dst->num_inputs()) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", dst->name(), "' has no input ", dst_input));
  }
  if (src.node->output_type(src.index) != dst->input_type(dst_input)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot connect ", src.TensorName(), " (", DataTypeName(src.node->output_type(src.index)),
        ") to input ", dst_input, " of '", dst->name(), "'"));
  }
  if (Edge* old = dst->in_data_[dst_input]) RemoveEdge(old);
  AddEdgeInternal(src.node, src.index, dst, dst_input);
  return absl::OkStatus();
}

void Graph::RemoveNode(Node* node) {
  std::vector<Edge*> to_remove = node->out_edges_;
  for (Edge* e : node->in_data_) {
    if (e) to_remove.push_back(e);
  }
  to_remove.insert(to_remove.end(), node->in_control_.begin(), node->in_control_.end());
  for (Edge* e : to_remove) RemoveEdge(e);
  by_name_.erase(node->name_);
  nodes_[node->id_].reset();
  --num_live_nodes_;
}

Node* Graph::FindNode(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(num_live_nodes_);
  for (const auto& n : nodes_) {
    if (n) out.push_back(n.get());
  }
  return out;
}

std::string Graph::UniqueName(const std::string& base) const {
  if (!by_name_.contains(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = absl::StrCat(base, "_", i);
    if (!by_name_.contains(candidate)) return candidate;
  }
}

absl::StatusOr<std::vector<Node*>> Graph::TopologicalOrder() const {
  std::vector<int> pending(nodes_.size(), 0);
  std::deque<Node*> ready;
  for (const auto& n : nodes_) {
    if (!n) continue;
    int count = static_cast<int>(n->in_control_.size());
    for (Edge* e : n->in_data_) count += e != nullptr;
    pending[n->id_] = count;
    if (count == 0) ready.push_back(n.get());
  }
  std::vector<Node*> order;
  order.reserve(num_live_nodes_);
  while (!ready.empty()) {
    Node* n = ready.front();
    ready.pop_front();
    order.push_back(n);
    for (Edge* e : n->out_edges_) {
      if (--pending[e->dst->id_] == 0) ready.push_back(e->dst);
    }
  }
  if (static_cast<int>(order.size()) != num_live_nodes_) {
    std::vector<std::string> stuck;
    for (const auto& n : nodes_) {
      if (n && pending[n->id_] > 0 && stuck.size() < 10) stuck.push_back(n->name_);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("graph has a cycle through nodes: ", absl::StrJoin(stuck, ", ")));
  }
  return order;
}

namespace {
// Shape functions see the values of Const inputs up to this many elements.
constexpr int64_t kMaxShapeFnConstElements = 4096;

// Whether a Const's value is small enough to hand to shape functions, judged from its declared
// shape so that a large (or hostile, splatted) constant is not decoded once per consumer.
bool SmallConstant(const Node& node) {
  auto it = node.attrs().find("value");
  if (it == node.attrs().end() || it->second.value_case() != AttrValue::kTensor) return false;
  const auto& shape = it->second.tensor().tensor_shape();
  if (shape.unknown_rank()) return false;
  int64_t n = 1;
  for (const auto& d : shape.dim()) {
    if (d.size() < 0 || d.size() > kMaxShapeFnConstElements) return false;
    n *= d.size();  // each factor <= 4096 and n <= 4096 before: no overflow
    if (n > kMaxShapeFnConstElements) return false;
  }
  return true;
}
}  // namespace

absl::Status Graph::InferNodeShape(Node* n) {
  std::vector<TensorShape> shapes;
  std::vector<Tensor> const_values(n->num_inputs());
  std::vector<const Tensor*> tensors;
  for (int i = 0; i < n->num_inputs(); ++i) {
    Endpoint in = n->input(i);
    shapes.push_back(in.node->output_shape(in.index));
    // Constant values let Reshape/Fill/... infer concrete shapes from small Const inputs.
    const Tensor* known = nullptr;
    if (in.node->op() == "Const" && SmallConstant(*in.node)) {
      auto value = in.node->GetAttr<Tensor>("value");
      if (value.ok()) {
        const_values[i] = *std::move(value);
        known = &const_values[i];
      }
    }
    tensors.push_back(known);
  }
  InferenceContext ctx(*n, std::move(shapes), std::move(tensors));
  if (n->op_def().shape_fn) RETURN_IF_ERROR(n->op_def().shape_fn(ctx));
  n->set_output_shapes(ctx.TakeOutputs());
  return absl::OkStatus();
}

absl::Status Graph::InferShapes() {
  ASSIGN_OR_RETURN(std::vector<Node*> order, TopologicalOrder());
  for (Node* n : order) RETURN_IF_ERROR(InferNodeShape(n));
  return absl::OkStatus();
}

absl::Status Graph::CopyFrom(const Graph& other) {
  if (num_live_nodes_ != 0) return absl::FailedPreconditionError("CopyFrom needs an empty graph");
  ASSIGN_OR_RETURN(std::vector<Node*> order, other.TopologicalOrder());
  for (Node* n : order) {
    NodeSpec spec{n->name(), n->op(), n->attrs(), n->requested_device(), {}, {}};
    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      spec.inputs.push_back({FindNode(in.node->name()), in.index});
    }
    for (Edge* e : n->control_in_edges()) spec.control_inputs.push_back(FindNode(e->src->name()));
    ASSIGN_OR_RETURN(Node * copy, AddNode(std::move(spec)));
    copy->set_assigned_device(n->assigned_device());
    copy->set_output_shapes(std::vector<TensorShape>(n->num_outputs()));
    std::vector<TensorShape> shapes;
    for (int i = 0; i < n->num_outputs(); ++i) shapes.push_back(n->output_shape(i));
    copy->set_output_shapes(std::move(shapes));
  }
  producer_version_ = other.producer_version_;
  return absl::OkStatus();
}

namespace {
std::string ArgNameAtSlot(const Node& node, const std::vector<ArgDef>& args, int index) {
  int slot = 0;
  for (const ArgDef& arg : args) {
    int count = 1;
    if (!arg.number_attr.empty()) {
      auto n = node.GetAttr<int64_t>(arg.number_attr);
      count = n.ok() ? static_cast<int>(*n) : 0;
    } else if (!arg.type_list_attr.empty()) {
      auto types = node.GetAttr<std::vector<DataType>>(arg.type_list_attr);
      count = types.ok() ? static_cast<int>(types->size()) : 0;
    }
    if (index < slot + count) return arg.name;
    slot += count;
  }
  return "";
}
}  // namespace

std::string Node::InputArgName(int index) const {
  return ArgNameAtSlot(*this, op_def().inputs, index);
}

std::string Node::OutputArgName(int index) const {
  return ArgNameAtSlot(*this, op_def().outputs, index);
}

}  // namespace quiver
