// What each libFuzzer target does with one input, shared by the fuzzers (fuzz_entry.cc) and
// by tests/tools/fuzz_regression_test.cc, which replays every input the fuzzers ever crashed
// on. Every input must end in a value or a clean error Status; `violation` is set when an
// invariant that must hold for every accepted input fails (the fuzzer then aborts).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "passes/channels_first_lowering.h"
#include "passes/pass_manager.h"

namespace quiver::fuzz {

struct Outcome {
  absl::Status status;    // the first error on the way, or OK when everything accepted it
  std::string violation;  // non-empty: a broken invariant (a bug even if nothing crashed)
};

// GraphDef bytes -> ParseGraphDef -> ImportGraphDef (with shape inference). An imported graph
// must export and import again with the same node count (the round trip `quiver optimize`
// relies on).
inline Outcome GraphDefImport(const std::string& bytes, GraphDefFormat format) {
  auto gd = ParseGraphDef(bytes, format);
  if (!gd.ok()) return {gd.status(), ""};
  Graph graph;
  if (absl::Status s = ImportGraphDef(*gd, &graph); !s.ok()) return {s, ""};
  tensorflow::GraphDef exported;
  ExportGraphDef(graph, &exported);
  Graph again;
  if (absl::Status s = ImportGraphDef(exported, &again); !s.ok()) {
    return {absl::OkStatus(),
            absl::StrCat("re-import of the exported graph failed: ", s.ToString())};
  }
  if (again.num_nodes() != graph.num_nodes()) {
    return {absl::OkStatus(), absl::StrCat("round trip changed the node count from ",
                                           graph.num_nodes(), " to ", again.num_nodes())};
  }
  return {absl::OkStatus(), ""};
}

// Byte 0 picks the pass context (bit 0: fetch the GraphDef's last node, otherwise every sink
// is preserved; bit 1: feed the first Placeholder); the rest is a GraphDef, binary or text.
// Import, the channels-first lowering, then the default pipeline (prune, constant folding, CSE,
// arithmetic simplification, fusion) with verification after each pass; a graph they accept
// must still verify.
inline Outcome ImportAndOptimize(const std::string& input) {
  if (input.empty()) return {absl::InvalidArgumentError("empty input"), ""};
  const auto mode = static_cast<uint8_t>(input[0]);
  auto gd = ParseGraphDef(input.substr(1), GraphDefFormat::kAuto);
  if (!gd.ok()) return {gd.status(), ""};
  Graph graph;
  if (absl::Status s = ImportGraphDef(*gd, &graph); !s.ok()) return {s, ""};
  PassContext ctx;
  if ((mode & 1) && gd->node_size() > 0) {
    ctx.fetches.push_back(gd->node(gd->node_size() - 1).name());
  }
  if (mode & 2) {
    for (const auto& node : gd->node()) {
      if (node.op() == "Placeholder") {
        ctx.feeds.push_back(node.name());
        break;
      }
    }
  }
  // As a Session and `quiver optimize` do: the mandatory NCHW lowering, then the pipeline.
  auto lowered = LowerChannelsFirst(&graph, ctx);
  if (!lowered.ok()) return {lowered.status(), ""};
  if (absl::Status s = VerifyGraph(&graph); !s.ok()) {
    return {absl::OkStatus(), absl::StrCat("graph invalid after lowering: ", s.ToString())};
  }
  PassManagerOptions options;
  options.verify = true;
  auto report = PassManager::Default(options).Run(&graph, ctx);
  if (!report.ok()) return {report.status(), ""};
  if (absl::Status s = VerifyGraph(&graph); !s.ok()) {
    return {absl::OkStatus(), absl::StrCat("graph invalid after the pipeline: ", s.ToString())};
  }
  return {absl::OkStatus(), ""};
}

// .npy bytes -> ParseNpy; a parsed tensor must serialize and parse back to the same dtype,
// shape and bytes.
inline Outcome NpyParse(const std::string& bytes) {
  auto t = ParseNpy(bytes);
  if (!t.ok()) return {t.status(), ""};
  auto back = ParseNpy(SerializeNpy(*t));
  if (!back.ok()) {
    return {absl::OkStatus(), absl::StrCat("re-parse failed: ", back.status().ToString())};
  }
  const bool same =
      back->dtype() == t->dtype() && back->shape() == t->shape() &&
      back->num_bytes() == t->num_bytes() &&
      (t->num_bytes() == 0 || std::memcmp(back->raw_data(), t->raw_data(), t->num_bytes()) == 0);
  if (!same) return {absl::OkStatus(), "npy round trip changed dtype, shape or bytes"};
  return {absl::OkStatus(), ""};
}

}  // namespace quiver::fuzz
