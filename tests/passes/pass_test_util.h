// Helpers the pass tests share: run one pass and verify the graph, count ops, find a note,
// and run a graph through a Session with the optimizer off (the unoptimized baseline).
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "graph/graph.h"
#include "passes/pass_manager.h"
#include "runtime/session.h"
#include "tests/devices/nn_test_util.h"

namespace quiver::pass_test {

template <typename Pass>
PassStats RunPassAndVerify(Graph* graph, const PassContext& ctx) {
  Pass pass;
  auto stats = pass.Run(graph, ctx);
  REQUIRE(stats.ok());
  REQUIRE(VerifyGraph(graph).ok());
  return *stats;
}

inline int CountOp(const Graph& graph, const std::string& op) {
  int n = 0;
  for (Node* node : graph.nodes()) n += node->op() == op;
  return n;
}

inline bool HasNote(const PassStats& stats, const std::string& text) {
  for (const std::string& n : stats.notes) {
    if (n.find(text) != std::string::npos) return true;
  }
  return false;
}

// Fetches one float tensor as doubles, optimizer off: the graph runs exactly as given.
inline std::vector<double> RunGraph(const Graph& graph, const std::vector<Session::Feed>& feeds,
                                    const std::string& fetch) {
  SessionOptions options;
  options.optimizer.level = 0;
  auto session = Session::Create(graph, options);
  REQUIRE(session.ok());
  auto out = (*session)->Run(feeds, {fetch});
  REQUIRE(out.ok());
  return nn_test::ToDoubles<float>((*out)[0]);
}

}  // namespace quiver::pass_test
