#include "passes/placer.h"

#include <algorithm>
#include <iostream>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devices/kernel.h"
#include "graph/status_macros.h"

namespace quiver {

const char* PlacementReasonName(PlacementReason reason) {
  switch (reason) {
    case PlacementReason::kPreassigned:
      return "preassigned";
    case PlacementReason::kExplicit:
      return "explicit";
    case PlacementReason::kColocation:
      return "colocation";
    case PlacementReason::kSoftPlacement:
      return "soft placement";
    case PlacementReason::kGenerator:
      return "generator";
    case PlacementReason::kHost:
      return "host";
    case PlacementReason::kFollowInputs:
      return "follows inputs";
    case PlacementReason::kDefault:
      return "default";
  }
  return "unknown";
}

namespace {

class UnionFind {
 public:
  explicit UnionFind(int n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  int Find(int x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  // The smaller id becomes the root, so a group's root is its earliest node.
  void Union(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  std::vector<int> parent_;
};

struct Group {
  std::vector<Node*> members;
  std::vector<std::string> links;             // why the members are together, for messages
  ParsedDeviceName spec;                      // every member's request merged
  const Node* requester = nullptr;            // first member with a request
  std::string soft_explanation;               // set when the request had to be relaxed
  std::vector<std::string> types;             // device types with a kernel for every member
  std::vector<const DeviceInfo*> candidates;  // in priority order
  const DeviceInfo* assigned = nullptr;
  const Node* assigned_by = nullptr;  // the member whose placement fixed the group
};

std::string MemberList(const Group& g) {
  std::vector<std::string> names;
  for (const Node* n : g.members)
    names.push_back(absl::StrCat("'", n->name(), "' (", n->op(), ")"));
  return absl::StrJoin(names, ", ");
}

std::string KernelTypesText(const Group& g) {
  std::string types = g.types.empty() ? "none" : absl::StrJoin(g.types, ", ");
  if (g.members.size() == 1) {
    return absl::StrCat("devices with a kernel for op ", g.members[0]->op(), ": ", types);
  }
  return absl::StrCat("device types with a kernel for every op of the colocation group [",
                      MemberList(g), "]: ", types);
}

// int32 tensors, and bool scalars: a conditional's or a loop's predicate, which Switch reads
// on the host (bool tensors of other shapes are masks, work for the device).
bool IsBookkeepingValue(DataType dtype, const TensorShape& shape) {
  return dtype == DT_INT32 || (dtype == DT_BOOL && shape.rank() == 0);
}

// Shape metadata and int32/predicate-only arithmetic: cheap, and their consumers read them on
// the host (HostMemory args), so running them elsewhere would only add copies.
bool IsHostBookkeeping(const Node& n) {
  static const char* kMetadataOps[] = {"Shape", "ShapeN", "Size", "Rank", "BroadcastGradientArgs"};
  for (const char* op : kMetadataOps) {
    if (n.op() == op) return true;
  }
  if (n.num_inputs() == 0 || n.num_outputs() == 0) return false;
  for (int i = 0; i < n.num_inputs(); ++i) {
    const Endpoint in = n.input(i);
    if (!IsBookkeepingValue(n.input_type(i), in.node->output_shape(in.index)) ||
        n.input_is_ref(i)) {
      return false;
    }
  }
  for (int i = 0; i < n.num_outputs(); ++i) {
    if (!IsBookkeepingValue(n.output_type(i), n.output_shape(i))) return false;
  }
  return true;
}

// TF's generator heuristic: placed after its consumers, on their device.
bool IsGenerator(const Node& n) {
  return n.num_inputs() == 0 && n.num_outputs() == 1 && !n.output_is_ref(0);
}

bool Contains(const std::vector<const DeviceInfo*>& v, const DeviceInfo* d) {
  return std::find(v.begin(), v.end(), d) != v.end();
}

}  // namespace

bool IsHostMemoryInput(const Node& node, int index, const DeviceInfo& device) {
  const KernelDef* def = KernelRegistry::Global().Find(node, device.type);
  if (def == nullptr || def->host_memory_args.empty()) return false;
  std::string arg = node.InputArgName(index);
  return std::find(def->host_memory_args.begin(), def->host_memory_args.end(), arg) !=
         def->host_memory_args.end();
}

absl::StatusOr<Placement> PlaceGraph(Graph* graph, const DeviceSet& devices,
                                     const PlacerOptions& options) {
  ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
  const int num_ids = graph->num_node_ids();
  const bool soft = options.allow_soft_placement;

  // 1. Requests.
  std::vector<ParsedDeviceName> requests(num_ids);
  for (Node* n : order) {
    auto parsed = ParseDeviceName(n->requested_device());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("Cannot assign a device for operation '",
                                                     n->name(), "' (", n->op(),
                                                     "): ", parsed.status().message()));
    }
    requests[n->id()] = *parsed;
  }

