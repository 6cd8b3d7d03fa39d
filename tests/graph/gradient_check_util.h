// Numeric gradient checking for AddSymbolicGradients, in float64.
//
//   auto report = CheckGradients({RandomDoubles({2, 3}, 1), RandomDoubles({3}, 2)},
//                                [](GraphBuilder& b, const std::vector<Output>& x) {
//                                  return std::vector<Output>{x[0] + x[1]};
//                                });
//   REQUIRE(report.ok());            // building or running failed: the status says why
//   CHECK(report->passed);           // report->ToString() names the worst element
//
// The xs become DT_DOUBLE placeholders; the ys are reduced to the scalar L = sum_j sum(w_j * y_j)
// with fixed random weights w_j (so every output element matters, differently), the symbolic
// dL/dx comes from AddSymbolicGradients, and it is compared with central differences
// (L(x + eps) - L(x - eps)) / 2 eps from running the forward graph with perturbed feeds.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "graph/builder.h"
#include "graph/gradients.h"
#include "graph/status_macros.h"
#include "runtime/session.h"

namespace quiver {
namespace testing {

// Uniform doubles in [lo, hi], reproducible from `seed`.
inline Tensor RandomDoubles(const TensorShape& shape, uint32_t seed, double lo = -1,
                            double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(shape.num_elements()));
  for (double& x : v) x = dist(rng);
  return Tensor::FromVector<double>(v, shape);
}

inline Tensor RandomFloats(const TensorShape& shape, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape.num_elements()));
  for (float& x : v) x = dist(rng);
  return Tensor::FromVector<float>(v, shape);
}

struct GradCheckOptions {
  double eps = 1e-6;
  // An element passes when |symbolic - numeric| <= atol + rtol * max(|symbolic|, |numeric|).
  double rtol = 1e-6;
  double atol = 1e-8;
  uint32_t seed = 20240611;
  // Placeholder shapes (default: each value's shape); partial shapes exercise the dynamic
  // (run-time shape) paths of the gradient functions.
  std::vector<TensorShape> placeholder_shapes;
};

struct GradCheckReport {
  bool passed = true;
  double max_error = 0;  // largest |symbolic - numeric| / (atol + rtol * scale)
  std::string worst;     // where, with both values
  int64_t elements = 0;
  std::string ToString() const {
    return absl::StrCat(passed ? "passed" : "FAILED", " on ", elements, " elements; worst ratio ",
                        max_error, " at ", worst);
  }
};

using GradBuildFn =
    std::function<std::vector<Output>(GraphBuilder& b, const std::vector<Output>& xs)>;

inline absl::StatusOr<std::unique_ptr<Session>> SingleThreadSession(const Graph& g) {
  SessionOptions options;
  options.inter_op_threads = 1;
  options.intra_op_threads = 1;
  return Session::Create(g, options);
}

inline absl::StatusOr<GradCheckReport> CheckGradients(const std::vector<Tensor>& x_values,
                                                      const GradBuildFn& build,
                                                      const GradCheckOptions& options = {}) {
  Graph g;
  GraphBuilder b(&g);
  std::vector<Output> xs;
  for (size_t i = 0; i < x_values.size(); ++i) {
    if (x_values[i].dtype() != DT_DOUBLE) {
      return absl::InvalidArgumentError(absl::StrCat("x", i, " is not a float64 tensor"));
    }
    const TensorShape shape =
        i < options.placeholder_shapes.size() ? options.placeholder_shapes[i] : x_values[i].shape();
    xs.push_back(b.Placeholder(DT_DOUBLE, shape, absl::StrCat("x", i)));
  }
  std::vector<Output> ys = build(b, xs);
  RETURN_IF_ERROR(b.status());
  std::vector<Session::Feed> feeds;
  for (size_t i = 0; i < xs.size(); ++i) feeds.push_back({xs[i].name(), x_values[i]});

  // The ys' run-time shapes fix the weights' shapes.
  std::vector<std::string> y_names;
  for (const Output& y : ys) y_names.push_back(y.name());
  std::vector<Tensor> y_values;
  {
    ASSIGN_OR_RETURN(auto forward, SingleThreadSession(g));
    ASSIGN_OR_RETURN(y_values, forward->Run(feeds, y_names));
  }
  std::vector<Output> terms;
  for (size_t j = 0; j < ys.size(); ++j) {
    Output w = b.Const(RandomDoubles(y_values[j].shape(), options.seed + 101 * j), "w");
    terms.push_back(ReduceSum(Reshape(ys[j] * w, {-1}), {0}));
  }
  Output loss = terms.size() == 1 ? terms[0] : b.Op("AddN", terms, {}, "loss");
  RETURN_IF_ERROR(b.status());
  ASSIGN_OR_RETURN(std::vector<Output> grads, AddSymbolicGradients(b, {loss}, xs));
  RETURN_IF_ERROR(b.status());

  ASSIGN_OR_RETURN(auto session, SingleThreadSession(g));
  std::vector<std::string> grad_names;
  for (const Output& gr : grads) {
    if (gr.valid()) grad_names.push_back(gr.name());
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> grad_values, session->Run(feeds, grad_names));

  GradCheckReport report;
  size_t next_grad = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t n = x_values[i].num_elements();
    std::vector<double> symbolic(static_cast<size_t>(n), 0.0);  // null gradient: zeros
    if (grads[i].valid()) {
      const Tensor& t = grad_values[next_grad++];
      if (t.shape() != x_values[i].shape()) {
        return absl::InternalError(absl::StrCat("gradient of x", i, " has shape ",
                                                t.shape().DebugString(), ", x has ",
                                                x_values[i].shape().DebugString()));
      }
      symbolic = t.ToVector<double>();
    }
    ASSIGN_OR_RETURN(Tensor perturbed, x_values[i].Clone());
    double* p = perturbed.data<double>();
    std::vector<Session::Feed> pfeeds = feeds;
    for (int64_t k = 0; k < n; ++k) {
      const double orig = p[k];
      double l[2];
      for (int side = 0; side < 2; ++side) {
        // A fresh copy per run: the session may keep feeds alive beyond the call.
        p[k] = orig + (side == 0 ? options.eps : -options.eps);
        ASSIGN_OR_RETURN(pfeeds[i].second, perturbed.Clone());
        ASSIGN_OR_RETURN(std::vector<Tensor> out, session->Run(pfeeds, {loss.name()}));
        l[side] = out[0].data<double>()[0];
      }
      p[k] = orig;
      const double numeric = (l[0] - l[1]) / (2 * options.eps);
      const double scale = std::max(std::abs(symbolic[k]), std::abs(numeric));
      const double ratio = std::abs(symbolic[k] - numeric) / (options.atol + options.rtol * scale);
      if (!(ratio <= 1.0)) report.passed = false;  // NaN fails too
      if (!(ratio <= report.max_error)) {
        report.max_error = ratio;
        report.worst =
            absl::StrCat("x", i, "[", k, "]: symbolic ", symbolic[k], " numeric ", numeric);
      }
      ++report.elements;
    }
    pfeeds[i].second = x_values[i];
  }
  return report;
}

// Runs `fetches` after AddSymbolicGradients-style building, for hand-derived expectations.
inline absl::StatusOr<std::vector<Tensor>> RunGraph(const Graph& g,
                                                    const std::vector<Session::Feed>& feeds,
                                                    const std::vector<std::string>& fetches,
                                                    const std::vector<std::string>& targets = {}) {
  ASSIGN_OR_RETURN(auto session, SingleThreadSession(g));
  return session->Run(feeds, fetches, targets);
}

}  // namespace testing
}  // namespace quiver
