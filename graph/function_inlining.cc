#include "graph/function_inlining.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "graph/while_loop.h"

namespace quiver {
namespace {

constexpr int kMaxDepth = 32;

using Library = std::map<std::string, const tensorflow::FunctionDef*>;

// Output args of the resource-variable ops, which the registry does not hold (the importer
// lowers them after inlining, graph/resource_variable_lowering.h): all have one output.
const std::map<std::string, std::string>& ResourceOpOutputs() {
  static const auto* outputs = new std::map<std::string, std::string>{
      {"VarHandleOp", "resource"},
      {"ReadVariableOp", "value"},
      {"VarIsInitializedOp", "is_initialized"},
      {"ResourceGather", "output"},
      // TF2 cond gradients carry a branch's intermediates in Optionals (lowered after
      // inlining, by the same pass).
      {"OptionalFromValue", "optional"},
      {"OptionalNone", "optional"},
      {"OptionalGetValue", "components"},
      // TensorLists (lowered to dense tensors after inlining, graph/tensor_list_lowering.h).
      {"TensorListReserve", "handle"},
      {"TensorListFromTensor", "output_handle"},
      {"TensorListSetItem", "output_handle"},
      {"TensorListGetItem", "item"},
      {"TensorListStack", "tensor"},
      {"TensorListGather", "values"},
      {"TensorListScatterIntoExistingList", "output_handle"},
      {"TensorListLength", "length"},
      {"TensorListElementShape", "element_shape"},
      {"EmptyTensorList", "handle"},
      {"TensorListPushBack", "output_handle"},
      {"TensorListPopBack", "output_handle"},  // and "tensor" (1), see OutputOffset
  };
  return *outputs;
}

bool IsCallOp(const std::string& op) {
  return op == "PartitionedCall" || op == "StatefulPartitionedCall";
}

bool IsIfOp(const std::string& op) { return op == "If" || op == "StatelessIf"; }

bool IsCaseOp(const std::string& op) { return op == "Case" || op == "StatelessCase"; }

bool IsWhileOp(const std::string& op) { return op == "While" || op == "StatelessWhile"; }

Library MakeLibrary(const tensorflow::GraphDef& def) {
  Library lib;
  for (const tensorflow::FunctionDef& f : def.library().function()) {
    lib.emplace(f.signature().name(), &f);
  }
  return lib;
}

// The function `node` calls: nullptr when it is no call; an error for a call whose function
// is missing.
absl::StatusOr<const tensorflow::FunctionDef*> CalledFunction(const tensorflow::NodeDef& node,
                                                              const Library& lib) {
  std::string name = node.op();
  if (IsCallOp(node.op())) {
    auto f = node.attr().find("f");
    if (f == node.attr().end() || !f->second.has_func()) {
      return absl::InvalidArgumentError(
          absl::StrCat("node '", node.name(), "' (", node.op(), ") has no function attr 'f'"));
    }
    name = f->second.func().name();
  }
  auto it = lib.find(name);
  if (it != lib.end()) return it->second;
  if (IsCallOp(node.op())) {
    return absl::InvalidArgumentError(absl::StrCat("node '", node.name(), "' calls function '",
                                                   name, "', which the graph's library lacks"));
  }
  return nullptr;
}

absl::Status BodyError(const tensorflow::FunctionDef& fn, const std::string& node,
                       const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("function '", fn.signature().name(), "', node '", node, "': ", why));
}

// How many tensors an output arg of a registered op stands for, given the node's attrs.
int ArgLength(const ArgDef& arg, const tensorflow::NodeDef& node) {
  auto attr = [&](const std::string& name) -> const tensorflow::AttrValue* {
    auto it = node.attr().find(name);
    return it == node.attr().end() ? nullptr : &it->second;
  };
  if (!arg.number_attr.empty()) {
    const tensorflow::AttrValue* n = attr(arg.number_attr);
    return n != nullptr ? static_cast<int>(n->i()) : 1;
  }
  if (!arg.type_list_attr.empty()) {
    const tensorflow::AttrValue* types = attr(arg.type_list_attr);
    return types != nullptr ? types->list().type_size() : 1;
  }
  return 1;
}

// The flat index of the first tensor of output arg `out_arg` of body node `node`.
absl::StatusOr<int> OutputOffset(const tensorflow::FunctionDef& fn, const tensorflow::NodeDef& node,
                                 const std::string& out_arg, const Library& lib) {
  if (IsCallOp(node.op()) || IsIfOp(node.op()) || IsCaseOp(node.op()) || IsWhileOp(node.op())) {
    if (out_arg == "output") return 0;
  } else if (auto called = lib.find(node.op()); called != lib.end()) {
    const auto& outs = called->second->signature().output_arg();
    for (int i = 0; i < outs.size(); ++i) {
      if (outs[i].name() == out_arg) return i;
    }
  } else if (node.op() == "TensorListPopBack" && out_arg == "tensor") {
    return 1;  // ops the registry lacks (lowered after inlining) with a second output
  } else if (auto res = ResourceOpOutputs().find(node.op()); res != ResourceOpOutputs().end()) {
    if (res->second == out_arg) return 0;
  } else if (const OpDef* op = OpRegistry::Global().Find(node.op())) {
    int offset = 0;
    for (const ArgDef& arg : op->outputs) {
      if (arg.name == out_arg) return offset;
      offset += ArgLength(arg, node);
    }
  } else {
    return BodyError(fn, node.name(), absl::StrCat("unknown op ", node.op()));
  }
  return BodyError(fn, node.name(),
                   absl::StrCat("op ", node.op(), " has no output named '", out_arg, "'"));
}

// One call being inlined: the names it maps.
struct Inlining {
  const tensorflow::FunctionDef* fn;
  const tensorflow::NodeDef* call;
  std::string prefix;                                      // "<call name>/"
  std::map<std::string, std::string> args;                 // function input arg -> graph tensor
  std::map<std::string, const tensorflow::NodeDef*> body;  // body node name -> node
};

// "^x" -> the node name part of a graph tensor string.
std::string NodeOfTensor(const std::string& tensor) {
  std::string name = tensor[0] == '^' ? tensor.substr(1) : tensor;
  return name.substr(0, name.find(':'));
}

// A body input in the function's naming -> the graph's.
absl::StatusOr<std::string> TranslateInput(const Inlining& in, const tensorflow::NodeDef& node,
                                           const std::string& input, const Library& lib) {
  if (input.empty()) return BodyError(*in.fn, node.name(), "empty input name");
  if (input[0] == '^') {
    const std::string name = input.substr(1);
    if (in.body.count(name)) return absl::StrCat("^", in.prefix, name);
    if (auto a = in.args.find(name); a != in.args.end()) {
      return absl::StrCat("^", NodeOfTensor(a->second));
    }
    return BodyError(*in.fn, node.name(), absl::StrCat("control input '", input, "' is unknown"));
  }
  const std::vector<std::string> parts = absl::StrSplit(input, ':');
  if (parts.size() == 1) {
    auto a = in.args.find(input);
    if (a == in.args.end()) {
      return BodyError(
          *in.fn, node.name(),
          absl::StrCat("input '", input, "' is neither an argument nor a node output"));
    }
    return a->second;
  }
  int index = 0;
  auto src = in.body.find(parts[0]);
  if (parts.size() != 3 || src == in.body.end() || !absl::SimpleAtoi(parts[2], &index) ||
      index < 0) {
    return BodyError(*in.fn, node.name(), absl::StrCat("input '", input, "' is malformed"));
  }
  ASSIGN_OR_RETURN(int offset, OutputOffset(*in.fn, *src->second, parts[1], lib));
  return absl::StrCat(in.prefix, parts[0], ":", offset + index);
}

bool HasPlaceholderAttr(const tensorflow::NodeDef& node) {
  for (const auto& [name, value] : node.attr()) {
    if (value.value_case() == tensorflow::AttrValue::kPlaceholder) return true;
  }
  return false;
}

// The body nodes and the node that replaces the call, appended to `out`.
absl::Status Inline(const tensorflow::NodeDef& call, const tensorflow::FunctionDef& fn,
                    const Library& lib, std::vector<tensorflow::NodeDef>* out) {
  Inlining in{&fn, &call, absl::StrCat(call.name(), "/"), {}, {}};
  const auto& sig = fn.signature();
  std::vector<std::string> data_inputs, control_inputs;
  for (const std::string& i : call.input()) {
    (!i.empty() && i[0] == '^' ? control_inputs : data_inputs).push_back(i);
  }
  if (static_cast<int>(data_inputs.size()) != sig.input_arg_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", call.name(), "' passes ", data_inputs.size(),
                     " inputs to function '", sig.name(), "', which takes ", sig.input_arg_size()));
  }
  for (int i = 0; i < sig.input_arg_size(); ++i) {
    const auto& arg = sig.input_arg(i);
    if (!arg.number_attr().empty() || !arg.type_list_attr().empty()) {
      return BodyError(fn, call.name(),
                       absl::StrCat("list-typed argument '", arg.name(), "' is not supported"));
    }
    in.args[arg.name()] = data_inputs[i];
  }
  std::set<std::string> consumed;  // body nodes some body node reads or waits for
  for (const tensorflow::NodeDef& n : fn.node_def()) {
    in.body[n.name()] = &n;
    for (const std::string& i : n.input()) consumed.insert(NodeOfTensor(i));
  }
  for (const tensorflow::NodeDef& n : fn.node_def()) {
    if (HasPlaceholderAttr(n)) {
      return BodyError(fn, n.name(),
                       "an attr is a placeholder (the function needs instantiation with attrs)");
    }
    tensorflow::NodeDef copy = n;
    copy.set_name(in.prefix + n.name());
    if (copy.device().empty()) copy.set_device(call.device());
    copy.clear_input();
    for (const std::string& i : n.input()) {
      ASSIGN_OR_RETURN(std::string translated, TranslateInput(in, n, i, lib));
      copy.add_input(translated);
    }
    // The call's control inputs hold back the body's roots; the rest wait through them (and
    // stay free of control edges, which fusion would refuse).
    const bool reads_body =
        std::any_of(n.input().begin(), n.input().end(),
                    [&](const std::string& i) { return in.body.count(NodeOfTensor(i)) > 0; });
    if (!reads_body) {
      for (const std::string& c : control_inputs) copy.add_input(c);
    }
    out->push_back(std::move(copy));
  }
  // The call's replacement: the return values under the call's own name.
  tensorflow::NodeDef result;
  result.set_name(call.name());
  result.set_device(call.device());
  tensorflow::AttrValue types;
  for (const auto& arg : sig.output_arg()) {
    auto ret = fn.ret().find(arg.name());
    if (ret == fn.ret().end()) {
      return BodyError(fn, call.name(), absl::StrCat("output '", arg.name(), "' has no ret"));
    }
    if (arg.type() == tensorflow::DT_INVALID) {
      return BodyError(fn, call.name(),
                       absl::StrCat("output '", arg.name(), "' has no concrete type"));
    }
    ASSIGN_OR_RETURN(std::string tensor, TranslateInput(in, call, ret->second, lib));
    result.add_input(tensor);
    types.mutable_list()->add_type(arg.type());
  }
  result.set_op(sig.output_arg_size() > 0 ? "IdentityN" : "NoOp");
  if (sig.output_arg_size() > 0) (*result.mutable_attr())["T"] = types;
  // "^call" waits for the whole body, as a TF function call does: its control outputs and
  // every body node no other body node waits for.
  std::set<std::string> waits;
  for (const auto& [name, node] : fn.control_ret()) waits.insert(node);
  for (const tensorflow::NodeDef& n : fn.node_def()) {
    if (!consumed.count(n.name())) waits.insert(n.name());
  }
  for (const std::string& w : waits) result.add_input(absl::StrCat("^", in.prefix, w));
  out->push_back(std::move(result));
  return absl::OkStatus();
}