  // 2. Colocation groups: union-find over `_class` loc:@ attrs and ref edges.
  UnionFind uf(num_ids);
  std::vector<std::pair<int, std::string>> links;  // (node id, why) for messages
  for (Node* n : order) {
    if (n->attrs().count("_class")) {
      auto classes = n->GetAttr<std::vector<std::string>>("_class");
      if (classes.ok()) {
        for (const std::string& c : *classes) {
          if (!absl::StartsWith(c, "loc:@")) continue;
          // A missing target (pruned away) constrains nothing, as in TF's import.
          if (Node* other = graph->FindNode(c.substr(5))) {
            uf.Union(n->id(), other->id());
            links.emplace_back(n->id(), absl::StrCat("'", n->name(), "' has _class ", c));
          }
        }
      }
    }
    for (int i = 0; i < n->num_inputs(); ++i) {
      Endpoint in = n->input(i);
      // A kernel updating a variable in place must run where the variable lives; the
      // variable's read Identity goes along (TF colocates it with colocate_with).
      bool ref_edge =
          n->input_is_ref(i) || (n->op() == "Identity" && in.node->output_is_ref(in.index));
      if (ref_edge) {
        uf.Union(n->id(), in.node->id());
        links.emplace_back(n->id(),
                           absl::StrCat("'", n->name(), "' takes the ref '", in.TensorName(), "'"));
      }
    }
  }
  std::vector<Group> groups(num_ids);  // indexed by root id
  for (Node* n : order) groups[uf.Find(n->id())].members.push_back(n);
  for (const auto& [id, why] : links) groups[uf.Find(id)].links.push_back(why);

  // 3. Per group: merged request, kernel types, candidate devices.
  for (Node* n : order) {
    if (uf.Find(n->id()) != n->id()) continue;  // visit each group once, at its root
    Group& g = groups[n->id()];
    const std::string joined =
        g.links.empty() ? "" : absl::StrCat(" (", absl::StrJoin(g.links, "; "), ")");
    for (Node* m : g.members) {
      const ParsedDeviceName& req = requests[m->id()];
      if (req.empty()) continue;
      if (g.requester == nullptr) {
        g.spec = req;
        g.requester = m;
        continue;
      }
      ParsedDeviceName merged = g.spec;
      absl::Status s = MergeDeviceNames(&merged, req, /*allow_soft=*/false);
      if (!s.ok()) {
        std::string conflict =
            absl::StrCat("'", g.requester->name(), "' is assigned to ",
                         g.requester->requested_device(), " and '", m->name(), "' to ",
                         m->requested_device(), " but they must be colocated", joined);
        if (!soft || !MergeDeviceNames(&merged, req, /*allow_soft=*/true).ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "Cannot colocate nodes '", g.requester->name(), "' and '", m->name(), "': ", conflict,
              soft ? "" : ". Set allow_soft_placement to resolve the conflict"));
        }
        g.soft_explanation = absl::StrCat("soft placement: conflicting requests: ", conflict);
      }
      g.spec = merged;
    }
    // Device types that have a kernel for every member, in the set's priority order.
    for (const DeviceInfo& d : devices.devices()) {
      if (std::find(g.types.begin(), g.types.end(), d.type) != g.types.end()) continue;
      bool all = std::all_of(g.members.begin(), g.members.end(), [&](const Node* m) {
        return KernelRegistry::Global().Find(*m, d.type) != nullptr;
      });
      if (all) g.types.push_back(d.type);
    }
    auto has_kernel = [&](const DeviceInfo* d) {
      return std::find(g.types.begin(), g.types.end(), d->type) != g.types.end();
    };
    for (const DeviceInfo* d : devices.Matching(g.spec)) {
      if (has_kernel(d)) g.candidates.push_back(d);
    }
    if (!g.candidates.empty()) continue;

