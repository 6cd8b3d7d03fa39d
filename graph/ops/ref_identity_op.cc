// RefIdentity, with TensorFlow's signature from ops/array_ops.cc: forwards a variable reference
// without reading the variable (an uninitialized variable passes through). The import-time
// resource-variable lowering writes it for an Identity of a conditionally switched handle
// (graph/resource_variable_lowering.h), which must stay a node of its own: it is dead exactly
// when its branch is not taken.
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace quiver {

QUIVER_REGISTER_OP("RefIdentity")
    .Input("input: Ref(T)")
    .Output("output: Ref(T)")
    .Attr("T: type")
    .SetShapeFn(shape_fn::UnchangedShape);

}  // namespace quiver
