// PassManager: levels, disabling, dumps, the report, and the end-to-end check that every
// TensorFlow fixture computes the same results before and after the default pipeline.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "graph/builder.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "passes/pass_manager.h"
#include "runtime/session.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

// x*1 feeding a chain of constants and a duplicate: every pass has something to do.
void BuildSample(Graph* graph) {
  GraphBuilder b(graph);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto c = b.Op("AddV2", {b.Scalar(1.0, DT_FLOAT, "c1"), b.Scalar(2.0, DT_FLOAT, "c2")}, {}, "c");
  auto a1 = b.Op("Mul", {x, c}, {}, "a1");
  auto a2 = b.Op("Mul", {x, c}, {}, "a2");
  auto one = b.Op("Mul", {a1, b.Scalar(1.0, DT_FLOAT, "one")}, {}, "times_one");
  b.Op("AddV2", {one, a2}, {}, "y");
  Tanh(x, "dead");
  REQUIRE(b.status().ok());
}

PassContext SampleContext() {
  PassContext ctx;
  ctx.fetches = {"y"};
  return ctx;
}

TEST_CASE("the default pipeline runs its passes in order and reports them", "[passes]") {
  Graph graph;
  BuildSample(&graph);
  REQUIRE(graph.num_nodes() == 10);
  PassManagerOptions options;
  options.verify = true;
  auto report = PassManager::Default(options).Run(&graph, SampleContext());
  REQUIRE(report.ok());
  REQUIRE(report->passes.size() == 10);
  std::vector<std::string> names;
  for (const auto& e : report->passes) names.push_back(e.pass);
  CHECK(names == PassManager::DefaultPassNames());
  CHECK(report->passes[0].stats.nodes_removed == 1);  // dead
  CHECK(report->passes[1].stats.nodes_removed == 0);  // no control edges here
  CHECK(report->passes[2].stats.nodes_changed == 1);  // c folded (c1, c2 removed)
  CHECK(report->passes[3].stats.nodes_removed == 1);  // a2 merged into a1
  CHECK(report->passes[4].stats.nodes_removed == 2);  // times_one and its constant
  // x, c, a1, y; a1 = Mul(x, c), y = AddV2(a1, a1); then a1 and y become one
  // _FusedElementwise y = ["Mul i0 i1", "Add r0 r0"] over x and c.
  CHECK(report->passes[7].pass == "elementwise_fusion");
  CHECK(report->passes[7].stats.nodes_removed == 2);
  CHECK(report->passes[7].stats.nodes_added == 1);
  CHECK(report->nodes_before == 10);
  CHECK(report->nodes_after == 3);
  CHECK(graph.num_nodes() == 3);
  CHECK(graph.FindNode("y")->op() == "_FusedElementwise");
  const std::string text = report->ToString();
  CHECK(text.find("constant_folding") != std::string::npos);
  CHECK(text.find("nodes: 10 -> 3") != std::string::npos);
}

