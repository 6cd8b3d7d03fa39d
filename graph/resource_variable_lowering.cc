// See resource_variable_lowering.h for the rewrite rules.
//
// The pass works on the GraphDef, before any validation of the graph proper: a malformed input
// string or a dangling name is left alone here (the importer reports it with its usual
// message); only what concerns resources is checked.
#include "graph/resource_variable_lowering.h"

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "graph/tensor_classes.h"
#include "graph/types.h"

namespace quiver {
namespace {

constexpr tensorflow::DataType kResource = tensorflow::DT_RESOURCE;

// The resource-variable ops with a direct ref-variable equivalent, besides ResourceApply*.
// Input 0 is the handle; all but VarIsInitializedOp and VariableShape carry the variable's
// dtype in "dtype".
struct SimpleRule {
  const char* tf_op;
  const char* ref_op;
};
constexpr SimpleRule kSimpleRules[] = {
    {"ReadVariableOp", "Identity"},
    {"AssignVariableOp", "Assign"},
    {"AssignAddVariableOp", "AssignAdd"},
    {"AssignSubVariableOp", "AssignSub"},
    {"VarIsInitializedOp", "IsVariableInitialized"},
    {"VariableShape", "Shape"},
};

const SimpleRule* FindSimpleRule(const std::string& op) {
  for (const SimpleRule& r : kSimpleRules) {
    if (op == r.tf_op) return &r;
  }
  return nullptr;
}

constexpr const char kResourceApplyPrefix[] = "Resource";

// "ResourceApplyAdam" -> "ApplyAdam" (also ResourceSparseApply*); empty when `op` is not one.
std::string RefApplyOp(const std::string& op) {
  if (!absl::StartsWith(op, kResourceApplyPrefix)) return "";
  std::string rest = op.substr(sizeof(kResourceApplyPrefix) - 1);
  if (absl::StartsWith(rest, "Apply") || absl::StartsWith(rest, "SparseApply")) return rest;
  return "";
}

bool IsResourceType(int type) { return type == kResource; }

// The name of the first attr of `node` that holds DT_RESOURCE (a type or a list of types).
std::string ResourceAttr(const tensorflow::NodeDef& node) {
  for (const auto& [key, value] : node.attr()) {
    if (value.value_case() == tensorflow::AttrValue::kType && IsResourceType(value.type())) {
      return key;
    }
    if (value.value_case() == tensorflow::AttrValue::kList) {
      for (int t : value.list().type()) {
        if (IsResourceType(t)) return key;
      }
    }
    if (value.value_case() == tensorflow::AttrValue::kTensor &&
        IsResourceType(value.tensor().dtype())) {
      return key;
    }
  }
  return "";
}

std::string Label(const tensorflow::NodeDef& node) {
  return absl::StrCat("node '", node.name(), "' (", node.op(), ")");
}

absl::Status NodeError(const tensorflow::NodeDef& node, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(Label(node), ": ", what));
}

// The graph's nodes by name, and the resolution of resource-valued tensors to the VarHandleOp
// that created them (through Identity nodes of resource type).
class ResourceResolver {
 public:
  explicit ResourceResolver(const tensorflow::GraphDef& gd) : gd_(gd) {
    for (int i = 0; i < gd.node_size(); ++i) index_.emplace(gd.node(i).name(), i);
  }

  const tensorflow::NodeDef* Find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &gd_.node(it->second);
  }

  static bool IsHandle(const tensorflow::NodeDef& n) { return n.op() == "VarHandleOp"; }

  // A conditional's Switch of a resource (TF1 tf.cond reading a variable inside a branch, or
  // an If lowered onto Switch/Merge with a handle among its inputs).
  static bool IsResourceSwitch(const tensorflow::NodeDef& n) {
    if (n.op() != "Switch") return false;
    auto t = n.attr().find("T");
    return t != n.attr().end() && t->second.value_case() == tensorflow::AttrValue::kType &&
           IsResourceType(t->second.type());
  }

