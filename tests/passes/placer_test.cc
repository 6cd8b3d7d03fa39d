// Placement rules, placement errors and transfer counting, on hand-built graphs over
// CPU-only device sets with virtual CPUs (and a GPU added through the DeviceSet hook where a
// test needs one: no GPU code runs here, placement only consults the kernel table).
#include <catch2/catch.hpp>

#include <sstream>

#include "devices/device_set.h"
#include "devices/kernel.h"
#include "graph/builder.h"
#include "graph/optimizers.h"
#include "passes/placement_report.h"
#include "passes/placer.h"

namespace quiver {
namespace {

// An op with a GPU kernel only, to exercise kernel-driven placement without real GPU code.
QUIVER_REGISTER_OP("PlacerTestGpuOnly")
    .Input("x: float")
    .Output("y: float")
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_KERNEL(KernelDef("PlacerTestGpuOnly", kGpu),
                       [](OpKernelConstruction& c) -> KernelOrError {
                         return c.Error("test-only kernel");
                       });

// An op with a CPU kernel only. Real ops (Relu, ...) also get GPU kernels in a process that
// found a GPU, so tests about "no kernel on GPU" use this one.
QUIVER_REGISTER_OP("PlacerTestCpuOnly")
    .Input("x: float")
    .Output("y: float")
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_KERNEL(KernelDef("PlacerTestCpuOnly", kCpu),
                       [](OpKernelConstruction& c) -> KernelOrError {
                         return c.Error("test-only kernel");
                       });

const std::string kCpu0 = "/job:localhost/replica:0/task:0/device:CPU:0";
const std::string kCpu1 = "/job:localhost/replica:0/task:0/device:CPU:1";
const std::string kCpu2 = "/job:localhost/replica:0/task:0/device:CPU:2";
const std::string kGpu0 = "/job:localhost/replica:0/task:0/device:GPU:0";

// CPU:0..CPU:virtual_cpus only, built by hand: DeviceSet::Create would also add the GPUs of a
// machine that has some.
DeviceSet Cpus(int virtual_cpus) {
  DeviceSet set;
  for (int i = 0; i <= virtual_cpus; ++i) REQUIRE(set.AddDevice(kCpu, i).ok());
  return set;
}

DeviceSet CpusAndGpu() {
  DeviceSet set = Cpus(1);
  REQUIRE(set.AddDevice(kGpu, 0).ok());
  return set;
}

Placement Place(Graph& g, const DeviceSet& devices, bool soft = false) {
  PlacerOptions options;
  options.allow_soft_placement = soft;
  auto p = PlaceGraph(&g, devices, options);
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  return std::move(*p);
}

std::string PlaceError(Graph& g, const DeviceSet& devices, bool soft = false) {
  PlacerOptions options;
  options.allow_soft_placement = soft;
  auto p = PlaceGraph(&g, devices, options);
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(p.status().message());
}

const NodePlacement& Of(const Placement& p, const Output& o) {
  const NodePlacement* np = p.Find(*o.node());
  REQUIRE(np != nullptr);
  return *np;
}
const NodePlacement& Of(const Placement& p, const Node* n) {
  const NodePlacement* np = p.Find(*n);
  REQUIRE(np != nullptr);
  return *np;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

PlacementReport Report(const Graph& g, const DeviceSet& devices, const Placement& p) {
  auto r = BuildPlacementReport(g, devices, &p);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return std::move(*r);
}

}  // namespace

TEST_CASE("Placer: explicit requests are honoured and consumers follow their inputs",
          "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, r;
  {
    auto d = b.device("/cpu:1");
    x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
    r = Relu(x, "r");
  }
  Output t = Tanh(r, "t");  // no request: follows its input onto CPU:1
  REQUIRE(b.status().ok());
  Placement p = Place(g, Cpus(2));
  CHECK(x.node()->assigned_device() == kCpu1);
  CHECK(Of(p, r).reason == PlacementReason::kExplicit);
  CHECK(Of(p, r).explanation == "explicit: requested /cpu:1");
  CHECK(t.node()->assigned_device() == kCpu1);
  CHECK(Of(p, t).reason == PlacementReason::kFollowInputs);
  CHECK(Contains(Of(p, t).explanation, "CPU:1"));
}

TEST_CASE("Placer: default is the highest-priority device with a kernel", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {4}, "x");
  Output gpu = b.Op("PlacerTestGpuOnly", {x}, {}, "gpu_only");
  // Only a CPU kernel: CPU:0 despite GPU:0 ranking higher.
  Output relu = b.Op("PlacerTestCpuOnly", {x}, {}, "relu");
  REQUIRE(b.status().ok());
  DeviceSet devices = CpusAndGpu();
  Placement p = Place(g, devices);
  CHECK(gpu.node()->assigned_device() == kGpu0);
  CHECK(Of(p, gpu).reason == PlacementReason::kDefault);
  CHECK(relu.node()->assigned_device() == kCpu0);
  // x is a generator whose consumers disagree (GPU:0, CPU:0): default among ITS kernels (CPU).
  CHECK(x.node()->assigned_device() == kCpu0);
  CHECK(Of(p, x).reason == PlacementReason::kDefault);
  // x feeds GPU:0 once: exactly one transfer, 4 floats = 16 bytes.
  PlacementReport r = Report(g, devices, p);
  REQUIRE(r.transfers.size() == 1);
  CHECK(r.transfers[0].tensor == "x:0");
  CHECK(r.transfers[0].from == kCpu0);
  CHECK(r.transfers[0].to == kGpu0);
  CHECK(r.transfers[0].bytes == 16);
}

TEST_CASE("Placer: generators go with their consumers", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output c = b.Const(Tensor::Scalar<float>(2.0f), "c");
  Output shared = b.Const(Tensor::Scalar<float>(3.0f), "shared");
  Output y, z;
  {
    auto d = b.device("/cpu:1");
    y = Relu(c, "y");
    y = y * shared;
  }
  {
    auto d = b.device("/cpu:2");
    z = Relu(shared, "z");
  }
  REQUIRE(b.status().ok());
  Placement p = Place(g, Cpus(2));
  CHECK(c.node()->assigned_device() == kCpu1);
  CHECK(Of(p, c).reason == PlacementReason::kGenerator);
  CHECK(Of(p, c).explanation == "generator: placed with its consumers on CPU:1");
  // Consumers on CPU:1 and CPU:2 disagree: the default device.
  CHECK(shared.node()->assigned_device() == kCpu0);
  CHECK(Of(p, shared).reason == PlacementReason::kDefault);
}

TEST_CASE("Placer: shape metadata and int32 bookkeeping stay on the host", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, shape, r;
  {
    auto d = b.device("/cpu:1");
    x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
  }
  shape = Shape(x, "shape");                       // no request: metadata goes to CPU:0
  Output doubled = shape * b.Scalar(2, DT_INT32);  // int32 in, int32 out: host bookkeeping
  Output sq = Square(x, "sq");                     // follows x; the host-placed shape does not vote
  REQUIRE(b.status().ok());
  Placement p = Place(g, Cpus(1));
  CHECK(shape.node()->assigned_device() == kCpu0);
  CHECK(Of(p, shape).reason == PlacementReason::kHost);
  CHECK(Of(p, shape).explanation == "host: shape/int32 bookkeeping");
  CHECK(doubled.node()->assigned_device() == kCpu0);
  CHECK(Of(p, doubled).reason == PlacementReason::kHost);
  CHECK(sq.node()->assigned_device() == kCpu1);
}

TEST_CASE("Placer: colocation through ref edges pulls the whole variable group", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  VariableHandle w;
  {
    auto d = b.device("/cpu:1");
    w = b.Variable(b.Zeros({2, 2}), "W");
  }
  // No request, but AssignAdd takes W as a ref input: it must run where W lives.
  Output add = AssignAdd(w.ref, b.Ones({2, 2}), "W_add");
  REQUIRE(b.status().ok());
  Placement p = Place(g, Cpus(2));
  CHECK(w.ref.node()->assigned_device() == kCpu1);
  CHECK(Of(p, w.ref).reason == PlacementReason::kExplicit);
  CHECK(w.value.node()->assigned_device() == kCpu1);  // W/read
  CHECK(w.initializer->assigned_device() == kCpu1);   // W/Assign
  CHECK(add.node()->assigned_device() == kCpu1);
  const NodePlacement& np = Of(p, add);
  CHECK(np.reason == PlacementReason::kColocation);
  CHECK(Contains(np.explanation, "with 'W'"));
  CHECK(Contains(np.explanation, "requested /cpu:1"));
}

TEST_CASE("Placer: _class loc:@ attributes colocate nodes", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output a;
  {
    auto d = b.device("/cpu:2");
    a = Relu(b.Placeholder(DT_FLOAT, {3}, "x"), "a");
  }
  Output c = b.Op("Tanh", {b.Placeholder(DT_FLOAT, {3}, "y")},
                  {{"_class", MakeAttr(std::vector<std::string>{"loc:@a"})}}, "c");
  REQUIRE(b.status().ok());
  Placement p = Place(g, Cpus(2));
  CHECK(c.node()->assigned_device() == kCpu2);
  CHECK(Of(p, c).reason == PlacementReason::kColocation);
  CHECK(Contains(Of(p, c).explanation, "'a' (Relu)"));
}

TEST_CASE("Placer: conflicting requests in a colocation group", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  VariableHandle w;
  {
    auto d = b.device("/cpu:0");
    w = b.Variable(b.Zeros({2}), "W");
  }
  Output assign;
  {
    auto d = b.device("/cpu:1");
    assign = Assign(w.ref, b.Ones({2}), "W_set");
  }
  REQUIRE(b.status().ok());
  std::string err = PlaceError(g, Cpus(1));
  CHECK(Contains(err, "Cannot colocate nodes 'W' and 'W_set'"));
  CHECK(Contains(err, "/cpu:0"));
  CHECK(Contains(err, "/cpu:1"));
  CHECK(Contains(err, "allow_soft_placement"));

  // Soft placement clears the conflicting id: /cpu:* -> CPU:0 for the whole group.
  Placement p = Place(g, Cpus(1), /*soft=*/true);
  CHECK(assign.node()->assigned_device() == kCpu0);
  CHECK(w.ref.node()->assigned_device() == kCpu0);
  CHECK(Of(p, assign).reason == PlacementReason::kSoftPlacement);
  CHECK(Contains(Of(p, assign).explanation, "conflicting requests"));
}

TEST_CASE("Placer: a request for an absent device", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output r;
  {
    auto d = b.device("/gpu:0");
    r = Relu(b.Placeholder(DT_FLOAT, {3}, "x"), "r");
  }
  REQUIRE(b.status().ok());
  std::string err = PlaceError(g, Cpus(1));
  CHECK(Contains(err, "Cannot assign a device for operation 'x' (Placeholder)"));
  CHECK(Contains(err, "explicitly assigned to /gpu:0"));
  CHECK(Contains(err, "available devices are [ " + kCpu0 + ", " + kCpu1 + " ]"));
  CHECK(Contains(err, "devices with a kernel for op Placeholder: CPU"));

  Placement p = Place(g, Cpus(1), /*soft=*/true);
  CHECK(r.node()->assigned_device() == kCpu0);
  CHECK(Of(p, r).reason == PlacementReason::kSoftPlacement);
  CHECK(Of(p, r).explanation == "soft placement: requested /gpu:0 but no such device");
}

TEST_CASE("Placer: a request for a device without a kernel", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output r;
  Output x = b.Placeholder(DT_FLOAT, {3}, "x");
  {
    auto d = b.device("/gpu:0");
    r = b.Op("PlacerTestCpuOnly", {x}, {}, "r");  // GPU:0 exists but the op has no GPU kernel
  }
  REQUIRE(b.status().ok());
  DeviceSet devices = CpusAndGpu();
  std::string err = PlaceError(g, devices);
  CHECK(Contains(err, "Cannot assign a device for operation 'r' (PlacerTestCpuOnly)"));
  CHECK(Contains(err, "explicitly assigned to /gpu:0 but no matching device has a kernel"));
  CHECK(Contains(err, "devices with a kernel for op PlacerTestCpuOnly: CPU"));

  Placement p = Place(g, devices, /*soft=*/true);
  CHECK(r.node()->assigned_device() == kCpu0);
  CHECK(Of(p, r).reason == PlacementReason::kSoftPlacement);
  CHECK(Contains(Of(p, r).explanation, "requested /gpu:0 but no kernel for PlacerTestCpuOnly"));
}

TEST_CASE("Placer: malformed device names and kernel-less groups are errors", "[placement]") {
  {
    Graph g;
    GraphBuilder b(&g);
    auto d = b.device("/gpu:x");
    b.Placeholder(DT_FLOAT, {3}, "x");
    REQUIRE(b.status().ok());
    std::string err = PlaceError(g, Cpus(0), /*soft=*/true);
    CHECK(Contains(err, "operation 'x'"));
    CHECK(Contains(err, "malformed device name '/gpu:x'"));
  }
  {
    // A GPU-only op on a CPU-only machine has nowhere to go, soft placement or not.
    Graph g;
    GraphBuilder b(&g);
    b.Op("PlacerTestGpuOnly", {b.Placeholder(DT_FLOAT, {3}, "x")}, {}, "g");
    REQUIRE(b.status().ok());
    std::string err = PlaceError(g, Cpus(0), /*soft=*/true);
    CHECK(Contains(err, "Cannot assign a device for operation 'g' (PlacerTestGpuOnly)"));
    CHECK(Contains(err, "devices with a kernel for op PlacerTestGpuOnly: none"));
  }
}

TEST_CASE("Placer: log_device_placement prints one line per node", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Relu(b.Placeholder(DT_FLOAT, {3}, "x"), "r");
  REQUIRE(b.status().ok());
  std::ostringstream log;
  PlacerOptions options;
  options.log_device_placement = true;
  options.log = &log;
  REQUIRE(PlaceGraph(&g, Cpus(0), options).ok());
  CHECK(log.str() == "x: (Placeholder): " + kCpu0 + "\nr: (Relu): " + kCpu0 + "\n");
}

TEST_CASE("Placer: MNIST softmax under /gpu:0 on a CPU-only machine", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  {
    // The whole TF tutorial model, training step and initializer under /gpu:0.
    auto on_gpu = b.device("/gpu:0");
    auto x = b.Placeholder(DT_FLOAT, {-1, 784}, "x");
    auto y_ = b.Placeholder(DT_FLOAT, {-1, 10}, "y_");
    auto W = b.Variable(b.Zeros({784, 10}), "W");
    auto bias = b.Variable(b.Zeros({10}), "b");
    Output y = MatMul(x, W) + bias;
    Output loss = ReduceMeanAll(SoftmaxCrossEntropyWithLogits(y_, y), "cross_entropy");
    ReduceMeanAll(Cast(Equal(ArgMax(y, 1), ArgMax(y_, 1)), DT_FLOAT), "accuracy");
    auto train = GradientDescentOptimizer(0.5).Minimize(b, loss);
    REQUIRE(train.ok());
    b.GlobalVariablesInitializer();
  }
  REQUIRE(b.status().ok());
  DeviceSet devices = Cpus(2);  // virtual CPUs do not attract anything: CPU:0 ranks first
  Placement p = Place(g, devices, /*soft=*/true);
  for (Node* n : g.nodes()) {
    INFO(n->name() << " " << n->op());
    CHECK(n->assigned_device() == kCpu0);
    // Every node asked for /gpu:0 itself, so every reason is the soft-placement fallback.
    CHECK(Of(p, n).reason == PlacementReason::kSoftPlacement);
    CHECK(Of(p, n).explanation == "soft placement: requested /gpu:0 but no such device");
  }
  PlacementReport r = Report(g, devices, p);
  CHECK(r.transfers.empty());
  CHECK(r.totals.devices_used == 1);
  CHECK(r.totals.nodes == g.num_nodes());
  // MatMul [?,784]x[784,10]: the batch is unknown, so its FLOPs are reported as unknown.
  CHECK(r.totals.unknown_flops_nodes > 0);

  // Without soft placement: an error naming a node and the missing device.
  for (Node* n : g.nodes()) n->set_assigned_device("");
  std::string err = PlaceError(g, devices);
  CHECK(Contains(err, "explicitly assigned to /gpu:0 but available devices are"));
}

TEST_CASE("Placement report: one transfer per tensor and destination device", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output x;
  {
    auto d = b.device("/cpu:0");
    x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
  }
  {
    // Three consumers of x on CPU:1 share one copy (TF's DupRecvKey).
    auto d = b.device("/cpu:1");
    Relu(x, "r1");
    Tanh(x, "r2");
    Square(x, "r3");
  }
  REQUIRE(b.status().ok());
  DeviceSet devices = Cpus(1);
  Placement p = Place(g, devices);
  PlacementReport r = Report(g, devices, p);
  // Hand count: edges x->r1, x->r2, x->r3 all cross CPU:0 -> CPU:1 from the same x:0 = 1.
  REQUIRE(r.transfers.size() == 1);
  const TransferReport& t = r.transfers[0];
  CHECK(t.tensor == "x:0");
  CHECK(t.from == kCpu0);
  CHECK(t.to == kCpu1);
  CHECK(t.dtype == "float32");
  CHECK(t.shape == "[2,3]");
  CHECK(t.bytes == 24);  // 6 floats
  CHECK(t.consumers == std::vector<std::string>{"r1", "r2", "r3"});
  CHECK(r.totals.transfer_bytes == 24);
  // Element-wise FLOPs: 6 per op on CPU:1.
  CHECK(r.devices[1].flops == 18);
  CHECK(r.devices[1].node_count == 3);
}

TEST_CASE("Placement report: a chain crossing back and forth", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output a, r1, r2, r3;
  {
    auto d = b.device("/cpu:0");
    a = b.Placeholder(DT_FLOAT, {5}, "a");
  }
  {
    auto d = b.device("/cpu:1");
    r1 = Relu(a, "r1");
  }
  {
    auto d = b.device("/cpu:0");
    r2 = Relu(r1, "r2");
    r3 = Relu(r2, "r3");
  }
  REQUIRE(b.status().ok());
  DeviceSet devices = Cpus(1);
  Placement p = Place(g, devices);
  PlacementReport r = Report(g, devices, p);
  // Hand count: a->r1 (CPU:0->CPU:1), r1->r2 (CPU:1->CPU:0); r2->r3 stays on CPU:0 = 2.
  REQUIRE(r.transfers.size() == 2);
  CHECK(r.transfers[0].tensor == "a:0");
  CHECK(r.transfers[1].tensor == "r1:0");
  CHECK(r.transfers[1].to == kCpu0);
}

TEST_CASE("Placement report: control edges move no data", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output r;
  {
    auto d = b.device("/cpu:0");
    r = Relu(b.Placeholder(DT_FLOAT, {5}, "a"), "r");
  }
  {
    auto d = b.device("/cpu:1");
    auto deps = b.control_dependencies({r.node()});
    b.OpNode("NoOp", {}, {}, "after");
  }
  REQUIRE(b.status().ok());
  DeviceSet devices = Cpus(1);
  Placement p = Place(g, devices);
  CHECK(g.FindNode("after")->assigned_device() == kCpu1);
  // Hand count: the only cross-device edge is the control edge r -> after = 0 transfers.
  PlacementReport r2 = Report(g, devices, p);
  CHECK(r2.transfers.empty());
  CHECK(Contains(RenderPlacementDot(g, r2), "\"r\" -> \"after\" [style=dashed];"));
}

TEST_CASE("Placement report: host-memory inputs fed from a CPU need no transfer", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, explicit_shape, implicit_shape, reshaped, reshaped2, cross;
  {
    auto d = b.device("/cpu:0");
    explicit_shape = b.Const(Tensor::FromVector<int32_t>({3, 2}, {2}), "explicit_shape");
  }
  implicit_shape = b.Const(Tensor::FromVector<int32_t>({6}, {1}), "implicit_shape");
  {
    auto d = b.device("/cpu:1");
    x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
    reshaped = b.Op("Reshape", {x, explicit_shape}, {}, "reshaped");
    reshaped2 = b.Op("Reshape", {x, implicit_shape}, {}, "reshaped2");
    cross = b.Op("Relu", {reshaped}, {}, "cross");
  }
  Output back = Tanh(cross, "back");
  {
    auto d = b.device("/cpu:0");
    back = Tanh(cross, "back0");  // a real data edge CPU:1 -> CPU:0
  }
  REQUIRE(b.status().ok());
  DeviceSet devices = Cpus(1);
  Placement p = Place(g, devices);
  // An int32 constant read only as Reshape's `shape` (HostMemory) goes to the host.
  CHECK(implicit_shape.node()->assigned_device() == kCpu0);
  CHECK(Of(p, implicit_shape).reason == PlacementReason::kHost);
  CHECK(reshaped2.node()->assigned_device() == kCpu1);
  PlacementReport r = Report(g, devices, p);
  // Hand count: explicit_shape->reshaped and implicit_shape->reshaped2 cross CPU:0 -> CPU:1
  // into Reshape's host-memory `shape` arg from a CPU: not counted. cross->back0 counts = 1.
  REQUIRE(r.transfers.size() == 1);
  CHECK(r.transfers[0].tensor == "cross:0");
}

TEST_CASE("Placement report: renderers", "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, w, m;
  {
    auto d = b.device("/cpu:0");
    x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
  }
  {
    auto d = b.device("/cpu:1");
    w = b.Const(Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {12}), "w");
    w = b.Op("Reshape", {w, b.Const(Tensor::FromVector<int32_t>({3, 4}, {2}))}, {}, "w2");
    m = MatMul(x, w, {}, "m");
  }
  REQUIRE(b.status().ok());
  DeviceSet devices = Cpus(1);
  Placement p = Place(g, devices);
  PlacementReport r = Report(g, devices, p);
  // MatMul [2,3]x[3,4]: 2*M*N*K = 2*2*4*3 = 48.
  CHECK(EstimateFlops(*m.node()) == 48);
  CHECK(r.devices[1].flops == 48);

