// The CPU kernels' fast paths added for speed, each against a reference written here in
// double precision from the op's definition (not from the kernels' loops):
//   - MaxPoolGrad with non-overlapping windows (stride >= window): tiled and untiled inputs,
//     clipped SAME windows, ties, NaNs, channel counts that are not a vector width;
//   - Conv2DBackpropInput with shallow inputs (<= 4 channels: GEMM + col2im), several
//     image chunks, strides, dilations, SAME/VALID/EXPLICIT padding;
//   - ApplyAdam's blocked vectorised update over many elements (block edges included);
//   - MatMul with a constant B (packed once per batch size), read through Identity;
//   - the per-primitive OpenMP thread choice (small primitives run on one thread).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devices/cpu/onednn_util.h"
#include "runtime/session.h"
#include "tests/devices/nn_test_util.h"

namespace quiver {
namespace {

using nn_test::MakeTensor;
using nn_test::MaxError;
using nn_test::RandomValues;
using nn_test::RunKernel;
using nn_test::ToDoubles;

AttrMap PoolAttrs(int64_t kh, int64_t kw, int64_t sh, int64_t sw, const std::string& padding) {
  return {{"T", MakeAttr(DT_FLOAT)},
          {"ksize", MakeAttr(std::vector<int64_t>{1, kh, kw, 1})},
          {"strides", MakeAttr(std::vector<int64_t>{1, sh, sw, 1})},
          {"padding", MakeAttr(padding)}};
}

struct PoolCase {
  int64_t n, h, w, c, kh, kw, sh, sw;
  std::string padding;
};

// TF's MaxPoolGrad by definition: each window's gradient goes to the first element, in
// row-major order, that equals the window's maximum under TF's scan (a NaN first element is
// the maximum; a later NaN never replaces a number). Windows are clipped to the input.
std::vector<double> RefMaxPoolGrad(const PoolCase& p, const std::vector<double>& in,
                                   const std::vector<double>& grad, int64_t oh, int64_t ow) {
  const nn_test::Window1D wy = nn_test::RefWindow(p.h, p.kh, p.sh, 1, p.padding);
  const nn_test::Window1D wx = nn_test::RefWindow(p.w, p.kw, p.sw, 1, p.padding);
  std::vector<double> out(in.size(), 0.0);
  for (int64_t b = 0; b < p.n; ++b) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        for (int64_t ch = 0; ch < p.c; ++ch) {
          int64_t arg = -1;
          double best = 0;
          for (int64_t y = oy * p.sh - wy.before; y < oy * p.sh - wy.before + p.kh; ++y) {
            for (int64_t x = ox * p.sw - wx.before; x < ox * p.sw - wx.before + p.kw; ++x) {
              if (y < 0 || y >= p.h || x < 0 || x >= p.w) continue;
              const int64_t i = ((b * p.h + y) * p.w + x) * p.c + ch;
              if (arg < 0 || best < in[i]) {
                arg = i;
                best = in[i];
              }
            }
          }
          if (arg >= 0) out[arg] += grad[((b * oh + oy) * ow + ox) * p.c + ch];
        }
      }
    }
  }
  return out;
}

void CheckMaxPoolGrad(const PoolCase& p, std::vector<double> in) {
  const nn_test::Window1D wy = nn_test::RefWindow(p.h, p.kh, p.sh, 1, p.padding);
  const nn_test::Window1D wx = nn_test::RefWindow(p.w, p.kw, p.sw, 1, p.padding);
  const int64_t oh = wy.out, ow = wx.out;
  std::vector<double> grad = RandomValues(p.n * oh * ow * p.c, 92);
  for (double& g : grad) g = static_cast<float>(g);  // exactly representable: exact compare
  // orig_output is only checked for shape by the kernel; zeros do.
  const std::vector<double> pooled(p.n * oh * ow * p.c, 0.0);
  auto out = RunKernel(
      "MaxPoolGrad", PoolAttrs(p.kh, p.kw, p.sh, p.sw, p.padding),
      {MakeTensor<float>(in, {p.n, p.h, p.w, p.c}), MakeTensor<float>(pooled, {p.n, oh, ow, p.c}),
       MakeTensor<float>(grad, {p.n, oh, ow, p.c})});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  // Every element receives at most one window's gradient here: exact in float.
  CHECK(MaxError(ToDoubles<float>((*out)[0]), RefMaxPoolGrad(p, in, grad, oh, ow)) == 0.0);
}

