// Runs the real `quiver` binary on good and bad inputs: every failure must be a non-zero
// exit with a one-line message naming the problem.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "graph/attr_value.h"
#include "graph/npy.h"
#include "proto/graph.pb.h"
#include "tests/tools/cli_test_util.h"

using namespace quiver;
namespace fs = std::filesystem;

namespace {

using cli_test::RunCli;

std::string TempPath(const std::string& name) {
  return (cli_test::ProcessTempDir() / name).string();
}

std::string WriteGraph(const tensorflow::GraphDef& def, const std::string& name) {
  std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << def.SerializeAsString();
  return path;
}

tensorflow::NodeDef* AddNode(tensorflow::GraphDef* def, const std::string& name,
                             const std::string& op, std::vector<std::string> inputs = {}) {
  auto* n = def->add_node();
  n->set_name(name);
  n->set_op(op);
  for (auto& i : inputs) n->add_input(i);
  return n;
}

void SetAttr(tensorflow::NodeDef* n, const std::string& key, const AttrValue& v) {
  (*n->mutable_attr())[key] = v;
}

// x: Placeholder float [?,3]; y = Relu(x) * 2
tensorflow::GraphDef GoodGraph() {
  tensorflow::GraphDef def;
  auto* x = AddNode(&def, "x", "Placeholder");
  SetAttr(x, "dtype", MakeAttr(DT_FLOAT));
  SetAttr(x, "shape", MakeAttr(TensorShape{-1, 3}));
  auto* r = AddNode(&def, "r", "Relu", {"x"});
  SetAttr(r, "T", MakeAttr(DT_FLOAT));
  auto* two = AddNode(&def, "two", "Const");
  SetAttr(two, "dtype", MakeAttr(DT_FLOAT));
  SetAttr(two, "value", MakeAttr(Tensor::Scalar<float>(2.0f)));
  auto* y = AddNode(&def, "y", "Mul", {"r", "two"});
  SetAttr(y, "T", MakeAttr(DT_FLOAT));
  return def;
}

bool OneLine(const std::string& s) { return !s.empty() && s.find('\n') == s.size() - 1; }

}  // namespace

TEST_CASE("quiver run evaluates a graph and writes .npy outputs", "[cli]") {
  std::string graph = WriteGraph(GoodGraph(), "good.pb");
  std::string feed = TempPath("x.npy");
  REQUIRE(WriteNpyFile(Tensor::FromVector<float>({-1, 2, -3, 4, 5, -6}, {2, 3}), feed).ok());
  std::string out_dir = TempPath("out");
  auto r = RunCli("run " + graph + " --feed x=" + feed + " --fetch y:0 --out " + out_dir);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("y:0: float32 [2,3]"));
  auto y = ReadNpyFile(out_dir + "/y_0.npy");
  REQUIRE(y.ok());
  REQUIRE(y->ToVector<float>() == std::vector<float>{0, 4, 0, 8, 10, 0});

  auto json = RunCli("run " + graph + " --feed x=" + feed + " --fetch y --format json");
  REQUIRE(json.exit_code == 0);
  REQUIRE_THAT(json.out, Catch::Contains("\"name\": \"y\"") && Catch::Contains("\"max\": 10"));

  // Any pass may be left out; the result is the same (2 * relu(x)); a misspelt pass is refused.
  auto plain = RunCli("run " + graph + " --feed x=" + feed +
                      " --fetch y --format json --disable elementwise_fusion --disable cse");
  INFO(plain.err);
  REQUIRE(plain.exit_code == 0);
  CHECK_THAT(plain.out, Catch::Contains("\"max\": 10"));
  CHECK(RunCli("run " + graph + " --feed x=" + feed + " --fetch y --disable nope").exit_code == 2);
}

TEST_CASE("quiver inspect summarises inputs, outputs and ops", "[cli]") {
  std::string graph = WriteGraph(GoodGraph(), "inspect.pb");
  auto r = RunCli("inspect " + graph);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("x  float32 [?,3]") && Catch::Contains("y  float32 [?,3]") &&
                          Catch::Contains("Relu"));
  auto j = RunCli("inspect " + graph + " --format json");
  REQUIRE(j.exit_code == 0);
  REQUIRE_THAT(j.out, Catch::Contains("\"nodes\": 4") && Catch::Contains("\"Mul\": 1"));
}

