// Copies in and out of memory the host cannot read, without a GPU: a fake accelerator type
// ("FAKEACC") whose allocator says host_accessible() == false (its bytes are host memory
// underneath, so the fake can memcpy) and whose CopyToHost / CopyFromHost / Sync count their
// calls. Checks that CopyTensor, the CPU _Transfer kernel and a whole Session copy out of such
// memory through the source device, that HostMemory outputs of its kernels land in host memory
// and need no transfer, and when CopyTensor syncs.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/device.h"
#include "devices/device_set.h"
#include "devices/kernel.h"
#include "graph/builder.h"
#include "graph/mutex.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "runtime/session.h"

namespace quiver {
namespace {

constexpr char kFake[] = "FAKEACC";

// Host memory that claims to be device memory: what the runtime may not read directly.
class FakeDeviceAllocator final : public Allocator {
 public:
  std::string Name() const override { return "fake_acc"; }
  void* AllocateRaw(size_t alignment, size_t num_bytes) override {
    void* p = nullptr;
    if (posix_memalign(&p, alignment < sizeof(void*) ? sizeof(void*) : alignment,
                       num_bytes == 0 ? 1 : num_bytes) != 0) {
      return nullptr;
    }
    MutexLock lock(&mu_);
    stats_.num_allocs++;
    return p;
  }
  void DeallocateRaw(void* ptr) override { std::free(ptr); }
  AllocatorStats GetStats() const override {
    MutexLock lock(&mu_);
    return stats_;
  }
  void ClearPeak() override {}
  bool host_accessible() const override { return false; }

 private:
  mutable Mutex mu_;
  AllocatorStats stats_;
};

struct FakeCounters {
  std::atomic<int> copy_from_host{0};
  std::atomic<int> copy_to_host{0};
  std::atomic<int> sync{0};
};

class FakeDevice final : public Device {
 public:
  FakeDevice(DeviceInfo info, bool stream_ordered)
      : Device(std::move(info)), stream_ordered_(stream_ordered) {}
  Allocator* allocator() const override { return &allocator_; }
  absl::Status CopyFromHost(const void* host_src, void* device_dst, size_t n) override {
    counters.copy_from_host++;
    return Device::CopyFromHost(host_src, device_dst, n);
  }
  absl::Status CopyToHost(const void* device_src, void* host_dst, size_t n) override {
    counters.copy_to_host++;
    return Device::CopyToHost(device_src, host_dst, n);
  }
  absl::Status Sync() override {
    counters.sync++;
    return absl::OkStatus();
  }
  bool CopiesAreStreamOrdered() const override { return stream_ordered_; }

  FakeCounters counters;

 private:
  mutable FakeDeviceAllocator allocator_;
  bool stream_ordered_;
};

DeviceInfo FakeInfo(int id) {
  DeviceInfo info;
  info.type = kFake;
  info.id = id;
  info.name = LocalDeviceName(kFake, id);
  info.priority = DeviceTypePriority(kFake);  // below CPU: only explicit requests land here
  auto parsed = ParseDeviceName(info.name);
  REQUIRE(parsed.ok());
  info.parsed = *parsed;
  return info;
}

// The session test's fake device: the DeviceSet factory adds FAKEACC:0 only while a test asks
// for it, so the rest of the suite (same process when run without CTest) never sees it.
std::atomic<bool> g_add_fake_device{false};
std::atomic<FakeDevice*> g_session_fake{nullptr};

const bool fake_factories_registered = [] {
  DeviceSet::RegisterFactory([](DeviceSet* set) -> absl::Status {
    if (!g_add_fake_device.load()) return absl::OkStatus();
    return set->AddDevice(kFake, 0);
  });
  RegisterDeviceFactory(
      kFake,
      [](const DeviceInfo& info, const DeviceOptions&) -> absl::StatusOr<std::unique_ptr<Device>> {
        auto d = std::make_unique<FakeDevice>(info, /*stream_ordered=*/false);
        g_session_fake.store(d.get());
        return std::unique_ptr<Device>(std::move(d));
      });
  return true;
}();

// Test-only ops with FAKEACC kernels (real ops keep their kernel tables untouched).
QUIVER_REGISTER_OP("DeviceTransferTestDouble")
    .Input("x: float")
    .Output("y: float")
    .SetShapeFn(shape_fn::UnchangedShape);
QUIVER_REGISTER_OP("DeviceTransferTestShape")
    .Input("x: float")
    .Output("shape: int32")
    .SetShapeFn([](InferenceContext& c) -> absl::Status {
      const TensorShape& x = c.input_shape(0);
      c.set_output(0, TensorShape{x.unknown_rank() ? TensorShape::kUnknownDim : x.rank()});
      return absl::OkStatus();
    });

// y = 2x, reading and writing "device" memory.
class DoubleFakeOp : public OpKernel {
 public:
  explicit DoubleFakeOp(OpKernelConstruction&) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.allocator() != ctx.device()->allocator()) {
      return ctx.Error("input is not in this device's memory");
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.shape()));
    if (y->allocator() != ctx.device()->allocator()) return ctx.Error("output not on device");
    for (int64_t i = 0; i < x.num_elements(); ++i) y->data<float>()[i] = 2 * x.data<float>()[i];
    return absl::OkStatus();
  }
};