  // An Identity whose value is a resource: attr T is DT_RESOURCE, or (T missing) its data
  // input is a VarHandleOp or itself a resource Identity. Iterative and memoised: a file may
  // chain any number of Identities (or loop them: a cycle is not a resource here, and the
  // importer reports it), and each node is walked once.
  bool IsResourceIdentity(const tensorflow::NodeDef& n) const {
    std::vector<const tensorflow::NodeDef*> path;
    const tensorflow::NodeDef* cur = &n;
    bool result = false;
    for (;;) {
      if (cur->op() != "Identity") break;
      if (auto m = is_resource_identity_.find(cur); m != is_resource_identity_.end()) {
        result = m->second;
        break;
      }
      path.push_back(cur);
      auto t = cur->attr().find("T");
      if (t != cur->attr().end() && t->second.value_case() == tensorflow::AttrValue::kType) {
        result = IsResourceType(t->second.type());
        break;
      }
      const tensorflow::NodeDef* src = DataSource(*cur, 0);
      if (src == nullptr || path.size() > static_cast<size_t>(gd_.node_size())) break;
      if (IsHandle(*src) || IsResourceSwitch(*src)) {
        result = true;
        break;
      }
      cur = src;
    }
    for (const tensorflow::NodeDef* p : path) is_resource_identity_[p] = result;
    return result;
  }

  // True when `n`'s output is a resource value of any kind (variable handle or not).
  bool ProducesResource(const tensorflow::NodeDef& n) const {
    return IsHandle(n) || IsResourceIdentity(n) || !ResourceAttr(n).empty();
  }

  // The node behind data input `i` of `n` (nullptr when malformed or dangling: the importer
  // reports those).
  const tensorflow::NodeDef* DataSource(const tensorflow::NodeDef& n, int i) const {
    if (i >= n.input_size()) return nullptr;
    auto id = ParseTensorName(n.input(i));
    if (!id.ok() || id->is_control) return nullptr;
    return Find(id->node);
  }

  // True for a resource Identity that only forwards a handle (a chain of Identities from a
  // VarHandleOp): it is dropped, its consumers use the variable directly. An Identity of a
  // switched handle is kept (as a RefIdentity): it is dead when its branch is not taken.
  bool IsHandleAlias(const tensorflow::NodeDef& n) const {
    if (!IsResourceIdentity(n)) return false;
    const tensorflow::NodeDef* end = EndOfIdentities(n);
    return end != nullptr && IsHandle(*end);
  }

  // Where a resource tensor leads: the VarHandleOp whose variable it is, and the tensor that
  // stands for it after lowering (the variable itself, or the output of the nearest RefSwitch
  // or RefIdentity it passes through).
  struct Resolved {
    const tensorflow::NodeDef* handle;
    std::string ref;
  };

  // What data input `i` of `consumer` refers to, following resource Identities and Switches,
  // or an error naming `consumer` and what it got instead.
  absl::StatusOr<Resolved> Resolve(const tensorflow::NodeDef& consumer, int i) const {
    const tensorflow::NodeDef* n = DataSource(consumer, i);
    if (n == nullptr || !ForwardsResource(*n)) return ResolveError(consumer, i, consumer, i, n);
    const Behind b = HandleBehind(*n);
    if (b.handle == nullptr) {
      if (b.cycle) {
        return NodeError(consumer, absl::StrCat("input ", i, " ('", consumer.input(i),
                                                "') is a cycle of resource Identities"));
      }
      return ResolveError(consumer, i, *b.consumer, 0, b.end);
    }
    std::string ref;
    if (IsHandle(*n) || IsHandleAlias(*n)) {
      ref = b.handle->name();
    } else if (IsResourceSwitch(*n)) {
      ref = absl::StrCat(n->name(), ":", ParseTensorName(consumer.input(i))->index);
    } else {  // an Identity of a switched handle: kept, as a RefIdentity
      ref = n->name();
    }
    return Resolved{b.handle, ref};
  }

