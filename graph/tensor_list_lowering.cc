#include "graph/tensor_list_lowering.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/function_inlining.h"
#include "graph/graph.h"
#include "graph/status_macros.h"
#include "graph/tensor_classes.h"
#include "graph/while_loop.h"

namespace quiver {
namespace {

using TfType = tensorflow::DataType;
using tensorflow::GraphDef;
using tensorflow::NodeDef;

// What a tensor of a class carries.
constexpr int kList = 1;    // a list (TensorList variant, TensorArray flow): the dense tensor
constexpr int kHandle = 2;  // a TensorArray handle: nothing (an int32 0)

// Where a TensorArray/TensorList op takes and makes lists and handles (-1: nowhere), and the
// attr naming the element dtype ("": the op has none; the list's class gives it).
struct ListOpRule {
  const char* op;
  int handle_in, list_in, list_out, handle_out;
  const char* dtype_attr;
};

constexpr ListOpRule kRules[] = {
    {"TensorListReserve", -1, -1, 0, -1, "element_dtype"},
    {"EmptyTensorList", -1, -1, 0, -1, "element_dtype"},
    {"TensorListPushBack", -1, 0, 0, -1, "element_dtype"},
    {"TensorListPopBack", -1, 0, 0, -1, "element_dtype"},
    {"TensorListFromTensor", -1, -1, 0, -1, "element_dtype"},
    {"TensorListSetItem", -1, 0, 0, -1, "element_dtype"},
    {"TensorListGetItem", -1, 0, -1, -1, "element_dtype"},
    {"TensorListStack", -1, 0, -1, -1, "element_dtype"},
    {"TensorListGather", -1, 0, -1, -1, "element_dtype"},
    {"TensorListScatterIntoExistingList", -1, 0, 0, -1, "element_dtype"},
    {"TensorListLength", -1, 0, -1, -1, ""},
    {"TensorListElementShape", -1, 0, -1, -1, ""},
    {"TensorArrayV3", -1, -1, 1, 0, "dtype"},
    {"TensorArrayWriteV3", 0, 3, 0, -1, "T"},
    {"TensorArrayReadV3", 0, 2, -1, -1, "dtype"},
    {"TensorArrayGatherV3", 0, 2, -1, -1, "dtype"},
    {"TensorArrayScatterV3", 0, 3, 0, -1, "T"},
    {"TensorArraySizeV3", 0, 1, -1, -1, ""},
    {"TensorArrayCloseV3", 0, -1, -1, -1, ""},
};

const ListOpRule* FindRule(const std::string& op) {
  for (const ListOpRule& r : kRules) {
    if (op == r.op) return &r;
  }
  return nullptr;
}

bool IsListOp(const std::string& op) {
  return absl::StartsWith(op, "TensorList") || absl::StartsWith(op, "TensorArray") ||
         op == "EmptyTensorList";
}

// Nodes whose outputs forward their inputs unchanged (a list passes through them).
bool IsForwarding(const std::string& op) {
  return op == "Identity" || op == "Snapshot" || op == "ZerosLike" || op == "AddN" ||
         op == "Enter" || op == "Exit" || op == "NextIteration" || op == "Switch" ||
         op == "Merge" || op == "IdentityN" || op == kWhileOp;
}

absl::Status NodeError(const NodeDef& n, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("node '", n.name(), "' (", n.op(), "): ", what));
}

std::string Out(const NodeDef& n, int i) { return absl::StrCat(n.name(), ":", i); }

// Data input `i` of `n` as "node:index" ("" when absent or malformed: the importer reports it).
std::string In(const NodeDef& n, int i) {
  if (i >= n.input_size()) return "";
  auto id = ParseTensorName(n.input(i));
  if (!id.ok() || id->is_control) return "";
  return absl::StrCat(id->node, ":", id->index);
}

int NumDataInputs(const NodeDef& n) {
  int k = 0;
  while (k < n.input_size() && !absl::StartsWith(n.input(k), "^")) ++k;
  return k;
}

TfType TypeAttr(const NodeDef& n, const std::string& attr) {
  auto it = n.attr().find(attr);
  return it == n.attr().end() ? tensorflow::DT_INVALID : it->second.type();
}

// Builds the classes: lists and handles, joined through forwarding nodes.
class ListAnalysis {
 public:
  absl::Status Run(const GraphDef& gd, const std::map<std::string, TfType>& list_args) {
    for (const NodeDef& n : gd.node()) {
      if (n.op() == "Placeholder") {
        auto hint = list_args.find(n.name());
        if (hint != list_args.end()) RETURN_IF_ERROR(Mark(n, Out(n, 0), kList, hint->second));
      } else if (IsForwarding(n.op())) {
        RETURN_IF_ERROR(JoinForwarding(n));
      } else if (IsListOp(n.op())) {
        const ListOpRule* rule = FindRule(n.op());
        if (rule == nullptr) {
          return NodeError(n,
                           "this TensorArray/TensorList op is not supported (Quiver runs "
                           "TensorArrays and TensorLists as dense tensors: reserve, read, "
                           "write, stack, gather, scatter/unstack, size and element shape)");
        }
        TfType dtype = tensorflow::DT_INVALID;
        if (rule->dtype_attr[0] != '\0') {
          dtype = TypeAttr(n, rule->dtype_attr);
          if (dtype == tensorflow::DT_INVALID) {
            return NodeError(n, absl::StrCat("needs attr '", rule->dtype_attr, "'"));
          }
        }
        if (rule->handle_in >= 0) RETURN_IF_ERROR(Mark(n, In(n, rule->handle_in), kHandle));
        if (rule->handle_out >= 0) RETURN_IF_ERROR(Mark(n, Out(n, rule->handle_out), kHandle));
        if (rule->list_in >= 0) RETURN_IF_ERROR(Mark(n, In(n, rule->list_in), kList, dtype));
        if (rule->list_out >= 0) RETURN_IF_ERROR(Mark(n, Out(n, rule->list_out), kList, dtype));
      }
    }
    return absl::OkStatus();
  }

