// Writing a file so that a crash or a full disk never leaves a half-written file under its
// name: the bytes go to a temporary file in the same directory, which is flushed to disk and
// then renamed over the target (and the directory entry flushed too).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace quiver {

// On failure the previous file at `path`, if any, is untouched and the temporary is removed.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace quiver