 private:
  absl::Status ResolveError(const tensorflow::NodeDef& consumer, int i,
                            const tensorflow::NodeDef& at, int input,
                            const tensorflow::NodeDef* n) const {
    const std::string where = &at == &consumer ? "" : absl::StrCat(" (through ", Label(at), ")");
    if (n == nullptr) {
      return NodeError(
          consumer,
          absl::StrCat(
              "input ", i, " ('", i < consumer.input_size() ? consumer.input(i) : "",
              "') must be a variable handle (VarHandleOp), but ",
              input < at.input_size() ? absl::StrCat("'", at.input(input), "'") : std::string("it"),
              " names no node", where));
    }
    return NodeError(
        consumer, absl::StrCat("input ", i, " ('", consumer.input(i),
                               "') must be a resource variable handle made by a VarHandleOp "
                               "in this graph, but it comes from ",
                               Label(*n), where,
                               ProducesResource(*n) ? " (resource values other than VarHandleOp "
                                                      "variables, e.g. tf.function captures, are "
                                                      "not supported)"
                                                    : ""));
  }

  // A VarHandleOp, or a resource Identity or Switch: the nodes a handle travels through.
  bool ForwardsResource(const tensorflow::NodeDef& n) const {
    return IsHandle(n) || IsResourceIdentity(n) || IsResourceSwitch(n);
  }

  // The VarHandleOp behind a handle-forwarding node, through any chain of resource Identities
  // and Switches; when there is none, the node the chain ends at (`end`, nullptr when dangling)
  // and the chain node that reads it (`consumer`), or `cycle`. Iterative and memoised: each
  // node is walked once however long the chains.
  struct Behind {
    const tensorflow::NodeDef* handle = nullptr;
    const tensorflow::NodeDef* end = nullptr;
    const tensorflow::NodeDef* consumer = nullptr;
    bool cycle = false;
  };
  Behind HandleBehind(const tensorflow::NodeDef& n) const {
    std::vector<const tensorflow::NodeDef*> path;
    const tensorflow::NodeDef* cur = &n;
    Behind result;
    for (;;) {
      if (auto m = behind_.find(cur); m != behind_.end()) {
        result = m->second;
        break;
      }
      if (IsHandle(*cur)) {
        result.handle = cur;
        break;
      }
      path.push_back(cur);
      if (path.size() > static_cast<size_t>(gd_.node_size())) {
        result.cycle = true;
        break;
      }
      const tensorflow::NodeDef* src = DataSource(*cur, 0);
      if (src == nullptr || !ForwardsResource(*src)) {
        result.end = src;
        result.consumer = cur;
        break;
      }
      cur = src;
    }
    for (const tensorflow::NodeDef* p : path) behind_[p] = result;
    return result;
  }

  // Where a chain of resource Identities starting at `n` ends (the first node that is not one;
  // nullptr for a dangling input or a cycle). Memoised like IsResourceIdentity.
  const tensorflow::NodeDef* EndOfIdentities(const tensorflow::NodeDef& n) const {
    std::vector<const tensorflow::NodeDef*> path;
    const tensorflow::NodeDef* cur = &n;
    const tensorflow::NodeDef* end = nullptr;
    while (cur != nullptr && IsResourceIdentity(*cur)) {
      if (auto m = end_of_identities_.find(cur); m != end_of_identities_.end()) {
        end = m->second;
        cur = nullptr;
        break;
      }
      path.push_back(cur);
      if (path.size() > static_cast<size_t>(gd_.node_size())) {  // a cycle
        cur = nullptr;
        break;
      }
      cur = DataSource(*cur, 0);
    }
    if (cur != nullptr) end = cur;
    for (const tensorflow::NodeDef* p : path) end_of_identities_[p] = end;
    return end;
  }

