#include "graph/functionalize_loops.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/status_macros.h"
#include "graph/while_loop.h"

namespace quiver {
namespace {

using tensorflow::AttrValue;
using tensorflow::DataType;
using tensorflow::GraphDef;
using tensorflow::NodeDef;

constexpr int kRootFrame = 0;
constexpr int kNoFrame = -1;
constexpr char kFrameSuffix[] = "/while_context";

bool IsRefLoopOp(const std::string& op) {
  return op == "RefEnter" || op == "RefExit" || op == "RefNextIteration";
}

bool IsLoopOp(const std::string& op) {
  return op == "Enter" || op == "Exit" || op == "NextIteration" || op == "LoopCond" ||
         IsRefLoopOp(op);
}

const AttrValue* FindAttr(const NodeDef& node, const std::string& key) {
  auto it = node.attr().find(key);
  return it == node.attr().end() ? nullptr : &it->second;
}

// An execution frame: the root (the graph itself) or one while loop's, nested in `parent`.
struct Frame {
  std::string name;
  int parent = kNoFrame;
};

// The GraphDef seen as a graph: parsed inputs, consumers, and each node's frame. Inputs naming
// no node (the importer reports those) are left out of `producer`.
struct LoopGraph {
  const GraphDef* def = nullptr;
  std::map<std::string, int> index;
  std::vector<std::vector<TensorId>> inputs;
  std::vector<std::vector<int>> consumers;
  std::vector<int> frame;
  std::vector<Frame> frames{Frame{"(top level)", kNoFrame}};
  std::map<std::string, int> frame_ids;

