// TF2 resource-variable graphs: the import-time lowering to ref variables
// (graph/resource_variable_lowering.h), the SelectV2 / BroadcastTo / DynamicStitch kernels TF 2.x
// gradient graphs use, and end-to-end training of TensorFlow-written graphs (tests/data/tf2,
// written by tools/fixtures/make_tf2_resource_graphs.py) compared with TensorFlow's own losses
// and weights.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "graph/attr_value.h"
#include "graph/builder.h"
#include "graph/graph.h"
#include "graph/graphdef.h"
#include "graph/npy.h"
#include "graph/resource_variable_lowering.h"
#include "graph/status_macros.h"
#include "runtime/session.h"

namespace quiver {
namespace {

tensorflow::GraphDef Parse(const std::string& text) {
  auto gd = ParseGraphDef(text, GraphDefFormat::kText, "test");
  REQUIRE(gd.ok());
  return *std::move(gd);
}

// Imports `text`; returns the import status.
absl::Status ImportText(const std::string& text, Graph* graph) {
  return ImportGraphDef(Parse(text), graph);
}

std::vector<float> Floats(const Tensor& t) {
  REQUIRE(t.dtype() == DT_FLOAT);
  return std::vector<float>(t.data<float>(), t.data<float>() + t.num_elements());
}

// A float variable "v" of shape [2] with an initializer, a read through a resource Identity, an
// increment, and an initialization check: what tf.Variable writes in a TF2 graph.
constexpr char kSmallResourceGraph[] = R"pb(
  node {
    name: "v"
    op: "VarHandleOp"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "shape"
      value { shape { dim { size: 2 } } }
    }
    attr {
      key: "shared_name"
      value { s: "v" }
    }
    attr {
      key: "container"
      value { s: "" }
    }
    attr {
      key: "debug_name"
      value { s: "v/" }
    }
    attr {
      key: "allowed_devices"
      value { list {} }
    }
    attr {
      key: "_class"
      value { list { s: "loc:@v" } }
    }
  }
  node {
    name: "v_alias"
    op: "Identity"
    input: "v"
    attr {
      key: "T"
      value { type: DT_RESOURCE }
    }
  }
  node {
    name: "init_value"
    op: "Const"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "value"
      value {
        tensor {
          dtype: DT_FLOAT
          tensor_shape { dim { size: 2 } }
          float_val: 1
          float_val: 2
        }
      }
    }
  }
  node {
    name: "one"
    op: "Const"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "value"
      value {
        tensor {
          dtype: DT_FLOAT
          tensor_shape { dim { size: 2 } }
          float_val: 10
          float_val: 20
        }
      }
    }
  }
  node {
    name: "v/Assign"
    op: "AssignVariableOp"
    input: "v"
    input: "init_value"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "validate_shape"
      value { b: false }
    }
  }
  node { name: "init" op: "NoOp" input: "^v/Assign" }
  node { name: "v/IsInitialized" op: "VarIsInitializedOp" input: "v" }
  node {
    name: "add"
    op: "AssignAddVariableOp"
    input: "v_alias"
    input: "one"
    input: "^v_alias"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "sub"
    op: "AssignSubVariableOp"
    input: "v"
    input: "one"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "read"
    op: "ReadVariableOp"
    input: "v_alias"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "twice"
    op: "AddV2"
    input: "read"
    input: "read"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
  }
  versions { producer: 1994 }
)pb";

TEST_CASE("Resource variable ops are lowered to ref variable ops at import", "[resource_vars]") {
  Graph g;
  REQUIRE(ImportText(kSmallResourceGraph, &g).ok());
  CHECK(g.FindNode("v")->op() == "VariableV2");
  CHECK(g.FindNode("v_alias") == nullptr);  // resource Identity: dropped
  CHECK(g.FindNode("v/Assign")->op() == "Assign");
  CHECK(g.FindNode("v/IsInitialized")->op() == "IsVariableInitialized");
  CHECK(g.FindNode("add")->op() == "AssignAdd");
  CHECK(g.FindNode("sub")->op() == "AssignSub");
  CHECK(g.FindNode("read")->op() == "Identity");
  CHECK(g.FindNode("read")->attrs().at("T").type() == tensorflow::DT_FLOAT);
  CHECK(g.FindNode("v/Assign")->attrs().at("validate_shape").b());  // the handle's shape is known
  CHECK(g.FindNode("v")->attrs().count("debug_name") == 0);
  CHECK(g.FindNode("v")->attrs().count("_class") == 1);
  // The control input on the dropped alias now names the variable.
  const Node* add = g.FindNode("add");
  REQUIRE(add->control_in_edges().size() == 1);
  CHECK(add->control_in_edges()[0]->src->name() == "v");

  auto s = Session::Create(g);
  REQUIRE(s.ok());
  auto before = (*s)->Run({}, {"v/IsInitialized"});
  REQUIRE(before.ok());
  CHECK_FALSE((*before)[0].data<bool>()[0]);
  REQUIRE((*s)->Run({}, {}, {"init"}).ok());
  auto r = (*s)->Run({}, {"v/IsInitialized", "read", "twice"});
  REQUIRE(r.ok());
  CHECK((*r)[0].data<bool>()[0]);
  CHECK(Floats((*r)[1]) == std::vector<float>{1, 2});
  CHECK(Floats((*r)[2]) == std::vector<float>{2, 4});
  REQUIRE((*s)->Run({}, {}, {"add"}).ok());
  REQUIRE((*s)->Run({}, {}, {"add"}).ok());
  REQUIRE((*s)->Run({}, {}, {"sub"}).ok());
  r = (*s)->Run({}, {"read"});
  REQUIRE(r.ok());
  CHECK(Floats((*r)[0]) == std::vector<float>{11, 22});
}

