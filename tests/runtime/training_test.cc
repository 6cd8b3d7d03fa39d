// End-to-end training: optimizers against hand-computed updates, MNIST softmax regression on
// the real data, and checkpoints (restart gives the same loss curve; corruption is refused).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "graph/builder.h"
#include "graph/optimizers.h"
#include "runtime/checkpoint.h"
#include "runtime/session.h"
#include "tools/data/mnist.h"

using namespace quiver;
namespace fs = std::filesystem;

namespace {

std::string MnistDir() { return std::string(QUIVER_SOURCE_DIR) + "/../shared/data/mnist"; }

// loss = sum((w - target)^2) / 2, so d loss / d w = w - target.
struct Quadratic {
  Graph graph;
  GraphBuilder b{&graph};
  VariableHandle w;
  Output loss;
  Quadratic() {
    w = b.Variable(b.Const(Tensor::FromVector<float>({1.0f, -2.0f}, {2})), "w");
    auto target = b.Const(Tensor::FromVector<float>({3.0f, 1.0f}, {2}));
    loss = ReduceSumAll(Square(w.value - target)) * 0.5;
  }
};

std::vector<float> Train(Optimizer&& opt, int steps) {
  Quadratic q;
  auto train = opt.Minimize(q.b, q.loss);
  REQUIRE(train.ok());
  Node* init = q.b.GlobalVariablesInitializer();
  REQUIRE(q.b.status().ok());
  auto session = Session::Create(q.graph);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  for (int i = 0; i < steps; ++i) REQUIRE((*session)->Run({}, {}, {(*train)->name()}).ok());
  auto w = (*session)->Run({}, {q.w.value});
  REQUIRE(w.ok());
  return w->at(0).ToVector<float>();
}

}  // namespace

TEST_CASE("Optimizers apply TF's update rules", "[training][optimizers]") {
  const double w0[2] = {1.0, -2.0}, target[2] = {3.0, 1.0};
  SECTION("gradient descent") {
    auto w = Train(GradientDescentOptimizer(0.1), 3);
    for (int i = 0; i < 2; ++i) {
      double x = w0[i];
      for (int s = 0; s < 3; ++s) x -= 0.1 * (x - target[i]);
      REQUIRE(w[i] == Approx(x).epsilon(1e-6));
    }
  }
  SECTION("momentum") {
    auto w = Train(MomentumOptimizer(0.1, 0.9), 3);
    for (int i = 0; i < 2; ++i) {
      double x = w0[i], accum = 0;
      for (int s = 0; s < 3; ++s) {
        accum = 0.9 * accum + (x - target[i]);
        x -= 0.1 * accum;
      }
      REQUIRE(w[i] == Approx(x).epsilon(1e-6));
    }
  }
  SECTION("adam") {
    auto w = Train(AdamOptimizer(0.1), 3);
    for (int i = 0; i < 2; ++i) {
      double x = w0[i], m = 0, v = 0, b1p = 0.9, b2p = 0.999;
      for (int s = 0; s < 3; ++s) {
        double g = x - target[i];
        double lr_t = 0.1 * std::sqrt(1 - b2p) / (1 - b1p);
        m = 0.9 * m + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        x -= lr_t * m / (std::sqrt(v) + 1e-8);
        b1p *= 0.9;
        b2p *= 0.999;
      }
      REQUIRE(w[i] == Approx(x).epsilon(1e-5));
    }
  }
}

namespace {

struct MnistModel {
  Graph graph;
  GraphBuilder b{&graph};
  Output loss, accuracy;
  Node* train = nullptr;
  Node* init = nullptr;
  explicit MnistModel(double lr) {
    auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
    auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
    auto on_gpu = b.device("/gpu:0");
    auto W = b.Variable(b.Zeros({784, 10}), "W");
    auto bias = b.Variable(b.Zeros({10}), "b");
    auto y = MatMul(x, W) + bias;
    loss = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(y_, y), "loss");
    accuracy = ReduceMeanAll(Cast(Equal(ArgMax(y, 1), ArgMax(y_, 1)), DT_FLOAT), "accuracy");
    auto t = GradientDescentOptimizer(lr).Minimize(b, loss);
    REQUIRE(t.ok());
    train = *t;
    init = b.GlobalVariablesInitializer();
    REQUIRE(b.status().ok());
  }
};

std::vector<Session::Feed> Batch(data::MnistBatcher& batcher, int n) {
  std::vector<float> x, y;
  batcher.NextBatch(n, &x, &y);
  return {{"x", Tensor::FromVector<float>(x, {n, 784})},
          {"y_", Tensor::FromVector<float>(y, {n, 10})}};
}

float Step(Session& s, const MnistModel& m, const std::vector<Session::Feed>& feeds) {
  auto r = s.Run(feeds, {m.loss}, {m.train->name()});
  REQUIRE(r.ok());
  return r->at(0).data<float>()[0];
}

}  // namespace

