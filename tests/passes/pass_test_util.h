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

// The tensor helpers every pass test uses too: `using namespace pass_test;` brings them along.
using nn_test::MakeTensor;
using nn_test::MaxError;
using nn_test::RandomValues;
using nn_test::ToDoubles;

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

// Fetches float tensors as doubles, optimizer off: the graph runs exactly as given (the
// unoptimized baseline stays unfused).
inline std::vector<std::vector<double>> RunGraphFetches(const Graph& graph,
                                                        const std::vector<Session::Feed>& feeds,
                                                        const std::vector<std::string>& fetches) {
  SessionOptions options;
  options.optimizer.level = 0;
  auto session = Session::Create(graph, options);
  REQUIRE(session.ok());
  auto out = (*session)->Run(feeds, fetches);
  REQUIRE(out.ok());
  std::vector<std::vector<double>> r;
  for (const Tensor& t : *out) r.push_back(ToDoubles<float>(t));
  return r;
}

// The same for one fetch.
inline std::vector<double> RunGraph(const Graph& graph, const std::vector<Session::Feed>& feeds,
                                    const std::string& fetch) {
  return RunGraphFetches(graph, feeds, {fetch})[0];
}

}  // namespace quiver::pass_test
