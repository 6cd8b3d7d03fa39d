#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/match.h"
#include "graph/functionalize_loops.h"
#include "graph/graph.h"
#include "graph/graphdef.h"
#include "graph/op_registry.h"

using namespace quiver;
using google::protobuf::util::MessageDifferencer;

namespace {

// A test-only op with two inputs and two outputs, to exercise "x:1" inputs.
QUIVER_REGISTER_OP("GraphDefTestTwoOut")
    .Input("a: T")
    .Input("b: T")
    .Output("first: T")
    .Output("second: T")
    .Attr("T: type")
    .SetShapeFn(shape_fn::Unknown);

std::string Message(const absl::Status& s) { return std::string(s.message()); }

tensorflow::GraphDef Text(const std::string& text) {
  tensorflow::GraphDef gd;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &gd));
  return gd;
}

// Imports and returns the error message ("<ok>" on success).
std::string ImportError(const std::string& text) {
  Graph g;
  absl::Status s = ImportGraphDef(Text(text), &g);
  return s.ok() ? "<ok>" : Message(s);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh directory per test case, removed at the end.
struct TempDir {
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("quiver_graphdef_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string File(const std::string& name) const { return (path / name).string(); }
  std::filesystem::path path;
};

const char* kFloatPlaceholder = R"(
  node { name: "x" op: "Placeholder"
         attr { key: "dtype" value { type: DT_FLOAT } }
         attr { key: "shape" value { shape { dim { size: -1 } dim { size: 2 } } } } }
)";

// x[?,2] @ w[2,2] -> m; two-output op; Identity with a control input; a NoOp target.
const char* kModel = R"(
  node { name: "x" op: "Placeholder" device: "/device:CPU:0"
         attr { key: "dtype" value { type: DT_FLOAT } }
         attr { key: "shape" value { shape { dim { size: -1 } dim { size: 2 } } } } }
  node { name: "w" op: "Const"
         attr { key: "dtype" value { type: DT_FLOAT } }
         attr { key: "value" value { tensor { dtype: DT_FLOAT
                tensor_shape { dim { size: 2 } dim { size: 2 } }
                float_val: 1 float_val: 2 float_val: 3 float_val: 4 } } } }
  node { name: "init" op: "NoOp" }
  node { name: "m" op: "MatMul" input: "x" input: "w" device: "/job:localhost/device:CPU:0"
         attr { key: "T" value { type: DT_FLOAT } }
         attr { key: "transpose_b" value { b: true } } }
  node { name: "two" op: "GraphDefTestTwoOut" input: "m" input: "m:0"
         attr { key: "T" value { type: DT_FLOAT } } }
  node { name: "out" op: "Identity" input: "two:1" input: "^init" input: "^w"
         attr { key: "T" value { type: DT_FLOAT } } }
  versions { producer: 1087 }
)";

}  // namespace