TEST_CASE("ResourceGather (Keras Embedding) lowers to GatherV2 of the variable's value",
          "[resource_vars]") {
  // v = [1, 2] after init; gather([1, 0, 1]) = [2, 1, 2] (through the resource Identity).
  const std::string text = std::string(kSmallResourceGraph) +
                           "node { name: 'ids' op: 'Const' "
                           "attr { key: 'dtype' value { type: DT_INT64 } } "
                           "attr { key: 'value' value { tensor { dtype: DT_INT64 "
                           "tensor_shape { dim { size: 3 } } int64_val: 1 int64_val: 0 "
                           "int64_val: 1 } } } } "
                           "node { name: 'gather' op: 'ResourceGather' input: 'v_alias' "
                           "input: 'ids' attr { key: 'dtype' value { type: DT_FLOAT } } "
                           "attr { key: 'Tindices' value { type: DT_INT64 } } "
                           "attr { key: 'batch_dims' value { i: 0 } } "
                           "attr { key: 'validate_indices' value { b: true } } }";
  Graph g;
  REQUIRE(ImportText(text, &g).ok());
  CHECK(g.FindNode("gather")->op() == "GatherV2");
  REQUIRE(g.FindNode("gather/axis") != nullptr);
  CHECK(g.FindNode("gather/axis")->op() == "Const");
  auto s = Session::Create(g);
  REQUIRE(s.ok());
  REQUIRE((*s)->Run({}, {}, {"init"}).ok());
  auto r = (*s)->Run({}, {"gather"});
  REQUIRE(r.ok());
  CHECK(Floats((*r)[0]) == std::vector<float>{2, 1, 2});

  // A dtype that is not the variable's is refused naming the node.
  std::string wrong = text;
  wrong.replace(wrong.rfind("DT_FLOAT"), 8, "DT_INT32");
  Graph bad;
  const absl::Status st = ImportText(wrong, &bad);
  CHECK_FALSE(st.ok());
  CHECK(std::string(st.message()).find("node 'gather' (ResourceGather)") != std::string::npos);
}

TEST_CASE("Graphs without resources import unchanged", "[resource_vars]") {
  tensorflow::GraphDef gd = Parse(R"pb(
    node {
      name: "x"
      op: "Placeholder"
      attr {
        key: "dtype"
        value { type: DT_FLOAT }
      }
    }
    node {
      name: "y"
      op: "Identity"
      input: "x"
      attr {
        key: "T"
        value { type: DT_FLOAT }
      }
    })pb");
  CHECK_FALSE(UsesResourceVariables(gd));
}

TEST_CASE("A long chain of untyped handle Identities lowers in linear time", "[resource_vars]") {
  // 20,000 Identities between a VarHandleOp and its read, none with a T attr: each must be
  // walked once (a quadratic walk would take minutes), and the read ends at the handle.
  constexpr int kChain = 20000;
  tensorflow::GraphDef gd;
  tensorflow::NodeDef* v = gd.add_node();
  v->set_name("v");
  v->set_op("VarHandleOp");
  (*v->mutable_attr())["dtype"].set_type(tensorflow::DT_FLOAT);
  (*v->mutable_attr())["shape"].mutable_shape()->add_dim()->set_size(2);
  std::string prev = "v";
  for (int i = 0; i < kChain; ++i) {
    tensorflow::NodeDef* id = gd.add_node();
    id->set_name("id" + std::to_string(i));
    id->set_op("Identity");
    id->add_input(prev);
    prev = id->name();
  }
  tensorflow::NodeDef* read = gd.add_node();
  read->set_name("read");
  read->set_op("ReadVariableOp");
  read->add_input(prev);
  (*read->mutable_attr())["dtype"].set_type(tensorflow::DT_FLOAT);

  auto lowered = LowerResourceVariables(gd);
  INFO(lowered.status().ToString());
  REQUIRE(lowered.ok());
  REQUIRE(lowered->node_size() == 2);  // the Identities are gone
  CHECK(lowered->node(0).op() == "VariableV2");
  CHECK(lowered->node(1).op() == "Identity");
  CHECK(lowered->node(1).input(0) == "v");
}

TEST_CASE("Two handles with one shared_name are one variable", "[resource_vars]") {
  const std::string handle_attrs = R"(
      attr { key: "dtype" value { type: DT_FLOAT } }
      attr { key: "shape" value { shape { } } }
      attr { key: "shared_name" value { s: "shared" } })";
  Graph g;
  REQUIRE(ImportText(absl::StrCat(R"(node { name: "h1" op: "VarHandleOp")", handle_attrs, R"(}
    node { name: "h2" op: "VarHandleOp")",
                                  handle_attrs, R"(}
    node { name: "c" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
           attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 7 } } } }
    node { name: "assign" op: "AssignVariableOp" input: "h1" input: "c"
           attr { key: "dtype" value { type: DT_FLOAT } } }
    node { name: "read" op: "ReadVariableOp" input: "h2"
           attr { key: "dtype" value { type: DT_FLOAT } } })"),
                     &g)
              .ok());
  auto s = Session::Create(g);
  REQUIRE(s.ok());
  REQUIRE((*s)->Run({}, {}, {"assign"}).ok());
  auto r = (*s)->Run({}, {"read"});
  REQUIRE(r.ok());
  CHECK(Floats((*r)[0]) == std::vector<float>{7});
}

