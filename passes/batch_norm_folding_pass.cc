#include "passes/batch_norm_folding_pass.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

bool IsBatchNorm(const std::string& op) {
  return op == "FusedBatchNorm" || op == "FusedBatchNormV2" || op == "FusedBatchNormV3";
}
bool IsLinearOp(const std::string& op) {
  return op == "Conv2D" || op == "DepthwiseConv2dNative" || op == "MatMul";
}
bool IsAdd(const std::string& op) { return op == "Add" || op == "AddV2"; }

std::string GetString(const Node& n, const char* attr, const std::string& dflt) {
  auto v = n.GetAttr<std::string>(attr);
  return v.ok() ? *v : dflt;
}

// A linear producer P (output 0) with a constant filter, and the optional constant bias added
// to it.
struct Linear {
  Node* p = nullptr;
  Node* filter = nullptr;    // Const
  Node* bias_add = nullptr;  // BiasAdd/Add/AddV2 of P and `bias`, or null
  Node* bias = nullptr;      // Const [C]
  int bias_slot = 1;         // bias_add's input holding `bias`
  int64_t channels = 0;      // output channels of P
  std::vector<Node*> chain() const {
    return bias_add ? std::vector<Node*>{p, bias_add} : std::vector<Node*>{p};
  }
};

enum class Match { kNone, kProblem, kOk };

class Folder {
 public:
  Folder(Graph* graph, const PassContext& ctx, PassStats* stats)
      : graph_(graph),
        ctx_(ctx),
        preserved_(ctx.PreservedNodes(*graph)),
        fed_(ctx.FedNodes()),
        stats_(stats) {}

