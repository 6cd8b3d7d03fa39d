#include "passes/channels_first_lowering.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"

namespace quiver {
namespace {

// How one input of a lowered op is treated (see the header).
enum class Arg {
  kData,       // 4-D tensor: Transpose NCHW -> NHWC
  kShape,      // 4-element vector in NCHW order: permuted
  kShapeOrHW,  // like kShape, but a 2-element [H, W] vector is kept
  kKeep,       // the same in both formats (filters, filter sizes)
};

struct Rule {
  const char* op;
  std::vector<Arg> args;
  Arg output = Arg::kData;  // kKeep: the output is not a 4-D activation (a filter, a bias)
  // A follower runs in either layout (BiasAdd, BiasAddGrad, element-wise activations and their
  // gradients): it is rewritten only when every data input is the output of a node lowered
  // here, so that the NHWC layout flows through it instead of paying a transpose pair.
  bool follower = false;
};

const std::vector<Rule>& Rules() {
  static const auto* rules = new std::vector<Rule>{
      {"Conv2D", {Arg::kData, Arg::kKeep}},
      {"DepthwiseConv2dNative", {Arg::kData, Arg::kKeep}},
      {"Conv2DBackpropInput", {Arg::kShapeOrHW, Arg::kKeep, Arg::kData}},
      {"Conv2DBackpropFilter", {Arg::kData, Arg::kKeep, Arg::kData}, Arg::kKeep},
      {"DepthwiseConv2dNativeBackpropInput", {Arg::kShape, Arg::kKeep, Arg::kData}},
      {"DepthwiseConv2dNativeBackpropFilter", {Arg::kData, Arg::kKeep, Arg::kData}, Arg::kKeep},
      {"MaxPool", {Arg::kData}},
      {"MaxPoolV2", {Arg::kData, Arg::kShape, Arg::kShape}},
      {"AvgPool", {Arg::kData}},
      {"MaxPoolGrad", {Arg::kData, Arg::kData, Arg::kData}},
      {"AvgPoolGrad", {Arg::kShape, Arg::kData}},
      // Followers.
      {"BiasAdd", {Arg::kData, Arg::kKeep}, Arg::kData, true},
      {"BiasAddGrad", {Arg::kData}, Arg::kKeep, true},
      {"Relu", {Arg::kData}, Arg::kData, true},
      {"Relu6", {Arg::kData}, Arg::kData, true},
      {"Elu", {Arg::kData}, Arg::kData, true},
      {"Selu", {Arg::kData}, Arg::kData, true},
      {"LeakyRelu", {Arg::kData}, Arg::kData, true},
      {"Tanh", {Arg::kData}, Arg::kData, true},
      {"Sigmoid", {Arg::kData}, Arg::kData, true},
      {"Softplus", {Arg::kData}, Arg::kData, true},
      {"ReluGrad", {Arg::kData, Arg::kData}, Arg::kData, true},
      {"Relu6Grad", {Arg::kData, Arg::kData}, Arg::kData, true},
      {"EluGrad", {Arg::kData, Arg::kData}, Arg::kData, true},
      {"LeakyReluGrad", {Arg::kData, Arg::kData}, Arg::kData, true},
      {"TanhGrad", {Arg::kData, Arg::kData}, Arg::kData, true},
      {"SigmoidGrad", {Arg::kData, Arg::kData}, Arg::kData, true},
  };
  return *rules;
}

const Rule* FindRule(const std::string& op) {
  for (const Rule& r : Rules()) {
    if (op == r.op) return &r;
  }
  return nullptr;
}

// Dim j of the NHWC tensor is dim kToNhwc[j] of the NCHW one.
constexpr int kToNhwc[4] = {0, 2, 3, 1};
constexpr int kToNchw[4] = {0, 3, 1, 2};

template <typename T>
std::vector<T> PermuteToNhwc(const std::vector<T>& v) {
  return {v[kToNhwc[0]], v[kToNhwc[1]], v[kToNhwc[2]], v[kToNhwc[3]]};
}

std::string NodeText(const Node& n) { return absl::StrCat("node '", n.name(), "' (", n.op(), ")"); }

// What Lower() does with one input, decided (and checked) before the graph changes.
struct InputPlan {
  Arg arg = Arg::kKeep;
  bool permute = false;                 // kShape*: the vector has 4 elements
  std::optional<Tensor> const_value;    // kShape* from an unfed Const: its value
  std::optional<Endpoint> nhwc_source;  // kData read from a lowered output Transpose
};

class Lowering {
 public:
  Lowering(Graph* graph, const PassContext& ctx)
      : graph_(graph), fed_(ctx.FedNodes()), preserved_(ctx.PreservedNodes(*graph)) {}

