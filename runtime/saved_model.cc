#include "runtime/saved_model.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/graphdef.h"
#include "graph/status_macros.h"
#include "proto/saved_model.pb.h"
#include "runtime/tf_checkpoint.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

// TF's loader runs this signature itself at load time; it is not for callers.
constexpr char kInitOpSignature[] = "__saved_model_init_op";

std::string TagsString(const std::set<std::string>& tags) {
  return absl::StrCat("{", absl::StrJoin(tags, ", "), "}");
}

absl::StatusOr<tensorflow::SavedModel> ReadSavedModelProto(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("SavedModel directory '", dir, "' does not exist"));
  }
  tensorflow::SavedModel proto;
  for (const char* name : {"saved_model.pb", "saved_model.pbtxt"}) {
    const fs::path path = fs::path(dir) / name;
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;
    std::stringstream bytes;
    bytes << in.rdbuf();
    const bool text = std::string(name).ends_with(".pbtxt");
    const bool parsed = text ? google::protobuf::TextFormat::ParseFromString(bytes.str(), &proto)
                             : proto.ParseFromString(bytes.str());
    if (!parsed) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path.string(), "' does not parse as a SavedModel"));
    }
    if (proto.meta_graphs_size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", path.string(), "' holds no MetaGraph"));
    }
    return proto;
  }
  return absl::NotFoundError(absl::StrCat("no saved_model.pb or saved_model.pbtxt in '", dir, "'"));
}

std::set<std::string> TagsOf(const tensorflow::MetaGraphDef& meta) {
  const auto& tags = meta.meta_info_def().tags();
  return std::set<std::string>(tags.begin(), tags.end());
}

absl::StatusOr<SignatureTensor> ToSignatureTensor(const std::string& signature,
                                                  const std::string& key,
                                                  const tensorflow::TensorInfo& info) {
  if (info.name().empty()) {
    return absl::UnimplementedError(
        absl::StrCat("signature '", signature, "': '", key,
                     "' is a sparse or composite tensor; only dense tensors are supported"));
  }
  SignatureTensor t;
  t.key = key;
  t.tensor = info.name();
  t.dtype = static_cast<DataType>(info.dtype());
  if (info.has_tensor_shape() && !info.tensor_shape().unknown_rank()) {
    std::vector<int64_t> dims;
    for (const auto& d : info.tensor_shape().dim()) dims.push_back(d.size());
    t.shape = TensorShape(dims);
  }
  return t;
}