  const NodeDef& node(int i) const { return def->node(i); }
  int Find(const std::string& name) const {
    auto it = index.find(name);
    return it == index.end() ? -1 : it->second;
  }
  bool IsOp(int i, const char* op) const { return node(i).op() == op; }
  // The outermost loop frame containing frame `f` (kRootFrame for the root itself).
  int TopFrame(int f) const {
    while (f != kRootFrame && frames[f].parent != kRootFrame) f = frames[f].parent;
    return f;
  }
};

absl::StatusOr<LoopGraph> BuildLoopGraph(const GraphDef& def) {
  LoopGraph g;
  g.def = &def;
  const int n = def.node_size();
  for (int i = 0; i < n; ++i) {
    if (!g.index.emplace(def.node(i).name(), i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate node name '", def.node(i).name(), "'"));
    }
  }
  g.inputs.resize(n);
  g.consumers.resize(n);
  g.frame.assign(n, kNoFrame);
  for (int i = 0; i < n; ++i) {
    for (const std::string& input : def.node(i).input()) {
      auto id = ParseTensorName(input);
      if (!id.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", def.node(i).name(), "': ", id.status().message()));
      }
      const int src = g.Find(id->node);
      if (src >= 0) g.consumers[src].push_back(i);
      g.inputs[i].push_back(*std::move(id));
    }
  }
  return g;
}

// True when frame `f` is `outer` or nested in it.
bool Within(const LoopGraph& g, int f, int outer) {
  for (; f != kNoFrame; f = g.frames[f].parent) {
    if (f == outer) return true;
  }
  return false;
}

std::string FrameName(const LoopGraph& g, int f) {
  return f == kNoFrame ? "(none)" : g.frames[f].name;
}

// The frame an Enter opens (one per frame_name), entered from frame `parent`. The walk may
// first reach a frame from an outer frame than its real parent (through a node that reads an
// outer tensor by mistake), so the parent only ever deepens; CheckFrames names the mistake.
absl::StatusOr<int> EnteredFrame(LoopGraph* g, int enter, int parent, bool* deepened) {
  const NodeDef& node = g->node(enter);
  const AttrValue* name = FindAttr(node, "frame_name");
  if (name == nullptr || name->s().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Enter node '", node.name(), "' has no frame_name"));
  }
  auto [it, added] = g->frame_ids.emplace(name->s(), static_cast<int>(g->frames.size()));
  const int id = it->second;
  if (added) {
    g->frames.push_back(Frame{name->s(), parent});
    return id;
  }
  auto error = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("while loop '", name->s(), "', node '", node.name(), "': ", why));
  };
  if (Within(*g, parent, id)) return error("enters the loop from inside it");
  Frame& frame = g->frames[id];
  if (parent != frame.parent && Within(*g, parent, frame.parent)) {
    frame.parent = parent;
    *deepened = true;
  } else if (!Within(*g, frame.parent, parent)) {
    return error(absl::StrCat("the loop is entered from '", FrameName(*g, frame.parent),
                              "' and from '", FrameName(*g, parent), "'"));
  }
  return id;
}

// The frame `u`'s consumers see: an Exit's value leaves for the parent frame.
absl::StatusOr<int> OutputFrame(const LoopGraph& g, int u) {
  if (!g.IsOp(u, "Exit")) return g.frame[u];
  if (g.frame[u] == kRootFrame) {
    return absl::InvalidArgumentError(
        absl::StrCat("Exit node '", g.node(u).name(), "' is not inside any while loop"));
  }
  return g.frames[g.frame[u]].parent;
}

// A frame whose parent deepened: its Exits' consumers must follow.
void RequeueExits(const LoopGraph& g, int frame, std::deque<int>* queue) {
  for (int i = 0; i < static_cast<int>(g.frame.size()); ++i) {
    if (g.frame[i] == frame && g.IsOp(i, "Exit")) queue->push_back(i);
  }
}

// First pass: a breadth-first walk from the nodes without inputs, as TF's executor sees
// frames (an Enter opens its frame, an Exit leaves it, other nodes stay in their inputs').
// A node reached from nested frames takes the innermost, so that a body node reading an
// outer tensor directly still lands in the body, where CheckFrames names it. Both parents and
// node frames only deepen, so the walk ends.
absl::Status PropagateFrames(LoopGraph* g) {
  std::deque<int> queue;
  for (int i = 0; i < static_cast<int>(g->frame.size()); ++i) {
    const bool has_producer =
        std::any_of(g->inputs[i].begin(), g->inputs[i].end(),
                    [&](const TensorId& id) { return g->Find(id.node) >= 0; });
    if (!has_producer) {
      g->frame[i] = kRootFrame;
      queue.push_back(i);
    }
  }
  while (!queue.empty()) {
    const int u = queue.front();
    queue.pop_front();
    ASSIGN_OR_RETURN(const int out, OutputFrame(*g, u));
    for (int v : g->consumers[u]) {
      int f = out;
      if (g->IsOp(v, "Enter")) {
        bool deepened = false;
        ASSIGN_OR_RETURN(f, EnteredFrame(g, v, out, &deepened));
        if (deepened) RequeueExits(*g, f, &queue);
      }
      int& cur = g->frame[v];
      if (cur == kNoFrame || (cur != f && Within(*g, f, cur))) {
        cur = f;
        queue.push_back(v);
      } else if (!Within(*g, cur, f)) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", g->node(v).name(), "' reads tensors of unrelated frames '",
                         FrameName(*g, cur), "' and '", FrameName(*g, f), "'"));
      }
    }
  }
  return absl::OkStatus();
}

// Second pass: every edge stays in its frame, or enters through an Enter or leaves through an
// Exit. TF's executor refuses other graphs too.
absl::Status CheckFrames(const LoopGraph& g) {
  for (int v = 0; v < static_cast<int>(g.frame.size()); ++v) {
    const int expected = g.IsOp(v, "Enter") ? g.frames[g.frame[v]].parent : g.frame[v];
    for (const TensorId& id : g.inputs[v]) {
      const int u = g.Find(id.node);
      if (u < 0) continue;
      ASSIGN_OR_RETURN(const int out, OutputFrame(g, u));
      if (out == expected) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "node '", g.node(v).name(), "' (in '", FrameName(g, expected), "') reads '", id.node,
          "' (in '", FrameName(g, out),
          "'): a while loop reads outer tensors only through an Enter and passes values out "
          "only through an Exit"));
    }
  }
  return absl::OkStatus();
}

// Assigns every node its frame (the root for nodes on source-less cycles, which the importer
// reports) and checks the edges between frames.
absl::Status AssignFrames(LoopGraph* g) {
  RETURN_IF_ERROR(PropagateFrames(g));
  for (int& f : g->frame) {
    if (f == kNoFrame) f = kRootFrame;
  }
  return CheckFrames(*g);
}

