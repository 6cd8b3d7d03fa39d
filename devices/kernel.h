// Kernels: the code that runs one op on one device for one dtype.
//
// A kernel object is created once per node when a Session compiles a graph (so attrs are
// parsed once), then Compute() runs for every step, possibly from several threads at once:
// Compute must not mutate the kernel object (use thread-safe caches if needed).
//
//   class ReluOp : public OpKernel { ... };
//   QUIVER_REGISTER_KERNEL(KernelDef("Relu", kCpu).TypeConstraint("T", {DT_FLOAT, DT_DOUBLE}),
//                          [](OpKernelConstruction& c) -> KernelOrError { ... });
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/deferred_checks.h"
#include "graph/graph.h"
#include "graph/mutex.h"
#include "graph/tensor.h"

namespace quiver {

class CancellationToken;  // runtime/run_options.h

inline constexpr char kCpu[] = "CPU";
inline constexpr char kGpu[] = "GPU";

class Device;
class OpKernel;

// A TF1 variable (VariableV2): a mutable tensor that persists across Session::Run calls.
//
// Reads alias `value` (a fetch or a `read` Identity takes a Tensor sharing its buffer under a
// reader lock); updates hold `mu` exclusively and write in place only when nobody else holds
// the buffer. A buffer a reader still holds is first replaced by a private copy (copy-on-write,
// as TF's resource variables do), so a tensor a reader already has never changes under it.
// Ref edges carry only the Variable*, never a copy of `value`, so in-flight refs do not count
// as readers.
struct Variable {
  Mutex mu;
  Tensor value;  // invalid until first assigned
  bool initialized() const { return value.valid(); }
  // Whether a reader still shares value's buffer. Call with mu held exclusively.
  bool ValueIsShared() const { return value.valid() && !value.RefCountIsOne(); }
  // Copy-on-write for host-accessible values: when shared, replaces value by a private copy
  // from the same allocator. Call with mu held exclusively, before writing value in place.
  absl::Status PrepareForInPlaceWrite();
};

class OpKernelConstruction {
 public:
  explicit OpKernelConstruction(const Node& node) : node_(node) {}
  const Node& node() const { return node_; }
  template <typename T>
  absl::StatusOr<T> GetAttr(const std::string& name) const {
    return node_.GetAttr<T>(name);
  }
  // InvalidArgument error naming the node and op.
  absl::Status Error(const std::string& message) const;

 private:
  const Node& node_;
};

// Counters one step's kernels add to (the executor owns one per step, so concurrent Run calls
// never mix their numbers).
struct StepCounters {
  std::atomic<int64_t> transfers{0};       // _Transfer kernels executed
  std::atomic<int64_t> transfer_bytes{0};  // bytes they copied
};

// Per-step services a kernel may use.
struct StepResources {
  // Looks up (or creates when `create`) the session-owned Variable for a VariableV2 node.
  std::function<Variable*(const std::string& name, bool create)> variable;
  // Threads a CPU kernel may split one node's loops over (ParallelFor); the session's
  // intra-op threads, the same count oneDNN gets.
  int intra_op_threads = 1;
  StepCounters* counters = nullptr;  // set by the executor for the step; may be null
  // Outputs larger than this are refused before allocating (ResourceExhausted; 0: no limit).
  int64_t max_tensor_bytes = 0;
  // false: forward_input_or_allocate_output always allocates (measures memory planning).
  bool forward_inputs = true;
  // The session's devices by full name (nullptr when unknown). A _Transfer kernel resolves
  // its `src_device` attr with it: copying out of accelerator memory needs the source device.
  // Unset outside a session.
  std::function<Device*(const std::string& name)> find_device;
  // Where HostMemory outputs of accelerator kernels are allocated: the session's CPU:0
  // (nullptr: Device::DefaultCpu()).
  Device* host_device = nullptr;
  // Checks an accelerator kernel could not finish without waiting for its device; the
  // executor runs them after the step's device work is done. Null outside the executor
  // (kernels then check synchronously).
  DeferredChecks* deferred_checks = nullptr;
  // The step's cancellation token and deadline (unset outside a step), for kernels that run
  // long enough to check them themselves (loops).
  const CancellationToken* cancellation = nullptr;
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// A value flowing along an edge: a tensor, or a reference to a variable (TF1 ref edges).
struct TensorValue {
  Tensor tensor;
  Variable* ref = nullptr;
  // An untaken branch of a conditional: no value; whoever reads it is skipped (Switch/Merge).
  bool is_dead = false;
};

class OpKernelContext {
 public:
  // `device` (nullptr: Device::DefaultCpu()) is where the node runs; outputs are allocated
  // from its allocator, except those `kernel`'s KernelDef keeps in host memory (nullptr: none).
  OpKernelContext(const Node& node, std::vector<TensorValue>* inputs,
                  std::vector<TensorValue>* outputs, StepResources* resources,
                  Device* device = nullptr, const OpKernel* kernel = nullptr);