tensorflow::NodeDef MakeNode(const std::string& name, const std::string& op,
                             const std::string& device, std::vector<std::string> inputs) {
  tensorflow::NodeDef n;
  n.set_name(name);
  n.set_op(op);
  n.set_device(device);
  for (std::string& i : inputs) n.add_input(std::move(i));
  return n;
}

void SetType(tensorflow::NodeDef* n, const std::string& attr, tensorflow::DataType t) {
  (*n->mutable_attr())[attr].set_type(t);
}

// TF2's functional conditionals, lowered as TF's LowerIfOp / LowerCaseOp do onto Switch/Merge
// (graph/ops/control_flow_ops.cc) and one call per branch, which the next round inlines. For
// branches b_0..b_{n-1} (If: else, then; Case: its list) selected by `sel` (If: the bool
// predicate through Switch; Case: the int32 index through _SwitchN, out of range = last):
//   C/pred_id = Identity(sel); C/switch_pred = Switch(pred_id, pred_id);
//   C/pivot_k = Identity(switch_pred:k);  C/input_i = Switch(input i, pred_id);
//   C/branch_k = PartitionedCall[b_k](C/input_i:k ..., ^C/pivot_k);
//   C/output_j = Merge(C/branch_0:j, ..., C/branch_{n-1}:j);
//   C = IdentityN(C/output_j ...) (a NoOp without outputs), which waits on
//   C/branch_executed = Merge(Identity(pivot_k) ^C/branch_k ...),
// so "C:j" and "^C" keep their meaning. The inlined bodies wait on their pivot, so only the
// taken branch runs, its constants included.
struct Branches {
  std::vector<tensorflow::NameAttrList> functions;  // branch k runs functions[k]
  tensorflow::DataType selector_type = tensorflow::DT_BOOL;
  std::string switch_op;  // "Switch" or "_SwitchN"
};

