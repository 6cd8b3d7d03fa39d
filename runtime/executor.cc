#include "runtime/executor.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace quiver {

namespace {
// OpenMP's thread count is a per-thread setting: apply it once on each thread that runs nodes.
void SetIntraOpThreads(int n) {
  thread_local int applied = 0;
  if (n > 0 && applied != n) {
    omp_set_num_threads(n);
    applied = n;
  }
}
}  // namespace


absl::StatusOr<std::shared_ptr<OpKernel>> StatefulKernelCache::GetOrCreate(const Node& node) {
  absl::MutexLock lock(&mu_);
  auto it = kernels_.find(node.name());
  if (it != kernels_.end()) return it->second;
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, KernelRegistry::Global().CreateKernel(node, kCpu));
  std::shared_ptr<OpKernel> shared = std::move(kernel);
  kernels_.emplace(node.name(), shared);
  return shared;
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Build(const Graph& graph,
                                                          const ExecutorSpec& spec,
                                                          StatefulKernelCache* cache) {
  auto exec = std::unique_ptr<Executor>(new Executor);

  // Fed endpoints, keyed by (node id, output index).
  absl::flat_hash_map<std::pair<int, int>, int> fed;
  for (size_t i = 0; i < spec.feeds.size(); ++i) {
    const Node* n = graph.FindNode(spec.feeds[i].node);
    if (n == nullptr) return absl::NotFoundError("feed: no node named '" + spec.feeds[i].node + "'");
    fed[{n->id(), spec.feeds[i].index}] = static_cast<int>(i);
  }

  // Prune: walk back from fetches and targets, stopping at fed tensors.
  std::vector<int> item_of(graph.num_node_ids(), -1);
  std::vector<const Node*> needed;
  std::vector<const Node*> stack;
  auto visit = [&](const Node* n) {
    if (item_of[n->id()] == -1) {
      item_of[n->id()] = -2;  // marked; numbered below
      stack.push_back(n);
    }
  };
  for (const TensorId& f : spec.fetches) {
    const Node* n = graph.FindNode(f.node);
    if (!fed.contains({n->id(), f.index})) visit(n);
  }
  for (const std::string& t : spec.targets) visit(graph.FindNode(t));
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    needed.push_back(n);
    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      if (!fed.contains({in.node->id(), in.index})) visit(in.node);
    }
    for (const Edge* e : n->control_in_edges()) visit(e->src);
  }

  // Number the needed nodes in topological order (stable, deterministic).
  ASSIGN_OR_RETURN(std::vector<Node*> order, graph.TopologicalOrder());
  for (Node* n : order) {
    if (item_of[n->id()] != -2) continue;
    item_of[n->id()] = static_cast<int>(exec->items_.size());
    Item item;
    item.node = n;
    item.output_base = exec->num_slots_;
    item.slot_uses.assign(n->num_outputs(), 0);
    exec->num_slots_ += n->num_outputs();
    exec->items_.push_back(std::move(item));
  }

  for (Item& item : exec->items_) {
    const Node* n = item.node;
    if (cache != nullptr && n->is_stateful()) {
      ASSIGN_OR_RETURN(item.kernel, cache->GetOrCreate(*n));
    } else {
      ASSIGN_OR_RETURN(item.kernel, KernelRegistry::Global().CreateKernel(*n, kCpu));
    }
    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      InputSource src;
      src.wants_ref = n->input_is_ref(i);
      auto f = fed.find({in.node->id(), in.index});
      if (f != fed.end()) {
        if (src.wants_ref) {
          return absl::InvalidArgumentError(absl::StrCat(
              "cannot feed '", in.TensorName(), "': node '", n->name(), "' needs it as a variable reference"));
        }
        src.feed = f->second;
      } else {
        Item& producer = exec->items_[item_of[in.node->id()]];
        src.slot = producer.output_base + in.index;
        producer.consumers.push_back(item_of[n->id()]);
        producer.slot_uses[in.index]++;
        item.num_pending++;
      }
      item.inputs.push_back(src);
    }
    for (const Edge* e : n->control_in_edges()) {
      Item& producer = exec->items_[item_of[e->src->id()]];
      producer.consumers.push_back(item_of[n->id()]);
      item.num_pending++;
    }
  }
  for (const TensorId& f : spec.fetches) {
    const Node* n = graph.FindNode(f.node);
    FetchSource src;
    auto it = fed.find({n->id(), f.index});
    if (it != fed.end()) {
      src.feed = it->second;
    } else {
      Item& producer = exec->items_[item_of[n->id()]];
      src.slot = producer.output_base + f.index;
      producer.slot_uses[f.index]++;
    }
    exec->fetches_.push_back(src);
  }
  for (size_t i = 0; i < exec->items_.size(); ++i) {
    if (exec->items_[i].num_pending == 0) exec->roots_.push_back(static_cast<int>(i));
  }
  return exec;
}