  absl::StatusOr<PassStats> Run() {
    ASSIGN_OR_RETURN(std::vector<Node*> order, graph_->TopologicalOrder());
    // Names, not pointers: each lowered node is replaced by a new node of the same name.
    std::vector<std::string> names;
    for (Node* n : order) {
      if (FindRule(n->op()) != nullptr) names.push_back(n->name());
    }
    const int before = graph_->num_nodes();
    for (const std::string& name : names) {
      Node* n = graph_->FindNode(name);
      if (n == nullptr) continue;
      const Rule* rule = FindRule(n->op());
      if (rule == nullptr) continue;
      if (rule->follower) {
        ASSIGN_OR_RETURN(bool follows, Follows(*n, *rule));
        if (!follows) continue;
      } else {
        ASSIGN_OR_RETURN(bool nchw, IsNchw(*n));
        if (!nchw) continue;
      }
      ASSIGN_OR_RETURN(std::vector<InputPlan> plan, Plan(*n, *rule));
      RETURN_IF_ERROR(Lower(n, *rule, plan));
    }
    // Output Transposes whose every consumer now reads the NHWC tensor directly.
    for (int id : bypassed_) {
      Node* t = graph_->node(id);
      if (t != nullptr) stats_.nodes_removed += pass_util::RemoveIfDead(graph_, t, preserved_);
    }
    if (stats_.nodes_changed > 0) {
      RETURN_IF_ERROR(graph_->InferShapes());
      stats_.nodes_added = graph_->num_nodes() - before + stats_.nodes_removed;
    }
    return std::move(stats_);
  }

 private:
  absl::StatusOr<bool> IsNchw(const Node& n) const {
    ASSIGN_OR_RETURN(std::string format,
                     GetAttrOr<std::string>(n.attrs(), "data_format", std::string("NHWC")));
    if (format == "NCHW") return true;
    if (format == "NHWC" || format == "NCHW_VECT_C") return false;  // the kernel names the latter
    return absl::InvalidArgumentError(
        absl::StrCat(NodeText(n), ": data_format '", format, "' is not supported (NHWC or NCHW)"));
  }

  // Whether `n` reads the NHWC tensor `nhwc` through one of the output Transposes made here.
  bool Bypassable(const Node& n, int i) const {
    const Endpoint in = n.input(i);
    return in.index == 0 && nhwc_of_.contains(in.node->id()) && !fed_.contains(in.node->name());
  }

  // A follower is rewritten when it is NCHW (or has no data_format) and every data input can
  // read an NHWC tensor directly.
  absl::StatusOr<bool> Follows(const Node& n, const Rule& rule) const {
    if (n.attrs().count("data_format")) {
      ASSIGN_OR_RETURN(std::string format, n.GetAttr<std::string>("data_format"));
      if (format != "NCHW") return false;
    }
    if (n.num_inputs() != static_cast<int>(rule.args.size()) || n.num_outputs() != 1) {
      return false;
    }
    for (int i = 0; i < n.num_inputs(); ++i) {
      if (rule.args[i] == Arg::kData && !Bypassable(n, i)) return false;
    }
    return true;
  }

