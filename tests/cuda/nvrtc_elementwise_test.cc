// The generated _FusedElementwise GPU kernel (devices/cuda/nvrtc_elementwise.h).
//
// NVRTC needs no GPU and no driver, so the "[nvrtc]" cases run everywhere the CUDA build does:
// the generated source of every op, long chains and broadcasting programs compiles to CUBIN and
// PTX, the cache shares entries, and bad programs give clear errors. The "[gpu]" cases compare
// the kernel against the CPU _FusedElementwise kernel and run a fused graph on /gpu:0 through
// a Session; without a GPU they print QUIVER_SKIPPED.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/common/elementwise_program.h"
#include "devices/cuda/cuda_device.h"
#include "devices/cuda/nvrtc_elementwise.h"
#include "devices/device.h"
#include "devices/device_set.h"
#include "graph/builder.h"
#include "graph/status_macros.h"
#include "runtime/session.h"
#include "tests/cuda/gpu_test_harness.h"
#include "tests/devices/kernel_test_util.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

using cuda::CompileCudaSource;
using cuda::FusedElementwiseSource;
using cuda::FusedKernelCache;
using elementwise::OpCode;
using elementwise::Program;

Program MustParse(int n, const std::vector<std::string>& text) {
  absl::StatusOr<Program> p = elementwise::Parse(n, text);
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  return *p;
}

// Every opcode of the format once, chained: unary ops on the running value, binary ops
// against the inputs (so every register is used).
std::vector<std::string> EveryOpProgram() {
  std::vector<std::string> text;
  std::string cur = "i0";
  for (int o = 0; o < static_cast<int>(OpCode::kNumOpCodes); ++o) {
    const OpCode op = static_cast<OpCode>(o);
    std::string s = absl::StrCat(elementwise::OpCodeName(op), " ", cur);
    if (elementwise::IsBinary(op)) absl::StrAppend(&s, " i", 1 + o % 2);
    text.push_back(s);
    cur = absl::StrCat("r", text.size() - 1);
  }
  return text;
}

bool IsElf(const std::vector<char>& image) {
  return image.size() > 4 && image[0] == 0x7f && image[1] == 'E' && image[2] == 'L' &&
         image[3] == 'F';
}

void CheckCompiles(const Program& p, const std::string& type) {
  const std::string src = FusedElementwiseSource(p, type);
  CAPTURE(type, src);
  auto cubin = CompileCudaSource(src, "t.cu", cuda::kDefaultArch, /*ptx=*/false);
  if (!cubin.ok()) FAIL(cubin.status().ToString());
  CHECK(IsElf(*cubin));
  auto ptx = CompileCudaSource(src, "t.cu", cuda::kDefaultArch, /*ptx=*/true);
  if (!ptx.ok()) FAIL(ptx.status().ToString());
  const std::string text(ptx->data());
  CHECK(text.find(absl::StrCat(".entry ", cuda::kFusedKernelName)) != std::string::npos);
}

TEST_CASE("NVRTC: the generated source of every op compiles for float and double, to CUBIN and PTX",
          "[nvrtc]") {
  const Program p = MustParse(3, EveryOpProgram());
  REQUIRE(p.num_instructions == static_cast<int>(OpCode::kNumOpCodes));
  const std::string src = FusedElementwiseSource(p, "float");
  // The expression is the shared C rendering; the kernel is a grid-stride loop.
  CHECK(src.find(elementwise::ToCSource(p, "float")) != std::string::npos);
  CHECK(src.find("extern \"C\" __global__ void quiver_fused_elementwise") != std::string::npos);
  CHECK(src.find("i += step") != std::string::npos);
  CheckCompiles(p, "float");
  CheckCompiles(p, "double");
  // Each op alone too (a single instruction that is also the output).
  for (int o = 0; o < static_cast<int>(OpCode::kNumOpCodes); ++o) {
    const OpCode op = static_cast<OpCode>(o);
    const std::string text =
        absl::StrCat(elementwise::OpCodeName(op), " i0", elementwise::IsBinary(op) ? " i1" : "");
    CAPTURE(text);
    auto k = FusedKernelCache::Global().Get(2, {text}, DT_FLOAT, cuda::kDefaultArch);
    if (!k.ok()) FAIL(k.status().ToString());
    CHECK(IsElf((*k)->cubin()));
  }
}

