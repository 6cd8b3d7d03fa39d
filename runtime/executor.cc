#include "runtime/executor.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/control_flow.h"
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

absl::StatusOr<std::shared_ptr<OpKernel>> StatefulKernelCache::GetOrCreate(
    const Node& node, const std::string& device_type) {
  MutexLock lock(&mu_);
  std::string key = absl::StrCat(device_type, "/", node.name());
  auto it = kernels_.find(key);
  if (it != kernels_.end()) return it->second;
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel,
                   KernelRegistry::Global().CreateKernel(node, device_type));
  std::shared_ptr<OpKernel> shared = std::move(kernel);
  kernels_.emplace(key, shared);
  return shared;
}

int Executor::num_nodes() const {
  int n = 0;
  for (const Item& item : items_) n += item.node != nullptr;
  return n;
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Build(
    const Graph& graph, const PartitionedGraph& parts, int partition, const ExecutorSpec& spec,
    Device* device, StatefulKernelCache* cache, const ExecutorOptions& options) {
  auto exec = std::unique_ptr<Executor>(new Executor);
  exec->parts_ = &parts;
  exec->device_ = device;
  exec->options_ = options;
  const Partition& part = parts.partitions[partition];
  const std::string device_type = device != nullptr ? device->info().type : kCpu;

  // Fed endpoints, keyed by (node id, output index).
  absl::flat_hash_map<std::pair<int, int>, int> fed;
  exec->feed_reads_.assign(spec.feeds.size(), 0);
  for (size_t i = 0; i < spec.feeds.size(); ++i) {
    const Node* n = graph.FindNode(spec.feeds[i].node);
    if (n == nullptr)
      return absl::NotFoundError("feed: no node named '" + spec.feeds[i].node + "'");
    fed[{n->id(), spec.feeds[i].index}] = static_cast<int>(i);
  }

  // Recvs first (one slot for data, none for a control signal), then the nodes.
  absl::flat_hash_map<std::pair<int, int>, int> recv_item;  // (src id, output) -> item
  for (int e : part.recvs) {
    const CrossEdge& edge = parts.edges[e];
    Item item;
    item.recv_edge = e;
    item.output_base = exec->num_slots_;
    if (!edge.is_control()) {
      item.slot_uses.assign(1, 0);
      exec->num_slots_ += 1;
    }
    recv_item[{edge.src->id(), edge.src_output}] = static_cast<int>(exec->items_.size());
    exec->items_.push_back(std::move(item));
  }
  std::vector<int> item_of(graph.num_node_ids(), -1);
  for (const Node* n : graph.nodes()) {
    exec->has_conditionals_ |= IsSwitchOp(n->op());
  }
  for (const Node* n : part.nodes) {
    item_of[n->id()] = static_cast<int>(exec->items_.size());
    Item item;
    item.node = n;
    item.is_merge = IsMergeOp(n->op());
    item.output_base = exec->num_slots_;
    item.slot_uses.assign(n->num_outputs(), 0);
    exec->num_slots_ += n->num_outputs();
    exec->items_.push_back(std::move(item));
  }

  auto producer_item = [&](const Node* src, int output) -> absl::StatusOr<int> {
    if (item_of[src->id()] >= 0) return item_of[src->id()];
    auto it = recv_item.find({src->id(), output});
    if (it == recv_item.end()) {
      return absl::InternalError(absl::StrCat("partition of '", part.device, "' has no recv for ",
                                              src->name(), ":", output));
    }
    return it->second;
  };

  for (const Node* n : part.nodes) {
    const int id = item_of[n->id()];
    Item& item = exec->items_[id];
    if (cache != nullptr && n->is_stateful()) {
      ASSIGN_OR_RETURN(item.kernel, cache->GetOrCreate(*n, device_type));
    } else {
      ASSIGN_OR_RETURN(item.kernel, KernelRegistry::Global().CreateKernel(*n, device_type));
    }
    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      InputSource src;
      src.wants_ref = n->input_is_ref(i);
      auto f = fed.find({in.node->id(), in.index});
      if (f != fed.end()) {
        if (src.wants_ref) {
          return absl::InvalidArgumentError(absl::StrCat("cannot feed '", in.TensorName(),
                                                         "': node '", n->name(),
                                                         "' needs it as a variable reference"));
        }
        src.feed = f->second;
        exec->feed_reads_[f->second]++;
      } else {
        ASSIGN_OR_RETURN(int p, producer_item(in.node, in.index));
        Item& producer = exec->items_[p];
        const int out = producer.node != nullptr ? in.index : 0;
        src.slot = producer.output_base + out;
        producer.consumers.push_back(id);
        producer.slot_uses[out]++;
        exec->items_[id].num_pending++;
      }
      exec->items_[id].inputs.push_back(src);
    }
    for (const Edge* e : n->control_in_edges()) {
      int p = item_of[e->src->id()];
      if (p < 0) {
        auto r = recv_item.find({e->src->id(), kControlSlot});
        if (r == recv_item.end()) continue;  // a fed node: it does not run, nothing to wait for
        p = r->second;
      }
      exec->items_[p].consumers.push_back(id);
      exec->items_[id].control_producers.push_back(p);
      exec->items_[id].num_pending++;
    }
  }
  for (int e : part.sends) {
    const CrossEdge& edge = parts.edges[e];
    exec->items_[item_of[edge.src->id()]].sends.push_back({edge.src_output, e});
  }
  for (size_t i = 0; i < spec.fetches.size(); ++i) {
    if (parts.fetch_partition[i] != partition) continue;
    const Node* n = graph.FindNode(spec.fetches[i].node);
    Item& producer = exec->items_[item_of[n->id()]];
    producer.slot_uses[spec.fetches[i].index]++;
    exec->fetches_.push_back({static_cast<int>(i), producer.output_base + spec.fetches[i].index,
                              absl::StrCat(spec.fetches[i].node, ":", spec.fetches[i].index)});
  }
  for (size_t i = 0; i < exec->items_.size(); ++i) {
    const Item& item = exec->items_[i];
    if (item.node != nullptr && item.num_pending == 0) exec->roots_.push_back(static_cast<int>(i));
  }
  return exec;
}