TEST_CASE("Graph -> GraphDef -> Graph keeps names ops attrs inputs and devices", "[graphdef]") {
  Graph g1;
  REQUIRE(ImportGraphDef(Text(kModel), &g1).ok());
  CHECK(g1.num_nodes() == 6);
  CHECK(g1.producer_version() == 1087);
  // Defaults were added on import and shapes inferred.
  Node* m = g1.FindNode("m");
  REQUIRE(m != nullptr);
  CHECK(m->attrs().count("transpose_a") == 1);
  CHECK(m->output_shape(0) == TensorShape{-1, 2});
  CHECK(m->requested_device() == "/job:localhost/device:CPU:0");

  tensorflow::GraphDef exported;
  ExportGraphDef(g1, &exported);
  REQUIRE(exported.node_size() == 6);
  // Already-sorted input keeps its node order; inputs print as TF writes them.
  std::vector<std::string> names;
  for (const auto& n : exported.node()) names.push_back(n.name());
  CHECK(names == std::vector<std::string>{"x", "w", "init", "m", "two", "out"});
  const tensorflow::NodeDef& out = exported.node(5);
  CHECK(std::vector<std::string>(out.input().begin(), out.input().end()) ==
        std::vector<std::string>{"two:1", "^init", "^w"});
  CHECK(exported.node(4).input(0) == "m");
  CHECK(exported.node(4).input(1) == "m");
  CHECK(exported.node(0).device() == "/device:CPU:0");
  CHECK(exported.versions().producer() == 1087);

  Graph g2;
  REQUIRE(ImportGraphDef(exported, &g2).ok());
  REQUIRE(g2.num_nodes() == g1.num_nodes());
  for (Node* a : g1.nodes()) {
    INFO(a->name());
    Node* b = g2.FindNode(a->name());
    REQUIRE(b != nullptr);
    CHECK(b->op() == a->op());
    CHECK(b->requested_device() == a->requested_device());
    REQUIRE(b->attrs().size() == a->attrs().size());
    for (const auto& [key, value] : a->attrs()) {
      INFO(key);
      REQUIRE(b->attrs().count(key) == 1);
      CHECK(MessageDifferencer::Equals(b->attrs().at(key), value));
    }
    REQUIRE(b->num_inputs() == a->num_inputs());
    for (int i = 0; i < a->num_inputs(); ++i) {
      CHECK(b->input(i).node->name() == a->input(i).node->name());
      CHECK(b->input(i).index == a->input(i).index);
    }
    REQUIRE(b->control_in_edges().size() == a->control_in_edges().size());
    for (size_t i = 0; i < a->control_in_edges().size(); ++i) {
      CHECK(b->control_in_edges()[i]->src->name() == a->control_in_edges()[i]->src->name());
    }
  }
  tensorflow::GraphDef exported2;
  ExportGraphDef(g2, &exported2);
  CHECK(MessageDifferencer::Equals(exported, exported2));
}

TEST_CASE("Import sorts nodes that come before their inputs", "[graphdef]") {
  Graph g;
  REQUIRE(ImportGraphDef(Text(R"(
    node { name: "y" op: "Identity" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
  )" + std::string(kFloatPlaceholder)),
                         &g)
              .ok());
  tensorflow::GraphDef out;
  ExportGraphDef(g, &out);
  REQUIRE(out.node_size() == 2);
  CHECK(out.node(0).name() == "x");
  CHECK(out.node(1).name() == "y");
  CHECK(out.versions().producer() == 27);  // none recorded: today's producer
  CHECK(g.FindNode("y")->output_shape(0) == TensorShape{-1, 2});
}

TEST_CASE("Import lists every unknown op in one message", "[graphdef]") {
  std::string msg = ImportError(R"(
    node { name: "a" op: "Foo" }
    node { name: "b" op: "Bar" }
    node { name: "n" op: "NoOp" }
    node { name: "c" op: "Bar" input: "a" }
  )");
  CHECK(msg == "unknown ops: Foo (node 'a'), Bar (node 'b', 'c')");
}

TEST_CASE("Import reports structural errors naming the node", "[graphdef]") {
  SECTION("dangling input") {
    std::string msg = ImportError(R"(
      node { name: "y" op: "Identity" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
    )");
    CHECK(msg == "node 'y' (Identity) has input 'x:0' but there is no node named 'x'");
  }
  SECTION("dangling control input") {
    CHECK_THAT(ImportError(R"(node { name: "y" op: "NoOp" input: "^ghost" })"),
               Catch::Contains("node 'y' (NoOp) has control input '^ghost'"));
  }
  SECTION("output index out of range") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "y" op: "Identity" input: "x:3" attr { key: "T" value { type: DT_FLOAT } } }
    )");
    CHECK_THAT(msg, Catch::Contains("node 'y' (Identity) has input 'x:3'"));
    CHECK_THAT(msg, Catch::Contains("has 1 output"));
  }
  SECTION("malformed input name") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "y" op: "Identity" input: "x:abc" attr { key: "T" value { type: DT_FLOAT } } }
    )");
    CHECK_THAT(msg, Catch::Contains("node 'y' (Identity)"));
    CHECK_THAT(msg, Catch::Contains("x:abc"));
  }
  SECTION("cycle") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "a" op: "MatMul" input: "x" input: "b"
             attr { key: "T" value { type: DT_FLOAT } } }
      node { name: "b" op: "Identity" input: "a" attr { key: "T" value { type: DT_FLOAT } } }
      node { name: "after" op: "Identity" input: "b" attr { key: "T" value { type: DT_FLOAT } } }
    )");
    CHECK_THAT(msg, Catch::Contains("cycle"));
    CHECK_THAT(msg, Catch::Contains("'a' (MatMul) -> 'b' (Identity) -> 'a' (MatMul)") ||
                        Catch::Contains("'b' (Identity) -> 'a' (MatMul) -> 'b' (Identity)"));
    CHECK_THAT(msg, !Catch::Contains("'after' (Identity) ->"));
  }
  SECTION("self loop through a control input") {
    CHECK_THAT(ImportError(R"(node { name: "n" op: "NoOp" input: "^n" })"),
               Catch::Contains("'n' (NoOp) -> 'n' (NoOp)"));
  }
  SECTION("duplicate node") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "x" op: "NoOp" })");
    CHECK_THAT(msg, Catch::Contains("duplicate node name 'x'"));
  }
  SECTION("empty and invalid names") {
    CHECK_THAT(ImportError(R"(node { op: "NoOp" })"),
               Catch::Contains("node #0 (NoOp): node name is empty"));
    CHECK_THAT(ImportError(R"(node { name: "a b" op: "NoOp" })"),
               Catch::Contains("node 'a b' (NoOp): invalid node name"));
    CHECK_THAT(ImportError(R"(node { name: "_x" op: "NoOp" })"),
               Catch::Contains("invalid node name"));
    CHECK_THAT(ImportError(R"(node { name: "n" })"), Catch::Contains("node 'n': op is empty"));
  }
  SECTION("control input before a data input") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "n" op: "NoOp" }
      node { name: "y" op: "Identity" input: "^n" input: "x"
             attr { key: "T" value { type: DT_FLOAT } } })");
    CHECK_THAT(msg, Catch::Contains("node 'y' (Identity)"));
    CHECK_THAT(msg, Catch::Contains("control inputs ('^name') must come last"));
  }
  SECTION("wrong number of inputs") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "y" op: "Identity" input: "x" input: "x"
             attr { key: "T" value { type: DT_FLOAT } } })");
    CHECK_THAT(msg, Catch::Contains("node 'y' (Identity)"));
  }
  SECTION("graph not empty") {
    Graph g;
    REQUIRE(ImportGraphDef(Text(kFloatPlaceholder), &g).ok());
    absl::Status s = ImportGraphDef(Text(kFloatPlaceholder), &g);
    REQUIRE_FALSE(s.ok());
    CHECK_THAT(Message(s), Catch::Contains("empty graph"));
  }
}

