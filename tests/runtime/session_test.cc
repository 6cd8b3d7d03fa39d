#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <thread>

#include <google/protobuf/util/message_differencer.h>

#include "graph/builder.h"
#include "graph/graphdef.h"
#include "graph/optimizers.h"
#include "runtime/session.h"

using namespace quiver;

namespace {

std::string ErrorOf(const absl::Status& s) { return std::string(s.message()); }

Tensor RandomTensor(const TensorShape& shape, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(shape.num_elements());
  for (float& x : v) x = dist(rng);
  return Tensor::FromVector<float>(v, shape);
}

}  // namespace

TEST_CASE("Session runs a builder graph with feeds and fetches", "[session]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {-1, 3}, "x");
  auto y = (x * 2.0 + 1.0) / 4.0;
  REQUIRE(b.status().ok());
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  Tensor xv = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto out = (*session)->Run({{"x", xv}}, {y});
  REQUIRE(out.ok());
  REQUIRE(out->at(0).shape() == TensorShape{2, 3});
  for (int i = 0; i < 6; ++i) {
    REQUIRE(out->at(0).data<float>()[i] == Approx(((i + 1) * 2.0 + 1.0) / 4.0));
  }
}

TEST_CASE("Variables persist across Run calls", "[session][variables]") {
  Graph g;
  GraphBuilder b(&g);
  auto counter = b.Variable(b.Zeros({2}), "counter");
  auto inc = AssignAdd(counter.ref, b.Const(Tensor::FromVector<float>({1, 10}, {2})));
  auto init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
  auto session = Session::Create(g);
  REQUIRE(session.ok());

  // Reading before initialisation is TF's "uninitialized value" error.
  auto early = (*session)->Run({}, {counter.value});
  REQUIRE_FALSE(early.ok());
  REQUIRE_THAT(ErrorOf(early.status()), Catch::Contains("uninitialized value counter"));

  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  for (int step = 0; step < 3; ++step) REQUIRE((*session)->Run({}, {}, {inc.node()->name()}).ok());
  auto value = (*session)->Run({}, {counter.value});
  REQUIRE(value.ok());
  REQUIRE(value->at(0).ToVector<float>() == std::vector<float>{3, 30});
}

TEST_CASE("A fetched variable is a snapshot that later training steps do not change",
          "[session][variables]") {
  // w starts at [1, 2]; loss = sum(w * x) with x = [3, -1], so dloss/dw = x and each step of
  // gradient descent at rate 0.5 subtracts [1.5, -0.5].
  Graph g;
  GraphBuilder b(&g);
  auto w = b.Variable(b.Const(Tensor::FromVector<float>({1, 2}, {2})), "w");
  auto x = b.Const(Tensor::FromVector<float>({3, -1}, {2}));
  auto loss = ReduceSumAll(w.value * x, "loss");
  auto step = GradientDescentOptimizer(0.5).Minimize(b, loss, {w}, "step");
  REQUIRE(step.ok());
  Node* init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());

  auto before = (*session)->Run({}, {w.value});
  REQUIRE(before.ok());
  for (int i = 0; i < 3; ++i) REQUIRE((*session)->Run({}, {}, {"step"}).ok());
  // The tensor the user holds is what was read, not the updated weights.
  REQUIRE(before->at(0).ToVector<float>() == std::vector<float>{1, 2});
  auto after = (*session)->Run({}, {w.value});
  REQUIRE(after.ok());
  REQUIRE(after->at(0).ToVector<float>() == std::vector<float>{-3.5f, 3.5f});
}

