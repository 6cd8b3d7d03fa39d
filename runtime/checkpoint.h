// Checkpoints: save and restore every variable of a Session to one file.
//
// File layout: "QVRCKPT1" (8 bytes) | payload length (uint64 LE) | CRC-32 of the payload
// (uint32 LE) | payload (a serialized quiver.CheckpointProto). Writes are atomic: a temporary
// file in the same directory, fsync, rename over the target, fsync the directory. A crash
// mid-save leaves the previous checkpoint intact; a truncated or corrupted file is refused.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "runtime/session.h"

namespace quiver {

absl::Status SaveCheckpoint(Session& session, const std::string& path, int64_t global_step = 0);
// Restores all variables stored in the file; returns the saved global step.
absl::StatusOr<int64_t> RestoreCheckpoint(Session& session, const std::string& path);

}  // namespace quiver
