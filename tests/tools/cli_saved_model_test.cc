// `quiver run` and `quiver inspect` on SavedModel directories (the TF-written fixtures under
// tests/data/saved_model; expected outputs are what TensorFlow's loader served).
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "graph/npy.h"
#include "tests/tools/cli_test_util.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;
using cli_test::RunCli;

const fs::path kData = fs::path(QUIVER_TEST_DATA_DIR) / "saved_model";

std::string Model(const std::string& name) { return (kData / name / "model").string(); }
std::string XFeed() { return " --feed x=" + (kData / "x.npy").string(); }

// `out_dir/file` (written by --out) equals TF's expected output.
void CheckOutput(const fs::path& out_dir, const std::string& file, const std::string& expected) {
  auto got = ReadNpyFile((out_dir / file).string());
  auto want = ReadNpyFile((kData / expected).string());
  INFO(file);
  REQUIRE(got.ok());
  REQUIRE(want.ok());
  auto c = fixture::CompareTensors(*got, *want, 1e-5, 1e-6);
  INFO(c.message);
  CHECK(c.ok);
}
#define CHECK_OUTPUT(...) CheckOutput(__VA_ARGS__)

TEST_CASE("quiver run DIR serves a SavedModel's signature", "[cli][saved_model]") {
  const fs::path out = cli_test::ProcessTempDir() / "saved_model_out";
  fs::remove_all(out);
  // serving_default by default: every output, named by its key.
  auto r = RunCli("run " + Model("mlp_ref") + XFeed() + " --out " + out.string());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("class: int64 [5]") && Catch::Contains("probs: float32 [5,3]"));
  CHECK_OUTPUT(out, "probs.npy", "mlp_ref/expected_serving_default_probs.npy");
  CHECK_OUTPUT(out, "class.npy", "mlp_ref/expected_serving_default_class.npy");
  // Another signature; another MetaGraph by its tags, with two inputs.
  r = RunCli("run " + Model("mlp_ref") + XFeed() + " --signature logits --out " + out.string());
  REQUIRE(r.exit_code == 0);
  CHECK_OUTPUT(out, "logits.npy", "mlp_ref/expected_logits_logits.npy");
  r = RunCli("run " + Model("mlp_resource") + XFeed() + " --feed labels=" +
             (kData / "labels.npy").string() + " --tags train --out " + out.string());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_OUTPUT(out, "loss.npy", "mlp_resource/expected_loss_loss.npy");
  // Explicit fetches by tensor name still work on the loaded graph.
  r = RunCli("run " + Model("mlp_ref") + XFeed() + " --fetch logits:0 --out " + out.string());
  REQUIRE(r.exit_code == 0);
  CHECK_OUTPUT(out, "logits_0.npy", "mlp_ref/expected_logits_logits.npy");
}

TEST_CASE("quiver run DIR refuses wrong tags, signatures and feeds", "[cli][saved_model]") {
  auto r = RunCli("run " + Model("mlp_resource") + XFeed() + " --tags gpu");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--tags: no MetaGraph tagged {gpu}") &&
                        Catch::Contains("(it has: {serve}, {train})"));
  r = RunCli("run " + Model("mlp_ref") + XFeed() + " --signature predict");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("(it has: logits, serving_default)"));
  r = RunCli("run " + Model("mlp_ref"));
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::Contains("placeholder tensor 'x'"));
  r = RunCli("run " + Model("mlp_ref") + XFeed() + " --fetch nothing_here");
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("no node 'nothing_here'"));
  // --tags and --signature mean nothing for a GraphDef file.
  r = RunCli("run " + (kData / "x.npy").string() + " --fetch y --signature s");
  CHECK(r.exit_code == 2);
}

TEST_CASE("quiver bench DIR times a SavedModel's signature", "[cli][saved_model]") {
  auto r = RunCli("bench " + Model("mlp_ref") + XFeed() + " --iters 3 --warmup 1 --format json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // serving_default: both matmuls (fused with their bias adds) and the softmax ran.
  CHECK_THAT(r.out, Catch::Contains("\"iters\": 3") && Catch::Contains("\"op\": \"Softmax\"") &&
                        Catch::Contains("\"op\": \"_FusedMatMul\""));
  r = RunCli("bench " + Model("mlp_ref") + XFeed() + " --iters 3 --signature logits --format json");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, !Catch::Contains("\"op\": \"Softmax\""));
  CHECK(RunCli("bench " + Model("mlp_ref") + XFeed() + " --signature nope").exit_code == 2);
}

TEST_CASE("quiver place and optimize take a SavedModel directory", "[cli][saved_model]") {
  // The TF2 model's graph after inlining: its MatMuls under the call's name, no call left.
  auto r = RunCli("place " + Model("tf2_module") + " --format json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("StatefulPartitionedCall/StatefulPartitionedCall/MatMul") &&
                        !Catch::Contains("\"op\": \"StatefulPartitionedCall\""));
  const std::string out = (cli_test::ProcessTempDir() / "optimized_saved_model.pb").string();
  r = RunCli("optimize " + Model("mlp_ref") + " -o " + out + " --fetch probs");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // The optimized serving graph is a plain GraphDef that still computes TF's probabilities
  // once its variables are restored from the SavedModel's checkpoint.
  const fs::path out_dir = cli_test::ProcessTempDir() / "optimized_out";
  fs::remove_all(out_dir);
  r = RunCli("run " + out + XFeed() + " --fetch probs --restore " + Model("mlp_ref") +
             "/variables/variables --out " + out_dir.string());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_OUTPUT(out_dir, "probs.npy", "mlp_ref/expected_serving_default_probs.npy");
  CHECK(RunCli("place " + Model("mlp_ref") + " --tags gpu").exit_code == 2);
}

TEST_CASE("quiver inspect DIR lists MetaGraphs and signatures", "[cli][saved_model]") {
  auto r = RunCli("inspect " + Model("mlp_resource"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 MetaGraph(s)") && Catch::Contains("tags {serve}") &&
                        Catch::Contains("tags {train}") &&
                        Catch::Contains("input  labels: labels:0 int64 [?]") &&
                        Catch::Contains("output logits: logits:0 float32 [?,3]"));
  r = RunCli("inspect " + Model("mlp_ref") + " --format json");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("\"tags\": [\"serve\"]") &&
                        Catch::Contains("{\"name\": \"logits\", \"method\": "
                                        "\"tensorflow/serving/predict\""));
}

}  // namespace
}  // namespace quiver