TEST_CASE("MaxPoolGrad with non-overlapping windows matches the first-maximum definition",
          "[training_ops][perf_paths]") {
  std::vector<std::pair<std::string, PoolCase>> cases = {
      {"2x2/2 SAME, even: tiles the input", {3, 8, 6, 19, 2, 2, 2, 2, "SAME"}},
      {"2x2/2 SAME, odd: last windows clipped", {2, 7, 9, 5, 2, 2, 2, 2, "SAME"}},
      {"2x2/2 VALID, odd: a row and column in no window", {2, 7, 7, 3, 2, 2, 2, 2, "VALID"}},
      {"2x2/3 VALID: gaps between windows", {2, 8, 8, 4, 2, 2, 3, 3, "VALID"}},
      {"3x2/(3,2) SAME: pad before", {2, 8, 7, 33, 3, 2, 3, 2, "SAME"}},
      {"MNIST pool 1", {4, 28, 28, 32, 2, 2, 2, 2, "SAME"}},
  };
  for (const auto& [name, p] : cases) {
    INFO(name);
    // A coarse grid of values, so that windows tie often.
    std::vector<double> in = RandomValues(p.n * p.h * p.w * p.c, 91);
    for (double& v : in) v = std::round(v * 2);
    CheckMaxPoolGrad(p, in);
  }

  SECTION("NaNs: first-element NaN wins its window, later NaNs never do") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const PoolCase p{1, 2, 4, 1, 2, 2, 2, 2, "VALID"};
    // Window 0 (cols 0-1): NaN first -> the gradient goes to element (0,0).
    // Window 1 (cols 2-3): 1, NaN / 3, 2 -> the maximum 3 at (1,2).
    CheckMaxPoolGrad(p, {nan, 5, 1, nan,  //
                         7, 2, 3, 2});
    const auto out = RunKernel(
        "MaxPoolGrad", PoolAttrs(2, 2, 2, 2, "VALID"),
        {MakeTensor<float>({nan, 5, 1, nan, 7, 2, 3, 2}, {1, 2, 4, 1}),
         Tensor::Zeros(DT_FLOAT, {1, 1, 2, 1}).value(), MakeTensor<float>({10, 20}, {1, 1, 2, 1})});
    REQUIRE(out.ok());
    CHECK((*out)[0].ToVector<float>() == std::vector<float>{10, 0, 0, 0, 0, 0, 20, 0});
  }

  SECTION("an infinite gradient reaches only the maximum; the other elements stay 0") {
    const float inf = std::numeric_limits<float>::infinity();
    // Window 0: maximum 5 at (0,1); window 1: a tie of 3s, the first at (0,2).
    const auto out = RunKernel("MaxPoolGrad", PoolAttrs(2, 2, 2, 2, "VALID"),
                               {MakeTensor<float>({1, 5, 3, 3, 2, 4, 0, 3}, {1, 2, 4, 1}),
                                Tensor::Zeros(DT_FLOAT, {1, 1, 2, 1}).value(),
                                MakeTensor<float>({inf, -inf}, {1, 1, 2, 1})});
    REQUIRE(out.ok());
    CHECK((*out)[0].ToVector<float>() == std::vector<float>{0, inf, -inf, 0, 0, 0, 0, 0});
  }
}

// d input by definition: din[b,iy,ix,c] = sum over (ky,kx,o) of dout[b,oy,ox,o] * f[ky,kx,c,o]
// for the output positions whose tap (ky,kx) reads (iy,ix): iy = oy*sh - pad_t + ky*dh.
std::vector<double> RefBackpropInput(const nn_test::ConvSpec& s, const std::vector<double>& f,
                                     const std::vector<double>& g, int64_t oh, int64_t ow,
                                     int64_t pad_t, int64_t pad_l) {
  std::vector<double> din(s.n * s.h * s.w * s.c, 0.0);
  for (int64_t b = 0; b < s.n; ++b) {
    for (int64_t iy = 0; iy < s.h; ++iy) {
      for (int64_t ix = 0; ix < s.w; ++ix) {
        for (int64_t c = 0; c < s.c; ++c) {
          double acc = 0;
          for (int64_t ky = 0; ky < s.kh; ++ky) {
            const int64_t ny = iy + pad_t - ky * s.dh;
            if (ny < 0 || ny % s.sh != 0 || ny / s.sh >= oh) continue;
            for (int64_t kx = 0; kx < s.kw; ++kx) {
              const int64_t nx = ix + pad_l - kx * s.dw;
              if (nx < 0 || nx % s.sw != 0 || nx / s.sw >= ow) continue;
              for (int64_t o = 0; o < s.oc; ++o) {
                acc += g[((b * oh + ny / s.sh) * ow + nx / s.sw) * s.oc + o] *
                       f[((ky * s.kw + kx) * s.c + c) * s.oc + o];
              }
            }
          }
          din[((b * s.h + iy) * s.w + ix) * s.c + c] = acc;
        }
      }
    }
  }
  return din;
}