  absl::StatusOr<std::vector<InputPlan>> Plan(const Node& n, const Rule& rule) const {
    if (n.num_inputs() != static_cast<int>(rule.args.size()) || n.num_outputs() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(NodeText(n), ": expected ", rule.args.size(), " inputs and 1 output"));
    }
    for (const char* attr : {"strides", "ksize", "dilations"}) {
      if (n.attrs().find(attr) == n.attrs().end()) continue;
      ASSIGN_OR_RETURN(std::vector<int64_t> v, n.GetAttr<std::vector<int64_t>>(attr));
      if (v.size() != 4) {
        return absl::InvalidArgumentError(absl::StrCat(NodeText(n), ": ", attr,
                                                       " must have 4 elements (NCHW), got [",
                                                       absl::StrJoin(v, ","), "]"));
      }
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                     GetAttrOr<std::vector<int64_t>>(n.attrs(), "explicit_paddings", {}));
    if (!pads.empty() && pads.size() != 8) {
      return absl::InvalidArgumentError(
          absl::StrCat(NodeText(n), ": explicit_paddings must have 8 elements (NCHW), got [",
                       absl::StrJoin(pads, ","), "]"));
    }
    std::vector<InputPlan> plan(rule.args.size());
    for (int i = 0; i < n.num_inputs(); ++i) {
      InputPlan& p = plan[i];
      p.arg = rule.args[i];
      const Endpoint in = n.input(i);
      const std::string what = absl::StrCat(NodeText(n), ": input ", i, " '", n.InputArgName(i),
                                            "' (", in.TensorName(), ")");
      if (p.arg == Arg::kData) {
        if (Bypassable(n, i)) {
          p.nhwc_source = nhwc_of_.at(in.node->id());
          continue;
        }
        const TensorShape& s = in.node->output_shape(in.index);
        if (!s.unknown_rank() && s.rank() != 4) {
          return absl::InvalidArgumentError(
              absl::StrCat(what, " has shape ", s.DebugString(),
                           "; data_format NCHW needs a 4-D tensor [N,C,H,W]"));
        }
      } else if (p.arg == Arg::kShape || p.arg == Arg::kShapeOrHW) {
        int64_t length = -1;
        if (in.node->op() == "Const" && !fed_.contains(in.node->name())) {
          ASSIGN_OR_RETURN(Tensor value, in.node->GetAttr<Tensor>("value"));
          if (value.rank() == 1) {
            length = value.dim(0);
            p.const_value = std::move(value);
          }
        } else {
          const TensorShape& s = in.node->output_shape(in.index);
          if (!s.unknown_rank() && s.rank() == 1) length = s.dim(0);
        }
        const bool hw_ok = p.arg == Arg::kShapeOrHW;
        if (length == 4) {
          p.permute = true;
        } else if (!(hw_ok && length == 2)) {
          return absl::InvalidArgumentError(absl::StrCat(
              what, " must be a vector of 4 elements", hw_ok ? " (or 2: [H, W])" : "",
              " in NCHW order to lower the node to NHWC, got ",
              length < 0 ? std::string("a vector of unknown length")
                         : absl::StrCat(in.node->output_shape(in.index).DebugString())));
        }
      }
    }
    return plan;
  }

  // A graph-wide int32 Const on no device (the placer keeps it on the host).
  absl::StatusOr<Node*> HostConst(Node** cache, const std::string& base, const Tensor& value) {
    if (*cache != nullptr) return *cache;
    NodeSpec spec;
    spec.name = graph_->UniqueName(base);
    spec.op = "Const";
    spec.attrs["dtype"] = MakeAttr(value.dtype());
    spec.attrs["value"] = MakeAttr(value);
    ASSIGN_OR_RETURN(*cache, graph_->AddNode(std::move(spec)));
    RETURN_IF_ERROR(graph_->InferNodeShape(*cache));
    return *cache;
  }
  absl::StatusOr<Node*> PermConst(bool to_nhwc) {
    const int* p = to_nhwc ? kToNhwc : kToNchw;
    return HostConst(to_nhwc ? &to_nhwc_perm_ : &to_nchw_perm_,
                     to_nhwc ? "channels_first/perm_to_nhwc" : "channels_first/perm_to_nchw",
                     Tensor::FromVector<int32_t>({p[0], p[1], p[2], p[3]}, TensorShape{4}));
  }

  struct Origin {
    std::string name;
    std::string device;
    std::string assigned;
    std::vector<Node*> control_inputs;
    AttrMap private_attrs;  // "_"-prefixed (colocation)
  };

  // Adds a node on the original node's device, with its control inputs and "_" attrs.
  absl::StatusOr<Node*> AddOnDevice(NodeSpec spec, const Origin& o, bool with_controls) {
    spec.device = o.device;
    for (const auto& [k, v] : o.private_attrs) spec.attrs.emplace(k, v);
    if (with_controls) spec.control_inputs = o.control_inputs;
    ASSIGN_OR_RETURN(Node * n, graph_->AddNode(std::move(spec)));
    n->set_assigned_device(o.assigned);
    RETURN_IF_ERROR(graph_->InferNodeShape(n));
    return n;
  }

