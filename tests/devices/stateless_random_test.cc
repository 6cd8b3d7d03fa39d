// Stateless random ops: bit-exact parity with TensorFlow. Every expected number below was
// produced by TensorFlow 2.21 on the CPU (tf.raw_ops.StatelessRandomGetKeyCounter on the seed,
// then tf.raw_ops.Stateless*V2(shape, key, counter, alg=1); TF's V1 ops give the same values,
// checked there too), printed with numpy's shortest round-trip repr, so each literal is the exact
// float/double and the comparisons are exact equality.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/session.h"
#include "tests/devices/kernel_test_util.h"
#include "tests/devices/nn_test_util.h"

using namespace quiver;
using quiver::nn_test::Contains;
using quiver::testing::InferOpShapes;
using quiver::testing::RunKernel;
using quiver::testing::ShapeInput;

namespace {

struct Draw {
  std::string op;  // the V2 op
  std::vector<int64_t> seed;
  DataType dtype;
  std::vector<double> values;  // shape [3, 5], row-major
};

// tf.raw_ops.<op>(shape=[3, 5], key, counter (of GetKeyCounter(seed)), alg=1, dtype).
const std::vector<Draw>& TfDraws() {
  static const auto* draws = new std::vector<Draw>{
      {"StatelessRandomUniformV2",
       {1, 2},
       DT_FLOAT,
       {0.8440604f, 0.19204533f, 0.9962232f, 0.1603874f, 0.27199018f, 0.649346f, 0.10694444f,
        0.06516242f, 0.43935144f, 0.084768176f, 0.20096803f, 0.13920832f, 0.47838867f, 0.17503786f,
        0.776737f}},
      {"StatelessRandomUniformV2",
       {1, 2},
       DT_DOUBLE,
       {0.7524837538451801, 0.9697857725627486, 0.17592233912897481, 0.8555556648693279,
        0.514811871731222, 0.6077450497806227, 0.8271102573257645, 0.21389592814393277,
        0.8397480553512231, 0.8211502029414499, 0.7251089580842625, 0.37696440763613137,
        0.21587602508207815, 0.3503276313806536, 0.6283405685643999}},
      {"StatelessRandomNormalV2",
       {1, 2},
       DT_FLOAT,
       {0.5441101f, 0.20738031f, 0.07356432f, 0.04643455f, -1.3015898f, -0.9538565f, 0.84172857f,
        1.9396868f, 0.65125775f, 1.1048867f, 1.3746227f, 1.148752f, 1.0821314f, 0.55104923f,
        0.07009614f}},
      {"StatelessRandomNormalV2",
       {1, 2},
       DT_DOUBLE,
       {-0.1423118100189212, 0.7406072461585091, -1.469047669443883, 1.147747453689489,
        -0.7218813856153005, -0.898217540706226, 0.6003592788009644, 0.13857589245913207,
        -0.5329399150182392, 0.25550299305436924, 0.5599101888331982, -0.5739052859610797,
        1.41449034826065, -1.0321429371622572, 0.8417805480077871}},
      {"StatelessTruncatedNormalV2",
       {1, 2},
       DT_FLOAT,
       {0.5441101f, 0.20738031f, 0.07356432f, 0.04643455f, 0.16820592f, -1.6850333f, 0.24202858f,
        1.7034503f, 1.1060678f, -1.0725638f, 1.6973485f, -0.003957644f, -0.78433603f, -0.16390978f,
        -1.198722f}},
      {"StatelessTruncatedNormalV2",
       {1, 2},
       DT_DOUBLE,
       {-0.1423118100189212, 0.7406072461585091, -0.552387756244845, -0.734450092480207,
        -0.39842023956588357, 0.1899654040344941, -1.1075957112525743, -0.8609937252601593,
        -0.7872817214842733, 1.0079740556153396, -0.20363407489572768, 0.7800387131417889,
        -0.5368634048973272, 0.38726450582087085, -0.2618668955954466}},
      {"StatelessRandomUniformV2",
       {87654321, 12345},
       DT_FLOAT,
       {0.9265497f, 0.3739134f, 0.37007356f, 0.12213278f, 0.88040304f, 0.43896222f, 0.4459858f,
        0.22820735f, 0.6851659f, 0.14548588f, 0.037071705f, 0.81651354f, 0.027260303f, 0.16412854f,
        0.49106014f}},
      {"StatelessRandomUniformV2",
       {87654321, 12345},
       DT_DOUBLE,
       {0.4123976051321503, 0.9605889918694883, 0.04322445660636243, 0.5678866137344527,
        0.4813275712458154, 0.29657372611856747, 0.218083266474546, 0.9284812908124263,
        0.8344679644433157, 0.3255302589969227, 0.3371400241986382, 0.9690722855533387,
        0.057552132895410724, 0.9889422674087867, 0.45874634374438394}},
      {"StatelessRandomNormalV2",
       {87654321, 12345},
       DT_FLOAT,
       {0.27808142f, -0.27431f, 0.97889984f, 1.0148212f, 0.18885902f, -0.46806324f, 1.2589068f,
        0.17346406f, 0.68873566f, 0.53087837f, -2.3461308f, 1.0418608f, 2.3028424f, 1.378972f,
        0.8517316f}},
      {"StatelessRandomNormalV2",
       {87654321, 12345},
       DT_DOUBLE,
       {-0.32623061751731686, 1.290390736251128, -1.0370197800275873, -2.2819482056738045,
        1.1578935279727915, -0.34885099485150356, -0.7581084806179221, 1.571950443634992,
        0.5351160670749576, -0.27490479413703867, -0.28475544014983434, 1.4468684131642966,
        -0.16588970001001385, 2.3838223031973493, -0.9599835141242886}},
      {"StatelessTruncatedNormalV2",
       {87654321, 12345},
       DT_FLOAT,
       {0.27808142f, -0.27431f, 0.97889984f, 1.0148212f, 0.40927103f, -0.037986737f, -1.1681886f,
        -1.0346072f, 0.77026355f, -0.51654017f, 0.25863522f, 0.6087559f, -1.5556796f, 0.14107871f,
        -0.24034268f}},
      {"StatelessTruncatedNormalV2",
       {87654321, 12345},
       DT_DOUBLE,
       {-0.32623061751731686, 1.290390736251128, 0.8566215394989258, -0.4239614919218978,
        1.0678643323079158, -0.9736863216914813, 1.3855461625677075, 1.7388044289710793,
        0.7770828166534874, -1.6055387170288142, 0.7341203397863835, 0.7595842505481869,
        -1.412141073123323, 0.19806632171690958, 1.5852978970285396}},
  };
  return *draws;
}

std::vector<double> ToDoubles(const Tensor& t) {
  if (t.dtype() == DT_FLOAT) {
    const std::vector<float> v = t.ToVector<float>();
    return std::vector<double>(v.begin(), v.end());
  }
  return t.ToVector<double>();
}

Tensor U64(std::vector<uint64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<uint64_t>(v, {n});
}

std::vector<Tensor> Run(const std::string& op, const AttrMap& attrs,
                        const std::vector<Tensor>& inputs, int threads = 1) {
  auto out = RunKernel(op, attrs, inputs, threads);
  INFO(op << ": " << out.status().ToString());
  REQUIRE(out.ok());
  return *std::move(out);
}

std::vector<Tensor> KeyCounter(const std::vector<int64_t>& seed, DataType dtype = DT_INT64) {
  const Tensor s = dtype == DT_INT64
                       ? Tensor::FromVector<int64_t>(seed, {2})
                       : Tensor::FromVector<int32_t>(
                             {static_cast<int32_t>(seed[0]), static_cast<int32_t>(seed[1])}, {2});
  return Run("StatelessRandomGetKeyCounter", {}, {s});
}

std::string V1Name(const std::string& v2) { return v2.substr(0, v2.size() - 2); }

}  // namespace