TEST_CASE("Session reports bad feeds and fetches clearly", "[session][errors]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  Relu(x, "y");
  REQUIRE(b.status().ok());
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  Tensor good = Tensor::FromVector<float>(std::vector<float>(784, 1.0f), {1, 784});

  SECTION("missing required feed") {
    auto r = (*session)->Run({}, {"y"});
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(ErrorOf(r.status()),
                 Catch::Contains("You must feed a value for placeholder tensor 'x'") &&
                     Catch::Contains("[?,784]"));
  }
  SECTION("wrong dtype") {
    Tensor ints = Tensor::FromVector<int32_t>(std::vector<int32_t>(784, 1), {1, 784});
    auto r = (*session)->Run({{"x", ints}}, {"y"});
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(ErrorOf(r.status()),
                 Catch::Contains("cannot feed int32") && Catch::Contains("float32"));
  }
  SECTION("wrong shape") {
    Tensor bad = Tensor::FromVector<float>(std::vector<float>(10, 1.0f), {1, 10});
    auto r = (*session)->Run({{"x", bad}}, {"y"});
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(ErrorOf(r.status()),
                 Catch::Contains("shape [1,10]") && Catch::Contains("[?,784]"));
  }
  SECTION("fetch of a missing node") {
    auto r = (*session)->Run({{"x", good}}, {"nope:0"});
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(ErrorOf(r.status()), Catch::Contains("no node named 'nope'"));
  }
  SECTION("fetch of an output index out of range") {
    auto r = (*session)->Run({{"x", good}}, {"y:3"});
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(ErrorOf(r.status()), Catch::Contains("has 1 outputs"));
  }
  SECTION("feed of a missing node") {
    auto r = (*session)->Run({{"z", good}}, {"y"});
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(ErrorOf(r.status()), Catch::Contains("no node named 'z'"));
  }
  SECTION("a good run still works after errors") {
    auto r = (*session)->Run({{"x:0", good}}, {"y:0"});
    REQUIRE(r.ok());
    REQUIRE(r->at(0).data<float>()[0] == 1.0f);
  }
}

TEST_CASE("Fed tensors cut the graph: their producers do not run", "[session]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {2}, "x");
  auto mid = Exp(x, "mid");
  auto y = mid * 3.0;
  REQUIRE(b.status().ok());
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  // Feeding "mid" means x is never needed.
  RunMetadata meta;
  auto r = (*session)->Run({{"mid", Tensor::FromVector<float>({1, 2}, {2})}}, {y}, {}, &meta);
  REQUIRE(r.ok());
  REQUIRE(r->at(0).ToVector<float>() == std::vector<float>{3, 6});
  REQUIRE(meta.nodes_executed == 2);  // the scalar Const and the Mul
}

TEST_CASE("A hard GPU request without soft placement is refused on a CPU-only machine",
          "[session][placement]") {
  Graph g;
  GraphBuilder b(&g);
  {
    auto on_gpu = b.device("/gpu:0");
    b.Placeholder(DT_FLOAT, {2}, "x");
  }
  REQUIRE(g.FindNode("x")->requested_device() == "/gpu:0");
  SessionOptions hard;
  hard.allow_soft_placement = false;
  auto s = Session::Create(g, hard);
  REQUIRE_FALSE(s.ok());
  REQUIRE_THAT(ErrorOf(s.status()), Catch::Contains("'x'") && Catch::Contains("/gpu:0"));
  REQUIRE(Session::Create(g).ok());  // soft placement (the default) falls back to the CPU
}

TEST_CASE("Wide graphs run in parallel and concurrent Run calls agree", "[session][concurrency]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {64, 64}, "x");
  std::vector<Output> branches;
  for (int i = 0; i < 8; ++i) branches.push_back(Tanh(MatMul(x, x) * static_cast<double>(i + 1)));
  auto sum = branches[0];
  for (int i = 1; i < 8; ++i) sum = sum + branches[i];
  ReduceSumAll(sum, "total");
  REQUIRE(b.status().ok());
  SessionOptions opts;
  opts.inter_op_threads = 4;
  auto session = Session::Create(g, opts);
  REQUIRE(session.ok());
  Tensor xv = RandomTensor({64, 64}, 7, -0.2f, 0.2f);

  // Independent reference: naive matmul in double.
  std::vector<double> xx(64 * 64, 0.0);
  const float* xp = xv.data<float>();
  for (int i = 0; i < 64; ++i)
    for (int k = 0; k < 64; ++k)
      for (int j = 0; j < 64; ++j) xx[i * 64 + j] += double(xp[i * 64 + k]) * xp[k * 64 + j];
  double expected = 0;
  for (double v : xx)
    for (int i = 0; i < 8; ++i) expected += std::tanh(v * (i + 1));

  std::vector<double> results(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = (*session)->Run({{"x", xv}}, {"total"});
      results[t] = r.ok() ? r->at(0).data<float>()[0] : NAN;
    });
  }
  for (auto& th : threads) th.join();
  for (double r : results) REQUIRE(r == Approx(expected).epsilon(1e-4));
}