// What a node is to the loop being functionalized; `arg` is its loop variable's index.
enum class Role { kNone, kVarEnter, kInvariantEnter, kMerge, kSwitch, kNextIteration, kExit };

struct RoleInfo {
  Role role = Role::kNone;
  int arg = -1;
};

struct LoopVar {
  int enter = -1;
  int merge = -1;
  int next = -1;
  std::vector<int> exits;
  DataType dtype = tensorflow::DT_INVALID;
};

struct Invariant {
  int enter = -1;
  DataType dtype = tensorflow::DT_INVALID;
};

struct Loop {
  int frame = kNoFrame;
  std::string name;  // the frame name
  int loop_cond = -1;
  std::vector<LoopVar> vars;
  std::vector<Invariant> invariants;
  std::map<int, RoleInfo> roles;
  std::vector<bool> member;  // in this frame or one nested in it
  RoleInfo RoleOf(int node) const {
    auto it = roles.find(node);
    return it == roles.end() ? RoleInfo{} : it->second;
  }
};

absl::Status LoopError(const LoopGraph& g, const Loop& loop, int node, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("while loop '", loop.name, "', node '",
                                                 g.node(node).name(), "' (", g.node(node).op(),
                                                 "): ", why));
}

std::vector<const TensorId*> DataIds(const LoopGraph& g, int node) {
  std::vector<const TensorId*> out;
  for (const TensorId& id : g.inputs[node]) {
    if (!id.is_control) out.push_back(&id);
  }
  return out;
}

// The producers of `node`'s data inputs (-1 for a name that matches no node).
std::vector<int> DataInputs(const LoopGraph& g, int node) {
  std::vector<int> out;
  for (const TensorId* id : DataIds(g, node)) out.push_back(g.Find(id->node));
  return out;
}

// The dtype of a loop variable from attr T of `node`: refs and resources cannot be carried
// as values between the body's iterations, so they are refused.
absl::StatusOr<DataType> LoopVarType(const LoopGraph& g, const Loop& loop, int node) {
  const AttrValue* t = FindAttr(g.node(node), "T");
  if (t == nullptr || t->type() == tensorflow::DT_INVALID) {
    return LoopError(g, loop, node, "has no dtype attr T");
  }
  if (static_cast<int>(t->type()) > 100) {
    return LoopError(g, loop, node, "ref-typed loop variables are not supported");
  }
  if (t->type() == tensorflow::DT_RESOURCE) {
    return LoopError(g, loop, node, "DT_RESOURCE loop variables are not supported");
  }
  return t->type();
}

bool IsConstantEnter(const NodeDef& node) {
  const AttrValue* c = FindAttr(node, "is_constant");
  return c != nullptr && c->b();
}

// Invariants: the frame's constant Enters, sorted by name. Every Enter needs one data input.
absl::Status FindEnters(const LoopGraph& g, const std::vector<int>& nodes, Loop* loop) {
  std::map<std::string, int> invariants;
  for (int i : nodes) {
    if (!g.IsOp(i, "Enter")) continue;
    if (DataInputs(g, i).size() != 1) return LoopError(g, *loop, i, "needs exactly one input");
    if (IsConstantEnter(g.node(i))) {
      invariants.emplace(g.node(i).name(), i);
    } else {
      loop->roles[i] = RoleInfo{Role::kVarEnter, -1};
    }
  }
  for (const auto& [name, i] : invariants) {
    ASSIGN_OR_RETURN(DataType dtype, LoopVarType(g, *loop, i));
    loop->invariants.push_back(Invariant{i, dtype});
  }
  return absl::OkStatus();
}

