// Writing TensorFlow Saver checkpoints (WriteTfCheckpoint / SaveTfCheckpoint in
// runtime/tf_checkpoint.h). The reference is TensorFlow itself: the fixture under
// tests/data/tf_checkpoint was written by TF's Saver, and writing the same tensors must give
// the same bytes. Round trips through the reader cover what that fixture does not (more
// dtypes, empty tensors, an index cut into many blocks).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph/builder.h"
#include "graph/graphdef.h"
#include "runtime/tf_checkpoint.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

const fs::path kFixture = fs::path(QUIVER_TEST_DATA_DIR) / "tf_checkpoint";
constexpr char kData[] = ".data-00000-of-00001";

fs::path TempDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("quiver_tf_ckpt_writer_" + std::to_string(getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TfCheckpointWriteOptions NoStateFile() {
  TfCheckpointWriteOptions o;
  o.update_checkpoint_state = false;
  return o;
}

// Both files of `prefix` equal TF's model.ckpt files byte for byte.
void CheckSameBytesAsTf(const std::string& prefix) {
  CHECK(ReadBytes(prefix + ".index") == ReadBytes(kFixture / "model.ckpt.index"));
  CHECK(ReadBytes(prefix + kData) == ReadBytes(kFixture / (std::string("model.ckpt") + kData)));
}
#define CHECK_SAME_BYTES_AS_TF(prefix) CheckSameBytesAsTf(prefix)

TEST_CASE("WriteTfCheckpoint writes the bytes TF's Saver wrote for the same tensors",
          "[tf_checkpoint]") {
  auto tensors = ReadTfCheckpoint((kFixture / "model.ckpt").string());
  REQUIRE(tensors.ok());
  REQUIRE(tensors->size() == 17);  // float, int32, int64 and bool; scalars and matrices
  const std::string prefix = (TempDir("same_bytes") / "model.ckpt").string();
  absl::Status s = WriteTfCheckpoint(prefix, *tensors, NoStateFile());
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK_SAME_BYTES_AS_TF(prefix);
  // The order tensors are given in does not matter: TF's bundles are in key order.
  std::vector<std::pair<std::string, Tensor>> reversed(tensors->rbegin(), tensors->rend());
  REQUIRE(WriteTfCheckpoint(prefix, reversed, NoStateFile()).ok());
  CHECK_SAME_BYTES_AS_TF(prefix);
}

TEST_CASE("SaveTfCheckpoint of a session restored from TF's checkpoint gives TF's files",
          "[tf_checkpoint]") {
  auto def = ReadGraphDefFile((kFixture / "graph.pb").string());
  REQUIRE(def.ok());
  auto session = Session::Create(*def);
  REQUIRE(session.ok());
  REQUIRE(RestoreTfCheckpoint(**session, (kFixture / "model.ckpt").string()).ok());
  const fs::path dir = TempDir("session");
  const std::string prefix = (dir / "model.ckpt").string();
  absl::Status s = SaveTfCheckpoint(**session, prefix);
  INFO(s.ToString());
  REQUIRE(s.ok());
  // Every variable of the training graph (weights, Adam slots, beta powers, global_step,
  // counter, mask) under the names TF's Saver gave them.
  CHECK_SAME_BYTES_AS_TF(prefix);
  CHECK(ReadBytes(dir / "checkpoint") ==
        "model_checkpoint_path: \"model.ckpt\"\nall_model_checkpoint_paths: \"model.ckpt\"\n");
}

TEST_CASE("every dtype, empty tensors and a many-block index read back unchanged",
          "[tf_checkpoint]") {
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f64", Tensor::FromVector<double>({0.5, -2.25, 1e300}, {3})},
      {"f32/scalar", Tensor::Scalar<float>(-0.0f)},
      {"i8", Tensor::FromVector<int8_t>({-128, 127, 0}, {3, 1})},
      {"u8", Tensor::FromVector<uint8_t>({255, 0}, {2})},
      {"i16", Tensor::FromVector<int16_t>({-32768, 5}, {1, 2})},
      {"u16", Tensor::FromVector<uint16_t>({65535, 1}, {2})},
      {"i64", Tensor::FromVector<int64_t>({int64_t{1} << 62, -1}, {2})},
      {"bool", Tensor::FromVector<bool>({true, false, true}, {3})},
      {"empty", *Tensor::Create(DT_FLOAT, TensorShape({0, 5}))}};
  // 300 more keys sharing long prefixes: with 64-byte blocks, dozens of index blocks.
  for (int i = 0; i < 300; ++i) {
    tensors.emplace_back("layer_" + std::to_string(1000 + i) + "/kernel/Adam_1",
                         Tensor::FromVector<int32_t>({i, -i}, {2}));
  }
  TfCheckpointWriteOptions options = NoStateFile();
  options.index_block_bytes = 64;
  const std::string prefix = (TempDir("dtypes") / "ckpt").string();
  REQUIRE(WriteTfCheckpoint(prefix, tensors, options).ok());
  auto back = ReadTfCheckpoint(prefix);
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  REQUIRE(back->size() == tensors.size());
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : *back) by_name[name] = &t;
  for (const auto& [name, t] : tensors) {
    INFO(name);
    REQUIRE(by_name.count(name) == 1);
    const Tensor& r = *by_name[name];
    CHECK(r.dtype() == t.dtype());
    CHECK(r.shape() == t.shape());
    REQUIRE(r.num_bytes() == t.num_bytes());
    if (t.num_bytes() > 0) CHECK(std::memcmp(r.raw_data(), t.raw_data(), t.num_bytes()) == 0);
  }
  // The default block size puts this small index in one block: a different, smaller file.
  const std::string one_block = (TempDir("one_block") / "ckpt").string();
  REQUIRE(WriteTfCheckpoint(one_block, tensors, NoStateFile()).ok());
  CHECK(fs::file_size(one_block + ".index") < fs::file_size(prefix + ".index"));
  CHECK(ReadBytes(one_block + kData) == ReadBytes(prefix + kData));
}