  absl::StatusOr<Endpoint> TransposedInput(const Node& n, int i, const Origin& o) {
    const Endpoint in = n.input(i);
    const std::string key =
        absl::StrCat(in.node->id(), ":", in.index, "@", o.device, "@", o.assigned);
    const bool shareable = o.control_inputs.empty();
    if (shareable) {
      auto it = input_transposes_.find(key);
      if (it != input_transposes_.end()) return Endpoint{it->second, 0};
    }
    ASSIGN_OR_RETURN(Node * perm, PermConst(/*to_nhwc=*/true));
    NodeSpec spec;
    spec.name = graph_->UniqueName(absl::StrCat(o.name, "/", n.InputArgName(i), "_nhwc"));
    spec.op = "Transpose";
    spec.attrs["T"] = MakeAttr(in.node->output_type(in.index));
    spec.attrs["Tperm"] = MakeAttr(DT_INT32);
    spec.inputs = {in, {perm, 0}};
    ASSIGN_OR_RETURN(Node * t, AddOnDevice(std::move(spec), o, /*with_controls=*/true));
    if (shareable) input_transposes_[key] = t;
    return Endpoint{t, 0};
  }

  absl::StatusOr<Endpoint> PermutedShape(const Node& n, int i, const InputPlan& p,
                                         const Origin& o) {
    const Endpoint in = n.input(i);
    const DataType dtype = in.node->output_type(in.index);
    const std::string name =
        graph_->UniqueName(absl::StrCat(o.name, "/", n.InputArgName(i), "_nhwc"));
    NodeSpec spec;
    spec.name = name;
    if (p.const_value) {
      ASSIGN_OR_RETURN(std::vector<int64_t> v, p.const_value->AsInt64Vector());
      v = PermuteToNhwc(v);
      Tensor value = dtype == DT_INT64
                         ? Tensor::FromVector<int64_t>(v, TensorShape{4})
                         : Tensor::FromVector<int32_t>(std::vector<int32_t>(v.begin(), v.end()),
                                                       TensorShape{4});
      spec.op = "Const";
      spec.attrs["dtype"] = MakeAttr(dtype);
      spec.attrs["value"] = MakeAttr(value);
    } else {
      ASSIGN_OR_RETURN(Node * indices, PermConst(/*to_nhwc=*/true));
      ASSIGN_OR_RETURN(Node * axis,
                       HostConst(&axis0_, "channels_first/axis0", Tensor::Scalar<int32_t>(0)));
      spec.op = "GatherV2";
      spec.attrs["Tparams"] = MakeAttr(dtype);
      spec.attrs["Tindices"] = MakeAttr(DT_INT32);
      spec.attrs["Taxis"] = MakeAttr(DT_INT32);
      spec.inputs = {in, {indices, 0}, {axis, 0}};
      spec.control_inputs = o.control_inputs;
    }
    // No device: an int32 shape computation the kernels read on the host.
    ASSIGN_OR_RETURN(Node * s, graph_->AddNode(std::move(spec)));
    RETURN_IF_ERROR(graph_->InferNodeShape(s));
    return Endpoint{s, 0};
  }

