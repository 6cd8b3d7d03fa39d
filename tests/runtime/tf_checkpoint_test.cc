// Restoring TensorFlow Saver checkpoints (runtime/tf_checkpoint.h). The fixture under
// tests/data/tf_checkpoint was written by TensorFlow (tools/fixtures/make_tf_checkpoint_
// fixtures.py): the expected outputs and variable values are what TF computed after its own
// restore. Malformed inputs are built from the fixture (truncated, flipped) or by a small
// LevelDB-table writer below, so that each error path is reached with otherwise valid bytes.
#include "runtime/tf_checkpoint.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "graph/builder.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "proto/tensor_bundle.pb.h"
#include "runtime/crc32c.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

const fs::path kFixture = fs::path(QUIVER_TEST_DATA_DIR) / "tf_checkpoint";

std::string Prefix() { return (kFixture / "model.ckpt").string(); }

fs::path TempDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("quiver_tf_ckpt_test_" + std::to_string(getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A copy of the one-shard fixture checkpoint in its own folder; returns the prefix.
std::string CopyFixture(const std::string& name) {
  fs::path dir = TempDir(name);
  for (const char* f : {"model.ckpt.index", "model.ckpt.data-00000-of-00001"}) {
    fs::copy_file(kFixture / f, dir / f);
  }
  return (dir / "model.ckpt").string();
}

std::unique_ptr<Session> LoadSession(const std::string& graph_file) {
  auto def = ReadGraphDefFile((kFixture / graph_file).string());
  REQUIRE(def.ok());
  auto session = Session::Create(*def);
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  return *std::move(session);
}

Tensor Npy(const std::string& file) {
  auto t = ReadNpyFile((kFixture / file).string());
  INFO(file << ": " << t.status().ToString());
  REQUIRE(t.ok());
  return *std::move(t);
}

void CheckClose(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  auto c = fixture::CompareTensors(actual, expected, rtol, atol);
  INFO(c.message);
  CHECK(c.ok);
}

// Runs graph_file restored from `prefix` and compares logits with TF's.
void CheckLogits(const std::string& graph_file, const std::string& prefix) {
  auto session = LoadSession(graph_file);
  absl::Status s = RestoreTfCheckpoint(*session, prefix);
  INFO(s.ToString());
  REQUIRE(s.ok());
  auto out = session->Run({{"x", Npy("x_0.npy")}}, {"logits"});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  CheckClose((*out)[0], Npy("logits_0.npy"), 1e-5, 1e-6);
}
// Asserts (CHECKs inside): named so at the call sites.
#define CHECK_LOGITS_MATCH_TF(...) CheckLogits(__VA_ARGS__)

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// ---- A LevelDB-table writer: one data block, an empty metaindex block, the index, footer ---

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string Fixed(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

// Prefix-compressed entries and a one-point restart array.
std::string Block(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, last;
  for (const auto& [key, value] : entries) {
    size_t shared = 0;
    while (shared < last.size() && shared < key.size() && last[shared] == key[shared]) ++shared;
    out += Varint(shared) + Varint(key.size() - shared) + Varint(value.size());
    out += key.substr(shared) + value;
    last = key;
  }
  return out + Fixed(0, 4) + Fixed(1, 4);
}

struct TableOptions {
  uint8_t data_compression = 0;
  std::function<void(std::string*)> mutate_data_block;  // before its CRC is computed
};

// Appends block + trailer at the end of `file`; returns the block handle's encoding.
std::string AppendBlock(std::string* file, const std::string& block, uint8_t type) {
  std::string handle = Varint(file->size()) + Varint(block.size());
  *file += block;
  file->push_back(static_cast<char>(type));
  *file += Fixed(MaskCrc32c(Crc32cExtend(Crc32c(block.data(), block.size()), &type, 1)), 4);
  return handle;
}

std::string Table(const std::vector<std::pair<std::string, std::string>>& entries,
                  const TableOptions& options = {}) {
  std::string file, data = Block(entries);
  if (options.mutate_data_block) options.mutate_data_block(&data);
  std::string data_handle = AppendBlock(&file, data, options.data_compression);
  std::string meta_handle = AppendBlock(&file, Block({}), 0);
  std::string index_handle = AppendBlock(&file, Block({{"\xff", data_handle}}), 0);
  std::string footer = meta_handle + index_handle;
  footer.resize(40, '\0');
  return file + footer + Fixed(0xdb4775248b80fb57ull, 8);
}

std::string Header(int num_shards = 1) {
  tensorflow::BundleHeaderProto h;
  h.set_num_shards(num_shards);
  h.mutable_version()->set_producer(1);
  return h.SerializeAsString();
}

tensorflow::BundleEntryProto Entry(DataType dtype, std::vector<int64_t> dims,
                                   const std::string& bytes, int64_t offset = 0) {
  tensorflow::BundleEntryProto e;
  e.set_dtype(static_cast<tensorflow::DataType>(dtype));
  for (int64_t d : dims) e.mutable_shape()->add_dim()->set_size(d);
  e.set_offset(offset);
  e.set_size(static_cast<int64_t>(bytes.size()));
  e.set_crc32c(MaskCrc32c(Crc32c(bytes.data(), bytes.size())));
  return e;
}

// Writes PREFIX.index (a table of the header and `entries`) and PREFIX.data-00000-of-00001.
std::string WriteBundle(
    const std::string& name,
    const std::vector<std::pair<std::string, tensorflow::BundleEntryProto>>& entries,
    const std::string& data, const TableOptions& options = {}) {
  std::vector<std::pair<std::string, std::string>> kv = {{"", Header()}};
  for (const auto& [key, e] : entries) kv.emplace_back(key, e.SerializeAsString());
  fs::path dir = TempDir(name);
  WriteBytes(dir / "b.index", Table(kv, options));
  WriteBytes(dir / "b.data-00000-of-00001", data);
  return (dir / "b").string();
}

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// ---- The TF-written fixture ----------------------------------------------------------------

TEST_CASE("a TF-trained training graph restored from TF's checkpoint computes TF's outputs",
          "[tf_checkpoint]") {
  auto manifest = fixture::ParseManifest((kFixture / "manifest.txt").string());
  REQUIRE(manifest.ok());
  auto session = LoadSession(manifest->graph);
  absl::Status s = RestoreTfCheckpoint(*session, Prefix());
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::vector<Session::Feed> feeds;
  for (const auto& [name, file] : manifest->feeds) feeds.emplace_back(name, Npy(file));
  for (const auto& [name, file] : manifest->fetches) {
    INFO("fetch " << name);
    auto out = session->Run(feeds, {name});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    CheckClose((*out)[0], Npy(file), manifest->rtol, manifest->atol);
  }
}

TEST_CASE("training resumes from the restored Adam slots and beta powers as in TF",
          "[tf_checkpoint]") {
  auto session = LoadSession("graph.pb");
  REQUIRE(RestoreTfCheckpoint(*session, Prefix()).ok());
  auto loss = session->Run({{"x", Npy("x_0.npy")}, {"y", Npy("y_0.npy")}}, {"loss"}, {"train"});
  INFO(loss.status().ToString());
  REQUIRE(loss.ok());
  CheckClose((*loss)[0], Npy("loss_step4.npy"), 1e-5, 1e-6);
  auto w = session->Run({}, {"layer1/W"});
  REQUIRE(w.ok());
  CheckClose((*w)[0], Npy("layer1_W_step4.npy"), 1e-5, 1e-6);
  auto step = session->Run({}, {"global_step"});
  REQUIRE(step.ok());
  CHECK((*step)[0].ToVector<int64_t>() == std::vector<int64_t>{4});
}

TEST_CASE("ReadTfCheckpoint returns exactly the tensors TF saved", "[tf_checkpoint]") {
  auto tensors = ReadTfCheckpoint(Prefix());
  INFO(tensors.status().ToString());
  REQUIRE(tensors.ok());
  // Saver() saves every global variable: 4 weights, 8 Adam slots, 2 beta powers,
  // global_step, counter, mask; sorted by name.
  std::vector<std::string> names;
  for (const auto& [name, t] : *tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"beta1_power", "beta2_power", "counter", "global_step",
                                          "layer1/W", "layer1/W/Adam", "layer1/W/Adam_1",
                                          "layer1/b", "layer1/b/Adam", "layer1/b/Adam_1",
                                          "layer2/W", "layer2/W/Adam", "layer2/W/Adam_1",
                                          "layer2/b", "layer2/b/Adam", "layer2/b/Adam_1", "mask"});
  for (const auto& [name, t] : *tensors) {
    std::string file = name;
    std::replace(file.begin(), file.end(), '/', '_');
    if (!fs::exists(kFixture / (file + ".npy"))) continue;
    INFO(name);
    CheckClose(t, Npy(file + ".npy"), 0, 0);  // bit-exact: the same bytes TF restored
  }
  // By hand: global_step counted the 3 Adam steps; counter and mask were assigned.
  const auto& by_name = *tensors;
  CHECK(by_name[3].second.ToVector<int64_t>() == std::vector<int64_t>{3});
  CHECK(by_name[2].second.ToVector<int32_t>() == std::vector<int32_t>{7, -3});
  CHECK(by_name[16].second.ToVector<bool>() == std::vector<bool>{true, false, true});
  // beta1_power = 0.9^(steps + 1) after 3 steps.
  CHECK(by_name[0].second.ToVector<float>()[0] == Approx(0.9 * 0.9 * 0.9 * 0.9).epsilon(1e-6));
}

TEST_CASE("an inference graph restores from a training checkpoint, ignoring the slots",
          "[tf_checkpoint]") {
  CHECK_LOGITS_MATCH_TF("graph_inference.pb", Prefix());
}

TEST_CASE("a sharded checkpoint (two data files) restores", "[tf_checkpoint]") {
  const std::string sharded = (kFixture / "sharded" / "model.ckpt").string();
  CHECK_LOGITS_MATCH_TF("graph_inference.pb", sharded);
  auto tensors = ReadTfCheckpoint(sharded);
  INFO(tensors.status().ToString());
  REQUIRE(tensors.ok());
  REQUIRE(tensors->size() == 5);
  CHECK((*tensors)[0].first == "global_step");
  CheckClose((*tensors)[0].second, Npy("global_step.npy"), 0, 0);
  CheckClose((*tensors)[3].second, Npy("layer2_W.npy"), 0, 0);  // from the second shard
}

TEST_CASE("a graph variable missing from the checkpoint is an error naming it", "[tf_checkpoint]") {
  // The sharded checkpoint holds the weights and global_step, not Adam's slots.
  auto session = LoadSession("graph.pb");
  absl::Status s = RestoreTfCheckpoint(*session, (kFixture / "sharded" / "model.ckpt").string());
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(s), Catch::Matches("Key (beta[12]_power|counter|mask|layer.*Adam.*) not "
                                        "found in checkpoint '.*sharded/model.ckpt'.*"));
  // Nothing was assigned: the weights are still uninitialised.
  CHECK_FALSE(session->Run({{"x", Npy("x_0.npy")}}, {"logits"}).ok());
}

TEST_CASE("a variable whose dtype or shape differs from the checkpoint's is refused",
          "[tf_checkpoint]") {
  for (auto [dtype, shape, want] : std::vector<std::tuple<DataType, TensorShape, std::string>>{
           {DT_FLOAT, TensorShape({3, 4}), "float32[3,4]"},
           {DT_DOUBLE, TensorShape({4, 3}), "float64[4,3]"}}) {
    Graph g;
    GraphBuilder b(&g);
    {
      auto scope = b.name_scope("layer1");
      b.Variable(b.Zeros(shape, dtype), "W");
    }
    REQUIRE(b.status().ok());
    auto session = Session::Create(g);
    REQUIRE(session.ok());
    absl::Status s = RestoreTfCheckpoint(**session, Prefix());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Message(s), Catch::Contains("variable 'layer1/W' is " + want + " in the graph") &&
                               Catch::Contains("is float32[4,3]") && Catch::Contains("model.ckpt"));
  }
}