absl::StatusOr<Branches> BranchesOf(const tensorflow::NodeDef& node) {
  auto attr = [&](const char* name) -> const tensorflow::AttrValue* {
    auto it = node.attr().find(name);
    return it == node.attr().end() ? nullptr : &it->second;
  };
  auto error = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", node.name(), "' (", node.op(), "): ", why));
  };
  Branches b;
  if (IsIfOp(node.op())) {
    const tensorflow::AttrValue* then_fn = attr("then_branch");
    const tensorflow::AttrValue* else_fn = attr("else_branch");
    if (!then_fn || !then_fn->has_func() || !else_fn || !else_fn->has_func()) {
      return error("needs then_branch, else_branch, Tin and Tout attrs");
    }
    b.functions = {else_fn->func(), then_fn->func()};  // Switch's output_false, output_true
    if (const tensorflow::AttrValue* tcond = attr("Tcond");
        tcond && tcond->type() != tensorflow::DT_BOOL) {
      return error(absl::StrCat("a predicate of type ", tensorflow::DataType_Name(tcond->type()),
                                " is not supported (only bool)"));
    }
    b.switch_op = "Switch";
    return b;
  }
  const tensorflow::AttrValue* branches = attr("branches");
  if (!branches || !branches->has_list() || branches->list().func_size() == 0) {
    return error("needs a non-empty branches attr");
  }
  b.functions.assign(branches->list().func().begin(), branches->list().func().end());
  b.selector_type = tensorflow::DT_INT32;
  b.switch_op = "_SwitchN";
  return b;
}

