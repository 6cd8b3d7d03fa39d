// Test helpers for the NN ops: run one CPU kernel on concrete tensors, infer shapes from
// partial input shapes, and the naive reference implementations the kernels are checked
// against (written independently of the kernels: plain loops in double, TF's formulas spelt
// out again here).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/kernel.h"
#include "graph/attr_value.h"
#include "graph/graph.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"

namespace quiver::nn_test {

// The name every op under test gets, so tests can check that errors name the node.
inline constexpr char kNodeName[] = "nn_node";

// Adds "T" (and FusedBatchNorm's "U") from the first input when the caller left them out.
inline AttrMap WithTypeAttrs(const std::string& op, AttrMap attrs, DataType t) {
  const OpDef* def = OpRegistry::Global().Find(op);
  if (def != nullptr) {
    if (def->FindAttr("T") && !attrs.count("T")) attrs["T"] = MakeAttr(t);
    if (def->FindAttr("U") && !attrs.count("U")) attrs["U"] = MakeAttr(DT_FLOAT);
  }
  return attrs;
}

// A graph of Const inputs feeding one `op` node, and that node's CPU kernel. The kernel may
// be run repeatedly (and concurrently) on tensors of other shapes, as a Session would.
class KernelRunner {
 public:
  static absl::StatusOr<std::unique_ptr<KernelRunner>> Create(const std::string& op,
                                                              const AttrMap& attrs,
                                                              const std::vector<Tensor>& inputs) {
    auto r = std::unique_ptr<KernelRunner>(new KernelRunner);
    NodeSpec spec;
    spec.name = kNodeName;
    spec.op = op;
    spec.attrs = WithTypeAttrs(op, attrs, inputs.empty() ? DT_FLOAT : inputs[0].dtype());
    for (size_t i = 0; i < inputs.size(); ++i) {
      NodeSpec c;
      c.name = "input" + std::to_string(i);
      c.op = "Const";
      c.attrs["dtype"] = MakeAttr(inputs[i].dtype());
      c.attrs["value"] = MakeAttr(inputs[i]);
      ASSIGN_OR_RETURN(Node * n, r->graph_.AddNode(std::move(c)));
      spec.inputs.push_back({n, 0});
    }
    ASSIGN_OR_RETURN(r->node_, r->graph_.AddNode(std::move(spec)));
    ASSIGN_OR_RETURN(r->kernel_, KernelRegistry::Global().CreateKernel(*r->node_, kCpu));
    return r;
  }

  // Inputs are moved in, so a kernel may forward an input buffer to an output.
  absl::StatusOr<std::vector<Tensor>> Run(std::vector<Tensor> inputs) const {
    std::vector<TensorValue> in(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) in[i].tensor = std::move(inputs[i]);
    inputs.clear();
    std::vector<TensorValue> out(node_->num_outputs());
    StepResources resources;
    OpKernelContext ctx(*node_, &in, &out, &resources);
    RETURN_IF_ERROR(kernel_->Compute(ctx));
    std::vector<Tensor> result;
    for (TensorValue& v : out) result.push_back(std::move(v.tensor));
    return result;
  }

  const Node& node() const { return *node_; }