  absl::Status Lower(Node* n, const Rule& rule, const std::vector<InputPlan>& plan) {
    Origin o;
    o.name = n->name();
    o.device = n->requested_device();
    o.assigned = n->assigned_device();
    for (const Edge* e : n->control_in_edges()) o.control_inputs.push_back(e->src);
    for (const auto& [k, v] : n->attrs()) {
      // "_output_shapes" (TF's recorded shapes) would be stale on the new nodes.
      if (absl::StartsWith(k, "_") && k != "_output_shapes") o.private_attrs.emplace(k, v);
    }
    const std::string op = n->op();
    const DataType dtype = n->output_type(0);

    std::vector<Endpoint> inputs;
    std::vector<int> replaced_consts;  // ids: a removed node leaves a null slot
    int transposed = 0, cancelled = 0;
    for (int i = 0; i < n->num_inputs(); ++i) {
      const InputPlan& p = plan[i];
      if (p.arg == Arg::kData) {
        if (p.nhwc_source) {
          bypassed_.insert(n->input(i).node->id());
          inputs.push_back(*p.nhwc_source);
          ++cancelled;
        } else {
          ASSIGN_OR_RETURN(Endpoint t, TransposedInput(*n, i, o));
          inputs.push_back(t);
          ++transposed;
        }
      } else if ((p.arg == Arg::kShape || p.arg == Arg::kShapeOrHW) && p.permute) {
        ASSIGN_OR_RETURN(Endpoint s, PermutedShape(*n, i, p, o));
        if (p.const_value) replaced_consts.push_back(n->input(i).node->id());
        inputs.push_back(s);
      } else {
        inputs.push_back(n->input(i));
      }
    }

    AttrMap attrs = n->attrs();
    attrs.erase("_output_shapes");
    for (const char* attr : {"strides", "ksize", "dilations"}) {
      if (attrs.find(attr) == attrs.end()) continue;
      ASSIGN_OR_RETURN(std::vector<int64_t> v, GetAttr<std::vector<int64_t>>(attrs, attr));
      attrs[attr] = MakeAttr(PermuteToNhwc(v));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                     GetAttrOr<std::vector<int64_t>>(attrs, "explicit_paddings", {}));
    if (pads.size() == 8) {
      std::vector<int64_t> out(8);
      for (int j = 0; j < 4; ++j) {
        out[2 * j] = pads[2 * kToNhwc[j]];
        out[2 * j + 1] = pads[2 * kToNhwc[j] + 1];
      }
      attrs["explicit_paddings"] = MakeAttr(out);
    }
    if (attrs.count("data_format")) attrs["data_format"] = MakeAttr(std::string("NHWC"));

    // The original node goes first, so that its name is free for the node that replaces it:
    // the output Transpose, or the NHWC op itself when its output is a filter.
    std::vector<std::pair<Node*, int>> data_consumers;
    std::vector<Node*> control_consumers;
    for (const Edge* e : n->out_edges()) {
      if (e->IsControl()) {
        control_consumers.push_back(e->dst);
      } else {
        data_consumers.emplace_back(e->dst, e->dst_input);
      }
    }
    graph_->RemoveNode(n);
    n = nullptr;

    const bool transpose_output = rule.output == Arg::kData;
    NodeSpec spec;
    spec.name = transpose_output ? graph_->UniqueName(o.name + "/nhwc") : o.name;
    spec.op = op;
    spec.attrs = std::move(attrs);  // already carries the "_" attrs
    spec.device = o.device;
    spec.inputs = std::move(inputs);
    spec.control_inputs = o.control_inputs;
    ASSIGN_OR_RETURN(Node * nhwc, graph_->AddNode(std::move(spec)));
    nhwc->set_assigned_device(o.assigned);
    RETURN_IF_ERROR(graph_->InferNodeShape(nhwc));

    Node* out = nhwc;
    if (transpose_output) {
      ASSIGN_OR_RETURN(Node * to_nchw_perm, PermConst(/*to_nhwc=*/false));
      NodeSpec out_spec;
      out_spec.name = o.name;
      out_spec.op = "Transpose";
      out_spec.attrs["T"] = MakeAttr(dtype);
      out_spec.attrs["Tperm"] = MakeAttr(DT_INT32);
      out_spec.inputs = {{nhwc, 0}, {to_nchw_perm, 0}};
      ASSIGN_OR_RETURN(out, AddOnDevice(std::move(out_spec), o, /*with_controls=*/false));
      nhwc_of_[out->id()] = Endpoint{nhwc, 0};
    }
    for (const auto& [dst, slot] : data_consumers) {
      RETURN_IF_ERROR(graph_->UpdateInput(dst, slot, {out, 0}));
    }
    for (Node* dst : control_consumers) graph_->AddControlEdge(out, dst);
    for (int id : replaced_consts) {
      if (Node* c = graph_->node(id)) {
        stats_.nodes_removed += pass_util::RemoveIfDead(graph_, c, preserved_);
      }
    }

    ++stats_.nodes_changed;
    stats_.changes.push_back(absl::StrCat(o.name, " (", op, "): NCHW -> NHWC as ", nhwc->name(),
                                          "; ", transposed, " input(s) transposed, ", cancelled,
                                          " transpose pair(s) cancelled"));
    return absl::OkStatus();
  }

  Graph* graph_;
  absl::flat_hash_set<std::string> fed_;
  absl::flat_hash_set<std::string> preserved_;
  PassStats stats_;
  Node* to_nhwc_perm_ = nullptr;
  Node* to_nchw_perm_ = nullptr;
  Node* axis0_ = nullptr;
  // Output Transpose (by id) -> the NHWC tensor it transposes back.
  absl::flat_hash_map<int, Endpoint> nhwc_of_;
  // (tensor, device) -> its NCHW -> NHWC Transpose, for consumers without control inputs.
  absl::flat_hash_map<std::string, Node*> input_transposes_;
  // Output Transposes some consumer stopped reading.
  absl::flat_hash_set<int> bypassed_;
};

}  // namespace

bool IsChannelsFirstLowerableOp(const std::string& op) {
  const Rule* rule = FindRule(op);
  return rule != nullptr && !rule->follower;
}

absl::StatusOr<PassStats> LowerChannelsFirst(Graph* graph, const PassContext& ctx) {
  Lowering lowering(graph, ctx);
  return lowering.Run();
}

}  // namespace quiver
