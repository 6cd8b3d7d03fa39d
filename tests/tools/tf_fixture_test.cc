// Runs graphs generated and frozen by TensorFlow (tests/data/tf, written by
// tools/fixtures/make_tf_fixtures.py) and third-party frozen graphs (../shared/data/realworld,
// with TensorFlow's outputs in tests/data/realworld_expected, written by
// tools/fixtures/make_realworld_expected.py), and compares Quiver's results with TensorFlow's.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "graph/op_registry.h"
#include "runtime/session.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;
using fixture::Manifest;

std::vector<fs::path> SortedEntries(const fs::path& dir, bool want_dirs) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory() == want_dirs) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string StatusText(const absl::Status& s) { return s.ToString(); }

// Reads the feeds of a manifest; failures are reported and yield false.
bool LoadFeeds(const Manifest& m, const fs::path& dir, std::vector<Session::Feed>* feeds) {
  auto read = fixture::ReadFeeds(m, dir);
  if (!read.ok()) {
    FAIL_CHECK(read.status().message());
    return false;
  }
  *feeds = *std::move(read);
  return true;
}

// Runs `graph` with the manifest's feeds and fetches and compares each fetched tensor with its
// expected .npy. Fills `outputs` when the run succeeded.
void RunAndCompare(const std::string& label, const Graph& graph, const Manifest& m,
                   const fs::path& dir, std::vector<Tensor>* outputs) {
  std::vector<Session::Feed> feeds;
  if (!LoadFeeds(m, dir, &feeds)) return;
  const std::vector<std::string> fetch_names = fixture::FetchNames(m);

  auto session = Session::Create(graph);
  if (!session.ok()) {
    FAIL_CHECK(label << ": Session::Create failed: " << StatusText(session.status()));
    return;
  }
  auto result = (*session)->Run(feeds, fetch_names);
  if (!result.ok()) {
    FAIL_CHECK(label << ": Session::Run failed: " << StatusText(result.status()));
    return;
  }
  if (result->size() != m.fetches.size()) {
    FAIL_CHECK(label << ": Run returned " << result->size() << " tensors for " << m.fetches.size()
                     << " fetches");
    return;
  }
  for (size_t i = 0; i < m.fetches.size(); ++i) {
    const auto& [name, file] = m.fetches[i];
    auto expected = ReadNpyFile((dir / file).string());
    if (!expected.ok()) {
      FAIL_CHECK(label << " fetch " << name << ": cannot read expected " << (dir / file).string()
                       << ": " << StatusText(expected.status()));
      continue;
    }
    const Tensor& actual = (*result)[i];
    if (!actual.valid()) {
      FAIL_CHECK(label << " fetch " << name << ": Run returned an empty tensor");
      continue;
    }
    fixture::Comparison c = fixture::CompareTensors(actual, *expected, m.rtol, m.atol);
    if (c.ok) {
      SUCCEED(label << " fetch " << name << " matches (max |diff| " << c.max_abs_diff << ")");
    } else {
      FAIL_CHECK(label << " fetch " << name << ": " << c.message);
    }
  }
  *outputs = *std::move(result);
}

TEST_CASE("TensorFlow-generated fixtures give TensorFlow's results", "[tf_fixtures]") {
  const fs::path root = fs::path(QUIVER_TEST_DATA_DIR) / "tf";
  const std::vector<fs::path> cases = SortedEntries(root, /*want_dirs=*/true);
  REQUIRE(cases.size() >= 10);

  for (const fs::path& dir : cases) {
    const std::string name = dir.filename().string();
    DYNAMIC_SECTION("case " << name) {
      auto manifest = fixture::ParseManifest((dir / "manifest.txt").string());
      REQUIRE(manifest.ok());
      const fs::path graph_path = fixture::GraphFile(dir);
      REQUIRE(fs::exists(graph_path));

      auto graph = LoadGraph(graph_path.string());
      if (!graph.ok()) {
        FAIL("case " << name << ": LoadGraph(" << graph_path.string()
                     << ") failed: " << StatusText(graph.status()));
      }
      std::vector<Tensor> outputs;
      RunAndCompare("case " + name, **graph, *manifest, dir, &outputs);
    }
  }
}

// ---- real-world graphs ------------------------------------------------------------------------