 private:
  KernelRunner() = default;
  Graph graph_;
  Node* node_ = nullptr;
  std::unique_ptr<OpKernel> kernel_;
};

// Builds the node and runs its CPU kernel once (no shape inference: the kernel's own checks
// are under test).
inline absl::StatusOr<std::vector<Tensor>> RunKernel(const std::string& op, const AttrMap& attrs,
                                                     std::vector<Tensor> inputs) {
  ASSIGN_OR_RETURN(auto runner, KernelRunner::Create(op, attrs, inputs));
  return runner->Run(std::move(inputs));
}

// Output shapes the op's shape function infers from Placeholders of the given (partial)
// shapes.
inline absl::StatusOr<std::vector<TensorShape>> InferShapes(const std::string& op,
                                                            const AttrMap& attrs,
                                                            const std::vector<TensorShape>& shapes,
                                                            DataType dtype = DT_FLOAT,
                                                            std::vector<DataType> dtypes = {}) {
  Graph g;
  NodeSpec spec;
  spec.name = kNodeName;
  spec.op = op;
  spec.attrs = WithTypeAttrs(op, attrs, dtype);
  for (size_t i = 0; i < shapes.size(); ++i) {
    NodeSpec p;
    p.name = "input" + std::to_string(i);
    p.op = "Placeholder";
    p.attrs["dtype"] = MakeAttr(i < dtypes.size() ? dtypes[i] : dtype);
    p.attrs["shape"] = MakeAttr(shapes[i]);
    ASSIGN_OR_RETURN(Node * n, g.AddNode(std::move(p)));
    spec.inputs.push_back({n, 0});
  }
  ASSIGN_OR_RETURN(Node * node, g.AddNode(std::move(spec)));
  RETURN_IF_ERROR(g.InferShapes());
  std::vector<TensorShape> out;
  for (int i = 0; i < node->num_outputs(); ++i) out.push_back(node->output_shape(i));
  return out;
}

// ---- data -----------------------------------------------------------------------------------

inline std::vector<double> RandomValues(int64_t n, uint32_t seed, double lo = -1.0,
                                        double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = dist(gen);
  return v;
}

template <typename T>
Tensor MakeTensor(const std::vector<double>& values, const TensorShape& shape) {
  std::vector<T> v(values.begin(), values.end());
  return Tensor::FromVector<T>(v, shape);
}

template <typename T>
std::vector<double> ToDoubles(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<double>(p, p + t.num_elements());
}

// Max of |got - want| / (1 + |want|): an absolute error near 0, relative for large values.
inline double MaxError(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return INFINITY;
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    e = std::max(e, std::abs(got[i] - want[i]) / (1.0 + std::abs(want[i])));
  }
  return e;
}

// ---- references -----------------------------------------------------------------------------

// C[M,N] = op(A) op(B) where A is stored [M,K] (or [K,M] when ta) and B [K,N] (or [N,K]).
inline std::vector<double> RefMatMul(const double* a, const double* b, int64_t m, int64_t k,
                                     int64_t n, bool ta, bool tb) {
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      }
      c[i * n + j] = s;
    }
  }
  return c;
}

// TF's SAME/VALID/EXPLICIT arithmetic for one spatial dim, written out independently:
// SAME: out = ceil(in / s), pad_total = max((out - 1) * s + (k - 1) * d + 1 - in, 0),
// pad_before = floor(pad_total / 2). VALID: out = ceil((in - (k - 1) * d) / s).
struct Window1D {
  int64_t out, before;
};
inline Window1D RefWindow(int64_t in, int64_t k, int64_t s, int64_t d, const std::string& pad,
                          int64_t explicit_before = 0, int64_t explicit_after = 0) {
  const int64_t eff = (k - 1) * d + 1;
  if (pad == "SAME") {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + eff - in, 0);
    return {out, total / 2};
  }
  if (pad == "VALID") return {(in - eff + s) / s, 0};
  return {(in + explicit_before + explicit_after - eff) / s + 1, explicit_before};
}

struct ConvSpec {
  int64_t n, h, w, c;       // input NHWC
  int64_t kh, kw, fin, oc;  // filter HWIO; fin = c for a plain conv, c / groups if grouped
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  std::string padding = "SAME";
  std::vector<int64_t> explicit_pads = {};  // 8 values (NHWC pairs) for EXPLICIT
};