TEST_CASE("Conv2DBackpropInput on shallow inputs (GEMM + col2im) matches the definition",
          "[training_ops][perf_paths]") {
  struct Case {
    std::string name;
    nn_test::ConvSpec s;
  };
  auto spec = [](int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t oc, int64_t st,
                 int64_t dil, const std::string& pad) {
    nn_test::ConvSpec s{n, h, w, c, k, k, c, oc};
    s.sh = s.sw = st;
    s.dh = s.dw = dil;
    s.padding = pad;
    return s;
  };
  std::vector<Case> cases = {
      // 30 MNIST-sized images: the kernel works through them in several chunks.
      {"MNIST conv1, several chunks", spec(30, 28, 28, 1, 5, 8, 1, 1, "SAME")},
      {"RGB 3x3 stride 2 SAME", spec(3, 9, 10, 3, 3, 5, 2, 1, "SAME")},
      {"4 channels, VALID stride 3 leftover", spec(2, 11, 10, 4, 3, 6, 3, 1, "VALID")},
      {"dilated 2, 1 channel", spec(2, 9, 8, 1, 3, 4, 1, 2, "SAME")},
  };
  nn_test::ConvSpec asym = spec(2, 7, 8, 2, 3, 3, 1, 1, "SAME");
  asym.sh = 2;  // different strides per dim
  cases.push_back({"stride (2,1)", asym});
  nn_test::ConvSpec ex = spec(2, 6, 7, 1, 3, 3, 1, 1, "EXPLICIT");
  ex.sw = 2;
  ex.explicit_pads = {0, 0, 2, 0, 1, 3, 0, 0};
  cases.push_back({"EXPLICIT", ex});
  for (const Case& cs : cases) {
    INFO(cs.name);
    const nn_test::ConvSpec& s = cs.s;
    int64_t pb_t = 0, pb_l = 0;
    nn_test::Window1D wy, wx;
    if (s.padding == "EXPLICIT") {
      pb_t = s.explicit_pads[2];
      pb_l = s.explicit_pads[4];
      wy = nn_test::RefWindow(s.h, s.kh, s.sh, s.dh, s.padding, pb_t, s.explicit_pads[3]);
      wx = nn_test::RefWindow(s.w, s.kw, s.sw, s.dw, s.padding, pb_l, s.explicit_pads[5]);
    } else {
      wy = nn_test::RefWindow(s.h, s.kh, s.sh, s.dh, s.padding);
      wx = nn_test::RefWindow(s.w, s.kw, s.sw, s.dw, s.padding);
      pb_t = wy.before;
      pb_l = wx.before;
    }
    const int64_t oh = wy.out, ow = wx.out;
    const std::vector<double> f = RandomValues(s.kh * s.kw * s.c * s.oc, 81);
    const std::vector<double> g = RandomValues(s.n * oh * ow * s.oc, 82);
    AttrMap attrs = {{"T", MakeAttr(DT_FLOAT)},
                     {"strides", MakeAttr(std::vector<int64_t>{1, s.sh, s.sw, 1})},
                     {"dilations", MakeAttr(std::vector<int64_t>{1, s.dh, s.dw, 1})},
                     {"padding", MakeAttr(s.padding)}};
    if (!s.explicit_pads.empty()) attrs["explicit_paddings"] = MakeAttr(s.explicit_pads);
    auto out = RunKernel(
        "Conv2DBackpropInput", attrs,
        {Tensor::FromVector<int32_t>({static_cast<int32_t>(s.n), static_cast<int32_t>(s.h),
                                      static_cast<int32_t>(s.w), static_cast<int32_t>(s.c)},
                                     {4}),
         MakeTensor<float>(f, {s.kh, s.kw, s.c, s.oc}), MakeTensor<float>(g, {s.n, oh, ow, s.oc})});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    CHECK(MaxError(ToDoubles<float>((*out)[0]), RefBackpropInput(s, f, g, oh, ow, pb_t, pb_l)) <
          1e-5);
  }
}

