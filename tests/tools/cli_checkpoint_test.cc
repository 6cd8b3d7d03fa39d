// `quiver run/bench --restore`: the real binary restores TensorFlow Saver checkpoints (the
// fixture TF wrote under tests/data/tf_checkpoint) and Quiver's own checkpoint files.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "graph/graphdef.h"
#include "graph/npy.h"
#include "runtime/checkpoint.h"
#include "runtime/tf_checkpoint.h"
#include "tests/tools/cli_test_util.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

const fs::path kFixture = fs::path(QUIVER_TEST_DATA_DIR) / "tf_checkpoint";

using cli_test::RunCli;
using cli_test::Slurp;

fs::path TempDir() { return cli_test::ProcessTempDir(); }

std::string Fixture(const std::string& name) { return (kFixture / name).string(); }

// Runs GRAPH on x_0 with --restore and checks logits against TF's.
void CheckRunMatchesTf(const std::string& graph, const std::string& restore) {
  const fs::path out_dir = TempDir() / "out";
  fs::remove_all(out_dir);
  auto r = RunCli("run " + Fixture(graph) + " --feed x=" + Fixture("x_0.npy") +
                  " --fetch logits --restore " + restore + " --out " + out_dir.string());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("logits: float32 [5,2]"));
  auto got = ReadNpyFile((out_dir / "logits.npy").string());
  auto want = ReadNpyFile(Fixture("logits_0.npy"));
  REQUIRE(got.ok());
  REQUIRE(want.ok());
  auto c = fixture::CompareTensors(*got, *want, 1e-5, 1e-6);
  INFO(c.message);
  CHECK(c.ok);
}
// Asserts (CHECKs inside): named so at the call sites.
#define CHECK_RUN_MATCHES_TF(...) CheckRunMatchesTf(__VA_ARGS__)

TEST_CASE("quiver run --restore PREFIX runs with TF's trained weights", "[cli][tf_checkpoint]") {
  CHECK_RUN_MATCHES_TF("graph.pb", Fixture("model.ckpt"));
  CHECK_RUN_MATCHES_TF("graph_inference.pb", Fixture("model.ckpt"));
  CHECK_RUN_MATCHES_TF("graph_inference.pb", Fixture("sharded/model.ckpt"));
  // The .index file itself is accepted as the prefix.
  CHECK_RUN_MATCHES_TF("graph_inference.pb", Fixture("model.ckpt.index"));
}

TEST_CASE("quiver run --restore also takes a Quiver checkpoint file", "[cli][tf_checkpoint]") {
  // Convert in-process: TF bundle -> session -> Quiver's format.
  auto def = ReadGraphDefFile(Fixture("graph_inference.pb"));
  REQUIRE(def.ok());
  auto session = Session::Create(*def);
  REQUIRE(session.ok());
  REQUIRE(RestoreTfCheckpoint(**session, Fixture("model.ckpt")).ok());
  const std::string qckpt = (TempDir() / "weights.qckpt").string();
  REQUIRE(SaveCheckpoint(**session, qckpt).ok());
  CHECK_RUN_MATCHES_TF("graph_inference.pb", qckpt);
}

TEST_CASE("quiver run --restore failures exit 4 with one line naming the problem",
          "[cli][tf_checkpoint]") {
  const std::string run = "run " + Fixture("graph.pb") + " --feed x=" + Fixture("x_0.npy") +
                          " --fetch logits --restore ";
  auto r = RunCli(run + "/nonexistent/model.ckpt");
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::Contains("quiver run: --restore: no checkpoint at "
                                    "'/nonexistent/model.ckpt'"));
  // The sharded checkpoint lacks the training graph's Adam slots.
  r = RunCli(run + Fixture("sharded/model.ckpt"));
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::Contains("not found in checkpoint"));
  // A file that is neither format.
  r = RunCli(run + Fixture("x_0.npy"));
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::Contains("not a Quiver checkpoint"));
  // Without --restore the variables are uninitialised.
  r = RunCli("run " + Fixture("graph_inference.pb") + " --feed x=" + Fixture("x_0.npy") +
             " --fetch logits");
  CHECK(r.exit_code != 0);
}

TEST_CASE("quiver bench --restore benchmarks the restored graph", "[cli][tf_checkpoint]") {
  auto r = RunCli("bench " + Fixture("graph_inference.pb") + " --feed x=" + Fixture("x_0.npy") +
                  " --fetch logits --iters 3 --warmup 1 --restore " + Fixture("model.ckpt"));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  r = RunCli("bench " + Fixture("graph_inference.pb") + " --feed x=" + Fixture("x_0.npy") +
             " --fetch logits --iters 3 --restore /nonexistent/model.ckpt");
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::Contains("quiver bench: --restore: no checkpoint at"));
}

TEST_CASE("quiver run --save PREFIX writes the variables after the step as a TF checkpoint",
          "[cli][tf_checkpoint]") {
  const fs::path dir = TempDir() / "saved";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string train = "run " + Fixture("graph.pb") + " --feed x=" + Fixture("x_0.npy") +
                            " --feed y=" + Fixture("y_0.npy") + " --target train";
  // Restore TF's checkpoint (3 steps), train one step, save: what TF had after its 4th step.
  auto r = RunCli(train + " --restore " + Fixture("model.ckpt") + " --save " +
                  (dir / "model.ckpt-4").string());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto saved = ReadTfCheckpoint((dir / "model.ckpt-4").string());
  INFO(saved.status().ToString());
  REQUIRE(saved.ok());
  REQUIRE(saved->size() == 17);  // every variable of the graph, slots included
  auto want_w = ReadNpyFile(Fixture("layer1_W_step4.npy"));
  REQUIRE(want_w.ok());
  for (const auto& [name, t] : *saved) {
    if (name == "layer1/W") {
      auto c = fixture::CompareTensors(t, *want_w, 1e-5, 1e-6);
      INFO(c.message);
      CHECK(c.ok);
    }
    if (name == "global_step") CHECK(t.ToVector<int64_t>() == std::vector<int64_t>{4});
  }
  CHECK_THAT(Slurp(dir / "checkpoint"), Catch::Contains("model_checkpoint_path: \"model.ckpt-4\""));

  // From scratch: --init runs the initializer first; one step makes global_step 1.
  r = RunCli(train + " --init init --save " + (dir / "model.ckpt-1").string());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  saved = ReadTfCheckpoint((dir / "model.ckpt-1").string());
  REQUIRE(saved.ok());
  for (const auto& [name, t] : *saved) {
    if (name == "global_step") CHECK(t.ToVector<int64_t>() == std::vector<int64_t>{1});
  }
  // The saved checkpoint restores: the next run starts from it.
  r = RunCli("run " + Fixture("graph.pb") + " --fetch global_step --restore " +
             (dir / "model.ckpt-1").string() + " --format json");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("\"max\": 1,"));

  // Nowhere to write: exit 6, naming the place.
  r = RunCli(train + " --init init --save /nonexistent/dir/model.ckpt");
  CHECK(r.exit_code == 6);
  CHECK_THAT(r.err, Catch::Contains("quiver run: --save:") && Catch::Contains("/nonexistent/dir"));
  // A failing --init is reported as such.
  r = RunCli(train + " --init no_such_node");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("--init:") && Catch::Contains("no_such_node"));
}

}  // namespace
}  // namespace quiver
