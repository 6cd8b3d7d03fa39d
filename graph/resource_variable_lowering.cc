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
#include "graph/types.h"

namespace quiver {
namespace {

constexpr tensorflow::DataType kResource = tensorflow::DT_RESOURCE;

// The resource-variable ops with a direct ref-variable equivalent, besides ResourceApply*.
// Input 0 is the handle; all but VarIsInitializedOp carry the variable's dtype in "dtype".
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
      if (IsHandle(*src)) {
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

  // The VarHandleOp that data input `i` of `consumer` refers to, following resource
  // Identities, or an error naming `consumer` and what it got instead.
  absl::StatusOr<const tensorflow::NodeDef*> Handle(const tensorflow::NodeDef& consumer,
                                                    int i) const {
    const tensorflow::NodeDef* n = DataSource(consumer, i);
    if (n != nullptr && IsResourceIdentity(*n)) n = EndOfIdentities(*n);
    if (n != nullptr && IsHandle(*n)) return n;
    if (n == nullptr) {
      return NodeError(consumer, absl::StrCat("input ", i, " ('",
                                              i < consumer.input_size() ? consumer.input(i) : "",
                                              "') must be a variable handle (VarHandleOp), but "
                                              "it names no node"));
    }
    return NodeError(
        consumer, absl::StrCat("input ", i, " ('", consumer.input(i),
                               "') must be a resource variable handle made by a VarHandleOp "
                               "in this graph, but it comes from ",
                               Label(*n),
                               ProducesResource(*n) ? " (resource values other than VarHandleOp "
                                                      "variables, e.g. tf.function captures, are "
                                                      "not supported)"
                                                    : ""));
  }

 private:
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

}  // namespace

bool UsesResourceVariables(const tensorflow::GraphDef& gd) {
  for (const tensorflow::NodeDef& n : gd.node()) {
    if (n.op() == "VarHandleOp" || FindSimpleRule(n.op()) != nullptr ||
        !RefApplyOp(n.op()).empty() || !ResourceAttr(n).empty()) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<tensorflow::GraphDef> LowerResourceVariables(const tensorflow::GraphDef& gd) {
  ResourceResolver resolve(gd);

  // Pass 1: the resource Identities to drop, each mapped to the handle it forwards. Any other
  // node that produces a resource (and is not a VarHandleOp) is unsupported.
  std::unordered_map<std::string, std::string> alias_to_handle;
  for (const tensorflow::NodeDef& n : gd.node()) {
    if (ResourceResolver::IsHandle(n)) continue;
    if (resolve.IsResourceIdentity(n)) {
      auto h = resolve.Handle(n, 0);
      if (!h.ok()) return h.status();
      alias_to_handle.emplace(n.name(), (*h)->name());
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

    if (const SimpleRule* rule = FindSimpleRule(n.op())) {
      auto h = resolve.Handle(n, 0);
      if (!h.ok()) return h.status();
      const tensorflow::NodeDef& handle = **h;
      const int var_dtype = HandleDtype(handle);
      node->set_op(rule->ref_op);
      node->set_input(0, handle.name());
      if (n.op() == "VarIsInitializedOp") {
        KeepAttrs(node, {});
        SetType(node, "dtype", var_dtype);
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
        auto h = resolve.Handle(n, i);
        if (!h.ok()) return h.status();
        node->set_input(i, (*h)->name());
      }
      continue;
    }

    // Any other op: it must not take a resource as a data input.
    for (int i = 0; i < n.input_size(); ++i) {
      const tensorflow::NodeDef* src = resolve.DataSource(n, i);
      if (src == nullptr || !resolve.ProducesResource(*src)) continue;
      std::vector<std::string> supported;
      for (const SimpleRule& r : kSimpleRules) supported.push_back(r.tf_op);
      supported.push_back("ResourceApply*");
      supported.push_back("Identity");
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
