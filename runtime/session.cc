#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/device.h"
#include "devices/device_set.h"
#include "graph/control_flow.h"
#include "graph/graphdef.h"
#include "graph/mutex.h"
#include "graph/status_macros.h"
#include "graph/while_loop.h"
#include "passes/copy_insertion.h"
#include "passes/pass_manager.h"
#include "passes/placement_report.h"
#include "passes/placer.h"
#include "runtime/executor.h"
#include "runtime/step_graph.h"
#include "runtime/thread_pool.h"

namespace quiver {

class SessionImpl {
 public:
  SessionImpl(const SessionOptions& options) : options_(options) {
    int cores = std::max(1u, std::thread::hardware_concurrency());
    // Default: most of a training or inference step is a chain of heavy kernels, so give
    // oneDNN most of the cores and keep a smaller pool for independent nodes (measured on
    // 2 cores, Deep MNIST training: 1 x 2 threads 2421 examples/s, 2 x 1 threads 1746).
    int inter = options.inter_op_threads > 0 ? options.inter_op_threads : std::max(1, cores / 4);
    // inter-op x intra-op threads must not exceed the cores: OpenMP threads that outnumber
    // the cores spin at barriers and a tiny oneDNN op can then wait a whole time slice.
    intra_op_threads_ =
        options.intra_op_threads > 0 ? options.intra_op_threads : std::max(1, cores / inter);
    // The calling thread runs nodes too, so the pool gets one thread fewer.
    if (inter > 1) pool_ = std::make_unique<ThreadPool>(inter - 1);
    resources_.variable = [this](const std::string& name, bool create) {
      return GetVariable(name, create);
    };
    resources_.intra_op_threads = intra_op_threads_;
    resources_.max_tensor_bytes = options.max_tensor_bytes;
    resources_.forward_inputs = options.reuse_buffers;
    // Transfers out of accelerator memory copy through their source device.
    resources_.find_device = [this](const std::string& name) { return FindDevice(name); };
  }

  // The session's devices, one allocator each (CPU:0, the virtual CPUs, GPUs).
  absl::Status CreateDevices() {
    if (options_.max_tensor_bytes < 0 || options_.max_total_bytes < 0) {
      return absl::InvalidArgumentError("max_tensor_bytes and max_total_bytes must be >= 0");
    }
    ASSIGN_OR_RETURN(device_set_,
                     DeviceSet::Create(DeviceSetOptions{options_.virtual_cpu_devices}));
    if (!options_.use_accelerators) {
      DeviceSet cpus;
      for (const DeviceInfo& info : device_set_.devices()) {
        if (info.is_cpu()) RETURN_IF_ERROR(cpus.AddDevice(info.type, info.id));
      }
      device_set_ = std::move(cpus);
    }
    for (const DeviceInfo& info : device_set_.devices()) {
      ASSIGN_OR_RETURN(std::unique_ptr<Device> d,
                       CreateDevice(info, DeviceOptions{options_.max_total_bytes}));
      devices_.push_back(std::move(d));
    }
    // HostMemory outputs of accelerator kernels live in CPU:0's memory.
    resources_.host_device = FindDevice(device_set_.host().name);
    return absl::OkStatus();
  }

  // A host copy of `t`; a tensor in memory the host cannot read (a GPU variable) is copied out
  // by the session device whose allocator holds it.
  absl::StatusOr<Tensor> ToHost(const Tensor& t) const {
    if (t.allocator() == nullptr || t.allocator()->host_accessible()) return t.Clone();
    for (const auto& d : devices_) {
      if (d->allocator() == t.allocator()) return CopyTensor(t, Device::DefaultCpu(), d.get());
    }
    return CopyTensor(t, Device::DefaultCpu());  // names the allocator in its error
  }

  Device* FindDevice(const std::string& name) const {
    for (const auto& d : devices_) {
      if (d->name() == name) return d.get();
    }
    return name.empty() ? FindDevice(device_set_.host().name) : nullptr;
  }