// A resource variable `v`: float32 [4], the handle most error cases start from.
const std::string kFloatHandleV = R"pb(
  node {
    name: "v"
    op: "VarHandleOp"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "shape"
      value { shape { dim { size: 4 } } }
    }
  }
)pb";

// The status of importing `text`, as "CODE: message" ("OK" when it imported).
std::string ImportStatus(const std::string& text) {
  Graph g;
  return ImportText(text, &g).ToString();
}

// Matches an InvalidArgument status string that contains every one of `parts`.
class IsImportErrorMatcher : public Catch::MatcherBase<std::string> {
 public:
  explicit IsImportErrorMatcher(std::vector<std::string> parts) : parts_(std::move(parts)) {
    parts_.insert(parts_.begin(), "INVALID_ARGUMENT: ");
  }
  bool match(const std::string& s) const override {
    for (const std::string& p : parts_) {
      if (s.find(p) == std::string::npos) return false;
    }
    return true;
  }
  std::string describe() const override {
    std::string d = "is an import error containing";
    for (const std::string& p : parts_) d += " \"" + p + "\"";
    return d;
  }

 private:
  std::vector<std::string> parts_;
};
IsImportErrorMatcher IsImportError(std::vector<std::string> parts) {
  return IsImportErrorMatcher(std::move(parts));
}

TEST_CASE("Unsupported resource graphs are clear import errors", "[resource_vars]") {
  SECTION("a resource Placeholder (a tf.function capture)") {
    CHECK_THAT(ImportStatus(R"pb(
                 node {
                   name: "captured"
                   op: "Placeholder"
                   attr {
                     key: "dtype"
                     value { type: DT_RESOURCE }
                   }
                 }
                 node {
                   name: "read"
                   op: "ReadVariableOp"
                   input: "captured"
                   attr {
                     key: "dtype"
                     value { type: DT_FLOAT }
                   }
                 })pb"),
               IsImportError({"node 'captured' (Placeholder)", "resource", "tf.function"}));
  }
  SECTION("ReadVariableOp whose input is not a handle") {
    CHECK_THAT(ImportStatus(R"pb(
                 node {
                   name: "x"
                   op: "Placeholder"
                   attr {
                     key: "dtype"
                     value { type: DT_FLOAT }
                   }
                 }
                 node {
                   name: "read"
                   op: "ReadVariableOp"
                   input: "x"
                   attr {
                     key: "dtype"
                     value { type: DT_FLOAT }
                   }
                 })pb"),
               IsImportError({"node 'read' (ReadVariableOp)", "input 0 ('x')", "VarHandleOp",
                              "node 'x' (Placeholder)"}));
  }
  SECTION("ReadVariableOp with a dangling input") {
    CHECK_THAT(ImportStatus(R"pb(
                 node {
                   name: "read"
                   op: "ReadVariableOp"
                   input: "nowhere"
                   attr {
                     key: "dtype"
                     value { type: DT_FLOAT }
                   }
                 })pb"),
               IsImportError({"node 'read' (ReadVariableOp)", "nowhere"}));
  }
  SECTION("a handle consumed by an op the lowering does not know") {
    CHECK_THAT(ImportStatus(kFloatHandleV + R"pb(
                 node {
                   name: "i"
                   op: "Placeholder"
                   attr {
                     key: "dtype"
                     value { type: DT_INT32 }
                   }
                 }
                 node {
                   name: "g"
                   op: "ResourceScatterAdd"
                   input: "v"
                   input: "i"
                   input: "i"
                   attr {
                     key: "dtype"
                     value { type: DT_FLOAT }
                   }
                   attr {
                     key: "Tindices"
                     value { type: DT_INT32 }
                   }
                 })pb"),
               IsImportError(
                   {"node 'g' (ResourceScatterAdd)", "node 'v' (VarHandleOp)", "ReadVariableOp"}));
  }
  SECTION("a resource optimizer without a ref equivalent") {
    CHECK_THAT(ImportStatus(kFloatHandleV + R"pb(
                 node {
                   name: "apply"
                   op: "ResourceApplyFtrlV2"
                   input: "v"
                   attr {
                     key: "T"
                     value { type: DT_FLOAT }
                   }
                 })pb"),
               IsImportError({"node 'apply' (ResourceApplyFtrlV2)", "ApplyFtrlV2"}));
  }
  SECTION("a cycle of untyped Identities next to a variable is an error, not a crash") {
    CHECK_THAT(ImportStatus(kFloatHandleV + R"pb(
                 node { name: "a" op: "Identity" input: "b" }
                 node { name: "b" op: "Identity" input: "a" }
                 node {
                   name: "read"
                   op: "ReadVariableOp"
                   input: "a"
                   attr {
                     key: "dtype"
                     value { type: DT_FLOAT }
                   }
                 })pb"),
               IsImportError({"node 'read' (ReadVariableOp)", "node 'a' (Identity)"}));
  }
  SECTION("a VarHandleOp without a dtype") {
    CHECK_THAT(ImportStatus(R"pb(
                 node {
                   name: "v"
                   op: "VarHandleOp"
                   attr {
                     key: "shape"
                     value { shape {} }
                   }
                 })pb"),
               IsImportError({"node 'v' (VarHandleOp)", "dtype"}));
  }
  SECTION("a read with the wrong dtype") {
    CHECK_THAT(ImportStatus(kFloatHandleV + R"pb(
                 node {
                   name: "read"
                   op: "ReadVariableOp"
                   input: "v"
                   attr {
                     key: "dtype"
                     value { type: DT_INT32 }
                   }
                 })pb"),
               IsImportError({"node 'read' (ReadVariableOp)", "float32", "int32"}));
  }
}