TEST_CASE("NVRTC: a 64-instruction chain over 16 inputs and broadcasting programs compile",
          "[nvrtc]") {
  std::vector<std::string> chain;
  std::string cur = "i0";
  for (int k = 0; k < elementwise::kMaxInstructions; ++k) {
    const char* ops[] = {"Mul", "Add", "Tanh", "Sub", "Sigmoid", "Maximum", "Relu6", "RealDiv"};
    const std::string op = ops[k % 8];
    OpCode code;
    REQUIRE(elementwise::OpCodeForTfOp(op, &code));
    std::string s = absl::StrCat(op, " ", cur);
    if (elementwise::IsBinary(code)) absl::StrAppend(&s, " i", 1 + k % 15);
    chain.push_back(s);
    cur = absl::StrCat("r", k);
  }
  CheckCompiles(MustParse(elementwise::kMaxInputs, chain), "float");
  // sigmoid(x * w + b) and a SquaredDifference against a broadcast mean: the kernel is the same
  // for any shapes (broadcasting is in the arguments), so compile and check the strided path
  // is in the source.
  const Program mlp = MustParse(3, {"Mul i0 i1", "Add r0 i2", "Sigmoid r1"});
  CHECK(FusedElementwiseSource(mlp, "float").find("a.strides[k][d]") != std::string::npos);
  CheckCompiles(mlp, "float");
  CheckCompiles(MustParse(2, {"SquaredDifference i0 i1", "Rsqrt r0", "Mul r1 i0"}), "double");
  // An input used by no instruction still has a parameter (the node's inputs are fixed).
  CheckCompiles(MustParse(3, {"Exp i2"}), "float");
  // Other archs NVRTC 13 targets (A100, Blackwell).
  for (int arch : {80, 100}) {
    CAPTURE(arch);
    auto cubin = CompileCudaSource(FusedElementwiseSource(mlp, "float"), "t.cu", arch, false);
    if (!cubin.ok()) FAIL(cubin.status().ToString());
    CHECK(IsElf(*cubin));
  }
}

TEST_CASE("NVRTC: the cache shares one entry per (program, dtype, arch)", "[nvrtc]") {
  FusedKernelCache& cache = FusedKernelCache::Global();
  const std::vector<std::string> text = {"Mul i0 i1", "Add r0 i1", "Relu r1"};
  auto a = cache.Get(2, text, DT_FLOAT, 90);
  REQUIRE(a.ok());
  const int64_t compiles = cache.compiles();
  const size_t size = cache.size();
  auto b = cache.Get(2, text, DT_FLOAT, 90);
  REQUIRE(b.ok());
  CHECK(a->get() == b->get());
  CHECK(cache.compiles() == compiles);
  CHECK(cache.size() == size);
  // Same text through the decoded entry point: same entry.
  auto c = cache.Get(MustParse(2, text), DT_FLOAT, 90);
  REQUIRE(c.ok());
  CHECK(c->get() == a->get());
  // A different program, dtype or arch is a different entry.
  auto d = cache.Get(2, {"Mul i0 i1", "Add r0 i1", "Relu6 r1"}, DT_FLOAT, 90);
  auto e = cache.Get(2, text, DT_DOUBLE, 90);
  auto f = cache.Get(2, text, DT_FLOAT, 80);
  auto g = cache.Get(2, {"Mul i1 i0", "Add r0 i1", "Relu r1"}, DT_FLOAT, 90);  // operand order
  for (auto* x : {&d, &e, &f, &g}) {
    REQUIRE(x->ok());
    CHECK((*x)->get() != a->get());
  }
  CHECK((*e)->source().find("double r0") != std::string::npos);
  CHECK((*f)->arch() == 80);
  CHECK(cache.size() == size + 4);
  CHECK(cache.compiles() == compiles + 4);
  CHECK((*a)->key() == cuda::FusedKernelKey(MustParse(2, text), DT_FLOAT, 90));

  // Many threads asking for one new program: one compile, one entry, everyone gets it.
  const int64_t before = cache.compiles();
  std::vector<std::thread> threads;
  std::vector<const cuda::FusedKernel*> got(8, nullptr);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto k = cache.Get(1, {"Exp i0", "Log r0", "Neg r1"}, DT_FLOAT, 90);
      if (k.ok()) got[t] = k->get();
    });
  }
  for (auto& t : threads) t.join();
  CHECK(cache.compiles() == before + 1);
  for (const auto* k : got) CHECK((k != nullptr && k == got[0]));
}

