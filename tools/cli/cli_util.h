// Shared pieces of the quiver CLI: flag parsing, error reporting, JSON escaping.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph/json_escape.h"
#include "graph/tensor_shape.h"  // JsonEscape, for the commands' JSON output

namespace quiver::cli {

// Parsed "--flag value" / "--flag=value" arguments plus positionals. Repeated flags collect.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;
  bool Has(const std::string& f) const { return flags.count(f) > 0; }
  std::string Get(const std::string& f, const std::string& fallback = "") const {
    auto it = flags.find(f);
    return it == flags.end() || it->second.empty() ? fallback : it->second.back();
  }
  const std::vector<std::string>& All(const std::string& f) const;
};

// `value_flags` take a value; `bool_flags` do not. Unknown flags are an error.
absl::Status ParseArgs(const std::vector<std::string>& argv,
                       const std::vector<std::string>& value_flags,
                       const std::vector<std::string>& bool_flags, Args* out);

// Prints "quiver <command>: <message>" on one line to stderr and returns `code`.
int Fail(const std::string& command, int code, const std::string& message);
int Fail(const std::string& command, int code, const absl::Status& status);
// The exit code for a failed Run: a resource limit (7), a timeout or cancellation (8), else
// `otherwise`.
int RunFailureExitCode(const absl::Status& status, int otherwise);

// A --feed spec of `place` and `optimize`: "x=100x784" -> (x, [100, 784]); "keep_prob=" or
// "keep_prob=scalar" -> a scalar; "x" -> no shape (the declared one).
absl::Status ParseFeedSpec(const std::string& spec, std::string* name,
                           std::optional<TensorShape>* shape);

// The --disable PASS values of `args`, each checked against the default pipeline's pass
// names: "unknown pass 'x' (passes: prune, ...)".
absl::Status ParseDisabledPasses(const Args& args, std::vector<std::string>* passes);

// "dense/BiasAdd:0" -> "dense_BiasAdd_0": a file name for a tensor.
std::string TensorFileName(const std::string& tensor_name);

}  // namespace quiver::cli
