#include "graph/while_loop.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace quiver {
namespace {

tensorflow::NodeDef Placeholder(const std::string& name, tensorflow::DataType dtype) {
  tensorflow::NodeDef n;
  n.set_name(name);
  n.set_op("Placeholder");
  (*n.mutable_attr())["dtype"].set_type(dtype);
  return n;
}

tensorflow::NodeDef IdentityOf(const std::string& name, const std::string& input,
                               tensorflow::DataType dtype) {
  tensorflow::NodeDef n;
  n.set_name(name);
  n.set_op("Identity");
  n.add_input(input);
  (*n.mutable_attr())["T"].set_type(dtype);
  return n;
}

const tensorflow::FunctionDef* FindFunction(const tensorflow::FunctionDefLibrary& library,
                                            const std::string& name) {
  for (const tensorflow::FunctionDef& f : library.function()) {
    if (f.signature().name() == name) return &f;
  }
  return nullptr;
}

// A GraphDef computing `fn` of Placeholders arg_i: a call the importer inlines, and its
// results as ret_k.
tensorflow::GraphDef CallingGraph(const tensorflow::FunctionDef& fn,
                                  const std::vector<tensorflow::DataType>& types,
                                  const tensorflow::FunctionDefLibrary& library) {
  tensorflow::GraphDef g;
  tensorflow::NodeDef call;
  call.set_name("call");
  call.set_op("PartitionedCall");
  (*call.mutable_attr())["f"].mutable_func()->set_name(fn.signature().name());
  auto* tin = (*call.mutable_attr())["Tin"].mutable_list();
  for (size_t i = 0; i < types.size(); ++i) {
    *g.add_node() = Placeholder(WhileArgName(static_cast<int>(i)), types[i]);
    call.add_input(WhileArgName(static_cast<int>(i)));
    tin->add_type(types[i]);
  }
  auto* tout = (*call.mutable_attr())["Tout"].mutable_list();
  for (int k = 0; k < fn.signature().output_arg_size(); ++k) {
    const tensorflow::DataType t = fn.signature().output_arg(k).type();
    tout->add_type(t);
    *g.add_node() = IdentityOf(WhileResultName(k), absl::StrCat("call:", k), t);
  }
  *g.add_node() = std::move(call);
  *g.mutable_library() = library;
  return g;
}

// The dtype of the ReadVariableOps that are the only consumers of input arg `k` of `fn`
// (DT_INVALID when nothing reads it), or "" in `why` and an error status when the arg is used
// in any other way. With `returned`, the function must also return the arg unchanged as
// output k (a loop-invariant variable).
absl::StatusOr<tensorflow::DataType> ReadOnlyArgDtype(const tensorflow::FunctionDef& fn, int k,
                                                      bool returned) {
  const std::string& arg = fn.signature().input_arg(k).name();
  auto refers = [&](const std::string& in) {
    const std::string name = !in.empty() && in[0] == '^' ? in.substr(1) : in;
    return name == arg || absl::StartsWith(name, arg + ":");
  };
  tensorflow::DataType dtype = tensorflow::DT_INVALID;
  for (const tensorflow::NodeDef& n : fn.node_def()) {
    for (int i = 0; i < n.input_size(); ++i) {
      if (!refers(n.input(i))) continue;
      auto d = n.attr().find("dtype");
      if (n.op() != "ReadVariableOp" || i != 0 || d == n.attr().end() ||
          (dtype != tensorflow::DT_INVALID && d->second.type() != dtype)) {
        return absl::InvalidArgumentError(
            absl::StrCat("function '", fn.signature().name(), "' uses its resource argument '", arg,
                         "' in node '", n.name(), "' (", n.op(),
                         "); only loops that just read a variable are supported"));
      }
      dtype = d->second.type();
    }
  }
  if (returned) {
    auto ret = k < fn.signature().output_arg_size()
                   ? fn.ret().find(fn.signature().output_arg(k).name())
                   : fn.ret().end();
    if (ret == fn.ret().end() || !refers(ret->second)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "function '", fn.signature().name(), "' does not return its resource ", "argument '", arg,
          "' unchanged; only loops that just read a variable ", "are supported"));
    }
  }
  return dtype;
}