    const Node* who = g.requester != nullptr ? g.requester : g.members[0];
    std::string group_text =
        g.members.size() > 1 ? absl::StrCat(" (colocation group: ", MemberList(g), ")") : "";
    if (g.types.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Cannot assign a device for operation '", who->name(), "' (", who->op(),
                       "): no device in ", devices.DebugString(), " has a kernel for it",
                       group_text, "; ", KernelTypesText(g)));
    }
    const bool device_exists = !devices.Matching(g.spec).empty();
    std::string requested = g.requester != nullptr ? g.requester->requested_device() : "";
    if (!soft) {
      std::string why = device_exists
                            ? absl::StrCat("but no matching device has a kernel for it")
                            : absl::StrCat("but available devices are ", devices.DebugString());
      return absl::InvalidArgumentError(absl::StrCat(
          "Cannot assign a device for operation '", who->name(), "' (", who->op(),
          "): it was explicitly assigned to ", requested, " ", why, group_text, "; ",
          KernelTypesText(g), ". Set allow_soft_placement to fall back to a device with a kernel"));
    }
    // Soft placement keeps job/replica/task (other processes) and drops type and id.
    ParsedDeviceName relaxed = g.spec;
    relaxed.has_type = relaxed.has_id = false;
    for (const DeviceInfo* d : devices.Matching(relaxed)) {
      if (has_kernel(d)) g.candidates.push_back(d);
    }
    if (g.candidates.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Cannot assign a device for operation '", who->name(), "' (", who->op(),
                       "): even with soft placement no device matches ",
                       DeviceNameToString(relaxed), group_text, "; ", KernelTypesText(g)));
    }
    if (g.soft_explanation.empty()) {
      g.soft_explanation =
          device_exists
              ? absl::StrCat("soft placement: requested ", requested, " but no kernel for ",
                             who->op(), " there; ", KernelTypesText(g))
              : absl::StrCat("soft placement: requested ", requested, " but no such device");
    }
  }

  // 4. Assign, in topological order so that inputs are placed before their consumers.
  Placement result;
  result.nodes.resize(num_ids);
  auto set = [&](Node* n, const DeviceInfo* d, PlacementReason reason, std::string text) {
    n->set_assigned_device(d->name);
    result.nodes[n->id()] = {d->name, reason, std::move(text)};
  };
  // Default heuristics for a node whose group has no request and no placed member yet.
  auto heuristic = [&](Node* n, const Group& g) {
    const DeviceInfo& host = devices.host();
    if (IsHostBookkeeping(*n) && Contains(g.candidates, &host)) {
      set(n, &host, PlacementReason::kHost, "host: shape/int32 bookkeeping");
      return;
    }
    // Count the data inputs per device; bookkeeping producers on the host do not vote (a
    // Reshape follows its tensor, not its shape).
    std::vector<std::pair<const DeviceInfo*, int>> votes;
    std::string first_input;
    for (int i = 0; i < n->num_inputs(); ++i) {
      const Node* src = n->input(i).node;
      const NodePlacement& p = result.nodes[src->id()];
      if (p.device.empty() || p.reason == PlacementReason::kHost) continue;
      const DeviceInfo* d = devices.Find(p.device);
      if (d == nullptr || !Contains(g.candidates, d)) continue;
      auto it = std::find_if(votes.begin(), votes.end(), [&](auto& v) { return v.first == d; });
      if (it == votes.end()) {
        votes.emplace_back(d, 1);
        if (first_input.empty()) first_input = src->name();
      } else {
        ++it->second;
      }
    }
    if (!votes.empty()) {
      auto best = std::max_element(votes.begin(), votes.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
      set(n, best->first, PlacementReason::kFollowInputs,
          absl::StrCat("follows its inputs on ", best->first->short_name(),
                       votes.size() > 1 ? " (most inputs there)" : "", " e.g. '", first_input,
                       "'"));
      return;
    }
    set(n, g.candidates[0], PlacementReason::kDefault,
        absl::StrCat("default: highest-priority device with a kernel (",
                     absl::StrJoin(g.types, ", "), ")"));
  };

  std::vector<Node*> deferred;
  for (Node* n : order) {
    Group& g = groups[uf.Find(n->id())];
    const bool own_request = !requests[n->id()].empty();
    if (g.assigned == nullptr && !n->assigned_device().empty()) {
      const DeviceInfo* d = devices.Find(n->assigned_device());
      if (d != nullptr && d->name == n->assigned_device() && Contains(g.candidates, d)) {
        set(n, d, PlacementReason::kPreassigned, "already assigned before placement");
        g.assigned = d;
        g.assigned_by = n;
        continue;
      }
    }
    if (g.assigned == nullptr && g.requester != nullptr) {
      g.assigned = g.candidates[0];
      g.assigned_by = g.requester;
    }
    if (g.assigned != nullptr) {
      if (!g.soft_explanation.empty() && own_request) {
        set(n, g.assigned, PlacementReason::kSoftPlacement, g.soft_explanation);
      } else if (own_request && g.members.size() == 1) {
        set(n, g.assigned, PlacementReason::kExplicit,
            absl::StrCat("explicit: requested ", n->requested_device()));
      } else if (own_request && g.assigned_by == n) {
        set(n, g.assigned, PlacementReason::kExplicit,
            absl::StrCat("explicit: requested ", n->requested_device(),
                         " (pulls its colocation group)"));
      } else {
        std::string why = g.assigned_by == nullptr || g.assigned_by == n
                              ? ""
                              : absl::StrCat(" '", g.assigned_by->name(), "'");
        set(n, g.assigned, PlacementReason::kColocation,
            absl::StrCat(
                "colocation: with", why, " in group [", MemberList(g), "]",
                g.requester ? absl::StrCat(" requested ", g.requester->requested_device()) : "",
                g.soft_explanation.empty() ? "" : absl::StrCat("; ", g.soft_explanation)));
      }
      continue;
    }
    if (g.members.size() == 1 && IsGenerator(*n)) {
      deferred.push_back(n);
      continue;
    }
    heuristic(n, g);
    if (g.members.size() > 1) {
      g.assigned = devices.Find(n->assigned_device());
      g.assigned_by = n;
    }
  }

  // 5. Generators: with their consumers when they all agree.
  const DeviceInfo& host = devices.host();
  for (Node* n : deferred) {
    const Group& g = groups[uf.Find(n->id())];
    const DeviceInfo* common = nullptr;
    bool agree = true, all_host_args = true, any = false;
    for (const Edge* e : n->out_edges()) {
      if (e->IsControl()) continue;
      const DeviceInfo* d = devices.Find(e->dst->assigned_device());
      if (d == nullptr) continue;
      any = true;
      if (common != nullptr && common != d) agree = false;
      common = d;
      if (!IsHostMemoryInput(*e->dst, e->dst_input, *d)) all_host_args = false;
    }
    // An int32 constant read only as a host-memory arg (a Reshape's shape) stays on the host.
    if (any && all_host_args && n->output_type(0) == DT_INT32 && Contains(g.candidates, &host)) {
      set(n, &host, PlacementReason::kHost,
          "host: shape/int32 bookkeeping (read only as a host-memory argument)");
    } else if (any && agree && Contains(g.candidates, common)) {
      set(n, common, PlacementReason::kGenerator,
          absl::StrCat("generator: placed with its consumers on ", common->short_name()));
    } else {
      set(n, g.candidates[0], PlacementReason::kDefault,
          absl::StrCat(any ? "default: consumers disagree; " : "default: no consumers; ",
                       "highest-priority device with a kernel"));
    }
  }

  if (options.log_device_placement) {
    std::ostream& log = options.log != nullptr ? *options.log : std::cerr;
    for (Node* n : graph->nodes()) {
      log << n->name() << ": (" << n->op() << "): " << n->assigned_device() << "\n";
    }
  }
  return result;
}

}  // namespace quiver