absl::Status LowerBranches(const tensorflow::NodeDef& node, const Library& lib,
                           std::vector<tensorflow::NodeDef>* out) {
  const std::string& c = node.name();
  auto error = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("node '", c, "' (", node.op(), "): ", why));
  };
  ASSIGN_OR_RETURN(Branches branches, BranchesOf(node));
  auto tin_it = node.attr().find("Tin");
  auto tout_it = node.attr().find("Tout");
  if (tin_it == node.attr().end() || tout_it == node.attr().end()) {
    return error(IsIfOp(node.op()) ? "needs then_branch, else_branch, Tin and Tout attrs"
                                   : "needs Tin and Tout attrs");
  }
  const tensorflow::AttrValue& tin = tin_it->second;
  const tensorflow::AttrValue& tout = tout_it->second;
  for (const tensorflow::NameAttrList& f : branches.functions) {
    if (!lib.count(f.name())) {
      return error(
          absl::StrCat("branch function '", f.name(), "' is missing from the graph's library"));
    }
  }
  std::vector<std::string> data, controls;
  for (const std::string& i : node.input()) {
    (!i.empty() && i[0] == '^' ? controls : data).push_back(i);
  }
  if (data.empty() || static_cast<int>(data.size()) - 1 != tin.list().type_size()) {
    return error(absl::StrCat("has ", data.size(), " data inputs; expected the ",
                              IsIfOp(node.op()) ? "predicate" : "branch index", " and ",
                              tin.list().type_size(), " (Tin)"));
  }
  const int n = static_cast<int>(branches.functions.size());
  const std::string& dev = node.device();
  const std::string p = c + "/";
  auto with_controls = [&](std::vector<std::string> inputs) {
    inputs.insert(inputs.end(), controls.begin(), controls.end());
    return inputs;
  };
  auto switch_node = [&](const std::string& name, std::vector<std::string> inputs,
                         tensorflow::DataType t) {
    tensorflow::NodeDef sw = MakeNode(name, branches.switch_op, dev, std::move(inputs));
    SetType(&sw, "T", t);
    if (branches.switch_op == "_SwitchN") (*sw.mutable_attr())["num_outs"].set_i(n);
    return sw;
  };
  tensorflow::NodeDef pred_id = MakeNode(p + "pred_id", "Identity", dev, with_controls({data[0]}));
  SetType(&pred_id, "T", branches.selector_type);
  out->push_back(pred_id);
  out->push_back(
      switch_node(p + "switch_pred", {p + "pred_id", p + "pred_id"}, branches.selector_type));
  for (int k = 0; k < n; ++k) {
    tensorflow::NodeDef pivot = MakeNode(absl::StrCat(p, "pivot_", k), "Identity", dev,
                                         {absl::StrCat(p, "switch_pred:", k)});
    SetType(&pivot, "T", branches.selector_type);
    out->push_back(pivot);
  }
  for (size_t i = 1; i < data.size(); ++i) {
    out->push_back(switch_node(absl::StrCat(p, "input_", i - 1),
                               with_controls({data[i], p + "pred_id"}),
                               tin.list().type(static_cast<int>(i) - 1)));
  }
  std::vector<std::string> done;
  for (int k = 0; k < n; ++k) {
    const std::string call_name = absl::StrCat(p, "branch_", k);
    tensorflow::NodeDef call = MakeNode(call_name, "PartitionedCall", dev, {});
    for (size_t i = 1; i < data.size(); ++i) {
      call.add_input(absl::StrCat(p, "input_", i - 1, ":", k));
    }
    call.add_input(absl::StrCat("^", p, "pivot_", k));
    *(*call.mutable_attr())["f"].mutable_func() = branches.functions[k];
    (*call.mutable_attr())["Tin"] = tin;
    (*call.mutable_attr())["Tout"] = tout;
    out->push_back(call);
    tensorflow::NodeDef executed = MakeNode(absl::StrCat(call_name, "_done"), "Identity", dev,
                                            {absl::StrCat(p, "pivot_", k), "^" + call_name});
    SetType(&executed, "T", branches.selector_type);
    out->push_back(executed);
    done.push_back(executed.name());
  }
  tensorflow::NodeDef branch_executed = MakeNode(p + "branch_executed", "Merge", dev, done);
  SetType(&branch_executed, "T", branches.selector_type);
  (*branch_executed.mutable_attr())["N"].set_i(n);
  out->push_back(branch_executed);
  const int num_outputs = tout.list().type_size();
  tensorflow::NodeDef result = MakeNode(c, num_outputs > 0 ? "IdentityN" : "NoOp", dev, {});
  for (int j = 0; j < num_outputs; ++j) {
    std::vector<std::string> sides;
    for (int k = 0; k < n; ++k) sides.push_back(absl::StrCat(p, "branch_", k, ":", j));
    tensorflow::NodeDef merge = MakeNode(absl::StrCat(p, "output_", j), "Merge", dev, sides);
    SetType(&merge, "T", tout.list().type(j));
    (*merge.mutable_attr())["N"].set_i(n);
    out->push_back(merge);
    result.add_input(merge.name());
  }
  if (num_outputs > 0) (*result.mutable_attr())["T"] = tout;
  result.add_input("^" + branch_executed.name());
  out->push_back(std::move(result));
  return absl::OkStatus();
}

}  // namespace

