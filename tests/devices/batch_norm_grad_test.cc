// FusedBatchNormGrad / V2 / V3 and the gradients of FusedBatchNorm / V2 / V3: the CPU kernel
// and AddSymbolicGradients against TensorFlow's values (tests/data/batch_norm_grad, written by
// tools/fixtures/make_batch_norm_grad_fixture.py), against central finite differences
// (tests/graph/gradient_check_util.h), a small conv + batch-norm network that trains, and the
// shape function's and kernel's errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "graph/builder.h"
#include "graph/gradients.h"
#include "graph/npy.h"
#include "tests/devices/nn_test_util.h"
#include "tests/graph/gradient_check_util.h"

using namespace quiver;
using namespace quiver::nn_test;

namespace {

using Outputs = std::vector<Output>;

struct FixtureCase {
  std::string name, format;
  bool training = true;
  float epsilon = 0.001f;
};

const std::string kDir = std::string(QUIVER_TEST_DATA_DIR) + "/batch_norm_grad/";

std::vector<FixtureCase> FixtureCases() {
  std::vector<FixtureCase> cases;
  std::ifstream in(kDir + "manifest.txt");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string word;
    FixtureCase c;
    int training = 0;
    if (ls >> word >> c.name >> c.format >> training >> c.epsilon && word == "case") {
      c.training = training != 0;
      cases.push_back(c);
    }
  }
  return cases;
}

Tensor Load(const FixtureCase& c, const std::string& what) {
  auto t = ReadNpyFile(kDir + c.name + "_" + what + ".npy");
  INFO(c.name << "_" << what << ": " << (t.ok() ? "" : t.status().ToString()));
  REQUIRE(t.ok());
  return *t;
}

// Every element within atol + rtol * |want| (float32 computations on both sides).
bool Close(const Tensor& got, const Tensor& want, double rtol = 1e-4, double atol = 1e-4) {
  if (got.shape() != want.shape()) {
    UNSCOPED_INFO("shape " << got.shape().DebugString() << " vs " << want.shape().DebugString());
    return false;
  }
  const std::vector<double> g = ToDoubles<float>(got), w = ToDoubles<float>(want);
  for (size_t i = 0; i < g.size(); ++i) {
    if (!(std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]))) {
      UNSCOPED_INFO("element " << i << ": got " << g[i] << ", want " << w[i]);
      return false;
    }
  }
  return true;
}

AttrMap GradAttrs(const FixtureCase& c) {
  return {{"epsilon", MakeAttr(c.epsilon)},
          {"data_format", MakeAttr(c.format)},
          {"is_training", MakeAttr(c.training)}};
}

}  // namespace

TEST_CASE("FusedBatchNormGrad kernels match TensorFlow's FusedBatchNormGradV3", "[nn][bn_grad]") {
  const std::vector<FixtureCase> cases = FixtureCases();
  REQUIRE(cases.size() == 4u);  // NHWC and NCHW, training and inference
  for (const FixtureCase& c : cases) {
    for (const char* op : {"FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3"}) {
      DYNAMIC_SECTION(c.name << " " << op) {
        // TF's gradient passes the saved statistics when training, the population ones when not.
        std::vector<Tensor> inputs = {Load(c, "dy"), Load(c, "x"), Load(c, "scale"),
                                      Load(c, c.training ? "rs1" : "mean"),
                                      Load(c, c.training ? "rs2" : "variance")};
        if (std::string(op) == "FusedBatchNormGradV3") {
          inputs.push_back(Tensor::Zeros(DT_FLOAT, {}).value());
        }
        auto out = RunKernel(op, GradAttrs(c), inputs);
        INFO((out.ok() ? "" : out.status().ToString()));
        REQUIRE(out.ok());
        REQUIRE(out->size() == 5u);
        CHECK(Close((*out)[0], Load(c, "raw_dx")));
        CHECK(Close((*out)[1], Load(c, "raw_dscale")));
        CHECK(Close((*out)[2], Load(c, "raw_doffset")));
        CHECK((*out)[3].shape() == TensorShape{0});
        CHECK((*out)[4].shape() == TensorShape{0});
      }
    }
  }
}

