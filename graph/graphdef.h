// GraphDef import and export, with full validation on import.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "proto/graph.pb.h"

namespace quiver {

// Builds `graph` (which must be empty) from a GraphDef. Checks, each with an error naming the
// node: unknown ops (all listed in one message), duplicate or invalid node names, malformed
// input names, dangling inputs, control inputs before data inputs, input count vs signature,
// dtype mismatches between connected tensors, attrs of the wrong type or missing, tensor
// attrs whose bytes do not match dtype x shape, cycles; then runs shape inference.
absl::Status ImportGraphDef(const tensorflow::GraphDef& graph_def, Graph* graph);

// Writes the graph as a GraphDef (nodes in topological order; requested devices, attrs).
void ExportGraphDef(const Graph& graph, tensorflow::GraphDef* graph_def);

// How ParseGraphDef reads bytes: binary protobuf, text format, or binary and then text.
enum class GraphDefFormat { kBinary, kText, kAuto };

// Parses GraphDef bytes (kAuto: binary, or text when the binary parse fails or yields
// garbage and the text parse yields nodes or versions). Never crashes on malformed bytes;
// errors are InvalidArgument and name `source` (a file name, "input").
absl::StatusOr<tensorflow::GraphDef> ParseGraphDef(const std::string& bytes, GraphDefFormat format,
                                                   const std::string& source = "input");

// Reads a GraphDef from a file: binary protobuf, or text format when the name ends in
// ".pbtxt"/".pbtext"/".txt" (or the binary parse fails and the text parse succeeds).
absl::StatusOr<tensorflow::GraphDef> ReadGraphDefFile(const std::string& path);
// Writes binary (or text for .pbtxt) atomically: temp file, then rename.
absl::Status WriteGraphDefFile(const tensorflow::GraphDef& graph_def, const std::string& path);

// Convenience: read + import.
absl::StatusOr<std::unique_ptr<Graph>> LoadGraph(const std::string& path);

}  // namespace quiver
