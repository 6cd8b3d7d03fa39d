#include "passes/placement_report.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/json_escape.h"
#include "graph/status_macros.h"
#include "passes/copy_insertion.h"

namespace quiver {
namespace {

bool IsElementWise(const std::string& op) {
  static const std::set<std::string> kOps = {"Add",
                                             "AddV2",
                                             "Sub",
                                             "Mul",
                                             "Div",
                                             "RealDiv",
                                             "Neg",
                                             "Maximum",
                                             "Minimum",
                                             "Pow",
                                             "SquaredDifference",
                                             "BiasAdd",
                                             "Relu",
                                             "Relu6",
                                             "Elu",
                                             "Sigmoid",
                                             "Tanh",
                                             "Exp",
                                             "Log",
                                             "Sqrt",
                                             "Rsqrt",
                                             "Square",
                                             "Abs",
                                             "Sign",
                                             "Reciprocal",
                                             "Softmax",
                                             "LogSoftmax",
                                             "ReluGrad",
                                             "Relu6Grad",
                                             "SigmoidGrad",
                                             "TanhGrad",
                                             "BiasAddGrad",
                                             "Equal",
                                             "Less",
                                             "Greater",
                                             "LessEqual",
                                             "GreaterEqual",
                                             "Cast",
                                             "ApplyGradientDescent",
                                             "AssignAdd",
                                             "AssignSub"};
  return kOps.count(op) > 0;
}

// The product of known dims, or -1.
int64_t Elements(const TensorShape& s) { return s.IsFullyDefined() ? s.num_elements() : -1; }

int64_t Mul(std::initializer_list<int64_t> xs) {
  int64_t p = 1;
  for (int64_t x : xs) {
    if (x < 0) return -1;
    p *= x;
  }
  return p;
}

std::string JsonString(const std::string& s) { return absl::StrCat("\"", JsonEscape(s), "\""); }

std::string DotString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string Short(const std::string& full) {
  auto parsed = ParseDeviceName(full);
  return parsed.ok() && parsed->has_type ? DeviceShortName(*parsed) : full;
}

std::string BytesText(int64_t bytes) { return bytes < 0 ? "?" : std::to_string(bytes); }

}  // namespace

int64_t EstimateFlops(const Node& node) {
  const std::string& op = node.op();
  if (node.num_outputs() == 0) return 0;
  const TensorShape& out = node.output_shape(0);
  auto in_shape = [&](int i) -> const TensorShape& {
    return node.input_edge(i)->src->output_shape(node.input(i).index);
  };
  if (op == "MatMul" || op == "_FusedMatMul" || op == "BatchMatMul" || op == "BatchMatMulV2") {
    const TensorShape& a = in_shape(0);
    if (a.unknown_rank() || a.rank() < 2) return -1;
    bool transpose = false;
    if (op == "MatMul" || op == "_FusedMatMul") {
      transpose = node.GetAttr<bool>("transpose_a").value_or(false);
    } else {
      transpose = node.GetAttr<bool>("adj_x").value_or(false);
    }
    int64_t k = a.dim(a.rank() - (transpose ? 2 : 1));
    return Mul({2, Elements(out), k});
  }
  // Convolutions: 2 FLOPs per multiply-add. Forward: each output sums kh*kw*in; the input
  // gradient: each input element sums kh*kw*out_channels (stride 1; an upper bound otherwise);
  // the filter gradient: each filter element sums over the output positions.
  if (op == "Conv2D" || op == "_FusedConv2D" || op == "Conv2DBackpropInput" ||
      op == "DepthwiseConv2dNative") {
    const TensorShape& f = in_shape(1);
    if (f.unknown_rank() || f.rank() != 4) return -1;
    if (op == "Conv2DBackpropInput") return Mul({2, Elements(out), f.dim(0), f.dim(1), f.dim(3)});
    if (op == "DepthwiseConv2dNative") return Mul({2, Elements(out), f.dim(0), f.dim(1)});
    return Mul({2, Elements(out), f.dim(0), f.dim(1), f.dim(2)});
  }
  if (op == "Conv2DBackpropFilter") {
    const TensorShape& dy = in_shape(2);
    if (dy.unknown_rank() || dy.rank() != 4) return -1;
    return Mul({2, Elements(out), dy.dim(0), dy.dim(1), dy.dim(2)});
  }
  // Pooling: one compare/add per window element and output.
  if (op == "MaxPool" || op == "AvgPool" || op == "MaxPoolGrad" || op == "AvgPoolGrad") {
    auto ksize = node.GetAttr<std::vector<int64_t>>("ksize");
    if (!ksize.ok() || ksize->size() != 4) return -1;
    const TensorShape& per = op == "MaxPoolGrad" ? in_shape(1) : out;  // the pooled side
    return Mul({Elements(op == "AvgPoolGrad" ? in_shape(1) : per), (*ksize)[1], (*ksize)[2]});
  }
  // Reductions and softmax-like ops: about one FLOP per input element (softmax: a few).
  if (op == "Sum" || op == "Mean" || op == "Max" || op == "Min" || op == "Prod" ||
      op == "BiasAddGrad" || op == "ArgMax" || op == "ArgMin") {
    return Elements(in_shape(0));
  }
  if (op == "Softmax" || op == "LogSoftmax" || op == "SoftmaxCrossEntropyWithLogits" ||
      op == "SparseSoftmaxCrossEntropyWithLogits") {
    return Mul({5, Elements(in_shape(0))});
  }
  if (op == "_FusedElementwise") {  // one FLOP per instruction and output element
    auto program = node.GetAttr<std::vector<std::string>>("program");
    const int64_t n = program.ok() && !program->empty() ? static_cast<int64_t>(program->size()) : 1;
    return Mul({Elements(out), n});
  }
  if (IsElementWise(op) || op == "BiasAdd" || op == "AddN") return Elements(out);
  return 0;
}

absl::StatusOr<PlacementReport> BuildPlacementReport(const Graph& graph, const DeviceSet& devices,
                                                     const Placement* placement) {
  PlacementReport r;
  for (const DeviceInfo& d : devices.devices()) {
    DeviceReport dr;
    dr.name = d.name;
    dr.short_name = d.short_name();
    r.devices.push_back(dr);
  }
  auto device_of = [&](const Node* n) -> absl::StatusOr<const DeviceInfo*> {
    const DeviceInfo* d = devices.Find(n->assigned_device());
    if (d == nullptr || d->name != n->assigned_device()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node '", n->name(), "' (", n->op(), ") is assigned to '", n->assigned_device(),
          "', which is not a device of ", devices.DebugString(), "; run placement first"));
    }
    return d;
  };

  ASSIGN_OR_RETURN(std::vector<Node*> order, graph.TopologicalOrder());
  // DupRecvKey: (src node, src output, the device the copy goes to: the consumer's, or the
  // host for an accelerator's host-memory arg). Ref edges get their dst node id in the key so
  // that they are never shared.
  std::map<std::tuple<int, int, std::string, int>, size_t> dup;
  for (Node* n : order) {
    ASSIGN_OR_RETURN(const DeviceInfo* dst, device_of(n));
    NodeReport nr{n->name(), n->op(), dst->name, "", EstimateFlops(*n)};
    if (placement != nullptr) {
      if (const NodePlacement* p = placement->Find(*n)) nr.reason = p->explanation;
    }
    auto it = std::find_if(r.devices.begin(), r.devices.end(),
                           [&](const DeviceReport& d) { return d.name == dst->name; });
    it->node_count++;
    it->op_histogram[n->op()]++;
    if (nr.flops < 0) {
      it->unknown_flops_nodes++;
    } else {
      it->flops += nr.flops;
    }
    r.nodes.push_back(std::move(nr));

    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      ASSIGN_OR_RETURN(const DeviceInfo* src, device_of(in.node));
      const DeviceInfo* to = TransferTarget(*n, i, in, *src, *dst, devices.host());
      if (to == nullptr) continue;
      auto key =
          std::make_tuple(in.node->id(), in.index, to->name, n->input_is_ref(i) ? n->id() : -1);
      auto found = dup.find(key);
      if (found != dup.end()) {
        r.transfers[found->second].consumers.push_back(n->name());
        continue;
      }
      const TensorShape& shape = in.node->output_shape(in.index);
      DataType dtype = in.node->output_type(in.index);
      TransferReport t;
      t.tensor = in.TensorName();
      t.from = src->name;
      t.to = to->name;
      t.dtype = DataTypeName(dtype);
      t.shape = shape.DebugString();
      int64_t elems = Elements(shape);
      t.bytes = elems < 0 ? -1 : elems * static_cast<int64_t>(DataTypeSize(BaseType(dtype)));
      t.consumers.push_back(n->name());
      dup[key] = r.transfers.size();
      r.transfers.push_back(std::move(t));
    }
  }

  PlacementTotals& t = r.totals;
  t.nodes = static_cast<int>(r.nodes.size());
  for (const DeviceReport& d : r.devices) {
    if (d.node_count > 0) t.devices_used++;
    t.flops += d.flops;
    t.unknown_flops_nodes += d.unknown_flops_nodes;
  }
  t.transfers = static_cast<int>(r.transfers.size());
  for (const TransferReport& tr : r.transfers) {
    if (tr.bytes < 0) {
      t.transfers_unknown_bytes++;
    } else {
      t.transfer_bytes += tr.bytes;
    }
  }
  return r;
}