TEST_CASE("Symbolic gradients of FusedBatchNorm match TensorFlow's tf.gradients",
          "[nn][bn_grad][gradients]") {
  for (const FixtureCase& c : FixtureCases()) {
    for (const char* op : {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"}) {
      DYNAMIC_SECTION(c.name << " " << op) {
        Graph g;
        GraphBuilder b(&g);
        std::vector<Session::Feed> feeds;
        auto feed = [&](const std::string& name) {
          Tensor t = Load(c, name);
          Output p = b.Placeholder(DT_FLOAT, t.shape(), name);
          feeds.push_back({p.name(), t});
          return p;
        };
        Output x = feed("x"), scale = feed("scale"), offset = feed("offset");
        Output mean = feed("mean"), variance = feed("variance"), w = feed("w");
        Node* bn = b.OpNode(op, {x, scale, offset, mean, variance},
                            {{"epsilon", MakeAttr(c.epsilon)},
                             {"data_format", MakeAttr(c.format)},
                             {"is_training", MakeAttr(c.training)}},
                            "bn");
        Output y(&b, bn, 0);
        // loss = sum(w * y) + 0.5 * sum(y * y), as in the fixture script.
        Output loss = ReduceSumAll(w * y) + ReduceSumAll(y * y) * 0.5;
        auto grads = AddSymbolicGradients(b, {loss}, {x, scale, offset});
        INFO((grads.ok() ? "" : grads.status().ToString()));
        REQUIRE(grads.ok());
        REQUIRE(b.status().ok());
        for (const Output& gr : *grads) REQUIRE(gr.valid());
        auto out =
            quiver::testing::RunGraph(g, feeds,
                                      {y.name(), Output(&b, bn, 3).name(), Output(&b, bn, 4).name(),
                                       (*grads)[0].name(), (*grads)[1].name(), (*grads)[2].name()});
        INFO((out.ok() ? "" : out.status().ToString()));
        REQUIRE(out.ok());
        CHECK(Close((*out)[0], Load(c, "y")));
        if (c.training) {  // what TF saves for the gradient: batch mean, biased variance
          CHECK(Close((*out)[1], Load(c, "rs1"), 1e-5, 1e-5));
          CHECK(Close((*out)[2], Load(c, "rs2"), 1e-5, 1e-5));
        }
        CHECK(Close((*out)[3], Load(c, "dx")));
        CHECK(Close((*out)[4], Load(c, "dscale")));
        CHECK(Close((*out)[5], Load(c, "doffset")));
      }
    }
  }
}

TEST_CASE("Gradients of FusedBatchNorm match finite differences", "[nn][bn_grad][gradients]") {
  // The forward op is float32 only: the float64 inputs of the checker are cast to float32 and y
  // back to float64 (Cast passes gradients through), so the step and tolerances are float32's.
  quiver::testing::GradCheckOptions options;
  options.eps = 1e-2;
  options.rtol = 1e-2;
  options.atol = 2e-3;
  struct Case {
    const char* op;
    const char* format;
    bool training;
    TensorShape shape;
  };
  const std::vector<Case> cases = {
      {"FusedBatchNormV3", "NHWC", true, {2, 3, 2, 3}},
      {"FusedBatchNormV3", "NCHW", true, {2, 3, 2, 3}},
      {"FusedBatchNorm", "NHWC", false, {2, 2, 3, 2}},
      {"FusedBatchNormV2", "NCHW", false, {3, 2, 2, 2}},
      {"FusedBatchNormV3", "NDHWC", true, {2, 2, 2, 2, 2}},
  };
  for (const Case& k : cases) {
    DYNAMIC_SECTION(k.op << " " << k.format << (k.training ? " training" : " inference")) {
      const std::string format = k.format;
      const int64_t c = format[1] == 'C' ? k.shape.dim(1) : k.shape.dim(k.shape.rank() - 1);
      auto report = quiver::testing::CheckGradients(
          {quiver::testing::RandomDoubles(k.shape, 1, -2, 3),
           quiver::testing::RandomDoubles({c}, 2, 0.5, 2), quiver::testing::RandomDoubles({c}, 3)},
          [&](GraphBuilder& b, const Outputs& in) {
            Output mean = b.Const(quiver::testing::RandomFloats({c}, 4, -0.5, 0.5));
            Output var = b.Const(quiver::testing::RandomFloats({c}, 5, 0.5, 2));
            Node* bn = b.OpNode(
                k.op,
                {Cast(in[0], DT_FLOAT), Cast(in[1], DT_FLOAT), Cast(in[2], DT_FLOAT), mean, var},
                {{"epsilon", MakeAttr(0.01f)},
                 {"data_format", MakeAttr(format)},
                 {"is_training", MakeAttr(k.training)}});
            return Outputs{Cast(Output(&b, bn, 0), DT_DOUBLE)};
          },
          options);
      INFO((report.ok() ? report->ToString() : report.status().ToString()));
      REQUIRE(report.ok());
      CHECK(report->passed);
    }
  }
}

TEST_CASE("Only the statistics of FusedBatchNorm used downstream: no gradient, no error",
          "[nn][bn_grad][gradients]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2, 2, 2, 3}, "x");
  Output scale = b.Const(Tensor::FromVector<float>({1, 2, 3}, {3}));
  Output zeros = b.Const(Tensor::FromVector<float>({0, 0, 0}, {3}));
  Node* bn = b.OpNode("FusedBatchNormV3", {x, scale, zeros, zeros, zeros});
  auto grads = AddSymbolicGradients(b, {ReduceSumAll(Output(&b, bn, 1))}, {x, scale});
  REQUIRE(grads.ok());
  // The batch mean does depend on x, but TF's gradient (like Quiver's) ignores the statistics.
  CHECK_FALSE((*grads)[0].valid());
  CHECK_FALSE((*grads)[1].valid());
}

TEST_CASE("A conv + FusedBatchNorm + relu network trains with its symbolic gradients",
          "[nn][bn_grad][gradients][variables]") {
  // TF1-style: x -> Conv2D -> FusedBatchNormV3 (training) -> Relu -> mean over H, W -> MatMul
  // -> sparse softmax cross-entropy; plain gradient descent must drive the loss down.
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {-1, 5, 5, 1}, "x");
  auto labels = b.Placeholder(DT_INT32, {-1}, "labels");
  auto k = b.Variable(b.Const(quiver::testing::RandomFloats({3, 3, 1, 4}, 1, -0.5, 0.5)), "k");
  auto gamma = b.Variable(b.Ones({4}), "gamma");
  auto beta = b.Variable(b.Zeros({4}), "beta");
  auto w = b.Variable(b.Const(quiver::testing::RandomFloats({4, 2}, 2, -0.5, 0.5)), "w");
  Output empty = b.Const(Tensor::Zeros(DT_FLOAT, {0}).value());
  Node* bn =
      b.OpNode("FusedBatchNormV3", {Conv2D(x, k, {1, 1, 1, 1}, "SAME"), gamma, beta, empty, empty},
               {{"epsilon", MakeAttr(0.001f)}}, "bn");
  Output logits = MatMul(ReduceMean(Relu(Output(&b, bn, 0)), {1, 2}), w);
  Node* xent = b.OpNode("SparseSoftmaxCrossEntropyWithLogits", {logits, labels});
  Output loss = ReduceMeanAll(Output(&b, xent, 0));
  std::vector<VariableHandle> vars = {k, gamma, beta, w};
  std::vector<Output> values;
  for (const auto& v : vars) values.push_back(v.value);
  auto grads = AddSymbolicGradients(b, {loss}, values);
  INFO((grads.ok() ? "" : grads.status().ToString()));
  REQUIRE(grads.ok());
  std::vector<Node*> updates;
  for (size_t i = 0; i < vars.size(); ++i) {
    REQUIRE((*grads)[i].valid());
    updates.push_back(AssignSub(vars[i].ref, (*grads)[i] * 0.5).node());
  }
  Node* train = Group(b, updates, "train");
  Node* init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());

  // Class 1 when the image's centre pixel exceeds its mean, else 0.
  Tensor xv = quiver::testing::RandomFloats({16, 5, 5, 1}, 3, -1, 1);
  std::vector<int32_t> lv;
  for (int i = 0; i < 16; ++i) {
    const float* p = xv.data<float>() + 25 * i;
    float mean = 0;
    for (int j = 0; j < 25; ++j) mean += p[j] / 25;
    lv.push_back(p[12] > mean ? 1 : 0);
  }
  auto session = quiver::testing::SingleThreadSession(g);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  std::vector<Session::Feed> feeds = {{"x", xv}, {"labels", Tensor::FromVector<int32_t>(lv, {16})}};
  auto first = (*session)->Run(feeds, {loss});
  REQUIRE(first.ok());
  for (int step = 0; step < 100; ++step) REQUIRE((*session)->Run(feeds, {}, {train->name()}).ok());
  auto last = (*session)->Run(feeds, {loss});
  REQUIRE(last.ok());
  INFO("loss " << first->at(0).data<float>()[0] << " -> " << last->at(0).data<float>()[0]);
  CHECK(last->at(0).data<float>()[0] < 0.5f * first->at(0).data<float>()[0]);
}

