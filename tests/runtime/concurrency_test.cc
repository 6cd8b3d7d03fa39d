// Many threads calling Session::Run on one Session at once (issue 8). Tagged [concurrency]:
// these are the tests the ThreadSanitizer preset runs (ctest --preset tsan).
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "graph/builder.h"
#include "graph/optimizers.h"
#include "graph/status_macros.h"
#include "runtime/session.h"
#include "tools/data/mnist.h"

using namespace quiver;

namespace {

constexpr int kThreads = 8;

// Input batches: real MNIST test images when the data is present (../shared/data/mnist),
// otherwise deterministic pseudo-images with the same range and shape.
std::vector<Tensor> MnistBatches(int count, int batch) {
  std::vector<float> pixels;
  auto set = data::LoadMnist(QUIVER_SOURCE_DIR "/../shared/data/mnist", "t10k");
  if (set.ok() && set->count >= int64_t{count} * batch) {
    pixels.assign(set->images.begin(), set->images.begin() + int64_t{count} * batch * 784);
  } else {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    pixels.resize(size_t(count) * batch * 784);
    for (float& p : pixels) p = dist(rng);
  }
  std::vector<Tensor> out;
  for (int i = 0; i < count; ++i) {
    std::vector<float> v(pixels.begin() + int64_t{i} * batch * 784,
                         pixels.begin() + int64_t{i + 1} * batch * 784);
    out.push_back(Tensor::FromVector<float>(v, {batch, 784}));
  }
  return out;
}

Tensor RandomWeights(const TensorShape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<float> v(shape.num_elements());
  for (float& x : v) x = dist(rng);
  return Tensor::FromVector<float>(v, shape);
}

bool SameBits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0;
}

// Where two float tensors of the same shape differ first, for failure messages.
std::string FirstDifference(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape()) {
    return "shape " + got.shape().DebugString() + " vs " + want.shape().DebugString();
  }
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    const double g = got.ElementAsDouble(i), w = want.ElementAsDouble(i);
    if (std::memcmp(static_cast<const char*>(got.raw_data()) + i * DataTypeSize(got.dtype()),
                    static_cast<const char*>(want.raw_data()) + i * DataTypeSize(want.dtype()),
                    DataTypeSize(got.dtype())) != 0) {
      return "element " + std::to_string(i) + ": " + std::to_string(g) + " vs " + std::to_string(w);
    }
  }
  return "no difference";
}

// Collects failures from worker threads (Catch2's assertions are not thread-safe).
class Failures {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (messages_.size() < 5) messages_.push_back(what);
    ++count_;
  }
  int count() const { return count_; }
  std::string Summary() const {
    std::string s;
    for (const auto& m : messages_) s += m + "\n";
    return s;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> messages_;
  int count_ = 0;
};

// A float[4] variable "counter" (zeros) and "increment" (AssignAdd of ones: every element
// counts the same updates), in an initialised session; *value is the tensor to fetch it.
absl::StatusOr<std::unique_ptr<Session>> CounterSession(Graph* graph, std::string* value) {
  GraphBuilder b(graph);
  auto counter = b.Variable(b.Zeros({4}), "counter");
  AssignAdd(counter.ref, b.Const(Tensor::FromVector<float>({1, 1, 1, 1}, {4})), "increment");
  Node* init = b.GlobalVariablesInitializer();
  if (!b.status().ok()) return b.status();
  *value = counter.value.name();
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Create(*graph));
  auto ran = session->Run({}, {}, {init->name()});
  if (!ran.ok()) return ran.status();
  return session;
}

// Starts `writers` threads that each run "increment" `updates` times.
void StartIncrementers(Session& session, int writers, int updates, Failures* failures,
                       std::vector<std::thread>* threads) {
  for (int t = 0; t < writers; ++t) {
    threads->emplace_back([&session, updates, failures] {
      for (int i = 0; i < updates; ++i) {
        auto out = session.Run({}, {}, {"increment"});
        if (!out.ok()) failures->Add(std::string(out.status().message()));
      }
    });
  }
}

}  // namespace