bool HasFunctionCalls(const tensorflow::GraphDef& graph_def) {
  if (graph_def.library().function_size() == 0) {
    for (const tensorflow::NodeDef& n : graph_def.node()) {
      // A call whose function is missing: an error later.
      if (IsCallOp(n.op()) || IsIfOp(n.op()) || IsCaseOp(n.op()) || IsWhileOp(n.op())) {
        return true;
      }
    }
    return false;
  }
  const Library lib = MakeLibrary(graph_def);
  for (const tensorflow::NodeDef& n : graph_def.node()) {
    if (IsCallOp(n.op()) || IsIfOp(n.op()) || IsCaseOp(n.op()) || IsWhileOp(n.op()) ||
        lib.count(n.op())) {
      return true;
    }
  }
  return false;
}

absl::Status InlineFunctionCalls(tensorflow::GraphDef* graph_def, size_t max_nodes) {
  // Points into graph_def's library, which inlining leaves alone.
  const Library lib = MakeLibrary(*graph_def);
  for (int depth = 0;; ++depth) {
    std::vector<tensorflow::NodeDef> nodes;
    bool inlined = false;
    // Loop outputs that forward a resource handle the loop only read -> that handle.
    std::map<std::string, std::string> handle_of;
    for (const tensorflow::NodeDef& n : graph_def->node()) {
      if (IsIfOp(n.op()) || IsCaseOp(n.op())) {
        if (depth == kMaxDepth) {
          return absl::InvalidArgumentError(absl::StrCat("conditionals nest deeper than ",
                                                         kMaxDepth, " (node '", n.name(), "')"));
        }
        RETURN_IF_ERROR(LowerBranches(n, lib, &nodes));
        inlined = true;
        continue;
      }
      if (IsWhileOp(n.op())) {  // becomes a "_While" node carrying its cond and body
        ASSIGN_OR_RETURN(WhileFromFunctions loop, MakeWhileFromFunctions(n, graph_def->library()));
        for (tensorflow::NodeDef& x : loop.nodes) nodes.push_back(std::move(x));
        for (const auto& [k, handle] : loop.resource_outputs) {
          handle_of[absl::StrCat(n.name(), ":", k)] = handle;
        }
        inlined = true;  // the graph changed
        continue;
      }
      ASSIGN_OR_RETURN(const tensorflow::FunctionDef* fn, CalledFunction(n, lib));
      if (fn == nullptr) {
        nodes.push_back(n);
        continue;
      }
      if (depth == kMaxDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("function calls nest deeper than ", kMaxDepth, " (node '", n.name(),
                         "' calls '", fn->signature().name(), "'): a recursive function?"));
      }
      RETURN_IF_ERROR(Inline(n, *fn, lib, &nodes));
      inlined = true;
      if (nodes.size() > max_nodes) {
        return absl::ResourceExhaustedError(
            absl::StrCat("inlining function '", fn->signature().name(), "' (node '", n.name(),
                         "') makes more than ", max_nodes, " nodes: a recursive function?"));
      }
    }
    if (!inlined) return absl::OkStatus();
    if (!handle_of.empty()) {
      for (tensorflow::NodeDef& n : nodes) {
        for (std::string& in : *n.mutable_input()) {
          auto id = ParseTensorName(in);
          if (!id.ok() || id->is_control) continue;
          auto h = handle_of.find(absl::StrCat(id->node, ":", id->index));
          if (h != handle_of.end()) in = h->second;
        }
      }
    }
    graph_def->clear_node();
    for (tensorflow::NodeDef& n : nodes) *graph_def->add_node() = std::move(n);
  }
}

}  // namespace quiver