std::string RenderPlacementText(const PlacementReport& r) {
  size_t wn = 4, wo = 2, wd = 6;
  for (const NodeReport& n : r.nodes) {
    wn = std::max(wn, n.name.size());
    wo = std::max(wo, n.op.size());
    wd = std::max(wd, Short(n.device).size());
  }
  std::string out;
  absl::StrAppendFormat(&out, "%-*s  %-*s  %-*s  %s\n", wn, "node", wo, "op", wd, "device",
                        "reason");
  for (const NodeReport& n : r.nodes) {
    absl::StrAppendFormat(&out, "%-*s  %-*s  %-*s  %s\n", wn, n.name, wo, n.op, wd, Short(n.device),
                          n.reason);
  }
  out += "\ndevices:\n";
  for (const DeviceReport& d : r.devices) {
    std::vector<std::string> ops;
    for (const auto& [op, count] : d.op_histogram) ops.push_back(absl::StrCat(op, " x", count));
    absl::StrAppendFormat(&out, "  %s  %d nodes  %d FLOPs%s  (%s)\n", d.name, d.node_count, d.flops,
                          d.unknown_flops_nodes > 0
                              ? absl::StrCat(" + ", d.unknown_flops_nodes, " nodes unknown")
                              : "",
                          ops.empty() ? "idle" : absl::StrJoin(ops, ", "));
  }
  out += absl::StrCat("\ntransfers (", r.transfers.size(), "):\n");
  for (const TransferReport& t : r.transfers) {
    absl::StrAppendFormat(&out, "  %s  %s -> %s  %s%s  %s bytes  (read by %s)\n", t.tensor,
                          Short(t.from), Short(t.to), t.dtype, t.shape, BytesText(t.bytes),
                          absl::StrJoin(t.consumers, ", "));
  }
  const PlacementTotals& tt = r.totals;
  absl::StrAppendFormat(
      &out, "\ntotals: %d nodes on %d devices, %d transfers, %d bytes%s, %d FLOPs%s\n", tt.nodes,
      tt.devices_used, tt.transfers, tt.transfer_bytes,
      tt.transfers_unknown_bytes > 0
          ? absl::StrCat(" (+", tt.transfers_unknown_bytes, " of unknown size)")
          : "",
      tt.flops,
      tt.unknown_flops_nodes > 0 ? absl::StrCat(" (+", tt.unknown_flops_nodes, " nodes unknown)")
                                 : "");
  return out;
}

