// KernelRegistry lookups with type constraints on more than one attr (the GPU Cast constrains
// SrcT and DstT): a node matches a KernelDef only when every constrained attr is allowed.
#include <catch2/catch.hpp>

#include "devices/kernel.h"
#include "tests/devices/kernel_test_util.h"

namespace quiver {
namespace {

constexpr char kTestDevice[] = "KERNEL_REGISTRY_TEST";

class NothingOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext&) const override { return absl::OkStatus(); }
};

const bool registered = [] {
  KernelDef def = KernelDef("Cast", kTestDevice)
                      .TypeConstraint("SrcT", {DT_FLOAT, DT_INT32})
                      .TypeConstraint("DstT", {DT_FLOAT, DT_INT64});
  def.factory = [](OpKernelConstruction&) -> KernelOrError {
    return std::unique_ptr<OpKernel>(new NothingOp);
  };
  KernelRegistry::Global().Register(std::move(def));
  return true;
}();

bool HasKernel(DataType from, DataType to) { return testing::HasCastKernel(kTestDevice, from, to); }

TEST_CASE("KernelRegistry: every type constraint of a KernelDef must hold", "[devices]") {
  REQUIRE(registered);
  CHECK(HasKernel(DT_FLOAT, DT_INT64));
  CHECK(HasKernel(DT_INT32, DT_FLOAT));
  CHECK_FALSE(HasKernel(DT_DOUBLE, DT_FLOAT));  // SrcT not allowed
  CHECK_FALSE(HasKernel(DT_FLOAT, DT_INT32));   // DstT not allowed
  CHECK_FALSE(HasKernel(DT_INT64, DT_DOUBLE));  // neither
}

}  // namespace
}  // namespace quiver