TEST_CASE("StatelessRandomGetKeyCounter scrambles the seed as TensorFlow does", "[random]") {
  // tf.raw_ops.StatelessRandomGetKeyCounter(seed=...): (key, counter).
  struct Want {
    std::vector<int64_t> seed;
    uint64_t key, counter1;
  };
  for (const Want& w :
       std::vector<Want>{{{1, 2}, 10413732777507651514ull, 17830669156045600267ull},
                         {{0, 0}, 16103252647613272195ull, 18388005586443337812ull},
                         {{-1, 7}, 13877904517395416532ull, 6422008873046979771ull},
                         {{87654321, 12345}, 14547956557925154066ull, 12227278522592140745ull}}) {
    for (DataType dt : {DT_INT64, DT_INT32}) {  // int32 seeds are sign-extended: same answer
      CAPTURE(w.seed, DataTypeName(dt));
      const std::vector<Tensor> kc = KeyCounter(w.seed, dt);
      CHECK(kc[0].shape() == TensorShape{1});
      CHECK(kc[1].shape() == TensorShape{2});
      CHECK(kc[0].ToVector<uint64_t>() == std::vector<uint64_t>{w.key});
      CHECK(kc[1].ToVector<uint64_t>() == std::vector<uint64_t>{0, w.counter1});
    }
  }
  const std::vector<Tensor> kca =
      Run("StatelessRandomGetKeyCounterAlg", {}, {Tensor::FromVector<int64_t>({1, 2}, {2})});
  CHECK(kca[0].ToVector<uint64_t>() == std::vector<uint64_t>{10413732777507651514ull});
  CHECK(kca[2].ToVector<int32_t>() == std::vector<int32_t>{1});
  // tf.raw_ops.StatelessRandomGetAlg() on the CPU: 1 (Philox).
  CHECK(Run("StatelessRandomGetAlg", {}, {})[0].ToVector<int32_t>() == std::vector<int32_t>{1});
}