// ---- Conditionals: switched handles (tf.cond v1, a lowered If) and cond_v2's Optionals ----------

// A float [2] variable `v`, a bool `p`, the initializer `init` (v = [1, 2]), and a conditional
// that switches the handle: the true side reads it through a resource Identity, the false side
// reads it negated and asks its shape. What tf.cond writes when a branch reads a tf.Variable.
const std::string kSwitchedHandle = R"pb(
  node {
    name: "v"
    op: "VarHandleOp"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "shape"
      value { shape { dim { size: 2 } } }
    }
  }
  node {
    name: "p"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_BOOL }
    }
  }
  node {
    name: "c"
    op: "Const"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "value"
      value {
        tensor {
          dtype: DT_FLOAT
          tensor_shape { dim { size: 2 } }
          float_val: 1
          float_val: 2
        }
      }
    }
  }
  node {
    name: "init"
    op: "AssignVariableOp"
    input: "v"
    input: "c"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "sw"
    op: "Switch"
    input: "v"
    input: "p"
    attr {
      key: "T"
      value { type: DT_RESOURCE }
    }
  }
  node {
    name: "id"
    op: "Identity"
    input: "sw:1"
    attr {
      key: "T"
      value { type: DT_RESOURCE }
    }
  }
  node { name: "is_init" op: "VarIsInitializedOp" input: "id" }
  node {
    name: "read_t"
    op: "ReadVariableOp"
    input: "id"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "read_f"
    op: "ReadVariableOp"
    input: "sw"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "neg_f"
    op: "Neg"
    input: "read_f"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
  }
  node { name: "shape_f" op: "VariableShape" input: "sw" }
  node {
    name: "out"
    op: "Merge"
    input: "neg_f"
    input: "read_t"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
    attr {
      key: "N"
      value { i: 2 }
    }
  }
)pb";

TEST_CASE("A switched resource handle lowers to RefSwitch and its Identity to RefIdentity",
          "[resource_vars][cond]") {
  Graph g;
  const absl::Status imported = ImportText(kSwitchedHandle, &g);
  INFO(imported.ToString());
  REQUIRE(imported.ok());
  CHECK(g.FindNode("sw")->op() == "RefSwitch");
  CHECK(g.FindNode("sw")->attrs().at("T").type() == tensorflow::DT_FLOAT);
  CHECK(g.FindNode("id")->op() == "RefIdentity");  // kept: it is dead with its branch
  CHECK(g.FindNode("read_t")->op() == "Identity");
  CHECK(g.FindNode("read_t")->input(0).node->name() == "id");
  CHECK(g.FindNode("read_f")->input(0).node->name() == "sw");
  CHECK(g.FindNode("read_f")->input(0).index == 0);
  CHECK(g.FindNode("shape_f")->op() == "Shape");
  CHECK(g.FindNode("is_init")->op() == "IsVariableInitialized");

  auto s = Session::Create(g);
  REQUIRE(s.ok());
  const Tensor yes = Tensor::Scalar<bool>(true), no = Tensor::Scalar<bool>(false);
  // Switching and forwarding the reference reads nothing: fine before the initializer ran.
  auto before = (*s)->Run({{"p", yes}}, {"is_init"});
  INFO(before.status().ToString());
  REQUIRE(before.ok());
  CHECK_FALSE((*before)[0].data<bool>()[0]);
  REQUIRE((*s)->Run({}, {}, {"init"}).ok());
  auto taken = (*s)->Run({{"p", yes}}, {"out", "is_init"});
  REQUIRE(taken.ok());
  CHECK(Floats((*taken)[0]) == std::vector<float>{1, 2});
  CHECK((*taken)[1].data<bool>()[0]);
  auto other = (*s)->Run({{"p", no}}, {"out", "shape_f"});
  REQUIRE(other.ok());
  CHECK(Floats((*other)[0]) == std::vector<float>{-1, -2});
  CHECK((*other)[1].AsInt64Vector().value() == std::vector<int64_t>{2});
}

// A conditional on `p` after inlining, as cond_v2's gradient writes it: the true branch wraps
// its intermediate (x) in an Optional, the false branch returns OptionalNone, both meet in a
// variant Merge, and the gradient's true branch unwraps the value behind a variant Switch.
const std::string kCondOptionals = R"pb(
  node {
    name: "x"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "p"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_BOOL }
    }
  }
  node {
    name: "sw_x"
    op: "Switch"
    input: "x"
    input: "p"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "pivot_f"
    op: "Identity"
    input: "sw_x"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "some"
    op: "OptionalFromValue"
    input: "sw_x:1"
    attr {
      key: "Toutput_types"
      value { list { type: DT_FLOAT } }
    }
  }
  node { name: "none" op: "OptionalNone" input: "^pivot_f" }
  node {
    name: "if"
    op: "Merge"
    input: "none"
    input: "some"
    attr {
      key: "T"
      value { type: DT_VARIANT }
    }
    attr {
      key: "N"
      value { i: 2 }
    }
  }
  node {
    name: "call"
    op: "IdentityN"
    input: "x"
    input: "if"
    attr {
      key: "T"
      value { list { type: DT_FLOAT type: DT_VARIANT } }
    }
  }
  node {
    name: "grad_sw"
    op: "Switch"
    input: "call:1"
    input: "p"
    attr {
      key: "T"
      value { type: DT_VARIANT }
    }
  }
  node {
    name: "get"
    op: "OptionalGetValue"
    input: "grad_sw:1"
    attr {
      key: "output_types"
      value { list { type: DT_FLOAT } }
    }
    attr {
      key: "output_shapes"
      value { list { shape { unknown_rank: true } } }
    }
  }
)pb";

