#include "passes/copy_insertion.h"

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"
#include "passes/placer.h"

namespace quiver {
namespace {

// (producer id, output, destination device): the report's DupRecvKey without the host-memory
// bit, which only matters for non-CPU producers feeding host-memory args.
using TransferKey = std::tuple<int, int, std::string>;

absl::StatusOr<const DeviceInfo*> DeviceOf(const Node& n, const DeviceSet& devices) {
  const DeviceInfo* d = devices.Find(n.assigned_device());
  if (d == nullptr || d->name != n.assigned_device()) {
    return absl::FailedPreconditionError(
        absl::StrCat("copy insertion: node '", n.name(), "' (", n.op(), ") is assigned to '",
                     n.assigned_device(), "', which is not a device of ", devices.DebugString(),
                     "; run placement first"));
  }
  return d;
}

// Looks through transfers to the tensor's real producer, so copies never chain.
Endpoint Producer(Endpoint e) {
  while (e.node->op() == kTransferOp) e = e.node->input(0);
  return e;
}

}  // namespace

const DeviceInfo* TransferTarget(const Node& consumer, int i, const Endpoint& src,
                                 const DeviceInfo& src_dev, const DeviceInfo& dst,
                                 const DeviceInfo& host) {
  // An accelerator kernel's HostMemory output (Shape, Size, Rank on a GPU) is allocated in
  // host memory (OpKernelContext::output_allocator): a CPU reads it as it is.
  const bool host_output =
      !src_dev.is_cpu() && IsHostMemoryOutput(*src.node, src.index, src_dev.type);
  const bool in_host_memory = src_dev.is_cpu() || host_output;
  // A host-memory arg is read from host memory, whoever produced it (any CPU's memory will
  // do: virtual CPUs share the host).
  if (IsHostMemoryInput(consumer, i, dst)) {
    if (in_host_memory) return nullptr;
    if (!dst.is_cpu()) return &host;
  }
  if (src_dev.name == dst.name) return nullptr;
  if (host_output && dst.is_cpu()) return nullptr;
  return &dst;
}

absl::StatusOr<CopyInsertionStats> InsertCopies(Graph* graph, const DeviceSet& devices) {
  CopyInsertionStats stats;
  std::vector<Node*> nodes = graph->nodes();  // snapshot: transfers are added while iterating
  std::map<TransferKey, Node*> transfers;
  for (Node* n : nodes) {
    if (n->op() != kTransferOp) continue;
    Endpoint src = Producer(n->input(0));
    transfers.emplace(TransferKey{src.node->id(), src.index, n->assigned_device()}, n);
  }

  for (Node* n : nodes) {
    if (n->op() == kTransferOp) continue;
    ASSIGN_OR_RETURN(const DeviceInfo* dst, DeviceOf(*n, devices));
    for (int i = 0; i < n->num_inputs(); ++i) {
      if (n->input_is_ref(i)) continue;  // a variable reference cannot be copied
      Endpoint direct = n->input(i);
      Endpoint src = Producer(direct);
      ASSIGN_OR_RETURN(const DeviceInfo* src_dev, DeviceOf(*src.node, devices));
      Endpoint want = src;
      if (const DeviceInfo* to = TransferTarget(*n, i, src, *src_dev, *dst, devices.host())) {
        TransferKey key{src.node->id(), src.index, to->name};
        auto it = transfers.find(key);
        if (it == transfers.end()) {
          DataType dtype = BaseType(src.node->output_type(src.index));
          NodeSpec spec;
          spec.name = graph->UniqueName(
              absl::StrCat(src.node->name(), "/_transfer_to_", to->type, "_", to->id));
          spec.op = kTransferOp;
          spec.attrs = {{"T", MakeAttr(dtype)},
                        {"src_device", MakeAttr(src_dev->name)},
                        {"dst_device", MakeAttr(to->name)}};
          spec.device = to->name;
          spec.inputs = {src};
          ASSIGN_OR_RETURN(Node * t, graph->AddNode(std::move(spec)));
          t->set_assigned_device(to->name);
          t->set_output_shapes({src.node->output_shape(src.index)});
          it = transfers.emplace(key, t).first;
          stats.transfers_inserted++;
        }
        want = {it->second, 0};
      }
      if (want == direct) continue;
      RETURN_IF_ERROR(graph->UpdateInput(n, i, want));
      stats.edges_rewired++;
    }
  }
  return stats;
}

}  // namespace quiver