// Per-step state: the value table, pending counts and the completion latch.
class Executor::StepState {
 public:
  StepState(const Executor& exec, const std::vector<Tensor>& feeds, const StepResources& resources,
            ThreadPool* pool, int intra_op_threads)
      : exec_(exec),
        feeds_(feeds),
        resources_(resources),
        pool_(pool),
        intra_op_threads_(intra_op_threads),
        values_(exec.num_slots_),
        uses_(exec.num_slots_),
        pending_(exec.items_.size()) {
    for (const Item& item : exec.items_) {
      for (size_t o = 0; o < item.slot_uses.size(); ++o) {
        uses_[item.output_base + o].store(item.slot_uses[o], std::memory_order_relaxed);
      }
    }
    for (size_t i = 0; i < exec.items_.size(); ++i) {
      pending_[i].store(exec.items_[i].num_pending, std::memory_order_relaxed);
    }
    // The session's resources are shared by concurrent steps; the counters must not be.
    resources_.counters = &counters_;
  }

  absl::Status RunAll(StepStats* stats) {
    if (stats && stats->collect_node_timings) {
      timings_ = std::make_unique<std::atomic<int64_t>[]>(exec_.items_.size());
    }
    remaining_ = static_cast<int64_t>(exec_.items_.size());
    if (remaining_ == 0) return absl::OkStatus();
    for (size_t i = 1; i < exec_.roots_.size(); ++i) Dispatch(exec_.roots_[i]);
    Process(exec_.roots_[0]);
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait(lock, [this] { return remaining_ == 0; });
    if (stats) {
      if (timings_) {
        stats->node_timings.clear();
        for (size_t i = 0; i < exec_.items_.size(); ++i) {
          stats->node_timings.push_back({exec_.items_[i].node, timings_[i].load()});
        }
      }
      stats->nodes_executed = executed_.load();
      stats->transfers = counters_.transfers.load();
      stats->transfer_bytes = counters_.transfer_bytes.load();
    }
    std::lock_guard<std::mutex> status_lock(status_mu_);
    return status_;
  }

  std::vector<Tensor> TakeFetches() {
    std::vector<Tensor> out;
    for (const FetchSource& f : exec_.fetches_) {
      if (f.feed >= 0) {
        out.push_back(feeds_[f.feed]);
      } else {
        out.push_back(values_[f.slot].tensor);
      }
    }
    return out;
  }