TEST_CASE("Stateless random ops are bit-exact with TensorFlow", "[random]") {
  for (const Draw& d : TfDraws()) {
    CAPTURE(d.op, d.seed, DataTypeName(d.dtype));
    const std::vector<Tensor> kc = KeyCounter(d.seed);
    const AttrMap attrs = {{"dtype", MakeAttr(d.dtype)}};
    const std::vector<double> first7(d.values.begin(), d.values.begin() + 7);
    for (int32_t alg : {1, 3}) {  // 3 (auto-select) is Philox on the CPU, as in TF
      CAPTURE(alg);
      const Tensor a = Tensor::Scalar<int32_t>(alg);
      const Tensor out =
          Run(d.op, attrs, {Tensor::FromVector<int32_t>({3, 5}, {2}), kc[0], kc[1], a})[0];
      CHECK(out.shape() == (TensorShape{3, 5}));
      CHECK(out.dtype() == d.dtype);
      CHECK(ToDoubles(out) == d.values);
      // An odd size: the last group is partial, the values are the prefix.
      const Tensor odd =
          Run(d.op, attrs, {Tensor::FromVector<int64_t>({7}, {1}), kc[0], kc[1], a})[0];
      CHECK(ToDoubles(odd) == first7);
    }
    // V1 (shape, seed), int64 and int32 seeds.
    for (DataType st : {DT_INT64, DT_INT32}) {
      const Tensor seed =
          st == DT_INT64
              ? Tensor::FromVector<int64_t>(d.seed, {2})
              : Tensor::FromVector<int32_t>(
                    {static_cast<int32_t>(d.seed[0]), static_cast<int32_t>(d.seed[1])}, {2});
      const Tensor v1 =
          Run(V1Name(d.op), attrs, {Tensor::FromVector<int32_t>({3, 5}, {2}), seed})[0];
      CHECK(ToDoubles(v1) == d.values);
    }
  }
}