TEST_CASE("cond_v2's gradient Optionals lower to the values they wrap", "[resource_vars][cond]") {
  Graph g;
  const absl::Status imported = ImportText(kCondOptionals, &g);
  INFO(imported.ToString());
  REQUIRE(imported.ok());
  CHECK(g.FindNode("some")->op() == "Identity");
  CHECK(g.FindNode("none")->op() == "Const");
  CHECK(g.FindNode("none")->attrs().at("dtype").type() == tensorflow::DT_FLOAT);
  CHECK(g.FindNode("if")->attrs().at("T").type() == tensorflow::DT_FLOAT);
  CHECK(g.FindNode("call")->attrs().at("T").list().type(1) == tensorflow::DT_FLOAT);
  CHECK(g.FindNode("grad_sw")->attrs().at("T").type() == tensorflow::DT_FLOAT);
  CHECK(g.FindNode("get")->op() == "Identity");

  auto s = Session::Create(g);
  REQUIRE(s.ok());
  auto r = (*s)->Run({{"x", Tensor::FromVector<float>({3, 4}, {2})}, {"p", Tensor::Scalar(true)}},
                     {"get"});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(Floats((*r)[0]) == std::vector<float>{3, 4});
  // Not taken: the Merge forwards the placeholder the false branch made, nothing unwraps it.
  auto f = (*s)->Run({{"x", Tensor::FromVector<float>({3, 4}, {2})}, {"p", Tensor::Scalar(false)}},
                     {"call:1"});
  INFO(f.status().ToString());
  REQUIRE(f.ok());
  CHECK((*f)[0].num_elements() == 0);

  SECTION("Optionals wrapping different dtypes that meet in one Merge") {
    const std::string text = kCondOptionals + R"pb(
      node {
        name: "cast"
        op: "Cast"
        input: "x"
        attr {
          key: "SrcT"
          value { type: DT_FLOAT }
        }
        attr {
          key: "DstT"
          value { type: DT_INT32 }
        }
      }
      node {
        name: "some_int"
        op: "OptionalFromValue"
        input: "cast"
        attr {
          key: "Toutput_types"
          value { list { type: DT_INT32 } }
        }
      }
      node {
        name: "mixed"
        op: "Merge"
        input: "some"
        input: "some_int"
        attr {
          key: "T"
          value { type: DT_VARIANT }
        }
        attr {
          key: "N"
          value { i: 2 }
        }
      })pb";
    CHECK_THAT(ImportStatus(text), IsImportError({"node 'mixed' (Merge)", "different dtypes"}));
  }
  SECTION("a variant that is not a cond_v2 Optional") {
    CHECK_THAT(ImportStatus(R"pb(
                 node {
                   name: "list"
                   op: "Placeholder"
                   attr {
                     key: "dtype"
                     value { type: DT_VARIANT }
                   }
                 })pb"),
               IsImportError({"node 'list' (Placeholder)", "DT_VARIANT"}));
  }
  SECTION("an Optional of several components") {
    CHECK_THAT(ImportStatus(R"pb(
                 node {
                   name: "x"
                   op: "Placeholder"
                   attr {
                     key: "dtype"
                     value { type: DT_FLOAT }
                   }
                 }
                 node {
                   name: "two"
                   op: "OptionalFromValue"
                   input: "x"
                   input: "x"
                   attr {
                     key: "Toutput_types"
                     value { list { type: DT_FLOAT type: DT_FLOAT } }
                   }
                 })pb"),
               IsImportError({"node 'two' (OptionalFromValue)", "exactly one type"}));
  }
}

// ---- SelectV2, BroadcastTo, DynamicStitch (expected values computed by TensorFlow 2.21) -----

// Runs the graph built by `build` (which returns the node to fetch) with no feeds.
absl::StatusOr<Tensor> RunOne(const std::function<Output(GraphBuilder&)>& build,
                              const std::vector<Session::Feed>& feeds = {}) {
  Graph g;
  GraphBuilder b(&g);
  Output out = build(b);
  if (!b.status().ok()) return b.status();
  ASSIGN_OR_RETURN(auto s, Session::Create(g));
  ASSIGN_OR_RETURN(auto r, s->Run(feeds, {out.name()}));
  return r[0];
}

TEST_CASE("SelectV2 broadcasts condition, then and else", "[resource_vars][select_v2]") {
  // tf.where([[True],[False]], [[1.,2.,3.]], 9.) = [[1,2,3],[9,9,9]]
  auto r = RunOne(
      [](GraphBuilder& b) {
        Output c = b.Placeholder(DT_BOOL, TensorShape{2, 1}, "c");
        Output t = b.Placeholder(DT_FLOAT, TensorShape{1, 3}, "t");
        return b.Op("SelectV2", {c, t, b.Scalar(9)});
      },
      {{"c", Tensor::FromVector<bool>({true, false}, {2, 1})},
       {"t", Tensor::FromVector<float>({1, 2, 3}, {1, 3})}});
  REQUIRE(r.ok());
  CHECK(r->shape() == TensorShape{2, 3});
  CHECK(Floats(*r) == std::vector<float>{1, 2, 3, 9, 9, 9});

  // tf.where([True,False,True], [[1,2,3],[4,5,6]], [[10],[20]]) = [[1,10,3],[4,20,6]] (int32)
  auto ri = RunOne(
      [](GraphBuilder& b) {
        Output c = b.Placeholder(DT_BOOL, TensorShape{3}, "c");
        Output t = b.Placeholder(DT_INT32, TensorShape{2, 3}, "t");
        Output e = b.Placeholder(DT_INT32, TensorShape{2, 1}, "e");
        return b.Op("SelectV2", {c, t, e});
      },
      {{"c", Tensor::FromVector<bool>({true, false, true}, {3})},
       {"t", Tensor::FromVector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3})},
       {"e", Tensor::FromVector<int32_t>({10, 20}, {2, 1})}});
  REQUIRE(ri.ok());
  CHECK(ri->AsInt64Vector().value() == std::vector<int64_t>{1, 10, 3, 4, 20, 6});

  // Incompatible shapes are a graph-construction error.
  auto bad = RunOne([](GraphBuilder& b) {
    Output c = b.Placeholder(DT_BOOL, TensorShape{3}, "c");
    Output t = b.Placeholder(DT_FLOAT, TensorShape{2}, "t");
    return b.Op("SelectV2", {c, t, t});
  });
  CHECK_FALSE(bad.ok());
}