  // kList, kHandle or 0 for an unrelated tensor.
  int KindOf(const std::string& tensor) {
    return classes_.Has(tensor) ? classes_.KindOf(classes_.Id(tensor)) : 0;
  }
  TfType DtypeOf(const std::string& tensor) {
    return classes_.Has(tensor) ? classes_.DtypeOf(classes_.Id(tensor)) : tensorflow::DT_INVALID;
  }

 private:
  absl::Status Mark(const NodeDef& n, const std::string& tensor, int kind,
                    TfType dtype = tensorflow::DT_INVALID) {
    if (tensor.empty()) return absl::OkStatus();  // a missing input: the importer reports it
    const int id = classes_.Id(tensor);
    if (!classes_.SetKind(id, kind)) {
      return NodeError(
          n, absl::StrCat("'", tensor, "' is used both as a TensorArray handle and as ", "a list"));
    }
    if (dtype != tensorflow::DT_INVALID && !classes_.Constrain(id, dtype)) {
      return NodeError(
          n, absl::StrCat("the list '", tensor, "' holds ",
                          tensorflow::DataType_Name(classes_.DtypeOf(id)), " elements here and ",
                          tensorflow::DataType_Name(dtype), " elsewhere"));
    }
    return absl::OkStatus();
  }

  absl::Status Join(const NodeDef& n, const std::string& out, const std::string& in) {
    if (in.empty()) return absl::OkStatus();
    if (!classes_.Union(classes_.Id(out), classes_.Id(in))) {
      return NodeError(n, absl::StrCat("joins lists of different element dtypes, or a list ",
                                       "with a TensorArray handle"));
    }
    return absl::OkStatus();
  }