TEST_CASE("quiver ops lists each op's kernels per device and its gradient", "[cli]") {
  auto r = RunCli("ops --op MatMul --op Shape --op BroadcastGradientArgs");
  REQUIRE(r.exit_code == 0);
  CAPTURE(r.out);
  // MatMul: float and integer CPU kernels, differentiable; Shape: every dtype, declared
  // non-differentiable; BroadcastGradientArgs: only int32/int64 (its operands are shapes).
  CHECK_THAT(r.out,
             Catch::Matches(R"((.|\n)*MatMul +float32,float64,int32,int64 .* yes\n(.|\n)*)"));
  CHECK_THAT(r.out, Catch::Matches(R"((.|\n)*Shape +all .* none\n(.|\n)*)"));
  CHECK_THAT(r.out,
             Catch::Matches(R"((.|\n)*BroadcastGradientArgs +int32,int64 +- +none\n(.|\n)*)"));
  CHECK_THAT(r.out, Catch::Contains("3 ops: 3 with a CPU kernel"));

  auto j = RunCli("ops --op Relu --format json");
  REQUIRE(j.exit_code == 0);
  CHECK_THAT(j.out,
             Catch::Contains(
                 R"({"op": "Relu", "kernels": {"CPU": ["float32", "float64", "int32", "int64"])"));
  CHECK_THAT(j.out, Catch::Contains(R"("gradient": "yes"})"));

  // Every op the registry knows has a CPU kernel: the CPU is the device of last resort.
  auto missing = RunCli("ops --device cpu --missing");
  REQUIRE(missing.exit_code == 0);
  CHECK_THAT(missing.out, Catch::Contains("\n0 ops:"));

  auto unknown = RunCli("ops --op NoSuchOp");
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("unknown op 'NoSuchOp'"));
  auto bad = RunCli("ops --missing");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--missing needs --device"));
}

TEST_CASE("quiver place --fetch reports one step as a Session compiles it", "[cli]") {
  // GoodGraph plus a branch the step y does not need.
  tensorflow::GraphDef def = GoodGraph();
  auto* unused = AddNode(&def, "unused", "Tanh", {"x"});
  SetAttr(unused, "T", MakeAttr(DT_FLOAT));
  std::string graph = WriteGraph(def, "place_step.pb");
  auto whole = RunCli("place " + graph);
  REQUIRE(whole.exit_code == 0);
  CHECK_THAT(whole.out, Catch::Contains("unused"));
  CHECK_THAT(whole.out, Catch::Contains("totals: 5 nodes"));
  // The step y fed a [4, 3] x: pruned to x, r, two, y, then r and y fused into one
  // _FusedElementwise of 2 instructions: 2 x 12 FLOPs.
  auto step = RunCli("place " + graph + " --fetch y --feed x=4x3");
  REQUIRE(step.exit_code == 0);
  CAPTURE(step.out);
  CHECK_THAT(step.out, !Catch::Contains("unused"));
  CHECK_THAT(step.out,
             Catch::Contains("totals: 3 nodes on 1 devices, 0 transfers, 0 bytes, 24 FLOPs"));
#ifdef QUIVER_WITH_CUDA
  // Planning for a GPU machine (from any machine): the input goes in, nothing else moves.
  auto gpu = RunCli("place " + graph + " --soft --gpus 1 --fetch y --feed x=4x3");
  REQUIRE(gpu.exit_code == 0);
  CAPTURE(gpu.out);
  CHECK_THAT(gpu.out, Catch::Contains("transfers (1):"));
  CHECK_THAT(gpu.out, Catch::Contains("x:0  CPU:0 -> GPU:0  float32[4,3]  48 bytes"));
#else
  auto gpu = RunCli("place " + graph + " --gpus 1");
  CHECK(gpu.exit_code == 2);
  CHECK_THAT(gpu.err, Catch::Contains("needs a build with the CUDA device"));
#endif
  struct Bad {
    std::string args;
    int exit_code;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"--fetch nope", 4, "--fetch: no tensor 'nope'"},
           {"--fetch y --feed x=4xq", 2, "dims joined by 'x'"},
           {"--fetch y --feed nope=3", 4, "--feed: no node 'nope'"},
           {"--target nope", 4, "--target: no node 'nope'"},
           {"--feed x=4x3", 2, "describe a step"},
           {"--fetch y --feed x=4x5", 4,
            "cannot feed shape [4,5] for 'x:0', which has shape [?,3]"},
       }) {
    CAPTURE(bad.args);
    auto r = RunCli("place " + graph + " " + bad.args);
    CHECK(r.exit_code == bad.exit_code);
    CHECK_THAT(r.err, Catch::Contains(bad.message));
    CHECK(OneLine(r.err));
  }
}

