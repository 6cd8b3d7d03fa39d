// The model a CLI command runs: a GraphDef file, or a SavedModel directory (runtime/
// saved_model.h) whose signature `run` and `bench` serve and whose MetaGraphs `inspect` lists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/saved_model.h"
#include "tools/cli/cli_util.h"

namespace quiver::cli {

// Loads the SavedModel at args.positional[0] for `run` (--tags a,b; --signature NAME). --feed
// keys that are the signature's input keys become its tensors; without --fetch or --target
// every output of the signature is fetched, labelled by its key (`labels`). Explicit --fetch
// and --target names are kept in the loaded graph and labelled as given.
absl::StatusOr<std::unique_ptr<SavedModel>> LoadSavedModelForRun(const Args& args,
                                                                 const SessionOptions& options,
                                                                 std::vector<Session::Feed>* feeds,
                                                                 std::vector<std::string>* fetches,
                                                                 std::vector<std::string>* labels);

// What `run` and `bench` execute: the session, and the fetches with the names to print them
// under. A GraphDef file gets a new session with `options` and fetches --fetch as given; a
// SavedModel directory is loaded as LoadSavedModelForRun says.
struct OpenedModel {
  std::unique_ptr<SavedModel> saved_model;  // set for a SavedModel directory
  std::unique_ptr<Session> own_session;     // set for a GraphDef file
  Session* session = nullptr;
  std::vector<std::string> fetches, labels;
};
absl::StatusOr<OpenedModel> OpenModel(const Args& args, const SessionOptions& options,
                                      std::vector<Session::Feed>* feeds);
// The exit code for a failed OpenModel: a usage error (a bad --tags or --signature), else a
// bad graph.
int OpenModelExitCode(const absl::Status& status);

// The graph `place` and `optimize` analyse: a GraphDef file's, or a SavedModel directory's
// (--tags; pruned to its signatures and the --fetch/--target names, calls inlined).
absl::StatusOr<std::unique_ptr<Graph>> LoadGraphOrSavedModel(const Args& args);

// `inspect` of a SavedModel: prints each MetaGraph's tags, node count and signatures.
int InspectSavedModel(const std::string& dir, const std::string& format);

}  // namespace quiver::cli