TEST_CASE("Import reports attr and tensor errors naming the node", "[graphdef]") {
  SECTION("attr of the wrong type") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "m" op: "MatMul" input: "x" input: "x"
             attr { key: "T" value { type: DT_FLOAT } }
             attr { key: "transpose_a" value { i: 1 } } })");
    CHECK_THAT(msg, Catch::Contains("node 'm' (MatMul)"));
    CHECK_THAT(msg, Catch::Contains("transpose_a"));
  }
  SECTION("missing required attr") {
    std::string msg = ImportError(R"(node { name: "p" op: "Placeholder" })");
    CHECK_THAT(msg, Catch::Contains("node 'p' (Placeholder)"));
    CHECK_THAT(msg, Catch::Contains("dtype"));
  }
  SECTION("tensor_content size mismatch") {
    std::string msg = ImportError(R"(
      node { name: "c" op: "Const"
             attr { key: "dtype" value { type: DT_FLOAT } }
             attr { key: "value" value { tensor { dtype: DT_FLOAT
                    tensor_shape { dim { size: 2 } dim { size: 2 } }
                    tensor_content: "\000\000\000\000\000\000\000\000\000\000\000\000" } } } })");
    CHECK(msg ==
          "node 'c' (Const): attr 'value': tensor_content has 12 bytes but dtype float32 x shape "
          "[2,2] needs 16");
  }
  SECTION("too many typed values") {
    std::string msg = ImportError(R"(
      node { name: "c" op: "Const"
             attr { key: "dtype" value { type: DT_INT32 } }
             attr { key: "value" value { tensor { dtype: DT_INT32
                    tensor_shape { dim { size: 1 } } int_val: 1 int_val: 2 } } } })");
    CHECK_THAT(msg, Catch::Contains("node 'c' (Const): attr 'value': int_val has 2 values"));
  }
  SECTION("dtype mismatch between connected tensors") {
    std::string msg = ImportError(std::string(kFloatPlaceholder) + R"(
      node { name: "i" op: "Const"
             attr { key: "dtype" value { type: DT_INT32 } }
             attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { } int_val: 1 } } } }
      node { name: "m" op: "MatMul" input: "x" input: "i"
             attr { key: "T" value { type: DT_FLOAT } } })");
    CHECK_THAT(msg, Catch::Contains("node 'm' (MatMul)"));
    CHECK_THAT(msg, Catch::Contains("int32"));
  }
}