absl::StatusOr<std::vector<Signature>> SignaturesOf(const tensorflow::MetaGraphDef& meta) {
  std::vector<Signature> out;
  // std::map: keys in sorted order, whatever order the proto map iterates in.
  const std::map<std::string, tensorflow::SignatureDef> defs(meta.signature_def().begin(),
                                                             meta.signature_def().end());
  for (const auto& [name, def] : defs) {
    if (name == kInitOpSignature) continue;
    Signature s;
    s.name = name;
    s.method_name = def.method_name();
    for (const auto& [key, info] :
         std::map<std::string, tensorflow::TensorInfo>(def.inputs().begin(), def.inputs().end())) {
      ASSIGN_OR_RETURN(SignatureTensor t, ToSignatureTensor(name, key, info));
      s.inputs.push_back(std::move(t));
    }
    for (const auto& [key, info] : std::map<std::string, tensorflow::TensorInfo>(
             def.outputs().begin(), def.outputs().end())) {
      ASSIGN_OR_RETURN(SignatureTensor t, ToSignatureTensor(name, key, info));
      s.outputs.push_back(std::move(t));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// "^node", "node:1", "node" -> "node".
std::string NodeNameOf(std::string name) {
  if (!name.empty() && name[0] == '^') name.erase(0, 1);
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos &&
      name.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
      colon + 1 < name.size()) {
    name.resize(colon);
  }
  return name;
}

// The GraphDef with only the nodes `roots` need (through data and control inputs), in their
// original order. Drops the save/restore subgraph, whose string ops Quiver has no kernels for.
absl::StatusOr<tensorflow::GraphDef> PruneTo(const tensorflow::GraphDef& def,
                                             const std::vector<std::pair<std::string, std::string>>&
                                                 roots) {  // (what names it, tensor or node)
  std::map<std::string, int> index;
  for (int i = 0; i < def.node_size(); ++i) index.emplace(def.node(i).name(), i);
  std::vector<bool> keep(def.node_size(), false);
  std::deque<int> queue;
  for (const auto& [who, name] : roots) {
    auto it = index.find(NodeNameOf(name));
    if (it == index.end()) {
      return absl::NotFoundError(absl::StrCat(
          who, " names '", name, "' but the graph has no node '", NodeNameOf(name), "'"));
    }
    if (!keep[it->second]) {
      keep[it->second] = true;
      queue.push_back(it->second);
    }
  }
  while (!queue.empty()) {
    const tensorflow::NodeDef& n = def.node(queue.front());
    queue.pop_front();
    for (const std::string& input : n.input()) {
      auto it = index.find(NodeNameOf(input));
      if (it != index.end() && !keep[it->second]) {  // a dangling input: the importer says so
        keep[it->second] = true;
        queue.push_back(it->second);
      }
    }
  }
  tensorflow::GraphDef out = def;
  out.clear_node();
  for (int i = 0; i < def.node_size(); ++i) {
    if (keep[i]) *out.add_node() = def.node(i);
  }
  return out;
}

// The restore call's body, for CheckpointKeysByVariable.
struct RestoreFunction {
  const tensorflow::NodeDef* call = nullptr;
  const tensorflow::FunctionDef* fn = nullptr;
  std::map<std::string, const tensorflow::NodeDef*> body;
  // "node:out:i" or "node" in the body -> the node, following Identity chains.
  const tensorflow::NodeDef* Source(std::string input, int* index) const {
    for (int hops = 0; hops < 64; ++hops) {
      const std::vector<std::string> parts = absl::StrSplit(input, ':');
      auto it = body.find(parts[0]);
      if (it == body.end()) return nullptr;
      *index = 0;
      if (parts.size() == 3 && !absl::SimpleAtoi(parts[2], index)) return nullptr;
      if (it->second->op() != "Identity" || it->second->input_size() == 0) return it->second;
      input = it->second->input(0);
    }
    return nullptr;
  }
};

// TF2 SavedModels key their checkpoint by object path ("w1/.ATTRIBUTES/VARIABLE_VALUE"), not
// by variable name. The MetaGraph's restore function says which key goes to which variable:
// RestoreV2(prefix, tensor_names, ...) output i feeds AssignVariableOp(argument j, ...), and
// the restore call passes the variable's VarHandleOp as argument j. TF1 MetaGraphs restore
// through a NoOp: no map, the keys are the variable names. A pattern not recognised leaves
// that variable out of the map (its restore then says which key it looked for).
std::map<std::string, std::string> CheckpointKeysByVariable(const tensorflow::MetaGraphDef& meta) {
  std::map<std::string, std::string> keys;
  const tensorflow::GraphDef& graph = meta.graph_def();
  RestoreFunction r;
  const std::string restore = NodeNameOf(meta.saver_def().restore_op_name());
  for (const tensorflow::NodeDef& n : graph.node()) {
    if (n.name() == restore) r.call = &n;
  }
  if (r.call == nullptr) return keys;
  auto f = r.call->attr().find("f");
  if (f == r.call->attr().end()) return keys;
  for (const tensorflow::FunctionDef& fn : graph.library().function()) {
    if (fn.signature().name() == f->second.func().name()) r.fn = &fn;
  }
  if (r.fn == nullptr) return keys;
  for (const tensorflow::NodeDef& n : r.fn->node_def()) r.body[n.name()] = &n;
  for (const tensorflow::NodeDef& assign : r.fn->node_def()) {
    if (assign.op() != "AssignVariableOp" || assign.input_size() < 2) continue;
    int tensor = 0, unused = 0;
    const tensorflow::NodeDef* restored = r.Source(assign.input(1), &tensor);
    if (restored == nullptr || restored->op() != "RestoreV2" || restored->input_size() < 2) {
      continue;
    }
    const tensorflow::NodeDef* names = r.Source(restored->input(1), &unused);
    if (names == nullptr || names->op() != "Const") continue;
    auto value = names->attr().find("value");
    if (value == names->attr().end() || tensor < 0 ||
        tensor >= value->second.tensor().string_val_size()) {
      continue;
    }
    const auto& args = r.fn->signature().input_arg();
    for (int j = 0; j < args.size() && j < r.call->input_size(); ++j) {
      if (args[j].name() == assign.input(0)) {
        keys[NodeNameOf(r.call->input(j))] = value->second.tensor().string_val(tensor);
      }
    }
  }
  return keys;
}

bool HasVariables(const Graph& graph) {
  for (const Node* n : graph.nodes()) {
    if (n->op() == "VariableV2" || n->op() == "Variable") return true;
  }
  return false;
}

}  // namespace

bool IsSavedModelDir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && (fs::exists(fs::path(path) / "saved_model.pb", ec) ||
                                        fs::exists(fs::path(path) / "saved_model.pbtxt", ec));
}