// The dims of x, written by the host: the output must be host memory (HostMemory("shape")).
class ShapeFakeOp : public OpKernel {
 public:
  explicit ShapeFakeOp(OpKernelConstruction&) {}
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    ASSIGN_OR_RETURN(Tensor * s, ctx.allocate_output(0, TensorShape{x.rank()}));
    if (s->allocator() == nullptr || !s->allocator()->host_accessible()) {
      return ctx.Error("HostMemory output allocated in device memory");
    }
    for (int i = 0; i < x.rank(); ++i) s->data<int32_t>()[i] = static_cast<int32_t>(x.dim(i));
    return absl::OkStatus();
  }
};

// _Transfer into the fake device, resolving its source like the GPU one.
class TransferFakeOp : public OpKernel {
 public:
  explicit TransferFakeOp(OpKernelConstruction& c) {
    auto src = c.GetAttr<std::string>("src_device");
    if (src.ok()) src_ = *src;
  }
  absl::Status Compute(OpKernelContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    Device* src = in.allocator() != nullptr && !in.allocator()->host_accessible()
                      ? ctx.FindDevice(src_)
                      : nullptr;
    ASSIGN_OR_RETURN(Tensor out, CopyTensor(in, ctx.device(), src));
    ctx.set_output(0, std::move(out));
    if (StepCounters* c = ctx.resources().counters) {
      c->transfers++;
      c->transfer_bytes += static_cast<int64_t>(in.num_bytes());
    }
    return absl::OkStatus();
  }

 private:
  std::string src_;
};

QUIVER_REGISTER_KERNEL(KernelDef("DeviceTransferTestDouble", kFake), MakeFactory<DoubleFakeOp>());
QUIVER_REGISTER_KERNEL(KernelDef("DeviceTransferTestShape", kFake).HostMemory("shape"),
                       MakeFactory<ShapeFakeOp>());
QUIVER_REGISTER_KERNEL(KernelDef("_Transfer", kFake), MakeFactory<TransferFakeOp>());

Tensor OnFake(FakeDevice& dev, const std::vector<float>& values) {
  auto t =
      CopyTensor(Tensor::FromVector<float>(values, {static_cast<int64_t>(values.size())}), &dev);
  REQUIRE(t.ok());
  return *std::move(t);
}

}  // namespace

TEST_CASE("CopyTensor copies out of non-host memory through the source device", "[devices]") {
  FakeDevice dev(FakeInfo(0), /*stream_ordered=*/false);
  Tensor d = OnFake(dev, {1, 2, 3});
  CHECK(d.allocator() == dev.allocator());
  // Into the device: one CopyFromHost, then a Sync (the copy is not stream ordered).
  CHECK(dev.counters.copy_from_host == 1);
  CHECK(dev.counters.sync == 1);

  // Without the source device the host cannot read it: an error, not a memcpy.
  auto lost = CopyTensor(d, Device::DefaultCpu());
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(lost.status().message()).find("fake_acc") != std::string::npos);
  CHECK(dev.counters.copy_to_host == 0);

  auto host = CopyTensor(d, Device::DefaultCpu(), &dev);
  REQUIRE(host.ok());
  CHECK(host->allocator()->host_accessible());
  CHECK(host->ToVector<float>() == std::vector<float>{1, 2, 3});
  CHECK(dev.counters.copy_to_host == 1);
  CHECK(dev.counters.sync == 2);  // + one after CopyToHost

  // Device to device: out through the source (CopyToHost), into the destination.
  FakeDevice other(FakeInfo(1), /*stream_ordered=*/false);
  auto moved = CopyTensor(d, &other, &dev);
  REQUIRE(moved.ok());
  CHECK(moved->allocator() == other.allocator());
  CHECK(dev.counters.copy_to_host == 2);
  CHECK(other.counters.copy_from_host == 1);
  CHECK(other.counters.sync == 1);
  auto back = CopyTensor(*moved, Device::DefaultCpu(), &other);
  REQUIRE(back.ok());
  CHECK(back->ToVector<float>() == std::vector<float>{1, 2, 3});
}