// A loop Merge is one that reads a variable Enter or a NextIteration of the frame; it must
// read exactly one of each. Other Merges (of a tf.cond inside the loop) are ordinary nodes.
absl::StatusOr<bool> MatchMerge(const LoopGraph& g, int merge, LoopVar* var, Loop* loop) {
  const std::vector<int> in = DataInputs(g, merge);
  auto is_enter = [&](int i) { return loop->RoleOf(i).role == Role::kVarEnter; };
  auto is_next = [&](int i) {
    return i >= 0 && g.frame[i] == loop->frame && g.IsOp(i, "NextIteration");
  };
  if (std::none_of(in.begin(), in.end(), [&](int i) { return is_enter(i) || is_next(i); })) {
    return false;
  }
  if (in.size() != 2 ||
      !((is_enter(in[0]) && is_next(in[1])) || (is_enter(in[1]) && is_next(in[0])))) {
    return LoopError(g, *loop, merge,
                     "a loop Merge must read one non-constant Enter and one NextIteration");
  }
  var->merge = merge;
  var->enter = is_enter(in[0]) ? in[0] : in[1];
  var->next = is_enter(in[0]) ? in[1] : in[0];
  for (int used : {var->enter, var->next}) {
    if (loop->RoleOf(used).arg >= 0) {
      return LoopError(g, *loop, used, "feeds two loop Merges");
    }
  }
  return true;
}

// Loop variables: the loop Merges sorted by name, with their Enter and NextIteration.
absl::Status FindMerges(const LoopGraph& g, const std::vector<int>& nodes, Loop* loop) {
  std::map<std::string, int> merges;
  for (int i : nodes) {
    if (g.IsOp(i, "Merge")) merges.emplace(g.node(i).name(), i);
  }
  for (const auto& [name, i] : merges) {
    LoopVar var;
    ASSIGN_OR_RETURN(bool is_loop_merge, MatchMerge(g, i, &var, loop));
    if (!is_loop_merge) continue;
    ASSIGN_OR_RETURN(var.dtype, LoopVarType(g, *loop, i));
    const int k = static_cast<int>(loop->vars.size());
    loop->roles[var.merge] = RoleInfo{Role::kMerge, k};
    loop->roles[var.enter] = RoleInfo{Role::kVarEnter, k};
    loop->roles[var.next] = RoleInfo{Role::kNextIteration, k};
    loop->vars.push_back(var);
  }
  return absl::OkStatus();
}

// Every Enter and NextIteration of the frame belongs to one loop variable.
absl::Status CheckAllMatched(const LoopGraph& g, const std::vector<int>& nodes, const Loop& loop) {
  int nexts = 0;
  for (int i : nodes) nexts += g.IsOp(i, "NextIteration") ? 1 : 0;
  if (nexts != static_cast<int>(loop.vars.size())) {
    return absl::InvalidArgumentError(absl::StrCat("while loop '", loop.name, "' has ", nexts,
                                                   " NextIteration nodes but ", loop.vars.size(),
                                                   " loop Merges"));
  }
  for (int i : nodes) {
    if (g.IsOp(i, "Enter") && loop.RoleOf(i).role == Role::kVarEnter && loop.RoleOf(i).arg < 0) {
      return LoopError(g, loop, i, "non-constant Enter that feeds no loop Merge");
    }
  }
  if (loop.vars.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("while loop '", loop.name, "' has no loop variables (Merge nodes)"));
  }
  return absl::OkStatus();
}

absl::Status FindLoopCond(const LoopGraph& g, const std::vector<int>& nodes, Loop* loop) {
  std::vector<int> conds;
  for (int i : nodes) {
    if (g.IsOp(i, "LoopCond")) conds.push_back(i);
  }
  if (conds.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("while loop '", loop->name, "' has ",
                                                   conds.size(), " LoopCond nodes; needs one"));
  }
  loop->loop_cond = conds[0];
  if (DataInputs(g, conds[0]).size() != 1) {
    return LoopError(g, *loop, conds[0], "needs exactly one input");
  }
  return absl::OkStatus();
}