  absl::Status CheckFetchesInitialized() {
    for (const FetchSource& f : exec_.fetches_) {
      if (f.slot < 0) continue;
      TensorValue& v = values_[f.slot];
      if (v.ref != nullptr) {  // fetching a variable reads its current value
        absl::ReaderMutexLock lock(&v.ref->mu);
        v.tensor = v.ref->value;
        if (!v.tensor.valid()) {
          return absl::FailedPreconditionError(
              "Attempting to use uninitialized value (a fetched variable); run its initializer first");
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  void Dispatch(int item) {
    if (pool_ != nullptr) {
      pool_->Schedule([this, item] { Process(item); });
    } else {
      Process(item);
    }
  }

  // Runs `first`, then keeps running one newly ready successor inline and hands the others to
  // the pool, so a chain runs on one thread without scheduling overhead.
  void Process(int first) {
    std::vector<int> local{first};
    while (!local.empty()) {
      int id = local.back();
      local.pop_back();
      const Item& item = exec_.items_[id];
      if (!cancelled_.load(std::memory_order_acquire)) {
        absl::Status s = RunItem(item);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(status_mu_);
          if (status_.ok()) status_ = s;
          cancelled_.store(true, std::memory_order_release);
        }
      }
      bool kept_one = false;
      for (int c : item.consumers) {
        if (pending_[c].fetch_sub(1, std::memory_order_acq_rel) == 1) {
          if (!kept_one || pool_ == nullptr) {
            local.push_back(c);
            kept_one = true;
          } else {
            Dispatch(c);
          }
        }
      }
      Finish();
    }
  }

  void Finish() {
    std::lock_guard<std::mutex> lock(done_mu_);
    if (--remaining_ == 0) done_cv_.notify_all();
  }

  absl::Status GatherInput(const Item& item, int i, TensorValue* out) {
    const InputSource& src = item.inputs[i];
    if (src.feed >= 0) {
      out->tensor = feeds_[src.feed];
      return absl::OkStatus();
    }
    TensorValue& v = values_[src.slot];
    if (v.ref != nullptr && !src.wants_ref) {
      // Dereference a variable at the time of use, like TF1 ref edges.
      absl::ReaderMutexLock lock(&v.ref->mu);
      out->tensor = v.ref->value;
    } else if (uses_[src.slot].load(std::memory_order_acquire) == 1) {
      *out = std::move(v);  // last use: hand over ownership so the kernel may work in place
      uses_[src.slot].store(0, std::memory_order_relaxed);
    } else {
      *out = v;
      if (uses_[src.slot].fetch_sub(1, std::memory_order_acq_rel) == 1) v = TensorValue();
    }
    if (!src.wants_ref && !out->tensor.valid()) {
      Endpoint in = item.node->input(i);
      return absl::FailedPreconditionError(absl::StrCat(
          "Attempting to use uninitialized value ", in.node->name(), " (read by node '",
          item.node->name(), "'); run its initializer first"));
    }
    return absl::OkStatus();
  }

  absl::Status RunItem(const Item& item) {
    SetIntraOpThreads(intra_op_threads_);
    std::vector<TensorValue> inputs(item.inputs.size());
    for (size_t i = 0; i < item.inputs.size(); ++i) {
      RETURN_IF_ERROR(GatherInput(item, static_cast<int>(i), &inputs[i]));
    }
    std::vector<TensorValue> outputs(item.node->num_outputs());
    OpKernelContext ctx(*item.node, &inputs, &outputs, &resources_);
    if (timings_) {
      auto start = std::chrono::steady_clock::now();
      absl::Status s = item.kernel->Compute(ctx);
      timings_[&item - exec_.items_.data()].store(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
              .count(),
          std::memory_order_relaxed);
      RETURN_IF_ERROR(s);
    } else {
      RETURN_IF_ERROR(item.kernel->Compute(ctx));
    }
    for (int o = 0; o < item.node->num_outputs(); ++o) {
      if (!outputs[o].tensor.valid() && outputs[o].ref == nullptr && item.slot_uses[o] > 0) {
        return absl::InternalError(absl::StrCat("node '", item.node->name(), "' (",
                                                item.node->op(), ") did not set output ", o));
      }
      values_[item.output_base + o] = std::move(outputs[o]);
    }
    executed_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  const Executor& exec_;
  const std::vector<Tensor>& feeds_;
  StepCounters counters_;
  StepResources resources_;  // a per-step copy pointing at counters_
  ThreadPool* pool_;
  int intra_op_threads_;
  std::vector<TensorValue> values_;
  std::vector<std::atomic<int>> uses_;
  std::unique_ptr<std::atomic<int64_t>[]> timings_;  // per item, when timing was asked for
  std::vector<std::atomic<int>> pending_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> executed_{0};
  std::mutex status_mu_;
  absl::Status status_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  int64_t remaining_ = 0;
};

absl::StatusOr<std::vector<Tensor>> Executor::Run(const std::vector<Tensor>& feed_values,
                                                  StepResources& resources, ThreadPool* pool,
                                                  StepStats* stats, int intra_op_threads) const {
  std::vector<Tensor> fetched;
  {
    StepState state(*this, feed_values, resources, pool, intra_op_threads);
    RETURN_IF_ERROR(state.RunAll(stats));
    RETURN_IF_ERROR(state.CheckFetchesInitialized());
    fetched = state.TakeFetches();
  }
  // Once the step's own references are gone, a fetched buffer still shared is owned by a
  // variable (updated in place by later steps) or by the caller's feed: hand back a copy so
  // the result never changes under the caller.
  for (Tensor& t : fetched) {
    if (t.valid() && !t.RefCountIsOne()) {
      ASSIGN_OR_RETURN(t, t.Clone());
    }
  }
  return fetched;
}

}  // namespace quiver