  std::string json = RenderPlacementJson(r);
  // Exactly four top-level keys, in this order.
  std::vector<std::string> top;
  std::istringstream lines(json);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  \"", 0) == 0) top.push_back(line.substr(3, line.find('"', 3) - 3));
  }
  CHECK(top == std::vector<std::string>{"devices", "nodes", "transfers", "totals"});
  CHECK(Contains(json, "{\"name\": \"m\", \"op\": \"MatMul\", \"device\": \"" + kCpu1 +
                           "\", \"reason\": \"explicit: requested /cpu:1\"}"));
  CHECK(Contains(json, "{\"tensor\": \"x:0\", \"from\": \"" + kCpu0 + "\", \"to\": \"" + kCpu1 +
                           "\", \"dtype\": \"float32\", \"shape\": \"[2,3]\", \"bytes\": 24}"));

  std::string text = RenderPlacementText(r);
  CHECK(text.rfind("node", 0) == 0);
  CHECK(Contains(text, "x:0  CPU:0 -> CPU:1  float32[2,3]  24 bytes  (read by m)"));
  CHECK(Contains(text, "totals: "));

  std::string dot = RenderPlacementDot(g, r);
  CHECK(Contains(dot, "subgraph cluster_0 {\n    label=\"CPU:0\";"));
  CHECK(Contains(dot, "\"x\" -> \"m\" [color=red, style=bold"));
}

}  // namespace quiver

