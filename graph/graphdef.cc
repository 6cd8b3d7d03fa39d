#include "graph/graphdef.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "graph/function_inlining.h"
#include "graph/functionalize_loops.h"
#include "graph/resource_variable_lowering.h"
#include "graph/status_macros.h"
#include "graph/tensor_list_lowering.h"
#include "graph/tensor_proto.h"

namespace quiver {
namespace {

// Producer stamped on exported graphs that have none recorded: a TF1-era GraphDef version,
// past the legacy Placeholder-shape rule below.
constexpr int kDefaultProducer = 27;
// Producers up to this version wrote an unknown Placeholder shape as an empty shape.
constexpr int kLastLegacyPlaceholderShapeProducer = 21;
// How many node names an "unknown ops" entry lists before summarising.
constexpr size_t kMaxNamesPerOp = 5;

// "node 'name' (Op)"; nodes without a name are identified by their position.
std::string NodeLabel(const tensorflow::NodeDef& node, int index) {
  std::string who = node.name().empty() ? absl::StrCat("node #", index)
                                        : absl::StrCat("node '", node.name(), "'");
  return node.op().empty() ? who : absl::StrCat(who, " (", node.op(), ")");
}

absl::Status NodeError(const tensorflow::NodeDef& node, int index, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node, index), ": ", what));
}

// Same rule as Graph::AddNode (TensorFlow's IsValidNodeName): checked up front so that
// duplicates and bad names are reported before any node is added.
bool IsValidNodeName(const std::string& name) {
  if (name.empty()) return false;
  auto alnum = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); };
  if (!alnum(name[0]) && name[0] != '.') return false;
  return std::all_of(name.begin() + 1, name.end(), [&](char c) {
    return alnum(c) || c == '_' || c == '.' || c == '/' || c == '-';
  });
}

// The deprecated top-level GraphDef.version is what very old producers wrote instead of
// versions.producer, so we still read it.
int DeprecatedVersion(const tensorflow::GraphDef& gd) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return gd.version();
#pragma GCC diagnostic pop
}

struct ParsedInputs {
  std::vector<TensorId> data;
  std::vector<TensorId> control;
};

// Validates every tensor-valued attr (and list of tensors) by decoding it.
absl::Status ValidateTensorAttrs(const tensorflow::NodeDef& node, int index) {
  for (const auto& [key, value] : node.attr()) {
    if (value.value_case() == AttrValue::kTensor) {
      auto t = TensorFromProto(value.tensor());
      if (!t.ok()) {
        return NodeError(node, index, absl::StrCat("attr '", key, "': ", t.status().message()));
      }
    } else if (value.value_case() == AttrValue::kList) {
      for (int i = 0; i < value.list().tensor_size(); ++i) {
        auto t = TensorFromProto(value.list().tensor(i));
        if (!t.ok()) {
          return NodeError(node, index,
                           absl::StrCat("attr '", key, "'[", i, "]: ", t.status().message()));
        }
      }
    }
  }
  return absl::OkStatus();
}

// Finds one cycle among the nodes Kahn's algorithm could not schedule and prints it in
// data-flow order, e.g. "'a' (Add) -> 'b' (Mul) -> 'a' (Add)".
std::string DescribeCycle(const tensorflow::GraphDef& gd, const std::vector<ParsedInputs>& inputs,
                          const std::unordered_map<std::string, int>& index_of,
                          const std::vector<bool>& done) {
  int start = -1;
  for (int i = 0; i < gd.node_size(); ++i) {
    if (!done[i]) {
      start = i;
      break;
    }
  }
  if (start < 0) return "";
  // Every unscheduled node has an unscheduled producer, so walking producers must revisit
  // a node; the walk from that node on is the cycle.
  std::vector<int> position(gd.node_size(), -1);
  std::vector<int> path;
  int cur = start;
  while (position[cur] < 0) {
    position[cur] = static_cast<int>(path.size());
    path.push_back(cur);
    int next = -1;
    for (const auto* list : {&inputs[cur].data, &inputs[cur].control}) {
      for (const TensorId& id : *list) {
        int p = index_of.at(id.node);
        if (!done[p]) {
          next = p;
          break;
        }
      }
      if (next >= 0) break;
    }
    if (next < 0) return "";  // unreachable for a consistent input
    cur = next;
  }
  std::vector<int> cycle(path.begin() + position[cur], path.end());
  std::reverse(cycle.begin(), cycle.end());  // producers first
  cycle.push_back(cycle.front());
  std::vector<std::string> names;
  for (int i : cycle) {
    names.push_back(absl::StrCat("'", gd.node(i).name(), "' (", gd.node(i).op(), ")"));
  }
  return absl::StrJoin(names, " -> ");
}

