// Loads TF1-style SavedModels: the directory tf.compat.v1.saved_model.Builder (or simple_save)
// writes and TF Serving serves. saved_model.pb holds MetaGraphs (a GraphDef with tags and
// SignatureDefs); variables/variables.{index,data-*} is a Saver checkpoint.
//
//   auto model = quiver::LoadSavedModel("/models/mnist/1");            // tags {"serve"}
//   auto out = model->Run("serving_default", {{"x", images}});          // by signature keys
//   // out: {"class", Tensor}, {"probs", Tensor}, sorted by key
//
// Loading picks the MetaGraph whose tag set equals the one asked for (as TF's loader does),
// keeps only the nodes the signatures' outputs (and SavedModelOptions::keep) need, which
// drops the save/restore subgraph, builds a Session and restores every variable from the
// checkpoint. TF2 SavedModels (tf.saved_model.save: functions called through
// StatefulPartitionedCall) are refused with an error saying so; export those with
// tf.compat.v1 or freeze them into a GraphDef.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/tensor.h"
#include "runtime/session.h"

namespace quiver {

// One input or output of a signature: the key callers use and the graph tensor behind it.
struct SignatureTensor {
  std::string key;     // "x"
  std::string tensor;  // "x:0"
  DataType dtype = DT_INVALID;
  TensorShape shape = TensorShape::UnknownRank();
};

struct Signature {
  std::string name;                              // "serving_default"
  std::string method_name;                       // "tensorflow/serving/predict"
  std::vector<SignatureTensor> inputs, outputs;  // sorted by key
};

struct SavedModelOptions {
  std::set<std::string> tags = {"serve"};
  SessionOptions session;
  // Tensors or nodes to keep besides the signatures' outputs (what a caller will fetch or
  // target by name); a model without signatures needs them.
  std::vector<std::string> keep;
};

class SavedModel {
 public:
  Session& session() { return *session_; }
  const std::set<std::string>& tags() const { return tags_; }
  const std::vector<Signature>& signatures() const { return signatures_; }
  // The signature with this name, or NotFound listing the names there are.
  absl::StatusOr<const Signature*> FindSignature(const std::string& name) const;

  // Runs a signature: every input by key (an unknown or missing key is InvalidArgument naming
  // the keys), returns every output by key, sorted.
  absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> Run(
      const std::string& signature, const std::vector<std::pair<std::string, Tensor>>& inputs);

 private:
  friend absl::StatusOr<std::unique_ptr<SavedModel>> LoadSavedModel(const std::string&,
                                                                    const SavedModelOptions&);
  std::unique_ptr<Session> session_;
  std::set<std::string> tags_;
  std::vector<Signature> signatures_;
};

// Whether `path` is a directory holding saved_model.pb or saved_model.pbtxt.
bool IsSavedModelDir(const std::string& path);

absl::StatusOr<std::unique_ptr<SavedModel>> LoadSavedModel(const std::string& export_dir,
                                                           const SavedModelOptions& options = {});

// The graph LoadSavedModel would run (MetaGraph chosen by tags, pruned to the signatures and
// `keep`, function calls inlined), without a session or variable values: what `quiver place`
// and `quiver optimize` analyse. options.session is not used.
absl::StatusOr<std::unique_ptr<Graph>> LoadSavedModelGraph(const std::string& export_dir,
                                                           const SavedModelOptions& options = {});

// What `quiver inspect` shows of a SavedModel without loading it: each MetaGraph's tags and
// signatures (TF's `saved_model_cli show --all`).
struct MetaGraphSummary {
  std::set<std::string> tags;
  int num_nodes = 0;
  std::vector<Signature> signatures;
};
absl::StatusOr<std::vector<MetaGraphSummary>> ReadSavedModelSummary(const std::string& export_dir);

}  // namespace quiver
