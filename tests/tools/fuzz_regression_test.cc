// Replays every input the fuzzers (tests/fuzz, tools/fuzz.sh) ever crashed, leaked or timed out
// on, kept under tests/data/fuzz_regressions/<target>/: each must now end in a value or a
// clean error Status, with the target's invariants intact.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "graph/tensor_proto.h"
#include "tests/fuzz/fuzz_targets.h"

using namespace quiver;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> Inputs(const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(QUIVER_TEST_DATA_DIR) / "fuzz_regressions" / target;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The outcome of a regression input: no broken invariant, and an error (if any) that says
// what is wrong instead of an internal or unknown failure.
void CheckOutcome(const fs::path& file, const fuzz::Outcome& outcome) {
  INFO(file.filename().string() << ": " << outcome.status.ToString());
  CHECK(outcome.violation.empty());
  if (!outcome.status.ok()) {
    CHECK_FALSE(outcome.status.message().empty());
    CHECK(outcome.status.code() != absl::StatusCode::kInternal);
    CHECK(outcome.status.code() != absl::StatusCode::kUnknown);
  }
}
// Asserts (CHECKs inside): named so at the call sites.
#define CHECK_OUTCOME(...) CheckOutcome(__VA_ARGS__)

// The fuzzers run with tighter memory than a user's process; replay under the same limit.
struct FuzzLimits {
  FuzzLimits() : saved(MaxProtoTensorBytes()) { SetMaxProtoTensorBytes(int64_t{64} << 20); }
  ~FuzzLimits() { SetMaxProtoTensorBytes(saved); }
  int64_t saved;
};

}  // namespace

TEST_CASE("Fuzzer regressions: GraphDef import (binary and text)", "[fuzz][graphdef]") {
  FuzzLimits limits;
  for (const auto& file : Inputs("graphdef_fuzzer")) {
    CHECK_OUTCOME(file, fuzz::GraphDefImport(ReadBytes(file), GraphDefFormat::kBinary));
  }
  const std::vector<fs::path> text_inputs = Inputs("graphdef_text_fuzzer");
  REQUIRE_FALSE(text_inputs.empty());  // the crashes found so far are all text GraphDefs
  for (const auto& file : text_inputs) {
    CHECK_OUTCOME(file, fuzz::GraphDefImport(ReadBytes(file), GraphDefFormat::kText));
  }
}

TEST_CASE("Fuzzer regressions: import + shape inference + default pipeline", "[fuzz][passes]") {
  FuzzLimits limits;
  const std::vector<fs::path> inputs = Inputs("optimize_fuzzer");
  REQUIRE_FALSE(inputs.empty());
  for (const auto& file : inputs) {
    CHECK_OUTCOME(file, fuzz::ImportAndOptimize(ReadBytes(file)));
  }
}

TEST_CASE("Fuzzer regressions: .npy parsing", "[fuzz][npy]") {
  for (const auto& file : Inputs("npy_fuzzer"))
    CHECK_OUTCOME(file, fuzz::NpyParse(ReadBytes(file)));
  // No .npy crash has been found yet; the harness must at least accept the real files.
  int parsed = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(QUIVER_TEST_DATA_DIR) / "npy")) {
    if (entry.path().extension() != ".npy") continue;
    const fuzz::Outcome outcome = fuzz::NpyParse(ReadBytes(entry.path()));
    INFO(entry.path().filename().string() << ": " << outcome.status.ToString());
    CHECK(outcome.violation.empty());
    parsed += outcome.status.ok();
  }
  CHECK(parsed > 0);
}

