// Reads checkpoints that TensorFlow's Saver wrote (the V2 "tensor bundle" format), so that a
// model trained in TensorFlow runs in Quiver with its trained weights:
//
//   auto session = quiver::Session::Create(graph_def);      // the same GraphDef TF ran
//   RETURN_IF_ERROR(quiver::RestoreTfCheckpoint(**session, "/ckpt/model.ckpt-1000"));
//
// A checkpoint PREFIX is PREFIX.index (a LevelDB-format table: key = tensor name, value = a
// BundleEntryProto saying dtype, shape, shard, offset, size and CRC-32C; the empty key holds
// the BundleHeaderProto) and the data shards PREFIX.data-0000K-of-0000N. Every block and
// tensor checksum is verified. Supported: numeric and bool tensors, one shard or several,
// little-endian bundles with uncompressed index blocks (what TF writes). Refused with an
// error: string tensors, partitioned (sliced) variables, compressed blocks, big-endian
// bundles. Every malformed file gives an error naming the file and what is wrong.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/tensor.h"
#include "runtime/session.h"

namespace quiver {

// Every tensor of the bundle, sorted by name (the header entry excluded).
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

// Restores from either format, for tools: PATH.index exists -> a TF bundle with prefix PATH
// (PATH may also name the .index file itself); otherwise PATH is a Quiver checkpoint file
// (runtime/checkpoint.h, starting with "QVRCKPT1"). Neither -> NotFound naming both.
absl::Status RestoreAnyCheckpoint(Session& session, const std::string& path);

}  // namespace quiver
