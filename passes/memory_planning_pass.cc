#include "passes/memory_planning_pass.h"

#include <algorithm>
#include <climits>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// Byte counts of absurd declared shapes (a fuzzed file) saturate at INT64_MAX instead of
// overflowing: the plan is a report, and "more than int64" is the honest answer.
void SaturatingAdd(int64_t* acc, int64_t v) {
  if (__builtin_add_overflow(*acc, v, acc)) *acc = INT64_MAX;
}

constexpr int kEnd = INT_MAX;  // held to the end of the step

const std::set<std::string>& UnaryInPlaceOps() {
  static const auto* ops = new std::set<std::string>{
      "Neg",   "Abs",   "Square",  "Sign",    "Exp",        "Log",       "Sqrt",
      "Rsqrt", "Tanh",  "Sigmoid", "Floor",   "Ceil",       "Elu",       "Reciprocal",
      "Relu",  "Relu6", "BiasAdd", "Softmax", "LogSoftmax", "ZerosLike", "OnesLike"};
  return *ops;
}
const std::set<std::string>& BinaryInPlaceOps() {
  static const auto* ops = new std::set<std::string>{
      "Add",     "AddV2",   "Sub", "Mul",      "RealDiv",           "Div",
      "Maximum", "Minimum", "Pow", "FloorDiv", "SquaredDifference", "FloorMod"};
  return *ops;
}
bool IsAliasOp(const std::string& op) {
  return op == "Identity" || op == "StopGradient" || op == "Snapshot" || op == "Reshape" ||
         op == "Squeeze" || op == "ExpandDims";
}

// The input an in-place kernel would try to reuse for output 0, or -1 (kernels try one).
int InPlaceCandidate(const Node& n) {
  if (n.num_outputs() < 1 || n.num_inputs() < 1) return -1;
  if (UnaryInPlaceOps().count(n.op())) return 0;
  const TensorShape& out = n.output_shape(0);
  if (BinaryInPlaceOps().count(n.op()) || n.op() == "_FusedElementwise") {
    for (int i = 0; i < n.num_inputs(); ++i) {
      const Endpoint e = n.input(i);
      if (!out.unknown_rank() && e.node->output_shape(e.index) == out) return i;
    }
  }
  return -1;
}

struct PlannedBuffer {
  int64_t bytes = 0;
  bool counted = false;  // step memory (not a constant, feed or variable)
  int death = 0;         // position after which it is released (kEnd: never)
  bool released = false;
};

}  // namespace

std::vector<std::string> MemoryPlan::ToLines() const {
  std::vector<std::string> lines;
  const std::string lb = lower_bound ? " (lower bound: unknown dims counted as 1)" : "";
  lines.push_back(absl::StrCat("step tensors: ", num_tensors, "; peak bytes: no reuse ",
                               no_reuse_bytes, ", liveness ", liveness_peak_bytes,
                               ", liveness + in-place ", planned_peak_bytes,
                               peak_node.empty() ? "" : absl::StrCat(" (at ", peak_node, ")"), lb));
  lines.push_back(absl::StrCat("not step memory: constants ", constant_bytes, " bytes, feeds ",
                               fed_bytes, " bytes"));
  if (!in_place.empty()) {
    const size_t shown = std::min<size_t>(in_place.size(), 12);
    std::vector<std::string> first(in_place.begin(), in_place.begin() + shown);
    lines.push_back(absl::StrCat("in place (", in_place.size(), "): ", absl::StrJoin(first, ", "),
                                 shown < in_place.size() ? ", ..." : ""));
  }
  if (!unknown_shapes.empty()) {
    const size_t shown = std::min<size_t>(unknown_shapes.size(), 8);
    std::vector<std::string> first(unknown_shapes.begin(), unknown_shapes.begin() + shown);
    lines.push_back(absl::StrCat("unknown dims in ", unknown_shapes.size(),
                                 " node(s): ", absl::StrJoin(first, ", "),
                                 shown < unknown_shapes.size() ? ", ..." : ""));
  }
  return lines;
}