TEST_CASE("the checkpoint state file lists every prefix saved, newest last", "[tf_checkpoint]") {
  const fs::path dir = TempDir("state");
  const std::vector<std::pair<std::string, Tensor>> t = {{"w", Tensor::Scalar<float>(1)}};
  for (const char* name : {"model.ckpt-1", "model.ckpt-2", "model.ckpt-1"}) {
    REQUIRE(WriteTfCheckpoint((dir / name).string(), t).ok());
  }
  // Saving model.ckpt-1 again moves it to the end, as TF's Saver does.
  CHECK(ReadBytes(dir / "checkpoint") ==
        "model_checkpoint_path: \"model.ckpt-1\"\n"
        "all_model_checkpoint_paths: \"model.ckpt-2\"\n"
        "all_model_checkpoint_paths: \"model.ckpt-1\"\n");
}

TEST_CASE("bad tensors, uninitialized variables and unwritable places are refused",
          "[tf_checkpoint]") {
  const fs::path dir = TempDir("errors");
  const std::string prefix = (dir / "ckpt").string();
  const Tensor one = Tensor::Scalar<float>(1);
  // A good checkpoint first: a refused save must leave it as it was.
  REQUIRE(WriteTfCheckpoint(prefix, {{"w", one}}, NoStateFile()).ok());
  const std::string before = ReadBytes(prefix + ".index");

  CHECK_THAT(Message(WriteTfCheckpoint(prefix, {{"w", one}, {"w", one}})),
             Catch::Contains("tensor 'w' is given twice"));
  CHECK_THAT(Message(WriteTfCheckpoint(prefix, {{"", one}})), Catch::Contains("has an empty name"));
  CHECK_THAT(Message(WriteTfCheckpoint(prefix, {{"w", Tensor()}})),
             Catch::Contains("tensor 'w' is empty"));
  CHECK(WriteTfCheckpoint("", {{"w", one}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ReadBytes(prefix + ".index") == before);

  absl::Status nowhere = WriteTfCheckpoint((dir / "no_such_dir" / "ckpt").string(), {{"w", one}});
  CHECK_FALSE(nowhere.ok());
  CHECK_THAT(Message(nowhere), Catch::Contains("no_such_dir"));

  Graph graph;
  GraphBuilder b(&graph);
  b.Variable(b.Zeros({2}), "v");
  REQUIRE(b.status().ok());
  auto session = Session::Create(graph);
  REQUIRE(session.ok());
  absl::Status uninit = SaveTfCheckpoint(**session, prefix);
  CHECK(uninit.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Message(uninit), Catch::Contains("variable 'v' is not initialized"));
  CHECK(ReadBytes(prefix + ".index") == before);
}

}  // namespace
}  // namespace quiver
