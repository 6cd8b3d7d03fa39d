// Builds the TF1 "MNIST for beginners" forward graph with the C++ API, saves it as a
// GraphDef, and writes a batch of real MNIST test images and labels as .npy, so that
// `quiver run` can evaluate it:
//
//   mnist_forward_demo --out DIR [--mnist DIR] [--batch N]
//   quiver run DIR/mnist_softmax.pb --feed x=DIR/x.npy --feed y_=DIR/y_.npy
//       --fetch cross_entropy --fetch accuracy
//
// Until training lands, the weights are a closed-form linear classifier rather than learned
// ones: nearest class mean, W[:, c] = mu_c and b[c] = -|mu_c|^2 / 2, where mu_c is the mean
// training image of digit c (argmax of x.mu_c - |mu_c|^2/2 is the nearest mean).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "graph/builder.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "tools/data/mnist.h"

using namespace quiver;

int main(int argc, char** argv) {
  std::string out = ".", mnist_dir = "../shared/data/mnist";
  int batch = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (a == "--mnist" && i + 1 < argc) {
      mnist_dir = argv[++i];
    } else if (a == "--batch" && i + 1 < argc) {
      batch = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: mnist_forward_demo --out DIR [--mnist DIR] [--batch N]\n");
      return 2;
    }
  }
  auto train = data::LoadMnist(mnist_dir, "train");
  auto test = data::LoadMnist(mnist_dir, "t10k");
  if (!train.ok() || !test.ok()) {
    std::fprintf(stderr, "mnist_forward_demo: %s\n",
                 std::string((train.ok() ? test.status() : train.status()).message()).c_str());
    return 1;
  }
  batch = std::max(1, std::min<int>(batch, static_cast<int>(test->count)));

  // Class means from the training set.
  std::vector<float> w(784 * 10, 0.0f), bias(10, 0.0f);
  std::vector<int> counts(10, 0);
  for (int64_t i = 0; i < train->count; ++i) {
    int c = train->labels[i];
    counts[c]++;
    for (int p = 0; p < 784; ++p) w[p * 10 + c] += train->images[i * 784 + p];
  }
  for (int c = 0; c < 10; ++c) {
    for (int p = 0; p < 784; ++p) {
      w[p * 10 + c] /= static_cast<float>(counts[c]);
      bias[c] -= 0.5f * w[p * 10 + c] * w[p * 10 + c];
    }
  }

  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
  {
    auto on_gpu = b.device("/gpu:0");
    auto W = b.Const(Tensor::FromVector<float>(w, {784, 10}), "W");
    auto bv = b.Const(Tensor::FromVector<float>(bias, {10}), "b");
    auto logits = MatMul(x, W) + bv;
    auto y = Softmax(logits, "y");
    ReduceMeanAll(-ReduceSum(y_ * Log(y), {1}), "cross_entropy");
    auto correct = Equal(ArgMax(y, 1), ArgMax(y_, 1));
    ReduceMeanAll(Cast(correct, DT_FLOAT), "accuracy");
  }
  if (!b.status().ok()) {
    std::fprintf(stderr, "mnist_forward_demo: %s\n", std::string(b.status().message()).c_str());
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  tensorflow::GraphDef def;
  ExportGraphDef(graph, &def);
  std::string graph_path = out + "/mnist_softmax.pb";
  if (auto s = WriteGraphDefFile(def, graph_path); !s.ok()) {
    std::fprintf(stderr, "mnist_forward_demo: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::vector<float> xs(test->images.begin(), test->images.begin() + batch * 784);
  std::vector<float> ys(batch * 10, 0.0f);
  for (int i = 0; i < batch; ++i) ys[i * 10 + test->labels[i]] = 1.0f;
  for (auto [name, t] : {std::pair{"x", Tensor::FromVector<float>(xs, {batch, 784})},
                         std::pair{"y_", Tensor::FromVector<float>(ys, {batch, 10})}}) {
    if (auto s = WriteNpyFile(t, out + "/" + name + ".npy"); !s.ok()) {
      std::fprintf(stderr, "mnist_forward_demo: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  std::printf("wrote %s (%d nodes) and %d test images as x.npy / y_.npy in %s\n", graph_path.c_str(),
              graph.num_nodes(), batch, out.c_str());
  return 0;
}