// Loop Switches split a loop Merge on the LoopCond; Exits read their output 0.
absl::Status FindSwitchesAndExits(const LoopGraph& g, const std::vector<int>& nodes, Loop* loop) {
  for (int i : nodes) {
    if (!g.IsOp(i, "Switch")) continue;
    const std::vector<int> in = DataInputs(g, i);
    if (in.size() != 2 || in[1] != loop->loop_cond) continue;
    const RoleInfo merge = loop->RoleOf(in[0]);
    if (merge.role != Role::kMerge || DataIds(g, i)[0]->index != 0) {
      return LoopError(g, *loop, i, "a Switch on the LoopCond must read a loop Merge");
    }
    loop->roles[i] = RoleInfo{Role::kSwitch, merge.arg};
  }
  for (int i : nodes) {
    if (!g.IsOp(i, "Exit")) continue;
    const std::vector<int> in = DataInputs(g, i);
    const RoleInfo sw = in.size() == 1 ? loop->RoleOf(in[0]) : RoleInfo{};
    if (sw.role != Role::kSwitch || DataIds(g, i)[0]->index != 0) {
      return LoopError(g, *loop, i, "an Exit must read output 0 of a loop Switch");
    }
    loop->roles[i] = RoleInfo{Role::kExit, sw.arg};
    loop->vars[sw.arg].exits.push_back(i);
  }
  return absl::OkStatus();
}

// Finds the structure of the loop of outermost frame `frame`.
absl::StatusOr<Loop> AnalyzeLoop(const LoopGraph& g, int frame) {
  Loop loop;
  loop.frame = frame;
  loop.name = g.frames[frame].name;
  std::vector<int> nodes;  // exactly in this frame
  loop.member.resize(g.frame.size());
  for (int i = 0; i < static_cast<int>(g.frame.size()); ++i) {
    loop.member[i] = g.TopFrame(g.frame[i]) == frame;
    if (g.frame[i] == frame) nodes.push_back(i);
  }
  RETURN_IF_ERROR(FindLoopCond(g, nodes, &loop));
  RETURN_IF_ERROR(FindEnters(g, nodes, &loop));
  RETURN_IF_ERROR(FindMerges(g, nodes, &loop));
  RETURN_IF_ERROR(CheckAllMatched(g, nodes, loop));
  const int n = static_cast<int>(loop.vars.size());
  for (int j = 0; j < static_cast<int>(loop.invariants.size()); ++j) {
    loop.roles[loop.invariants[j].enter] = RoleInfo{Role::kInvariantEnter, n + j};
  }
  RETURN_IF_ERROR(FindSwitchesAndExits(g, nodes, &loop));
  return loop;
}

std::string TensorString(const std::string& node, int index, bool is_control) {
  if (is_control) return absl::StrCat("^", node);
  return index == 0 ? node : absl::StrCat(node, ":", index);
}

// An input of a node copied into the cond (body = false) or body graph: `mapped` is the
// subgraph's tensor for a loop-structure producer (an arg), else `node` is the ordinary
// producer, copied under its own name.
struct MappedInput {
  std::string mapped;
  int node = -1;
};

absl::StatusOr<MappedInput> MapInput(const LoopGraph& g, const Loop& loop, int reader,
                                     const TensorId& id, bool body) {
  const int src = g.Find(id.node);
  if (src < 0) {
    return LoopError(g, loop, reader, absl::StrCat("input '", id.node, "' names no node"));
  }
  const RoleInfo role = loop.RoleOf(src);
  const std::string arg = role.arg >= 0 ? WhileArgName(role.arg) : "";
  auto reads = [&](const std::string& why) {
    return LoopError(g, loop, reader, absl::StrCat("reads '", g.node(src).name(), "': ", why));
  };
  switch (role.role) {
    case Role::kNone:
      if (src == loop.loop_cond) return reads("only Switches may read the LoopCond");
      if (!loop.member[src]) return reads("a tensor of another frame, not through an Enter");
      return MappedInput{"", src};
    case Role::kInvariantEnter:
      return MappedInput{TensorString(arg, 0, id.is_control), -1};
    case Role::kMerge:
      if (!id.is_control && id.index != 0) return reads("only output 0 of a loop Merge");
      return MappedInput{TensorString(arg, 0, id.is_control), -1};
    case Role::kSwitch:
      if (!body) return reads("the loop condition cannot read a loop Switch");
      if (!id.is_control && id.index != 1) return reads("Switch:0 is read only by an Exit");
      return MappedInput{TensorString(arg, 0, id.is_control), -1};
    case Role::kVarEnter:
      return reads("a non-constant Enter is read only by its Merge");
    case Role::kNextIteration:
    case Role::kExit:
      return reads("loop structure nodes cannot be read inside the loop");
  }
  return reads("unexpected role");
}