TEST_CASE("Stateless random V2 ops take TF's key/counter layout", "[random]") {
  // tf.raw_ops.StatelessRandomUniformV2(shape=[13], key=[0x0123456789ABCDEF],
  //   counter=[0xFFFFFFFFFFFFFFFE, 5], alg=1): counter[0] fills Philox counter words 0-1 (and
  //   crosses 2^64 inside the draw), counter[1] words 2-3, the key both key words.
  const Tensor key = U64({0x0123456789ABCDEFull});
  const Tensor counter = U64({0xFFFFFFFFFFFFFFFEull, 5});
  const Tensor shape = Tensor::FromVector<int32_t>({13}, {1});
  const Tensor alg = Tensor::Scalar<int32_t>(1);
  CHECK(Run("StatelessRandomUniformV2", {{"dtype", MakeAttr(DT_FLOAT)}},
            {shape, key, counter, alg})[0]
            .ToVector<float>() ==
        std::vector<float>{0.6580616f, 0.82447255f, 0.94684625f, 0.56385565f, 0.30913615f,
                           0.25118804f, 0.8064332f, 0.9137417f, 0.8783246f, 0.82801473f,
                           0.045722246f, 0.29436994f, 0.33298266f});
  CHECK(Run("StatelessRandomUniformV2", {{"dtype", MakeAttr(DT_DOUBLE)}},
            {shape, key, counter, alg})[0]
            .ToVector<double>() ==
        std::vector<double>{0.26449376498250765, 0.5747700493109518, 0.47309009032545246,
                            0.4514663273724573, 0.026597421295968315, 0.36577879692310455,
                            0.6638617591347478, 0.46554951631645514, 0.11930029233269313,
                            0.94373180267068, 0.6033040666975393, 0.2020893882343524,
                            0.02619200304595415});
  // A longer counter is accepted; only its first two entries count (as in TF).
  const Tensor c3 = U64({0xFFFFFFFFFFFFFFFEull, 5, 99});
  CHECK(Run("StatelessRandomUniformV2", {{"dtype", MakeAttr(DT_FLOAT)}}, {shape, key, c3, alg})[0]
            .ToVector<float>()[12] == 0.33298266f);
}

TEST_CASE("Stateless truncated normal redraws |x| >= 2 like TensorFlow", "[random]") {
  // Seed [3, 4], shape [2, 9], float32: tf.raw_ops.StatelessRandomNormalV2 draws -1.7038907 ...
  // and TruncatedNormalV2 keeps the first four (all |x| < 2), then each later group of 4 starts
  // at its own reserved block of the stream (TF's 256 words per value).
  const std::vector<Tensor> kc = KeyCounter({3, 4});
  const std::vector<Tensor> in = {Tensor::FromVector<int32_t>({2, 9}, {2}), kc[0], kc[1],
                                  Tensor::Scalar<int32_t>(1)};
  const AttrMap f32 = {{"dtype", MakeAttr(DT_FLOAT)}};
  CHECK(Run("StatelessRandomNormalV2", f32, in)[0].ToVector<float>() ==
        std::vector<float>{-0.17393383f, 1.6723547f, 0.34817016f, -1.7038907f, -0.6153246f,
                           0.36620966f, 0.08287585f, 0.17785658f, -0.10289466f, 1.1864865f,
                           -0.8348783f, -0.020660471f, 1.781617f, -0.8089687f, 0.94707227f,
                           1.3590598f, 0.31871226f, 1.209821f});
  CHECK(Run("StatelessTruncatedNormalV2", f32, in)[0].ToVector<float>() ==
        std::vector<float>{-0.17393383f, 1.6723547f, 0.34817016f, -1.7038907f, 0.63851905f,
                           -1.3099246f, -0.010434314f, -1.0422206f, -0.7741751f, -0.6609441f,
                           -0.35891598f, 0.34141263f, 0.40743056f, -0.017969113f, 0.15828282f,
                           0.30222523f, -0.481427f, 0.17611392f});
}