namespace quiver {
namespace {

TEST_CASE("Placement report: FLOP estimates of convolutions, their gradients and pooling",
          "[placement]") {
  Graph g;
  GraphBuilder b(&g);
  auto x = b.Placeholder(DT_FLOAT, {2, 5, 5, 3}, "x");
  auto f = b.Placeholder(DT_FLOAT, {3, 3, 3, 4}, "f");
  auto dy = b.Placeholder(DT_FLOAT, {2, 5, 5, 4}, "dy");
  AttrMap conv = {{"strides", MakeAttr(std::vector<int64_t>{1, 1, 1, 1})},
                  {"padding", MakeAttr("SAME")}};
  auto y = b.Op("Conv2D", {x, f}, conv, "y");
  auto dx = b.Op("Conv2DBackpropInput",
                 {b.Const(Tensor::FromVector<int32_t>({2, 5, 5, 3}, {4})), f, dy}, conv, "dx");
  auto df = b.Op("Conv2DBackpropFilter",
                 {x, b.Const(Tensor::FromVector<int32_t>({3, 3, 3, 4}, {4})), dy}, conv, "df");
  auto pool = b.Op("MaxPool", {x},
                   {{"ksize", MakeAttr(std::vector<int64_t>{1, 2, 2, 1})},
                    {"strides", MakeAttr(std::vector<int64_t>{1, 2, 2, 1})},
                    {"padding", MakeAttr("SAME")}},
                   "pool");
  REQUIRE(b.status().ok());
  REQUIRE(g.InferShapes().ok());
  // Hand count, stride 1 SAME: every direction is 2 * N*H*W * KH*KW * IC*OC multiply-adds'
  // worth = 2 * 50 * 9 * 12 = 10800; MaxPool 2x2/2: [2,3,3,3] outputs x 4 window elements.
  CHECK(EstimateFlops(*y.node()) == 10800);
  CHECK(EstimateFlops(*dx.node()) == 10800);
  CHECK(EstimateFlops(*df.node()) == 10800);
  CHECK(EstimateFlops(*pool.node()) == 54 * 4);
}

TEST_CASE("Placer: a bool scalar (a conditional's predicate) is host bookkeeping, a mask is not",
          "[placement][conditional]") {
  Graph g;
  GraphBuilder b(&g);
  Output pred = b.Placeholder(DT_BOOL, {}, "pred");
  Output mask = b.Placeholder(DT_BOOL, {4}, "mask");
  Output pred_id = Identity(pred, "pred_id");
  Output mask_id = Identity(mask, "mask_id");
  REQUIRE(b.status().ok());
  DeviceSet devices = CpusAndGpu();
  Placement p = Place(g, devices);
  CHECK(Of(p, pred_id).reason == PlacementReason::kHost);
  CHECK(pred_id.node()->assigned_device() == kCpu0);
  CHECK(Of(p, mask_id).reason != PlacementReason::kHost);
}

}  // namespace
}  // namespace quiver