// This test found a real race: cached oneDNN primitives ran concurrently with oneDNN's
// shared library-managed scratchpad (about one Run in a thousand returned garbage). Every
// primitive now uses a per-thread user scratchpad (devices/cpu/onednn_util.h).
TEST_CASE(
    "Concurrency: 8 threads x 1000 Run calls on the MNIST softmax graph match single-threaded runs",
    "[concurrency][session]") {
  // The tutorial model, with random (not zero) weights so that every output depends on them.
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  auto W = b.Variable(b.Const(RandomWeights({784, 10}, 1)), "W");
  auto bias = b.Variable(b.Const(RandomWeights({10}, 2)), "b");
  auto logits = MatMul(x, W.value) + bias.value;
  Softmax(logits, "y");
  ArgMax(logits, 1, "prediction");
  Node* init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
  auto session = Session::Create(graph);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());

  constexpr int kBatches = 16, kBatch = 10, kRunsPerThread = 1000;
  const std::vector<Tensor> batches = MnistBatches(kBatches, kBatch);
  const std::vector<std::string> fetches = {"y", "prediction"};

  // Single-threaded reference, one run per batch.
  std::vector<std::vector<Tensor>> expected;
  for (const Tensor& xb : batches) {
    auto out = (*session)->Run({{"x", xb}}, fetches);
    REQUIRE(out.ok());
    expected.push_back(*out);
  }
  // Sanity of the reference itself: probability rows summing to 1, argmax = prediction.
  for (const auto& out : expected) {
    for (int r = 0; r < kBatch; ++r) {
      const float* p = out[0].data<float>() + r * 10;
      double sum = 0;
      int best = 0;
      for (int c = 0; c < 10; ++c) {
        sum += p[c];
        if (p[c] > p[best]) best = c;
      }
      REQUIRE(sum == Approx(1.0).epsilon(1e-5));
      REQUIRE(out[1].data<int64_t>()[r] == best);
    }
  }

  Failures failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRunsPerThread; ++i) {
        const int k = (t * 7 + i) % kBatches;
        auto out = (*session)->Run({{"x", batches[k]}}, fetches);
        if (!out.ok()) {
          failures.Add(std::string(out.status().message()));
        } else if (!SameBits((*out)[0], expected[k][0]) || !SameBits((*out)[1], expected[k][1])) {
          failures.Add("thread " + std::to_string(t) + " run " + std::to_string(i) + " batch " +
                       std::to_string(k) + ": result differs from the single-threaded run (y " +
                       FirstDifference((*out)[0], expected[k][0]) + "; prediction " +
                       FirstDifference((*out)[1], expected[k][1]) + ")");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  INFO(failures.Summary());
  REQUIRE(failures.count() == 0);
}

TEST_CASE("Concurrency: AssignAdd updates are never lost and reads see whole values",
          "[concurrency][session][variables]") {
  Graph graph;
  std::string counter_value;
  auto session = CounterSession(&graph, &counter_value);
  REQUIRE(session.ok());

  // 6 threads add 1 (as targets, 1000 times each); 2 threads read the counter meanwhile.
  constexpr int kWriters = 6, kReaders = kThreads - kWriters, kUpdates = 1000;
  Failures failures;
  std::vector<std::thread> threads;
  StartIncrementers(**session, kWriters, kUpdates, &failures, &threads);
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&] {
      float last = 0;
      for (int i = 0; i < kUpdates; ++i) {
        auto out = (*session)->Run({}, {counter_value});
        if (!out.ok()) {
          failures.Add(std::string(out.status().message()));
          continue;
        }
        // Every element counts whole updates, and a later read never sees fewer.
        const float* v = (*out)[0].data<float>();
        for (int e = 0; e < 4; ++e) {
          if (v[e] != std::floor(v[e]) || v[e] < 0 || v[e] > kWriters * kUpdates) {
            failures.Add("read a torn or impossible counter value " + std::to_string(v[e]));
          }
        }
        if (v[0] < last) failures.Add("counter went backwards");
        last = v[0];
      }
    });
  }
  for (auto& th : threads) th.join();
  INFO(failures.Summary());
  REQUIRE(failures.count() == 0);
  auto final_value = (*session)->Run({}, {counter_value});
  REQUIRE(final_value.ok());
  for (int e = 0; e < 4; ++e) REQUIRE((*final_value)[0].data<float>()[e] == kWriters * kUpdates);
}

// ReadVariables (what SaveCheckpoint calls) lists the variables under the session's map lock
// and copies each under that variable's own lock only: saves racing updates see whole values.
TEST_CASE("Concurrency: ReadVariables while AssignAdd updates run sees whole, growing values",
          "[concurrency][session][variables]") {
  Graph graph;
  std::string counter_value;
  auto session = CounterSession(&graph, &counter_value);
  REQUIRE(session.ok());

  constexpr int kWriters = 4, kReaders = 2, kUpdates = 500;
  Failures failures;
  std::vector<std::thread> threads;
  StartIncrementers(**session, kWriters, kUpdates, &failures, &threads);
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&] {
      float last = 0;
      for (int i = 0; i < kUpdates; ++i) {
        auto vars = (*session)->ReadVariables();
        if (!vars.ok()) {
          failures.Add(std::string(vars.status().message()));
          continue;
        }
        if (vars->size() != 1 || (*vars)[0].first != "counter") {
          failures.Add("expected exactly the variable 'counter'");
          continue;
        }
        // One AssignAdd adds 1 to all four elements under the variable's lock: a whole value
        // has four equal counts.
        const float* v = (*vars)[0].second.data<float>();
        for (int e = 1; e < 4; ++e) {
          if (v[e] != v[0]) failures.Add("read a torn value: " + std::to_string(v[e]));
        }
        if (v[0] < last || v[0] > kWriters * kUpdates) {
          failures.Add("impossible count " + std::to_string(v[0]));
        }
        last = v[0];
      }
    });
  }
  for (auto& th : threads) th.join();
  INFO(failures.Summary());
  REQUIRE(failures.count() == 0);
  auto final_vars = (*session)->ReadVariables();
  REQUIRE(final_vars.ok());
  REQUIRE(final_vars->size() == 1);
  for (int e = 0; e < 4; ++e) {
    REQUIRE((*final_vars)[0].second.data<float>()[e] == kWriters * kUpdates);
  }
}