std::string RenderPlacementJson(const PlacementReport& r) {
  std::vector<std::string> devices, nodes, transfers;
  for (const DeviceReport& d : r.devices) {
    std::vector<std::string> hist;
    for (const auto& [op, count] : d.op_histogram) {
      hist.push_back(absl::StrCat(JsonString(op), ": ", count));
    }
    devices.push_back(absl::StrCat("{\"name\": ", JsonString(d.name),
                                   ", \"short_name\": ", JsonString(d.short_name),
                                   ", \"node_count\": ", d.node_count, ", \"flops\": ", d.flops,
                                   ", \"unknown_flops_nodes\": ", d.unknown_flops_nodes,
                                   ", \"ops\": {", absl::StrJoin(hist, ", "), "}}"));
  }
  for (const NodeReport& n : r.nodes) {
    nodes.push_back(absl::StrCat("{\"name\": ", JsonString(n.name), ", \"op\": ", JsonString(n.op),
                                 ", \"device\": ", JsonString(n.device),
                                 ", \"reason\": ", JsonString(n.reason), "}"));
  }
  for (const TransferReport& t : r.transfers) {
    transfers.push_back(
        absl::StrCat("{\"tensor\": ", JsonString(t.tensor), ", \"from\": ", JsonString(t.from),
                     ", \"to\": ", JsonString(t.to), ", \"dtype\": ", JsonString(t.dtype),
                     ", \"shape\": ", JsonString(t.shape), ", \"bytes\": ", t.bytes, "}"));
  }
  const PlacementTotals& tt = r.totals;
  std::string totals = absl::StrCat(
      "{\"nodes\": ", tt.nodes, ", \"devices_used\": ", tt.devices_used,
      ", \"transfers\": ", tt.transfers, ", \"transfer_bytes\": ", tt.transfer_bytes,
      ", \"transfers_unknown_bytes\": ", tt.transfers_unknown_bytes, ", \"flops\": ", tt.flops,
      ", \"unknown_flops_nodes\": ", tt.unknown_flops_nodes, "}");
  auto list = [](const std::vector<std::string>& items) {
    return items.empty() ? std::string("[]")
                         : absl::StrCat("[\n    ", absl::StrJoin(items, ",\n    "), "\n  ]");
  };
  return absl::StrCat("{\n  \"devices\": ", list(devices), ",\n  \"nodes\": ", list(nodes),
                      ",\n  \"transfers\": ", list(transfers), ",\n  \"totals\": ", totals,
                      "\n}\n");
}