// Per-step state of one partition: the value table, pending counts and the completion latch.
class Executor::StepState {
 public:
  StepState(const Executor& exec, const std::vector<Tensor>& feeds, const StepParams& params,
            Rendezvous* rendezvous, bool collect_timings)
      : exec_(exec),
        feeds_(feeds),
        params_(params),
        rendezvous_(rendezvous),
        resources_(*params.resources),
        values_(exec.num_slots_),
        uses_(exec.num_slots_),
        pending_(exec.items_.size()),
        item_dead_(exec.has_conditionals_ ? exec.items_.size() : 0, 0) {
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
    resources_.deferred_checks = params.deferred_checks;
    resources_.cancellation = params.cancellation;
    if (params.intra_op_threads > 0) resources_.intra_op_threads = params.intra_op_threads;
    resources_.deadline = params.deadline;
    if (!exec.options_.reuse_buffers) resources_.forward_inputs = false;
    if (collect_timings) timings_ = std::make_unique<std::atomic<int64_t>[]>(exec.items_.size());
    remaining_ = static_cast<int64_t>(exec_.items_.size());
  }

  // Registers the recvs and starts the roots: on the pool, except the first one when
  // `run_first_here` (which then runs on the calling thread until it blocks on a recv).
  void Start(bool run_first_here) {
    for (size_t i = 0; i < exec_.items_.size(); ++i) {
      const Item& item = exec_.items_[i];
      if (item.node != nullptr) continue;
      const int id = static_cast<int>(i);
      rendezvous_->RecvAsync(exec_.parts_->edges[item.recv_edge].key,
                             [this, id](const absl::Status& s, const TensorValue& v) {
                               if (!s.ok()) {
                                 Fail(s);
                               } else {
                                 if (!exec_.items_[id].slot_uses.empty()) {
                                   values_[exec_.items_[id].output_base] = v;
                                 }
                                 if (v.is_dead) item_dead_[id] = 1;
                               }
                               Process(id, /*already_ran=*/true);
                             });
    }
    const std::vector<int>& roots = exec_.roots_;
    for (size_t i = 0; i < roots.size(); ++i) {
      if (i == 0 && (run_first_here || params_.pool == nullptr)) continue;
      Dispatch(roots[i]);
    }
    if (!roots.empty() && (run_first_here || params_.pool == nullptr)) Process(roots[0], false);
  }