absl::StatusOr<const Signature*> SavedModel::FindSignature(const std::string& name) const {
  std::vector<std::string> names;
  for (const Signature& s : signatures_) {
    if (s.name == name) return &s;
    names.push_back(s.name);
  }
  return absl::NotFoundError(
      absl::StrCat("no signature '", name, "' in the MetaGraph tagged ", TagsString(tags_),
                   names.empty() ? " (it has none)"
                                 : absl::StrCat(" (it has: ", absl::StrJoin(names, ", "), ")")));
}

absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> SavedModel::Run(
    const std::string& signature, const std::vector<std::pair<std::string, Tensor>>& inputs) {
  ASSIGN_OR_RETURN(const Signature* sig, FindSignature(signature));
  auto keys = [](const std::vector<SignatureTensor>& v) {
    std::vector<std::string> k;
    for (const SignatureTensor& t : v) k.push_back(t.key);
    return absl::StrJoin(k, ", ");
  };
  std::vector<Session::Feed> feeds;
  for (const auto& input : inputs) {
    const std::string& key = input.first;  // (a lambda may not capture a structured binding)
    const Tensor& value = input.second;
    auto it = std::find_if(sig->inputs.begin(), sig->inputs.end(),
                           [&](const SignatureTensor& t) { return t.key == key; });
    if (it == sig->inputs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("signature '", signature, "' has no input '",
                                                     key, "' (inputs: ", keys(sig->inputs), ")"));
    }
    feeds.emplace_back(it->tensor, value);
  }
  for (const SignatureTensor& t : sig->inputs) {
    auto given = std::find_if(inputs.begin(), inputs.end(),
                              [&](const auto& in) { return in.first == t.key; });
    if (given == inputs.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature '", signature, "' input '", t.key, "' (", t.tensor,
                       ") is not given (inputs: ", keys(sig->inputs), ")"));
    }
  }
  std::vector<std::string> fetches;
  for (const SignatureTensor& t : sig->outputs) fetches.push_back(t.tensor);
  ASSIGN_OR_RETURN(std::vector<Tensor> values, session_->Run(feeds, fetches));
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < values.size(); ++i) out.emplace_back(sig->outputs[i].key, values[i]);
  return out;
}

