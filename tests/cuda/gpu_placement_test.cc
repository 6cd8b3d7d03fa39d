// Where the MNIST training graphs land once GPU kernels exist, checked without a GPU: a DeviceSet
// with GPU:0 added by hand, the GPU kernel table registered, and the real placer. The graphs are
// those of tools/examples/mnist_softmax.cc and mnist_cnn.cc (rebuilt here). The property that
// lets them train on a GPU is that nothing computed in device memory has to come back to the
// host mid-step: every GPU -> CPU transfer carries a host-memory output (Shape, Size, Rank),
// and float math all runs on the GPU.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "devices/cuda/cuda_device.h"
#include "devices/device_set.h"
#include "graph/builder.h"
#include "graph/graphdef.h"
#include "graph/optimizers.h"
#include "passes/copy_insertion.h"
#include "passes/placement_report.h"
#include "runtime/session.h"
#include "runtime/step_graph.h"
#include "tests/cuda/gpu_models.h"
#include "tests/cuda/gpu_test_harness.h"

namespace quiver {
namespace {

using gputest::CnnModel;
using gputest::SoftmaxModel;

// Places `graph` with soft placement on CPU:0 + GPU:0 and checks that no tensor in device memory
// goes back to the host: GPU -> CPU transfers only carry host-memory outputs.
void CheckNoDeviceToHost(Graph& graph, const std::string& what, int* on_gpu = nullptr) {
  auto devices = gputest::CpuAndGpu0();
  REQUIRE(devices.ok());
  auto report = gputest::PlaceSoft(&graph, *devices);
  if (!report.ok()) FAIL(what << ": " << report.status().ToString());
  CHECK_ONLY_HOST_MEMORY_LEAVES_GPU(graph, *report, what);
  if (on_gpu != nullptr) {
    *on_gpu = 0;
    for (const NodeReport& n : report->nodes) *on_gpu += n.device.find("GPU") != std::string::npos;
  }
}

void CheckPlacement(Graph& graph, const std::string& what) {
  auto devices = gputest::CpuAndGpu0();
  REQUIRE(devices.ok());
  auto report = gputest::PlaceSoft(&graph, *devices);
  if (!report.ok()) FAIL(report.status().ToString());
  int feeds_in = 0;
  for (const TransferReport& t : report->transfers) {
    const std::string producer = t.tensor.substr(0, t.tensor.rfind(':'));
    const Node* n = graph.FindNode(producer);
    REQUIRE(n != nullptr);
    CAPTURE(what, t.tensor, n->op(), t.from, t.to);
    // Nothing comes back from the device: the GPU's HostMemory outputs (Shape, Size, Rank)
    // are already in host memory, and the report knows it (copy insertion's rule).
    CHECK(t.from.find("GPU") == std::string::npos);
    if (n->op() == "Placeholder") {
      ++feeds_in;
    } else {
      CHECK(t.dtype != "float");  // only integer shape arithmetic comes from the CPU
    }
  }
  CHECK(feeds_in >= 2);
  for (const NodeReport& n : report->nodes) {
    const Node* node = graph.FindNode(n.name);
    REQUIRE(node != nullptr);
    if (n.device.find("CPU") == std::string::npos || node->op() == "Placeholder") continue;
    // What stays on the CPU is integer shape/axis arithmetic and its constants.
    CAPTURE(what, n.name, n.op);
    CHECK((node->num_outputs() == 0 || node->output_type(0) != DT_FLOAT));
  }
  // The report predicts exactly the transfers copy insertion makes (the step executes those).
  auto copies = InsertCopies(&graph, *devices);
  REQUIRE(copies.ok());
  CHECK(copies->transfers_inserted == static_cast<int>(report->transfers.size()));
  for (const Node* n : graph.nodes()) {
    if (n->op() != kTransferOp) continue;
    auto src = n->GetAttr<std::string>("src_device");
    REQUIRE(src.ok());
    CAPTURE(what, n->name());
    CHECK(src->find("GPU") == std::string::npos);  // nothing copied out of device memory
  }
  std::cout << what << ": " << report->totals.nodes << " nodes, " << report->totals.transfers
            << " transfers in the placement report, " << copies->transfers_inserted
            << " inserted by copy insertion" << std::endl;
}

TEST_CASE("GPU placement: MNIST softmax training needs no device-to-host copy mid-step",
          "[gpu][placement]") {
  Graph graph;
  REQUIRE(SoftmaxModel(graph).ok());
  CheckPlacement(graph, "mnist_softmax");
}

TEST_CASE("GPU placement: MNIST CNN training needs no device-to-host copy mid-step",
          "[gpu][placement]") {
  Graph graph;
  REQUIRE(CnnModel(graph).ok());
  CheckPlacement(graph, "mnist_cnn");
}

TEST_CASE("GPU placement: TF fixtures requested on /gpu:0 need no device-to-host copy mid-step",
          "[gpu][placement]") {
  const std::vector<std::filesystem::path> cases = gputest::FixtureDirs("tf");
  REQUIRE(cases.size() >= 10);
  int total_on_gpu = 0;
  for (const auto& dir : cases) {
    auto graph_def = gputest::FixtureGraphOnGpu(dir);
    REQUIRE(graph_def.ok());
    Graph graph;
    REQUIRE(ImportGraphDef(*graph_def, &graph).ok());
    int on_gpu = 0;
    CheckNoDeviceToHost(graph, dir.filename().string(), &on_gpu);
    total_on_gpu += on_gpu;
  }
  CHECK(total_on_gpu > 150);  // the float fixtures run mostly on the GPU
}

// What a Session compiles for a training step fed `shapes`, checked without a GPU: the fed
// shapes specialise the graph (SessionOptions::max_shape_specializations), constant folding
// turns the shape arithmetic into constants, and the placed step moves exactly its inputs to
// the GPU: inputs in, loss out (a fetch), nothing else.
// The step's graph as Session::Run compiles it (runtime/step_graph.h, what `quiver place
// --fetch` reports on), placed on CPU:0 + GPU:0 with soft placement.
struct PlacedStep {
  std::unique_ptr<Graph> graph;
  PlacementReport report;
};
PlacedStep PlaceStep(const Graph& source, const DeviceSet& devices,
                     const std::map<std::string, TensorShape>& shapes, const std::string& loss,
                     const std::string& train_op) {
  ExecutorSpec spec;
  StepGraphOptions step;
  for (const auto& [name, shape] : shapes) {
    spec.feeds.push_back(TensorId{name, 0, false});
    step.fed_shapes.push_back(shape);
  }
  spec.fetches.push_back(TensorId{loss, 0, false});
  spec.targets.push_back(train_op);
  for (const DeviceInfo& d : devices.devices()) step.device_types.insert(d.type);
  step.allow_soft_placement = true;
  step.only_step_nodes = true;
  auto built = BuildStepGraph(source, spec, step);
  REQUIRE(built.ok());
  CHECK(built->optimizer_error.empty());
  PlacedStep out;
  out.graph = std::move(built->graph);
  auto report = gputest::PlaceSoft(out.graph.get(), devices);
  REQUIRE(report.ok());
  out.report = *std::move(report);
  return out;
}

void CheckCompiledStepMovesOnlyInputs(Graph& source, const std::string& what,
                                      const std::map<std::string, TensorShape>& shapes,
                                      const std::string& loss, const std::string& train_op) {
  auto devices = gputest::CpuAndGpu0();
  REQUIRE(devices.ok());
  PlacedStep step = PlaceStep(source, *devices, shapes, loss, train_op);
  Graph& graph = *step.graph;
  std::set<std::string> inputs;
  for (const auto& [name, shape] : shapes) inputs.insert(name);
  auto copies = InsertCopies(&graph, *devices);
  REQUIRE(copies.ok());
  CHECK(copies->transfers_inserted == static_cast<int>(step.report.transfers.size()));
  std::set<std::string> moved;
  for (const Node* n : graph.nodes()) {
    if (n->op() == kTransferOp) moved.insert(n->input(0).node->name());
  }
  CAPTURE(what);
  CHECK(moved == inputs);
  // On the CPU: the fed placeholders and the int32 constants that GPU kernels read as
  // host-memory args (axes, shapes); all the arithmetic runs on the GPU.
  int on_cpu = 0;
  for (const Node* n : graph.nodes()) {
    if (n->assigned_device().find("CPU") == std::string::npos) continue;
    ++on_cpu;
    CAPTURE(n->name());
    CHECK((n->op() == "Placeholder" || (n->op() == "Const" && n->output_type(0) == DT_INT32)));
  }
  std::cout << what << " step compiled for its fed shapes: " << graph.num_nodes() << " nodes ("
            << on_cpu << " on the CPU), " << copies->transfers_inserted << " transfers"
            << std::endl;
}

TEST_CASE("GPU placement: the compiled MNIST training steps move only their inputs",
          "[gpu][placement]") {
  {
    Graph graph;
    std::string train_op;
    REQUIRE(SoftmaxModel(graph, &train_op).ok());
    CheckCompiledStepMovesOnlyInputs(graph, "mnist_softmax", {{"x", {100, 784}}, {"y_", {100, 10}}},
                                     "cross_entropy", train_op);
  }
  {
    Graph graph;
    std::string train_op;
    REQUIRE(CnnModel(graph, &train_op).ok());
    CheckCompiledStepMovesOnlyInputs(graph, "mnist_cnn",
                                     {{"x", {50, 784}}, {"y_", {50, 10}}, {"keep_prob", {}}},
                                     "cross_entropy", train_op);
  }
}

// With the GPU's kernels registered, the compiled CNN step fuses conv + bias + relu and
// matmul + bias (+ relu) on the GPU (its _FusedConv2D / _FusedMatMul), as on the CPU.
TEST_CASE("GPU placement: the compiled MNIST CNN step fuses its layers on the GPU",
          "[gpu][placement]") {
  auto devices = gputest::CpuAndGpu0();
  REQUIRE(devices.ok());
  Graph graph;
  std::string train_op;
  REQUIRE(CnnModel(graph, &train_op).ok());
  PlacedStep step =
      PlaceStep(graph, *devices, {{"x", {50, 784}}, {"y_", {50, 10}}, {"keep_prob", {}}},
                "cross_entropy", train_op);
  int fused_conv = 0, fused_matmul = 0;
  for (const Node* n : step.graph->nodes()) {
    if (n->op() != "_FusedConv2D" && n->op() != "_FusedMatMul") continue;
    CAPTURE(n->name(), n->assigned_device());
    CHECK(n->assigned_device().find("GPU") != std::string::npos);
    (n->op() == "_FusedConv2D" ? fused_conv : fused_matmul)++;
  }
  // Two conv layers (conv + bias + relu) and two dense layers (matmul + bias [+ relu]).
  CHECK(fused_conv == 2);
  CHECK(fused_matmul == 2);
}

// The nodes one step runs: everything the fetches and targets depend on (data and control).
std::set<std::string> StepNodes(const Graph& graph, const std::vector<std::string>& roots) {
  std::set<std::string> seen;
  std::vector<const Node*> stack;
  for (const std::string& r : roots) stack.push_back(graph.FindNode(r));
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (n == nullptr || !seen.insert(n->name()).second) continue;
    for (int i = 0; i < n->num_inputs(); ++i) stack.push_back(n->input(i).node);
    for (const Edge* e : n->control_in_edges()) stack.push_back(e->src);
  }
  return seen;
}

// On a real GPU: the MNIST softmax training step executes exactly the transfers the placement
// report predicts for it (feeds in, integer shape arithmetic in; the loss comes back as a
// fetch, which is not a transfer), and its loss equals the CPU session's.
TEST_CASE("GPU: the MNIST softmax step makes the transfers the placement report predicts",
          "[gpu][placement]") {
  if (cuda::GpuCount() == 0) {
    std::cout << "QUIVER_SKIPPED: no GPU here (" << cuda::DetectionMessage() << ")" << std::endl;
    return;
  }
  Graph graph;
  std::string train_op;
  REQUIRE(SoftmaxModel(graph, &train_op).ok());

  // The prediction: the report of the graph as given (what `quiver place --soft` prints),
  // restricted to the transfers a node of the training step consumes.
  Graph placed;
  REQUIRE(SoftmaxModel(placed).ok());
  auto devices = DeviceSet::Create();
  REQUIRE(devices.ok());
  REQUIRE(devices->Find("GPU:0") != nullptr);
  auto report = gputest::PlaceSoft(&placed, *devices);
  REQUIRE(report.ok());
  const std::set<std::string> step = StepNodes(placed, {"cross_entropy", train_op});
  int predicted = 0;
  for (const TransferReport& t : report->transfers) {
    bool used = false;
    for (const std::string& c : t.consumers) used |= step.count(c) > 0;
    predicted += used;
  }

  // The exact prediction for the compiled step: `quiver place --soft --fetch cross_entropy
  // --target <train> --feed x=100x784 --feed y_=100x10`.
  const PlacedStep compiled =
      PlaceStep(graph, *devices, {{"x", {100, 784}}, {"y_", {100, 10}}}, "cross_entropy", train_op);
  const int predicted_step = static_cast<int>(compiled.report.transfers.size());

  // Deterministic data: zero-initialised weights, a fixed batch of 100.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pixel(0.f, 1.f);
  std::vector<float> xs(100 * 784), ys(100 * 10, 0.f);
  for (float& v : xs) v = pixel(rng);
  for (int i = 0; i < 100; ++i) ys[i * 10 + static_cast<int>(rng() % 10)] = 1.f;
  const Tensor x = Tensor::FromVector<float>(xs, TensorShape{100, 784});
  const Tensor y = Tensor::FromVector<float>(ys, TensorShape{100, 10});

  auto run_steps = [&](int level, bool gpu, std::vector<float>* losses) -> int64_t {
    SessionOptions options;
    options.optimizer.level = level;
    Graph g;
    REQUIRE(SoftmaxModel(g).ok());
    if (!gpu) {
      for (Node* n : g.nodes()) n->set_requested_device("/cpu:0");
    }
    auto session = Session::Create(g, options);
    REQUIRE(session.ok());
    REQUIRE((*session)->Run({}, {}, {"init"}).ok());
    int64_t transfers = -1;
    for (int i = 0; i < 3; ++i) {
      RunMetadata md;
      auto out = (*session)->Run({{"x", x}, {"y_", y}}, {"cross_entropy"}, {train_op}, &md);
      if (!out.ok()) FAIL(out.status().ToString());
      losses->push_back((*out)[0].ToVector<float>()[0]);
      transfers = md.transfers;
    }
    return transfers;
  };
  std::vector<float> cpu_losses, gpu0_losses, gpu1_losses;
  run_steps(1, false, &cpu_losses);
  const int64_t unoptimized = run_steps(0, true, &gpu0_losses);
  const int64_t optimized = run_steps(1, true, &gpu1_losses);
  std::cout << "mnist_softmax step: the placement report predicts " << predicted
            << " transfers for the graph as given and " << predicted_step
            << " for the compiled step; executed " << unoptimized << " (optimizer off) and "
            << optimized << " (the default)" << std::endl;
  CHECK(unoptimized == predicted);
  CHECK(optimized == predicted_step);
  CHECK(optimized == 2);  // compiled for the fed shapes: x and y_ only
  REQUIRE(cpu_losses.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(gpu0_losses[i] == Approx(cpu_losses[i]).epsilon(1e-5));
    CHECK(gpu1_losses[i] == Approx(cpu_losses[i]).epsilon(1e-5));
  }
  CHECK(cpu_losses[2] < cpu_losses[0]);  // it trains
}

}  // namespace
}  // namespace quiver