// Adds `start` (an ordinary node of the loop) and every ordinary node it depends on to
// `nodes`, stopping at loop-structure nodes, which the subgraph reads as args.
absl::Status AddClosure(const LoopGraph& g, const Loop& loop, int start, bool body,
                        std::set<int>* nodes) {
  if (!nodes->insert(start).second) return absl::OkStatus();
  std::vector<int> stack{start};
  while (!stack.empty()) {
    const int u = stack.back();
    stack.pop_back();
    for (const TensorId& id : g.inputs[u]) {
      ASSIGN_OR_RETURN(MappedInput in, MapInput(g, loop, u, id, body));
      if (in.node >= 0 && nodes->insert(in.node).second) stack.push_back(in.node);
    }
  }
  return absl::OkStatus();
}

// The subgraph's tensor for `reader`'s data input 0 (LoopCond, NextIteration), adding its
// producer's closure to `nodes`.
absl::StatusOr<std::string> ResultInput(const LoopGraph& g, const Loop& loop, int reader, bool body,
                                        std::set<int>* nodes) {
  const TensorId* data = nullptr;
  for (const TensorId& id : g.inputs[reader]) {
    if (!id.is_control) data = &id;
  }
  if (data == nullptr) return LoopError(g, loop, reader, "has no input");
  ASSIGN_OR_RETURN(MappedInput in, MapInput(g, loop, reader, *data, body));
  if (in.node < 0) return in.mapped;
  RETURN_IF_ERROR(AddClosure(g, loop, in.node, body, nodes));
  return TensorString(data->node, data->index, false);
}

// Keeps the colocation entries ("loc:@node") of `_class` that name nodes of the subgraph.
void FilterColocation(const std::set<std::string>& names, NodeDef* node) {
  auto it = node->mutable_attr()->find("_class");
  if (it == node->mutable_attr()->end()) return;
  AttrValue kept;
  kept.mutable_list();
  for (const std::string& s : it->second.list().s()) {
    if (!absl::StartsWith(s, "loc:@") || names.count(s.substr(5))) kept.mutable_list()->add_s(s);
  }
  if (kept.list().s_size() == 0) {
    node->mutable_attr()->erase(it);
  } else {
    it->second = std::move(kept);
  }
}

NodeDef MakeIdentity(const std::string& name, const std::string& input, DataType dtype) {
  NodeDef node;
  node.set_name(name);
  node.set_op("Identity");
  node.add_input(input);
  (*node.mutable_attr())["T"].set_type(dtype);
  return node;
}

std::vector<DataType> ArgTypes(const Loop& loop) {
  std::vector<DataType> types;
  for (const LoopVar& v : loop.vars) types.push_back(v.dtype);
  for (const Invariant& v : loop.invariants) types.push_back(v.dtype);
  return types;
}

// A subgraph of the loop: its arg Placeholders, then the copied `nodes` (in GraphDef order,
// inputs remapped, duplicate control inputs dropped), then `results`.
absl::StatusOr<GraphDef> MakeSubgraph(const LoopGraph& g, const Loop& loop,
                                      const std::set<int>& nodes, bool body,
                                      const std::vector<NodeDef>& results) {
  GraphDef out;
  if (g.def->has_library()) *out.mutable_library() = g.def->library();
  std::set<std::string> names;
  const std::vector<DataType> types = ArgTypes(loop);
  for (int k = 0; k < static_cast<int>(types.size()); ++k) {
    NodeDef* arg = out.add_node();
    arg->set_name(WhileArgName(k));
    arg->set_op("Placeholder");
    (*arg->mutable_attr())["dtype"].set_type(types[k]);
    names.insert(arg->name());
  }
  for (const NodeDef& r : results) names.insert(r.name());
  for (int i : nodes) {
    if (names.count(g.node(i).name())) {
      return LoopError(g, loop, i, "its name is taken by a loop argument or result");
    }
  }
  for (int i : nodes) names.insert(g.node(i).name());
  for (int i : nodes) {
    NodeDef* copy = out.add_node();
    *copy = g.node(i);
    copy->clear_input();
    std::set<std::string> controls;
    for (const TensorId& id : g.inputs[i]) {
      ASSIGN_OR_RETURN(MappedInput in, MapInput(g, loop, i, id, body));
      std::string s = in.node >= 0 ? TensorString(id.node, id.index, id.is_control) : in.mapped;
      if (id.is_control && !controls.insert(s).second) continue;
      copy->add_input(std::move(s));
    }
    FilterColocation(names, copy);
  }
  for (const NodeDef& r : results) *out.add_node() = r;
  return out;
}

