// JSON string escaping, shared by the placement report and the CLI's JSON outputs.
#pragma once

#include <string>

namespace quiver {

// `s` as the body of a JSON string (no surrounding quotes): '"', '\\' and control characters
// escaped; other bytes, UTF-8 included, pass through.
std::string JsonEscape(const std::string& s);

}  // namespace quiver
