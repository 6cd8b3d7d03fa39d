#include "graph/while_loop.h"

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

absl::StatusOr<tensorflow::NodeDef> MakeWhileFromFunctions(
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
  for (tensorflow::DataType d : types) {
    // DT_VARIANT TensorLists are lowered to dense tensors next (graph/tensor_list_lowering.h).
    if (d == tensorflow::DT_RESOURCE) {
      return error(absl::StrCat("a loop variable of type ", tensorflow::DataType_Name(d),
                                " is not supported (resource variables inside loops)"));
    }
  }
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
  std::vector<tensorflow::TensorShapeProto> shapes;
  if (const tensorflow::AttrValue* s = attr("output_shapes")) {
    shapes.assign(s->list().shape().begin(), s->list().shape().end());
  }
  if (!shapes.empty() && shapes.size() != types.size()) shapes.clear();
  inputs.insert(inputs.end(), controls.begin(), controls.end());
  return MakeWhileNode(node.name(), node.device(), inputs, types,
                       CallingGraph(*cond_fn, types, library),
                       CallingGraph(*body_fn, types, library), shapes);
}

}  // namespace quiver
