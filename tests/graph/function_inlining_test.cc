// Function-call inlining (graph/function_inlining.h) on hand-written GraphDefs: names and
// inputs after inlining, multi-output and list-output offsets, nested and Defun-style calls,
// the values a Session then computes (checked by hand), and every refusal.
#include "graph/function_inlining.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "graph/graphdef.h"
#include "runtime/session.h"

namespace quiver {
namespace {

tensorflow::GraphDef Parse(const std::string& text) {
  auto gd = ParseGraphDef(text, GraphDefFormat::kText, "test");
  INFO(gd.status().ToString());
  REQUIRE(gd.ok());
  return *std::move(gd);
}

const tensorflow::NodeDef* Find(const tensorflow::GraphDef& gd, const std::string& name) {
  for (const auto& n : gd.node()) {
    if (n.name() == name) return &n;
  }
  return nullptr;
}

std::vector<std::string> Inputs(const tensorflow::GraphDef& gd, const std::string& name) {
  const tensorflow::NodeDef* n = Find(gd, name);
  REQUIRE(n != nullptr);
  return {n->input().begin(), n->input().end()};
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// x -> call = F(x) with a control input on `ctl`; out = Relu(call:0) and out2 = call:1.
// F(a): neg = Neg(a); sq = Square(neg); returns r0 = neg, r1 = sq.
constexpr char kSimple[] = R"pb(
  node {
    name: "x"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node { name: "ctl" op: "NoOp" }
  node {
    name: "call"
    op: "StatefulPartitionedCall"
    input: "x"
    input: "^ctl"
    attr {
      key: "f"
      value { func { name: "F" } }
    }
    attr {
      key: "Tin"
      value { list { type: DT_FLOAT } }
    }
    attr {
      key: "Tout"
      value { list { type: DT_FLOAT type: DT_FLOAT } }
    }
  }
  node {
    name: "out"
    op: "Relu"
    input: "call"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "out2"
    op: "Identity"
    input: "call:1"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
  }
  library {
    function {
      signature {
        name: "F"
        input_arg { name: "a" type: DT_FLOAT }
        output_arg { name: "r0" type: DT_FLOAT }
        output_arg { name: "r1" type: DT_FLOAT }
      }
      node_def {
        name: "neg"
        op: "Neg"
        input: "a"
        attr {
          key: "T"
          value { type: DT_FLOAT }
        }
      }
      node_def {
        name: "sq"
        op: "Square"
        input: "neg:y:0"
        attr {
          key: "T"
          value { type: DT_FLOAT }
        }
      }
      ret { key: "r0" value: "neg:y:0" }
      ret { key: "r1" value: "sq:y:0" }
    }
  }
)pb";

TEST_CASE("a call becomes its body under the call's name, and an IdentityN of its results",
          "[graph][functions]") {
  tensorflow::GraphDef gd = Parse(kSimple);
  REQUIRE(HasFunctionCalls(gd));
  absl::Status s = InlineFunctionCalls(&gd);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK_FALSE(HasFunctionCalls(gd));
  CHECK(Inputs(gd, "call/neg") == std::vector<std::string>{"x", "^ctl"});
  // Only body roots wait on the call's control inputs; sq waits through neg.
  CHECK(Inputs(gd, "call/sq") == std::vector<std::string>{"call/neg:0"});
  const tensorflow::NodeDef* call = Find(gd, "call");
  REQUIRE(call != nullptr);
  CHECK(call->op() == "IdentityN");
  // Results, then waits for the body's sinks (sq; neg is read by sq).
  CHECK(Inputs(gd, "call") == std::vector<std::string>{"call/neg:0", "call/sq:0", "^call/sq"});
  CHECK(call->attr().at("T").list().type_size() == 2);
  // Consumers are untouched.
  CHECK(Inputs(gd, "out") == std::vector<std::string>{"call"});

  // Imported and run: out = relu(-x), out2 = x^2.
  auto session = Session::Create(Parse(kSimple));
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  auto r = (*session)->Run({{"x", Tensor::FromVector<float>({-2, 3}, {2})}}, {"out", "out2"});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{2, 0});
  CHECK((*r)[1].ToVector<float>() == std::vector<float>{4, 9});
}

// G(p, q) -> (loss, backprop, second) through a multi-output op and a list-output op;
// F calls G through PartitionedCall; the graph calls F Defun-style (op = "F").
constexpr char kNested[] = R"pb(
  node {
    name: "logits"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
  }
  node {
    name: "labels"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_INT32 }
    }
  }
  node { name: "f" op: "F" input: "logits" input: "labels" }
  node {
    name: "backprop"
    op: "Identity"
    input: "f:1"
    attr {
      key: "T"
      value { type: DT_FLOAT }
    }
  }
  library {
    function {
      signature {
        name: "F"
        input_arg { name: "l" type: DT_FLOAT }
        input_arg { name: "y" type: DT_INT32 }
        output_arg { name: "loss" type: DT_FLOAT }
        output_arg { name: "grad" type: DT_FLOAT }
        output_arg { name: "row1" type: DT_FLOAT }
      }
      node_def {
        name: "g"
        op: "PartitionedCall"
        input: "l"
        input: "y"
        attr {
          key: "f"
          value { func { name: "G" } }
        }
      }
      ret { key: "loss" value: "g:output:0" }
      ret { key: "grad" value: "g:output:1" }
      ret { key: "row1" value: "g:output:2" }
    }
    function {
      signature {
        name: "G"
        input_arg { name: "p" type: DT_FLOAT }
        input_arg { name: "q" type: DT_INT32 }
        output_arg { name: "loss" type: DT_FLOAT }
        output_arg { name: "backprop" type: DT_FLOAT }
        output_arg { name: "second" type: DT_FLOAT }
      }
      node_def {
        name: "xent"
        op: "SparseSoftmaxCrossEntropyWithLogits"
        input: "p"
        input: "q"
        attr {
          key: "T"
          value { type: DT_FLOAT }
        }
        attr {
          key: "Tlabels"
          value { type: DT_INT32 }
        }
      }
      node_def {
        name: "rows"
        op: "Unpack"
        input: "xent:backprop:0"
        attr {
          key: "T"
          value { type: DT_FLOAT }
        }
        attr {
          key: "num"
          value { i: 2 }
        }
        attr {
          key: "axis"
          value { i: 0 }
        }
      }
      ret { key: "loss" value: "xent:loss:0" }
      ret { key: "backprop" value: "xent:backprop:0" }
      ret { key: "second" value: "rows:output:1" }
    }
  }
)pb";

