// The TF1 MNIST models of tools/examples/mnist_softmax.cc and mnist_cnn.cc, built under
// /gpu:0 (placeholders on the host), for the GPU tests: placement, transfers, training.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph/builder.h"
#include "graph/graph.h"

namespace quiver {
namespace gputest {

// Softmax regression: x [-1, 784], y_ [-1, 10]; "cross_entropy", "accuracy", "init"; SGD 0.5.
inline absl::Status SoftmaxModel(Graph& graph, std::string* train_op = nullptr) {
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
  auto on_gpu = b.device("/gpu:0");
  auto W = b.Variable(b.Zeros({784, 10}), "W");
  auto bias = b.Variable(b.Zeros({10}), "b");
  Output y = MatMul(x, W) + bias;
  Output loss = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(y_, y), "cross_entropy");
  ReduceMeanAll(Cast(Equal(ArgMax(y, 1), ArgMax(y_, 1)), DT_FLOAT), "accuracy");
  auto train = GradientDescentOptimizer(0.5).Minimize(b, loss);
  if (!train.ok()) return train.status();
  if (train_op != nullptr) *train_op = (*train)->name();
  b.GlobalVariablesInitializer();
  return b.status();
}

// The Deep MNIST CNN: x, y_, keep_prob; "cross_entropy", "correct", "init"; Adam 1e-4.
inline absl::Status CnnModel(Graph& graph, std::string* train_op = nullptr) {
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
  auto keep_prob = b.Placeholder(DT_FLOAT, {}, "keep_prob");
  auto on_gpu = b.device("/gpu:0");
  auto weight = [&](const TensorShape& shape, int64_t seed, const std::string& name) {
    return b.Variable(TruncatedNormal(b, shape, 0.1, seed), name);
  };
  auto bias = [&](int64_t n, const std::string& name) {
    return b.Variable(b.Const(Tensor::FromVector<float>(std::vector<float>(n, 0.1f), {n})), name);
  };
  Output image = Reshape(x, {-1, 28, 28, 1});
  Output h1 = MaxPool(
      Relu(Conv2D(image, weight({5, 5, 1, 32}, 1, "W1"), {1, 1, 1, 1}, "SAME") + bias(32, "b1")),
      {1, 2, 2, 1}, {1, 2, 2, 1}, "SAME");
  Output h2 = MaxPool(
      Relu(Conv2D(h1, weight({5, 5, 32, 64}, 2, "W2"), {1, 1, 1, 1}, "SAME") + bias(64, "b2")),
      {1, 2, 2, 1}, {1, 2, 2, 1}, "SAME");
  Output fc1 =
      Dropout(Relu(MatMul(Reshape(h2, {-1, 7 * 7 * 64}), weight({7 * 7 * 64, 1024}, 3, "W3")) +
                   bias(1024, "b3")),
              keep_prob, 4);
  Output logits = MatMul(fc1, weight({1024, 10}, 5, "W4")) + bias(10, "b4");
  Output loss = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(y_, logits), "cross_entropy");
  ReduceSumAll(Cast(Equal(ArgMax(logits, 1), ArgMax(y_, 1)), DT_FLOAT), "correct");
  auto train = AdamOptimizer(1e-4).Minimize(b, loss);
  if (!train.ok()) return train.status();
  if (train_op != nullptr) *train_op = (*train)->name();
  b.GlobalVariablesInitializer();
  return b.status();
}

// Requests every node of `graph` on the CPU (the reference run of the same model).
inline void PinToCpu(Graph& graph) {
  for (Node* n : graph.nodes()) n->set_requested_device("/cpu:0");
}

}  // namespace gputest
}  // namespace quiver