  absl::Status SetGraph(const Graph& graph) {
    auto source = std::make_shared<Graph>();
    RETURN_IF_ERROR(source->CopyFrom(graph));
    RETURN_IF_ERROR(source->InferShapes());
    // The whole graph placed once, for graph(), the report and log_device_placement; each
    // signature is optimized and placed on its own copy of `source` when first run.
    auto copy = std::make_unique<Graph>();
    RETURN_IF_ERROR(copy->CopyFrom(*source));
    RETURN_IF_ERROR(PlaceAndInsertCopies(*copy, options_.log_device_placement));
    MutexLock lock(&mu_);
    // Executors point into the old graph; keep retired graphs alive until the session dies so
    // that a concurrent Run on an old executor stays valid.
    if (graph_) retired_graphs_.push_back(std::move(graph_));
    graph_ = std::move(copy);
    source_ = std::move(source);
    executors_.clear();
    shape_variants_.clear();
    callables_.clear();
    stateful_kernels_ = std::make_shared<StatefulKernelCache>();
    return absl::OkStatus();
  }

  const Graph& graph() const { return *graph_; }

  absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> ReadVariables() {
    // The map lock only for the listing: variables are never erased, and a device-to-host copy
    // under it would stall every Run that looks a variable up.
    std::vector<std::pair<std::string, Variable*>> listed;
    {
      MutexLock lock(&variables_mu_);
      for (const auto& [name, var] : variables_) listed.emplace_back(name, var.get());
    }
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& [name, var] : listed) {
      ReaderMutexLock var_lock(&var->mu);
      if (!var->initialized()) continue;
      ASSIGN_OR_RETURN(Tensor copy, ToHost(var->value));
      out.emplace_back(name, std::move(copy));
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

  absl::Status AssignVariables(const std::vector<std::pair<std::string, Tensor>>& values) {
    const Graph* graph;
    {
      MutexLock lock(&mu_);
      graph = graph_.get();
    }
    // Variable storage is keyed by shared_name when set, else by node name (VariableV2 kernel).
    absl::flat_hash_map<std::string, const Node*> by_storage_name;
    for (const Node* n : graph->nodes()) {
      if (n->op() != "VariableV2" && n->op() != "Variable") continue;
      auto shared = n->GetAttr<std::string>("shared_name");
      by_storage_name[shared.ok() && !shared->empty() ? *shared : n->name()] = n;
    }
    for (const auto& [name, value] : values) {
      auto it = by_storage_name.find(name);
      if (it == by_storage_name.end()) {
        return absl::NotFoundError(absl::StrCat("no variable named '", name, "' in the graph"));
      }
      const Node* n = it->second;
      auto shape = n->GetAttr<TensorShape>("shape");
      if (value.dtype() != n->output_type(0) ||
          (shape.ok() && !shape->IsCompatibleWith(value.shape()))) {
        return absl::InvalidArgumentError(
            absl::StrCat("variable '", name, "' is ", DataTypeName(n->output_type(0)),
                         shape.ok() ? shape->DebugString() : "", " but the value is ",
                         DataTypeName(value.dtype()), value.shape().DebugString()));
      }
    }
    for (const auto& [name, value] : values) {
      Variable* var = GetVariable(name, /*create=*/true);
      // Into the memory of the device the variable is placed on.
      Device* device = FindDevice(by_storage_name[name]->assigned_device());
      // CopyTensor: a plain Clone would memcpy into memory the host may not be able to write.
      ASSIGN_OR_RETURN(Tensor copy, device != nullptr ? CopyTensor(value, device) : value.Clone());
      MutexLock var_lock(&var->mu);
      var->value = std::move(copy);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Tensor>> Run(const RunOptions& run_options,
                                          const std::vector<Session::Feed>& feeds,
                                          const std::vector<std::string>& fetches,
                                          const std::vector<std::string>& targets,
                                          RunMetadata* metadata) {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (run_options.timeout_ms > 0) {
      deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(run_options.timeout_ms);
    }
    std::shared_ptr<const Executable> exec;
    std::shared_ptr<const Graph> source;
    std::shared_ptr<StatefulKernelCache> stateful_kernels;
    {
      MutexLock lock(&mu_);
      source = source_;
      stateful_kernels = stateful_kernels_;
    }
    std::vector<TensorId> feed_ids, fetch_ids;
    RETURN_IF_ERROR(ParseNames(feeds, fetches, targets, *source, &feed_ids, &fetch_ids));
    std::vector<Tensor> feed_values;
    feed_values.reserve(feeds.size());
    for (size_t i = 0; i < feeds.size(); ++i) {
      RETURN_IF_ERROR(CheckFeed(*source, feed_ids[i], feeds[i].second));
      feed_values.push_back(feeds[i].second);
    }
    auto join_ids = [](const std::vector<TensorId>& ids) {
      return absl::StrJoin(ids, ",",
                           [](std::string* out, const TensorId& t) { out->append(t.ToString()); });
    };
    std::string key = absl::StrCat(join_ids(feed_ids), "->", join_ids(fetch_ids), "/",
                                   absl::StrJoin(targets, ","));
    const std::vector<Tensor>* specialize_for = nullptr;  // fed shapes to compile for
    if (options_.optimizer.level > 0 && options_.max_shape_specializations > 0 && !feeds.empty()) {
      const std::string shapes = absl::StrJoin(
          feed_values, ";",
          [](std::string* out, const Tensor& t) { out->append(t.shape().DebugString()); });
      MutexLock lock(&mu_);
      absl::flat_hash_set<std::string>& seen = shape_variants_[key];
      if (seen.contains(shapes) ||
          static_cast<int>(seen.size()) < options_.max_shape_specializations) {
        seen.insert(shapes);
        key = absl::StrCat(key, "#", shapes);
        specialize_for = &feed_values;
      }
    }
    {
      MutexLock lock(&mu_);
      auto it = executors_.find(key);
      if (it != executors_.end()) exec = it->second;
    }
    if (!exec) {
      ExecutorSpec spec{feed_ids, fetch_ids, targets};
      RETURN_IF_ERROR(CheckRequiredFeeds(*source, spec));
      ASSIGN_OR_RETURN(exec, Compile(*source, spec, stateful_kernels.get(), specialize_for));
      MutexLock lock(&mu_);
      executors_.emplace(key, exec);
    }
    return Execute(*exec, feed_values, run_options, deadline, metadata);
  }

  absl::StatusOr<int64_t> MakeCallable(const std::vector<std::string>& feeds,
                                       const std::vector<std::string>& fetches,
                                       const std::vector<std::string>& targets,
                                       bool results_may_alias_feeds) {
    std::shared_ptr<const Graph> source;
    {
      MutexLock lock(&mu_);
      source = source_;
    }
    std::vector<Session::Feed> named;
    for (const std::string& f : feeds) named.emplace_back(f, Tensor());
    auto callable = std::make_shared<Callable>();
    RETURN_IF_ERROR(ParseNames(named, fetches, targets, *source, &callable->spec.feeds,
                               &callable->spec.fetches));
    callable->spec.targets = targets;
    callable->copy_shared_fetches = !results_may_alias_feeds;
    RETURN_IF_ERROR(CheckRequiredFeeds(*source, callable->spec));
    for (const TensorId& id : callable->spec.feeds) {
      callable->feeds.push_back(SignatureOf(*source, id));
    }
    callable->source = std::move(source);
    MutexLock lock(&mu_);
    callables_.push_back(std::move(callable));
    return static_cast<int64_t>(callables_.size()) - 1;
  }

  absl::StatusOr<std::vector<Tensor>> RunCallable(int64_t handle,
                                                  const std::vector<Tensor>& feed_values,
                                                  const RunOptions& run_options,
                                                  std::vector<Tensor>* owned_feeds = nullptr) {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (run_options.timeout_ms > 0) {
      deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(run_options.timeout_ms);
    }
    std::shared_ptr<Callable> callable;
    std::shared_ptr<StatefulKernelCache> stateful_kernels;
    {
      MutexLock lock(&mu_);
      if (handle >= 0 && handle < static_cast<int64_t>(callables_.size())) {
        callable = callables_[handle];
      }
      stateful_kernels = stateful_kernels_;
    }
    if (callable == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no callable ", handle, " in this session (released, or made before Extend)"));
    }
    if (feed_values.size() != callable->feeds.size()) {
      return absl::InvalidArgumentError(absl::StrCat("callable ", handle, " takes ",
                                                     callable->feeds.size(), " feeds, got ",
                                                     feed_values.size()));
    }
    for (size_t i = 0; i < feed_values.size(); ++i) {
      RETURN_IF_ERROR(CheckFeedValue(callable->spec.feeds[i], callable->feeds[i], feed_values[i]));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const Executable> exec,
                     CallableExecutable(*callable, feed_values, stateful_kernels.get()));
    return Execute(*exec, feed_values, run_options, deadline, nullptr,
                   callable->copy_shared_fetches, owned_feeds);
  }

  absl::Status ReleaseCallable(int64_t handle) {
    MutexLock lock(&mu_);
    if (handle < 0 || handle >= static_cast<int64_t>(callables_.size()) ||
        callables_[handle] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("no callable ", handle, " to release"));
    }
    callables_[handle] = nullptr;
    return absl::OkStatus();
  }

 private:
  Variable* GetVariable(const std::string& name, bool create) {
    MutexLock lock(&variables_mu_);
    auto it = variables_.find(name);
    if (it != variables_.end()) return it->second.get();
    if (!create) return nullptr;
    auto& slot = variables_[name];
    slot = std::make_unique<Variable>();
    return slot.get();
  }

  // Places every node (explicit request > colocation > soft placement > defaults), then puts a
  // _Transfer on every tensor that crosses devices so the copy really happens and is counted.
  // This graph is private to the session: exported graphs never carry transfers.
  absl::Status PlaceAndInsertCopies(Graph& graph, bool log) {
    const DeviceSet& devices = device_set_;
    PlacerOptions placer_options;
    placer_options.allow_soft_placement = options_.allow_soft_placement;
    ASSIGN_OR_RETURN(Placement placement, PlaceGraph(&graph, devices, placer_options));
    if (log) {
      ASSIGN_OR_RETURN(PlacementReport report, BuildPlacementReport(graph, devices, &placement));
      std::fputs(RenderPlacementText(report).c_str(), stderr);
    }
    return InsertCopies(&graph, devices).status();
  }

  // One signature's graph and its executors: prune + optimize (DESIGN's order: the pipeline,
  // then placement, then copy insertion), partition per device, one executor per partition.
  struct Executable {
    std::unique_ptr<Graph> graph;
    std::unique_ptr<PartitionedExecutor> executor;
  };
  // With `fed_values`, each fed Placeholder is compiled for its fed shape (see step_graph.h).
  absl::StatusOr<std::shared_ptr<const Executable>> Compile(
      const Graph& source, const ExecutorSpec& spec, StatefulKernelCache* stateful_kernels,
      const std::vector<Tensor>* fed_values = nullptr) {
    auto exec = std::make_shared<Executable>();
    StepGraphOptions step;
    step.optimizer = options_.optimizer;
    if (fed_values != nullptr) {
      for (const Tensor& t : *fed_values) step.fed_shapes.push_back(t.shape());
    }
    for (const DeviceInfo& d : device_set_.devices()) step.device_types.insert(d.type);
    step.allow_soft_placement = options_.allow_soft_placement;
    ASSIGN_OR_RETURN(StepGraph built, BuildStepGraph(source, spec, step));
    if (!built.optimizer_error.empty()) {
      std::fprintf(stderr, "quiver: optimizer failed, running the graph unoptimized: %s\n",
                   built.optimizer_error.c_str());
    }
    exec->graph = std::move(built.graph);
    RETURN_IF_ERROR(PlaceAndInsertCopies(*exec->graph, /*log=*/false));
    ExecutorOptions options;
    options.reuse_buffers = options_.reuse_buffers;
    ASSIGN_OR_RETURN(
        exec->executor,
        PartitionedExecutor::Build(
            *exec->graph, spec, [this](const std::string& name) { return FindDevice(name); },
            stateful_kernels, options));
    return exec;
  }

  // A missing name that lies inside a loop: the import folded it into the loop's node.
  static std::string LoopHint(const Graph& graph, const std::string& name) {
    for (const Node* n : graph.nodes()) {
      if (n->op() == kWhileOp && absl::StartsWith(name, n->name() + "/")) {
        return absl::StrCat(" (it was inside the loop '", n->name(),
                            "', which runs as one node: fetch the loop's outputs)");
      }
    }
    return "";
  }

  static absl::Status ParseNames(const std::vector<Session::Feed>& feeds,
                                 const std::vector<std::string>& fetches,
                                 const std::vector<std::string>& targets, const Graph& graph,
                                 std::vector<TensorId>* feed_ids,
                                 std::vector<TensorId>* fetch_ids) {
    auto resolve = [&](const std::string& name, const char* what) -> absl::StatusOr<TensorId> {
      ASSIGN_OR_RETURN(TensorId id, ParseTensorName(name));
      if (id.is_control) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " '", name, "' is a control input name; use a tensor name"));
      }
      const Node* n = graph.FindNode(id.node);
      if (n == nullptr) {
        return absl::NotFoundError(absl::StrCat(what, " '", name, "': no node named '", id.node,
                                                "' in the graph", LoopHint(graph, id.node)));
      }
      if (id.index >= n->num_outputs()) {
        return absl::InvalidArgumentError(absl::StrCat(what, " '", name, "': node '", id.node,
                                                       "' (", n->op(), ") has ", n->num_outputs(),
                                                       " outputs"));
      }
      return id;
    };
    for (const auto& f : feeds) {
      ASSIGN_OR_RETURN(TensorId id, resolve(f.first, "feed"));
      for (const TensorId& prev : *feed_ids) {
        if (prev.node == id.node && prev.index == id.index) {
          return absl::InvalidArgumentError(absl::StrCat("tensor '", f.first, "' is fed twice"));
        }
      }
      feed_ids->push_back(id);
    }
    for (const auto& f : fetches) {
      ASSIGN_OR_RETURN(TensorId id, resolve(f, "fetch"));
      fetch_ids->push_back(id);
    }
    for (const auto& t : targets) {
      if (graph.FindNode(t) == nullptr) {
        return absl::NotFoundError(
            absl::StrCat("target '", t, "': no node named '", t, "' in the graph"));
      }
    }
    if (fetches.empty() && targets.empty()) {
      return absl::InvalidArgumentError("nothing to run: give at least one fetch or target");
    }
    return absl::OkStatus();
  }