std::set<std::string> MissingOps(const tensorflow::GraphDef& graph_def) {
  std::set<std::string> missing;
  for (const auto& node : graph_def.node()) {
    if (OpRegistry::Global().Find(node.op()) == nullptr) missing.insert(node.op());
  }
  return missing;
}

std::string Join(const std::set<std::string>& items) {
  std::string s;
  for (const auto& i : items) {
    if (!s.empty()) s += ", ";
    s += i;
  }
  return s;
}

// TF-style pruning for a graph whose front end Quiver cannot import: keeps what the fetches
// need, stops at fed tensors, and turns each fed node into a Placeholder of the fed value's
// dtype and shape (feeds must name output 0 of their node).
absl::StatusOr<tensorflow::GraphDef> CutAtFeeds(const tensorflow::GraphDef& graph_def,
                                                const std::vector<Session::Feed>& feeds,
                                                const std::vector<std::string>& fetches) {
  std::map<std::string, const tensorflow::NodeDef*> by_name;
  for (const auto& node : graph_def.node()) by_name[node.name()] = &node;
  std::map<std::string, const Tensor*> fed;
  for (const auto& [name, value] : feeds) {
    auto id = ParseTensorName(name);
    if (!id.ok()) return id.status();
    if (id->index != 0) return absl::UnimplementedError("can only cut at output 0: " + name);
    fed[id->node] = &value;
  }
  std::set<std::string> keep;
  std::vector<std::string> stack;
  for (const auto& f : fetches) {
    auto id = ParseTensorName(f);
    if (!id.ok()) return id.status();
    stack.push_back(id->node);
  }
  while (!stack.empty()) {
    std::string name = stack.back();
    stack.pop_back();
    if (!keep.insert(name).second) continue;
    auto it = by_name.find(name);
    if (it == by_name.end()) return absl::NotFoundError("no node named " + name);
    if (fed.count(name)) continue;
    for (const auto& input : it->second->input()) {
      auto id = ParseTensorName(input);
      if (!id.ok()) return id.status();
      stack.push_back(id->node);
    }
  }
  tensorflow::GraphDef out = graph_def;
  out.clear_node();
  for (const auto& node : graph_def.node()) {
    if (!keep.count(node.name())) continue;
    auto f = fed.find(node.name());
    if (f == fed.end()) {
      *out.add_node() = node;
      continue;
    }
    tensorflow::NodeDef* ph = out.add_node();
    ph->set_name(node.name());
    ph->set_op("Placeholder");
    (*ph->mutable_attr())["dtype"].set_type(static_cast<tensorflow::DataType>(f->second->dtype()));
    auto* shape = (*ph->mutable_attr())["shape"].mutable_shape();
    for (int64_t d : f->second->shape().dims()) shape->add_dim()->set_size(d);
  }
  return out;
}

// LoadGraph must succeed when every op is registered, and otherwise fail with a message that
// names each missing op.
void CheckLoadVersusRegistry(const fs::path& graph_path) {
  const std::string file = graph_path.filename().string();
  auto graph_def = ReadGraphDefFile(graph_path.string());
  if (!graph_def.ok()) {
    FAIL_CHECK(file << ": ReadGraphDefFile failed: " << StatusText(graph_def.status()));
    return;
  }
  const std::set<std::string> missing = MissingOps(*graph_def);
  auto graph = LoadGraph(graph_path.string());
  if (missing.empty()) {
    if (!graph.ok()) {
      FAIL_CHECK(file << ": all ops are registered but LoadGraph failed: "
                      << StatusText(graph.status()));
    }
    return;
  }
  if (graph.ok()) {
    FAIL_CHECK(file << ": LoadGraph succeeded although ops are not registered: " << Join(missing));
    return;
  }
  const std::string message(graph.status().message());
  for (const auto& op : missing) {
    if (message.find(op) == std::string::npos) {
      FAIL_CHECK(file << ": LoadGraph error does not name missing op " << op << ": " << message);
    }
  }
  std::cout << "[realworld] " << file << ": not loadable, missing ops: " << Join(missing) << "\n";
}