TEST_CASE("NVRTC: malformed programs and sources give clear errors", "[nvrtc]") {
  FusedKernelCache& cache = FusedKernelCache::Global();
  auto undefined = cache.Get(2, {"Add i0 r0"}, DT_FLOAT, 90);
  REQUIRE(!undefined.ok());
  CHECK(undefined.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(undefined.status().message()) ==
        "program instruction 0 'Add i0 r0': operand 'r0' is not defined yet");
  auto unknown = cache.Get(1, {"Cosh i0"}, DT_FLOAT, 90);
  REQUIRE(!unknown.ok());
  CHECK(std::string(unknown.status().message()).find("unknown op") != std::string::npos);
  auto arity = cache.Get(2, {"Add i0"}, DT_FLOAT, 90);
  REQUIRE(!arity.ok());
  CHECK(std::string(arity.status().message()).find("expected 2 operand(s)") != std::string::npos);
  auto empty = cache.Get(1, {}, DT_FLOAT, 90);
  REQUIRE(!empty.ok());
  auto input = cache.Get(2, {"Neg i2"}, DT_FLOAT, 90);
  REQUIRE(!input.ok());
  CHECK(std::string(input.status().message()).find("bad operand 'i2'") != std::string::npos);
  // A dtype the generator does not emit.
  auto ints = cache.Get(1, {"Neg i0"}, DT_INT32, 90);
  REQUIRE(!ints.ok());
  CHECK(ints.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(std::string(ints.status().message()).find("int32") != std::string::npos);
  // NVRTC's own diagnostics come back in the error.
  auto bad = CompileCudaSource("extern \"C\" __global__ void k() { undeclared_thing = 1; }",
                               "bad.cu", 90, false);
  REQUIRE(!bad.ok());
  const std::string msg(bad.status().message());
  CAPTURE(msg);
  CHECK(msg.find("NVRTC could not compile bad.cu for --gpu-architecture=sm_90") !=
        std::string::npos);
  CHECK(msg.find("undeclared_thing") != std::string::npos);
  // An arch NVRTC does not know is an error, not a crash (and is cached as one).
  auto arch = cache.Get(1, {"Neg i0"}, DT_FLOAT, 1);
  REQUIRE(!arch.ok());
  CHECK(std::string(arch.status().message()).find("sm_1") != std::string::npos);
  // A GPU newer than this NVRTC gets PTX for the newest arch NVRTC knows (the driver JITs it).
  auto future = cache.Get(1, {"Neg i0"}, DT_FLOAT, 999);
  if (!future.ok()) FAIL(future.status().ToString());
  CHECK((*future)->arch() == 999);
  CHECK_FALSE(IsElf((*future)->cubin()));
  const std::string ptx((*future)->cubin().data());
  CHECK(ptx.find(absl::StrCat(".entry ", cuda::kFusedKernelName)) != std::string::npos);
}

// The GPU kernel registered for _FusedElementwise is found and constructed (which compiles)
// for a node on GPU:0, here too: construction needs NVRTC only.
TEST_CASE("NVRTC: the GPU _FusedElementwise kernel is registered and builds its program",
          "[nvrtc]") {
  cuda::RegisterPendingGpuKernels();  // this process only: the CPU suite never sees them
  for (DataType dtype : {DT_FLOAT, DT_DOUBLE}) {
    CAPTURE(DataTypeName(dtype));
    Graph graph;
    auto x = Tensor::Zeros(dtype, TensorShape{2, 3});
    auto y = Tensor::Zeros(dtype, TensorShape{3});
    REQUIRE((x.ok() && y.ok()));
    auto xn = testing::AddConst(graph, "x", *x);
    auto yn = testing::AddConst(graph, "y", *y);
    REQUIRE((xn.ok() && yn.ok()));
    AttrMap attrs = {{"program", MakeAttr(std::vector<std::string>{"Mul i0 i1", "Elu r0"})}};
    auto node = testing::AddOpNode(graph, "_FusedElementwise", attrs, std::vector<Node*>{*xn, *yn});
    REQUIRE(node.ok());
    (*node)->set_assigned_device(LocalDeviceName(kGpu, 0));
    auto kernel = KernelRegistry::Global().CreateKernel(**node, kGpu);
    if (!kernel.ok()) FAIL(kernel.status().ToString());
  }
  // A bad program is an error naming the node and the instruction at kernel creation.
  Graph graph;
  auto xn = testing::AddConst(graph, "x", Tensor::FromVector<float>({1.f, 2.f}, TensorShape{2}));
  REQUIRE(xn.ok());
  AttrMap attrs = {{"program", MakeAttr(std::vector<std::string>{"Relu r3"})}};
  auto node = testing::AddOpNode(graph, "_FusedElementwise", attrs, std::vector<Node*>{*xn});
  REQUIRE(node.ok());
  (*node)->set_assigned_device(LocalDeviceName(kGpu, 0));
  auto kernel = KernelRegistry::Global().CreateKernel(**node, kGpu);
  REQUIRE(!kernel.ok());
  const std::string msg(kernel.status().message());
  CAPTURE(msg);
  CHECK(msg.find("'op'") != std::string::npos);
  CHECK(msg.find("program instruction 0 'Relu r3'") != std::string::npos);
}

// The generated kernel's loop, transcribed for the host (quiver_load and the idx loop of
// FusedElementwiseSource) over the arguments the GPU op passes: checks PlanFusedArgs' modes and
// strides against the CPU kernel on every broadcasting pattern, without a GPU.
std::vector<float> EmulateKernel(const Program& p, const cuda::FusedElementwiseArgs& a) {
  std::vector<float> out(a.n);
  for (long long i = 0; i < a.n; ++i) {
    long long idx[elementwise::BroadcastLayout::kMaxRank] = {};
    if (a.any_strided) {
      long long rem = i;
      for (int d = a.rank - 1; d >= 0; --d) {
        const long long q = rem / a.out_dims[d];
        idx[d] = rem - q * a.out_dims[d];
        rem = q;
      }
    }
    float v[elementwise::kMaxInputs];
    for (int k = 0; k < p.num_inputs; ++k) {
      const float* in = static_cast<const float*>(a.in[k]);
      long long o = 0;
      if (a.mode[k] == cuda::FusedElementwiseArgs::kFull) {
        o = i;
      } else if (a.mode[k] == cuda::FusedElementwiseArgs::kStrided) {
        for (int d = 0; d < a.rank; ++d) o += idx[d] * a.strides[k][d];
      }
      v[k] = in[o];
    }
    out[i] = elementwise::EvalElement<float>(p, v);
  }
  return out;
}

TEST_CASE("NVRTC: the kernel's broadcast arguments, emulated on the host, match the CPU kernel",
          "[nvrtc]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  const std::vector<std::string> text = {"Mul i0 i1", "Sub r0 i2", "Tanh r1"};
  const Program p = MustParse(3, text);
  const std::vector<std::vector<std::vector<int64_t>>> cases = {
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {5}, {}},
      {{4, 1}, {1, 5}, {1}},
      {{2, 3, 4}, {3, 1}, {2, 1, 4}},
      {{6, 1, 7}, {1, 5, 1}, {7}},
      {{1, 5}, {5}, {5, 1}},
      {{2, 1, 3, 1, 2}, {1, 4, 1, 5, 1}, {2, 4, 3, 5, 2}},
  };
  for (const auto& shapes : cases) {
    CAPTURE(shapes);
    std::vector<Tensor> inputs;
    for (const auto& s : shapes) {
      int64_t n = 1;
      for (int64_t d : s) n *= d;
      std::vector<float> v(n);
      for (float& x : v) x = u(rng);
      inputs.push_back(Tensor::FromVector<float>(v, TensorShape(s)));
    }
    auto cpu = testing::RunKernel("_FusedElementwise", {{"program", MakeAttr(text)}}, inputs);
    if (!cpu.ok()) FAIL(cpu.status().ToString());
    std::vector<int64_t> out_dims;
    cuda::FusedElementwiseArgs args;
    REQUIRE(cuda::PlanFusedArgs(shapes, &out_dims, &args).ok());
    CHECK(TensorShape(out_dims) == (*cpu)[0].shape());
    for (size_t i = 0; i < inputs.size(); ++i) args.in[i] = inputs[i].data<float>();
    const std::vector<float> got = EmulateKernel(p, args);
    REQUIRE(static_cast<int64_t>(got.size()) == (*cpu)[0].num_elements());
    const float* want = (*cpu)[0].data<float>();
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, double(std::abs(got[i] - want[i])));
    CHECK(worst < 1e-5);
  }
  std::vector<int64_t> out_dims;
  cuda::FusedElementwiseArgs args;
  const absl::Status bad = cuda::PlanFusedArgs({{2, 3}, {4}}, &out_dims, &args);
  CHECK(std::string(bad.message()) == "incompatible shapes for broadcasting: [2,3] vs [4]");
}