// Garbage detection for binary parses: protobuf happily reads many random byte strings as a
// message made of unknown fields. TensorFlow's GraphDef fields we do not model (library=2,
// debug_info=5) are the only unknown fields a real GraphDef carries.
bool LooksLikeGraphDef(const tensorflow::GraphDef& gd, const std::string& bytes) {
  if (bytes.empty() || gd.node_size() > 0) return true;
  const google::protobuf::UnknownFieldSet& unknown = gd.GetReflection()->GetUnknownFields(gd);
  bool has_known_unknown = false;
  for (int i = 0; i < unknown.field_count(); ++i) {
    const google::protobuf::UnknownField& f = unknown.field(i);
    const bool tf_field = (f.number() == 2 || f.number() == 5) &&
                          f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED;
    if (!tf_field) return false;
    has_known_unknown = true;
  }
  return has_known_unknown || gd.has_versions() || gd.has_library() || DeprecatedVersion(gd) != 0;
}

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
    }
  }
  // Warnings are the skipped unknown fields (library { ... }); they are expected.
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

bool ParseText(const std::string& bytes, tensorflow::GraphDef* gd, std::string* error) {
  google::protobuf::TextFormat::Parser parser;
  // Fields of TF's GraphDef that our subset lacks (library, debug_info, ...) are skipped.
  parser.AllowUnknownField(true);
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  gd->Clear();
  if (parser.ParseFromString(bytes, gd)) return true;
  *error = errors.first();
  gd->Clear();
  return false;
}

bool HasTextExtension(const std::string& path) {
  const std::string lower = absl::AsciiStrToLower(path);
  return absl::EndsWith(lower, ".pbtxt") || absl::EndsWith(lower, ".pbtext") ||
         absl::EndsWith(lower, ".txt");
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // ENOENT -> NotFound, EACCES -> PermissionDenied, ...
    const int err = errno != 0 ? errno : ENOENT;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot open '", path, "'"));
  }
  // Opening a directory succeeds and then reads as empty; say what it is instead.
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is a directory"));
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return bytes;
}