TEST_CASE("BroadcastTo follows NumPy broadcasting", "[resource_vars][broadcast_to]") {
  // tf.broadcast_to([[1.],[2.]], [2,3]) = [[1,1,1],[2,2,2]]
  auto r = RunOne(
      [](GraphBuilder& b) {
        Output x = b.Placeholder(DT_FLOAT, TensorShape{2, 1}, "x");
        Output shape = b.Placeholder(DT_INT32, TensorShape{2}, "shape");
        return b.Op("BroadcastTo", {x, shape});
      },
      {{"x", Tensor::FromVector<float>({1, 2}, {2, 1})},
       {"shape", Tensor::FromVector<int32_t>({2, 3}, {2})}});
  REQUIRE(r.ok());
  CHECK(r->shape() == TensorShape{2, 3});
  CHECK(Floats(*r) == std::vector<float>{1, 1, 1, 2, 2, 2});

  auto r2 = RunOne(
      [](GraphBuilder& b) {
        Output x = b.Placeholder(DT_FLOAT, TensorShape{3}, "x");
        return b.Op("BroadcastTo", {x, b.Const(Tensor::FromVector<int64_t>({2, 1, 3}, {3}))});
      },
      {{"x", Tensor::FromVector<float>({1, 2, 3}, {3})}});
  REQUIRE(r2.ok());
  CHECK(r2->shape() == TensorShape{2, 1, 3});
  CHECK(Floats(*r2) == std::vector<float>{1, 2, 3, 1, 2, 3});

  // TF: "Incompatible shapes: [3] vs. [2,2]"; here a run-time error naming the node.
  auto bad = RunOne(
      [](GraphBuilder& b) {
        Output x = b.Placeholder(DT_FLOAT, TensorShape{3}, "x");
        Output shape = b.Placeholder(DT_INT32, TensorShape{2}, "shape");
        return b.Op("BroadcastTo", {x, shape}, {}, "bt");
      },
      {{"x", Tensor::FromVector<float>({1, 2, 3}, {3})},
       {"shape", Tensor::FromVector<int32_t>({2, 2}, {2})}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("bt") != std::string::npos);
}

TEST_CASE("DynamicStitch merges by index, later entries winning",
          "[resource_vars][dynamic_stitch]") {
  // TF's documentation example.
  auto r = RunOne(
      [](GraphBuilder& b) {
        return b.Op(
            "DynamicStitch",
            {b.Const(Tensor::Scalar<int32_t>(6)), b.Const(Tensor::FromVector<int32_t>({4, 1}, {2})),
             b.Placeholder(DT_INT32, TensorShape{2, 2}, "i2"),
             b.Const(Tensor::FromVector<float>({61, 62}, {2})),
             b.Const(Tensor::FromVector<float>({41, 42, 11, 12}, {2, 2})),
             b.Placeholder(DT_FLOAT, TensorShape{2, 2, 2}, "d2")},
            {{"N", MakeAttr(3)}, {"T", MakeAttr(DT_FLOAT)}});
      },
      {{"i2", Tensor::FromVector<int32_t>({5, 2, 0, 3}, {2, 2})},
       {"d2", Tensor::FromVector<float>({51, 52, 21, 22, 1, 2, 31, 32}, {2, 2, 2})}});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->shape() == TensorShape{7, 2});
  CHECK(Floats(*r) == std::vector<float>{1, 2, 11, 12, 21, 22, 31, 32, 41, 42, 51, 52, 61, 62});

  // tf.dynamic_stitch([[0,1],[1,2]], [[1.,2.],[3.,4.]]) = [1,3,4]
  auto dup = RunOne(
      [](GraphBuilder& b) {
        return b.Op("DynamicStitch",
                    {b.Placeholder(DT_INT32, TensorShape{2}, "a"),
                     b.Placeholder(DT_INT32, TensorShape{2}, "b"),
                     b.Const(Tensor::FromVector<float>({1, 2}, {2})),
                     b.Const(Tensor::FromVector<float>({3, 4}, {2}))},
                    {});  // the builder infers N = 2 (two lists share it) and T
      },
      {{"a", Tensor::FromVector<int32_t>({0, 1}, {2})},
       {"b", Tensor::FromVector<int32_t>({1, 2}, {2})}});
  REQUIRE(dup.ok());
  CHECK(Floats(*dup) == std::vector<float>{1, 3, 4});

  auto negative = RunOne(
      [](GraphBuilder& b) {
        return b.Op("DynamicStitch",
                    {b.Placeholder(DT_INT32, TensorShape{1}, "a"),
                     b.Const(Tensor::FromVector<float>({1}, {1}))},
                    {{"N", MakeAttr(1)}, {"T", MakeAttr(DT_FLOAT)}});
      },
      {{"a", Tensor::FromVector<int32_t>({-1}, {1})}});
  CHECK_FALSE(negative.ok());
}

