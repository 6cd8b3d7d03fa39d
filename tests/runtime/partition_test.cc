// Partitioning and running partitions together: per-device subgraphs, send/recv pairs through
// the step's rendezvous, control signals, per-device allocators, and an error in one
// partition stopping the step everywhere. Expected structures and counts are derived by hand
// in the comments; expected values come from formulas or from a one-device run.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"

#include "devices/device_set.h"
#include "graph/builder.h"
#include "passes/copy_insertion.h"
#include "passes/placer.h"
#include "runtime/partition.h"
#include "runtime/rendezvous.h"
#include "runtime/session.h"

namespace quiver {
namespace {

Tensor Random(const TensorShape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(shape.num_elements());
  for (float& x : v) x = dist(rng);
  return Tensor::FromVector<float>(v, shape);
}

// The optimizer is off: these tests count the transfers of small Const-fed graphs, which
// constant folding would fold away.
SessionOptions Cpus(int virtual_devices, int inter_op = 0) {
  SessionOptions options;
  options.optimizer.level = 0;
  options.virtual_cpu_devices = virtual_devices;
  options.inter_op_threads = inter_op;
  return options;
}

// Places and copy-inserts `g` on CPU:0..CPU:n, then partitions it for `spec`. The graph is
// kept in `storage` (partitions point into it).
PartitionedGraph PlaceAndPartition(const Graph& source, int virtual_devices,
                                   const ExecutorSpec& spec, Graph* storage) {
  Graph* g = storage;
  REQUIRE(g->CopyFrom(source).ok());
  REQUIRE(g->InferShapes().ok());
  auto devices = DeviceSet::Create({virtual_devices});
  REQUIRE(devices.ok());
  REQUIRE(PlaceGraph(g, *devices, {}).ok());
  REQUIRE(InsertCopies(g, *devices).ok());
  auto parts = PartitionGraph(*g, spec);
  INFO(parts.status().ToString());
  REQUIRE(parts.ok());
  return *std::move(parts);
}

std::string Dev(int i) { return absl::StrCat("/job:localhost/replica:0/task:0/device:CPU:", i); }

const Partition& PartitionOf(const PartitionedGraph& p, int cpu) {
  int i = p.Find(Dev(cpu));
  REQUIRE(i >= 0);
  return p.partitions[i];
}

TEST_CASE("Partition: one subgraph per device, one send/recv per crossing tensor", "[partition]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, s, out;
  {
    auto d = b.device("/cpu:0");
    x = b.Const(Random({4}, 1), "x");
  }
  {
    auto d = b.device("/cpu:1");
    s = Relu(x, "r") + Exp(x, "e");  // x read twice on CPU:1
  }
  {
    auto d = b.device("/cpu:0");
    out = Neg(s, "out");
  }
  REQUIRE(b.status().ok());
  Graph placed;
  PartitionedGraph p = PlaceAndPartition(g, 1, {{}, {{"out", 0}}, {}}, &placed);
  // Copy insertion adds x/_transfer_to_CPU_1 (on CPU:1) and s's transfer to CPU:0.
  // CPU:0: x, s's transfer, out = 3 nodes. CPU:1: x's transfer, r, e, add = 4 nodes.
  REQUIRE(p.partitions.size() == 2);
  CHECK(PartitionOf(p, 0).nodes.size() == 3);
  CHECK(PartitionOf(p, 1).nodes.size() == 4);
  // Two tensors cross (x:0 to CPU:1, add:0 to CPU:0): one send and one recv per side.
  CHECK(p.num_data_edges() == 2);
  CHECK(p.num_control_edges() == 0);
  CHECK(PartitionOf(p, 0).sends.size() == 1);
  CHECK(PartitionOf(p, 0).recvs.size() == 1);
  CHECK(PartitionOf(p, 1).sends.size() == 1);
  CHECK(PartitionOf(p, 1).recvs.size() == 1);
  CHECK(p.fetch_partition == std::vector<int>{p.Find(Dev(0))});

  // Run: out = -(relu(x) + exp(x)), two copies of 4 floats.
  auto session = Session::Create(g, Cpus(1));
  REQUIRE(session.ok());
  RunMetadata md;
  auto result = (*session)->Run({}, {"out"}, {}, &md);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  Tensor xv = Random({4}, 1);
  for (int i = 0; i < 4; ++i) {
    float v = xv.data<float>()[i];
    CHECK((*result)[0].data<float>()[i] == Approx(-(std::max(v, 0.0f) + std::exp(v))));
  }
  CHECK(md.transfers == 2);
  CHECK(md.transfer_bytes == 32);
}

TEST_CASE("Partition: a tensor read by many consumers on another device crosses once",
          "[partition]") {
  Graph g;
  GraphBuilder b(&g);
  Output x;
  std::vector<std::string> fetches;
  {
    auto d = b.device("/cpu:0");
    x = b.Const(Random({2, 3}, 2), "x");
  }
  {
    auto d = b.device("/cpu:1");
    fetches = {Relu(x), Exp(x), Neg(x), Identity(x)};
  }
  REQUIRE(b.status().ok());
  ExecutorSpec spec;
  for (const std::string& f : fetches) spec.fetches.push_back(*ParseTensorName(f));
  Graph placed;
  PartitionedGraph p = PlaceAndPartition(g, 1, spec, &placed);
  // CPU:0: x. CPU:1: one transfer + four consumers. One data edge: x:0 -> CPU:1.
  CHECK(PartitionOf(p, 0).nodes.size() == 1);
  CHECK(PartitionOf(p, 1).nodes.size() == 5);
  CHECK(p.edges.size() == 1);

  auto session = Session::Create(g, Cpus(1));
  REQUIRE(session.ok());
  RunMetadata md;
  auto out = (*session)->Run({}, fetches, {}, &md);
  REQUIRE(out.ok());
  CHECK(md.transfers == 1);
  CHECK(md.transfer_bytes == 24);
  CHECK((*out)[3].ToVector<float>() == Random({2, 3}, 2).ToVector<float>());
}

// x -> CPU:1 -> CPU:0 -> CPU:1 -> CPU:0, spread or on one device.
std::string BuildZigZag(Graph* g, bool spread) {
  GraphBuilder b(g);
  auto dev = [&](int i) { return b.device(spread ? absl::StrCat("/cpu:", i) : "/cpu:0"); };
  Output x, a, c, e, f;
  {
    auto d = dev(0);
    x = b.Placeholder(DT_FLOAT, {3, 5}, "x");
  }
  {
    auto d = dev(1);
    a = Tanh(x, "a");
  }
  {
    auto d = dev(0);
    c = Exp(a, "c");
  }
  {
    auto d = dev(1);
    e = Sigmoid(c + a, "e");  // reads c (from CPU:0) and a (its own)
  }
  {
    auto d = dev(0);
    f = Square(e, "f");
  }
  REQUIRE(b.status().ok());
  return f;
}

TEST_CASE("Partition: a chain crossing back and forth matches one device bit for bit",
          "[partition]") {
  Graph spread, one;
  std::string fetch = BuildZigZag(&spread, true);
  REQUIRE(BuildZigZag(&one, false) == fetch);
  Tensor x = Random({3, 5}, 3);
  {
    Graph placed;
    PartitionedGraph p =
        PlaceAndPartition(spread, 1, {{{"x", 0}}, {*ParseTensorName(fetch)}, {}}, &placed);
    // Crossings: x (fed, read on CPU:1 through a transfer that reads the feed: no edge),
    // a:0 -> CPU:0, c:0 -> CPU:1, e:0 -> CPU:0. The fed x never crosses partitions.
    CHECK(p.num_data_edges() == 3);
  }
  auto s1 = Session::Create(spread, Cpus(1));
  auto s0 = Session::Create(one, Cpus(1));
  REQUIRE(s1.ok());
  REQUIRE(s0.ok());
  RunMetadata md1, md0;
  auto r1 = (*s1)->Run({{"x", x}}, {fetch}, {}, &md1);
  auto r0 = (*s0)->Run({{"x", x}}, {fetch}, {}, &md0);
  REQUIRE(r1.ok());
  REQUIRE(r0.ok());
  CHECK(std::memcmp((*r1)[0].raw_data(), (*r0)[0].raw_data(), 60) == 0);
  // Four copies of 15 floats: x to CPU:1, a to CPU:0, c to CPU:1, e to CPU:0.
  CHECK(md1.transfers == 4);
  CHECK(md1.transfer_bytes == 240);
  CHECK(md0.transfers == 0);
}

TEST_CASE("Partition: control edges across devices carry no data and keep the order",
          "[partition]") {
  Graph g;
  GraphBuilder b(&g);
  VariableHandle v;
  Output snap;
  Node* inc = nullptr;
  Node* init = nullptr;
  {
    auto d = b.device("/cpu:0");
    v = b.Variable(b.Zeros({1}), "v");
    init = b.GlobalVariablesInitializer();
  }
  {
    auto d = b.device("/cpu:1");
    snap = Relu(v.value, "snap");  // reads v's buffer through a copy on CPU:1
  }
  {
    auto d = b.device("/cpu:0");
    auto deps = b.control_dependencies({snap.node()});
    inc = AssignAdd(v.ref, b.Ones({1}), "inc").node();  // must run after snap's copy
  }
  REQUIRE(b.status().ok());
  {
    Graph placed;
    PartitionedGraph p = PlaceAndPartition(g, 1, {{}, {{"snap", 0}}, {"inc"}}, &placed);
    // v/read:0 -> CPU:1 (data) and ^snap -> CPU:0 (control, no data).
    CHECK(p.num_data_edges() == 1);
    CHECK(p.num_control_edges() == 1);
  }
  // With two inter-op threads both partitions run at once; without the control signal the
  // increment could overtake the copy. Step k must always see k.
  auto session = Session::Create(g, Cpus(1, 2));
  REQUIRE(session.ok());
  REQUIRE((*session)->Run({}, {}, {init->name()}).ok());
  for (int k = 0; k < 50; ++k) {
    auto out = (*session)->Run({}, {snap}, {inc->name()});
    REQUIRE(out.ok());
    REQUIRE((*out)[0].data<float>()[0] == static_cast<float>(k));
  }
}

TEST_CASE("Partition: each device's allocator counts its own bytes", "[partition][allocator]") {
  Graph g;
  GraphBuilder b(&g);
  VariableHandle v;
  Node* init = nullptr;
  Output x, y, c;
  {
    auto d = b.device("/cpu:1");
    v = b.Variable(b.Zeros({1000}), "v");
    init = b.GlobalVariablesInitializer();
  }
  {
    auto d = b.device("/cpu:0");
    x = b.Placeholder(DT_FLOAT, {64, 64}, "x");
    c = b.Scalar(1.0, DT_FLOAT, "c");
  }
  {
    auto d = b.device("/cpu:1");
    y = MatMul(x, x, {}, "y");
  }
  REQUIRE(b.status().ok());
  auto session = Session::Create(g, Cpus(1));
  REQUIRE(session.ok());
  auto memory = [](const RunMetadata& md, int cpu) {
    for (const auto& d : md.device_memory) {
      if (d.device == Dev(cpu)) return d;
    }
    FAIL("no device " << cpu);
    return RunMetadata::DeviceMemory();
  };
  RunMetadata md;
  REQUIRE((*session)->Run({}, {}, {init->name()}, &md).ok());
  // The variable's value (1000 floats) lives on CPU:1; nothing stays on CPU:0.
  CHECK(memory(md, 1).bytes_in_use == 4000);
  CHECK(memory(md, 0).bytes_in_use == 0);
  {
    auto out = (*session)->Run({{"x", Random({64, 64}, 4)}}, {y}, {}, &md);
    REQUIRE(out.ok());
    // On CPU:1 during the step: the variable, the copy of x and y (16384 bytes each) at once.
    CHECK(memory(md, 1).peak_bytes_in_use == 4000 + 2 * 16384);
    // After it: the variable and the fetched y, which the caller still holds.
    CHECK(memory(md, 1).bytes_in_use == 4000 + 16384);
    CHECK((*out)[0].allocator()->Name() == "cpu:1");
  }
  REQUIRE((*session)->Run({}, {c}, {}, &md).ok());
  CHECK(memory(md, 1).bytes_in_use == 4000);  // y was given back
}

TEST_CASE("Partition: an error in one partition stops the step everywhere", "[partition]") {
  Graph g;
  GraphBuilder b(&g);
  Output x, bad, after, other;
  {
    auto d = b.device("/cpu:0");
    x = b.Placeholder(DT_FLOAT, {-1, -1}, "x");
  }
  {
    auto d = b.device("/cpu:1");
    bad = MatMul(x, x, {}, "bad");  // fails unless x is square
  }
  {
    auto d = b.device("/cpu:0");
    after = Relu(bad, "after");  // waits on CPU:1's result
  }
  {
    auto d = b.device("/cpu:2");
    other = Exp(x, "other");  // independent work on a third device
  }
  REQUIRE(b.status().ok());
  for (int inter_op : {1, 2}) {
    auto session = Session::Create(g, Cpus(2, inter_op));
    REQUIRE(session.ok());
    auto out = (*session)->Run({{"x", Random({2, 3}, 5)}}, {after, other}, {});
    REQUIRE_FALSE(out.ok());
    CHECK(out.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(out.status().message()).find("bad") != std::string::npos);
    // The session stays usable.
    Tensor sq = Random({3, 3}, 6);
    auto ok = (*session)->Run({{"x", sq}}, {after, other}, {});
    INFO(ok.status().ToString());
    REQUIRE(ok.ok());
    CHECK((*ok)[1].data<float>()[0] == Approx(std::exp(sq.data<float>()[0])));
  }
}

TEST_CASE("Partition: feeds and fetches on any device", "[partition]") {
  Graph g;
  GraphBuilder b(&g);
  Output p1, p2, a, c;
  {
    auto d = b.device("/cpu:1");
    p1 = b.Placeholder(DT_FLOAT, {2}, "p1");
    a = Neg(p1, "a");
  }
  {
    auto d = b.device("/cpu:2");
    p2 = b.Placeholder(DT_FLOAT, {2}, "p2");
    c = a * p2;
  }
  REQUIRE(b.status().ok());
  auto session = Session::Create(g, Cpus(2));
  REQUIRE(session.ok());
  Tensor v1 = Tensor::FromVector<float>({1, -2}, {2});
  Tensor v2 = Tensor::FromVector<float>({3, 4}, {2});
  // Fetch from CPU:1, CPU:2 and a fed tensor.
  auto out = (*session)->Run({{"p1", v1}, {"p2", v2}}, {a, c, "p2"}, {});
  REQUIRE(out.ok());
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{-1, 2});
  CHECK((*out)[1].ToVector<float>() == std::vector<float>{-3, 8});
  CHECK((*out)[2].ToVector<float>() == std::vector<float>{3, 4});
}

TEST_CASE("Rendezvous: sends and recvs meet in either order; abort fails the rest",
          "[partition][rendezvous]") {
  Rendezvous r;
  std::vector<std::string> log;
  auto recorder = [&log](const std::string& tag) {
    return [&log, tag](const absl::Status& s, const TensorValue& v) {
      log.push_back(absl::StrCat(tag, ":", s.ok() ? v.tensor.DebugString() : s.ToString()));
    };
  };
  // Send first: the value waits for its recv.
  REQUIRE(r.Send("a", TensorValue{Tensor::Scalar<float>(1.0f)}).ok());
  r.RecvAsync("a", recorder("a"));
  // Recv first: the callback runs on the send.
  r.RecvAsync("b", recorder("b"));
  CHECK(log.size() == 1);
  REQUIRE(r.Send("b", TensorValue{Tensor::Scalar<float>(2.0f)}).ok());
  CHECK(log == std::vector<std::string>{"a:float32[] {1}", "b:float32[] {2}"});
  CHECK_FALSE(r.Send("b", TensorValue{}).ok());  // a key is sent once per step
  // Abort: the pending recv gets the status, and so does every later recv and send.
  r.RecvAsync("c", recorder("c"));
  r.StartAbort(absl::InternalError("boom"));
  r.StartAbort(absl::CancelledError("second"));  // the first status wins
  r.RecvAsync("d", recorder("d"));
  CHECK(r.aborted());
  CHECK(r.status().code() == absl::StatusCode::kInternal);
  CHECK(r.Send("e", TensorValue{}).code() == absl::StatusCode::kInternal);
  REQUIRE(log.size() == 4);
  CHECK(log[2] == "c:INTERNAL: boom");
  CHECK(log[3] == "d:INTERNAL: boom");
}

}  // namespace
}  // namespace quiver