TEST_CASE("Builder expresses the MNIST softmax forward graph; it saves and reloads", "[builder]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
  Output y, cross_entropy;
  {
    auto on_gpu = b.device("/gpu:0");
    auto W = b.Variable(b.Zeros({784, 10}), "W");
    auto bias = b.Variable(b.Zeros({10}), "b");
    y = Softmax(MatMul(x, W) + bias, "y");
    cross_entropy = ReduceMeanAll(-ReduceSum(y_ * Log(y), {1}), "cross_entropy");
  }
  auto init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
  REQUIRE(y.shape() == TensorShape{-1, 10});
  REQUIRE(cross_entropy.shape() == TensorShape{});
  REQUIRE(g.FindNode("W")->requested_device() == "/gpu:0");
  REQUIRE(g.FindNode("W/read") != nullptr);

  // Save and load back: identical GraphDefs.
  tensorflow::GraphDef def;
  ExportGraphDef(g, &def);
  Graph reloaded;
  REQUIRE(ImportGraphDef(def, &reloaded).ok());
  tensorflow::GraphDef def2;
  ExportGraphDef(reloaded, &def2);
  REQUIRE(google::protobuf::util::MessageDifferencer::Equals(def, def2));
  REQUIRE(def.node_size() == g.num_nodes());

  // With zero weights the softmax is uniform: cross-entropy = ln(10) for one-hot labels.
  auto session = Session::Create(reloaded);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  std::vector<float> labels(3 * 10, 0.0f);
  labels[2] = labels[10 + 5] = labels[20 + 9] = 1.0f;
  auto r = (*session)->Run(
      {{"x", RandomTensor({3, 784}, 1)}, {"y_", Tensor::FromVector<float>(labels, {3, 10})}},
      {"cross_entropy", "y"});
  REQUIRE(r.ok());
  REQUIRE(r->at(0).data<float>()[0] == Approx(std::log(10.0)).epsilon(1e-6));
  REQUIRE(r->at(1).data<float>()[7] == Approx(0.1));
}

namespace {

// A two-layer MLP on a fed x: fusion (MatMul+BiasAdd+Relu) and folding of the Const-only
// branch (scale = 2 * 0.5) apply at level 1.
std::string BuildMlp(Graph* g) {
  GraphBuilder b(g);
  auto x = b.Placeholder(DT_FLOAT, {-1, 8}, "x");
  auto scale = b.Scalar(2.0) * b.Scalar(0.5);
  auto h =
      Relu(BiasAdd(MatMul(x, b.Const(RandomTensor({8, 16}, 1))), b.Const(RandomTensor({16}, 2))));
  auto y =
      BiasAdd(MatMul(h, b.Const(RandomTensor({16, 4}, 3))), b.Const(RandomTensor({4}, 4))) * scale;
  REQUIRE(b.status().ok());
  return Softmax(y, "probs");
}

SessionOptions Level(int level) {
  SessionOptions options;
  options.optimizer.level = level;
  return options;
}

}  // namespace

TEST_CASE("Optimizer level 0 and level 1 give the same results", "[session][optimizer]") {
  Graph g;
  std::string fetch = BuildMlp(&g);
  Tensor x = RandomTensor({5, 8}, 9);
  std::vector<Tensor> results;
  std::vector<int64_t> nodes;
  for (int level : {0, 1}) {
    auto session = Session::Create(g, Level(level));
    REQUIRE(session.ok());
    RunMetadata md;
    auto out = (*session)->Run({{"x", x}}, {fetch}, {}, &md);
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    results.push_back(out->at(0));
    nodes.push_back(md.nodes_executed);
  }
  CHECK(nodes[1] < nodes[0]);  // level 1 folded the scale and fused the layers
  for (int i = 0; i < 20; ++i) {
    CHECK(results[1].data<float>()[i] == Approx(results[0].data<float>()[i]).epsilon(1e-5));
  }
}