TEST_CASE("ApplyAdam's blocked update matches TF's formula over many elements",
          "[training_ops][perf_paths]") {
  // Through a Session: VariableV2 + Assign initialisers, then ApplyAdam steps with fed grads.
  const int64_t n = 5000;  // several 1024-element blocks and a partial one
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (bool nesterov : {false, true}) {
    INFO("nesterov " << nesterov);
    Graph graph;
    auto add = [&](NodeSpec spec) {
      auto node = graph.AddNode(std::move(spec));
      REQUIRE(node.ok());
      return *node;
    };
    auto var = [&](const std::string& name) {
      NodeSpec v;
      v.name = name;
      v.op = "VariableV2";
      v.attrs["dtype"] = MakeAttr(DT_FLOAT);
      v.attrs["shape"] = MakeAttr(TensorShape{n});
      return add(std::move(v));
    };
    auto constant = [&](const std::string& name, const Tensor& t) {
      NodeSpec c;
      c.name = name;
      c.op = "Const";
      c.attrs["dtype"] = MakeAttr(t.dtype());
      c.attrs["value"] = MakeAttr(t);
      return add(std::move(c));
    };
    auto assign = [&](const std::string& name, Node* v, Node* value) {
      NodeSpec a;
      a.name = name;
      a.op = "Assign";
      a.attrs["T"] = MakeAttr(DT_FLOAT);
      a.inputs = {{v, 0}, {value, 0}};
      return add(std::move(a));
    };
    const std::vector<double> w0 = RandomValues(n, 71);
    Node* w = var("w");
    Node* m = var("m");
    Node* v = var("v");
    Node* init_w = assign("init_w", w, constant("w0", MakeTensor<float>(w0, {n})));
    Node* init_m = assign("init_m", m, constant("zeros_m", Tensor::Zeros(DT_FLOAT, {n}).value()));
    Node* init_v = assign("init_v", v, constant("zeros_v", Tensor::Zeros(DT_FLOAT, {n}).value()));
    NodeSpec gph;
    gph.name = "g";
    gph.op = "Placeholder";
    gph.attrs["dtype"] = MakeAttr(DT_FLOAT);
    gph.attrs["shape"] = MakeAttr(TensorShape{n});
    Node* gnode = add(std::move(gph));
    std::vector<Node*> scalars;
    for (const char* name : {"b1_power", "b2_power"}) {
      NodeSpec p;
      p.name = name;
      p.op = "Placeholder";
      p.attrs["dtype"] = MakeAttr(DT_FLOAT);
      p.attrs["shape"] = MakeAttr(TensorShape{});
      scalars.push_back(add(std::move(p)));
    }
    NodeSpec adam;
    adam.name = "adam";
    adam.op = "ApplyAdam";
    adam.attrs["T"] = MakeAttr(DT_FLOAT);
    adam.attrs["use_nesterov"] = MakeAttr(nesterov);
    adam.inputs = {{w, 0},
                   {m, 0},
                   {v, 0},
                   {scalars[0], 0},
                   {scalars[1], 0},
                   {constant("lr", Tensor::Scalar<float>(lr)), 0},
                   {constant("b1", Tensor::Scalar<float>(b1)), 0},
                   {constant("b2", Tensor::Scalar<float>(b2)), 0},
                   {constant("eps", Tensor::Scalar<float>(eps)), 0},
                   {gnode, 0}};
    add(std::move(adam));
    NodeSpec read;
    read.name = "read_w";
    read.op = "Identity";
    read.attrs["T"] = MakeAttr(DT_FLOAT);
    read.inputs = {{w, 0}};
    add(std::move(read));

    auto session = Session::Create(graph);
    REQUIRE(session.ok());
    REQUIRE((*session)->Run({}, {}, {init_w->name(), init_m->name(), init_v->name()}).ok());

    std::vector<double> want = w0, mv(n, 0.0), vv(n, 0.0);
    for (int t = 1; t <= 3; ++t) {
      const std::vector<double> g = RandomValues(n, 100 + t, -3.0, 3.0);
      auto r = (*session)->Run({{"g", MakeTensor<float>(g, {n})},
                                {"b1_power", Tensor::Scalar<float>(std::pow(b1, t))},
                                {"b2_power", Tensor::Scalar<float>(std::pow(b2, t))}},
                               {}, {"adam"});
      INFO(r.status().ToString());
      REQUIRE(r.ok());
      // Kingma & Ba with TF's epsilon placement (training_ops.cc).
      const double lr_t = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      for (int64_t i = 0; i < n; ++i) {
        mv[i] = b1 * mv[i] + (1 - b1) * g[i];
        vv[i] = b2 * vv[i] + (1 - b2) * g[i] * g[i];
        const double num = nesterov ? b1 * mv[i] + (1 - b1) * g[i] : mv[i];
        want[i] -= lr_t * num / (std::sqrt(vv[i]) + eps);
      }
    }
    auto got = (*session)->Run({}, {"read_w"});
    REQUIRE(got.ok());
    CHECK(MaxError(ToDoubles<float>(got->at(0)), want) < 2e-6);
  }
}