// `nodes` receives the cond's nodes, which the body graph needs to find side effects.
absl::StatusOr<GraphDef> MakeCondGraph(const LoopGraph& g, const Loop& loop, std::set<int>* nodes) {
  ASSIGN_OR_RETURN(std::string pred, ResultInput(g, loop, loop.loop_cond, false, nodes));
  return MakeSubgraph(g, loop, *nodes, false,
                      {MakeIdentity(WhileResultName(0), pred, tensorflow::DT_BOOL)});
}

// Sinks among `extra` (nodes the NextIterations do not need): nodes nothing in the body reads.
// Only nodes of the loop's own frame and the Exits of loops nested in it keep their names
// once the nested loops are functionalized, so only those can be control inputs.
std::vector<std::string> SideEffectSinks(const LoopGraph& g, const Loop& loop,
                                         const std::set<int>& extra, const std::set<int>& body) {
  std::vector<std::string> sinks;
  for (int i : extra) {
    const bool own = g.frame[i] == loop.frame ||
                     (g.IsOp(i, "Exit") && g.frames[g.frame[i]].parent == loop.frame);
    const bool read = std::any_of(g.consumers[i].begin(), g.consumers[i].end(),
                                  [&](int c) { return body.count(c) > 0; });
    if (own && !read) sinks.push_back(absl::StrCat("^", g.node(i).name()));
  }
  return sinks;
}

absl::StatusOr<GraphDef> MakeBodyGraph(const LoopGraph& g, const Loop& loop,
                                       const std::set<int>& cond_nodes) {
  std::set<int> nodes;
  std::vector<NodeDef> results;
  for (int k = 0; k < static_cast<int>(loop.vars.size()); ++k) {
    ASSIGN_OR_RETURN(std::string next, ResultInput(g, loop, loop.vars[k].next, true, &nodes));
    results.push_back(MakeIdentity(WhileResultName(k), next, loop.vars[k].dtype));
  }
  for (int j = 0; j < static_cast<int>(loop.invariants.size()); ++j) {
    const int k = static_cast<int>(loop.vars.size()) + j;
    results.push_back(MakeIdentity(WhileResultName(k), WhileArgName(k), loop.invariants[j].dtype));
  }
  // Nodes of the frame that neither the cond nor the next values need run for their effects.
  std::set<int> extra;
  for (int i = 0; i < static_cast<int>(loop.member.size()); ++i) {
    if (loop.member[i] && loop.RoleOf(i).role == Role::kNone && i != loop.loop_cond &&
        !cond_nodes.count(i) && !nodes.count(i)) {
      extra.insert(i);
    }
  }
  for (int i : extra) RETURN_IF_ERROR(AddClosure(g, loop, i, true, &nodes));
  for (std::string& sink : SideEffectSinks(g, loop, extra, nodes)) {
    results[0].add_input(std::move(sink));
  }
  return MakeSubgraph(g, loop, nodes, true, results);
}

// "_While" inputs: the Enters' inputs (variables, then invariants), then their control inputs.
std::vector<std::string> WhileInputs(const LoopGraph& g, const Loop& loop) {
  std::vector<int> enters;
  for (const LoopVar& v : loop.vars) enters.push_back(v.enter);
  for (const Invariant& v : loop.invariants) enters.push_back(v.enter);
  std::vector<std::string> inputs;
  std::vector<std::string> controls;
  for (int e : enters) {
    const NodeDef& enter = g.node(e);
    for (int j = 0; j < enter.input_size(); ++j) {
      if (!g.inputs[e][j].is_control) {
        inputs.push_back(enter.input(j));
      } else if (std::find(controls.begin(), controls.end(), enter.input(j)) == controls.end()) {
        controls.push_back(enter.input(j));
      }
    }
  }
  inputs.insert(inputs.end(), controls.begin(), controls.end());
  return inputs;
}

