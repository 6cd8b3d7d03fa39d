// "_While", the one loop node both of TF's loop forms become at import (graph/while_loop.h).
// Stateful: a loop is never constant-folded or merged with another (its body may be).
#include <string>

#include "graph/attr_value.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// TF2 declares each loop variable's shape (output_shapes); v1 loops do not: unknown then, as
// a variable may change shape from one iteration to the next.
absl::Status WhileShape(InferenceContext& c) {
  auto it = c.attrs().find("output_shapes");
  const bool declared = it != c.attrs().end() && it->second.has_list() &&
                        it->second.list().shape_size() == c.num_outputs();
  for (int i = 0; i < c.num_outputs(); ++i) {
    c.set_output(
        i, declared ? ShapeFromProto(it->second.list().shape(i)) : TensorShape::UnknownRank());
  }
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("_While")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: list(type)")
    .Attr("cond_graph: string")
    .Attr("body_graph: string")
    .Attr("output_shapes: list(shape) = []")
    .SetIsStateful()
    .SetShapeFn(WhileShape);

}  // namespace quiver