TEST_CASE("Legacy producers read an empty Placeholder shape as unknown", "[graphdef]") {
  google::protobuf::LogSilencer quiet;  // the text parser warns about the deprecated "version"
  const std::string node = R"(
    node { name: "p" op: "Placeholder"
           attr { key: "dtype" value { type: DT_FLOAT } }
           attr { key: "shape" value { shape { } } } } )";
  Graph old_graph;
  REQUIRE(ImportGraphDef(Text(node + "versions { producer: 21 }"), &old_graph).ok());
  Node* p = old_graph.FindNode("p");
  CHECK(p->attrs().at("shape").shape().unknown_rank());
  CHECK(p->output_shape(0).unknown_rank());

  Graph new_graph;
  REQUIRE(ImportGraphDef(Text(node + "versions { producer: 22 }"), &new_graph).ok());
  CHECK(new_graph.FindNode("p")->output_shape(0) == TensorShape{});

  // The deprecated top-level version counts as the producer.
  Graph deprecated;
  REQUIRE(ImportGraphDef(Text(node + "version: 10"), &deprecated).ok());
  CHECK(deprecated.producer_version() == 10);
  CHECK(deprecated.FindNode("p")->output_shape(0).unknown_rank());
}

TEST_CASE("GraphDef files round-trip in binary and text and are written atomically", "[graphdef]") {
  TempDir dir;
  const tensorflow::GraphDef gd = Text(kModel);

  const std::string pb = dir.File("model.pb");
  REQUIRE(WriteGraphDefFile(gd, pb).ok());
  auto back = ReadGraphDefFile(pb);
  REQUIRE(back.ok());
  CHECK(MessageDifferencer::Equals(*back, gd));
  CHECK(ReadBytes(pb) == gd.SerializeAsString());

  const std::string pbtxt = dir.File("model.pbtxt");
  REQUIRE(WriteGraphDefFile(gd, pbtxt).ok());
  CHECK_THAT(ReadBytes(pbtxt), Catch::Contains("node {"));
  auto text_back = ReadGraphDefFile(pbtxt);
  REQUIRE(text_back.ok());
  CHECK(MessageDifferencer::Equals(*text_back, gd));

  // A text GraphDef saved under a binary name still loads.
  const std::string misnamed = dir.File("text_really.pb");
  std::string text;
  google::protobuf::TextFormat::PrintToString(gd, &text);
  WriteBytes(misnamed, text);
  auto misnamed_back = ReadGraphDefFile(misnamed);
  REQUIRE(misnamed_back.ok());
  CHECK(MessageDifferencer::Equals(*misnamed_back, gd));

  // Overwriting replaces the file; no temporary files are left behind.
  REQUIRE(WriteGraphDefFile(Text(kFloatPlaceholder), pb).ok());
  CHECK(ReadGraphDefFile(pb)->node_size() == 1);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    CHECK_THAT(entry.path().filename().string(), !Catch::Contains(".tmp."));
  }

  // A write that cannot happen reports the path and creates nothing.
  absl::Status s = WriteGraphDefFile(gd, dir.File("no/such/dir/model.pb"));
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(Message(s), Catch::Contains("no/such/dir/model.pb"));

  auto loaded = LoadGraph(pbtxt);
  REQUIRE(loaded.ok());
  CHECK((*loaded)->num_nodes() == 6);
}