// ---- on a GPU --------------------------------------------------------------------------

// Unlike gputest::SkipWithoutGpu, no harness mode: these cases need a GPU to run anything.
bool SkipWithoutGpu() {
  if (cuda::GpuCount() > 0) return false;
  std::cout << "QUIVER_SKIPPED: no GPU here (" << cuda::DetectionMessage() << ")" << std::endl;
  return true;
}

using gputest::Gpu0;    // the GPU:0 device, as a session makes it
using gputest::Random;  // uniform floats in [lo, hi)

// The GPU kernel on `inputs`: device-resident (the executor's way) or host tensors staged by
// GpuScope.
absl::StatusOr<Tensor> RunGpu(const AttrMap& attrs, const std::vector<Tensor>& inputs,
                              bool resident) {
  Device* gpu = Gpu0();
  if (gpu == nullptr) return absl::InternalError("GPU:0 could not be created");
  Graph graph;
  std::vector<Node*> nodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(Node * n, testing::AddConst(graph, absl::StrCat("in", i), inputs[i]));
    nodes.push_back(n);
  }
  ASSIGN_OR_RETURN(Node * node, testing::AddOpNode(graph, "_FusedElementwise", attrs, nodes));
  node->set_assigned_device(LocalDeviceName(kGpu, 0));
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel,
                   KernelRegistry::Global().CreateKernel(*node, kGpu));
  std::vector<TensorValue> in(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (resident) {
      ASSIGN_OR_RETURN(in[i].tensor, CopyTensor(inputs[i], gpu));
    } else {
      ASSIGN_OR_RETURN(in[i].tensor, inputs[i].Clone());
    }
  }
  std::vector<TensorValue> out(1);
  StepResources resources;
  OpKernelContext ctx(*node, &in, &out, &resources, resident ? gpu : nullptr, kernel.get());
  RETURN_IF_ERROR(kernel->Compute(ctx));
  RETURN_IF_ERROR(gpu->Sync());
  if (!out[0].tensor.valid()) return absl::InternalError("no output");
  return CopyTensor(out[0].tensor, Device::DefaultCpu(), gpu);
}