TEST_CASE("CopyTensor skips the Sync for stream-ordered copies", "[devices]") {
  FakeDevice dev(FakeInfo(0), /*stream_ordered=*/true);
  Tensor d = OnFake(dev, {4, 5});
  auto host = CopyTensor(d, Device::DefaultCpu(), &dev);
  REQUIRE(host.ok());
  CHECK(host->ToVector<float>() == std::vector<float>{4, 5});
  CHECK(dev.counters.copy_from_host == 1);
  CHECK(dev.counters.copy_to_host == 1);
  CHECK(dev.counters.sync == 0);
}

TEST_CASE("The CPU _Transfer kernel copies out of device memory via src_device", "[devices]") {
  FakeDevice dev(FakeInfo(0), /*stream_ordered=*/false);
  Tensor d = OnFake(dev, {1.5f, -2, 8, 0.25f});
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {4}, "x");
  Output t = b.Op("_Transfer", {x},
                  {{"T", MakeAttr(DT_FLOAT)},
                   {"src_device", MakeAttr(dev.name())},
                   {"dst_device", MakeAttr(Device::DefaultCpu()->name())}},
                  "t");
  REQUIRE(b.status().ok());
  auto kernel = KernelRegistry::Global().CreateKernel(*t.node(), kCpu);
  REQUIRE(kernel.ok());

  StepCounters counters;
  StepResources resources;
  resources.counters = &counters;
  std::vector<TensorValue> in(1), out(1);
  in[0].tensor = d;
  {
    // Outside a session nothing resolves the source device: a clear error naming it.
    OpKernelContext ctx(*t.node(), &in, &out, &resources, Device::DefaultCpu());
    absl::Status s = (*kernel)->Compute(ctx);
    REQUIRE_FALSE(s.ok());
    CHECK(std::string(s.message()).find(dev.name()) != std::string::npos);
    CHECK(dev.counters.copy_to_host == 0);
  }
  resources.find_device = [&](const std::string& name) -> Device* {
    return name == dev.name() ? &dev : nullptr;
  };
  OpKernelContext ctx(*t.node(), &in, &out, &resources, Device::DefaultCpu());
  REQUIRE((*kernel)->Compute(ctx).ok());
  CHECK(dev.counters.copy_to_host == 1);
  const Tensor& host = out[0].tensor;
  CHECK(host.allocator() == Device::DefaultCpu()->allocator());
  CHECK(host.ToVector<float>() == std::vector<float>{1.5f, -2, 8, 0.25f});
  CHECK(counters.transfers == 1);
  CHECK(counters.transfer_bytes == 16);
}

TEST_CASE("allocate_output puts a kernel's HostMemory outputs in host memory", "[devices]") {
  FakeDevice dev(FakeInfo(0), /*stream_ordered=*/false);
  Graph g;
  GraphBuilder b(&g);
  Output x = b.Placeholder(DT_FLOAT, {2, 3}, "x");
  Output s = b.Op("DeviceTransferTestShape", {x}, {}, "s");
  Output y = b.Op("DeviceTransferTestDouble", {x}, {}, "y");
  REQUIRE(b.status().ok());
  auto shape_kernel = KernelRegistry::Global().CreateKernel(*s.node(), kFake);
  auto double_kernel = KernelRegistry::Global().CreateKernel(*y.node(), kFake);
  REQUIRE(shape_kernel.ok());
  REQUIRE(double_kernel.ok());
  CHECK((*shape_kernel)->output_in_host_memory(0));
  CHECK_FALSE((*double_kernel)->output_in_host_memory(0));
  CHECK(IsHostMemoryOutput(*s.node(), 0, kFake));
  CHECK_FALSE(IsHostMemoryOutput(*s.node(), 0, kCpu));  // no CPU kernel at all
  CHECK_FALSE(IsHostMemoryOutput(*y.node(), 0, kFake));

  StepResources resources;
  std::vector<TensorValue> in(1), out(1);
  auto x23 = OnFake(dev, {1, 2, 3, 4, 5, 6}).Reshaped({2, 3});
  REQUIRE(x23.ok());
  in[0].tensor = *x23;
  {
    OpKernelContext ctx(*s.node(), &in, &out, &resources, &dev, shape_kernel->get());
    REQUIRE((*shape_kernel)->Compute(ctx).ok());
    // No host device in the resources: Device::DefaultCpu()'s allocator.
    CHECK(out[0].tensor.allocator() == Device::DefaultCpu()->allocator());
    CHECK(out[0].tensor.ToVector<int32_t>() == std::vector<int32_t>{2, 3});
  }
  {
    // Without the kernel the context cannot know: the device's own memory (the kernel refuses).
    OpKernelContext ctx(*s.node(), &in, &out, &resources, &dev);
    CHECK_FALSE((*shape_kernel)->Compute(ctx).ok());
  }
  {
    OpKernelContext ctx(*y.node(), &in, &out, &resources, &dev, double_kernel->get());
    REQUIRE((*double_kernel)->Compute(ctx).ok());
    CHECK(out[0].tensor.allocator() == dev.allocator());
  }
}

