// The TF1 "Deep MNIST for experts" network in C++: two 5x5 conv + relu + 2x2 max-pool layers
// (32 and 64 channels), a 1024-unit fully connected layer with dropout, softmax output,
// Adam(1e-4) on batches of 50. The model sits under a /gpu:0 device scope with soft
// placement, so it runs on the CPU where there is no GPU.
//
//   mnist_cnn [--data DIR] [--steps N] [--batch N] [--seed N] [--eval-every N] [--inter-op-threads
//   N]
//             [--write-graph FILE] [--save-tf PREFIX] [--quiet]
//
// --write-graph writes the training GraphDef (ops "init" and "Adam" (the train op), fetch
// "cross_entropy", feeds x, y_, keep_prob) for `quiver bench`, `quiver place` or TensorFlow;
// --save-tf writes the trained variables as a TensorFlow Saver checkpoint for that graph.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "graph/builder.h"
#include "graph/graphdef.h"
#include "graph/optimizers.h"
#include "runtime/session.h"
#include "runtime/tf_checkpoint.h"
#include "tools/data/mnist.h"

using namespace quiver;

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "\nmnist_cnn: %s\n", std::string(s.message()).c_str());
  return 1;
}

struct Model {
  Graph graph;
  GraphBuilder b{&graph};
  Output x, y_, keep_prob, loss, correct;
  Node* train = nullptr;
  Node* init = nullptr;
};

// weight_variable / bias_variable of the tutorial.
VariableHandle Weight(GraphBuilder& b, const TensorShape& shape, int64_t seed,
                      const std::string& name) {
  return b.Variable(TruncatedNormal(b, shape, 0.1, seed), name);
}
VariableHandle Bias(GraphBuilder& b, int64_t n, const std::string& name) {
  return b.Variable(b.Const(Tensor::FromVector<float>(std::vector<float>(n, 0.1f), {n})), name);
}

absl::Status Build(Model& m, uint64_t seed) {
  GraphBuilder& b = m.b;
  m.x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  m.y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
  m.keep_prob = b.Placeholder(DT_FLOAT, {}, "keep_prob");
  auto on_gpu = b.device("/gpu:0");
  int64_t s = static_cast<int64_t>(seed) * 10;
  Output image = Reshape(m.x, {-1, 28, 28, 1});
  Output h1, h2, fc1, logits;
  {
    auto scope = b.name_scope("conv1");
    auto W = Weight(b, {5, 5, 1, 32}, s + 1, "W");
    auto bias = Bias(b, 32, "b");
    h1 = MaxPool(Relu(Conv2D(image, W, {1, 1, 1, 1}, "SAME") + bias), {1, 2, 2, 1}, {1, 2, 2, 1},
                 "SAME");
  }
  {
    auto scope = b.name_scope("conv2");
    auto W = Weight(b, {5, 5, 32, 64}, s + 2, "W");
    auto bias = Bias(b, 64, "b");
    h2 = MaxPool(Relu(Conv2D(h1, W, {1, 1, 1, 1}, "SAME") + bias), {1, 2, 2, 1}, {1, 2, 2, 1},
                 "SAME");
  }
  {
    auto scope = b.name_scope("fc1");
    auto W = Weight(b, {7 * 7 * 64, 1024}, s + 3, "W");
    auto bias = Bias(b, 1024, "b");
    fc1 = Dropout(Relu(MatMul(Reshape(h2, {-1, 7 * 7 * 64}), W) + bias), m.keep_prob, s + 4);
  }
  {
    auto scope = b.name_scope("fc2");
    auto W = Weight(b, {1024, 10}, s + 5, "W");
    auto bias = Bias(b, 10, "b");
    logits = MatMul(fc1, W) + bias;
  }
  m.loss = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(m.y_, logits), "cross_entropy");
  m.correct = ReduceSumAll(Cast(Equal(ArgMax(logits, 1), ArgMax(m.y_, 1)), DT_FLOAT), "correct");
  auto train = AdamOptimizer(1e-4).Minimize(b, m.loss);
  if (!train.ok()) return train.status();
  m.train = *train;
  m.init = b.GlobalVariablesInitializer();
  return b.status();
}