TEST_CASE("level 0 and disabled passes leave the graph alone", "[passes]") {
  {
    Graph graph;
    BuildSample(&graph);
    PassManagerOptions options;
    options.level = 0;
    auto report = PassManager::Default(options).Run(&graph, SampleContext());
    REQUIRE(report.ok());
    CHECK(graph.num_nodes() == 10);
    for (const auto& e : report->passes) CHECK_FALSE(e.ran);
  }
  {
    Graph graph;
    BuildSample(&graph);
    PassManagerOptions options;
    options.disabled = {"prune", "cse", "elementwise_fusion"};
    auto report = PassManager::Default(options).Run(&graph, SampleContext());
    REQUIRE(report.ok());
    CHECK(graph.FindNode("dead") != nullptr);
    CHECK(graph.FindNode("a2") != nullptr);
    CHECK(graph.FindNode("times_one") == nullptr);
  }
  {
    Graph graph;
    BuildSample(&graph);
    PassManagerOptions options;
    options.disabled = {"no_such_pass"};
    auto report = PassManager::Default(options).Run(&graph, SampleContext());
    CHECK(report.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(graph.num_nodes() == 10);
  }
  {
    Graph graph;
    BuildSample(&graph);
    PassContext ctx;
    ctx.fetches = {"no_such_node"};
    auto report = PassManager::Default().Run(&graph, ctx);
    CHECK(report.status().code() == absl::StatusCode::kNotFound);
  }
}

TEST_CASE("dump_after writes the graph after that pass", "[passes]") {
  Graph graph;
  BuildSample(&graph);
  const fs::path dir = fs::temp_directory_path() / "quiver_pass_manager_test_dump";
  fs::remove_all(dir);
  PassManagerOptions options;
  options.dump_after = "constant_folding";
  options.dump_dir = dir.string();
  auto report = PassManager::Default(options).Run(&graph, SampleContext());
  REQUIRE(report.ok());
  CHECK(report->dump_path == (dir / "constant_folding.pbtxt").string());
  auto def = ReadGraphDefFile(report->dump_path);
  REQUIRE(def.ok());
  CHECK(def->node_size() == report->passes[2].nodes_after);  // constant_folding
  fs::remove_all(dir);
}

std::vector<fs::path> FixtureDirs() {
  std::vector<fs::path> out;
  const fs::path root = fs::path(QUIVER_TEST_DATA_DIR) / "tf";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.is_directory() && fs::exists(e.path() / "manifest.txt")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<Tensor>> RunGraph(const Graph& graph, const fixture::Manifest& m,
                                             const fs::path& dir) {
  auto feeds = fixture::ReadFeeds(m, dir);
  if (!feeds.ok()) return feeds.status();
  // Optimizer off: each graph runs as given (Session optimizes by default).
  SessionOptions options;
  options.optimizer.level = 0;
  auto session = Session::Create(graph, options);
  if (!session.ok()) return session.status();
  return (*session)->Run(*feeds, fixture::FetchNames(m));
}

TEST_CASE("optimized TF fixtures compute what the originals compute", "[passes]") {
  const std::vector<fs::path> dirs = FixtureDirs();
  REQUIRE(!dirs.empty());
  for (const fs::path& dir : dirs) {
    SECTION(dir.filename().string()) {
      auto m = fixture::ParseManifest((dir / "manifest.txt").string());
      REQUIRE(m.ok());
      auto original = LoadGraph(fixture::GraphFile(dir).string());
      INFO(original.status().ToString());
      REQUIRE(original.ok());
      Graph optimized;
      REQUIRE(optimized.CopyFrom(**original).ok());
      PassContext ctx;
      for (const auto& f : m->fetches) ctx.fetches.push_back(f.first);
      for (const auto& f : m->feeds) ctx.feeds.push_back(f.first);
      PassManagerOptions options;
      options.verify = true;
      auto report = PassManager::Default(options).Run(&optimized, ctx);
      REQUIRE(report.ok());
      INFO(report->ToString());
      CHECK(optimized.num_nodes() <= (*original)->num_nodes());

      auto expected = RunGraph(**original, *m, dir);
      REQUIRE(expected.ok());
      auto actual = RunGraph(optimized, *m, dir);
      REQUIRE(actual.ok());
      REQUIRE(actual->size() == expected->size());
      for (size_t i = 0; i < actual->size(); ++i) {
        fixture::Comparison c = fixture::CompareTensors((*actual)[i], (*expected)[i], 1e-5, 1e-6);
        INFO(m->fetches[i].first << ": " << c.message);
        CHECK(c.ok);
        // And against TensorFlow's own result for the fixture.
        auto tf_result = ReadNpyFile((dir / m->fetches[i].second).string());
        REQUIRE(tf_result.ok());
        fixture::Comparison t = fixture::CompareTensors((*actual)[i], *tf_result, m->rtol, m->atol);
        INFO(m->fetches[i].first << " vs TensorFlow: " << t.message);
        CHECK(t.ok);
      }
    }
  }
}

}  // namespace
}  // namespace quiver