// A name for the "_While" node: the frame's, without TF's suffix, unique among `used`.
std::string WhileName(const std::string& frame, std::set<std::string>* used) {
  std::string base = frame;
  if (absl::EndsWith(base, kFrameSuffix) && base.size() > sizeof(kFrameSuffix) - 1) {
    base.resize(base.size() - (sizeof(kFrameSuffix) - 1));
  }
  std::string name = base;
  for (int i = 1; used->count(name); ++i) name = absl::StrCat(base, "_", i);
  used->insert(name);
  return name;
}

// The nodes replacing the loop in the outer graph: the "_While" and one Identity per Exit.
absl::StatusOr<std::vector<NodeDef>> FunctionalizeLoop(const LoopGraph& g, const Loop& loop,
                                                       std::set<std::string>* used) {
  std::set<int> cond_nodes;
  ASSIGN_OR_RETURN(GraphDef cond, MakeCondGraph(g, loop, &cond_nodes));
  ASSIGN_OR_RETURN(GraphDef body, MakeBodyGraph(g, loop, cond_nodes));
  const std::string name = WhileName(loop.name, used);
  const std::string& device = g.node(loop.vars[0].enter).device();
  std::vector<NodeDef> out{
      MakeWhileNode(name, device, WhileInputs(g, loop), ArgTypes(loop), cond, body, {})};
  for (int k = 0; k < static_cast<int>(loop.vars.size()); ++k) {
    for (int exit : loop.vars[k].exits) {
      NodeDef id =
          MakeIdentity(g.node(exit).name(), absl::StrCat(name, ":", k), loop.vars[k].dtype);
      id.set_device(g.node(exit).device());
      out.push_back(std::move(id));
    }
  }
  return out;
}

// Loop ops left in the root frame (an Enter without input, a LoopCond fed by no Enter) belong
// to no loop that could replace them.
absl::Status CheckRootFrame(const LoopGraph& g) {
  for (int i = 0; i < static_cast<int>(g.frame.size()); ++i) {
    if (g.frame[i] == kRootFrame && IsLoopOp(g.node(i).op())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node '", g.node(i).name(), "' (", g.node(i).op(), ") is not inside any while loop"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool HasV1Loops(const tensorflow::GraphDef& graph_def) {
  return std::any_of(graph_def.node().begin(), graph_def.node().end(),
                     [](const NodeDef& n) { return IsLoopOp(n.op()); });
}

absl::Status FunctionalizeV1Loops(tensorflow::GraphDef* graph_def) {
  if (graph_def == nullptr) return absl::InvalidArgumentError("FunctionalizeV1Loops: null graph");
  if (!HasV1Loops(*graph_def)) return absl::OkStatus();
  for (const NodeDef& n : graph_def->node()) {
    if (IsRefLoopOp(n.op())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node '", n.name(), "' (", n.op(), "): ref-typed loop variables are not supported"));
    }
  }
  ASSIGN_OR_RETURN(LoopGraph g, BuildLoopGraph(*graph_def));
  RETURN_IF_ERROR(AssignFrames(&g));
  RETURN_IF_ERROR(CheckRootFrame(g));

  std::set<std::string> used;
  for (const NodeDef& n : graph_def->node()) used.insert(n.name());
  std::map<std::string, int> outermost;  // by name, for a deterministic order
  for (int f = 1; f < static_cast<int>(g.frames.size()); ++f) {
    if (g.frames[f].parent == kRootFrame) outermost.emplace(g.frames[f].name, f);
  }
  std::vector<NodeDef> added;
  for (const auto& [name, f] : outermost) {
    ASSIGN_OR_RETURN(Loop loop, AnalyzeLoop(g, f));
    ASSIGN_OR_RETURN(std::vector<NodeDef> nodes, FunctionalizeLoop(g, loop, &used));
    for (NodeDef& n : nodes) added.push_back(std::move(n));
  }
  GraphDef result;
  for (int i = 0; i < graph_def->node_size(); ++i) {
    if (g.frame[i] == kRootFrame) *result.add_node() = graph_def->node(i);
  }
  for (NodeDef& n : added) *result.add_node() = std::move(n);
  graph_def->mutable_node()->Swap(result.mutable_node());
  return absl::OkStatus();
}

}  // namespace quiver