namespace {

// The chosen MetaGraph's graph, pruned and imported, with what a SavedModel keeps of it.
struct LoadedGraph {
  std::unique_ptr<Graph> graph;
  std::vector<Signature> signatures;
  std::map<std::string, std::string> checkpoint_keys;  // variable node -> checkpoint key
};

absl::StatusOr<LoadedGraph> LoadMetaGraph(const std::string& export_dir,
                                          const SavedModelOptions& options) {
  ASSIGN_OR_RETURN(tensorflow::SavedModel proto, ReadSavedModelProto(export_dir));
  const tensorflow::MetaGraphDef* meta = nullptr;
  std::vector<std::string> available;
  for (const auto& m : proto.meta_graphs()) {
    if (TagsOf(m) == options.tags) meta = &m;
    available.push_back(TagsString(TagsOf(m)));
  }
  if (meta == nullptr) {
    return absl::NotFoundError(absl::StrCat("no MetaGraph tagged ", TagsString(options.tags),
                                            " in SavedModel '", export_dir,
                                            "' (it has: ", absl::StrJoin(available, ", "), ")"));
  }
  LoadedGraph out;
  ASSIGN_OR_RETURN(out.signatures, SignaturesOf(*meta));
  std::vector<std::pair<std::string, std::string>> roots;
  for (const Signature& s : out.signatures) {
    for (const auto* list : {&s.inputs, &s.outputs}) {
      for (const SignatureTensor& t : *list) {
        roots.emplace_back(absl::StrCat("signature '", s.name, "' tensor '", t.key, "'"), t.tensor);
      }
    }
  }
  for (const std::string& k : options.keep) roots.emplace_back("a requested fetch or target", k);
  if (roots.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the MetaGraph tagged ", TagsString(options.tags), " of '", export_dir,
        "' has no signatures: name the tensors to run (SavedModelOptions::keep, or --fetch)"));
  }
  ASSIGN_OR_RETURN(tensorflow::GraphDef pruned, PruneTo(meta->graph_def(), roots));
  out.graph = std::make_unique<Graph>();
  if (absl::Status s = ImportGraphDef(pruned, out.graph.get()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("SavedModel '", export_dir, "': ", s.message()));
  }
  out.checkpoint_keys = CheckpointKeysByVariable(*meta);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Graph>> LoadSavedModelGraph(const std::string& export_dir,
                                                           const SavedModelOptions& options) {
  ASSIGN_OR_RETURN(LoadedGraph loaded, LoadMetaGraph(export_dir, options));
  return std::move(loaded.graph);
}

absl::StatusOr<std::unique_ptr<SavedModel>> LoadSavedModel(const std::string& export_dir,
                                                           const SavedModelOptions& options) {
  ASSIGN_OR_RETURN(LoadedGraph loaded, LoadMetaGraph(export_dir, options));
  auto model = std::make_unique<SavedModel>();
  model->tags_ = options.tags;
  model->signatures_ = std::move(loaded.signatures);
  ASSIGN_OR_RETURN(model->session_, Session::Create(*loaded.graph, options.session));
  if (HasVariables(model->session_->graph())) {
    const std::string prefix = (fs::path(export_dir) / "variables" / "variables").string();
    if (absl::Status s = RestoreTfCheckpoint(*model->session_, prefix, loaded.checkpoint_keys);
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("SavedModel '", export_dir,
                                                 "': restoring its variables: ", s.message()));
    }
  }
  return model;
}

absl::StatusOr<std::vector<MetaGraphSummary>> ReadSavedModelSummary(const std::string& export_dir) {
  ASSIGN_OR_RETURN(tensorflow::SavedModel proto, ReadSavedModelProto(export_dir));
  std::vector<MetaGraphSummary> out;
  for (const auto& m : proto.meta_graphs()) {
    MetaGraphSummary s;
    s.tags = TagsOf(m);
    s.num_nodes = m.graph_def().node_size();
    ASSIGN_OR_RETURN(s.signatures, SignaturesOf(m));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace quiver