TEST_CASE(
    "Concurrency: training steps interleaved with inference from many threads keep the session "
    "sound",
    "[concurrency][session][training]") {
  // Softmax regression trained by Adam and by gradient descent (two weight sets) while other
  // threads run inference on both.
  Graph graph;
  GraphBuilder b(&graph);
  auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
  auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
  auto W1 = b.Variable(b.Zeros({784, 10}), "W1");
  auto b1 = b.Variable(b.Zeros({10}), "b1");
  auto W2 = b.Variable(b.Zeros({784, 10}), "W2");
  auto b2 = b.Variable(b.Zeros({10}), "b2");
  auto logits1 = MatMul(x, W1.value) + b1.value;
  auto logits2 = MatMul(x, W2.value) + b2.value;
  Softmax(logits1, "y1");
  Softmax(logits2, "y2");
  auto loss1 = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(y_, logits1), "loss1");
  auto loss2 = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(y_, logits2), "loss2");
  auto adam = AdamOptimizer(0.01).Minimize(b, loss1, {W1, b1}, "adam_step");
  REQUIRE(adam.ok());
  auto gd = GradientDescentOptimizer(0.5).Minimize(b, loss2, {W2, b2}, "gd_step");
  REQUIRE(gd.ok());
  Node* init = b.GlobalVariablesInitializer();
  REQUIRE(b.status().ok());
  auto session = Session::Create(graph);
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());

  constexpr int kBatch = 20, kSteps = 150;
  const std::vector<Tensor> batches = MnistBatches(4, kBatch);
  // Labels: a fixed function of the image (which quadrant is brightest, and more), so that
  // there is something to learn whether the images are real or synthetic.
  std::vector<Tensor> labels;
  for (const Tensor& xb : batches) {
    std::vector<float> onehot(kBatch * 10, 0.0f);
    for (int r = 0; r < kBatch; ++r) {
      double s = 0;
      for (int p = 0; p < 784; ++p) s += xb.data<float>()[r * 784 + p] * (p % 10);
      onehot[r * 10 + static_cast<int>(s) % 10] = 1.0f;
    }
    labels.push_back(Tensor::FromVector<float>(onehot, {kBatch, 10}));
  }

  Failures failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {  // one Adam trainer, one gradient-descent trainer
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSteps; ++i) {
        const int k = i % 4;
        auto out =
            (*session)->Run({{"x", batches[k]}, {"y_", labels[k]}}, {t == 0 ? "loss1" : "loss2"},
                            {t == 0 ? (*adam)->name() : (*gd)->name()});
        if (!out.ok()) {
          failures.Add(std::string(out.status().message()));
        } else if (!std::isfinite((*out)[0].data<float>()[0])) {
          failures.Add("non-finite loss");
        }
      }
    });
  }
  for (int t = 2; t < kThreads; ++t) {  // inference on both models
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSteps; ++i) {
        auto out = (*session)->Run({{"x", batches[(t + i) % 4]}}, {"y1", "y2"});
        if (!out.ok()) {
          failures.Add(std::string(out.status().message()));
          continue;
        }
        for (const Tensor& y : *out) {
          for (int r = 0; r < kBatch; ++r) {
            double sum = 0;
            for (int c = 0; c < 10; ++c) {
              const float p = y.data<float>()[r * 10 + c];
              if (!(p >= 0.0f && p <= 1.0f)) failures.Add("probability out of [0, 1]");
              sum += p;
            }
            if (std::abs(sum - 1.0) > 1e-4) failures.Add("probabilities do not sum to 1");
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  INFO(failures.Summary());
  REQUIRE(failures.count() == 0);

  // Both models learned: the loss on the training batches fell below the untrained ln(10).
  double loss_sum[2] = {0, 0};
  for (int k = 0; k < 4; ++k) {
    auto out = (*session)->Run({{"x", batches[k]}, {"y_", labels[k]}}, {"loss1", "loss2"});
    REQUIRE(out.ok());
    loss_sum[0] += (*out)[0].data<float>()[0];
    loss_sum[1] += (*out)[1].data<float>()[0];
  }
  CHECK(loss_sum[0] / 4 < std::log(10.0));
  CHECK(loss_sum[1] / 4 < std::log(10.0));
}