// ---- TensorFlow-written training graphs --------------------------------------------------------

struct TrainManifest {
  std::string init, train, loss;
  int steps = 0;
  std::vector<std::pair<std::string, std::string>> feeds;
  std::vector<std::pair<std::string, std::string>> per_step_feeds;  // row i fed at step i
  struct Var {
    std::string tensor, init_file, final_file;
  };
  std::vector<Var> vars;
  std::vector<std::string> ops;
};

TrainManifest ReadManifest(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  TrainManifest m;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string word;
    if (!(ss >> word) || word[0] == '#') continue;
    if (word == "init") ss >> m.init;
    if (word == "train") ss >> m.train;
    if (word == "loss") ss >> m.loss;
    if (word == "steps") ss >> m.steps;
    if (word == "feed") {
      std::string t, f;
      ss >> t >> f;
      m.feeds.emplace_back(t, f);
    }
    if (word == "feed_per_step") {
      std::string t, f;
      ss >> t >> f;
      m.per_step_feeds.emplace_back(t, f);
    }
    if (word == "var") {
      TrainManifest::Var v;
      ss >> v.tensor >> v.init_file >> v.final_file;
      m.vars.push_back(v);
    }
    if (word == "op") {
      std::string op;
      ss >> op;
      m.ops.push_back(op);
    }
  }
  return m;
}

// Largest |a - b| and |a - b| / max(|b|, 1e-3) over the elements; checks that
// |a - b| <= atol + rtol * |b| everywhere.
struct Agreement {
  double max_abs = 0, max_rel = 0;
  int64_t mismatches = 0;      // elements outside the tolerance
  std::string first_mismatch;  // the first of them, for the failure message
};
void Compare(const std::string& what, const Tensor& got, const Tensor& want, double rtol,
             double atol, Agreement* agg) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  if (got.dtype() != DT_FLOAT) {
    if (got.AsInt64Vector().value() != want.AsInt64Vector().value()) {
      if (agg->mismatches++ == 0) agg->first_mismatch = what + ": integer values differ";
    }
    return;
  }
  const float* g = got.data<float>();
  const float* w = want.data<float>();
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    const double d = std::abs(static_cast<double>(g[i]) - w[i]);
    agg->max_abs = std::max(agg->max_abs, d);
    agg->max_rel = std::max(agg->max_rel, d / std::max(std::abs(static_cast<double>(w[i])), 1e-3));
    if (d > atol + rtol * std::abs(w[i]) && agg->mismatches++ == 0) {
      agg->first_mismatch = what + "[" + std::to_string(i) + "]: got " + std::to_string(g[i]) +
                            ", TensorFlow " + std::to_string(w[i]);
    }
  }
}

// Trains the fixture `name` as TensorFlow did and returns how closely Quiver agreed.
Agreement TrainLikeTensorFlow(const std::string& name, const std::vector<std::string>& must_have) {
  const std::string dir = std::string(QUIVER_TEST_DATA_DIR) + "/tf2/" + name + "/";
  INFO(dir);
  TrainManifest m = ReadManifest(dir + "manifest.txt");
  for (const std::string& op : must_have) {
    INFO("the fixture must contain " << op);
    CHECK(std::find(m.ops.begin(), m.ops.end(), op) != m.ops.end());
  }
  auto graph = LoadGraph(dir + "graph.pb");
  INFO(graph.status().ToString());
  REQUIRE(graph.ok());
  auto session = Session::Create(**graph);
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  std::vector<Session::Feed> feeds;
  for (const auto& [tensor, file] : m.feeds) {
    auto t = ReadNpyFile(dir + file);
    REQUIRE(t.ok());
    feeds.emplace_back(tensor, *std::move(t));
  }
  std::vector<std::pair<std::string, Tensor>> per_step;
  for (const auto& [tensor, file] : m.per_step_feeds) {
    auto t = ReadNpyFile(dir + file);
    REQUIRE(t.ok());
    REQUIRE(t->shape().rank() >= 1);
    REQUIRE(t->shape().dim(0) == m.steps);
    per_step.emplace_back(tensor, *std::move(t));
  }
  // Row `step` of each per-step feed, added to the fixed feeds.
  auto feeds_at = [&](int step) {
    std::vector<Session::Feed> at = feeds;
    for (const auto& [tensor, rows] : per_step) {
      const std::vector<int64_t>& dims = rows.shape().dims();
      auto row = Tensor::Create(rows.dtype(), TensorShape({dims.begin() + 1, dims.end()}));
      REQUIRE(row.ok());
      std::memcpy(row->raw_data(),
                  static_cast<const char*>(rows.raw_data()) + step * row->num_bytes(),
                  row->num_bytes());
      at.emplace_back(tensor, *std::move(row));
    }
    return at;
  };
  std::vector<std::string> var_tensors;
  for (const auto& v : m.vars) var_tensors.push_back(v.tensor);

  // Float32 arithmetic in a different order (GEMM blocking, reductions) than TensorFlow's.
  constexpr double kRtol = 2e-5, kAtol = 1e-6;
  Agreement agg;
  const absl::Status init = (*session)->Run({}, {}, {m.init}).status();
  INFO(init.ToString());
  REQUIRE(init.ok());
  auto init_values = (*session)->Run({}, var_tensors);
  INFO(init_values.status().ToString());
  REQUIRE(init_values.ok());
  for (size_t i = 0; i < m.vars.size(); ++i) {
    auto want = ReadNpyFile(dir + m.vars[i].init_file);
    REQUIRE(want.ok());
    Compare(m.vars[i].tensor + " after init", (*init_values)[i], *want, 0, 0, &agg);
  }
  auto losses = ReadNpyFile(dir + "losses.npy");
  REQUIRE(losses.ok());
  REQUIRE(losses->num_elements() == m.steps);
  for (int step = 0; step < m.steps; ++step) {
    auto r = (*session)->Run(feeds_at(step), {m.loss}, {m.train});
    INFO("step " << step << ": " << r.status().ToString());
    REQUIRE(r.ok());
    Compare("loss at step " + std::to_string(step), (*r)[0],
            Tensor::Scalar<float>(losses->data<float>()[step]), kRtol, kAtol, &agg);
  }
  auto final_values = (*session)->Run({}, var_tensors);
  INFO(final_values.status().ToString());
  REQUIRE(final_values.ok());
  for (size_t i = 0; i < m.vars.size(); ++i) {
    auto want = ReadNpyFile(dir + m.vars[i].final_file);
    REQUIRE(want.ok());
    Compare(m.vars[i].tensor + " after training", (*final_values)[i], *want, kRtol, kAtol, &agg);
  }
  std::cout << "tf2/" << name << ": " << m.steps << " steps, max abs error vs TensorFlow "
            << agg.max_abs << ", max rel error " << agg.max_rel << "\n";
  return agg;
}