  const Node& node() const { return node_; }
  Device* device() const { return device_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  // The input tensor (empty for a ref input: use ref_input(i)->value under its mutex).
  const Tensor& input(int i) const { return inputs_[i].tensor; }
  // The variable behind a ref input (nullptr if the input is not a ref).
  Variable* ref_input(int i) const { return inputs_[i].ref; }
  // True for an input on a conditional's untaken branch; only Merge ever sees one.
  bool input_is_dead(int i) const { return inputs_[i].is_dead; }

  // Allocates output i with the given shape and the node's output dtype from the device's
  // allocator (the host device's for a HostMemory output of a kernel whose device memory is
  // not host accessible). ResourceExhausted (naming node, op, shape, bytes and the limit)
  // when the size overflows, exceeds StepResources::max_tensor_bytes or the allocator's limit.
  absl::StatusOr<Tensor*> allocate_output(int i, const TensorShape& shape);
  // Sets output i to an existing tensor (aliasing is fine: tensors are immutable once produced).
  void set_output(int i, Tensor t) { outputs_[i].tensor = std::move(t); }
  // Sets output i to a reference to `v` (a ref edge carries no tensor; consumers read
  // v->value under v->mu).
  void set_output_ref(int i, Variable* v) {
    outputs_[i].ref = v;
    outputs_[i].tensor = Tensor();
  }
  // Marks output i dead (Switch's untaken side): its consumers are skipped.
  void set_output_dead(int i) {
    outputs_[i] = TensorValue();
    outputs_[i].is_dead = true;
  }
  // Reuses input `in`'s buffer for output `out` when nothing else holds it and dtype and size
  // match; otherwise allocates. Element-wise kernels use this to work in place.
  absl::StatusOr<Tensor*> forward_input_or_allocate_output(int in, int out,
                                                           const TensorShape& shape);
  Tensor& output(int i) { return outputs_[i].tensor; }
  // True when input `in`'s buffer may become output `out`'s whatever its size: the step owns
  // it exclusively (as forward_input_or_allocate_output requires) and it lives where output
  // `out` is allocated. For kernels that grow or shrink a tensor within its buffer.
  bool input_buffer_is_forwardable(int in, int out) const;

  StepResources& resources() { return *resources_; }
  // The step's deferred checks (StepResources::deferred_checks); null without resources.
  DeferredChecks* deferred_checks() const {
    return resources_ != nullptr ? resources_->deferred_checks : nullptr;
  }
  int intra_op_threads() const { return resources_ != nullptr ? resources_->intra_op_threads : 1; }
  // The session's device with this full name (StepResources::find_device), or nullptr.
  Device* FindDevice(const std::string& name) const;
  // The allocator allocate_output uses for output i.
  Allocator* output_allocator(int i) const;

  // InvalidArgument error prefixed with the node name and op, e.g.
  // "node 'MatMul' (MatMul): inner dimensions differ: [2,3] vs [4,5]".
  absl::Status Error(const std::string& message) const;

 private:
  const Node& node_;
  std::vector<TensorValue>& inputs_;
  std::vector<TensorValue>& outputs_;
  StepResources* resources_;
  Device* device_;
  const OpKernel* kernel_;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual absl::Status Compute(OpKernelContext& ctx) const = 0;
  // True when the KernelDef this kernel was created from (KernelRegistry::CreateKernel) keeps
  // output `i` in host memory.
  bool output_in_host_memory(int i) const {
    return i >= 0 && i < static_cast<int>(host_memory_outputs_.size()) && host_memory_outputs_[i];
  }

 private:
  friend class KernelRegistry;
  std::vector<bool> host_memory_outputs_;  // per output slot; filled at creation
};

using KernelOrError = absl::StatusOr<std::unique_ptr<OpKernel>>;
using KernelFactory = std::function<KernelOrError(OpKernelConstruction&)>;

struct KernelDef {
  KernelDef(std::string op, std::string device_type)
      : op(std::move(op)), device_type(std::move(device_type)) {}
  // Restricts the kernel to nodes whose type attr `attr` is one of `types`. Call it once per
  // constrained attr (Cast: SrcT and DstT); a node must satisfy all of them. Listings show the
  // first.
  KernelDef& TypeConstraint(std::string attr, std::vector<DataType> types) {
    if (type_attr.empty()) {
      type_attr = std::move(attr);
      allowed_types = std::move(types);
    } else {
      more_type_constraints.emplace_back(std::move(attr), std::move(types));
    }
    return *this;
  }
  // Marks an input or output argument (by its OpDef name) as living in host memory on this
  // device: shapes, axes and sizes never travel to an accelerator.
  KernelDef& HostMemory(std::string arg) {
    host_memory_args.push_back(std::move(arg));
    return *this;
  }

