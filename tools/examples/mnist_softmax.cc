// The TF1 "MNIST for beginners" program in C++: softmax regression, 1000 steps of
// gradient descent (learning rate 0.5) on batches of 100, the model under a /gpu:0 device
// scope with soft placement (so it runs on the CPU where there is no GPU).
//
//   mnist_softmax [--data DIR] [--steps N] [--batch N] [--lr X] [--seed N]
//                 [--save CKPT] [--save-tf PREFIX] [--restore CKPT] [--inter-op-threads N]
//                 [--quiet]
//
// --save writes a Quiver checkpoint file, --save-tf a TensorFlow Saver checkpoint (TF's
// tf.compat.v1.train.Saver restores it into the same graph); --restore reads either.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "graph/builder.h"
#include "graph/optimizers.h"
#include "runtime/checkpoint.h"
#include "runtime/session.h"
#include "runtime/tf_checkpoint.h"
#include "tools/data/mnist.h"

using namespace quiver;

namespace {
int Fail(const absl::Status& s) {
  std::fprintf(stderr, "\nmnist_softmax: %s\n", std::string(s.message()).c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = "../shared/data/mnist", save_path, save_tf_prefix, restore_path;
  int steps = 1000, batch = 100;
  double lr = 0.5;
  uint64_t seed = 1;
  bool quiet = false;
  int inter_op_threads = 0;  // 0: one per core
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data")
      data_dir = next();
    else if (a == "--steps")
      steps = std::atoi(next().c_str());
    else if (a == "--batch")
      batch = std::atoi(next().c_str());
    else if (a == "--lr")
      lr = std::atof(next().c_str());
    else if (a == "--seed")
      seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--save")
      save_path = next();
    else if (a == "--save-tf")
      save_tf_prefix = next();
    else if (a == "--restore")
      restore_path = next();
    else if (a == "--inter-op-threads")
      inter_op_threads = std::atoi(next().c_str());
    else if (a == "--quiet")
      quiet = true;
    else {
      std::fprintf(
          stderr,
          "usage: mnist_softmax [--data DIR] [--steps N] [--batch N] [--lr X] "
          "[--seed N] [--save CKPT] [--save-tf PREFIX] [--restore CKPT] [--inter-op-threads N] "
          "[--quiet]\n");
      return 2;
    }
  }
  if (steps < 0 || batch <= 0) {
    std::fprintf(stderr, "mnist_softmax: --steps must be >= 0 and --batch > 0\n");
    return 2;
  }
  auto train = data::LoadMnist(data_dir, "train");
  if (!train.ok()) return Fail(train.status());
  auto test = data::LoadMnist(data_dir, "t10k");
  if (!test.ok()) return Fail(test.status());

  // ---- the model, as in the TF tutorial ----
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
  Output y, loss, accuracy;
  {
    auto on_gpu = b.device("/gpu:0");
    auto W = b.Variable(b.Zeros({784, 10}), "W");
    auto bias = b.Variable(b.Zeros({10}), "b");
    y = MatMul(x, W) + bias;
    loss = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(y_, y), "cross_entropy");
    accuracy = ReduceMeanAll(Cast(Equal(ArgMax(y, 1), ArgMax(y_, 1)), DT_FLOAT), "accuracy");
  }
  auto train_step = GradientDescentOptimizer(lr).Minimize(b, loss);
  if (!train_step.ok()) return Fail(train_step.status());
  Node* init = b.GlobalVariablesInitializer();
  if (!b.status().ok()) return Fail(b.status());

  SessionOptions options;
  options.allow_soft_placement = true;
  options.inter_op_threads = inter_op_threads;
  auto session = Session::Create(graph, options);
  if (!session.ok()) return Fail(session.status());
  if (auto r = (*session)->Run({}, {}, {init->name()}); !r.ok()) return Fail(r.status());
  if (!restore_path.empty()) {
    if (auto s = RestoreAnyCheckpoint(**session, restore_path); !s.ok()) return Fail(s);
  }

  data::MnistBatcher batcher(*train, seed);
  std::vector<float> bx, by;
  auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= steps; ++step) {
    batcher.NextBatch(batch, &bx, &by);
    auto out = (*session)->Run({{"x", Tensor::FromVector<float>(bx, {batch, 784})},
                                {"y_", Tensor::FromVector<float>(by, {batch, 10})}},
                               {loss}, {(*train_step)->name()});
    if (!out.ok()) return Fail(out.status());
    if (!quiet && (step % 50 == 0 || step == steps)) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("\rstep %5d/%d  loss %.4f  %.0f examples/s   ", step, steps,
                  out->at(0).data<float>()[0], step * batch / std::max(secs, 1e-9));
      std::fflush(stdout);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!quiet) std::printf("\ntrained %d steps in %.2f s\n", steps, secs);
  if (!save_path.empty()) {
    if (auto s = SaveCheckpoint(**session, save_path, steps); !s.ok()) return Fail(s);
  }
  if (!save_tf_prefix.empty()) {
    if (auto s = SaveTfCheckpoint(**session, save_tf_prefix); !s.ok()) return Fail(s);
  }
  auto acc = (*session)->Run({{"x", Tensor::FromVector<float>(test->images, {test->count, 784})},
                              {"y_",
                               [&] {
                                 std::vector<float> onehot(test->count * 10, 0.0f);
                                 for (int64_t i = 0; i < test->count; ++i)
                                   onehot[i * 10 + test->labels[i]] = 1;
                                 return Tensor::FromVector<float>(onehot, {test->count, 10});
                               }()}},
                             {accuracy});
  if (!acc.ok()) return Fail(acc.status());
  // The accuracy line comes last: scripts read it as the program's result.
  std::printf("train time: %.3f s\nexamples/s: %.0f\n", secs, steps * batch / std::max(secs, 1e-9));
  std::printf("test accuracy: %.4f\n", acc->at(0).data<float>()[0]);
  return 0;
}