TEST_CASE("The TF checkpoint harness reads the TF-written bundles it is seeded with",
          "[fuzz][tf_checkpoint]") {
  // As tools/fuzz.sh seeds tf_checkpoint_fuzzer: index + shards, checksums repaired or not.
  const fs::path ckpt = fs::path(QUIVER_TEST_DATA_DIR) / "tf_checkpoint";
  const std::vector<std::string> single = {ReadBytes(ckpt / "model.ckpt.index"),
                                           ReadBytes(ckpt / "model.ckpt.data-00000-of-00001")};
  const std::vector<std::string> sharded = {
      ReadBytes(ckpt / "sharded" / "model.ckpt.index"),
      ReadBytes(ckpt / "sharded" / "model.ckpt.data-00000-of-00002"),
      ReadBytes(ckpt / "sharded" / "model.ckpt.data-00001-of-00002")};
  for (const auto* files : {&single, &sharded}) {
    for (bool repair : {false, true}) {
      const fuzz::Outcome outcome = fuzz::TfCheckpointRead(fuzz::TfCheckpointInput(repair, *files));
      INFO(files->size() - 1 << " shard(s), repair " << repair << ": "
                             << outcome.status.ToString());
      CHECK(outcome.status.ok());
      CHECK(outcome.violation.empty());
    }
  }
  // The repair makes damaged bytes reach the parser: a flipped byte in a key of the index (a
  // block CRC) and in a tensor's data (an entry CRC) fail as they are and read once repaired.
  std::vector<std::string> flipped = single;
  const size_t key = flipped[0].find("mask");  // the last key, stored whole
  REQUIRE(key != std::string::npos);
  flipped[0][key + 3] = 't';  // "mast": still sorted last
  flipped[1][0] ^= 0x01;
  fuzz::Outcome outcome = fuzz::TfCheckpointRead(fuzz::TfCheckpointInput(false, flipped));
  CHECK(outcome.status.code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(outcome.status.message()), Catch::Contains("CRC-32C mismatch"));
  CHECK(outcome.violation.empty());
  outcome = fuzz::TfCheckpointRead(fuzz::TfCheckpointInput(true, flipped));
  INFO(outcome.status.ToString());
  CHECK(outcome.status.ok());
  CHECK(outcome.violation.empty());
  // Inputs the fuzzer once failed on, when there are any (tools/fuzz.sh says where they go).
  for (const auto& file : Inputs("tf_checkpoint_fuzzer")) {
    CHECK_OUTCOME(file, fuzz::TfCheckpointRead(ReadBytes(file)));
  }
}

TEST_CASE("The SavedModel harness loads the TF-written models it is seeded with",
          "[fuzz][saved_model]") {
  // As tools/fuzz.sh seeds saved_model_fuzzer. With the TF1 models' variables next to them
  // (both name theirs W1, b1, W2, b2) they load; the TF2 ones load up to their restore, which
  // names the object-path key it did not find.
  const fs::path data = fs::path(QUIVER_TEST_DATA_DIR) / "saved_model";
  const std::string variables = (data / "mlp_ref" / "model" / "variables").string();
  for (const char* name : {"mlp_ref", "mlp_resource", "tf2_module", "keras_cnn"}) {
    INFO(name);
    const fuzz::Outcome outcome =
        fuzz::SavedModelLoad(ReadBytes(data / name / "model" / "saved_model.pb"), variables);
    INFO(outcome.status.ToString());
    CHECK(outcome.violation.empty());
    if (std::string(name).starts_with("mlp_")) {
      CHECK(outcome.status.ok());
    } else {
      CHECK_THAT(std::string(outcome.status.message()),
                 Catch::Contains("restoring its variables") && Catch::Contains("not found"));
    }
  }
  for (const auto& file : Inputs("saved_model_fuzzer")) {
    CHECK_OUTCOME(file, fuzz::SavedModelLoad(ReadBytes(file), variables));
  }
}

TEST_CASE("Fuzz harnesses accept the fixtures they are seeded with", "[fuzz]") {
  // The seeds must import cleanly, or the fuzzers start from nothing.
  const fs::path tf = fs::path(QUIVER_TEST_DATA_DIR) / "tf";
  int graphs = 0;
  for (const auto& entry : fs::directory_iterator(tf)) {
    const fs::path pb = entry.path() / "graph.pb";
    if (!fs::exists(pb)) continue;
    const std::string bytes = ReadBytes(pb);
    INFO(pb.string());
    auto outcome = fuzz::GraphDefImport(bytes, GraphDefFormat::kBinary);
    CHECK(outcome.status.ok());
    CHECK(outcome.violation.empty());
    auto optimized = fuzz::ImportAndOptimize(std::string(1, '\x01') + bytes);
    CHECK(optimized.status.ok());
    CHECK(optimized.violation.empty());
    ++graphs;
  }
  CHECK(graphs >= 10);
  const fs::path npy = fs::path(QUIVER_TEST_DATA_DIR) / "npy" / "f32_2x3.npy";
  auto outcome = fuzz::NpyParse(ReadBytes(npy));
  CHECK(outcome.status.ok());
  CHECK(outcome.violation.empty());
}
