// quiver inspect GRAPH [--format text|json]: like TensorFlow's summarize_graph. GRAPH may be a
// SavedModel directory: its MetaGraphs' tags and signatures (like saved_model_cli show --all).
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/graphdef.h"
#include "runtime/saved_model.h"
#include "tools/cli/cli_model.h"
#include "tools/cli/cli_util.h"
#include "tools/cli/commands.h"

namespace quiver::cli {

int InspectMain(const std::vector<std::string>& argv) {
  const std::string cmd = "inspect";
  Args args;
  absl::Status parsed = ParseArgs(argv, {"format"}, {}, &args);
  if (!parsed.ok()) return Fail(cmd, kExitUsage, parsed);
  if (args.positional.size() != 1) return Fail(cmd, kExitUsage, "expected exactly one GRAPH file");
  std::string format = args.Get("format", "text");
  if (format != "text" && format != "json")
    return Fail(cmd, kExitUsage, "--format must be text or json");

  if (IsSavedModelDir(args.positional[0])) return InspectSavedModel(args.positional[0], format);
  auto graph = LoadGraph(args.positional[0]);
  if (!graph.ok()) return Fail(cmd, kExitBadGraph, graph.status());

  struct Io {
    std::string name, dtype, shape;
  };
  std::vector<Io> inputs, outputs;
  std::map<std::string, int> histogram;
  int64_t params = 0, param_bytes = 0, variables = 0;
  for (Node* n : (*graph)->nodes()) {
    histogram[n->op()]++;
    if (n->op() == "Placeholder" || n->op() == "PlaceholderWithDefault") {
      TensorShape shape = n->output_shape(0);
      if (auto s = n->GetAttr<TensorShape>("shape"); s.ok()) shape = *s;
      inputs.push_back({n->name(), DataTypeName(n->output_type(0)), shape.DebugString()});
    }
    if (n->op() == "Const") {
      auto v = n->GetAttr<Tensor>("value");
      // Scalars and tiny shape vectors are bookkeeping, not parameters.
      if (v.ok() && v->num_elements() > 1 && IsFloatingType(v->dtype())) {
        params += v->num_elements();
        param_bytes += static_cast<int64_t>(v->num_bytes());
      }
    }
    if (n->op() == "VariableV2" || n->op() == "Variable") {
      ++variables;
      if (auto s = n->GetAttr<TensorShape>("shape"); s.ok() && s->IsFullyDefined()) {
        params += s->num_elements();
        param_bytes += s->num_elements() * static_cast<int64_t>(DataTypeSize(n->output_type(0)));
      }
    }
    // Outputs: nodes with data outputs that nothing consumes.
    bool consumed = false;
    for (const Edge* e : n->out_edges()) consumed |= !e->IsControl();
    if (!consumed && n->num_outputs() > 0 && n->op() != "Const" && n->op() != "Placeholder") {
      for (int i = 0; i < n->num_outputs(); ++i) {
        outputs.push_back({absl::StrCat(n->name(), i ? absl::StrCat(":", i) : ""),
                           DataTypeName(n->output_type(i)), n->output_shape(i).DebugString()});
      }
    }
  }

  if (format == "text") {
    std::printf("graph: %s\nnodes: %d\n", args.positional[0].c_str(), (*graph)->num_nodes());
    std::printf("inputs (%zu):\n", inputs.size());
    for (const Io& io : inputs)
      std::printf("  %s  %s %s\n", io.name.c_str(), io.dtype.c_str(), io.shape.c_str());
    std::printf("outputs (%zu):\n", outputs.size());
    for (const Io& io : outputs)
      std::printf("  %s  %s %s\n", io.name.c_str(), io.dtype.c_str(), io.shape.c_str());
    std::printf(
        "parameters: %lld (%lld bytes)%s\n", static_cast<long long>(params),
        static_cast<long long>(param_bytes),
        variables ? absl::StrCat(" in ", variables, " variables and constants").c_str() : "");
    std::printf("ops (%zu kinds):\n", histogram.size());
    std::vector<std::pair<std::string, int>> ops(histogram.begin(), histogram.end());
    std::stable_sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second > b.second; });
    for (const auto& [op, count] : ops) std::printf("  %6d  %s\n", count, op.c_str());
    return kExitOk;
  }
  auto io_json = [](const std::vector<Io>& v) {
    return absl::StrJoin(v, ", ", [](std::string* out, const Io& io) {
      absl::StrAppend(out, "{\"name\": \"", JsonEscape(io.name), "\", \"dtype\": \"", io.dtype,
                      "\", \"shape\": \"", io.shape, "\"}");
    });
  };
  std::string ops = absl::StrJoin(histogram, ", ", [](std::string* out, const auto& kv) {
    absl::StrAppend(out, "\"", JsonEscape(kv.first), "\": ", kv.second);
  });
  std::printf(
      "{\"nodes\": %d, \"inputs\": [%s], \"outputs\": [%s], \"parameters\": %lld, "
      "\"parameter_bytes\": %lld, \"ops\": {%s}}\n",
      (*graph)->num_nodes(), io_json(inputs).c_str(), io_json(outputs).c_str(),
      static_cast<long long>(params), static_cast<long long>(param_bytes), ops.c_str());
  return kExitOk;
}

}  // namespace quiver::cli