  absl::Status JoinForwarding(const NodeDef& n) {
    const int inputs = NumDataInputs(n);
    if (n.op() == "Merge" || n.op() == "AddN") {  // AddN of lists: element-wise, dense too
      for (int i = 0; i < inputs; ++i) RETURN_IF_ERROR(Join(n, Out(n, 0), In(n, i)));
    } else if (n.op() == "IdentityN" || n.op() == kWhileOp) {
      for (int i = 0; i < inputs; ++i) RETURN_IF_ERROR(Join(n, Out(n, i), In(n, i)));
    } else if (inputs > 0) {
      RETURN_IF_ERROR(Join(n, Out(n, 0), In(n, 0)));
      if (n.op() == "Switch") RETURN_IF_ERROR(Join(n, Out(n, 1), In(n, 0)));
    }
    return absl::OkStatus();
  }

  TensorClasses classes_;
};

void SetType(NodeDef* n, const std::string& attr, TfType t) {
  (*n->mutable_attr())[attr].set_type(t);
}

// Keeps the data inputs at `keep` (in that order) and every control input; `to_control`
// data inputs become control inputs (their producer still runs first).
void SelectInputs(NodeDef* n, const std::vector<int>& keep, const std::vector<int>& to_control) {
  std::vector<std::string> inputs;
  const int data = NumDataInputs(*n);
  for (int k : keep) {
    if (k < data) inputs.push_back(n->input(k));
  }
  for (int k : to_control) {
    auto id = ParseTensorName(k < data ? n->input(k) : "");
    if (id.ok()) inputs.push_back("^" + id->node);
  }
  for (int k = data; k < n->input_size(); ++k) inputs.push_back(n->input(k));
  n->clear_input();
  for (std::string& i : inputs) n->add_input(std::move(i));
}

// Drops every attr but the "_"-prefixed ones, then sets `attr` to `t` (when named).
void ResetAttrs(NodeDef* n, const std::string& attr, TfType t) {
  std::vector<std::string> drop;
  for (const auto& [key, value] : n->attr()) {
    if (!absl::StartsWith(key, "_")) drop.push_back(key);
  }
  for (const std::string& k : drop) n->mutable_attr()->erase(k);
  if (!attr.empty()) SetType(n, attr, t);
}

// A TensorArray/TensorList op -> its dense form (see the header). `dtype` is the element dtype.
absl::Status RewriteListOp(NodeDef* n, TfType dtype) {
  const std::string op = n->op();
  auto become = [&](const char* new_op, const std::vector<int>& keep,
                    const std::vector<int>& to_control = {}) {
    SelectInputs(n, keep, to_control);
    ResetAttrs(n, "T", dtype);
    n->set_op(new_op);
  };
  if (op == "TensorListReserve") {
    const TfType shape_type = TypeAttr(*n, "shape_type");
    ResetAttrs(n, "element_dtype", dtype);
    if (shape_type != tensorflow::DT_INVALID) SetType(n, "shape_type", shape_type);
    n->set_op("_DenseListReserve");
  } else if (op == "EmptyTensorList") {
    const TfType shape_type = TypeAttr(*n, "shape_type");
    ResetAttrs(n, "element_dtype", dtype);
    if (shape_type != tensorflow::DT_INVALID) SetType(n, "shape_type", shape_type);
    n->set_op("_DenseListEmpty");
  } else if (op == "TensorListPushBack") {
    become("_DenseListPushBack", {0, 1});
  } else if (op == "TensorListPopBack") {
    become("_DenseListPopBack", {0});
  } else if (op == "TensorListFromTensor" || op == "TensorListStack") {
    become("Identity", {0});
  } else if (op == "TensorListSetItem") {
    auto resize = n->attr().find("resize_if_index_out_of_bounds");
    if (resize != n->attr().end() && resize->second.b()) {
      return NodeError(*n, "resize_if_index_out_of_bounds is not supported");
    }
    become("_DenseListSetItem", {0, 1, 2});
  } else if (op == "TensorListGetItem") {
    become("_DenseListGetItem", {0, 1});
  } else if (op == "TensorListGather") {
    become("_DenseListGather", {0, 1});
  } else if (op == "TensorListScatterIntoExistingList") {
    become("_DenseListScatter", {0, 2, 1});
  } else if (op == "TensorListLength") {
    become("_DenseListLength", {0});
  } else if (op == "TensorListElementShape") {
    const TfType shape_type = TypeAttr(*n, "shape_type");
    become("_DenseListElementShape", {0});
    if (shape_type != tensorflow::DT_INVALID) SetType(n, "shape_type", shape_type);
  } else if (op == "TensorArrayV3") {
    auto dynamic = n->attr().find("dynamic_size");
    if (dynamic != n->attr().end() && dynamic->second.b()) {
      return NodeError(*n,
                       "dynamic_size TensorArrays (that grow when written past their size) "
                       "are not supported");
    }
    tensorflow::AttrValue shape;
    auto it = n->attr().find("element_shape");
    if (it != n->attr().end()) shape = it->second;
    ResetAttrs(n, "dtype", dtype);
    if (shape.has_shape()) (*n->mutable_attr())["element_shape"] = shape;
    n->set_op("_DenseTensorArray");
  } else if (op == "TensorArrayWriteV3") {
    become("_DenseListSetItem", {3, 1, 2});
  } else if (op == "TensorArrayReadV3") {
    become("_DenseListGetItem", {2, 1});
  } else if (op == "TensorArrayGatherV3") {
    become("_DenseListGather", {2, 1});
  } else if (op == "TensorArrayScatterV3") {
    become("_DenseListScatter", {3, 1, 2});
  } else if (op == "TensorArraySizeV3") {
    become("_DenseListLength", {1});
  } else if (op == "TensorArrayCloseV3") {
    SelectInputs(n, {}, {0});
    ResetAttrs(n, "", dtype);
    n->set_op("NoOp");
  }
  return absl::OkStatus();
}

// The cond or body graph of a _While, lowered with its list arguments retyped.
absl::Status LowerLoopGraph(NodeDef* loop, const std::string& attr,
                            const std::map<std::string, TfType>& list_args) {
  GraphDef inner;
  if (!inner.ParseFromString((*loop->mutable_attr())[attr].s())) {
    return NodeError(*loop, absl::StrCat("attr '", attr, "' is not a serialized GraphDef"));
  }
  if (HasFunctionCalls(inner)) {
    RETURN_IF_ERROR(InlineFunctionCalls(&inner));
    inner.clear_library();
  }
  auto lowered = LowerTensorLists(inner, list_args);
  if (!lowered.ok()) {
    return NodeError(*loop, absl::StrCat("in its ", attr, ": ", lowered.status().message()));
  }
  lowered->SerializeToString((*loop->mutable_attr())[attr].mutable_s());
  return absl::OkStatus();
}

absl::Status RewriteWhile(NodeDef* n, ListAnalysis& lists) {
  tensorflow::AttrValue& types = (*n->mutable_attr())["T"];
  std::map<std::string, TfType> list_args;
  for (int i = 0; i < types.list().type_size(); ++i) {
    const int kind = lists.KindOf(Out(*n, i));
    if (kind == kHandle) {
      return NodeError(*n, absl::StrCat("loop variable ", i,
                                        " is a TensorArray handle, which is "
                                        "not supported as a loop variable"));
    }
    if (kind != kList) continue;
    const TfType dtype = lists.DtypeOf(Out(*n, i));
    types.mutable_list()->set_type(i, dtype);
    list_args[WhileArgName(i)] = dtype;
    auto shapes = n->mutable_attr()->find("output_shapes");
    if (shapes != n->mutable_attr()->end() && i < shapes->second.list().shape_size()) {
      tensorflow::TensorShapeProto* s = shapes->second.mutable_list()->mutable_shape(i);
      s->Clear();
      s->set_unknown_rank(true);  // a list's shape is known only once written
    }
  }
  if (list_args.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(LowerLoopGraph(n, "cond_graph", list_args));
  return LowerLoopGraph(n, "body_graph", list_args);
}

}  // namespace

bool UsesTensorLists(const GraphDef& gd) {
  for (const NodeDef& n : gd.node()) {
    if (IsListOp(n.op())) return true;
  }
  return false;
}

absl::StatusOr<GraphDef> LowerTensorLists(const GraphDef& gd,
                                          const std::map<std::string, TfType>& list_args) {
  ListAnalysis lists;
  RETURN_IF_ERROR(lists.Run(gd, list_args));
  // The dtype of a list tensor `t` of `n`, which every list must have by now.
  auto list_dtype = [&](const NodeDef& n, const std::string& t) -> absl::StatusOr<TfType> {
    const TfType d = lists.DtypeOf(t);
    if (d == tensorflow::DT_INVALID) {
      return NodeError(n, absl::StrCat("the element dtype of the list '", t, "' is unknown"));
    }
    return d;
  };

  // Frozen TF2 graphs keep DT_VARIANT Placeholders for loop inputs that nothing reads
  // ("unused_control_flow_input_N"): nobody can feed them, so they go.
  std::set<std::string> read;
  for (const NodeDef& n : gd.node()) {
    for (const std::string& i : n.input()) {
      auto id = ParseTensorName(i);
      if (id.ok()) read.insert(id->node);
    }
  }
  GraphDef out = gd;
  out.clear_node();
  for (const NodeDef& n : gd.node()) {
    if (n.op() == "Placeholder" && TypeAttr(n, "dtype") == tensorflow::DT_VARIANT &&
        list_args.count(n.name()) == 0 && read.count(n.name()) == 0) {
      continue;
    }
    *out.add_node() = n;
  }
  for (NodeDef& n : *out.mutable_node()) {
    if (n.op() == "Placeholder" && lists.KindOf(Out(n, 0)) == kList) {
      ASSIGN_OR_RETURN(TfType d, list_dtype(n, Out(n, 0)));
      SetType(&n, "dtype", d);
      n.mutable_attr()->erase("shape");
    } else if (n.op() == kWhileOp) {
      RETURN_IF_ERROR(RewriteWhile(&n, lists));
    } else if (n.op() == "IdentityN") {
      tensorflow::AttrValue& types = (*n.mutable_attr())["T"];
      for (int i = 0; i < types.list().type_size(); ++i) {
        const int kind = lists.KindOf(Out(n, i));
        if (kind == kHandle) types.mutable_list()->set_type(i, tensorflow::DT_INT32);
        if (kind != kList) continue;
        ASSIGN_OR_RETURN(TfType d, list_dtype(n, Out(n, i)));
        types.mutable_list()->set_type(i, d);
      }
    } else if (IsForwarding(n.op())) {
      const int kind = lists.KindOf(Out(n, 0));
      if (kind == kHandle) SetType(&n, "T", tensorflow::DT_INT32);
      if (kind != kList) continue;
      ASSIGN_OR_RETURN(TfType d, list_dtype(n, Out(n, 0)));
      SetType(&n, "T", d);
    } else if (const ListOpRule* rule = FindRule(n.op())) {
      const std::string list =
          rule->list_out >= 0 ? Out(n, rule->list_out) : In(n, std::max(rule->list_in, 0));
      TfType d = tensorflow::DT_INVALID;
      if (rule->list_in >= 0 || rule->list_out >= 0) {
        ASSIGN_OR_RETURN(d, list_dtype(n, list));
      }
      RETURN_IF_ERROR(RewriteListOp(&n, d));
    }
  }
  return out;
}

}  // namespace quiver