TEST_CASE("quiver optimize --feed NAME=DIMS specialises the graph to that shape", "[cli]") {
  std::string graph = WriteGraph(GoodGraph(), "opt_feed.pb");
  std::string out = TempPath("opt_feed_out.pb");
  auto r = RunCli("optimize " + graph + " -o " + out + " --fetch y --feed x=4x3");
  REQUIRE(r.exit_code == 0);
  auto inspect = RunCli("inspect " + out);
  REQUIRE(inspect.exit_code == 0);
  CHECK_THAT(inspect.out, Catch::Contains("x  float32 [4,3]"));
  // The optimized file computes what the original does for that shape.
  std::string feed = TempPath("opt_feed_x.npy");
  REQUIRE(WriteNpyFile(Tensor::FromVector<float>({-1, 2, -3, 4, 5, -6, 0, 1, 2, 3, -4, 5}, {4, 3}),
                       feed)
              .ok());
  std::string dir = TempPath("opt_feed_run");
  auto run = RunCli("run " + out + " --feed x=" + feed + " --fetch y --out " + dir);
  REQUIRE(run.exit_code == 0);
  auto y = ReadNpyFile(dir + "/y.npy");
  REQUIRE(y.ok());
  CHECK(y->ToVector<float>() == std::vector<float>{0, 4, 0, 8, 10, 0, 0, 2, 4, 6, 0, 10});
  auto bad = RunCli("optimize " + graph + " -o " + out + " --feed x=4x4");
  CHECK(bad.exit_code == 4);
  CHECK_THAT(bad.err, Catch::Contains("cannot feed shape [4,4] for 'x', which has shape [?,3]"));
  auto not_placeholder = RunCli("optimize " + graph + " -o " + out + " --feed r=4x3");
  CHECK(not_placeholder.exit_code == 4);
  CHECK_THAT(not_placeholder.err, Catch::Contains("only a Placeholder's shape can be given"));
}