void RunRealworldCase(const fs::path& realworld_dir, const fs::path& expected_dir) {
  const std::string stem = expected_dir.filename().string();
  auto manifest = fixture::ParseManifest((expected_dir / "manifest.txt").string());
  REQUIRE(manifest.ok());
  REQUIRE(!manifest->graph.empty());
  const fs::path graph_path = realworld_dir / manifest->graph;
  if (!fs::exists(graph_path)) {
    FAIL_CHECK(stem << ": graph " << graph_path.string() << " is missing");
    return;
  }
  auto graph_def = ReadGraphDefFile(graph_path.string());
  if (!graph_def.ok()) {
    FAIL_CHECK(stem << ": ReadGraphDefFile failed: " << StatusText(graph_def.status()));
    return;
  }

  std::unique_ptr<Graph> graph;
  const std::set<std::string> missing = MissingOps(*graph_def);
  if (missing.empty()) {
    auto loaded = LoadGraph(graph_path.string());
    if (!loaded.ok()) {
      FAIL_CHECK(stem << ": LoadGraph failed: " << StatusText(loaded.status()));
      return;
    }
    graph = *std::move(loaded);
  } else {
    // Feed past what Quiver cannot import (e.g. the audio front end of the KWS model).
    std::vector<Session::Feed> feeds;
    if (!LoadFeeds(*manifest, expected_dir, &feeds)) return;
    const std::vector<std::string> fetch_names = fixture::FetchNames(*manifest);
    auto cut = CutAtFeeds(*graph_def, feeds, fetch_names);
    if (!cut.ok()) {
      FAIL_CHECK(stem << ": cannot cut the graph at its feeds: " << StatusText(cut.status()));
      return;
    }
    const std::set<std::string> still_missing = MissingOps(*cut);
    if (!still_missing.empty()) {
      std::cout << "[realworld] " << stem << ": not run, needs unregistered ops "
                << Join(still_missing) << " (whole graph lacks " << Join(missing) << ")\n";
      auto partial = std::make_unique<Graph>();
      absl::Status s = ImportGraphDef(*cut, partial.get());
      CHECK_FALSE(s.ok());
      for (const auto& op : still_missing) {
        CHECK(std::string(s.message()).find(op) != std::string::npos);
      }
      return;
    }
    std::cout << "[realworld] " << stem << ": running from the feeds (whole graph lacks "
              << Join(missing) << ")\n";
    graph = std::make_unique<Graph>();
    absl::Status s = ImportGraphDef(*cut, graph.get());
    if (!s.ok()) {
      FAIL_CHECK(stem << ": ImportGraphDef of the cut graph failed: " << StatusText(s));
      return;
    }
  }

  std::vector<Tensor> outputs;
  RunAndCompare(stem, *graph, *manifest, expected_dir, &outputs);
  if (manifest->accuracy_min && !outputs.empty()) {
    auto labels = ReadNpyFile((expected_dir / "labels.npy").string());
    REQUIRE(labels.ok());
    auto accuracy = fixture::ArgmaxAccuracy(outputs[0], *labels);
    REQUIRE(accuracy.ok());
    std::cout << "[realworld] " << stem << ": accuracy " << *accuracy << " on "
              << labels->num_elements() << " MNIST test images (min " << *manifest->accuracy_min
              << ")\n";
    CHECK(*accuracy >= *manifest->accuracy_min);
  }
}

TEST_CASE("Real-world frozen graphs load or fail clearly, and run like TensorFlow", "[realworld]") {
  const fs::path realworld_dir =
      fs::path(QUIVER_SOURCE_DIR) / ".." / "shared" / "data" / "realworld";
  if (!fs::is_directory(realworld_dir)) {
    std::cout << "QUIVER_SKIPPED: realworld data not present\n";
    SUCCEED("realworld data not present");
    return;
  }
  const fs::path expected_root = fs::path(QUIVER_TEST_DATA_DIR) / "realworld_expected";

  for (const fs::path& file : SortedEntries(realworld_dir, /*want_dirs=*/false)) {
    const std::string ext = file.extension().string();
    if (ext != ".pb" && ext != ".pbtxt") continue;
    DYNAMIC_SECTION("load " << file.filename().string()) { CheckLoadVersusRegistry(file); }
  }
  const std::vector<fs::path> expected = SortedEntries(expected_root, /*want_dirs=*/true);
  REQUIRE(!expected.empty());
  for (const fs::path& dir : expected) {
    DYNAMIC_SECTION("run " << dir.filename().string()) { RunRealworldCase(realworld_dir, dir); }
  }
}

}  // namespace
}  // namespace quiver