  const tensorflow::GraphDef& gd_;
  std::unordered_map<std::string, int> index_;
  mutable std::unordered_map<const tensorflow::NodeDef*, bool> is_resource_identity_;
  mutable std::unordered_map<const tensorflow::NodeDef*, const tensorflow::NodeDef*>
      end_of_identities_;
  mutable std::unordered_map<const tensorflow::NodeDef*, Behind> behind_;
};

// The dtype a handle's variable holds (DT_INVALID when the VarHandleOp has none).
int HandleDtype(const tensorflow::NodeDef& handle) {
  auto it = handle.attr().find("dtype");
  return it == handle.attr().end() ? 0 : it->second.type();
}

// True when the handle's shape attr is fully defined (known rank, no unknown dim).
bool HandleShapeFullyDefined(const tensorflow::NodeDef& handle) {
  auto it = handle.attr().find("shape");
  if (it == handle.attr().end() || it->second.value_case() != tensorflow::AttrValue::kShape) {
    return false;
  }
  const tensorflow::TensorShapeProto& s = it->second.shape();
  if (s.unknown_rank()) return false;
  for (const auto& d : s.dim()) {
    if (d.size() < 0) return false;
  }
  return true;
}

// Keeps only the "_"-prefixed attrs of `node` (colocation and other annotations) and the
// listed ones.
void KeepAttrs(tensorflow::NodeDef* node, const std::vector<std::string>& keep) {
  std::vector<std::string> drop;
  for (const auto& [key, value] : node->attr()) {
    if (absl::StartsWith(key, "_")) continue;
    bool kept = false;
    for (const std::string& k : keep) kept |= k == key;
    if (!kept) drop.push_back(key);
  }
  for (const std::string& k : drop) node->mutable_attr()->erase(k);
}

void SetType(tensorflow::NodeDef* node, const std::string& attr, int type) {
  (*node->mutable_attr())[attr].set_type(static_cast<tensorflow::DataType>(type));
}

// ---- cond_v2 gradient Optionals --------------------------------------------------------------

constexpr tensorflow::DataType kVariant = tensorflow::DT_VARIANT;

bool IsOptionalOp(const std::string& op) {
  return op == "OptionalFromValue" || op == "OptionalNone" || op == "OptionalGetValue";
}

// The positions of `attr`'s types that are DT_VARIANT: {0} for a type attr, the indices of a
// type list.
std::vector<int> VariantPositions(const tensorflow::NodeDef& n, const std::string& attr) {
  std::vector<int> out;
  auto it = n.attr().find(attr);
  if (it == n.attr().end()) return out;
  if (it->second.value_case() == tensorflow::AttrValue::kType) {
    if (it->second.type() == kVariant) out.push_back(0);
  } else if (it->second.value_case() == tensorflow::AttrValue::kList) {
    for (int i = 0; i < it->second.list().type_size(); ++i) {
      if (it->second.list().type(i) == kVariant) out.push_back(i);
    }
  }
  return out;
}

bool HasVariantAttr(const tensorflow::NodeDef& n) {
  for (const auto& [key, value] : n.attr()) {
    if (!VariantPositions(n, key).empty()) return true;
  }
  return false;
}

// Data input `i` of `n` as "node:index" (empty when malformed: the importer reports it).
std::string InputTensor(const tensorflow::NodeDef& n, int i) {
  auto id = ParseTensorName(n.input(i));
  if (!id.ok() || id->is_control) return "";
  return absl::StrCat(id->node, ":", id->index);
}

// The single dtype of an Optional op's type-list attr.
absl::StatusOr<tensorflow::DataType> OptionalComponentType(const tensorflow::NodeDef& n,
                                                           const std::string& attr) {
  auto it = n.attr().find(attr);
  if (it == n.attr().end() || it->second.list().type_size() != 1) {
    return NodeError(n, absl::StrCat("attr '", attr,
                                     "' must list exactly one type (Quiver supports Optionals "
                                     "only as cond_v2 gradients write them: one component)"));
  }
  return it->second.list().type(0);
}