  // What a feed must match: the tensor's dtype and its declared shape (a Placeholder's attr).
  struct FeedSignature {
    DataType dtype = DT_INVALID;
    TensorShape declared;
  };
  static FeedSignature SignatureOf(const Graph& graph, const TensorId& id) {
    const Node* n = graph.FindNode(id.node);
    FeedSignature sig{n->output_type(id.index), n->output_shape(id.index)};
    if ((n->op() == "Placeholder" || n->op() == "PlaceholderWithDefault") &&
        n->attrs().count("shape")) {
      auto s = n->GetAttr<TensorShape>("shape");
      if (s.ok()) sig.declared = *s;
    }
    return sig;
  }

  static absl::Status CheckFeed(const Graph& graph, const TensorId& id, const Tensor& value) {
    return CheckFeedValue(id, SignatureOf(graph, id), value);
  }

  static absl::Status CheckFeedValue(const TensorId& id, const FeedSignature& sig,
                                     const Tensor& value) {
    const DataType expected = sig.dtype;
    const TensorShape& declared = sig.declared;
    if (!value.valid())
      return absl::InvalidArgumentError(
          absl::StrCat("feed '", id.ToString(), "' is an empty tensor"));
    if (value.dtype() != expected) {
      return absl::InvalidArgumentError(absl::StrCat("cannot feed ", DataTypeName(value.dtype()),
                                                     " to '", id.ToString(), "', which has dtype ",
                                                     DataTypeName(expected)));
    }
    if (!declared.IsCompatibleWith(value.shape())) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot feed value of shape ", value.shape().DebugString(), " for tensor '",
                       id.ToString(), "', which has shape ", declared.DebugString()));
    }
    return absl::OkStatus();
  }

  // A signature prepared by MakeCallable: names resolved once, compiled on first use for the
  // shapes fed then (as Run specialises), and once more for any shape if they change.
  struct Callable {
    ExecutorSpec spec;
    std::vector<FeedSignature> feeds;
    bool copy_shared_fetches = true;
    std::shared_ptr<const Graph> source;
    Mutex mu;
    std::vector<TensorShape> specialized_shapes;
    std::shared_ptr<const Executable> specialized, generic;
  };

  absl::StatusOr<std::shared_ptr<const Executable>> CallableExecutable(
      Callable& c, const std::vector<Tensor>& feed_values, StatefulKernelCache* kernels) {
    MutexLock lock(&c.mu);
    const bool specialize = options_.optimizer.level > 0 &&
                            options_.max_shape_specializations > 0 && !feed_values.empty();
    if (specialize && c.specialized == nullptr) {
      ASSIGN_OR_RETURN(c.specialized, Compile(*c.source, c.spec, kernels, &feed_values));
      for (const Tensor& t : feed_values) c.specialized_shapes.push_back(t.shape());
      return c.specialized;
    }
    if (specialize) {
      bool same = true;
      for (size_t i = 0; i < feed_values.size() && same; ++i) {
        same = feed_values[i].shape() == c.specialized_shapes[i];
      }
      if (same) return c.specialized;
    }
    if (c.generic == nullptr) {
      ASSIGN_OR_RETURN(c.generic, Compile(*c.source, c.spec, kernels));
    }
    return c.generic;
  }

  absl::StatusOr<std::vector<Tensor>> Execute(
      const Executable& exec, const std::vector<Tensor>& feed_values, const RunOptions& run_options,
      std::optional<std::chrono::steady_clock::time_point> deadline, RunMetadata* metadata,
      bool copy_shared_fetches = true, std::vector<Tensor>* owned_feeds = nullptr) {
    StepStats stats;
    stats.collect_node_timings = metadata != nullptr && metadata->collect_node_stats;
    StepParams params;
    params.resources = &resources_;
    params.pool = pool_.get();
    params.intra_op_threads = run_options.intra_op_threads > 0
                                  ? std::min(run_options.intra_op_threads, intra_op_threads_)
                                  : intra_op_threads_;
    params.cancellation = run_options.cancellation;
    params.deadline = deadline;
    params.copy_shared_fetches = copy_shared_fetches;
    params.owned_feeds = owned_feeds;
    ASSIGN_OR_RETURN(std::vector<Tensor> out, exec.executor->Run(feed_values, params, &stats));
    if (metadata) {
      metadata->node_stats.clear();
      for (const NodeTiming& t : stats.node_timings) {
        metadata->node_stats.push_back(
            {t.node->name(), t.node->op(), t.node->assigned_device(), t.nanos});
      }
      metadata->nodes_executed = stats.nodes_executed;
      metadata->transfers = stats.transfers;
      metadata->transfer_bytes = stats.transfer_bytes;
      metadata->device_memory.clear();
      for (const auto& d : devices_) {
        AllocatorStats a = d->allocator()->GetStats();
        metadata->device_memory.push_back({d->name(), d->allocator()->Name(), a.bytes_in_use,
                                           a.peak_bytes_in_use, a.bytes_limit});
      }
    }
    return out;
  }

  // A Placeholder the fetches need but nobody fed: name it before running anything. Behind a
  // conditional it may lie on the branch not taken: then its kernel reports it if it runs.
  static absl::Status CheckRequiredFeeds(const Graph& graph, const ExecutorSpec& spec) {
    for (const Node* n : graph.nodes()) {
      if (IsSwitchOp(n->op())) return absl::OkStatus();
    }
    std::vector<bool> seen(graph.num_node_ids(), false);
    absl::flat_hash_map<std::string, bool> fed_nodes;
    for (const TensorId& f : spec.feeds) fed_nodes[f.node] = true;
    std::vector<const Node*> stack;
    for (const TensorId& f : spec.fetches) {
      if (!fed_nodes.contains(f.node)) stack.push_back(graph.FindNode(f.node));
    }
    for (const std::string& t : spec.targets) stack.push_back(graph.FindNode(t));
    while (!stack.empty()) {
      const Node* n = stack.back();
      stack.pop_back();
      if (seen[n->id()]) continue;
      seen[n->id()] = true;
      if (n->op() == "Placeholder") {
        auto shape = n->GetAttr<TensorShape>("shape");
        return absl::InvalidArgumentError(
            absl::StrCat("You must feed a value for placeholder tensor '", n->name(),
                         "' with dtype ", DataTypeName(n->output_type(0)), " and shape ",
                         shape.ok() ? shape->DebugString() : "<unknown>"));
      }
      for (int i = 0; i < n->num_inputs(); ++i) {
        Endpoint in = n->input(i);
        if (!fed_nodes.contains(in.node->name())) stack.push_back(in.node);
      }
      for (const Edge* e : n->control_in_edges()) {
        if (!fed_nodes.contains(e->src->name())) stack.push_back(e->src);
      }
    }
    return absl::OkStatus();
  }

  SessionOptions options_;
  // Devices first: destroyed last, after every executor and variable that uses them.
  DeviceSet device_set_;
  std::vector<std::unique_ptr<Device>> devices_;
  int intra_op_threads_ = 1;
  std::unique_ptr<ThreadPool> pool_;
  StepResources resources_;
  Mutex mu_;
  std::unique_ptr<Graph> graph_;         // placed whole graph (graph(), reports)
  std::shared_ptr<const Graph> source_;  // as given, shapes inferred: what signatures copy
  std::vector<std::unique_ptr<Graph>> retired_graphs_;
  std::map<std::string, std::shared_ptr<const Executable>> executors_;
  // Per Run signature, the fed shapes that have an executable of their own (at most
  // SessionOptions::max_shape_specializations).
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> shape_variants_;
  std::shared_ptr<StatefulKernelCache> stateful_kernels_;
  std::vector<std::shared_ptr<Callable>> callables_;  // by handle; null once released
  Mutex variables_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Variable>> variables_;
};

Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const Graph& graph,
                                                         const SessionOptions& options) {
  auto impl = std::make_unique<SessionImpl>(options);
  RETURN_IF_ERROR(impl->CreateDevices());
  RETURN_IF_ERROR(impl->SetGraph(graph));
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const tensorflow::GraphDef& graph_def,
                                                         const SessionOptions& options) {
  Graph graph;
  RETURN_IF_ERROR(ImportGraphDef(graph_def, &graph));
  return Create(graph, options);
}