// Direct convolution: out[b,y,x,o] = sum over window and input channels of its group.
inline std::vector<double> RefConv(const ConvSpec& s, const std::vector<double>& in,
                                   const std::vector<double>& f, int64_t* oh, int64_t* ow) {
  const bool ex = s.padding == "EXPLICIT";
  const Window1D wy = RefWindow(s.h, s.kh, s.sh, s.dh, s.padding, ex ? s.explicit_pads[2] : 0,
                                ex ? s.explicit_pads[3] : 0);
  const Window1D wx = RefWindow(s.w, s.kw, s.sw, s.dw, s.padding, ex ? s.explicit_pads[4] : 0,
                                ex ? s.explicit_pads[5] : 0);
  *oh = wy.out;
  *ow = wx.out;
  const int64_t groups = s.c / s.fin, ocg = s.oc / groups;
  std::vector<double> out(s.n * wy.out * wx.out * s.oc, 0.0);
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t y = 0; y < wy.out; ++y)
      for (int64_t x = 0; x < wx.out; ++x)
        for (int64_t o = 0; o < s.oc; ++o) {
          const int64_t g = o / ocg;
          double acc = 0;
          for (int64_t i = 0; i < s.kh; ++i)
            for (int64_t j = 0; j < s.kw; ++j) {
              const int64_t iy = y * s.sh - wy.before + i * s.dh;
              const int64_t ix = x * s.sw - wx.before + j * s.dw;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              for (int64_t ci = 0; ci < s.fin; ++ci) {
                acc += in[((b * s.h + iy) * s.w + ix) * s.c + g * s.fin + ci] *
                       f[((i * s.kw + j) * s.fin + ci) * s.oc + o];
              }
            }
          out[((b * wy.out + y) * wx.out + x) * s.oc + o] = acc;
        }
  return out;
}

// Depthwise: filter [KH,KW,C,M]; out channel c*M + m sees only input channel c.
inline std::vector<double> RefDepthwise(const ConvSpec& s, int64_t mult,
                                        const std::vector<double>& in, const std::vector<double>& f,
                                        int64_t* oh, int64_t* ow) {
  const Window1D wy = RefWindow(s.h, s.kh, s.sh, s.dh, s.padding);
  const Window1D wx = RefWindow(s.w, s.kw, s.sw, s.dw, s.padding);
  *oh = wy.out;
  *ow = wx.out;
  const int64_t oc = s.c * mult;
  std::vector<double> out(s.n * wy.out * wx.out * oc, 0.0);
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t y = 0; y < wy.out; ++y)
      for (int64_t x = 0; x < wx.out; ++x)
        for (int64_t c = 0; c < s.c; ++c)
          for (int64_t m = 0; m < mult; ++m) {
            double acc = 0;
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t iy = y * s.sh - wy.before + i * s.dh;
                const int64_t ix = x * s.sw - wx.before + j * s.dw;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                acc += in[((b * s.h + iy) * s.w + ix) * s.c + c] *
                       f[((i * s.kw + j) * s.c + c) * mult + m];
              }
            out[((b * wy.out + y) * wx.out + x) * oc + c * mult + m] = acc;
          }
  return out;
}

// Max or average pooling over in-bounds elements only (TF: padding is never averaged in).
inline std::vector<double> RefPool(bool is_max, int64_t n, int64_t h, int64_t w, int64_t c,
                                   int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                   const std::string& padding, const std::vector<double>& in,
                                   int64_t* oh, int64_t* ow) {
  const Window1D wy = RefWindow(h, kh, sh, 1, padding);
  const Window1D wx = RefWindow(w, kw, sw, 1, padding);
  *oh = wy.out;
  *ow = wx.out;
  std::vector<double> out(n * wy.out * wx.out * c);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < wy.out; ++y)
      for (int64_t x = 0; x < wx.out; ++x)
        for (int64_t ch = 0; ch < c; ++ch) {
          double acc = is_max ? -INFINITY : 0.0;
          int count = 0;
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t iy = y * sh - wy.before + i, ix = x * sw - wx.before + j;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const double v = in[((b * h + iy) * w + ix) * c + ch];
              acc = is_max ? std::max(acc, v) : acc + v;
              ++count;
            }
          out[((b * wy.out + y) * wx.out + x) * c + ch] = is_max ? acc : acc / count;
        }
  return out;
}

// Softmax (or log-softmax) over rows of `cols`, in long double from the definition.
inline std::vector<double> RefSoftmax(const std::vector<double>& x, int64_t cols, bool log) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / cols; ++r) {
    long double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < cols; ++j) mx = std::max<long double>(mx, x[r * cols + j]);
    for (int64_t j = 0; j < cols; ++j)
      sum += std::exp(static_cast<long double>(x[r * cols + j]) - mx);
    for (int64_t j = 0; j < cols; ++j) {
      const long double z = static_cast<long double>(x[r * cols + j]) - mx;
      y[r * cols + j] = static_cast<double>(log ? z - std::log(sum) : std::exp(z) / sum);
    }
  }
  return y;
}

inline bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

}  // namespace quiver::nn_test