TEST_CASE("GPU: the generated _FusedElementwise kernel matches the CPU kernel", "[gpu]") {
  if (SkipWithoutGpu()) return;
  std::mt19937 rng(7);
  struct Case {
    std::vector<std::string> program;
    std::vector<std::vector<int64_t>> shapes;
  };
  const std::vector<Case> cases = {
      {{"Mul i0 i1", "Add r0 i2", "Sigmoid r1"}, {{64, 33}, {33}, {64, 1}}},
      {{"Mul i0 i1", "Add r0 i2", "Relu r1", "Sigmoid r2", "Square r3", "Sub r4 i3", "Tanh r5",
        "Neg r6"},
       {{300001}, {}, {1}, {300001}}},
      {{"SquaredDifference i0 i1", "Rsqrt r0", "Mul r1 i0"}, {{6, 1, 7}, {1, 5, 1}}},
      {{"Sub i0 i1", "Maximum r0 i2", "Minimum r1 i1", "RealDiv r2 i2", "Elu r3", "Relu6 r4"},
       {{2, 3, 4, 5}, {3, 1, 5}, {4, 1}}},
      {{"Abs i0", "Sqrt r0", "Log r1", "Exp r2", "Reciprocal r3", "Floor r4", "Add r5 i1",
        "Ceil r6"},
       {{17, 19}, {19}}},
      {{"Neg i0"}, {{0, 3}}},  // no elements
  };
  for (const Case& c : cases) {
    CAPTURE(c.program);
    std::vector<Tensor> inputs;
    for (const auto& s : c.shapes) inputs.push_back(Random(s, &rng, 0.25f, 3.f));
    // Negative values too for inputs that reach sign-sensitive ops (all but Sqrt/Log chains).
    if (c.program[0] != "Abs i0") inputs[0] = Random(c.shapes[0], &rng, -3.f, 3.f);
    AttrMap attrs = {{"program", MakeAttr(c.program)}};
    auto cpu = testing::RunKernel("_FusedElementwise", attrs, inputs);
    if (!cpu.ok()) FAIL("CPU: " << cpu.status().ToString());
    for (bool resident : {true, false}) {
      CAPTURE(resident);
      auto gpu = RunGpu(attrs, inputs, resident);
      if (!gpu.ok()) FAIL(gpu.status().ToString());
      fixture::Comparison cmp = fixture::CompareTensors(*gpu, (*cpu)[0], 1e-5, 1e-5);
      if (!cmp.ok) FAIL_CHECK(cmp.message);
    }
  }
}