TEST_CASE("nested and Defun-style calls inline with output-arg offsets resolved",
          "[graph][functions]") {
  tensorflow::GraphDef gd = Parse(kNested);
  REQUIRE(InlineFunctionCalls(&gd).ok());
  // "xent:backprop:0" is output 1 of SparseSoftmaxCrossEntropyWithLogits (after "loss");
  // "rows:output:1" is element 1 of Unpack's list.
  CHECK(Inputs(gd, "f/g/rows") == std::vector<std::string>{"f/g/xent:1"});
  CHECK(Inputs(gd, "f/g")[2] == "f/g/rows:1");
  CHECK(Inputs(gd, "f") == std::vector<std::string>{"f/g:0", "f/g:1", "f/g:2", "^f/g"});

  // logits [[0, ln 3], [0, 0]], labels [1, 0]: softmax rows [1/4, 3/4] and [1/2, 1/2];
  // backprop = softmax - onehot; row 1 of it is [-1/2, 1/2].
  auto session = Session::Create(Parse(kNested));
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  auto r = (*session)->Run(
      {{"logits", Tensor::FromVector<float>({0, static_cast<float>(std::log(3.0)), 0, 0}, {2, 2})},
       {"labels", Tensor::FromVector<int32_t>({1, 0}, {2})}},
      {"f:0", "backprop", "f:2"});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  const std::vector<float> loss = (*r)[0].ToVector<float>();
  CHECK(loss[0] == Approx(-std::log(0.75)).epsilon(1e-6));
  CHECK(loss[1] == Approx(std::log(2.0)).epsilon(1e-6));
  const std::vector<float> grad = (*r)[1].ToVector<float>();
  const std::vector<float> want = {0.25f, -0.25f, -0.5f, 0.5f};
  for (int i = 0; i < 4; ++i) CHECK(grad[i] == Approx(want[i]).margin(1e-6));
  const std::vector<float> row1 = (*r)[2].ToVector<float>();
  CHECK(row1[0] == Approx(-0.5f).margin(1e-6));
  CHECK(row1[1] == Approx(0.5f).margin(1e-6));
}

// x (float) feeding `call_node`, then `library`.
std::string GraphCalling(const std::string& call_node, const std::string& library = "") {
  return R"pb(node {
                name: "x"
                op: "Placeholder"
                attr {
                  key: "dtype"
                  value { type: DT_FLOAT }
                }
              })pb" +
         call_node + library;
}