  std::string op;
  std::string device_type;
  std::string type_attr;
  std::vector<DataType> allowed_types;
  std::vector<std::pair<std::string, std::vector<DataType>>> more_type_constraints;
  std::vector<std::string> host_memory_args;
  KernelFactory factory;

  bool IsHostMemoryArg(const std::string& arg) const;
};

// True when `node`'s kernel on `device_type` keeps output `index` in host memory, so a CPU
// consumer reads it without a copy.
bool IsHostMemoryOutput(const Node& node, int index, const std::string& device_type);

// Thread-safe: GPU kernels are registered when the first DeviceSet::Create finds a GPU, possibly
// while another thread's session looks kernels up. Registered defs are never removed or moved
// (std::multimap nodes are stable), so the pointers Find returns stay valid.
class KernelRegistry {
 public:
  static KernelRegistry& Global();
  void Register(KernelDef def);
  // The kernel def for this node on `device_type`, or nullptr if there is none.
  const KernelDef* Find(const Node& node, const std::string& device_type) const;
  // Device types that have a kernel for this node (for placement and error messages).
  std::vector<std::string> SupportedDeviceTypes(const Node& node) const;
  // Creates the kernel for a node, or a NotFound/InvalidArgument error naming the node, op,
  // dtype and the device types that do have kernels.
  KernelOrError CreateKernel(const Node& node, const std::string& device_type) const;
  // Every registered kernel def's (op, device type, allowed types of its type attr), sorted
  // by op then device type (`quiver ops`, coverage tests). Factories are not copied.
  struct Entry {
    std::string op;
    std::string device_type;
    std::string type_attr;
    std::vector<DataType> allowed_types;
  };
  std::vector<Entry> List() const;

 private:
  const KernelDef* FindLocked(const Node& node, const std::string& device_type) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::vector<std::string> SupportedDeviceTypesLocked(const Node& node) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Readers (placement, kernel creation) share it; registration is rare.
  mutable Mutex mu_;
  std::multimap<std::string, KernelDef> kernels_ ABSL_GUARDED_BY(mu_);
};

struct KernelRegistrar {
  KernelRegistrar(KernelDef def, KernelFactory factory) {
    def.factory = std::move(factory);
    KernelRegistry::Global().Register(std::move(def));
  }
};

#define QUIVER_REGISTER_KERNEL(def, factory) QUIVER_REGISTER_KERNEL_UNIQ(__COUNTER__, def, factory)
#define QUIVER_REGISTER_KERNEL_UNIQ(ctr, def, factory) \
  QUIVER_REGISTER_KERNEL_UNIQ2(ctr, def, factory)
#define QUIVER_REGISTER_KERNEL_UNIQ2(ctr, def, factory) \
  static ::quiver::KernelRegistrar quiver_kernel_registrar_##ctr(def, factory)

// Registers kernel class K (constructed from OpKernelConstruction&, may report errors via a
// static Create) for the def. K must have a constructor K(OpKernelConstruction&) and may set
// an error through `absl::Status* status`-free construction; use the factory form for that.
template <typename K>
KernelFactory MakeFactory() {
  return
      [](OpKernelConstruction& c) -> KernelOrError { return std::unique_ptr<OpKernel>(new K(c)); };
}

}  // namespace quiver