TEST_CASE("FusedBatchNormGrad shape function", "[nn][bn_grad]") {
  auto s = InferShapes("FusedBatchNormGradV3", {{"data_format", MakeAttr(std::string("NCHW"))}},
                       {TensorShape{-1, -1, 4, 4}, TensorShape{2, 8, -1, 4}, TensorShape{-1},
                        TensorShape{8}, TensorShape{-1}, TensorShape::UnknownRank()});
  INFO((s.ok() ? "" : s.status().ToString()));
  REQUIRE(s.ok());
  REQUIRE(s->size() == 5u);
  CHECK((*s)[0] == TensorShape{2, 8, 4, 4});
  CHECK((*s)[1] == TensorShape{8});
  CHECK((*s)[2] == TensorShape{8});
  CHECK((*s)[3] == TensorShape{0});
  CHECK((*s)[4] == TensorShape{0});
  auto v1 = InferShapes("FusedBatchNormGrad", {},
                        {TensorShape::UnknownRank(), TensorShape{2, 3, 3, 5}, TensorShape{5},
                         TensorShape{5}, TensorShape{5}});
  REQUIRE(v1.ok());
  CHECK((*v1)[0] == TensorShape{2, 3, 3, 5});
}

TEST_CASE("FusedBatchNormGrad rejects bad ranks and channel counts, naming the node",
          "[nn][bn_grad]") {
  const TensorShape x{2, 3, 3, 4};
  SECTION("shape function: wrong rank of x") {
    auto bad = InferShapes(
        "FusedBatchNormGradV3", {},
        {x, TensorShape{2, 3, 4}, TensorShape{4}, TensorShape{4}, TensorShape{4}, TensorShape{}});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), kNodeName));
    CHECK(Contains(bad.status(), "x must be 4-D"));
  }
  SECTION("shape function: scale does not match the channels") {
    auto bad = InferShapes("FusedBatchNormGrad", {},
                           {x, x, TensorShape{5}, TensorShape{4}, TensorShape{4}});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), kNodeName));
    CHECK(Contains(bad.status(), "scale [5] must match the channel dimension (NHWC)"));
  }
  SECTION("shape function: y_backprop and x differ") {
    auto bad =
        InferShapes("FusedBatchNormGradV2", {},
                    {TensorShape{2, 3, 2, 4}, x, TensorShape{4}, TensorShape{4}, TensorShape{4}});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), kNodeName));
    CHECK(Contains(bad.status(), "must have the same shape"));
  }
  SECTION("shape function: reserve_space_2 not a vector") {
    auto bad =
        InferShapes("FusedBatchNormGradV3", {},
                    {x, x, TensorShape{4}, TensorShape{4}, TensorShape{2, 2}, TensorShape{}});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), "reserve_space_2 must be 1-D"));
  }
  auto zeros = [](const TensorShape& s) { return Tensor::Zeros(DT_FLOAT, s).value(); };
  SECTION("kernel: wrong rank of x") {
    auto bad = RunKernel("FusedBatchNormGrad", {},
                         {zeros({6, 4}), zeros({6, 4}), zeros({4}), zeros({4}), zeros({4})});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), kNodeName));
    CHECK(Contains(bad.status(), "x must be 4-D for data_format NHWC"));
  }
  SECTION("kernel: channel mismatch (NCHW)") {
    auto bad = RunKernel("FusedBatchNormGradV3", {{"data_format", MakeAttr(std::string("NCHW"))}},
                         {zeros(x), zeros(x), zeros({3}), zeros({3}), zeros({4}), zeros({})});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), kNodeName));
    CHECK(Contains(bad.status(), "reserve_space_2 [4] must be 1-D with the channel count 3"));
  }
  SECTION("kernel: y_backprop and x differ") {
    auto bad = RunKernel("FusedBatchNormGradV2", {},
                         {zeros({2, 3, 3, 2}), zeros(x), zeros({4}), zeros({4}), zeros({4})});
    REQUIRE_FALSE(bad.ok());
    CHECK(Contains(bad.status(), kNodeName));
    CHECK(Contains(bad.status(), "y_backprop [2,3,3,2] must have the shape of x"));
  }
}