// A library with F(a: float) -> r: float, whose body is `body` and whose r is `ret`. (Plain
// strings: clang-format would reflow partial text protos in R"pb(...)pb" literals.)
std::string LibraryF(const std::string& body, const std::string& ret) {
  return "library { function { signature { name: 'F' input_arg { name: 'a' type: DT_FLOAT } "
         "output_arg { name: 'r' type: DT_FLOAT } } " +
         body + " ret { key: 'r' value: '" + ret + "' } } }";
}

// A body node `name` = Neg(a), its T attr given as `t` ("type: DT_FLOAT" or a placeholder).
std::string Neg(const std::string& name, const std::string& t = "type: DT_FLOAT") {
  return "node_def { name: '" + name + "' op: 'Neg' input: 'a' attr { key: 'T' value { " + t +
         " } } }";
}

TEST_CASE("calls that cannot be inlined are refused naming the function and node",
          "[graph][functions]") {
  auto inline_error = [](const std::string& text) {
    tensorflow::GraphDef gd = Parse(text);
    absl::Status s = InlineFunctionCalls(&gd);
    CHECK_FALSE(s.ok());
    return Message(s);
  };
  const std::string call_f = R"pb(node { name: "c" op: "F" input: "x" })pb";
  CHECK_THAT(inline_error(GraphCalling(R"pb(node {
                                              name: "c"
                                              op: "PartitionedCall"
                                              input: "x"
                                              attr {
                                                key: "f"
                                                value { func { name: "Nope" } }
                                              }
                                            })pb")),
             Catch::Contains("node 'c' calls function 'Nope', which the graph's library lacks"));
  CHECK_THAT(
      inline_error(GraphCalling(R"pb(node { name: "c" op: "PartitionedCall" input: "x" })pb")),
      Catch::Contains("has no function attr 'f'"));
  const std::string placeholder_attr = LibraryF(Neg("n", "placeholder: 'T'"), "n:y:0");
  CHECK_THAT(inline_error(GraphCalling(R"pb(node { name: "c" op: "F" input: "x" input: "x" })pb",
                                       placeholder_attr)),
             Catch::Contains("passes 2 inputs to function 'F', which takes 1"));
  CHECK_THAT(inline_error(GraphCalling(call_f, placeholder_attr)),
             Catch::Contains("function 'F', node 'n': an attr is a placeholder"));
  // F calls itself.
  CHECK_THAT(inline_error(GraphCalling(
                 call_f, LibraryF("node_def { name: 'again' op: 'F' input: 'a' }", "again:r:0"))),
             Catch::Contains("function calls nest deeper than 32") &&
                 Catch::Contains("a recursive function?"));
  // F calls itself twice: the node budget stops the doubling long before depth 32.
  tensorflow::GraphDef twice =
      Parse(GraphCalling(call_f, LibraryF(R"pb(node_def { name: "one" op: "F" input: "a" }
                                               node_def { name: "two" op: "F" input: "a" })pb" +
                                              Neg("pad0") + Neg("pad1"),
                                          "one:r:0")));
  absl::Status budget = InlineFunctionCalls(&twice, /*max_nodes=*/4096);
  CHECK(budget.code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(Message(budget), Catch::Contains("makes more than 4096 nodes"));
  // An output arg the op does not have.
  CHECK_THAT(inline_error(GraphCalling(call_f, LibraryF(Neg("n"), "n:output:0"))),
             Catch::Contains("function 'F', node 'n': op Neg has no output named 'output'"));
  // ImportGraphDef reports the same error for a graph that needs inlining.
  Graph graph;
  CHECK_THAT(Message(ImportGraphDef(Parse(GraphCalling(R"pb(node {
                                                              name: "c"
                                                              op: "PartitionedCall"
                                                              input: "x"
                                                              attr {
                                                                key: "f"
                                                                value { func { name: "Nope" } }
                                                              }
                                                            })pb")),
                                    &graph)),
             Catch::Contains("which the graph's library lacks"));
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

// c = If(p, x) with then_branch F(a) = -a and else_branch G(a) = a^2; out = Identity(c:0).
// Plain strings: clang-format would reflow partial text protos in R"pb(...)pb" literals.
std::string IfGraph(const std::string& if_attrs, const std::string& extra_inputs = "") {
  return "node { name: 'x' op: 'Placeholder' attr { key: 'dtype' value { type: DT_FLOAT } } } "
         "node { name: 'p' op: 'Placeholder' attr { key: 'dtype' value { type: DT_BOOL } } } "
         "node { name: 'c' op: 'StatelessIf' input: 'p' input: 'x' " +
         extra_inputs + if_attrs +
         " } "
         "node { name: 'out' op: 'Identity' input: 'c:0' "
         "attr { key: 'T' value { type: DT_FLOAT } } } "
         "library { function { signature { name: 'F' input_arg { name: 'a' type: DT_FLOAT } "
         "output_arg { name: 'r' type: DT_FLOAT } } " +
         Neg("n") +
         " ret { key: 'r' value: 'n:y:0' } } "
         "function { signature { name: 'G' input_arg { name: 'a' type: DT_FLOAT } "
         "output_arg { name: 'r' type: DT_FLOAT } } "
         "node_def { name: 's' op: 'Square' input: 'a' attr { key: 'T' value { type: DT_FLOAT } } "
         "} ret { key: 'r' value: 's:y:0' } } }";
}

std::string IfAttrs(const std::string& then_fn = "F", const std::string& tcond = "DT_BOOL") {
  return "attr { key: 'then_branch' value { func { name: '" + then_fn +
         "' } } } "
         "attr { key: 'else_branch' value { func { name: 'G' } } } "
         "attr { key: 'Tcond' value { type: " +
         tcond +
         " } } "
         "attr { key: 'Tin' value { list { type: DT_FLOAT } } } "
         "attr { key: 'Tout' value { list { type: DT_FLOAT } } }";
}

TEST_CASE("a functional If is lowered onto Switch/Merge and runs only the taken branch",
          "[graph][functions][conditional]") {
  tensorflow::GraphDef gd = Parse(IfGraph(IfAttrs()));
  REQUIRE(HasFunctionCalls(gd));
  absl::Status s = InlineFunctionCalls(&gd);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK_FALSE(HasFunctionCalls(gd));
  CHECK(Inputs(gd, "c") == std::vector<std::string>{"c/output_0", "^c/branch_executed"});
  CHECK(Inputs(gd, "c/output_0") == std::vector<std::string>{"c/branch_0:0", "c/branch_1:0"});
  CHECK(Inputs(gd, "c/input_0") == std::vector<std::string>{"x", "c/pred_id"});
  // Branch 0 is else (Switch's output_false), branch 1 then. The inlined branch bodies read
  // their side of the input Switch and wait on their pivot.
  CHECK(Inputs(gd, "c/branch_1/n") == std::vector<std::string>{"c/input_0:1", "^c/pivot_1"});
  CHECK(Inputs(gd, "c/branch_0/s") == std::vector<std::string>{"c/input_0:0", "^c/pivot_0"});

  auto session = Session::Create(Parse(IfGraph(IfAttrs())));
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  const Tensor x = Tensor::FromVector<float>({-2, 3}, {2});
  for (bool p : {true, false}) {
    auto r = (*session)->Run({{"x", x}, {"p", Tensor::Scalar<bool>(p)}}, {"out"});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    CHECK((*r)[0].ToVector<float>() == (p ? std::vector<float>{2, -3} : std::vector<float>{4, 9}));
  }
}

TEST_CASE("an If that cannot be lowered is refused naming the node", "[graph][functions]") {
  auto inline_error = [](const std::string& text) {
    tensorflow::GraphDef gd = Parse(text);
    absl::Status s = InlineFunctionCalls(&gd);
    CHECK_FALSE(s.ok());
    return Message(s);
  };
  CHECK_THAT(inline_error(IfGraph(IfAttrs("Nope"))),
             Catch::Contains("node 'c' (StatelessIf): branch function 'Nope' is missing"));
  CHECK_THAT(inline_error(IfGraph(IfAttrs("F", "DT_INT32"))),
             Catch::Contains("a predicate of type DT_INT32 is not supported"));
  CHECK_THAT(inline_error(IfGraph(IfAttrs(), "input: 'x' ")),
             Catch::Contains("has 3 data inputs; expected the predicate and 1 (Tin)"));
  CHECK_THAT(inline_error(IfGraph("attr { key: 'Tin' value { list { type: DT_FLOAT } } }")),
             Catch::Contains("needs then_branch, else_branch, Tin and Tout attrs"));
}

}  // namespace
}  // namespace quiver