// ---- Damaged files ------------------------------------------------------------------------

TEST_CASE("missing index or data shard files are NotFound naming the file", "[tf_checkpoint]") {
  absl::Status s = ReadTfCheckpoint("/nonexistent/model.ckpt").status();
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(s), Catch::Contains("'/nonexistent/model.ckpt.index'"));
  s = ReadTfCheckpoint(Prefix() + ".index").status();
  CHECK_THAT(Message(s), Catch::Contains("give the checkpoint prefix"));

  std::string prefix = CopyFixture("no_shard");
  fs::remove(prefix + ".data-00000-of-00001");
  s = ReadTfCheckpoint(prefix).status();
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(s),
             Catch::Contains("cannot open data shard '" + prefix + ".data-00000-of-00001'"));
}

TEST_CASE("a truncated or corrupted index is DataLoss saying what is wrong", "[tf_checkpoint]") {
  std::string prefix = CopyFixture("bad_index");
  const std::string index = ReadBytes(Prefix() + ".index");
  const std::string path = prefix + ".index";
  auto read_with = [&](const std::string& bytes) {
    WriteBytes(path, bytes);
    return ReadTfCheckpoint(prefix).status();
  };
  absl::Status s = read_with(index.substr(0, 20));
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(Message(s), Catch::Contains("TF checkpoint index '" + path + "' is corrupted") &&
                             Catch::Contains("less than the 48-byte table footer"));
  s = read_with(index.substr(0, index.size() - 1));
  CHECK_THAT(Message(s), Catch::Contains("bad table magic"));
  std::string bad_magic = index;
  bad_magic.back() ^= 0x01;
  CHECK_THAT(Message(read_with(bad_magic)), Catch::Contains("bad table magic"));
  std::string flipped = index;
  flipped[20] ^= 0x40;  // inside the first data block (the key "beta1_power")
  s = read_with(flipped);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(Message(s), Catch::Contains("block at offset 0: CRC-32C mismatch"));
}

