// Internal ops the runtime inserts; never written by users and never exported.
#include "graph/op_registry.h"

namespace quiver {
namespace {

// Moves one tensor from src_device's memory to dst_device's (copy insertion puts one on the
// destination device per (producer, output, destination)). The attrs only document the route:
// the kernel runs on the destination.
QUIVER_REGISTER_OP("_Transfer")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("src_device: string")
    .Attr("dst_device: string")
    .SetShapeFn(shape_fn::UnchangedShape);

}  // namespace
}  // namespace quiver
