// Session shape specialisation (SessionOptions::max_shape_specializations): a signature is
// compiled for the shapes its Placeholders are fed, so shape arithmetic folds away; every
// batch size still gets the right answer, also past the cap, where one executable compiled
// for any shape serves the rest.
#include <catch2/catch.hpp>

#include <cmath>
#include <thread>
#include <vector>

#include "graph/builder.h"
#include "graph/gradients.h"
#include "runtime/session.h"

namespace quiver {
namespace {

// y = mean(2 * x * w) over a [batch, 3] x and a [3] weight; dy/dx = 2 * w / (3 * batch): the
// gradient's scale comes from the batch size through Shape/Size/BroadcastGradientArgs.
struct MeanModel {
  Graph graph;
  std::string y, grad;
};

void Build(MeanModel* m) {
  GraphBuilder b(&m->graph);
  auto x = b.Placeholder(DT_FLOAT, {-1, 3}, "x");
  auto w = b.Const(Tensor::FromVector<float>({1.f, -2.f, 0.5f}, {3}), "w");
  Output y = ReduceMeanAll(x * w * 2.0, "y");
  Output g = Gradient(b, y, x);
  REQUIRE(b.status().ok());
  m->y = y.node()->name();
  m->grad = g.node()->name() + ":" + std::to_string(g.index());
}

Tensor Batch(int rows) {
  std::vector<float> v(rows * 3);
  for (int i = 0; i < rows * 3; ++i) v[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  return Tensor::FromVector<float>(v, {rows, 3});
}

// Hand-derived: y = 2/(3 rows) * sum_ij x_ij w_j, dy/dx_ij = 2 w_j / (3 rows).
void CheckStep(Session& session, const MeanModel& m, int rows, RunMetadata* md = nullptr) {
  CAPTURE(rows);
  const Tensor x = Batch(rows);
  const std::vector<float> w = {1.f, -2.f, 0.5f};
  auto out = session.Run({{"x", x}}, {m.y, m.grad}, {}, md);
  REQUIRE(out.ok());
  const std::vector<float> xs = x.ToVector<float>();
  double sum = 0;
  for (int i = 0; i < rows * 3; ++i) sum += xs[i] * w[i % 3];
  CHECK((*out)[0].ToVector<float>()[0] == Approx(2.0 * sum / (3.0 * rows)).epsilon(1e-5));
  const std::vector<float> g = (*out)[1].ToVector<float>();
  REQUIRE(g.size() == static_cast<size_t>(rows * 3));
  for (int i = 0; i < rows * 3; ++i) {
    CHECK(g[i] == Approx(2.0 * w[i % 3] / (3.0 * rows)).epsilon(1e-5));
  }
}

TEST_CASE("Shape specialisation: every batch size is right, before and past the cap",
          "[session][specialize]") {
  MeanModel m;
  Build(&m);
  SessionOptions options;
  options.max_shape_specializations = 3;
  auto session = Session::Create(m.graph, options);
  REQUIRE(session.ok());
  // 1, 2, 3 get executables of their own; 4.. share the generic one; 2 and 1 come back.
  for (int rows : {1, 2, 3, 4, 5, 7, 2, 1, 64}) CheckStep(**session, m, rows);
}

TEST_CASE("Shape specialisation folds the shape arithmetic out of the step",
          "[session][specialize]") {
  MeanModel m;
  Build(&m);
  SessionOptions specialised, generic;
  generic.max_shape_specializations = 0;
  auto a = Session::Create(m.graph, specialised);
  auto b = Session::Create(m.graph, generic);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  RunMetadata md_a, md_b;
  CheckStep(**a, m, 5, &md_a);
  CheckStep(**b, m, 5, &md_b);
  // The generic step runs Shape/Size/BroadcastGradientArgs/Reshape-size nodes that the
  // specialised one has folded into constants.
  CAPTURE(md_a.nodes_executed, md_b.nodes_executed);
  CHECK(md_a.nodes_executed < md_b.nodes_executed);
}

TEST_CASE("Shape specialisation: concurrent Run calls with many batch sizes stay right",
          "[session][specialize][concurrency]") {
  MeanModel m;
  Build(&m);
  SessionOptions options;
  options.max_shape_specializations = 2;  // most shapes share the generic executable
  auto session = Session::Create(m.graph, options);
  REQUIRE(session.ok());
  // 4 threads x 6 batch sizes, in different orders: specialised and generic executables are
  // compiled and used concurrently. Catch's assertions are not thread-safe: collect, then check.
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<float> w = {1.f, -2.f, 0.5f};
      for (int k = 0; k < 6; ++k) {
        const int rows = 1 + (t * 5 + k * 3) % 9;
        auto out = (*session)->Run({{"x", Batch(rows)}}, {m.grad}, {});
        if (!out.ok()) {
          errors[t] = out.status().ToString();
          return;
        }
        const std::vector<float> g = (*out)[0].ToVector<float>();
        for (int i = 0; i < rows * 3; ++i) {
          const double want = 2.0 * w[i % 3] / (3.0 * rows);
          if (g.size() != static_cast<size_t>(rows * 3) || std::abs(g[i] - want) > 1e-6) {
            errors[t] = "rows " + std::to_string(rows) + ": wrong gradient";
            return;
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::string& e : errors) CHECK(e.empty());
}

}  // namespace
}  // namespace quiver