TEST_CASE("malformed table blocks with valid CRCs are refused", "[tf_checkpoint]") {
  const std::vector<float> w = {1, 2, 3};
  auto entries = std::vector<std::pair<std::string, tensorflow::BundleEntryProto>>{
      {"w", Entry(DT_FLOAT, {3}, Bytes(w))}};
  auto error = [&](const std::string& name, const TableOptions& options) {
    std::string prefix = WriteBundle(name, entries, Bytes(w), options);
    absl::Status s = ReadTfCheckpoint(prefix).status();
    CHECK_THAT(Message(s), Catch::Contains(prefix + ".index"));
    return s;
  };
  SECTION("the writer's table itself reads back") {
    auto t = ReadTfCheckpoint(WriteBundle("good", entries, Bytes(w)));
    INFO(t.status().ToString());
    REQUIRE(t.ok());
    REQUIRE(t->size() == 1);
    CHECK((*t)[0].second.ToVector<float>() == w);
  }
  SECTION("a compressed block") {
    TableOptions o;
    o.data_compression = 1;
    absl::Status s = error("snappy", o);
    CHECK(s.code() == absl::StatusCode::kUnimplemented);
    CHECK_THAT(Message(s), Catch::Contains("is compressed (type 1, Snappy)"));
  }
  SECTION("a varint running past the block") {
    TableOptions o;
    // Entries region cut to one byte 0x80 (a varint with its continuation bit set).
    o.mutate_data_block = [](std::string* b) { *b = std::string("\x80", 1) + Fixed(0, 4); };
    absl::Status s = error("varint", o);
    CHECK(s.code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(Message(s), Catch::Contains("varint runs past the end of its block"));
  }
  SECTION("a restart count larger than the block") {
    TableOptions o;
    o.mutate_data_block = [](std::string* b) { b->replace(b->size() - 4, 4, Fixed(1000, 4)); };
    CHECK_THAT(Message(error("restarts", o)), Catch::Contains("claims 1000 restart points"));
  }
  SECTION("a key sharing more bytes than the previous key has") {
    TableOptions o;
    o.mutate_data_block = [](std::string* b) { (*b)[0] = 5; };  // the header's shared length
    CHECK_THAT(Message(error("shared", o)), Catch::Contains("shares 5 key bytes"));
  }
  SECTION("a value longer than the block") {
    TableOptions o;
    o.mutate_data_block = [](std::string* b) { (*b)[2] = 0x7f; };  // the header's value length
    CHECK_THAT(Message(error("value", o)), Catch::Contains("runs past the end of its block"));
  }
}

TEST_CASE("entries past the shard, bad data CRCs and unsupported entries are refused",
          "[tf_checkpoint]") {
  const std::vector<float> w = {1, 2, 3};
  const std::string data = Bytes(w);
  auto read = [&](const std::string& name, tensorflow::BundleEntryProto e) {
    std::string prefix = WriteBundle(name, {{"w", e}}, data);
    absl::Status s = ReadTfCheckpoint(prefix).status();
    CHECK_THAT(Message(s), Catch::Contains(prefix) && Catch::Contains("'w'"));
    return s;
  };
  absl::Status s = read("past_end", Entry(DT_FLOAT, {3}, data, /*offset=*/4));
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(Message(s), Catch::Contains("is at bytes [4, 16) but data shard") &&
                             Catch::Contains("b.data-00000-of-00001' has 12 bytes"));

  // Hostile offsets: no overflow, the same clear error.
  s = read("huge_offset", Entry(DT_FLOAT, {3}, data, std::numeric_limits<int64_t>::max()));
  CHECK_THAT(Message(s), Catch::Contains("beyond 2^63) but data shard"));
  s = read("negative_offset", Entry(DT_FLOAT, {3}, data, -8));
  CHECK_THAT(Message(s), Catch::Contains("is at bytes [-8, "));

  auto bad_crc = Entry(DT_FLOAT, {3}, data);
  bad_crc.set_crc32c(bad_crc.crc32c() ^ 1);
  s = read("crc", bad_crc);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(Message(s), Catch::Contains("CRC-32C mismatch") && Catch::Contains("in data shard '"));

  auto wrong_size = Entry(DT_FLOAT, {3}, data);
  wrong_size.mutable_shape()->mutable_dim(0)->set_size(2);
  CHECK_THAT(Message(read("size", wrong_size)),
             Catch::Contains("is float32[2] (8 bytes) but its entry says 12 bytes"));

  s = read("string", Entry(DT_STRING, {3}, data));
  CHECK(s.code() == absl::StatusCode::kUnimplemented);
  CHECK_THAT(Message(s), Catch::Contains("only numeric and bool tensors are supported"));

  auto sliced = Entry(DT_FLOAT, {3}, data);
  sliced.add_slices()->add_extent()->set_start(0);
  s = read("sliced", sliced);
  CHECK(s.code() == absl::StatusCode::kUnimplemented);
  CHECK_THAT(Message(s), Catch::Contains("partitioned (sliced) variable"));

  auto bad_shard = Entry(DT_FLOAT, {3}, data);
  bad_shard.set_shard_id(1);
  CHECK_THAT(Message(read("shard", bad_shard)), Catch::Contains("is in shard 1 but the bundle "
                                                                "has 1"));
}

TEST_CASE("numeric dtypes and bool read back with their values", "[tf_checkpoint]") {
  const std::vector<double> d = {0.5, -2.25};
  const std::vector<int8_t> i8 = {-128, 127, 0};
  const std::vector<uint16_t> u16 = {65535, 1};
  const std::string bools = std::string("\x00\x01\x02", 3);  // TF writes one byte per bool
  std::string data = Bytes(d) + Bytes(i8) + Bytes(u16) + bools;
  std::vector<std::pair<std::string, tensorflow::BundleEntryProto>> entries = {
      {"a_f64", Entry(DT_DOUBLE, {2}, Bytes(d), 0)},
      {"b_i8", Entry(DT_INT8, {3}, Bytes(i8), 16)},
      {"c_u16", Entry(DT_UINT16, {1, 2}, Bytes(u16), 19)},
      {"d_bool", Entry(DT_BOOL, {3}, bools, 23)},
      {"e_empty", Entry(DT_FLOAT, {0, 5}, "", 26)}};
  auto t = ReadTfCheckpoint(WriteBundle("dtypes", entries, data));
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  REQUIRE(t->size() == 5);
  CHECK((*t)[0].second.ToVector<double>() == d);
  CHECK((*t)[1].second.ToVector<int8_t>() == i8);
  CHECK((*t)[2].second.shape() == TensorShape({1, 2}));
  CHECK((*t)[2].second.ToVector<uint16_t>() == u16);
  CHECK((*t)[3].second.ToVector<bool>() == std::vector<bool>{false, true, true});
  CHECK((*t)[4].second.num_elements() == 0);
}

// ---- Robustness: every damaged index reads or fails cleanly --------------------------------

TEST_CASE("truncating or flipping any byte of TF's index never crashes", "[tf_checkpoint]") {
  std::string prefix = CopyFixture("fuzz");
  const std::string index = ReadBytes(Prefix() + ".index");
  const std::string path = prefix + ".index";
  auto check = [&](const std::string& bytes, const std::string& what) {
    WriteBytes(path, bytes);
    auto r = ReadTfCheckpoint(prefix);
    if (!r.ok()) {
      INFO(what << ": " << r.status().ToString());
      CHECK_THAT(Message(r.status()), Catch::Contains(prefix));
    }
    return r.ok();
  };
  int failures = 0;
  for (size_t n = 0; n < index.size(); ++n) {
    failures += !check(index.substr(0, n), "truncated to " + std::to_string(n));
  }
  CHECK(failures == static_cast<int>(index.size()));  // no prefix of a table is a table
  for (size_t i = 0; i < index.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string bytes = index;
      bytes[i] = static_cast<char>(bytes[i] ^ mask);
      check(bytes, "byte " + std::to_string(i) + " ^ " + std::to_string(mask));
    }
  }
}

TEST_CASE("random damage to a block with a recomputed CRC never crashes", "[tf_checkpoint]") {
  // Past the CRC the parser itself must cope: varints, key sharing, restarts, protos.
  const std::vector<float> w = {1, 2, 3};
  auto entries = std::vector<std::pair<std::string, tensorflow::BundleEntryProto>>{
      {"layer/W", Entry(DT_FLOAT, {3}, Bytes(w))}, {"layer/b", Entry(DT_FLOAT, {1}, "\0\0\0\0")}};
  std::mt19937 rng(1234);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 600; ++iter) {
    TableOptions o;
    o.mutate_data_block = [&](std::string* b) {
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) (*b)[rng() % b->size()] ^= static_cast<char>(1 + rng() % 255);
      if (rng() % 8 == 0) b->resize(rng() % b->size());
    };
    std::string prefix = WriteBundle("random", entries, Bytes(w), o);
    auto r = ReadTfCheckpoint(prefix);
    if (r.ok()) {
      ++ok;
    } else {
      ++failed;
      INFO(r.status().ToString());
      CHECK_THAT(Message(r.status()), Catch::Contains(prefix));
    }
  }
  CHECK(failed > 0);
}

}  // namespace
}  // namespace quiver