TEST_CASE("The optimizer never folds a fed constant", "[session][optimizer]") {
  Graph g;
  GraphBuilder b(&g);
  auto c = b.Scalar(2.0, DT_FLOAT, "c");
  auto y = c * 3.0 + b.Scalar(1.0);  // foldable to 7 when c is not fed
  REQUIRE(b.status().ok());
  auto session = Session::Create(g, Level(1));
  REQUIRE(session.ok());
  auto fed = (*session)->Run({{"c", Tensor::Scalar<float>(5.0f)}}, {y});
  REQUIRE(fed.ok());
  CHECK(fed->at(0).data<float>()[0] == 16.0f);  // 5 * 3 + 1
  auto unfed = (*session)->Run({}, {y});
  REQUIRE(unfed.ok());
  CHECK(unfed->at(0).data<float>()[0] == 7.0f);  // 2 * 3 + 1
  // And a fetched fed tensor is the fed value.
  auto echo = (*session)->Run({{"c", Tensor::Scalar<float>(4.0f)}}, {"c", y});
  REQUIRE(echo.ok());
  CHECK(echo->at(0).data<float>()[0] == 4.0f);
  CHECK(echo->at(1).data<float>()[0] == 13.0f);
}

// The CPU MatMul packs a constant B once, keyed by its buffer. A fed Const is not constant:
// refilling the same buffer between Runs must change the product.
TEST_CASE("A fed Const MatMul operand is re-read on every Run, even from the same buffer",
          "[session][optimizer]") {
  for (int level : {0, 1}) {
    Graph g;
    GraphBuilder b(&g);
    auto x = b.Placeholder(DT_FLOAT, {2, 2}, "x");
    auto w = b.Const(Tensor::FromVector<float>({1, 0, 0, 1}, {2, 2}), "w");
    auto y = MatMul(x, w);
    auto y_through_identity = MatMul(x, Identity(w, "w_read"));
    REQUIRE(b.status().ok());
    auto session = Session::Create(g, Level(level));
    REQUIRE(session.ok());
    const Tensor xv = Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2});
    // Unfed, w is the identity matrix.
    auto unfed = (*session)->Run({{"x", xv}}, {y, y_through_identity});
    REQUIRE(unfed.ok());
    CHECK(unfed->at(0).ToVector<float>() == std::vector<float>{1, 2, 3, 4});
    for (const char* fed_name : {"w", "w_read"}) {
      INFO("level " << level << ", feeding " << fed_name);
      Tensor wv = Tensor::FromVector<float>({2, 0, 0, 2}, {2, 2});
      auto first = (*session)->Run({{"x", xv}, {fed_name, wv}}, {y_through_identity});
      REQUIRE(first.ok());
      CHECK(first->at(0).ToVector<float>() == std::vector<float>{2, 4, 6, 8});
      // Same buffer, new values: [[0, 1], [1, 0]] swaps the columns of x.
      float* data = wv.data<float>();
      data[0] = 0, data[1] = 1, data[2] = 1, data[3] = 0;
      auto second = (*session)->Run({{"x", xv}, {fed_name, wv}}, {y_through_identity});
      REQUIRE(second.ok());
      CHECK(second->at(0).ToVector<float>() == std::vector<float>{2, 1, 4, 3});
    }
    // Feeding w also feeds the direct MatMul.
    Tensor wv = Tensor::FromVector<float>({0, 1, 1, 0}, {2, 2});
    auto direct = (*session)->Run({{"x", xv}, {"w", wv}}, {y});
    REQUIRE(direct.ok());
    CHECK(direct->at(0).ToVector<float>() == std::vector<float>{2, 1, 4, 3});
    wv.data<float>()[0] = 3;  // [[3, 1], [1, 0]]
    auto refilled = (*session)->Run({{"x", xv}, {"w", wv}}, {y});
    REQUIRE(refilled.ok());
    CHECK(refilled->at(0).ToVector<float>() == std::vector<float>{5, 1, 13, 3});
  }
}

TEST_CASE("Optimizer passes can be disabled by name; unknown names are errors",
          "[session][optimizer]") {
  Graph g;
  std::string fetch = BuildMlp(&g);
  SessionOptions options;
  options.optimizer.disabled_passes = {"constant_folding", "fusion"};
  auto session = Session::Create(g, options);
  REQUIRE(session.ok());
  CHECK((*session)->Run({{"x", RandomTensor({2, 8}, 5)}}, {fetch}).ok());
  options.optimizer.disabled_passes = {"no_such_pass"};
  session = Session::Create(g, options);
  REQUIRE(session.ok());
  auto out = (*session)->Run({{"x", RandomTensor({2, 8}, 5)}}, {fetch});
  REQUIRE_FALSE(out.ok());
  CHECK_THAT(ErrorOf(out.status()), Catch::Contains("no_such_pass"));
}

