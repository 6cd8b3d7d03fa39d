#include "runtime/session.h"

#include <algorithm>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "graph/graphdef.h"
#include "devices/device_set.h"
#include "graph/status_macros.h"
#include "passes/copy_insertion.h"
#include "passes/placement_report.h"
#include "passes/placer.h"
#include "runtime/executor.h"
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
    intra_op_threads_ = options.intra_op_threads > 0 ? options.intra_op_threads
                                                     : std::max(1, cores / inter);
    // The calling thread runs nodes too, so the pool gets one thread fewer.
    if (inter > 1) pool_ = std::make_unique<ThreadPool>(inter - 1);
    resources_.variable = [this](const std::string& name, bool create) {
      return GetVariable(name, create);
    };
    resources_.intra_op_pool = pool_.get();
  }

  absl::Status SetGraph(const Graph& graph) {
    auto copy = std::make_unique<Graph>();
    RETURN_IF_ERROR(copy->CopyFrom(graph));
    RETURN_IF_ERROR(copy->InferShapes());
    RETURN_IF_ERROR(PlaceAndInsertCopies(*copy));
    absl::MutexLock lock(&mu_);
    // Executors point into the old graph; keep retired graphs alive until the session dies so
    // that a concurrent Run on an old executor stays valid.
    if (graph_) retired_graphs_.push_back(std::move(graph_));
    graph_ = std::move(copy);
    executors_.clear();
    stateful_kernels_ = std::make_shared<StatefulKernelCache>();
    return absl::OkStatus();
  }

  const Graph& graph() const { return *graph_; }

  absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> ReadVariables() {
    std::vector<std::pair<std::string, Tensor>> out;
    absl::MutexLock lock(&variables_mu_);
    for (const auto& [name, var] : variables_) {
      absl::ReaderMutexLock var_lock(&var->mu);
      if (!var->initialized()) continue;
      ASSIGN_OR_RETURN(Tensor copy, var->value.Clone());
      out.emplace_back(name, std::move(copy));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

  absl::Status AssignVariables(const std::vector<std::pair<std::string, Tensor>>& values) {
    const Graph* graph;
    {
      absl::MutexLock lock(&mu_);
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
      if (value.dtype() != n->output_type(0) || (shape.ok() && !shape->IsCompatibleWith(value.shape()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "variable '", name, "' is ", DataTypeName(n->output_type(0)),
            shape.ok() ? shape->DebugString() : "", " but the value is ", DataTypeName(value.dtype()),
            value.shape().DebugString()));
      }
    }
    for (const auto& [name, value] : values) {
      Variable* var = GetVariable(name, /*create=*/true);
      ASSIGN_OR_RETURN(Tensor copy, value.Clone());
      absl::MutexLock var_lock(&var->mu);
      var->value = std::move(copy);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Session::Feed>& feeds,
                                          const std::vector<std::string>& fetches,
                                          const std::vector<std::string>& targets,
                                          RunMetadata* metadata) {
    std::shared_ptr<const Executor> exec;
    const Graph* graph;
    std::shared_ptr<StatefulKernelCache> stateful_kernels;
    {
      absl::MutexLock lock(&mu_);
      graph = graph_.get();
      stateful_kernels = stateful_kernels_;
    }
    std::vector<TensorId> feed_ids, fetch_ids;
    RETURN_IF_ERROR(ParseNames(feeds, fetches, targets, *graph, &feed_ids, &fetch_ids));
    std::vector<Tensor> feed_values;
    feed_values.reserve(feeds.size());
    for (size_t i = 0; i < feeds.size(); ++i) {
      RETURN_IF_ERROR(CheckFeed(*graph, feed_ids[i], feeds[i].second));
      feed_values.push_back(feeds[i].second);
    }
    std::string key = absl::StrCat(absl::StrJoin(feed_ids, ",", [](std::string* out, const TensorId& t) { out->append(t.ToString()); }),
                                   "->",
                                   absl::StrJoin(fetch_ids, ",", [](std::string* out, const TensorId& t) { out->append(t.ToString()); }),
                                   "/", absl::StrJoin(targets, ","));
    {
      absl::MutexLock lock(&mu_);
      auto it = executors_.find(key);
      if (it != executors_.end()) exec = it->second;
    }
    if (!exec) {
      ExecutorSpec spec{feed_ids, fetch_ids, targets};
      RETURN_IF_ERROR(CheckRequiredFeeds(*graph, spec));
      ASSIGN_OR_RETURN(std::unique_ptr<Executor> built, Executor::Build(*graph, spec, stateful_kernels.get()));
      exec = std::move(built);
      absl::MutexLock lock(&mu_);
      executors_.emplace(key, exec);
    }
    StepStats stats;
    stats.collect_node_timings = metadata != nullptr && metadata->collect_node_stats;
    ASSIGN_OR_RETURN(std::vector<Tensor> out, exec->Run(feed_values, resources_, pool_.get(), &stats, intra_op_threads_));
    if (metadata) {
      metadata->node_stats.clear();
      for (const NodeTiming& t : stats.node_timings) {
        metadata->node_stats.push_back({t.node->name(), t.node->op(), t.node->assigned_device(), t.nanos});
      }
      metadata->nodes_executed = stats.nodes_executed;
      metadata->transfers = stats.transfers;
      metadata->transfer_bytes = stats.transfer_bytes;
    }
    return out;
  }

 private:
  Variable* GetVariable(const std::string& name, bool create) {
    absl::MutexLock lock(&variables_mu_);
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
  absl::Status PlaceAndInsertCopies(Graph& graph) {
    ASSIGN_OR_RETURN(DeviceSet devices,
                     DeviceSet::Create(DeviceSetOptions{options_.virtual_cpu_devices}));
    PlacerOptions placer_options;
    placer_options.allow_soft_placement = options_.allow_soft_placement;
    ASSIGN_OR_RETURN(Placement placement, PlaceGraph(&graph, devices, placer_options));
    if (options_.log_device_placement) {
      ASSIGN_OR_RETURN(PlacementReport report, BuildPlacementReport(graph, devices, &placement));
      std::fputs(RenderPlacementText(report).c_str(), stderr);
    }
    return InsertCopies(&graph, devices).status();
  }

  static absl::Status ParseNames(const std::vector<Session::Feed>& feeds,
                                 const std::vector<std::string>& fetches,
                                 const std::vector<std::string>& targets, const Graph& graph,
                                 std::vector<TensorId>* feed_ids,
                                 std::vector<TensorId>* fetch_ids) {
    auto resolve = [&](const std::string& name, const char* what) -> absl::StatusOr<TensorId> {
      ASSIGN_OR_RETURN(TensorId id, ParseTensorName(name));
      if (id.is_control) {
        return absl::InvalidArgumentError(absl::StrCat(what, " '", name, "' is a control input name; use a tensor name"));
      }
      const Node* n = graph.FindNode(id.node);
      if (n == nullptr) {
        return absl::NotFoundError(absl::StrCat(what, " '", name, "': no node named '", id.node, "' in the graph"));
      }
      if (id.index >= n->num_outputs()) {
        return absl::InvalidArgumentError(absl::StrCat(what, " '", name, "': node '", id.node, "' (", n->op(),
                                                       ") has ", n->num_outputs(), " outputs"));
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
        return absl::NotFoundError(absl::StrCat("target '", t, "': no node named '", t, "' in the graph"));
      }
    }
    if (fetches.empty() && targets.empty()) {
      return absl::InvalidArgumentError("nothing to run: give at least one fetch or target");
    }
    return absl::OkStatus();
  }

  static absl::Status CheckFeed(const Graph& graph, const TensorId& id, const Tensor& value) {
    const Node* n = graph.FindNode(id.node);
    DataType expected = n->output_type(id.index);
    if (!value.valid()) return absl::InvalidArgumentError(absl::StrCat("feed '", id.ToString(), "' is an empty tensor"));
    if (value.dtype() != expected) {
      return absl::InvalidArgumentError(absl::StrCat("cannot feed ", DataTypeName(value.dtype()),
                                                     " to '", id.ToString(), "', which has dtype ",
                                                     DataTypeName(expected)));
    }
    TensorShape declared = n->output_shape(id.index);
    if ((n->op() == "Placeholder" || n->op() == "PlaceholderWithDefault") && n->attrs().count("shape")) {
      auto s = n->GetAttr<TensorShape>("shape");
      if (s.ok()) declared = *s;
    }
    if (!declared.IsCompatibleWith(value.shape())) {
      return absl::InvalidArgumentError(absl::StrCat("cannot feed value of shape ", value.shape().DebugString(),
                                                     " for tensor '", id.ToString(), "', which has shape ",
                                                     declared.DebugString()));
    }
    return absl::OkStatus();
  }

  // A Placeholder the fetches need but nobody fed: name it before running anything.
  static absl::Status CheckRequiredFeeds(const Graph& graph, const ExecutorSpec& spec) {
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
        return absl::InvalidArgumentError(absl::StrCat(
            "You must feed a value for placeholder tensor '", n->name(), "' with dtype ",
            DataTypeName(n->output_type(0)), " and shape ",
            shape.ok() ? shape->DebugString() : "<unknown>"));
      }
      for (int i = 0; i < n->num_inputs(); ++i) {
        Endpoint in = n->input(i);
        if (!fed_nodes.contains(in.node->name())) stack.push_back(in.node);
      }
      for (const Edge* e : n->control_in_edges()) stack.push_back(e->src);
    }
    return absl::OkStatus();
  }

  SessionOptions options_;
  int intra_op_threads_ = 1;
  std::unique_ptr<ThreadPool> pool_;
  StepResources resources_;
  absl::Mutex mu_;
  std::unique_ptr<Graph> graph_;
  std::vector<std::unique_ptr<Graph>> retired_graphs_;
  std::map<std::string, std::shared_ptr<const Executor>> executors_;
  std::shared_ptr<StatefulKernelCache> stateful_kernels_;
  absl::Mutex variables_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Variable>> variables_;
};

Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const Graph& graph,
                                                         const SessionOptions& options) {
  auto impl = std::make_unique<SessionImpl>(options);
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

absl::StatusOr<std::vector<Tensor>> Session::Run(const std::vector<Feed>& feeds,
                                                 const std::vector<std::string>& fetches,
                                                 const std::vector<std::string>& targets,
                                                 RunMetadata* metadata) {
  return impl_->Run(feeds, fetches, targets, metadata);
}

const Graph& Session::graph() const { return impl_->graph(); }

absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> Session::ReadVariables() {
  return impl_->ReadVariables();
}

absl::Status Session::AssignVariables(const std::vector<std::pair<std::string, Tensor>>& values) {
  return impl_->AssignVariables(values);
}

}  // namespace quiver