// Replaces cond_v2's gradient Optionals by the values they wrap, after inlining has flattened
// the branches onto Switch/Merge (TF: the branch that computed an intermediate the gradient
// needs returns OptionalFromValue, the other branch OptionalNone, and the gradient's branch
// unwraps it with OptionalGetValue):
//   OptionalFromValue(x) {Toutput_types: [T]}    -> Identity(x) {T}
//   OptionalGetValue(o) {output_types: [T]}      -> Identity(o) {T}
//   OptionalNone                                 -> Const {dtype: T, value: an empty [0] tensor}
// and every DT_VARIANT in the type attrs of the Identity, IdentityN, Switch and Merge nodes
// that carry them becomes T, the dtype of the value that travels there. An OptionalNone is
// only ever produced by the branch that is not taken for the gradient that would read it, so
// its placeholder value is never read. Any other DT_VARIANT (TensorLists, datasets, a
// multi-component Optional) is an error naming the node.
absl::StatusOr<tensorflow::GraphDef> LowerCondOptionals(const tensorflow::GraphDef& gd) {
  TensorClasses classes;
  auto conflict = [](const tensorflow::NodeDef& n) {
    return NodeError(n, "the Optional values that meet here wrap different dtypes");
  };
  for (const tensorflow::NodeDef& n : gd.node()) {
    const std::string out0 = absl::StrCat(n.name(), ":0");
    if (n.op() == "OptionalFromValue") {
      ASSIGN_OR_RETURN(tensorflow::DataType t, OptionalComponentType(n, "Toutput_types"));
      if (!classes.Constrain(classes.Id(out0), t)) return conflict(n);
      continue;
    }
    if (n.op() == "OptionalGetValue") {
      ASSIGN_OR_RETURN(tensorflow::DataType t, OptionalComponentType(n, "output_types"));
      const std::string in = n.input_size() > 0 ? InputTensor(n, 0) : "";
      if (!in.empty() && !classes.Constrain(classes.Id(in), t)) return conflict(n);
      continue;
    }
    if (n.op() == "OptionalNone") {
      classes.Id(out0);
      continue;
    }
    if (!HasVariantAttr(n)) continue;
    const std::vector<int> positions = VariantPositions(n, "T");
    const bool forwards =
        n.op() == "Identity" || n.op() == "IdentityN" || n.op() == "Switch" || n.op() == "Merge";
    if (!forwards || positions.empty()) {
      return NodeError(n,
                       "a DT_VARIANT value Quiver cannot run; it supports variants only as "
                       "TensorLists (graph/tensor_list_lowering.h) and as the Optionals that "
                       "cond_v2 gradients pass between a conditional's branches");
    }
    for (const auto& [key, value] : n.attr()) {
      if (key != "T" && !VariantPositions(n, key).empty()) {
        return NodeError(n, absl::StrCat("attr '", key, "' holds DT_VARIANT"));
      }
    }
    auto join = [&](const std::string& a, int input) -> absl::Status {
      if (input >= n.input_size()) return absl::OkStatus();  // the importer reports it
      const std::string b = InputTensor(n, input);
      if (!b.empty() && !classes.Union(classes.Id(a), classes.Id(b))) return conflict(n);
      return absl::OkStatus();
    };
    if (n.op() == "IdentityN") {
      for (int p : positions) RETURN_IF_ERROR(join(absl::StrCat(n.name(), ":", p), p));
    } else if (n.op() == "Merge") {
      for (int i = 0; i < n.input_size(); ++i) {
        if (n.input(i).empty() || n.input(i)[0] == '^') continue;
        RETURN_IF_ERROR(join(out0, i));
      }
    } else {
      RETURN_IF_ERROR(join(out0, 0));
      if (n.op() == "Switch") RETURN_IF_ERROR(join(absl::StrCat(n.name(), ":1"), 0));
    }
  }
  // A class no Optional gives a dtype carries only OptionalNones that nothing unwraps.
  auto dtype_of = [&](const std::string& tensor) {
    const tensorflow::DataType t = classes.DtypeOf(classes.Id(tensor));
    return t == tensorflow::DT_INVALID ? tensorflow::DT_FLOAT : t;
  };

  tensorflow::GraphDef out = gd;
  for (tensorflow::NodeDef& n : *out.mutable_node()) {
    const std::string out0 = absl::StrCat(n.name(), ":0");
    if (n.op() == "OptionalFromValue" || n.op() == "OptionalGetValue") {
      const tensorflow::DataType t =
          n.op() == "OptionalFromValue" ? dtype_of(out0) : dtype_of(InputTensor(n, 0));
      n.set_op("Identity");
      KeepAttrs(&n, {});
      SetType(&n, "T", t);
    } else if (n.op() == "OptionalNone") {
      const tensorflow::DataType t = dtype_of(out0);
      n.set_op("Const");
      KeepAttrs(&n, {});
      SetType(&n, "dtype", t);
      tensorflow::TensorProto* value = (*n.mutable_attr())["value"].mutable_tensor();
      value->set_dtype(t);
      value->mutable_tensor_shape()->add_dim()->set_size(0);
    } else if (HasVariantAttr(n)) {  // a forwarding node, checked above
      tensorflow::AttrValue& attr = (*n.mutable_attr())["T"];
      if (attr.value_case() == tensorflow::AttrValue::kType) {
        attr.set_type(dtype_of(out0));
      } else {
        for (int p : VariantPositions(n, "T")) {
          attr.mutable_list()->set_type(p, dtype_of(absl::StrCat(n.name(), ":", p)));
        }
      }
    }
  }
  return out;
}

}  // namespace