TEST_CASE("MNIST softmax regression learns on the real data", "[training][mnist]") {
  if (!fs::exists(MnistDir())) {
    std::puts("QUIVER_SKIPPED: MNIST data not present");
    SUCCEED();
    return;
  }
  auto train = data::LoadMnist(MnistDir(), "train");
  auto test = data::LoadMnist(MnistDir(), "t10k");
  REQUIRE(train.ok());
  REQUIRE(test.ok());
  REQUIRE(train->count == 60000);
  REQUIRE(test->count == 10000);

  MnistModel m(0.5);
  auto session = Session::Create(m.graph);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {m.init->name()}).ok());
  data::MnistBatcher batcher(*train, 1);
  float first = Step(**session, m, Batch(batcher, 100));
  REQUIRE(first == Approx(std::log(10.0f)).epsilon(1e-5));  // zero weights: uniform softmax
  for (int i = 0; i < 199; ++i) Step(**session, m, Batch(batcher, 100));
  std::vector<float> onehot(test->count * 10, 0.0f);
  for (int64_t i = 0; i < test->count; ++i) onehot[i * 10 + test->labels[i]] = 1.0f;
  auto acc = (*session)->Run({{"x", Tensor::FromVector<float>(test->images, {test->count, 784})},
                              {"y_", Tensor::FromVector<float>(onehot, {test->count, 10})}},
                             {m.accuracy});
  REQUIRE(acc.ok());
  // 200 of the tutorial's 1000 steps: TF's own softmax regression is at ~0.90 here (0.92 at
  // 1000); seeds 1-4 give 0.901-0.907 in Quiver. 0.89 leaves room for batch-order noise.
  REQUIRE(acc->at(0).data<float>()[0] >= 0.89f);
}

TEST_CASE("Checkpoint, restart and continue gives the same loss curve", "[training][checkpoint]") {
  if (!fs::exists(MnistDir())) {
    std::puts("QUIVER_SKIPPED: MNIST data not present");
    SUCCEED();
    return;
  }
  auto train = data::LoadMnist(MnistDir(), "train");
  REQUIRE(train.ok());
  std::string path = (fs::temp_directory_path() / "quiver_ckpt_test.qckpt").string();

  // Reference: 20 uninterrupted steps.
  std::vector<std::vector<Session::Feed>> batches;
  data::MnistBatcher batcher(*train, 7);
  for (int i = 0; i < 20; ++i) batches.push_back(Batch(batcher, 50));
  std::vector<float> reference;
  {
    MnistModel m(0.5);
    auto s = Session::Create(m.graph);
    REQUIRE(s.ok());
    REQUIRE((*s)->Run({}, {}, {m.init->name()}).ok());
    for (auto& b : batches) reference.push_back(Step(**s, m, b));
  }
  // 10 steps, save, drop the session (the "kill"), restore into a fresh one, 10 more.
  std::vector<float> resumed;
  {
    MnistModel m(0.5);
    auto s = Session::Create(m.graph);
    REQUIRE(s.ok());
    REQUIRE((*s)->Run({}, {}, {m.init->name()}).ok());
    for (int i = 0; i < 10; ++i) resumed.push_back(Step(**s, m, batches[i]));
    REQUIRE(SaveCheckpoint(**s, path, 10).ok());
  }
  {
    MnistModel m(0.5);
    auto s = Session::Create(m.graph);
    REQUIRE(s.ok());
    auto step = RestoreCheckpoint(**s, path);
    REQUIRE(step.ok());
    REQUIRE(*step == 10);
    for (int i = 10; i < 20; ++i) resumed.push_back(Step(**s, m, batches[i]));
  }
  REQUIRE(resumed == reference);  // bit-identical

  // Corruption is refused: truncation, a flipped byte, a foreign file.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  MnistModel m(0.5);
  auto s = Session::Create(m.graph);
  REQUIRE(s.ok());
  auto write = [](const std::string& p, const std::string& b) {
    std::ofstream(p, std::ios::binary) << b;
  };
  std::string bad = path + ".bad";
  write(bad, bytes.substr(0, bytes.size() - 100));
  auto r1 = RestoreCheckpoint(**s, bad);
  REQUIRE_FALSE(r1.ok());
  REQUIRE_THAT(std::string(r1.status().message()), Catch::Contains("truncated"));
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x01;
  write(bad, flipped);
  auto r2 = RestoreCheckpoint(**s, bad);
  REQUIRE_FALSE(r2.ok());
  REQUIRE_THAT(std::string(r2.status().message()), Catch::Contains("checksum"));
  write(bad, "hello world, not a checkpoint");
  REQUIRE_FALSE(RestoreCheckpoint(**s, bad).ok());

  // A failed save leaves the previous checkpoint untouched.
  REQUIRE_FALSE(SaveCheckpoint(**s, "/nonexistent-dir/x.qckpt").ok());
  REQUIRE(RestoreCheckpoint(**s, path).ok());
  fs::remove(path);
  fs::remove(bad);
}

TEST_CASE("Training with the optimizer pipeline on and off gives the same losses",
          "[training][optimizer]") {
  if (!fs::exists(MnistDir())) {
    std::puts("QUIVER_SKIPPED: MNIST data not present");
    SUCCEED();
    return;
  }
  auto train = data::LoadMnist(MnistDir(), "train");
  REQUIRE(train.ok());
  // Same model, same batches; level 0 runs the graph as built, level 1 prunes, folds, fuses.
  std::vector<std::vector<float>> losses(2);
  for (int level : {0, 1}) {
    MnistModel m(0.5);
    SessionOptions options;
    options.optimizer.level = level;
    auto session = Session::Create(m.graph, options);
    REQUIRE(session.ok());
    REQUIRE((*session)->Run({}, {}, {m.init->name()}).ok());
    data::MnistBatcher batcher(*train, 3);
    for (int i = 0; i < 20; ++i) losses[level].push_back(Step(**session, m, Batch(batcher, 100)));
  }
  for (int i = 0; i < 20; ++i) {
    INFO("step " << i);
    CHECK(losses[1][i] == Approx(losses[0][i]).epsilon(1e-5));
  }
  CHECK(losses[0][19] < losses[0][0]);  // and it did learn
}