TEST_CASE("TF2 softmax regression with resource variables trains like TensorFlow (SGD)",
          "[resource_vars][tf2_train]") {
  const Agreement a =
      TrainLikeTensorFlow("softmax_sgd", {"VarHandleOp", "ReadVariableOp", "AssignVariableOp",
                                          "VarIsInitializedOp", "ResourceApplyGradientDescent"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

TEST_CASE("TF2 softmax regression with resource variables trains like TensorFlow (Adam)",
          "[resource_vars][tf2_train]") {
  const Agreement a =
      TrainLikeTensorFlow("softmax_adam", {"VarHandleOp", "ReadVariableOp", "ResourceApplyAdam"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

TEST_CASE("TF2 MLP with tf.where, an unknown-rank mean and Momentum trains like TensorFlow",
          "[resource_vars][tf2_train]") {
  const Agreement a = TrainLikeTensorFlow(
      "mlp_momentum_where",
      {"ResourceApplyMomentum", "AssignAddVariableOp", "SelectV2", "DynamicStitch", "BroadcastTo"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

// tf.cond on a fed bool in front of the output layer, fed True: the true branch scales the hidden
// layer by a fixed 0/2 mask. The gradient flows back through the conditional, so the update of
// W1 and b1 depends on the taken branch's gradient.
TEST_CASE("TF2 MLP with a tf.cond (control flow v1: Switch/Merge) trains like TensorFlow",
          "[resource_vars][tf2_train][cond]") {
  const Agreement a = TrainLikeTensorFlow(
      "cond_train_v1", {"Switch", "Merge", "ReadVariableOp", "ResourceApplyGradientDescent"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

TEST_CASE("TF2 MLP with a tf.cond (control flow v2: StatelessIf) trains like TensorFlow",
          "[resource_vars][tf2_train][cond]") {
  const Agreement a = TrainLikeTensorFlow(
      "cond_train_v2", {"StatelessIf", "ReadVariableOp", "ResourceApplyGradientDescent"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

// The same with the output layer inside both branches and a variable `gamma` read only by the
// true branch, `training` alternating True/False between steps: tf.cond switches the variables'
// DT_RESOURCE handles (RefSwitch after lowering), merges their gradients in a
// "cond_resource_grad" Merge, and when the false branch runs gives gamma zeros shaped by a
// VariableShape of the switched handle behind a resource Identity (RefIdentity).
TEST_CASE(
    "TF2 MLP reading variables inside tf.cond branches (control flow v1) trains like "
    "TensorFlow",
    "[resource_vars][tf2_train][cond]") {
  const Agreement a = TrainLikeTensorFlow(
      "cond_var_train_v1", {"Switch", "Merge", "ReadVariableOp", "ResourceApplyGradientDescent"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

TEST_CASE(
    "TF2 MLP reading variables inside tf.cond branches (control flow v2: If) trains like "
    "TensorFlow",
    "[resource_vars][tf2_train][cond]") {
  const Agreement a =
      TrainLikeTensorFlow("cond_var_train_v2", {"If", "StatelessIf", "ReadVariableOp"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

TEST_CASE(
    "TF2 RNN through a tf.while_loop (control flow v2: While + TensorLists) trains like "
    "TensorFlow",
    "[resource_vars][tf2_train][while]") {
  const Agreement a = TrainLikeTensorFlow(
      "rnn_train_v2", {"While", "StatelessWhile", "EmptyTensorList", "TensorListFromTensor",
                       "TensorListStack", "ResourceApplyGradientDescent"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

TEST_CASE(
    "TF2 hand-written LSTM through a tf.while_loop (control flow v2) trains like "
    "TensorFlow (Adam)",
    "[resource_vars][tf2_train][while]") {
  const Agreement a = TrainLikeTensorFlow(
      "lstm_train_v2",
      {"While", "StatelessWhile", "EmptyTensorList", "TensorListFromTensor", "ResourceApplyAdam"});
  INFO(a.first_mismatch);
  CHECK(a.mismatches == 0);
}

}  // namespace
}  // namespace quiver