TEST_CASE("Buffer reuse can be switched off to measure the unplanned peak", "[session][memory]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {1024}, "x");
  Output y = x;
  for (int i = 0; i < 10; ++i) y = i % 2 ? Neg(y) : Relu(y);  // ten element-wise steps
  REQUIRE(b.status().ok());
  Tensor xv = RandomTensor({1024}, 6);
  std::vector<int64_t> peaks;
  std::vector<Tensor> results;
  for (bool reuse : {false, true}) {
    SessionOptions options = Level(0);  // no fusion: the ten nodes run as built
    options.reuse_buffers = reuse;
    auto session = Session::Create(g, options);
    REQUIRE(session.ok());
    RunMetadata md;
    auto out = (*session)->Run({{"x", xv}}, {y}, {}, &md);
    REQUIRE(out.ok());
    results.push_back(out->at(0));
    REQUIRE(md.device_memory.size() == 1);
    peaks.push_back(md.device_memory[0].peak_bytes_in_use);
  }
  // Without reuse all ten 4096-byte outputs stay alive until the step ends; with it, the first
  // output is forwarded through the chain in place.
  CHECK(peaks[0] == 10 * 4096);
  CHECK(peaks[1] <= 2 * 4096);
  CHECK(results[0].ToVector<float>() == results[1].ToVector<float>());
}

TEST_CASE("A control edge from a fed placeholder waits on nothing", "[session]") {
  // c = Const [^x]: feeding x replaces it, so x's own kernel (which fails unfed) never runs.
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2}, "x");
  Output c;
  {
    auto deps = b.control_dependencies({x.node()});
    c = b.Const(Tensor::FromVector<float>({4, 5}, {2}), "c");
  }
  Output y = Identity(x, "y");
  Output z;
  {
    auto deps = b.control_dependencies({y.node()});
    z = b.Const(Tensor::FromVector<float>({6}, {1}), "z");
  }
  REQUIRE(b.status().ok());
  for (int level : {0, 1}) {
    INFO("optimizer level " << level);
    SessionOptions options;
    options.optimizer.level = level;
    auto session = Session::Create(g, options);
    REQUIRE(session.ok());
    auto out = (*session)->Run({{"x", Tensor::FromVector<float>({1, 2}, {2})}}, {c, z});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    CHECK(out->at(0).data<float>()[1] == 5.0f);
    CHECK(out->at(1).data<float>()[0] == 6.0f);
    // Unfed, x is still required.
    auto unfed = (*session)->Run({}, {c});
    REQUIRE_FALSE(unfed.ok());
    CHECK_THAT(ErrorOf(unfed.status()), Catch::Contains("You must feed a value for placeholder"));
  }
}

TEST_CASE("MakeCallable runs a prepared signature like Run", "[session]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {-1, 2}, "x");
  auto y = x * 3.0 + 1.0;
  REQUIRE(b.status().ok());
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  auto handle = (*session)->MakeCallable({"x"}, {y.name()});
  REQUIRE(handle.ok());
  // Two shapes: the first compiles a specialised executable, the second a generic one.
  for (int rows : {1, 3, 1}) {
    std::vector<float> v(rows * 2);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
    auto out = (*session)->RunCallable(*handle, {Tensor::FromVector<float>(v, {rows, 2})});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    REQUIRE(out->at(0).shape() == TensorShape{rows, 2});
    for (size_t i = 0; i < v.size(); ++i) CHECK(out->at(0).data<float>()[i] == v[i] * 3 + 1);
  }
  auto wrong = (*session)->RunCallable(*handle, {Tensor::FromVector<int32_t>({1, 2}, {1, 2})});
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(ErrorOf(wrong.status()), Catch::Contains("cannot feed int32 to 'x:0'"));
  CHECK_FALSE((*session)->RunCallable(*handle, {}).ok());
  CHECK_FALSE((*session)->MakeCallable({"nope"}, {y.name()}).ok());
  REQUIRE((*session)->ReleaseCallable(*handle).ok());
  auto released = (*session)->RunCallable(*handle, {Tensor::FromVector<float>({1, 2}, {1, 2})});
  REQUIRE_FALSE(released.ok());
  CHECK_THAT(ErrorOf(released.status()), Catch::Contains("no callable"));
}