absl::StatusOr<MemoryPlan> PlanMemory(Graph* graph, const PassContext& ctx) {
  RETURN_IF_ERROR(graph->InferShapes());
  ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
  std::vector<int> pos(graph->num_node_ids(), -1);
  for (size_t i = 0; i < order.size(); ++i) pos[order[i]->id()] = static_cast<int>(i);

  // Tensors held to the end: fetches, or with none, every output nobody reads.
  absl::flat_hash_set<std::string> held;
  for (const std::string& f : ctx.fetches) {
    auto id = ParseTensorName(f);
    if (id.ok()) held.insert(absl::StrCat(id->node, ":", id->index));
  }
  const absl::flat_hash_set<std::string> fed = ctx.FedNodes();

  MemoryPlan plan;
  // Per tensor: bytes, last use.
  struct TensorInfo {
    int64_t bytes = 0;
    int last_use = 0;
  };
  std::vector<std::vector<TensorInfo>> info(graph->num_node_ids());
  for (Node* n : order) {
    bool unknown = false;
    info[n->id()].resize(n->num_outputs());
    for (int o = 0; o < n->num_outputs(); ++o) {
      const TensorShape& s = n->output_shape(o);
      int64_t elems = 1;
      if (s.unknown_rank()) {
        unknown = true;
      } else {
        for (int64_t d : s.dims()) {
          if (d < 0) {
            unknown = true;
          } else if (__builtin_mul_overflow(elems, d, &elems)) {
            elems = INT64_MAX;  // a declared shape too big to exist: saturate (it is a report)
          }
        }
      }
      TensorInfo& t = info[n->id()][o];
      const int64_t elem_size = static_cast<int64_t>(DataTypeSize(n->output_type(o)));
      if (__builtin_mul_overflow(elems, elem_size, &t.bytes)) t.bytes = INT64_MAX;
      t.last_use = pos[n->id()];
      if (held.contains(absl::StrCat(n->name(), ":", o)) ||
          (!ctx.has_fetches() && n->out_edges().empty())) {
        t.last_use = kEnd;
      }
    }
    if (unknown) plan.unknown_shapes.push_back(n->name());
    for (const Edge* e : n->out_edges()) {
      if (e->IsControl()) continue;
      TensorInfo& t = info[n->id()][e->src_output];
      if (t.last_use != kEnd) t.last_use = std::max(t.last_use, pos[e->dst->id()]);
    }
  }
  plan.lower_bound = !plan.unknown_shapes.empty();

  // `out` (optional) receives the per-tensor totals, `forwards` the in-place forwards and
  // `peak_node` where the peak is reached.
  auto simulate = [&](bool in_place, MemoryPlan* out, std::vector<std::string>* forwards,
                      std::string* peak_node) -> int64_t {
    std::vector<PlannedBuffer> buffers;
    std::vector<std::vector<int>> buffer_of(graph->num_node_ids());
    std::map<int, std::vector<int>> dying;  // death position -> buffers (lazily re-checked)
    int64_t live = 0, peak = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      Node* n = order[i];
      const bool is_const = n->op() == "Const";
      const bool is_fed = fed.contains(n->name()) || n->op().rfind("Placeholder", 0) == 0;
      buffer_of[n->id()].assign(n->num_outputs(), -1);
      int64_t alloc = 0;
      for (int o = 0; o < n->num_outputs(); ++o) {
        const TensorInfo& t = info[n->id()][o];
        int reuse = -1;
        if (!is_const && !is_fed && o == 0 && n->num_inputs() > 0) {
          const Endpoint in0 = n->input(0);
          if (IsAliasOp(n->op()) && !in0.node->output_is_ref(in0.index)) {
            reuse = buffer_of[in0.node->id()][in0.index];
          } else if (in_place) {
            const int c = InPlaceCandidate(*n);
            if (c >= 0) {
              const Endpoint e = n->input(c);
              const int b = buffer_of[e.node->id()][e.index];
              int reads = 0;
              for (int j = 0; j < n->num_inputs(); ++j) {
                const Endpoint f = n->input(j);
                reads += buffer_of[f.node->id()][f.index] == b;
              }
              if (b >= 0 && buffers[b].counted && buffers[b].death == static_cast<int>(i) &&
                  reads == 1 && e.node->output_type(e.index) == n->output_type(0) &&
                  info[e.node->id()][e.index].bytes == t.bytes) {
                reuse = b;
                if (forwards) {
                  forwards->push_back(absl::StrCat(n->name(), " <- ", e.TensorName(), " (",
                                                   buffers[b].bytes, " bytes)"));
                }
              }
            }
          }
        }
        if (reuse >= 0) {
          PlannedBuffer& b = buffers[reuse];
          b.death = std::max(b.death, t.last_use);
          if (b.counted) dying[b.death].push_back(reuse);
          buffer_of[n->id()][o] = reuse;
          continue;
        }
        PlannedBuffer b;
        b.bytes = t.bytes;
        b.counted = !is_const && !is_fed && !n->output_is_ref(o);
        b.death = t.last_use;
        buffer_of[n->id()][o] = static_cast<int>(buffers.size());
        if (b.counted) {
          SaturatingAdd(&alloc, b.bytes);
          dying[b.death].push_back(static_cast<int>(buffers.size()));
        }
        if (out) {
          if (is_const) SaturatingAdd(&out->constant_bytes, b.bytes);
          if (is_fed) SaturatingAdd(&out->fed_bytes, b.bytes);
          if (b.counted) {
            SaturatingAdd(&out->no_reuse_bytes, b.bytes);
            ++out->num_tensors;
          }
        }
        buffers.push_back(b);
      }
      SaturatingAdd(&live, alloc);
      if (live > peak) {
        peak = live;
        if (peak_node) *peak_node = n->name();
      }
      auto it = dying.find(static_cast<int>(i));
      if (it != dying.end()) {
        for (int b : it->second) {
          PlannedBuffer& buf = buffers[b];
          if (buf.counted && !buf.released && buf.death == static_cast<int>(i)) {
            buf.released = true;
            if (live != INT64_MAX) live -= buf.bytes;  // saturated stays saturated
          }
        }
        dying.erase(it);
      }
    }
    return peak;
  };
  plan.liveness_peak_bytes = simulate(false, &plan, nullptr, nullptr);
  plan.planned_peak_bytes = simulate(true, nullptr, &plan.in_place, &plan.peak_node);
  return plan;
}

absl::StatusOr<PassStats> MemoryPlanningPass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  absl::StatusOr<MemoryPlan> plan = PlanMemory(graph, ctx);
  if (!plan.ok()) {
    stats.notes.push_back(absl::StrCat("no plan: ", plan.status().message()));
    return stats;
  }
  stats.notes = plan->ToLines();
  return stats;
}

}  // namespace quiver
