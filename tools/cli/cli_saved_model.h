// SavedModel directories in the CLI: `quiver run DIR` serves a signature, `quiver inspect DIR`
// lists the MetaGraphs and signatures (runtime/saved_model.h).
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

// `inspect` of a SavedModel: prints each MetaGraph's tags, node count and signatures.
int InspectSavedModel(const std::string& dir, const std::string& format);

}  // namespace quiver::cli