TEST_CASE("quiver refuses bad input with a one-line error and a non-zero exit", "[cli][errors]") {
  std::string good_graph = WriteGraph(GoodGraph(), "good2.pb");
  std::string feed = TempPath("x2.npy");
  REQUIRE(WriteNpyFile(Tensor::FromVector<float>({1, 2, 3}, {1, 3}), feed).ok());

  struct Case {
    std::string name;
    std::string args;
    int exit_code;
    std::vector<std::string> message_parts;
  };
  std::vector<Case> cases;

  {  // truncated protobuf
    std::string bytes = GoodGraph().SerializeAsString();
    std::string path = TempPath("truncated.pb");
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    cases.push_back({"truncated", "run " + path + " --fetch y", 3, {"truncated.pb"}});
  }
  {  // not a protobuf at all
    std::string path = TempPath("garbage.pb");
    std::ofstream(path, std::ios::binary) << "\x89PNG\r\n\x1a\n this is not a graph \xff\xfe";
    cases.push_back({"garbage", "inspect " + path, 3, {"garbage.pb"}});
  }
  {  // unknown ops, all listed at once
    auto def = GoodGraph();
    AddNode(&def, "a", "FrobnicateV7", {"x"});
    AddNode(&def, "b", "Teleport", {"x"});
    cases.push_back({"unknown ops",
                     "run " + WriteGraph(def, "unknown.pb") + " --fetch y",
                     3,
                     {"FrobnicateV7", "Teleport"}});
  }
  {  // dangling input
    auto def = GoodGraph();
    def.mutable_node(1)->set_input(0, "ghost");
    cases.push_back(
        {"dangling", "run " + WriteGraph(def, "dangling.pb") + " --fetch y", 3, {"ghost"}});
  }
  {  // cycle: r <- y
    auto def = GoodGraph();
    def.mutable_node(1)->set_input(0, "y");
    cases.push_back({"cycle", "run " + WriteGraph(def, "cycle.pb") + " --fetch y", 3, {"cycle"}});
  }
  {  // wrong attr type
    auto def = GoodGraph();
    (*def.mutable_node(1)->mutable_attr())["T"] = MakeAttr(int64_t{3});
    cases.push_back(
        {"attr type", "run " + WriteGraph(def, "attr.pb") + " --fetch y", 3, {"'T'", "int"}});
  }
  {  // tensor_content size mismatch
    auto def = GoodGraph();
    auto* t = (*def.mutable_node(2)->mutable_attr())["value"].mutable_tensor();
    t->clear_float_val();
    t->set_tensor_content(std::string(7, '\0'));
    cases.push_back(
        {"content size", "run " + WriteGraph(def, "content.pb") + " --fetch y", 3, {"two"}});
  }
  {  // feed of the wrong dtype
    std::string ints = TempPath("ints.npy");
    REQUIRE(WriteNpyFile(Tensor::FromVector<int32_t>({1, 2, 3}, {1, 3}), ints).ok());
    cases.push_back({"feed dtype",
                     "run " + good_graph + " --feed x=" + ints + " --fetch y",
                     4,
                     {"int32", "float32"}});
  }
  {  // feed of the wrong shape
    std::string wide = TempPath("wide.npy");
    REQUIRE(WriteNpyFile(Tensor::FromVector<float>({1, 2, 3, 4}, {1, 4}), wide).ok());
    cases.push_back({"feed shape",
                     "run " + good_graph + " --feed x=" + wide + " --fetch y",
                     4,
                     {"[1,4]", "[?,3]"}});
  }
  cases.push_back({"missing fetch node",
                   "run " + good_graph + " --feed x=" + feed + " --fetch nope",
                   4,
                   {"nope"}});
  cases.push_back(
      {"missing required feed", "run " + good_graph + " --fetch y", 4, {"You must feed", "'x'"}});
  cases.push_back(
      {"missing graph file", "run /nonexistent/g.pb --fetch y", 3, {"/nonexistent/g.pb"}});
  cases.push_back(
      {"bad npy", "run " + good_graph + " --feed x=" + good_graph + " --fetch y", 4, {"feed 'x'"}});
  cases.push_back(
      {"unknown flag", "run " + good_graph + " --fetch y --frobnicate", 2, {"--frobnicate"}});

  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto r = RunCli(c.args);
      INFO("stderr: " << r.err);
      REQUIRE(r.exit_code == c.exit_code);
      REQUIRE(OneLine(r.err));
      for (const std::string& part : c.message_parts) REQUIRE_THAT(r.err, Catch::Contains(part));
    }
  }
}

TEST_CASE("quiver place on a whole NCHW graph reports the lowered NHWC ops", "[cli][placement]") {
  // tests/data/nchw/conv: six NCHW Conv2Ds and two Conv2DBackpropInputs on one input x. Every
  // step runs them as NHWC ops between Transposes, so the whole-graph report must too.
  const std::string graph = std::string(QUIVER_TEST_DATA_DIR) + "/nchw/conv/graph.pb";
  auto r = RunCli("place " + graph);
  REQUIRE(r.exit_code == 0);
  CAPTURE(r.out);
  // x goes to NHWC once (shared by the six Conv2Ds); each of the 8 ops is renamed N/nhwc and a
  // Transpose back to NCHW keeps its name N: 9 Transposes.
  CHECK_THAT(r.out, Catch::Contains("same_s1/input_nhwc"));
  CHECK_THAT(r.out, Catch::Contains("same_s1/nhwc"));
  CHECK_THAT(r.out, Catch::Contains("deconv/nhwc"));
  CHECK_THAT(r.out, Catch::Contains("Conv2D x6, Conv2DBackpropInput x2"));
  CHECK_THAT(r.out, Catch::Contains("Transpose x9"));
}