TEST_CASE("StatelessRandomUniformInt[V2] reproduce TensorFlow and check bounds", "[random]") {
  // tf.raw_ops.StatelessRandomUniformIntV2(shape=[7], key, counter of seed, alg=1, minval,
  // maxval) (== StatelessRandomUniformInt(shape, seed, minval, maxval)).
  struct Want {
    std::vector<int64_t> seed;
    std::vector<int32_t> i32;  // [-5, 1000)
    std::vector<int64_t> i64;  // [-3, 10^12)
  };
  for (const Want& w : std::vector<Want>{{{1, 2},
                                          {710, 819, 829, 169, 137, 95, 601},
                                          {146258219801, 637753188140, 318111882239, 515999429111,
                                           327625373258, 779595896210, 131482711288}},
                                         {{87654321, 12345},
                                          {905, 92, 920, 28, 501, 747, 519},
                                          {702397025852, 841032523216, 87668708324, 619329552374,
                                           659299955570, 665736456255, 16644410457}}}) {
    CAPTURE(w.seed);
    const std::vector<Tensor> kc = KeyCounter(w.seed);
    const Tensor shape = Tensor::FromVector<int32_t>({7}, {1});
    const Tensor alg = Tensor::Scalar<int32_t>(1);
    const Tensor seed = Tensor::FromVector<int64_t>(w.seed, {2});
    const AttrMap a32 = {{"dtype", MakeAttr(DT_INT32)}}, a64 = {{"dtype", MakeAttr(DT_INT64)}};
    const Tensor lo32 = Tensor::Scalar<int32_t>(-5), hi32 = Tensor::Scalar<int32_t>(1000);
    const Tensor lo64 = Tensor::Scalar<int64_t>(-3), hi64 = Tensor::Scalar<int64_t>(1000000000000);
    CHECK(Run("StatelessRandomUniformIntV2", a32, {shape, kc[0], kc[1], alg, lo32, hi32})[0]
              .ToVector<int32_t>() == w.i32);
    CHECK(Run("StatelessRandomUniformIntV2", a64, {shape, kc[0], kc[1], alg, lo64, hi64})[0]
              .ToVector<int64_t>() == w.i64);
    CHECK(Run("StatelessRandomUniformInt", a32, {shape, seed, lo32, hi32})[0].ToVector<int32_t>() ==
          w.i32);
    CHECK(Run("StatelessRandomUniformInt", a64, {shape, seed, lo64, hi64})[0].ToVector<int64_t>() ==
          w.i64);
  }
  const std::vector<Tensor> kc = KeyCounter({1, 2});
  auto bad =
      RunKernel("StatelessRandomUniformIntV2", {{"dtype", MakeAttr(DT_INT32)}},
                {Tensor::FromVector<int32_t>({3}, {1}), kc[0], kc[1], Tensor::Scalar<int32_t>(1),
                 Tensor::Scalar<int32_t>(5), Tensor::Scalar<int32_t>(5)});
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status(), "node 'op'"));
  CHECK(Contains(bad.status(), "Need minval < maxval, got 5 >= 5"));
}

TEST_CASE("Stateless random ops reject bad algorithms, keys, counters and seeds", "[random]") {
  const std::vector<Tensor> kc = KeyCounter({1, 2});
  const Tensor shape = Tensor::FromVector<int32_t>({3}, {1});
  const AttrMap f32 = {{"dtype", MakeAttr(DT_FLOAT)}};
  auto expect_error = [&](const std::string& op, const std::vector<Tensor>& in,
                          const std::string& text) {
    auto out = RunKernel(op, f32, in);
    INFO(op << " expecting '" << text << "': " << out.status().ToString());
    REQUIRE_FALSE(out.ok());
    CHECK(Contains(out.status(), "node 'op'"));
    CHECK(Contains(out.status(), text));
  };
  expect_error("StatelessRandomUniformV2", {shape, kc[0], kc[1], Tensor::Scalar<int32_t>(2)},
               "Unsupported algorithm id: 2 (ThreeFry");
  expect_error("StatelessRandomNormalV2", {shape, kc[0], kc[1], Tensor::Scalar<int32_t>(7)},
               "Unsupported algorithm id: 7");
  expect_error("StatelessRandomUniformV2", {shape, U64({1, 2}), kc[1], Tensor::Scalar<int32_t>(1)},
               "key must have shape [1], not [2]");
  expect_error("StatelessRandomUniformV2", {shape, kc[0], U64({1}), Tensor::Scalar<int32_t>(1)},
               "counter must be a vector with length at least 2");
  expect_error("StatelessRandomUniform", {shape, Tensor::FromVector<int64_t>({1, 2, 3}, {3})},
               "seed must have shape [2], not [3]");
  expect_error(
      "StatelessTruncatedNormal",
      {Tensor::FromVector<int32_t>({2, -1}, {2}), Tensor::FromVector<int64_t>({1, 2}, {2})},
      "shape[1] = -1 must be non-negative");

  // Shape inference checks the same at graph construction.
  auto shapes = InferOpShapes(
      "StatelessRandomUniformV2", f32,
      {ShapeInput::Known(shape), ShapeInput::Of(DT_UINT64, TensorShape{2}),
       ShapeInput::Of(DT_UINT64, TensorShape{2}), ShapeInput::Of(DT_INT32, TensorShape{})});
  REQUIRE_FALSE(shapes.ok());
  CHECK(Contains(shapes.status(), "key must have shape [1]"));
  auto ok = InferOpShapes(
      "StatelessRandomNormalV2", f32,
      {ShapeInput::Of(DT_INT32, TensorShape{2}), ShapeInput::Of(DT_UINT64, TensorShape{1}),
       ShapeInput::Of(DT_UINT64, TensorShape{2}), ShapeInput::Of(DT_INT32, TensorShape{})});
  REQUIRE(ok.ok());
  CHECK((*ok)[0] == TensorShape({-1, -1}));
}

