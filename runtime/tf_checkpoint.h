// Reads and writes checkpoints in TensorFlow's Saver format (the V2 "tensor bundle"), so that a
// model trained in TensorFlow runs in Quiver with its trained weights, and a model trained in
// Quiver goes back to TensorFlow (tf.compat.v1.train.Saver().restore, tf.train.load_checkpoint):
//
//   auto session = quiver::Session::Create(graph_def);      // the same GraphDef TF ran
//   RETURN_IF_ERROR(quiver::RestoreTfCheckpoint(**session, "/ckpt/model.ckpt-1000"));
//   ... train ...
//   RETURN_IF_ERROR(quiver::SaveTfCheckpoint(**session, "/ckpt/model.ckpt-2000"));
//
// A checkpoint PREFIX is PREFIX.index (a LevelDB-format table: key = tensor name, value = a
// BundleEntryProto saying dtype, shape, shard, offset, size and CRC-32C; the empty key holds
// the BundleHeaderProto) and the data shards PREFIX.data-0000K-of-0000N. Every block and
// tensor checksum is verified. Supported: numeric and bool tensors, one shard or several,
// little-endian bundles with uncompressed index blocks (what TF writes). Refused with an
// error: string tensors, partitioned (sliced) variables, compressed blocks, big-endian
// bundles. Every malformed file gives an error naming the file and what is wrong.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/tensor.h"
#include "runtime/session.h"

namespace quiver {

// Every tensor of the bundle, sorted by name (the header entry and TF2's object-graph
// metadata "_CHECKPOINTABLE_OBJECT_GRAPH" excluded).
absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> ReadTfCheckpoint(
    const std::string& prefix);

// Restores every variable (VariableV2, or a TF2 resource variable lowered to one) of the
// session's graph from the bundle, in one AssignVariables call: nothing is written unless all
// are found and match. A variable is looked up under its shared_name when set (the key TF
// uses for resource variables), else under its node name (ref variables). A graph variable
// with no entry is NotFound ("Key W not found in checkpoint ...", as TF says); an entry whose
// dtype or shape differs from the variable's is InvalidArgument. Entries that no variable
// asks for are ignored, as TF's Saver(var_list) ignores them: an inference graph restores
// from a training checkpoint that also holds optimizer slots and a global step. Only the
// entries restored are read from the data shards (and CRC-checked).
absl::Status RestoreTfCheckpoint(Session& session, const std::string& prefix);
// The same, with the checkpoint key of some variables given by node name: TF2 checkpoints key
// variables by object path ("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"), which a SavedModel's
// restore function maps to its variables (runtime/saved_model.h). Variables not in the map
// are looked up as above.
absl::Status RestoreTfCheckpoint(Session& session, const std::string& prefix,
                                 const std::map<std::string, std::string>& key_by_variable);

// Restores from either format, for tools: PATH.index exists -> a TF bundle with prefix PATH
// (PATH may also name the .index file itself); otherwise PATH is a Quiver checkpoint file
// (runtime/checkpoint.h, starting with "QVRCKPT1"). Neither -> NotFound naming both.
absl::Status RestoreAnyCheckpoint(Session& session, const std::string& path);

struct TfCheckpointWriteOptions {
  // Index data blocks are cut at this size, as TF's table builder cuts them (256 KiB).
  size_t index_block_bytes = 256 * 1024;
  // Also record the prefix in the directory's `checkpoint` file (TF's CheckpointState, which
  // tf.train.latest_checkpoint reads), keeping the earlier prefixes it lists.
  bool update_checkpoint_state = true;
};

// Writes `tensors` as PREFIX.index and PREFIX.data-00000-of-00001, byte for byte as TF's
// BundleWriter writes the same tensors. Each file is replaced atomically (data first, then
// the index). Refused: an empty or repeated name, an invalid tensor, a string tensor.
absl::Status WriteTfCheckpoint(const std::string& prefix,
                               const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const TfCheckpointWriteOptions& options = {});

// Saves every variable of the session's graph under the key TF's Saver uses (shared_name
// when set, else the node name), so that RestoreTfCheckpoint or TF restores it into the same
// graph. A variable not initialized yet is FailedPrecondition, as in TF.
absl::Status SaveTfCheckpoint(Session& session, const std::string& prefix,
                              const TfCheckpointWriteOptions& options = {});

}  // namespace quiver