TEST_CASE("quiver place reports devices, reasons and transfers", "[cli][placement]") {
  // x on CPU:0 feeds r = Relu(x) requested on /cpu:1, then y = r * two back on /cpu:0:
  // by hand, 2 transfers (x:0 to CPU:1, r:0 to CPU:0); 'two' is a generator that follows y.
  auto def = GoodGraph();
  def.mutable_node(0)->set_device("/cpu:0");
  def.mutable_node(1)->set_device("/cpu:1");
  def.mutable_node(3)->set_device("/cpu:0");
  std::string graph = WriteGraph(def, "placed.pb");
  auto text = RunCli("place " + graph + " --virtual-devices 1");
  REQUIRE(text.exit_code == 0);
  REQUIRE_THAT(text.out,
               Catch::Contains("explicit: requested /cpu:1") && Catch::Contains("transfers (2)"));
  auto json = RunCli("place " + graph + " --virtual-devices 1 --format json");
  REQUIRE(json.exit_code == 0);
  REQUIRE_THAT(json.out, Catch::Contains("\"devices\"") && Catch::Contains("\"nodes\"") &&
                             Catch::Contains("\"transfers\"") &&
                             Catch::Contains("\"tensor\": \"x:0\""));
  // Without the virtual device the explicit /cpu:1 request is impossible unless soft.
  auto hard = RunCli("place " + graph);
  REQUIRE(hard.exit_code == 3);
  REQUIRE(OneLine(hard.err));
  REQUIRE_THAT(hard.err, Catch::Contains("'r'") && Catch::Contains("/cpu:1"));
  REQUIRE(RunCli("place " + graph + " --soft").exit_code == 0);
  // quiver run gives the same numbers on 2 devices as on one.
  std::string feed = TempPath("x3.npy");
  REQUIRE(WriteNpyFile(Tensor::FromVector<float>({-1, 2, 3}, {1, 3}), feed).ok());
  auto run =
      RunCli("run " + graph + " --virtual-devices 1 --feed x=" + feed + " --fetch y --format json");
  REQUIRE(run.exit_code == 0);
  REQUIRE_THAT(run.out, Catch::Contains("\"max\": 6") && Catch::Contains("\"min\": 0"));
}

TEST_CASE("quiver optimize writes a smaller graph that computes the same", "[cli][passes]") {
  // y = Relu(x) * two, plus a dead branch ('dead', pruned: y2 does not need it) and a
  // constant expression c2 = two * two (folded into a Const).
  auto def = GoodGraph();
  auto* dead = AddNode(&def, "dead", "Neg", {"x"});
  SetAttr(dead, "T", MakeAttr(DT_FLOAT));
  auto* c2 = AddNode(&def, "c2", "Mul", {"two", "two"});
  SetAttr(c2, "T", MakeAttr(DT_FLOAT));
  auto* y2 = AddNode(&def, "y2", "Mul", {"y", "c2"});
  SetAttr(y2, "T", MakeAttr(DT_FLOAT));
  std::string graph = WriteGraph(def, "to_optimize.pb");
  std::string out = TempPath("optimized.pb");
  auto r = RunCli("optimize " + graph + " -o " + out + " --fetch y2 --report");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("prune") && Catch::Contains("constant_folding"));
  auto inspect = RunCli("inspect " + out + " --format json");
  REQUIRE(inspect.exit_code == 0);
  REQUIRE_THAT(inspect.out, !Catch::Contains("\"Neg\""));
  std::string feed = TempPath("x4.npy");
  REQUIRE(WriteNpyFile(Tensor::FromVector<float>({-1, 2, 3}, {1, 3}), feed).ok());
  // y2 = relu(x) * 2 * 4 = [0, 16, 24] from both graphs.
  for (const std::string& g : {graph, out}) {
    auto run = RunCli("run " + g + " --feed x=" + feed + " --fetch y2 --format json");
    REQUIRE(run.exit_code == 0);
    REQUIRE_THAT(run.out, Catch::Contains("\"max\": 24") && Catch::Contains("\"min\": 0"));
  }
}