TEST_CASE("Stateless random fills in parallel without changing a value", "[random]") {
  const std::vector<Tensor> kc = KeyCounter({5, 6});
  for (const char* op :
       {"StatelessRandomUniformV2", "StatelessRandomNormalV2", "StatelessTruncatedNormalV2"}) {
    for (DataType dt : {DT_FLOAT, DT_DOUBLE}) {
      CAPTURE(op, DataTypeName(dt));
      const std::vector<Tensor> in = {Tensor::FromVector<int32_t>({300001}, {1}), kc[0], kc[1],
                                      Tensor::Scalar<int32_t>(1)};
      const AttrMap attrs = {{"dtype", MakeAttr(dt)}};
      CHECK(ToDoubles(Run(op, attrs, in, 3)[0]) == ToDoubles(Run(op, attrs, in, 1)[0]));
    }
  }
}

TEST_CASE("A TF2-style stateless graph runs in a Session, same numbers every run", "[random]") {
  // seed -> StatelessRandomGetKeyCounter -> StatelessRandomUniformV2(alg from
  // StatelessRandomGetAlg), as tf.random.stateless_uniform([3, 5], seed=[1, 2]) builds it.
  Graph g;
  auto add = [&](NodeSpec spec) {
    auto n = g.AddNode(std::move(spec));
    INFO(n.status().ToString());
    REQUIRE(n.ok());
    return *n;
  };
  auto konst = [&](const std::string& name, const Tensor& t) {
    NodeSpec s;
    s.name = name;
    s.op = "Const";
    s.attrs = {{"dtype", MakeAttr(t.dtype())}, {"value", MakeAttr(t)}};
    return add(std::move(s));
  };
  Node* shape = konst("shape", Tensor::FromVector<int32_t>({3, 5}, {2}));
  Node* seed = konst("seed", Tensor::FromVector<int64_t>({1, 2}, {2}));
  NodeSpec kcs;
  kcs.name = "kc";
  kcs.op = "StatelessRandomGetKeyCounter";
  kcs.attrs = {{"Tseed", MakeAttr(DT_INT64)}};
  kcs.inputs = {{seed, 0}};
  Node* kc = add(std::move(kcs));
  NodeSpec algs;
  algs.name = "alg";
  algs.op = "StatelessRandomGetAlg";
  Node* alg = add(std::move(algs));
  NodeSpec u;
  u.name = "u";
  u.op = "StatelessRandomUniformV2";
  u.attrs = {{"dtype", MakeAttr(DT_FLOAT)}, {"Tshape", MakeAttr(DT_INT32)}};
  u.inputs = {{shape, 0}, {kc, 0}, {kc, 1}, {alg, 0}};
  Node* un = add(std::move(u));
  REQUIRE(g.InferShapes().ok());
  CHECK(un->output_shape(0) == (TensorShape{3, 5}));
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  for (int run = 0; run < 2; ++run) {
    auto r = (*session)->Run({}, {"u:0"});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    CHECK(ToDoubles((*r)[0]) == TfDraws()[0].values);
  }
}