std::string RenderPlacementDot(const Graph& graph, const PlacementReport& r) {
  std::string out = "digraph placement {\n  node [shape=box, fontsize=10];\n";
  int cluster = 0;
  for (const DeviceReport& d : r.devices) {
    if (d.node_count == 0) continue;
    absl::StrAppend(&out, "  subgraph cluster_", cluster++,
                    " {\n    label=", DotString(d.short_name), ";\n");
    for (const NodeReport& n : r.nodes) {
      if (n.device != d.name) continue;
      absl::StrAppend(&out, "    ", DotString(n.name),
                      " [label=", DotString(absl::StrCat(n.name, "\n", n.op)), "];\n");
    }
    out += "  }\n";
  }
  // Edges that carry a transfer (the report dedups them; draw each consumer's edge).
  std::set<std::pair<std::string, std::string>> transfer_edges;
  for (const TransferReport& t : r.transfers) {
    std::string src = t.tensor.substr(0, t.tensor.rfind(':'));
    for (const std::string& c : t.consumers) transfer_edges.insert({src, c});
  }
  for (const Node* n : graph.nodes()) {
    for (const Edge* e : n->out_edges()) {
      std::string attrs;
      if (e->IsControl()) {
        attrs = " [style=dashed]";
      } else if (transfer_edges.count({n->name(), e->dst->name()})) {
        attrs = absl::StrCat(" [color=red, style=bold, label=",
                             DotString(DataTypeName(n->output_type(e->src_output))), "]");
      }
      absl::StrAppend(&out, "  ", DotString(n->name()), " -> ", DotString(e->dst->name()), attrs,
                      ";\n");
    }
  }
  return out + "}\n";
}

}  // namespace quiver