  absl::Status Run() {
    bool changed = true;
    while (changed) {
      changed = false;
      ASSIGN_OR_RETURN(std::vector<Node*> order, graph_->TopologicalOrder());
      for (Node* n : order) {
        if (given_up_.contains(n->name())) continue;
        absl::StatusOr<bool> c = false;
        if (IsBatchNorm(n->op())) {
          c = FoldBatchNorm(n);
        } else if (n->op() == "Mul") {
          c = FoldMulOrAdd(n, /*is_mul=*/true);
        } else if (IsAdd(n->op())) {
          c = FoldMulOrAdd(n, /*is_mul=*/false);
        }
        if (!c.ok()) return c.status();
        if (*c) {
          changed = true;
          break;  // the order holds removed nodes now
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  bool IsConst(const Node* n) const { return n->op() == "Const" && !fed_.contains(n->name()); }

  absl::StatusOr<Tensor> ConstValue(const Node* n) const { return n->GetAttr<Tensor>("value"); }

  void GiveUp(const Node* n, const std::string& why) {
    given_up_.insert(n->name());
    stats_->notes.push_back(absl::StrCat(n->name(), " (", n->op(), "): not folded: ", why));
  }

  // Why `n` cannot disappear into / be rewritten by the fold (it must feed only `consumer`).
  std::string IntermediateProblem(const Node* n, const Node* consumer) const {
    if (fed_.contains(n->name())) return absl::StrCat(n->name(), " is fed");
    if (preserved_.contains(n->name())) return absl::StrCat(n->name(), " is fetched or targeted");
    if (!n->control_in_edges().empty()) return absl::StrCat(n->name(), " has control inputs");
    int data = 0;
    for (const Edge* e : n->out_edges()) {
      if (e->IsControl()) return absl::StrCat(n->name(), " has control outputs");
      if (e->dst != consumer)
        return absl::StrCat(n->name(), " has another consumer (", e->dst->name(), ")");
      ++data;
    }
    if (data != 1) return absl::StrCat(n->name(), " is used ", data, " times");
    return "";
  }

  // Matches `x` (an input of `consumer`) as P [+ bias]. kNone: not a linear producer at all.
  Match MatchLinear(Endpoint x, const Node* consumer, Linear* lin, std::string* why) const {
    Node* n = x.node;
    if (x.index != 0) return Match::kNone;
    const bool bias_op =
        (n->op() == "BiasAdd" && GetString(*n, "data_format", "NHWC") == "NHWC") || IsAdd(n->op());
    if (bias_op && n->num_inputs() == 2) {
      for (int slot : {1, 0}) {
        const Endpoint b = n->input(slot), p = n->input(1 - slot);
        if (n->op() == "BiasAdd" && slot == 0) continue;
        if (b.index == 0 && IsConst(b.node) && b.node->output_shape(0).rank() == 1 &&
            p.index == 0 && IsLinearOp(p.node->op())) {
          lin->bias_add = n;
          lin->bias = b.node;
          lin->bias_slot = slot;
          n = p.node;
          break;
        }
      }
    }
    if (!IsLinearOp(n->op())) return Match::kNone;
    lin->p = n;
    if (n->op() != "MatMul" && GetString(*n, "data_format", "NHWC") != "NHWC") {
      *why = absl::StrCat(n->name(), " is not NHWC");
      return Match::kProblem;
    }
    if (n->output_type(0) != DT_FLOAT) {
      *why = absl::StrCat(n->name(), " is ", DataTypeName(n->output_type(0)), ", not float");
      return Match::kProblem;
    }
    const Endpoint f = n->input(1);
    if (f.index != 0 || !IsConst(f.node)) {
      *why = absl::StrCat("the filter of ", n->name(), " (", f.node->name(), ") is not a constant");
      return Match::kProblem;
    }
    lin->filter = f.node;
    const TensorShape& fs = f.node->output_shape(0);
    if (n->op() == "MatMul") {
      auto tb = n->GetAttr<bool>("transpose_b");
      if (fs.rank() != 2) return Match::kNone;
      lin->channels = fs.dim(tb.ok() && *tb ? 0 : 1);
    } else {
      if (fs.rank() != 4) return Match::kNone;
      lin->channels = n->op() == "Conv2D" ? fs.dim(3) : fs.dim(2) * fs.dim(3);
    }
    if (lin->bias && lin->bias->output_shape(0).dim(0) != lin->channels) {
      *why = absl::StrCat("the bias of ", n->name(), " has ", lin->bias->output_shape(0).dim(0),
                          " elements for ", lin->channels, " channels");
      return Match::kProblem;
    }
    const std::vector<Node*> chain = lin->chain();
    for (size_t i = 0; i < chain.size(); ++i) {
      const Node* next = i + 1 < chain.size() ? chain[i + 1] : consumer;
      if (std::string p = IntermediateProblem(chain[i], next); !p.empty()) {
        *why = p;
        return Match::kProblem;
      }
      if (chain[i]->requested_device() != consumer->requested_device() ||
          chain[i]->assigned_device() != consumer->assigned_device()) {
        *why = absl::StrCat(chain[i]->name(), " is on another device");
        return Match::kProblem;
      }
    }
    return Match::kOk;
  }

  absl::StatusOr<Node*> AddConst(const std::string& base, const Tensor& value,
                                 const std::string& device) {
    NodeSpec spec;
    spec.name = graph_->UniqueName(base);
    spec.op = "Const";
    spec.device = device;
    spec.attrs["dtype"] = MakeAttr(value.dtype());
    spec.attrs["value"] = MakeAttr(value);
    ASSIGN_OR_RETURN(Node * c, graph_->AddNode(std::move(spec)));
    RETURN_IF_ERROR(graph_->InferNodeShape(c));
    ++stats_->nodes_added;
    return c;
  }

  // filter' = filter * s (per output channel; s of size 1 broadcasts), as a new Const input of
  // P; the old filter goes if nothing else uses it.
  absl::Status ScaleFilter(const Linear& lin, const std::vector<double>& s) {
    ASSIGN_OR_RETURN(Tensor w, ConstValue(lin.filter));
    const int64_t n = w.num_elements();
    std::vector<float> out(w.data<float>(), w.data<float>() + n);
    const bool tb = lin.p->op() == "MatMul" && lin.p->GetAttr<bool>("transpose_b").value_or(false);
    const int64_t k = tb ? n / std::max<int64_t>(1, lin.channels) : 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = tb ? i / k : i % lin.channels;
      out[i] = static_cast<float>(out[i] * s[s.size() == 1 ? 0 : c]);
    }
    ASSIGN_OR_RETURN(Node * nf, AddConst(absl::StrCat(lin.p->name(), "/folded_filter"),
                                         Tensor::FromVector<float>(out, w.shape()),
                                         lin.filter->requested_device()));
    Node* old = lin.filter;
    RETURN_IF_ERROR(graph_->UpdateInput(lin.p, 1, {nf, 0}));
    stats_->nodes_removed += pass_util::RemoveIfDead(graph_, old, preserved_);
    return absl::OkStatus();
  }

  std::vector<double> BiasValues(const Linear& lin) {
    std::vector<double> b(lin.channels, 0.0);
    if (lin.bias) {
      auto t = ConstValue(lin.bias);
      if (t.ok() && t->dtype() == DT_FLOAT) {
        for (int64_t i = 0; i < lin.channels; ++i) b[i] = t->data<float>()[i];
      }
    }
    return b;
  }

  absl::StatusOr<std::vector<double>> ChannelParam(const Node* bn, int input, int64_t channels,
                                                   std::string* why) {
    const Endpoint e = bn->input(input);
    static const char* kNames[] = {"x", "scale", "offset", "mean", "variance"};
    if (e.index != 0 || !IsConst(e.node)) {
      *why = absl::StrCat(kNames[input], " (", e.node->name(), ") is not a constant");
      return std::vector<double>{};
    }
    ASSIGN_OR_RETURN(Tensor t, ConstValue(e.node));
    if (t.dtype() != DT_FLOAT || t.rank() != 1 || t.num_elements() != channels) {
      *why = absl::StrCat(kNames[input], " is ", DataTypeName(t.dtype()), " ",
                          t.shape().DebugString(), ", expected float [", channels, "]");
      return std::vector<double>{};
    }
    return std::vector<double>(t.data<float>(), t.data<float>() + channels);
  }

  absl::StatusOr<bool> FoldBatchNorm(Node* bn) {
    if (fed_.contains(bn->name())) return false;
    if (bn->GetAttr<bool>("is_training").value_or(true)) {
      GiveUp(bn, "is_training=true (batch statistics)");
      return false;
    }
    if (GetString(*bn, "data_format", "NHWC") != "NHWC") {
      GiveUp(bn, "data_format is not NHWC");
      return false;
    }
    if (bn->output_type(0) != DT_FLOAT) {
      GiveUp(bn, "not float");
      return false;
    }
    if (!bn->control_in_edges().empty()) {
      GiveUp(bn, "it has control inputs");
      return false;
    }
    for (const Edge* e : bn->out_edges()) {
      if (!e->IsControl() && e->src_output != 0) {
        GiveUp(bn, absl::StrCat("its output ", e->src_output, " is used by ", e->dst->name()));
        return false;
      }
    }
    for (const std::string& f : ctx_.fetches) {
      auto id = ParseTensorName(f);
      if (id.ok() && id->node == bn->name() && id->index != 0) {
        GiveUp(bn, absl::StrCat("its output ", id->index, " is fetched"));
        return false;
      }
    }
    Linear lin;
    std::string why;
    const Match m = MatchLinear(bn->input(0), bn, &lin, &why);
    if (m == Match::kNone) {
      GiveUp(bn,
             absl::StrCat("its input ", bn->input(0).node->name(), " (", bn->input(0).node->op(),
                          ") is not a Conv2D, DepthwiseConv2dNative or MatMul [+ bias]"));
      return false;
    }
    if (m == Match::kProblem) {
      GiveUp(bn, why);
      return false;
    }
    std::vector<double> p[5];
    for (int i = 1; i <= 4; ++i) {
      ASSIGN_OR_RETURN(p[i], ChannelParam(bn, i, lin.channels, &why));
      if (!why.empty()) {
        GiveUp(bn, why);
        return false;
      }
    }
    const double eps = bn->GetAttr<float>("epsilon").value_or(1e-4f);
    std::vector<double> s(lin.channels), bias = BiasValues(lin);
    std::vector<float> new_bias(lin.channels);
    for (int64_t c = 0; c < lin.channels; ++c) {
      s[c] = p[1][c] / std::sqrt(p[4][c] + eps);
      new_bias[c] = static_cast<float>((bias[c] - p[3][c]) * s[c] + p[2][c]);
    }

    // Rewrite: P's filter scaled; the batch norm becomes BiasAdd(P, bias') under its name.
    std::vector<std::string> param_names;
    for (int i = 1; i <= 4; ++i) param_names.push_back(bn->input(i).node->name());
    if (lin.bias) param_names.push_back(lin.bias->name());
    const std::string what =
        absl::StrCat(bn->name(), ": ", bn->op(), " folded into ", lin.p->name(),
                     lin.bias_add ? absl::StrCat(" + ", lin.bias_add->name()) : "", " (",
                     lin.p->op(), ", ", lin.channels, " channels)");
    RETURN_IF_ERROR(ScaleFilter(lin, s));
    ASSIGN_OR_RETURN(Node * bias_const,
                     AddConst(absl::StrCat(bn->name(), "/folded_bias"),
                              Tensor::FromVector<float>(new_bias, TensorShape{lin.channels}),
                              bn->requested_device()));
    struct Use {
      Node* dst;
      int input;
    };
    std::vector<Use> uses;
    std::vector<Node*> control_outs;
    for (const Edge* e : bn->out_edges()) {
      if (e->IsControl()) {
        control_outs.push_back(e->dst);
      } else {
        uses.push_back({e->dst, e->dst_input});
      }
    }
    NodeSpec spec;
    spec.name = bn->name();
    spec.op = "BiasAdd";
    spec.device = bn->requested_device();
    spec.attrs["T"] = MakeAttr(DT_FLOAT);
    spec.attrs["data_format"] = MakeAttr("NHWC");
    spec.inputs = {{lin.p, 0}, {bias_const, 0}};
    const std::string assigned = bn->assigned_device();
    graph_->RemoveNode(bn);
    int removed = 1;
    if (lin.bias_add) {
      graph_->RemoveNode(lin.bias_add);
      ++removed;
    }
    ASSIGN_OR_RETURN(Node * ba, graph_->AddNode(std::move(spec)));
    ba->set_assigned_device(assigned);
    for (const Use& u : uses) RETURN_IF_ERROR(graph_->UpdateInput(u.dst, u.input, {ba, 0}));
    for (Node* dst : control_outs) graph_->AddControlEdge(ba, dst);
    RETURN_IF_ERROR(graph_->InferNodeShape(ba));
    ++stats_->nodes_added;
    stats_->nodes_removed += removed;
    for (const std::string& name : param_names) {
      if (Node* n = graph_->FindNode(name)) {
        stats_->nodes_removed += pass_util::RemoveIfDead(graph_, n, preserved_);
      }
    }
    stats_->changes.push_back(what);
    return true;
  }

  // Mul(P [+ bias], c) -> P' [+ bias'] with the filter and bias scaled by c; Add(P + bias, c)
  // -> P + (bias + c).
  absl::StatusOr<bool> FoldMulOrAdd(Node* n, bool is_mul) {
    if (fed_.contains(n->name()) || n->num_inputs() != 2) return false;
    for (int cslot : {1, 0}) {
      const Endpoint c = n->input(cslot), x = n->input(1 - cslot);
      if (c.index != 0 || !IsConst(c.node)) continue;
      Linear lin;
      std::string why;
      const Match m = MatchLinear(x, n, &lin, &why);
      if (m == Match::kNone) continue;
      if (!is_mul && lin.bias_add == nullptr) return false;  // the fusion pass's bias
      if (m == Match::kProblem) {
        GiveUp(n, why);
        return false;
      }
      ASSIGN_OR_RETURN(Tensor cv, ConstValue(c.node));
      const TensorShape& xs = lin.bias_add ? lin.bias_add->output_shape(0) : lin.p->output_shape(0);
      const int64_t ne = cv.num_elements();
      const bool per_channel =
          cv.rank() >= 1 && cv.dim(cv.rank() - 1) == lin.channels && ne == lin.channels;
      if (cv.dtype() != DT_FLOAT || xs.unknown_rank() || cv.rank() > xs.rank() ||
          !(per_channel || (is_mul && ne == 1))) {
        GiveUp(n, absl::StrCat("the constant ", c.node->name(), " ", cv.shape().DebugString(),
                               " is not float per-channel [", lin.channels, "]",
                               is_mul ? " or a scalar" : ""));
        return false;
      }
      if (preserved_.contains(n->name())) {
        GiveUp(n, "it is fetched or targeted");
        return false;
      }
      if (n->requested_device() != lin.p->requested_device() ||
          n->assigned_device() != lin.p->assigned_device()) {
        GiveUp(n, "it is on another device");
        return false;
      }
      std::vector<double> f(cv.data<float>(), cv.data<float>() + ne);
      std::vector<std::string> dead = {c.node->name()};
      const std::string what =
          absl::StrCat(n->name(), ": ", n->op(), " by ", c.node->name(), " folded into ",
                       is_mul ? lin.p->name() : lin.bias_add->name(),
                       is_mul && lin.bias_add ? absl::StrCat(" + ", lin.bias_add->name()) : "");
      if (is_mul) RETURN_IF_ERROR(ScaleFilter(lin, f));
      if (lin.bias_add) {
        std::vector<double> b = BiasValues(lin);
        std::vector<float> nb(lin.channels);
        for (int64_t i = 0; i < lin.channels; ++i) {
          const double v = f[f.size() == 1 ? 0 : i];
          nb[i] = static_cast<float>(is_mul ? b[i] * v : b[i] + v);
        }
        ASSIGN_OR_RETURN(Node * bc,
                         AddConst(absl::StrCat(lin.bias_add->name(), "/folded_bias"),
                                  Tensor::FromVector<float>(nb, TensorShape{lin.channels}),
                                  lin.bias->requested_device()));
        dead.push_back(lin.bias->name());
        RETURN_IF_ERROR(graph_->UpdateInput(lin.bias_add, lin.bias_slot, {bc, 0}));
      }
      Node* last = lin.bias_add ? lin.bias_add : lin.p;
      RETURN_IF_ERROR(pass_util::ForwardOutputs(graph_, n, 0, {last, 0}));
      graph_->RemoveNode(n);
      ++stats_->nodes_removed;
      for (const std::string& name : dead) {
        if (Node* d = graph_->FindNode(name)) {
          stats_->nodes_removed += pass_util::RemoveIfDead(graph_, d, preserved_);
        }
      }
      stats_->changes.push_back(what);
      return true;
    }
    return false;
  }

  Graph* graph_;
  const PassContext& ctx_;
  absl::flat_hash_set<std::string> preserved_;
  absl::flat_hash_set<std::string> fed_;
  absl::flat_hash_set<std::string> given_up_;
  PassStats* stats_;
};

}  // namespace

absl::StatusOr<PassStats> BatchNormFoldingPass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  if (absl::Status s = graph->InferShapes(); !s.ok()) {
    stats.notes.push_back(
        absl::StrCat("shape inference failed (", s.message(), "); nothing folded"));
    return stats;
  }
  Folder folder(graph, ctx, &stats);
  RETURN_IF_ERROR(folder.Run());
  return stats;
}

}  // namespace quiver