// `fn` with input arg `k` (and output k when `returned`) carrying the variable's value: its
// reads become Identities of the argument.
void CarryValueInstead(tensorflow::FunctionDef* fn, int k, tensorflow::DataType dtype,
                       bool returned) {
  const std::string arg = fn->signature().input_arg(k).name();
  std::vector<std::string> renamed;
  fn->mutable_signature()->mutable_input_arg(k)->set_type(dtype);
  if (returned) fn->mutable_signature()->mutable_output_arg(k)->set_type(dtype);
  for (tensorflow::NodeDef& n : *fn->mutable_node_def()) {
    if (n.op() != "ReadVariableOp" || n.input_size() == 0) continue;
    if (n.input(0) != arg && !absl::StartsWith(n.input(0), arg + ":")) continue;
    n.set_op("Identity");
    n.mutable_attr()->erase("dtype");
    (*n.mutable_attr())["T"].set_type(dtype);
    renamed.push_back(n.name());
  }
  // Body references name an op's output arg: ReadVariableOp's "value" is Identity's "output".
  auto rename = [&](std::string* ref) {
    for (const std::string& r : renamed) {
      for (const std::string& prefix : {r + ":value:", "^" + r + ":value:"}) {
        if (absl::StartsWith(*ref, prefix)) {
          *ref = absl::StrCat(prefix.substr(0, prefix.size() - 6),
                              "output:", ref->substr(prefix.size()));
          return;
        }
      }
    }
  };
  for (tensorflow::NodeDef& n : *fn->mutable_node_def()) {
    for (std::string& in : *n.mutable_input()) rename(&in);
  }
  for (auto& [name, ref] : *fn->mutable_ret()) rename(&ref);
}

}  // namespace

std::string WhileArgName(int i) { return absl::StrCat("arg_", i); }
std::string WhileResultName(int i) { return absl::StrCat("ret_", i); }

tensorflow::NodeDef MakeWhileNode(const std::string& name, const std::string& device,
                                  const std::vector<std::string>& inputs,
                                  const std::vector<tensorflow::DataType>& types,
                                  const tensorflow::GraphDef& cond_graph,
                                  const tensorflow::GraphDef& body_graph,
                                  const std::vector<tensorflow::TensorShapeProto>& output_shapes) {
  tensorflow::NodeDef n;
  n.set_name(name);
  n.set_op(kWhileOp);
  n.set_device(device);
  for (const std::string& i : inputs) n.add_input(i);
  auto& attrs = *n.mutable_attr();
  auto* t = attrs["T"].mutable_list();
  for (tensorflow::DataType d : types) t->add_type(d);
  cond_graph.SerializeToString(attrs["cond_graph"].mutable_s());
  body_graph.SerializeToString(attrs["body_graph"].mutable_s());
  auto* shapes = attrs["output_shapes"].mutable_list();
  for (const auto& s : output_shapes) *shapes->add_shape() = s;
  return n;
}