bool UsesResourceVariables(const tensorflow::GraphDef& gd) {
  for (const tensorflow::NodeDef& n : gd.node()) {
    if (n.op() == "VarHandleOp" || FindSimpleRule(n.op()) != nullptr ||
        !RefApplyOp(n.op()).empty() || !ResourceAttr(n).empty() || IsOptionalOp(n.op()) ||
        HasVariantAttr(n)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<tensorflow::GraphDef> LowerResourceVariables(const tensorflow::GraphDef& input) {
  // cond_v2 gradient Optionals first: they wrap values read from variables, and variant-typed
  // Switch/Merge nodes must not look like unsupported values below.
  tensorflow::GraphDef without_optionals;
  bool has_optionals = false;
  for (const tensorflow::NodeDef& n : input.node()) {
    has_optionals |= IsOptionalOp(n.op()) || HasVariantAttr(n);
  }
  if (has_optionals) {
    ASSIGN_OR_RETURN(without_optionals, LowerCondOptionals(input));
  }
  const tensorflow::GraphDef& gd = has_optionals ? without_optionals : input;
  ResourceResolver resolve(gd);

  // Pass 1: the resource Identities to drop, each mapped to the handle it forwards. Any other
  // node that produces a resource (and is not a VarHandleOp, a resource Identity or Switch) is
  // unsupported.
  std::unordered_map<std::string, std::string> alias_to_handle;
  for (const tensorflow::NodeDef& n : gd.node()) {
    if (ResourceResolver::IsHandle(n)) continue;
    if (resolve.IsResourceIdentity(n) || ResourceResolver::IsResourceSwitch(n)) {
      auto r = resolve.Resolve(n, 0);
      if (!r.ok()) return r.status();
      if (resolve.IsHandleAlias(n)) alias_to_handle.emplace(n.name(), r->handle->name());
      continue;
    }
    const std::string attr = ResourceAttr(n);
    if (!attr.empty() && FindSimpleRule(n.op()) == nullptr && RefApplyOp(n.op()).empty()) {
      return NodeError(n, absl::StrCat("attr '", attr,
                                       "' is a resource type; Quiver supports resource values "
                                       "only as variables created by VarHandleOp in the same "
                                       "graph (a resource Placeholder usually comes from a "
                                       "tf.function capture: export the graph with its "
                                       "variables instead)"));
    }
  }

  tensorflow::GraphDef out = gd;  // versions and any other fields as they are
  out.clear_node();
  std::unordered_set<std::string> names;  // for the Consts the lowering adds
  for (const tensorflow::NodeDef& n : gd.node()) names.insert(n.name());

  for (const tensorflow::NodeDef& n : gd.node()) {
    if (alias_to_handle.count(n.name())) continue;  // dropped: consumers use the handle
    tensorflow::NodeDef* node = out.add_node();
    *node = n;

    // Control inputs on a dropped alias move to its handle (creation order is what they
    // mean); duplicates are removed.
    {
      std::vector<std::string> data, control;
      std::unordered_set<std::string> seen_control;
      for (const std::string& in : n.input()) {
        if (!in.empty() && in[0] == '^') {
          std::string name = in.substr(1);
          auto a = alias_to_handle.find(name);
          if (a != alias_to_handle.end()) name = a->second;
          if (seen_control.insert(name).second) control.push_back("^" + name);
        } else {
          data.push_back(in);
        }
      }
      node->clear_input();
      for (const std::string& in : data) node->add_input(in);
      for (const std::string& in : control) node->add_input(in);
    }

    if (ResourceResolver::IsHandle(n)) {
      if (!IsSupportedDataType(HandleDtype(n))) {
        return NodeError(
            n, absl::StrCat("variable dtype ", DataTypeName(HandleDtype(n)), " is not supported"));
      }
      node->set_op("VariableV2");
      KeepAttrs(node, {"dtype", "shape", "container", "shared_name"});
      if (!node->attr().count("shape")) {
        (*node->mutable_attr())["shape"].mutable_shape()->set_unknown_rank(true);
      }
      continue;
    }

    // A Switch of a handle switches the variable's reference; an Identity of a switched handle
    // forwards it (and is dead with its branch). Neither reads the variable.
    if (ResourceResolver::IsResourceSwitch(n) || resolve.IsResourceIdentity(n)) {
      auto r = resolve.Resolve(n, 0);
      if (!r.ok()) return r.status();
      node->set_op(n.op() == "Switch" ? "RefSwitch" : "RefIdentity");
      node->set_input(0, r->ref);
      KeepAttrs(node, {});
      SetType(node, "T", HandleDtype(*r->handle));
      continue;
    }

    if (const SimpleRule* rule = FindSimpleRule(n.op())) {
      auto r = resolve.Resolve(n, 0);
      if (!r.ok()) return r.status();
      const tensorflow::NodeDef& handle = *r->handle;
      const int var_dtype = HandleDtype(handle);
      node->set_op(rule->ref_op);
      node->set_input(0, r->ref);
      if (n.op() == "VarIsInitializedOp") {
        KeepAttrs(node, {});
        SetType(node, "dtype", var_dtype);
        continue;
      }
      if (n.op() == "VariableShape") {  // Shape of the variable's value; out_type as it was
        KeepAttrs(node, {"out_type"});
        SetType(node, "T", var_dtype);
        continue;
      }
      auto d = n.attr().find("dtype");
      if (d == n.attr().end() || d->second.value_case() != tensorflow::AttrValue::kType) {
        return NodeError(n, "missing attr 'dtype'");
      }
      if (d->second.type() != var_dtype) {
        return NodeError(
            n, absl::StrCat("uses variable '", handle.name(), "' of dtype ",
                            DataTypeName(var_dtype), " as ", DataTypeName(d->second.type())));
      }
      KeepAttrs(node, {});
      SetType(node, "T", var_dtype);
      if (n.op() == "AssignVariableOp") {
        // TF checks a value's shape against the handle's at graph construction; a variable
        // created without a full shape may take values of any shape.
        (*node->mutable_attr())["validate_shape"].set_b(HandleShapeFullyDefined(handle));
      }
      continue;
    }

    // ResourceGather (Keras Embedding) -> GatherV2 of the variable's value along axis
    // batch_dims, which a new Const "<name>/axis" gives.
    if (n.op() == "ResourceGather") {
      auto r = resolve.Resolve(n, 0);
      if (!r.ok()) return r.status();
      const int var_dtype = HandleDtype(*r->handle);
      auto d = n.attr().find("dtype");
      if (d != n.attr().end() && d->second.type() != var_dtype) {
        return NodeError(
            n, absl::StrCat("uses variable '", r->handle->name(), "' of dtype ",
                            DataTypeName(var_dtype), " as ", DataTypeName(d->second.type())));
      }
      auto b = n.attr().find("batch_dims");
      const int64_t batch_dims = b == n.attr().end() ? 0 : b->second.i();
      auto t = n.attr().find("Tindices");
      const int indices_type = t == n.attr().end() ? tensorflow::DT_INT32 : t->second.type();
      std::string axis = absl::StrCat(n.name(), "/axis");
      while (names.count(axis)) axis += "_";
      names.insert(axis);
      std::vector<std::string> inputs = {r->ref, n.input_size() > 1 ? n.input(1) : "", axis};
      for (int i = 2; i < n.input_size(); ++i) inputs.push_back(n.input(i));
      node->clear_input();
      for (const std::string& in : inputs) node->add_input(in);
      node->set_op("GatherV2");
      KeepAttrs(node, {});
      SetType(node, "Tparams", var_dtype);
      SetType(node, "Tindices", indices_type);
      SetType(node, "Taxis", tensorflow::DT_INT32);
      (*node->mutable_attr())["batch_dims"].set_i(batch_dims);
      tensorflow::NodeDef* axis_node = out.add_node();
      axis_node->set_name(axis);
      axis_node->set_op("Const");
      axis_node->set_device(n.device());
      SetType(axis_node, "dtype", tensorflow::DT_INT32);
      tensorflow::TensorProto* value = (*axis_node->mutable_attr())["value"].mutable_tensor();
      value->set_dtype(tensorflow::DT_INT32);
      value->mutable_tensor_shape();
      value->add_int_val(static_cast<int32_t>(batch_dims));
      continue;
    }

    const std::string apply = RefApplyOp(n.op());
    if (!apply.empty()) {
      if (OpRegistry::Global().Find(apply) == nullptr) {
        return NodeError(n, absl::StrCat("no ref-variable equivalent: Quiver does not "
                                         "implement ",
                                         apply));
      }
      node->set_op(apply);
      // The resource inputs (var, m, v, accum, ...) become the variables' refs; the op's
      // signature marks them Ref(T), and the importer checks the rest.
      for (int i = 0; i < n.input_size(); ++i) {
        const tensorflow::NodeDef* src = resolve.DataSource(n, i);
        if (src == nullptr || !resolve.ProducesResource(*src)) continue;
        auto r = resolve.Resolve(n, i);
        if (!r.ok()) return r.status();
        node->set_input(i, r->ref);
      }
      continue;
    }

    // Any other op: it must not take a resource as a data input.
    for (int i = 0; i < n.input_size(); ++i) {
      const tensorflow::NodeDef* src = resolve.DataSource(n, i);
      if (src == nullptr || !resolve.ProducesResource(*src)) continue;
      std::vector<std::string> supported;
      for (const SimpleRule& r : kSimpleRules) supported.push_back(r.tf_op);
      supported.push_back("ResourceGather");
      supported.push_back("ResourceApply*");
      supported.push_back("Identity");
      supported.push_back("Switch");
      return NodeError(
          n, absl::StrCat("input ", i, " ('", n.input(i), "') is the resource ", Label(*src),
                          "; Quiver lowers resource variables to "
                          "ref variables and supports them only as inputs of ",
                          absl::StrJoin(supported, ", ")));
    }
  }
  return out;
}

}  // namespace quiver