TEST_CASE("quiver bench reports latency, per-op times and memory", "[cli][bench]") {
  std::string graph = WriteGraph(GoodGraph(), "bench.pb");
  std::string feed = TempPath("x5.npy");
  REQUIRE(WriteNpyFile(Tensor::FromVector<float>(std::vector<float>(3000, 1.0f), {1000, 3}), feed)
              .ok());
  auto r = RunCli("bench " + graph + " --feed x=" + feed +
                  " --fetch y --iters 5 --warmup 1 --optimize-level 0 --format json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Every node that ran appears in the op table: Relu, Mul and the Const 'two' (x is fed).
  REQUIRE_THAT(r.out, Catch::Contains("\"iters\": 5") && Catch::Contains("\"op\": \"Relu\"") &&
                          Catch::Contains("\"op\": \"Mul\"") && Catch::Contains("\"p50\""));
  // By default bench runs what a Session runs: the pipeline fuses Relu -> Mul(two) into one
  // element-wise kernel, so neither op runs on its own.
  auto fused =
      RunCli("bench " + graph + " --feed x=" + feed + " --fetch y --iters 2 --format json");
  INFO(fused.err);
  REQUIRE(fused.exit_code == 0);
  CHECK_THAT(fused.out, Catch::Contains("\"op\": \"_FusedElementwise\"") &&
                            !Catch::Contains("\"op\": \"Relu\""));
  REQUIRE(RunCli("bench " + graph + " --fetch y --optimize-level 2").exit_code == 2);
  // --disable leaves one pass out: without element-wise fusion Relu runs on its own again.
  auto unfused = RunCli("bench " + graph + " --feed x=" + feed +
                        " --fetch y --iters 2 --format json --disable elementwise_fusion");
  INFO(unfused.err);
  REQUIRE(unfused.exit_code == 0);
  CHECK_THAT(unfused.out, Catch::Contains("\"op\": \"Relu\"") &&
                              !Catch::Contains("\"op\": \"_FusedElementwise\""));
  auto unknown = RunCli("bench " + graph + " --fetch y --disable fusoin");
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("unknown pass 'fusoin' (passes: prune,"));
  // The run allocates at least one 1000x3 float32 result (12000 bytes); Mul may reuse Relu's
  // buffer, so only the lower bound is certain.
  size_t at = r.out.find("\"peak_tensor_bytes\": ");
  REQUIRE(at != std::string::npos);
  REQUIRE(std::atoll(r.out.c_str() + at + 21) >= 12000);
  REQUIRE(RunCli("bench " + graph + " --fetch y --iters 0").exit_code == 2);
}

TEST_CASE("quiver run maps limits and timeouts to their own exit codes", "[cli][errors]") {
  // A Fill whose declared size (10^18 floats) cannot exist: a resource-limit error before any
  // allocation, exit 7.
  tensorflow::GraphDef huge;
  auto* dims = AddNode(&huge, "dims", "Const");
  SetAttr(dims, "dtype", MakeAttr(DT_INT64));
  SetAttr(dims, "value", MakeAttr(Tensor::FromVector<int64_t>({1000000, 1000000, 1000000}, {3})));
  auto* one = AddNode(&huge, "one", "Const");
  SetAttr(one, "dtype", MakeAttr(DT_FLOAT));
  SetAttr(one, "value", MakeAttr(Tensor::Scalar<float>(1.0f)));
  auto* fill = AddNode(&huge, "big", "Fill", {"dims", "one"});
  SetAttr(fill, "T", MakeAttr(DT_FLOAT));
  SetAttr(fill, "index_type", MakeAttr(DT_INT64));
  auto r = RunCli("run " + WriteGraph(huge, "huge.pb") + " --fetch big");
  INFO(r.err);
  CHECK(r.exit_code == 7);
  CHECK(OneLine(r.err));

  // Eight chained 1024x1024 MatMuls (~2 GFLOP each) take far longer than 1 ms: exit 8.
  tensorflow::GraphDef slow;
  auto* sdims = AddNode(&slow, "dims", "Const");
  SetAttr(sdims, "dtype", MakeAttr(DT_INT32));
  SetAttr(sdims, "value", MakeAttr(Tensor::FromVector<int32_t>({1024, 1024}, {2})));
  auto* half = AddNode(&slow, "half", "Const");
  SetAttr(half, "dtype", MakeAttr(DT_FLOAT));
  SetAttr(half, "value", MakeAttr(Tensor::Scalar<float>(0.5f)));
  SetAttr(AddNode(&slow, "a", "Fill", {"dims", "half"}), "T", MakeAttr(DT_FLOAT));
  std::string prev = "a";
  for (int i = 0; i < 8; ++i) {
    const std::string name = absl::StrCat("m", i);
    SetAttr(AddNode(&slow, name, "MatMul", {prev, "a"}), "T", MakeAttr(DT_FLOAT));
    prev = name;
  }
  auto t = RunCli("run " + WriteGraph(slow, "slow.pb") + " --fetch " + prev +
                  " --optimize-level 0 --timeout-ms 1");
  INFO(t.err);
  CHECK(t.exit_code == 8);
  CHECK(OneLine(t.err));
}