TEST_CASE("GPU: a _FusedElementwise graph on /gpu:0 runs through the Session", "[gpu]") {
  if (SkipWithoutGpu()) return;
  // y = sigmoid(x * w + b) with x fed [N, M], w [M], b a scalar; compared with plain doubles.
  const int64_t n = 1000, m = 37;
  std::mt19937 rng(11);
  Tensor x = Random({n, m}, &rng, -2.f, 2.f);
  Tensor w = Random({m}, &rng, -2.f, 2.f);
  Tensor b = Random({}, &rng, -1.f, 1.f);
  Graph graph;
  GraphBuilder builder(&graph);
  Output xp = builder.Placeholder(DT_FLOAT, {-1, m}, "x");
  Output wc = builder.Const(w, "w");
  Output bc = builder.Const(b, "b");
  REQUIRE(builder.status().ok());
  NodeSpec spec;
  spec.name = "y";
  spec.op = "_FusedElementwise";
  spec.device = "/gpu:0";
  spec.attrs["program"] =
      MakeAttr(std::vector<std::string>{"Mul i0 i1", "Add r0 i2", "Sigmoid r1"});
  spec.inputs = {{xp.node(), 0}, {wc.node(), 0}, {bc.node(), 0}};
  auto y = graph.AddNode(std::move(spec));
  if (!y.ok()) FAIL(y.status().ToString());
  SessionOptions options;
  options.allow_soft_placement = false;  // really on the GPU
  auto session = Session::Create(graph, options);
  if (!session.ok()) FAIL(session.status().ToString());
  for (int run = 0; run < 2; ++run) {  // the second run reuses the cached kernel
    auto out = (*session)->Run({{"x", x}}, {"y"});
    if (!out.ok()) FAIL(out.status().ToString());
    const Tensor& got = (*out)[0];
    REQUIRE(got.shape() == (TensorShape{n, m}));
    const float* xv = x.data<float>();
    const float* wv = w.data<float>();
    const double bv = b.data<float>()[0];
    double worst = 0;
    for (int64_t i = 0; i < n * m; ++i) {
      const double want = 1.0 / (1.0 + std::exp(-(double(xv[i]) * wv[i % m] + bv)));
      worst = std::max(worst, std::abs(got.data<float>()[i] - want));
    }
    CHECK(worst < 1e-6);
  }
}

}  // namespace
}  // namespace quiver