absl::Status Session::Extend(const Graph& graph) { return impl_->SetGraph(graph); }

absl::StatusOr<Session::CallableHandle> Session::MakeCallable(
    const std::vector<std::string>& feeds, const std::vector<std::string>& fetches,
    const std::vector<std::string>& targets, bool results_may_alias_feeds) {
  return impl_->MakeCallable(feeds, fetches, targets, results_may_alias_feeds);
}

absl::StatusOr<std::vector<Tensor>> Session::RunCallable(CallableHandle handle,
                                                         const std::vector<Tensor>& feeds,
                                                         const RunOptions& run_options) {
  return impl_->RunCallable(handle, feeds, run_options);
}

absl::StatusOr<std::vector<Tensor>> Session::RunCallable(CallableHandle handle,
                                                         std::vector<Tensor>&& feeds,
                                                         const RunOptions& run_options) {
  return impl_->RunCallable(handle, feeds, run_options, &feeds);
}

absl::Status Session::ReleaseCallable(CallableHandle handle) {
  return impl_->ReleaseCallable(handle);
}

absl::StatusOr<std::vector<Tensor>> Session::Run(const std::vector<Feed>& feeds,
                                                 const std::vector<std::string>& fetches,
                                                 const std::vector<std::string>& targets,
                                                 RunMetadata* metadata) {
  return impl_->Run(RunOptions(), feeds, fetches, targets, metadata);
}

absl::StatusOr<std::vector<Tensor>> Session::Run(const RunOptions& run_options,
                                                 const std::vector<Feed>& feeds,
                                                 const std::vector<std::string>& fetches,
                                                 const std::vector<std::string>& targets,
                                                 RunMetadata* metadata) {
  return impl_->Run(run_options, feeds, fetches, targets, metadata);
}

const Graph& Session::graph() const { return impl_->graph(); }

absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> Session::ReadVariables() {
  return impl_->ReadVariables();
}

absl::Status Session::AssignVariables(const std::vector<std::pair<std::string, Tensor>>& values) {
  return impl_->AssignVariables(values);
}

}  // namespace quiver
