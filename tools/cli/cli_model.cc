#include "tools/cli/cli_model.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/graphdef.h"
#include "graph/status_macros.h"
#include "tools/cli/commands.h"

namespace quiver::cli {
namespace {

// --signature, else serving_default (TF Serving's default), else the only one.
absl::StatusOr<const Signature*> ChooseSignature(const SavedModel& model, const Args& args) {
  if (args.Has("signature")) return model.FindSignature(args.Get("signature"));
  const auto& sigs = model.signatures();
  for (const Signature& s : sigs) {
    if (s.name == "serving_default") return &s;
  }
  if (sigs.size() == 1) return &sigs[0];
  std::vector<std::string> names;
  for (const Signature& s : sigs) names.push_back(s.name);
  return absl::InvalidArgumentError(absl::StrCat(
      "choose one (this MetaGraph has: ", names.empty() ? "none" : absl::StrJoin(names, ", "),
      ")"));
}

std::string TensorLine(const SignatureTensor& t) {
  return absl::StrFormat("%s: %s %s %s", t.key, t.tensor, DataTypeName(t.dtype),
                         t.shape.DebugString());
}

// --tags (default serve) and the --fetch/--target names as what the loaded graph keeps.
SavedModelOptions SavedModelOptionsFrom(const Args& args) {
  SavedModelOptions load;
  if (args.Has("tags")) {
    load.tags.clear();
    for (const auto& t : absl::StrSplit(args.Get("tags"), ',', absl::SkipEmpty())) {
      load.tags.insert(std::string(t));
    }
  }
  for (const std::string& name : args.All("fetch")) load.keep.push_back(name);
  for (const std::string& name : args.All("target")) load.keep.push_back(name);
  return load;
}

// A tag set the model does not have is the caller's choice to fix, like a bad flag.
absl::Status TagsAsUsage(const absl::Status& s) {
  if (absl::StrContains(s.message(), "no MetaGraph tagged")) {
    return absl::InvalidArgumentError(absl::StrCat("--tags: ", s.message()));
  }
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Graph>> LoadGraphOrSavedModel(const Args& args) {
  if (!IsSavedModelDir(args.positional[0])) {
    if (args.Has("tags")) {
      return absl::InvalidArgumentError("--tags needs a SavedModel directory");
    }
    return LoadGraph(args.positional[0]);
  }
  auto graph = LoadSavedModelGraph(args.positional[0], SavedModelOptionsFrom(args));
  if (!graph.ok()) return TagsAsUsage(graph.status());
  return graph;
}

absl::StatusOr<std::unique_ptr<SavedModel>> LoadSavedModelForRun(const Args& args,
                                                                 const SessionOptions& options,
                                                                 std::vector<Session::Feed>* feeds,
                                                                 std::vector<std::string>* fetches,
                                                                 std::vector<std::string>* labels) {
  SavedModelOptions load = SavedModelOptionsFrom(args);
  load.session = options;
  const bool explicit_run = !args.All("fetch").empty() || !args.All("target").empty();
  auto model = LoadSavedModel(args.positional[0], load);
  if (!model.ok()) return TagsAsUsage(model.status());
  const Signature* sig = nullptr;
  if (!explicit_run || args.Has("signature")) {
    auto chosen = ChooseSignature(**model, args);
    if (!chosen.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--signature: ", chosen.status().message()));
    }
    sig = *chosen;
  }
  if (sig != nullptr) {
    for (auto& feed : *feeds) {
      std::string& name = feed.first;
      auto it = std::find_if(sig->inputs.begin(), sig->inputs.end(),
                             [&](const SignatureTensor& t) { return t.key == name; });
      if (it != sig->inputs.end()) name = it->tensor;
    }
  }
  *fetches = args.All("fetch");
  *labels = *fetches;
  if (!explicit_run) {
    for (const SignatureTensor& t : sig->outputs) {
      fetches->push_back(t.tensor);
      labels->push_back(t.key);
    }
  }
  return *std::move(model);
}

absl::StatusOr<OpenedModel> OpenModel(const Args& args, const SessionOptions& options,
                                      std::vector<Session::Feed>* feeds) {
  OpenedModel m;
  if (IsSavedModelDir(args.positional[0])) {
    ASSIGN_OR_RETURN(m.saved_model,
                     LoadSavedModelForRun(args, options, feeds, &m.fetches, &m.labels));
    m.session = &m.saved_model->session();
    return m;
  }
  if (args.All("fetch").empty() && args.All("target").empty()) {
    return absl::InvalidArgumentError("nothing to run: give --fetch NAME (or --target NODE)");
  }
  if (args.Has("tags") || args.Has("signature")) {
    return absl::InvalidArgumentError("--tags and --signature need a SavedModel directory");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Graph> graph, LoadGraph(args.positional[0]));
  ASSIGN_OR_RETURN(m.own_session, Session::Create(*graph, options));
  m.session = m.own_session.get();
  m.fetches = m.labels = args.All("fetch");
  return m;
}

int OpenModelExitCode(const absl::Status& status) {
  const std::string m(status.message());
  for (const char* usage : {"--signature", "--tags", "nothing to run"}) {
    if (absl::StartsWith(m, usage)) return kExitUsage;
  }
  return kExitBadGraph;
}

int InspectSavedModel(const std::string& dir, const std::string& format) {
  auto summary = ReadSavedModelSummary(dir);
  if (!summary.ok()) return Fail("inspect", kExitBadGraph, summary.status());
  if (format == "json") {
    std::string json = "{\"saved_model\": [";
    for (size_t m = 0; m < summary->size(); ++m) {
      const MetaGraphSummary& s = (*summary)[m];
      std::vector<std::string> tags, sigs;
      for (const std::string& t : s.tags) tags.push_back(absl::StrCat("\"", JsonEscape(t), "\""));
      for (const Signature& sig : s.signatures) {
        auto list = [](const std::vector<SignatureTensor>& v) {
          std::vector<std::string> items;
          for (const SignatureTensor& t : v) {
            items.push_back(absl::StrFormat(
                "{\"key\": \"%s\", \"tensor\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\"}",
                JsonEscape(t.key), JsonEscape(t.tensor), DataTypeName(t.dtype),
                t.shape.DebugString()));
          }
          return absl::StrJoin(items, ", ");
        };
        sigs.push_back(absl::StrFormat(
            "{\"name\": \"%s\", \"method\": \"%s\", \"inputs\": [%s], \"outputs\": [%s]}",
            JsonEscape(sig.name), JsonEscape(sig.method_name), list(sig.inputs),
            list(sig.outputs)));
      }
      absl::StrAppend(&json, m ? ", " : "", "{\"tags\": [", absl::StrJoin(tags, ", "),
                      "], \"nodes\": ", s.num_nodes, ", \"signatures\": [",
                      absl::StrJoin(sigs, ", "), "]}");
    }
    std::printf("%s]}\n", json.c_str());
    return kExitOk;
  }
  std::printf("SavedModel %s: %zu MetaGraph(s)\n", dir.c_str(), summary->size());
  for (const MetaGraphSummary& s : *summary) {
    std::printf("\ntags {%s}: %d nodes\n", absl::StrJoin(s.tags, ", ").c_str(), s.num_nodes);
    for (const Signature& sig : s.signatures) {
      std::printf("  signature %s (%s)\n", sig.name.c_str(), sig.method_name.c_str());
      for (const SignatureTensor& t : sig.inputs) {
        std::printf("    input  %s\n", TensorLine(t).c_str());
      }
      for (const SignatureTensor& t : sig.outputs) {
        std::printf("    output %s\n", TensorLine(t).c_str());
      }
    }
  }
  return kExitOk;
}

}  // namespace quiver::cli