  absl::Status Wait(StepStats* stats) {
    {
      std::unique_lock<std::mutex> lock(done_mu_);
      done_cv_.wait(lock, [this] { return remaining_ == 0; });
    }
    if (stats) {
      if (timings_) {
        for (size_t i = 0; i < exec_.items_.size(); ++i) {
          if (exec_.items_[i].node == nullptr) continue;
          stats->node_timings.push_back({exec_.items_[i].node, timings_[i].load()});
        }
      }
      stats->nodes_executed += executed_.load();
      stats->transfers += counters_.transfers.load();
      stats->transfer_bytes += counters_.transfer_bytes.load();
    }
    std::lock_guard<std::mutex> status_lock(status_mu_);
    return status_;
  }

  absl::Status CollectFetches(std::vector<Tensor>* out) {
    for (const FetchSource& f : exec_.fetches_) {
      TensorValue& v = values_[f.slot];
      if (v.is_dead) {
        return absl::InvalidArgumentError(absl::StrCat(
            "fetch '", f.name,
            "' has no value: it lies on the untaken branch of a conditional (a Switch chose "
            "the other side); fetch the Merge that joins the branches instead"));
      }
      if (v.ref != nullptr) {  // fetching a variable reads its current value
        ReaderMutexLock lock(&v.ref->mu);
        v.tensor = v.ref->value;
        if (!v.tensor.valid()) {
          return absl::FailedPreconditionError(
              "Attempting to use uninitialized value (a fetched variable); run its initializer "
              "first");
        }
      }
      (*out)[f.fetch] = v.tensor;
    }
    return absl::OkStatus();
  }

 private:
  void Dispatch(int item) {
    if (params_.pool != nullptr) {
      params_.pool->Schedule([this, item] { Process(item, false); });
    } else {
      Process(item, false);
    }
  }

  // The first error wins; it aborts the rendezvous so that every partition stops.
  void Fail(const absl::Status& s) {
    {
      std::lock_guard<std::mutex> lock(status_mu_);
      if (status_.ok()) status_ = s;
    }
    cancelled_.store(true, std::memory_order_release);
    rendezvous_->StartAbort(s);
  }

  // Cancellation and deadline, checked between nodes.
  bool ShouldStop() {
    if (cancelled_.load(std::memory_order_acquire)) return true;
    if (rendezvous_->aborted()) {
      cancelled_.store(true, std::memory_order_release);
      return true;
    }
    if (params_.cancellation != nullptr && params_.cancellation->cancelled()) {
      Fail(absl::CancelledError("the step was cancelled"));
      return true;
    }
    if (params_.deadline && std::chrono::steady_clock::now() > *params_.deadline) {
      Fail(absl::DeadlineExceededError("the step ran past its RunOptions deadline"));
      return true;
    }
    return false;
  }