// Accuracy over the whole test set, in chunks to bound memory.
absl::StatusOr<double> Evaluate(Session& session, const Model& m, const data::MnistSet& test) {
  double correct = 0;
  const int64_t chunk = 1000;
  for (int64_t start = 0; start < test.count; start += chunk) {
    int64_t n = std::min(chunk, test.count - start);
    std::vector<float> xs(test.images.begin() + start * 784,
                          test.images.begin() + (start + n) * 784);
    std::vector<float> ys(n * 10, 0.0f);
    for (int64_t i = 0; i < n; ++i) ys[i * 10 + test.labels[start + i]] = 1.0f;
    auto r = session.Run({{"x", Tensor::FromVector<float>(xs, {n, 784})},
                          {"y_", Tensor::FromVector<float>(ys, {n, 10})},
                          {"keep_prob", Tensor::Scalar<float>(1.0f)}},
                         {m.correct});
    if (!r.ok()) return r.status();
    correct += r->at(0).data<float>()[0];
  }
  return correct / static_cast<double>(test.count);
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = "../shared/data/mnist";
  int steps = 2000, batch = 50, eval_every = 0;
  uint64_t seed = 1;
  bool quiet = false;
  int inter_op_threads = 0;  // 0: one per core
  std::string graph_path, save_tf_prefix;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data")
      data_dir = next();
    else if (a == "--steps")
      steps = std::atoi(next().c_str());
    else if (a == "--batch")
      batch = std::atoi(next().c_str());
    else if (a == "--seed")
      seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--eval-every")
      eval_every = std::atoi(next().c_str());
    else if (a == "--inter-op-threads")
      inter_op_threads = std::atoi(next().c_str());
    else if (a == "--write-graph")
      graph_path = next();
    else if (a == "--save-tf")
      save_tf_prefix = next();
    else if (a == "--quiet")
      quiet = true;
    else {
      std::fprintf(
          stderr,
          "usage: mnist_cnn [--data DIR] [--steps N] [--batch N] [--seed N] "
          "[--eval-every N] [--inter-op-threads N] [--write-graph FILE] [--save-tf PREFIX] "
          "[--quiet]\n");
      return 2;
    }
  }
  if (steps < 0 || batch <= 0) {
    std::fprintf(stderr, "mnist_cnn: --steps must be >= 0 and --batch > 0\n");
    return 2;
  }
  auto train = data::LoadMnist(data_dir, "train");
  if (!train.ok()) return Fail(train.status());
  auto test = data::LoadMnist(data_dir, "t10k");
  if (!test.ok()) return Fail(test.status());

  Model m;
  if (auto s = Build(m, seed); !s.ok()) return Fail(s);
  if (!graph_path.empty()) {
    tensorflow::GraphDef def;
    ExportGraphDef(m.graph, &def);
    if (auto s = WriteGraphDefFile(def, graph_path); !s.ok()) return Fail(s);
    std::printf("wrote %s (%d nodes; init: %s, train: %s, loss: %s)\n", graph_path.c_str(),
                def.node_size(), m.init->name().c_str(), m.train->name().c_str(),
                m.loss.name().c_str());
  }
  SessionOptions options;
  options.allow_soft_placement = true;
  options.inter_op_threads = inter_op_threads;
  auto session = Session::Create(m.graph, options);
  if (!session.ok()) return Fail(session.status());
  if (auto r = (*session)->Run({}, {}, {m.init->name()}); !r.ok()) return Fail(r.status());

  data::MnistBatcher batcher(*train, seed);
  std::vector<float> bx, by;
  double train_secs = 0;
  for (int step = 1; step <= steps; ++step) {
    batcher.NextBatch(batch, &bx, &by);
    auto t0 = std::chrono::steady_clock::now();
    auto out = (*session)->Run({{"x", Tensor::FromVector<float>(bx, {batch, 784})},
                                {"y_", Tensor::FromVector<float>(by, {batch, 10})},
                                {"keep_prob", Tensor::Scalar<float>(0.5f)}},
                               {m.loss}, {m.train->name()});
    train_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out.ok()) return Fail(out.status());
    if (!quiet && (step % 10 == 0 || step == steps)) {
      std::printf("\rstep %5d/%d  loss %.4f  %.0f examples/s   ", step, steps,
                  out->at(0).data<float>()[0], step * batch / std::max(train_secs, 1e-9));
      std::fflush(stdout);
    }
    if (eval_every > 0 && step % eval_every == 0) {
      auto acc = Evaluate(**session, m, *test);
      if (!acc.ok()) return Fail(acc.status());
      std::printf("\nstep %d: test accuracy %.4f\n", step, *acc);
    }
  }
  if (!quiet) std::printf("\n");
  if (!save_tf_prefix.empty()) {
    if (auto s = SaveTfCheckpoint(**session, save_tf_prefix); !s.ok()) return Fail(s);
  }
  auto acc = Evaluate(**session, m, *test);
  if (!acc.ok()) return Fail(acc.status());
  // The accuracy line comes last: scripts read it as the program's result.
  std::printf("train time: %.3f s\nexamples/s: %.0f\n", train_secs,
              steps * batch / std::max(train_secs, 1e-9));
  std::printf("test accuracy: %.4f\n", *acc);
  return 0;
}