TEST_CASE("A session copies device memory to the host and keeps HostMemory outputs there",
          "[devices]") {
  // x (CPU:0, fed) -> y = Double(x) and s = Shape(y) on FAKEACC:0 -> Identity of each on CPU:0.
  Graph g;
  GraphBuilder b(&g);
  Output x, y, s;
  {
    auto d = b.device("/cpu:0");
    x = b.Placeholder(DT_FLOAT, {2, 2}, "x");
  }
  {
    auto d = b.device("/device:FAKEACC:0");
    y = b.Op("DeviceTransferTestDouble", {x}, {}, "y");
    s = b.Op("DeviceTransferTestShape", {y}, {}, "s");
  }
  Output y_host, s_host;
  {
    auto d = b.device("/cpu:0");
    y_host = Identity(y, "y_host");
    s_host = Identity(s, "s_host");
  }
  REQUIRE(b.status().ok());

  g_add_fake_device = true;
  g_session_fake = nullptr;
  SessionOptions options;
  options.optimizer.level = 0;
  auto session = Session::Create(g, options);
  g_add_fake_device = false;
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  FakeDevice* fake = g_session_fake.load();
  REQUIRE(fake != nullptr);

  RunMetadata metadata;
  auto out = (*session)->Run({{"x", Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2})}},
                             {"y_host", "s_host"}, {}, &metadata);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  CHECK((*out)[0].ToVector<float>() == std::vector<float>{2, 4, 6, 8});
  CHECK((*out)[1].ToVector<int32_t>() == std::vector<int32_t>{2, 2});
  // Hand count: x:0 CPU:0 -> FAKEACC:0 (16 bytes) and y:0 FAKEACC:0 -> CPU:0 (16 bytes);
  // s:0 is a HostMemory output already on the host: no transfer = 2 transfers, 32 bytes.
  CHECK(metadata.transfers == 2);
  CHECK(metadata.transfer_bytes == 32);
  int transfer_nodes = 0;
  for (const Node* n : (*session)->graph().nodes()) transfer_nodes += n->op() == "_Transfer";
  CHECK(transfer_nodes == 2);
  // One copy in, one copy out (by the CPU _Transfer, through the fake device); each followed
  // by a Sync since the fake's copies are not stream ordered; then one Sync as the step ends
  // (sync on finish: the step's accelerator work is done when Run returns).
  CHECK(fake->counters.copy_from_host == 1);
  CHECK(fake->counters.copy_to_host == 1);
  CHECK(fake->counters.sync == 3);

  // A run with only a target on the accelerator fetches nothing, yet still waits for the
  // device before returning: the copy in (+ its Sync) and the Sync at the end of the step.
  auto target_only =
      (*session)->Run({{"x", Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2})}}, {}, {"y"});
  INFO(target_only.status().ToString());
  REQUIRE(target_only.ok());
  CHECK(fake->counters.copy_from_host == 2);
  CHECK(fake->counters.copy_to_host == 1);
  CHECK(fake->counters.sync == 5);
}

TEST_CASE("KernelRegistry: registration while other threads look kernels up", "[devices]") {
  Graph g;
  GraphBuilder b(&g);
  Output y = b.Op("DeviceTransferTestDouble", {b.Placeholder(DT_FLOAT, {2}, "x")}, {}, "y");
  REQUIRE(b.status().ok());
  std::atomic<bool> done{false};
  std::atomic<int> misses{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        if (KernelRegistry::Global().Find(*y.node(), kFake) == nullptr) misses++;
        KernelRegistry::Global().SupportedDeviceTypes(*y.node());
      }
    });
  }
  // New device types for the op: never matched by the lookups above, but they grow the table
  // the readers walk.
  for (int i = 0; i < 200; ++i) {
    KernelRegistry::Global().Register(
        KernelDef("DeviceTransferTestDouble", "REGTEST" + std::to_string(i)));
  }
  done = true;
  for (std::thread& t : readers) t.join();
  CHECK(misses == 0);
  const std::vector<std::string> types = KernelRegistry::Global().SupportedDeviceTypes(*y.node());
  CHECK(types.size() == 201);  // FAKEACC + 200
}

}  // namespace quiver
