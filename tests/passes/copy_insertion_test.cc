// Copy insertion: tensors crossing (virtual CPU) devices go through one _Transfer per
// (producer, output, destination device), the copies really run, and RunMetadata counts them
// the way the placement report predicts.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "devices/device_set.h"
#include "devices/kernel.h"
#include "graph/builder.h"
#include "graph/status_macros.h"
#include "passes/copy_insertion.h"
#include "passes/placement_report.h"
#include "passes/placer.h"
#include "runtime/session.h"

namespace quiver {
namespace {

// CPU:0 plus the virtual CPU:1 and CPU:2. The optimizer is off: constant folding would fold
// these small Const-fed graphs away, and with them the transfers under test.
SessionOptions ThreeCpus() {
  SessionOptions options;
  options.virtual_cpu_devices = 2;
  options.optimizer.level = 0;
  return options;
}

Tensor Random(const TensorShape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(shape.num_elements());
  for (float& x : v) x = dist(rng);
  return Tensor::FromVector<float>(v, shape);
}

// A fake accelerator type for hand-placed graphs (InsertCopies only reads the kernel table):
// a Shape-like op whose output its kernel keeps in host memory, an op with a host-memory input
// and one without.
constexpr char kAcc[] = "CITEST";
QUIVER_REGISTER_OP("CopyInsertionTestShape").Input("x: float").Output("shape: int32");
QUIVER_REGISTER_OP("CopyInsertionTestUse").Input("x: float").Input("n: int32").Output("y: float");
QUIVER_REGISTER_OP("CopyInsertionTestInt").Input("n: int32").Output("y: float");
QUIVER_REGISTER_OP("CopyInsertionTestMakeInt").Input("x: float").Output("n: int32");
KernelOrError NeverCreated(OpKernelConstruction& c) { return c.Error("test-only kernel"); }
QUIVER_REGISTER_KERNEL(KernelDef("CopyInsertionTestShape", kAcc).HostMemory("shape"), NeverCreated);
QUIVER_REGISTER_KERNEL(KernelDef("CopyInsertionTestUse", kAcc).HostMemory("n"), NeverCreated);
QUIVER_REGISTER_KERNEL(KernelDef("CopyInsertionTestInt", kAcc), NeverCreated);
QUIVER_REGISTER_KERNEL(KernelDef("CopyInsertionTestMakeInt", kAcc), NeverCreated);

// For the hand-placed graphs: a device set of `devices` built by hand (no factories), and every
// node of `g` assigned the device it requests (an error when one names no device of the set).
absl::StatusOr<DeviceSet> PlaceAsRequested(
    Graph* g, const std::vector<std::pair<std::string, int>>& devices) {
  DeviceSet set;
  for (const auto& [type, id] : devices) RETURN_IF_ERROR(set.AddDevice(type, id));
  for (Node* n : g->nodes()) {
    const DeviceInfo* d = set.Find(n->requested_device());
    if (d == nullptr) return absl::NotFoundError("no device for " + n->name());
    n->set_assigned_device(d->name);
  }
  return set;
}

int CountTransfers(const Graph& g) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op() == kTransferOp;
  return n;
}

struct RunResult {
  std::vector<Tensor> outputs;
  RunMetadata metadata;
  int transfer_nodes = 0;  // _Transfer nodes in the session's graph
};

RunResult RunGraph(const Graph& g, const SessionOptions& options,
                   const std::vector<Session::Feed>& feeds, const std::vector<std::string>& fetches,
                   const std::vector<std::string>& targets = {}) {
  auto session = Session::Create(g, options);
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  RunResult r;
  auto out = (*session)->Run(feeds, fetches, targets, &r.metadata);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  r.outputs = *std::move(out);
  r.transfer_nodes = CountTransfers((*session)->graph());
  return r;
}

TEST_CASE("One transfer feeds every consumer on the destination device", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Output x;
  {
    auto d = b.device("/cpu:0");
    x = b.Const(Random({2, 3}, 1), "x");
  }
  std::vector<std::string> fetches;
  {
    auto d = b.device("/cpu:1");
    fetches = {Relu(x), Exp(x), Identity(x)};
  }
  REQUIRE(b.status().ok());
  // x:0 is read three times on CPU:1: one copy of 2*3 floats = 24 bytes.
  RunResult r = RunGraph(g, ThreeCpus(), {}, fetches);
  CHECK(r.transfer_nodes == 1);
  CHECK(r.metadata.transfers == 1);
  CHECK(r.metadata.transfer_bytes == 24);
  // The copy is a real one: Identity's output equals x but lives in its own buffer.
  CHECK(std::memcmp(r.outputs[2].data<float>(), Random({2, 3}, 1).data<float>(), 24) == 0);
}

TEST_CASE("A chain crossing CPU:0 -> CPU:1 -> CPU:0 copies twice", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, a, c;
  {
    auto d = b.device("/cpu:0");
    x = b.Const(Random({4}, 2), "x");
  }
  {
    auto d = b.device("/cpu:1");
    a = Relu(x, "a");
  }
  {
    auto d = b.device("/cpu:0");
    c = Exp(a, "c");
  }
  REQUIRE(b.status().ok());
  // x:0 to CPU:1 (16 bytes), a:0 back to CPU:0 (16 bytes).
  RunResult r = RunGraph(g, ThreeCpus(), {}, {c});
  CHECK(r.metadata.transfers == 2);
  CHECK(r.metadata.transfer_bytes == 32);
}

TEST_CASE("A control edge across devices moves no data", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Output first, second;
  {
    auto d = b.device("/cpu:0");
    first = b.Const(Random({8}, 3), "first");
  }
  {
    auto d = b.device("/cpu:1");
    auto deps = b.control_dependencies({first.node()});
    second = b.Const(Random({8}, 4), "second");
  }
  REQUIRE(b.status().ok());
  // `first` runs before `second` (ordering only): nothing to copy.
  RunResult r = RunGraph(g, ThreeCpus(), {}, {second});
  CHECK(r.metadata.nodes_executed == 2);
  CHECK(r.transfer_nodes == 0);
  CHECK(r.metadata.transfers == 0);
  CHECK(r.metadata.transfer_bytes == 0);
}

TEST_CASE("A fed placeholder is copied to its consumer's device", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, y;
  {
    auto d = b.device("/cpu:0");
    x = b.Placeholder(DT_FLOAT, {2, 5}, "x");
  }
  {
    auto d = b.device("/cpu:1");
    y = Relu(x, "y");
  }
  REQUIRE(b.status().ok());
  // The feed stands for x:0 on CPU:0; Relu reads it on CPU:1: one copy of 10 floats.
  RunResult r = RunGraph(g, ThreeCpus(), {{"x", Random({2, 5}, 5)}}, {y});
  CHECK(r.metadata.transfers == 1);
  CHECK(r.metadata.transfer_bytes == 40);
}

TEST_CASE("A variable read on another device is copied; its ref edges are not", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  VariableHandle v;
  Node* init = nullptr;
  {
    auto d = b.device("/cpu:0");
    v = b.Variable(b.Const(Random({6}, 6)), "v");
    init = b.GlobalVariablesInitializer();
  }
  Output y;
  {
    auto d = b.device("/cpu:1");
    y = Relu(v.ref, "y");  // a plain (non-ref) read of the variable on CPU:1
  }
  REQUIRE(b.status().ok());
  auto session = Session::Create(g, ThreeCpus());
  REQUIRE(session.ok());
  RunMetadata md;
  // The initializer's Assign takes v by ref: colocated with it, nothing crosses devices.
  REQUIRE((*session)->Run({}, {}, {init->name()}, &md).ok());
  CHECK(md.transfers == 0);
  // v:0 is dereferenced into a copy for CPU:1: 6 floats.
  auto out = (*session)->Run({}, {y}, {}, &md);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  CHECK(md.transfers == 1);
  CHECK(md.transfer_bytes == 24);
}

// x[4,8] -> (MatMul+BiasAdd+Relu)[16] on CPU:0 -> (MatMul+BiasAdd+Relu)[16] and
// (MatMul+BiasAdd)[10] on CPU:1 -> Softmax on CPU:2. `spread` false keeps it on one device.
std::string BuildMlp(Graph* g, bool spread) {
  GraphBuilder b(g);
  auto dev = [&](const char* d) { return b.device(spread ? d : "/cpu:0"); };
  auto layer = [&](Output in, int64_t in_dim, int64_t out_dim, uint32_t seed, bool relu) {
    Output w = b.Const(Random({in_dim, out_dim}, seed));
    Output bias = b.Const(Random({out_dim}, seed + 100));
    Output z = BiasAdd(MatMul(in, w), bias);
    return relu ? Relu(z) : z;
  };
  Output x, h1, logits, probs;
  {
    auto d = dev("/cpu:0");
    x = b.Placeholder(DT_FLOAT, {4, 8}, "x");
    h1 = layer(x, 8, 16, 10, true);
  }
  {
    auto d = dev("/cpu:1");
    logits = layer(layer(h1, 16, 16, 20, true), 16, 10, 30, false);
  }
  {
    auto d = dev("/cpu:2");
    probs = Softmax(logits, "probs");
  }
  REQUIRE(b.status().ok());
  return probs;
}

TEST_CASE("An MLP over three devices matches one device bit for bit", "[copies]") {
  Graph one, spread;
  std::string fetch = BuildMlp(&one, false);
  REQUIRE(BuildMlp(&spread, true) == fetch);
  Tensor x = Random({4, 8}, 7);

  RunResult base = RunGraph(one, ThreeCpus(), {{"x", x}}, {fetch});
  RunResult split = RunGraph(spread, ThreeCpus(), {{"x", x}}, {fetch});
  CHECK(base.metadata.transfers == 0);
  REQUIRE(split.outputs[0].shape() == base.outputs[0].shape());
  CHECK(std::memcmp(split.outputs[0].data<float>(), base.outputs[0].data<float>(),
                    base.outputs[0].num_bytes()) == 0);

  // By hand: h1[4,16] CPU:0 -> CPU:1 (256 bytes), logits[4,10] CPU:1 -> CPU:2 (160 bytes).
  CHECK(split.metadata.transfers == 2);
  CHECK(split.metadata.transfer_bytes == 416);

  // The placement report on the same graph and devices predicts exactly what ran.
  Graph g;
  REQUIRE(g.CopyFrom(spread).ok());
  REQUIRE(g.InferShapes().ok());
  auto devices = DeviceSet::Create({2});
  REQUIRE(devices.ok());
  PlacerOptions placer;
  placer.allow_soft_placement = true;
  auto placement = PlaceGraph(&g, *devices, placer);
  REQUIRE(placement.ok());
  auto report = BuildPlacementReport(g, *devices, &*placement);
  REQUIRE(report.ok());
  CHECK(report->totals.transfers == split.metadata.transfers);
  CHECK(report->totals.transfer_bytes == split.metadata.transfer_bytes);
  CHECK(report->totals.transfers_unknown_bytes == 0);
}

TEST_CASE("InsertCopies groups consumers and is idempotent", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Output x;
  {
    auto d = b.device("/cpu:0");
    x = b.Const(Random({3}, 8), "x");
  }
  {
    auto d = b.device("/cpu:1");
    Relu(x);
    Exp(x);
  }
  {
    auto d = b.device("/cpu:2");
    Identity(x);
  }
  REQUIRE(b.status().ok());
  REQUIRE(g.InferShapes().ok());
  auto devices = DeviceSet::Create({2});
  REQUIRE(devices.ok());
  REQUIRE(PlaceGraph(&g, *devices, {}).ok());

  // Two destinations (CPU:1 read twice, CPU:2 once): two transfers, three inputs rewired.
  auto first = InsertCopies(&g, *devices);
  REQUIRE(first.ok());
  CHECK(first->transfers_inserted == 2);
  CHECK(first->edges_rewired == 3);
  CHECK(g.FindNode("x/_transfer_to_CPU_1") != nullptr);
  CHECK(g.FindNode("x/_transfer_to_CPU_2") != nullptr);

  auto again = InsertCopies(&g, *devices);
  REQUIRE(again.ok());
  CHECK(again->transfers_inserted == 0);
  CHECK(again->edges_rewired == 0);
  CHECK(CountTransfers(g) == 2);
}

TEST_CASE("An accelerator's HostMemory outputs are read on the host without a copy", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, s;
  {
    auto d = b.device("/device:CITEST:0");
    x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
    s = b.Op("CopyInsertionTestShape", {x}, {}, "s");
    b.Op("CopyInsertionTestUse", {x, s}, {}, "same_device");
  }
  {
    auto d = b.device("/cpu:0");
    Identity(s, "s_cpu0");
    Identity(x, "x_cpu0");
  }
  {
    auto d = b.device("/cpu:1");
    Identity(s, "s_cpu1");
  }
  {
    auto d = b.device("/device:CITEST:1");
    b.Op("CopyInsertionTestUse", {x, s}, {}, "use");
    b.Op("CopyInsertionTestInt", {s}, {}, "int");
  }
  REQUIRE(b.status().ok());
  REQUIRE(g.InferShapes().ok());
  // CPU:0, CPU:1, CITEST:0, CITEST:1, built by hand (no factories), placed by hand.
  auto devices = PlaceAsRequested(&g, {{kCpu, 0}, {kCpu, 1}, {kAcc, 0}, {kAcc, 1}});
  INFO(devices.status().ToString());
  REQUIRE(devices.ok());

  auto stats = InsertCopies(&g, *devices);
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  // Hand count, per data edge that crosses devices:
  //   s -> s_cpu0 (CPU:0), s -> s_cpu1 (CPU:1): s is in host memory already      0
  //   s -> use.n (CITEST:1, a host-memory input): read where it is               0
  //   s -> int.n (CITEST:1, device memory): s/_transfer_to_CITEST_1              1
  //   x -> use.x (CITEST:1): x/_transfer_to_CITEST_1                             1
  //   x -> x_cpu0 (CPU:0): device memory to the host, x/_transfer_to_CPU_0       1
  //   x, s -> same_device: same device                                           0
  CHECK(stats->transfers_inserted == 3);
  CHECK(stats->edges_rewired == 3);
  CHECK(CountTransfers(g) == 3);
  const Node* s_to_acc1 = g.FindNode("s/_transfer_to_CITEST_1");
  const Node* x_to_acc1 = g.FindNode("x/_transfer_to_CITEST_1");
  const Node* x_to_cpu0 = g.FindNode("x/_transfer_to_CPU_0");
  REQUIRE(s_to_acc1 != nullptr);
  REQUIRE(x_to_acc1 != nullptr);
  REQUIRE(x_to_cpu0 != nullptr);
  CHECK(g.FindNode("s_cpu0")->input(0).node == s.node());
  CHECK(g.FindNode("s_cpu1")->input(0).node == s.node());
  CHECK(g.FindNode("use")->input(0).node == x_to_acc1);
  CHECK(g.FindNode("use")->input(1).node == s.node());
  CHECK(g.FindNode("int")->input(0).node == s_to_acc1);
  CHECK(g.FindNode("x_cpu0")->input(0).node == x_to_cpu0);
  // The CPU _Transfer copies out of CITEST:0's memory through the device its attr names.
  auto src = x_to_cpu0->GetAttr<std::string>("src_device");
  REQUIRE(src.ok());
  CHECK(*src == devices->Find("CITEST:0")->name);
}

TEST_CASE("A host-memory input fed from device memory is copied to the host, even on one device",
          "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, n;
  {
    auto d = b.device("/device:CITEST:0");
    x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
    n = b.Op("CopyInsertionTestMakeInt", {x}, {}, "n");  // an int32 left in device memory
    b.Op("CopyInsertionTestUse", {x, n}, {}, "use0");
  }
  {
    auto d = b.device("/device:CITEST:1");
    b.Op("CopyInsertionTestUse", {x, n}, {}, "use1");
    b.Op("CopyInsertionTestInt", {n}, {}, "int1");
  }
  {
    auto d = b.device("/cpu:0");
    Identity(n, "n_cpu0");
  }
  REQUIRE(b.status().ok());
  REQUIRE(g.InferShapes().ok());
  auto devices = PlaceAsRequested(&g, {{kCpu, 0}, {kAcc, 0}, {kAcc, 1}});
  INFO(devices.status().ToString());
  REQUIRE(devices.ok());
  auto report = BuildPlacementReport(g, *devices, nullptr);
  REQUIRE(report.ok());

  auto stats = InsertCopies(&g, *devices);
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  // Hand count for n (CITEST:0, device memory):
  //   -> use0.n (CITEST:0, host-memory arg): the host's copy, n/_transfer_to_CPU_0      1
  //   -> use1.n (CITEST:1, host-memory arg) and -> n_cpu0 (CPU:0): that same copy       0
  //   -> int1.n (CITEST:1, device memory): n/_transfer_to_CITEST_1                      1
  // and x -> use1.x, x -> int1... (x to CITEST:1): x/_transfer_to_CITEST_1             1
  CHECK(stats->transfers_inserted == 3);
  const Node* n_host = g.FindNode("n/_transfer_to_CPU_0");
  const Node* n_acc1 = g.FindNode("n/_transfer_to_CITEST_1");
  REQUIRE(n_host != nullptr);
  REQUIRE(n_acc1 != nullptr);
  CHECK(n_host->assigned_device() == devices->Find("CPU:0")->name);
  CHECK(g.FindNode("use0")->input(1).node == n_host);
  CHECK(g.FindNode("use1")->input(1).node == n_host);
  CHECK(g.FindNode("n_cpu0")->input(0).node == n_host);
  CHECK(g.FindNode("int1")->input(0).node == n_acc1);
  CHECK(g.FindNode("use0")->input(0).node == x.node());  // x stays in CITEST:0's memory

  // The report predicts the same copies, with the host as the destination of n's.
  REQUIRE(report->transfers.size() == 3);
  int to_host = 0;
  for (const TransferReport& t : report->transfers) {
    if (t.tensor == "n:0" && t.to == devices->Find("CPU:0")->name) {
      ++to_host;
      CHECK(t.consumers.size() == 3);  // use0, use1, n_cpu0
    }
  }
  CHECK(to_host == 1);
}

TEST_CASE("InsertCopies needs a placed graph", "[copies]") {
  Graph g;
  GraphBuilder b(&g);
  Relu(b.Const(Random({3}, 9)));
  REQUIRE(b.status().ok());
  auto devices = DeviceSet::Create({});
  REQUIRE(devices.ok());
  auto s = InsertCopies(&g, *devices);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace quiver