absl::Status WriteAll(int fd, const std::string& data) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write failed");
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ImportGraphDef(const tensorflow::GraphDef& gd, Graph* graph) {
  if (graph == nullptr) return absl::InvalidArgumentError("ImportGraphDef: graph is null");
  if (graph->num_nodes() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ImportGraphDef needs an empty graph; this one has ", graph->num_nodes(), " nodes"));
  }
  // tf.function calls are replaced by the functions' bodies first (graph/function_inlining.h).
  if (HasFunctionCalls(gd)) {
    tensorflow::GraphDef inlined = gd;
    RETURN_IF_ERROR(InlineFunctionCalls(&inlined));
    inlined.clear_library();
    return ImportGraphDef(inlined, graph);
  }
  // TensorArrays and TensorLists (RNNs) become dense list tensors before loops are
  // functionalized: their handles and variants cannot be loop variables
  // (graph/tensor_list_lowering.h).
  if (UsesTensorLists(gd)) {
    ASSIGN_OR_RETURN(tensorflow::GraphDef lowered, LowerTensorLists(gd));
    if (UsesTensorLists(lowered)) {
      return absl::InternalError("tensor-list lowering left TensorList ops in the graph");
    }
    return ImportGraphDef(lowered, graph);
  }
  // TF1 tf.while_loop (control flow v1) becomes one "_While" node per loop
  // (graph/functionalize_loops.h); its body is imported the same way when the kernel runs it.
  if (HasV1Loops(gd)) {
    tensorflow::GraphDef functional = gd;
    RETURN_IF_ERROR(FunctionalizeV1Loops(&functional));
    if (HasV1Loops(functional)) {
      return absl::InternalError("loop functionalization left loop ops in the graph");
    }
    return ImportGraphDef(functional, graph);
  }
  // TF2 resource variables (VarHandleOp, ReadVariableOp, ResourceApplyAdam, ...) are lowered
  // to the TF1 ref-variable ops first (graph/resource_variable_lowering.h); the lowered
  // GraphDef then goes through every check below.
  if (UsesResourceVariables(gd)) {
    ASSIGN_OR_RETURN(tensorflow::GraphDef lowered, LowerResourceVariables(gd));
    if (UsesResourceVariables(lowered)) {
      return absl::InternalError("resource-variable lowering left resource ops in the graph");
    }
    return ImportGraphDef(lowered, graph);
  }
  const int n = gd.node_size();

  // 1. Parse every input string.
  std::vector<ParsedInputs> inputs(n);
  for (int i = 0; i < n; ++i) {
    const tensorflow::NodeDef& node = gd.node(i);
    for (int j = 0; j < node.input_size(); ++j) {
      auto id = ParseTensorName(node.input(j));
      if (!id.ok()) {
        return NodeError(node, i, absl::StrCat("input ", j, ": ", id.status().message()));
      }
      (id->is_control ? inputs[i].control : inputs[i].data).push_back(*std::move(id));
    }
  }

  // 2. Unknown ops, all in one message, grouped by op in order of first appearance.
  std::vector<std::pair<std::string, std::vector<std::string>>> unknown;
  for (int i = 0; i < n; ++i) {
    const tensorflow::NodeDef& node = gd.node(i);
    if (node.op().empty()) return NodeError(node, i, "op is empty");
    if (OpRegistry::Global().Find(node.op()) != nullptr) continue;
    auto it = std::find_if(unknown.begin(), unknown.end(),
                           [&](const auto& u) { return u.first == node.op(); });
    if (it == unknown.end()) it = unknown.insert(unknown.end(), {node.op(), {}});
    it->second.push_back(node.name().empty() ? absl::StrCat("#", i)
                                             : absl::StrCat("'", node.name(), "'"));
  }
  if (!unknown.empty()) {
    std::vector<std::string> parts;
    for (auto& [op, names] : unknown) {
      std::string list;
      if (names.size() > kMaxNamesPerOp) {
        list = absl::StrCat(
            absl::StrJoin(std::vector<std::string>(names.begin(), names.begin() + kMaxNamesPerOp),
                          ", "),
            " and ", names.size() - kMaxNamesPerOp, " more");
      } else {
        list = absl::StrJoin(names, ", ");
      }
      parts.push_back(absl::StrCat(op, " (node ", list, ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown ops: ", absl::StrJoin(parts, ", ")));
  }

  // 3. Node names: present, well-formed, unique.
  std::unordered_map<std::string, int> index_of;
  index_of.reserve(n);
  for (int i = 0; i < n; ++i) {
    const tensorflow::NodeDef& node = gd.node(i);
    if (node.name().empty()) return NodeError(node, i, "node name is empty");
    if (!IsValidNodeName(node.name())) {
      return NodeError(node, i, "invalid node name (names match [A-Za-z0-9.][A-Za-z0-9_./-]*)");
    }
    auto [it, inserted] = index_of.emplace(node.name(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate node name '", node.name(), "' (nodes #", it->second, " (",
                       gd.node(it->second).op(), ") and #", i, " (", node.op(), "))"));
    }
  }

  // 4. Control inputs come after all data inputs ("^x" then "y" is malformed).
  for (int i = 0; i < n; ++i) {
    const tensorflow::NodeDef& node = gd.node(i);
    bool seen_control = false;
    for (const std::string& in : node.input()) {
      if (!in.empty() && in[0] == '^') {
        seen_control = true;
      } else if (seen_control) {
        return NodeError(node, i,
                         absl::StrCat("data input '", in,
                                      "' comes after a control input; control inputs "
                                      "('^name') must come last"));
      }
    }
  }

  // 5. Dangling inputs.
  for (int i = 0; i < n; ++i) {
    const tensorflow::NodeDef& node = gd.node(i);
    for (const TensorId& id : inputs[i].data) {
      if (!index_of.count(id.node)) {
        return absl::InvalidArgumentError(
            absl::StrCat(NodeLabel(node, i), " has input '", id.ToString(),
                         "' but there is no node named '", id.node, "'"));
      }
    }
    for (const TensorId& id : inputs[i].control) {
      if (!index_of.count(id.node)) {
        return absl::InvalidArgumentError(
            absl::StrCat(NodeLabel(node, i), " has control input '", id.ToString(),
                         "' but there is no node named '", id.node, "'"));
      }
    }
  }

  // 6. Topological order (Kahn's algorithm over data and control inputs). The ready set is
  // ordered by GraphDef position, so a GraphDef that is already sorted keeps its order.
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> consumers(n);
  for (int i = 0; i < n; ++i) {
    for (const auto* list : {&inputs[i].data, &inputs[i].control}) {
      for (const TensorId& id : *list) {
        consumers[index_of.at(id.node)].push_back(i);
        ++pending[i];
      }
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<int> order;
  order.reserve(n);
  std::vector<bool> done(n, false);
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    done[i] = true;
    for (int c : consumers[i]) {
      if (--pending[c] == 0) ready.push(c);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph has a cycle: ", DescribeCycle(gd, inputs, index_of, done), " (",
                     n - static_cast<int>(order.size()), " nodes are on or after a cycle)"));
  }

  // 7. Producer version: versions.producer, or the deprecated top-level version.
  const int producer =
      gd.versions().producer() != 0 ? gd.versions().producer() : DeprecatedVersion(gd);
  graph->set_producer_version(producer);

  // 8. Add the nodes; AddNode checks attrs (adding defaults), input counts and dtypes.
  std::vector<Node*> added(n, nullptr);
  for (int i : order) {
    const tensorflow::NodeDef& node = gd.node(i);
    RETURN_IF_ERROR(ValidateTensorAttrs(node, i));
    NodeSpec spec;
    spec.name = node.name();
    spec.op = node.op();
    spec.device = node.device();
    for (const auto& [key, value] : node.attr()) spec.attrs.emplace(key, value);
    // Legacy: old producers wrote "shape unknown" as an empty (scalar-looking) shape.
    if (producer <= kLastLegacyPlaceholderShapeProducer &&
        (node.op() == "Placeholder" || node.op() == "PlaceholderWithDefault")) {
      auto it = spec.attrs.find("shape");
      if (it != spec.attrs.end() && it->second.value_case() == AttrValue::kShape &&
          !it->second.shape().unknown_rank() && it->second.shape().dim_size() == 0) {
        it->second.mutable_shape()->set_unknown_rank(true);
      }
    }
    for (const TensorId& id : inputs[i].data) {
      Node* src = added[index_of.at(id.node)];
      if (id.index >= src->num_outputs()) {
        return absl::InvalidArgumentError(
            absl::StrCat(NodeLabel(node, i), " has input '", id.ToString(), "' but node '",
                         src->name(), "' (", src->op(), ") has ", src->num_outputs(),
                         src->num_outputs() == 1 ? " output" : " outputs"));
      }
      spec.inputs.push_back(Endpoint{src, id.index});
    }
    for (const TensorId& id : inputs[i].control) {
      spec.control_inputs.push_back(added[index_of.at(id.node)]);
    }
    ASSIGN_OR_RETURN(added[i], graph->AddNode(std::move(spec)));
  }

  return graph->InferShapes();
}

void ExportGraphDef(const Graph& graph, tensorflow::GraphDef* gd) {
  gd->Clear();
  // Kahn's algorithm by node id: ids follow insertion order, so an imported graph exports in
  // its original order and a graph built in dependency order exports as built.
  const int ids = graph.num_node_ids();
  std::vector<int> pending(ids, 0);
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (Node* node : graph.nodes()) {
    int count = static_cast<int>(node->control_in_edges().size());
    for (int i = 0; i < node->num_inputs(); ++i) count += node->input_edge(i) != nullptr;
    pending[node->id()] = count;
    if (count == 0) ready.push(node->id());
  }
  std::vector<Node*> order;
  std::vector<bool> emitted(ids, false);
  while (!ready.empty()) {
    Node* node = graph.node(ready.top());
    ready.pop();
    order.push_back(node);
    emitted[node->id()] = true;
    for (const Edge* e : node->out_edges()) {
      if (--pending[e->dst->id()] == 0) ready.push(e->dst->id());
    }
  }
  // A cyclic (invalid) graph still exports every node, so that it can be inspected.
  for (Node* node : graph.nodes()) {
    if (!emitted[node->id()]) order.push_back(node);
  }

  for (const Node* node : order) {
    tensorflow::NodeDef* nd = gd->add_node();
    nd->set_name(node->name());
    nd->set_op(node->op());
    nd->set_device(node->requested_device());
    for (const auto& [key, value] : node->attrs()) (*nd->mutable_attr())[key] = value;
    for (int i = 0; i < node->num_inputs(); ++i) {
      const Edge* e = node->input_edge(i);
      if (e == nullptr) continue;  // only in a graph under construction
      nd->add_input(e->src_output == 0 ? e->src->name()
                                       : absl::StrCat(e->src->name(), ":", e->src_output));
    }
    for (const Edge* e : node->control_in_edges()) nd->add_input("^" + e->src->name());
  }
  const int producer = graph.producer_version();
  gd->mutable_versions()->set_producer(producer != 0 ? producer : kDefaultProducer);
}

absl::StatusOr<tensorflow::GraphDef> ParseGraphDef(const std::string& bytes, GraphDefFormat format,
                                                   const std::string& source) {
  tensorflow::GraphDef gd;
  std::string text_error;
  // Garbage input makes protobuf log (e.g. invalid UTF-8 in a string field) on top of the
  // error we return; keep stderr to the one clear message.
  google::protobuf::LogSilencer quiet;
  if (format == GraphDefFormat::kText) {
    if (ParseText(bytes, &gd, &text_error)) return gd;
    return absl::InvalidArgumentError(
        absl::StrCat("'", source, "' is not a text GraphDef: ", text_error));
  }
  if (gd.ParseFromString(bytes) && LooksLikeGraphDef(gd, bytes)) return gd;
  // A text GraphDef saved under a binary name: accept it if it has content.
  if (format == GraphDefFormat::kAuto && ParseText(bytes, &gd, &text_error) &&
      (gd.node_size() > 0 || gd.has_versions())) {
    return gd;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", source, "' is not a GraphDef (",
      format == GraphDefFormat::kAuto ? "binary or text protobuf" : "binary protobuf", ")"));
}

absl::StatusOr<tensorflow::GraphDef> ReadGraphDefFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  return ParseGraphDef(
      bytes, HasTextExtension(path) ? GraphDefFormat::kText : GraphDefFormat::kAuto, path);
}

absl::Status WriteGraphDefFile(const tensorflow::GraphDef& gd, const std::string& path) {
  std::string data;
  if (HasTextExtension(path)) {
    google::protobuf::TextFormat::Printer printer;
    // Unknown fields print as bare numbers, which no text parser reads back; drop them.
    printer.SetHideUnknownFields(true);
    if (!printer.PrintToString(gd, &data)) {
      return absl::InternalError(absl::StrCat("cannot print the GraphDef for '", path, "'"));
    }
  } else if (!gd.SerializeToString(&data)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot serialize the GraphDef for '", path,
                                                   "' (binary protobufs are limited to 2 GiB)"));
  }
  // Write a temporary file next to the target and rename it over the target, so that a crash
  // or a full disk never leaves a half-written graph behind.
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create '", tmp, "'"));
  absl::Status s = WriteAll(fd, data);
  if (s.ok() && ::fsync(fd) != 0) s = absl::ErrnoToStatus(errno, "fsync failed");
  if (::close(fd) != 0 && s.ok()) s = absl::ErrnoToStatus(errno, "close failed");
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = absl::ErrnoToStatus(errno, absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return absl::Status(s.code(), absl::StrCat("writing '", path, "': ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Graph>> LoadGraph(const std::string& path) {
  ASSIGN_OR_RETURN(tensorflow::GraphDef gd, ReadGraphDefFile(path));
  auto graph = std::make_unique<Graph>();
  absl::Status s = ImportGraphDef(gd, graph.get());
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("'", path, "': ", s.message()));
  return graph;
}

}  // namespace quiver