absl::StatusOr<WhileFromFunctions> MakeWhileFromFunctions(
    const tensorflow::NodeDef& node, const tensorflow::FunctionDefLibrary& library) {
  auto error = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", node.name(), "' (", node.op(), "): ", why));
  };
  auto attr = [&](const char* name) -> const tensorflow::AttrValue* {
    auto it = node.attr().find(name);
    return it == node.attr().end() ? nullptr : &it->second;
  };
  const tensorflow::AttrValue* t = attr("T");
  const tensorflow::AttrValue* cond = attr("cond");
  const tensorflow::AttrValue* body = attr("body");
  if (!t || !cond || !cond->has_func() || !body || !body->has_func()) {
    return error("needs T, cond and body attrs");
  }
  std::vector<tensorflow::DataType> types;
  for (int i = 0; i < t->list().type_size(); ++i) types.push_back(t->list().type(i));
  std::vector<std::string> inputs, controls;
  for (const std::string& i : node.input()) {
    (!i.empty() && i[0] == '^' ? controls : inputs).push_back(i);
  }
  if (inputs.size() != types.size()) {
    return error(absl::StrCat("has ", inputs.size(), " data inputs for ", types.size(),
                              " loop variables (T)"));
  }
  const tensorflow::FunctionDef* cond_fn = FindFunction(library, cond->func().name());
  const tensorflow::FunctionDef* body_fn = FindFunction(library, body->func().name());
  for (const auto& [fn, name] :
       {std::pair{cond_fn, cond->func().name()}, std::pair{body_fn, body->func().name()}}) {
    if (fn == nullptr) {
      return error(absl::StrCat("function '", name, "' is missing from the graph's library"));
    }
    if (fn->signature().input_arg_size() != static_cast<int>(types.size())) {
      return error(absl::StrCat("function '", name, "' takes ", fn->signature().input_arg_size(),
                                " arguments for ", types.size(), " loop variables"));
    }
  }
  const auto& cond_out = cond_fn->signature().output_arg();
  if (cond_out.size() != 1 || cond_out[0].type() != tensorflow::DT_BOOL) {
    return error(absl::StrCat("cond function '", cond->func().name(),
                              "' must return one bool (only bool predicates are supported)"));
  }
  const auto& body_out = body_fn->signature().output_arg();
  if (body_out.size() != static_cast<int>(types.size())) {
    return error(absl::StrCat("body function '", body->func().name(), "' returns ", body_out.size(),
                              " values for ", types.size(), " loop variables"));
  }
  for (int k = 0; k < body_out.size(); ++k) {
    if (body_out[k].type() != types[k]) {
      return error(absl::StrCat("body function '", body->func().name(), "' returns ",
                                tensorflow::DataType_Name(body_out[k].type()),
                                " for loop variable ", k, " of type ",
                                tensorflow::DataType_Name(types[k])));
    }
  }
  // DT_VARIANT TensorLists are lowered to dense tensors next (graph/tensor_list_lowering.h).
  // A DT_RESOURCE loop variable that the body only reads and returns unchanged (a Keras RNN
  // cell's weights) is read once before the loop and carried as its value, as TF's loop
  // invariant hoisting would; the functions' reads of it become Identities.
  tensorflow::FunctionDefLibrary values_library = library;
  tensorflow::FunctionDef* cond_copy = nullptr;
  tensorflow::FunctionDef* body_copy = nullptr;
  for (tensorflow::FunctionDef& f : *values_library.mutable_function()) {
    if (f.signature().name() == cond->func().name()) cond_copy = &f;
    if (f.signature().name() == body->func().name()) body_copy = &f;
  }
  WhileFromFunctions result;
  for (size_t k = 0; k < types.size(); ++k) {
    if (types[k] != tensorflow::DT_RESOURCE) continue;
    const int i = static_cast<int>(k);
    auto body_read = ReadOnlyArgDtype(*body_copy, i, /*returned=*/true);
    auto cond_read = ReadOnlyArgDtype(*cond_copy, i, /*returned=*/false);
    if (!body_read.ok() || !cond_read.ok()) {
      return error(absl::StrCat("resource loop variable ", k, ": ",
                                (body_read.ok() ? cond_read : body_read).status().message()));
    }
    tensorflow::DataType dtype = *body_read != tensorflow::DT_INVALID ? *body_read : *cond_read;
    if (dtype == tensorflow::DT_INVALID ||
        (*cond_read != tensorflow::DT_INVALID && *cond_read != dtype)) {
      return error(absl::StrCat("resource loop variable ", k,
                                " is never read in the loop, or read as two dtypes"));
    }
    tensorflow::NodeDef read;
    read.set_name(absl::StrCat(node.name(), "/read_variable_", k));
    read.set_op("ReadVariableOp");
    read.set_device(node.device());
    read.add_input(inputs[k]);
    for (const std::string& c : controls) read.add_input(c);
    (*read.mutable_attr())["dtype"].set_type(dtype);
    result.resource_outputs[i] = inputs[k];
    inputs[k] = read.name();
    result.nodes.push_back(std::move(read));
    types[k] = dtype;
    CarryValueInstead(body_copy, i, dtype, /*returned=*/true);
    CarryValueInstead(cond_copy, i, dtype, /*returned=*/false);
  }
  std::vector<tensorflow::TensorShapeProto> shapes;
  if (const tensorflow::AttrValue* s = attr("output_shapes")) {
    shapes.assign(s->list().shape().begin(), s->list().shape().end());
  }
  if (!shapes.empty() && shapes.size() != types.size()) shapes.clear();
  inputs.insert(inputs.end(), controls.begin(), controls.end());
  result.nodes.push_back(MakeWhileNode(node.name(), node.device(), inputs, types,
                                       CallingGraph(*cond_copy, types, values_library),
                                       CallingGraph(*body_copy, types, values_library), shapes));
  return result;
}

}  // namespace quiver