  // Runs `first` (unless it already ran: a completed recv), then keeps running one newly ready
  // successor inline and hands the others to the pool, so a chain runs on one thread.
  void Process(int first, bool already_ran) {
    std::vector<int> local{first};
    bool skip_run = already_ran;
    while (!local.empty()) {
      int id = local.back();
      local.pop_back();
      const Item& item = exec_.items_[id];
      if (!skip_run && !ShouldStop()) {
        if (exec_.has_conditionals_ && IsDead(id)) {
          SkipDead(id);
        } else {
          absl::Status s = RunItem(item);
          if (!s.ok()) {
            Fail(s);
          } else {
            SendOutputs(item);
          }
        }
      }
      skip_run = false;
      bool kept_one = false;
      for (int c : item.consumers) {
        if (pending_[c].fetch_sub(1, std::memory_order_acq_rel) == 1) {
          if (!kept_one || params_.pool == nullptr) {
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

  void SendOutputs(const Item& item) {
    for (const Send& send : item.sends) {
      TensorValue v;
      if (send.output != kControlSlot) {
        const int slot = item.output_base + send.output;
        v = values_[slot];
        // Nobody here reads it: the receiver's copy is the only one kept.
        if (item.slot_uses[send.output] == 0 && exec_.options_.reuse_buffers) {
          values_[slot] = TensorValue();
        }
      }
      absl::Status s = rendezvous_->Send(exec_.parts_->edges[send.edge].key, std::move(v));
      if (!s.ok()) cancelled_.store(true, std::memory_order_release);
    }
  }

  bool SlotIsDead(const InputSource& src) const {
    return src.slot >= 0 && values_[src.slot].is_dead;
  }

  // A node on an untaken branch: one of its inputs or control producers is dead. A Merge is
  // dead only when every data input is (its control inputs only order it).
  bool IsDead(int id) const {
    const Item& item = exec_.items_[id];
    if (item.is_merge) {
      for (const InputSource& src : item.inputs) {
        if (!SlotIsDead(src)) return false;
      }
      return true;
    }
    for (const InputSource& src : item.inputs) {
      if (SlotIsDead(src)) return true;
    }
    for (int p : item.control_producers) {
      if (item_dead_[p]) return true;
    }
    return false;
  }

  // Skips a dead node: its outputs and control signal are dead (here and across partitions),
  // and the inputs it would have read are released.
  void SkipDead(int id) {
    const Item& item = exec_.items_[id];
    item_dead_[id] = 1;
    for (const InputSource& src : item.inputs) {
      if (src.slot >= 0) ReleaseUse(src.slot);
    }
    TensorValue dead;
    dead.is_dead = true;
    for (size_t o = 0; o < item.slot_uses.size(); ++o) values_[item.output_base + o] = dead;
    for (const Send& send : item.sends) {
      absl::Status s = rendezvous_->Send(exec_.parts_->edges[send.edge].key, dead);
      if (!s.ok()) cancelled_.store(true, std::memory_order_release);
    }
  }

  // One reader of `slot` is done with it; the last one frees it.
  void ReleaseUse(int slot) {
    if (!exec_.options_.reuse_buffers) return;
    if (uses_[slot].fetch_sub(1, std::memory_order_acq_rel) == 1) values_[slot] = TensorValue();
  }

  void Finish() {
    std::lock_guard<std::mutex> lock(done_mu_);
    if (--remaining_ == 0) done_cv_.notify_all();
  }

  absl::Status GatherInput(const Item& item, int i, TensorValue* out) {
    const InputSource& src = item.inputs[i];
    if (src.feed >= 0) {
      // The last read of a feed the caller handed over takes its buffer (see StepParams);
      // the others copy before they count down, so the move never races a copy.
      if (params_.owned_feeds == nullptr) {
        out->tensor = feeds_[src.feed];
      } else if (params_.feed_reads_left[src.feed].load(std::memory_order_acquire) == 1) {
        out->tensor = std::move((*params_.owned_feeds)[src.feed]);
        params_.feed_reads_left[src.feed].store(0, std::memory_order_relaxed);
      } else {
        out->tensor = feeds_[src.feed];
        params_.feed_reads_left[src.feed].fetch_sub(1, std::memory_order_acq_rel);
      }
      return absl::OkStatus();
    }
    TensorValue& v = values_[src.slot];
    if (v.is_dead) {  // only a Merge reads past a dead input
      out->is_dead = true;
      ReleaseUse(src.slot);
      return absl::OkStatus();
    }
    if (v.ref != nullptr && !src.wants_ref) {
      // Dereference a variable at the time of use, like TF1 ref edges.
      ReaderMutexLock lock(&v.ref->mu);
      out->tensor = v.ref->value;
    } else if (!exec_.options_.reuse_buffers) {
      *out = v;  // kept until the step ends
    } else if (uses_[src.slot].load(std::memory_order_acquire) == 1) {
      *out = std::move(v);  // last use: hand over ownership so the kernel may work in place
      uses_[src.slot].store(0, std::memory_order_relaxed);
    } else {
      *out = v;
      if (uses_[src.slot].fetch_sub(1, std::memory_order_acq_rel) == 1) v = TensorValue();
    }
    if (!src.wants_ref && !out->tensor.valid()) {
      Endpoint in = item.node->input(i);
      return absl::FailedPreconditionError(
          absl::StrCat("Attempting to use uninitialized value ", in.node->name(),
                       " (read by node '", item.node->name(), "'); run its initializer first"));
    }
    return absl::OkStatus();
  }

  absl::Status RunItem(const Item& item) {
    SetIntraOpThreads(params_.intra_op_threads);
    std::vector<TensorValue> inputs(item.inputs.size());
    for (size_t i = 0; i < item.inputs.size(); ++i) {
      RETURN_IF_ERROR(GatherInput(item, static_cast<int>(i), &inputs[i]));
    }
    std::vector<TensorValue> outputs(item.node->num_outputs());
    OpKernelContext ctx(*item.node, &inputs, &outputs, &resources_, exec_.device_,
                        item.kernel.get());
    if (timings_) {
      auto start = std::chrono::steady_clock::now();
      absl::Status s = item.kernel->Compute(ctx);
      timings_[&item - exec_.items_.data()].store(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                               start)
              .count(),
          std::memory_order_relaxed);
      RETURN_IF_ERROR(s);
    } else {
      RETURN_IF_ERROR(item.kernel->Compute(ctx));
    }
    inputs.clear();  // drop this step's last references before the outputs are published
    for (int o = 0; o < item.node->num_outputs(); ++o) {
      bool sent = false;
      for (const Send& s : item.sends) sent |= s.output == o;
      if (!outputs[o].tensor.valid() && outputs[o].ref == nullptr && !outputs[o].is_dead &&
          (item.slot_uses[o] > 0 || sent)) {
        return absl::InternalError(absl::StrCat("node '", item.node->name(), "' (", item.node->op(),
                                                ") did not set output ", o));
      }
      values_[item.output_base + o] = std::move(outputs[o]);
    }
    executed_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  const Executor& exec_;
  const std::vector<Tensor>& feeds_;
  const StepParams& params_;
  Rendezvous* rendezvous_;
  StepCounters counters_;
  StepResources resources_;  // a per-step copy pointing at counters_
  std::vector<TensorValue> values_;
  std::vector<std::atomic<int>> uses_;
  std::unique_ptr<std::atomic<int64_t>[]> timings_;  // per item, when timing was asked for
  std::vector<std::atomic<int>> pending_;
  // Per item (with conditionals only): 1 once it was skipped as dead. Written before the
  // pending counts of its consumers drop, so they read it after their own acquire.
  std::vector<char> item_dead_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> executed_{0};
  std::mutex status_mu_;
  absl::Status status_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  int64_t remaining_ = 0;
};

absl::StatusOr<std::unique_ptr<PartitionedExecutor>> PartitionedExecutor::Build(
    const Graph& graph, const ExecutorSpec& spec, const DeviceLookup& devices,
    StatefulKernelCache* cache, const ExecutorOptions& options) {
  auto exec = std::unique_ptr<PartitionedExecutor>(new PartitionedExecutor);
  ASSIGN_OR_RETURN(exec->parts_, PartitionGraph(graph, spec));
  for (size_t p = 0; p < exec->parts_.partitions.size(); ++p) {
    const std::string& name = exec->parts_.partitions[p].device;
    Device* device = devices ? devices(name) : nullptr;
    if (devices && device == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("nodes are assigned to '", name, "', which is not a device of the session"));
    }
    ASSIGN_OR_RETURN(
        std::unique_ptr<Executor> e,
        Executor::Build(graph, exec->parts_, static_cast<int>(p), spec, device, cache, options));
    exec->executors_.push_back(std::move(e));
  }
  for (size_t i = 0; i < spec.fetches.size(); ++i) {
    int feed = -1;
    for (size_t f = 0; f < spec.feeds.size(); ++f) {
      if (spec.feeds[f].node == spec.fetches[i].node &&
          spec.feeds[f].index == spec.fetches[i].index) {
        feed = static_cast<int>(f);
      }
    }
    exec->fed_fetch_.push_back(feed);
  }
  exec->feed_reads_.assign(spec.feeds.size(), 0);
  for (const auto& e : exec->executors_) {
    for (size_t f = 0; f < e->feed_reads_.size(); ++f) exec->feed_reads_[f] += e->feed_reads_[f];
  }
  return exec;
}

int PartitionedExecutor::num_nodes() const {
  int n = 0;
  for (const auto& e : executors_) n += e->num_nodes();
  return n;
}

absl::StatusOr<std::vector<Tensor>> PartitionedExecutor::Run(const std::vector<Tensor>& feeds,
                                                             const StepParams& params,
                                                             StepStats* stats) const {
  std::vector<Tensor> fetched(fed_fetch_.size());
  for (size_t i = 0; i < fed_fetch_.size(); ++i) {
    if (fed_fetch_[i] >= 0) fetched[i] = feeds[fed_fetch_[i]];
  }
  // Checks the accelerator kernels deferred to the step's end (nothing allocated unless one
  // is added). They own pinned host slots a queued copy may still write, so whatever way Run
  // leaves, the devices are waited for before `checks` is destroyed.
  DeferredChecks checks;
  StepParams step_params = params;
  step_params.deferred_checks = &checks;
  std::unique_ptr<std::atomic<int>[]> feed_reads_left;
  if (params.owned_feeds != nullptr) {
    if (params.owned_feeds != &feeds) {
      return absl::InternalError("StepParams::owned_feeds must be the feeds Run is given");
    }
    feed_reads_left = std::make_unique<std::atomic<int>[]>(feeds.size());
    for (size_t f = 0; f < feeds.size(); ++f) {
      feed_reads_left[f].store(f < feed_reads_.size() ? feed_reads_[f] : 0,
                               std::memory_order_relaxed);
    }
    step_params.feed_reads_left = feed_reads_left.get();
  }
  struct DeviceSync {
    const std::vector<std::unique_ptr<Executor>>& executors;
    const DeferredChecks& checks;
    bool done = false;
    absl::Status Run() {
      done = true;
      absl::Status first;
      for (const auto& e : executors) {
        Device* device = e->device();
        if (device != nullptr && !device->allocator()->host_accessible()) {
          absl::Status s = device->Sync();
          if (first.ok() && !s.ok()) first = s;
        }
      }
      return first;
    }
    ~DeviceSync() {
      if (!done && !checks.empty()) Run().IgnoreError();
    }
  } device_sync{executors_, checks};
  {
    Rendezvous rendezvous;
    const bool timings = stats != nullptr && stats->collect_node_timings;
    std::vector<std::unique_ptr<Executor::StepState>> states;
    for (const auto& e : executors_) {
      states.push_back(
          std::make_unique<Executor::StepState>(*e, feeds, step_params, &rendezvous, timings));
    }
    // Every partition starts at once; the caller's thread takes the first one's first chain.
    for (size_t p = states.size(); p-- > 0;) states[p]->Start(/*run_first_here=*/p == 0);
    absl::Status status;
    for (auto& s : states) {
      absl::Status one = s->Wait(stats);
      if (status.ok() && !one.ok()) status = one;
    }
    // The status that aborted the step is the rendezvous' first one.
    if (rendezvous.aborted()) status = rendezvous.status();
    RETURN_IF_ERROR(status);
    for (auto& s : states) RETURN_IF_ERROR(s->CollectFetches(&fetched));
  }
  // Once the step's own references are gone, a fetched buffer still shared belongs to a
  // variable or to the caller's feed. Variables copy on write, but the caller may write its
  // feed, and a result aliasing it would change: hand back a copy. (Holding the buffer here
  // also makes a concurrent variable update copy instead of writing in place.) Device memory
  // is copied to the host.
  for (size_t i = 0; i < fetched.size(); ++i) {
    Tensor& t = fetched[i];
    if (!t.valid()) continue;
    const int p = parts_.fetch_partition[i];
    Device* device = p >= 0 ? executors_[p]->device() : nullptr;
    if (t.allocator() != nullptr && !t.allocator()->host_accessible()) {
      ASSIGN_OR_RETURN(t, CopyTensor(t, Device::DefaultCpu(), device));
    } else if (!t.RefCountIsOne() && params.copy_shared_fetches) {
      // Host memory here, even from an accelerator's partition (a HostMemory output).
      const bool host_device = device != nullptr && device->allocator()->host_accessible();
      ASSIGN_OR_RETURN(t, t.Clone(host_device ? device->allocator() : nullptr));
    }
  }
  // Like TF's sync-on-finish: a step ends when its accelerator work has, so a run with only
  // targets (a train op) reports a kernel fault itself and its wall time is honest. Waits for
  // this step's streams once, never between nodes.
  RETURN_IF_ERROR(device_sync.Run());
  // Only now are the deferred checks' results on the host: a failing one fails the step.
  if (!checks.empty()) RETURN_IF_ERROR(checks.RunAll());
  return fetched;
}

}  // namespace quiver