TEST_CASE("MatMul with a constant B packs it once and stays exact across batch sizes",
          "[perf_paths]") {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      INFO("transpose_a " << ta << " transpose_b " << tb);
      const int64_t k = 37, n = 29;
      const std::vector<double> bv = RandomValues(k * n, 51);
      Graph graph;
      auto add = [&](NodeSpec spec) {
        auto node = graph.AddNode(std::move(spec));
        REQUIRE(node.ok());
        return *node;
      };
      NodeSpec a;
      a.name = "a";
      a.op = "Placeholder";
      a.attrs["dtype"] = MakeAttr(DT_FLOAT);
      a.attrs["shape"] = MakeAttr(ta ? TensorShape{k, -1} : TensorShape{-1, k});
      Node* an = add(std::move(a));
      NodeSpec b;
      b.name = "w";
      b.op = "Const";
      b.attrs["dtype"] = MakeAttr(DT_FLOAT);
      b.attrs["value"] =
          MakeAttr(MakeTensor<float>(bv, tb ? TensorShape{n, k} : TensorShape{k, n}));
      Node* bn = add(std::move(b));
      NodeSpec read;
      read.name = "w/read";
      read.op = "Identity";
      read.attrs["T"] = MakeAttr(DT_FLOAT);
      read.inputs = {{bn, 0}};
      Node* rn = add(std::move(read));
      NodeSpec mm;
      mm.name = "y";
      mm.op = "MatMul";
      mm.attrs["T"] = MakeAttr(DT_FLOAT);
      mm.attrs["transpose_a"] = MakeAttr(ta);
      mm.attrs["transpose_b"] = MakeAttr(tb);
      mm.inputs = {{an, 0}, {rn, 0}};
      add(std::move(mm));
      auto session = Session::Create(graph);
      REQUIRE(session.ok());
      // Batch sizes come and go (1 again after 300: its packing is reused).
      for (int64_t m : {1, 3, 300, 1, 64}) {
        INFO("m " << m);
        const std::vector<double> av = RandomValues(m * k, 52 + m);
        auto r = (*session)->Run(
            {{"a", MakeTensor<float>(av, ta ? TensorShape{k, m} : TensorShape{m, k})}}, {"y"});
        INFO(r.status().ToString());
        REQUIRE(r.ok());
        REQUIRE(r->at(0).shape() == (TensorShape{m, n}));
        CHECK(MaxError(ToDoubles<float>(r->at(0)),
                       nn_test::RefMatMul(av.data(), bv.data(), m, k, n, ta, tb)) < 1e-5);
      }
    }
  }
}

TEST_CASE("Small oneDNN primitives run on one OpenMP thread", "[perf_paths]") {
  CHECK(onednn::ThreadsForWork(0) == 1);
  CHECK(onednn::ThreadsForWork(onednn::kSerialWork / 2) == 1);
  CHECK(onednn::ThreadsForWork(1e12) >= 1);
  {
    onednn::ScopedThreads one(1);
    CHECK(one.threads() == 1);
    CHECK(onednn::ThreadsForWork(1e12) == 1);  // the scope's setting is what primitives see
    onednn::ScopedThreads nested(1);
    CHECK(nested.threads() == 1);
  }
}

}  // namespace
}  // namespace quiver