TEST_CASE("ReadGraphDefFile reads text with unknown fields and names missing files", "[graphdef]") {
  TempDir dir;
  const std::string path = dir.File("with_library.pbtxt");
  WriteBytes(path, std::string(kFloatPlaceholder) + R"(
    library { function { signature { name: "f" } } }
    versions { producer: 27 min_consumer: 12 }
  )");
  auto gd = ReadGraphDefFile(path);
  REQUIRE(gd.ok());
  CHECK(gd->node_size() == 1);
  CHECK(gd->versions().min_consumer() == 12);

  const std::string bad = dir.File("bad.pbtxt");
  WriteBytes(bad, "node { name: \"x\" op: \n");
  auto err = ReadGraphDefFile(bad);
  REQUIRE_FALSE(err.ok());
  CHECK_THAT(Message(err.status()), Catch::Contains("bad.pbtxt"));
  CHECK_THAT(Message(err.status()), Catch::Contains("line"));

  auto missing = ReadGraphDefFile(dir.File("missing.pb"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(missing.status()), Catch::Contains("missing.pb"));

  auto missing_graph = LoadGraph(dir.File("missing.pb"));
  CHECK(missing_graph.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("Unknown binary fields survive a read/write round trip", "[graphdef]") {
  TempDir dir;
  // GraphDef.library (field 2) is not in our subset: a FunctionDefLibrary holding one
  // FunctionDef whose signature is named "f". Tag 0x12 = field 2, length-delimited.
  const std::string library("\x12\x07\x0a\x05\x0a\x03\x0a\x01\x66", 9);
  const std::string bytes = Text(kModel).SerializeAsString() + library;
  const std::string in = dir.File("in.pb");
  WriteBytes(in, bytes);
  auto gd = ReadGraphDefFile(in);
  REQUIRE(gd.ok());
  CHECK(gd->node_size() == 6);
  const std::string out = dir.File("out.pb");
  REQUIRE(WriteGraphDefFile(*gd, out).ok());
  CHECK_THAT(ReadBytes(out), Catch::Contains(library));

  // A GraphDef with only a library is still a GraphDef.
  WriteBytes(in, library);
  CHECK(ReadGraphDefFile(in).ok());
}

TEST_CASE("Truncated and random files are errors, not crashes", "[graphdef]") {
  TempDir dir;
  const std::string good = Text(kModel).SerializeAsString();
  const std::string path = dir.File("cut.pb");
  // Cutting inside the last field (versions) or in the middle of a node must fail.
  for (size_t len : {good.size() - 1, good.size() / 2, size_t{3}}) {
    INFO(len);
    WriteBytes(path, good.substr(0, len));
    auto gd = ReadGraphDefFile(path);
    REQUIRE_FALSE(gd.ok());
    CHECK(Message(gd.status()) == "'" + path + "' is not a GraphDef (binary or text protobuf)");
  }
  // Every prefix either fails or parses to something importable; nothing crashes.
  for (size_t len = 0; len < good.size(); ++len) {
    WriteBytes(path, good.substr(0, len));
    auto gd = LoadGraph(path);
    (void)gd;
  }
  std::mt19937 rng(7);
  int accepted = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::string bytes(1 + rng() % 200, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    WriteBytes(path, bytes);
    accepted += ReadGraphDefFile(path).ok();
  }
  CHECK(accepted == 0);
  // Random bytes that parse as a protobuf of unknown fields (varint field 15) are rejected.
  WriteBytes(path, std::string("\x78\x01\x78\x02", 4));
  CHECK_FALSE(ReadGraphDefFile(path).ok());
  WriteBytes(path, std::string("\x18\x00", 2));  // version = 0: an empty message
  CHECK_FALSE(ReadGraphDefFile(path).ok());
  // An empty file is an empty GraphDef.
  WriteBytes(path, "");
  auto empty = ReadGraphDefFile(path);
  REQUIRE(empty.ok());
  CHECK(empty->node_size() == 0);
}

TEST_CASE("Real-world frozen graphs parse", "[graphdef]") {
  const std::filesystem::path dir =
      std::filesystem::path(QUIVER_SOURCE_DIR) / ".." / "shared" / "data" / "realworld";
  if (!std::filesystem::exists(dir)) {
    WARN("QUIVER_SKIPPED: " << dir << " not present");
    return;
  }
  const std::pair<const char*, int> files[] = {
      {"cifar10_cnn_utensor.pb", 49},
      {"kws_ds_cnn_s_arm.pb", 152},
      {"mnist_autoencoder_benchtf_ae0_tf2onnx.pb", 30},
      {"mnist_mlp_benchtf_fc_tf2onnx.pb", 24},
      {"mnist_mlp_fcfeed_chaow94.pb", 21},
      {"nnfusion_reduce_mean.pb", 3},
      {"tfrust_addition_addv2.pb", 3},
  };
  for (const auto& [name, nodes] : files) {
    INFO(name);
    auto gd = ReadGraphDefFile((dir / name).string());
    REQUIRE(gd.ok());
    CHECK(gd->node_size() == nodes);
  }
  for (const char* name : {"tb_demo_answer42.pbtxt", "tf_contrib_go_add_three_dim_graph.pbtxt"}) {
    INFO(name);
    auto gd = ReadGraphDefFile((dir / name).string());
    REQUIRE(gd.ok());
    CHECK(gd->node_size() > 0);
  }
}

TEST_CASE("TensorFlow-written graphs survive import and export", "[graphdef]") {
  const std::filesystem::path root = std::filesystem::path(QUIVER_TEST_DATA_DIR) / "tf";
  if (!std::filesystem::exists(root)) {
    WARN("QUIVER_SKIPPED: " << root << " not present");
    return;
  }
  int checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (name != "graph.pb" && name != "graph.pbtxt") continue;
    INFO(entry.path().string());
    auto original = ReadGraphDefFile(entry.path().string());
    REQUIRE(original.ok());
    // Function calls are inlined and TF1 loops functionalized on import, so those graphs
    // change by design (function_inlining_test.cc and functionalize_loops_test.cc check it).
    if (original->library().function_size() > 0 || HasV1Loops(*original)) continue;
    Graph g;
    absl::Status s = ImportGraphDef(*original, &g);
    // Fixtures may be ahead of the op registry; those are other tests' business.
    if (!s.ok() && absl::StartsWith(s.message(), "unknown ops:")) continue;
    REQUIRE(s.ok());
    tensorflow::GraphDef exported;
    ExportGraphDef(g, &exported);
    REQUIRE(exported.node_size() == original->node_size());
    // Every node keeps TensorFlow's op, device, attrs (defaults may be added) and inputs
    // ("x:0" is written "x").
    for (const tensorflow::NodeDef& want : original->node()) {
      INFO(want.name());
      auto it = std::find_if(exported.node().begin(), exported.node().end(),
                             [&](const auto& n) { return n.name() == want.name(); });
      REQUIRE(it != exported.node().end());
      CHECK(it->op() == want.op());
      CHECK(it->device() == want.device());
      for (const auto& [key, value] : want.attr()) {
        INFO(key);
        REQUIRE(it->attr().count(key) == 1);
        CHECK(MessageDifferencer::Equals(it->attr().at(key), value));
      }
      REQUIRE(it->input_size() == want.input_size());
      for (int i = 0; i < want.input_size(); ++i) {
        std::string in = want.input(i);
        if (absl::EndsWith(in, ":0")) in.resize(in.size() - 2);
        CHECK(it->input(i) == in);
      }
    }
    Graph again;
    REQUIRE(ImportGraphDef(exported, &again).ok());
    tensorflow::GraphDef exported2;
    ExportGraphDef(again, &exported2);
    CHECK(MessageDifferencer::Equals(exported, exported2));
    ++checked;
  }
  CHECK(checked > 0);
}

TEST_CASE("Mutated GraphDefs import or fail cleanly", "[graphdef]") {
  const std::string good = Text(kModel).SerializeAsString();
  google::protobuf::LogSilencer quiet;  // invalid UTF-8 in mutated strings is logged
  std::mt19937 rng(99);
  int imported = 0, parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    tensorflow::GraphDef gd;
    if (!gd.ParseFromString(bytes)) continue;
    ++parsed;
    Graph g;
    imported += ImportGraphDef(gd, &g).ok();  // any status is fine; it must return
    tensorflow::GraphDef out;
    ExportGraphDef(g, &out);
  }
  // Both outcomes occur: the mutations are neither all rejected nor all harmless.
  CHECK(parsed > imported);
  CHECK(imported > 0);
}
