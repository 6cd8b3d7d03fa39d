// TF1 while-loop functionalization (graph/functionalize_loops.h) on hand-written control-flow-v1
// GraphDefs, laid out as tf.while_loop writes them: the "_While" node and its inputs, the
// Exits kept by name, the cond/body graphs' args, copied nodes and results, nested and chained
// loops, side-effect nodes, each refusal, no crash on mangled loops, and the values a Session
// computes (derived by hand).
#include "graph/functionalize_loops.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "graph/graphdef.h"
#include "graph/while_loop.h"
#include "runtime/session.h"

namespace quiver {
namespace {

// ---- GraphDef text, built from plain strings ----

std::string Q(const std::string& s) { return "\"" + s + "\""; }

std::string Attr(const std::string& key, const std::string& value) {
  return "attr { key: " + Q(key) + " value { " + value + " } } ";
}

std::string TypeAttr(const std::string& key, const std::string& dtype) {
  return Attr(key, "type: " + dtype);
}

std::string NodeText(const std::string& name, const std::string& op,
                     const std::vector<std::string>& inputs, const std::string& attrs = "") {
  std::string s = "node { name: " + Q(name) + " op: " + Q(op) + " ";
  for (const std::string& in : inputs) s += "input: " + Q(in) + " ";
  return s + attrs + "} ";
}

// A scalar Const; `value` is "int_val: 3" or "float_val: 2".
std::string ConstText(const std::string& name, const std::string& dtype, const std::string& value,
                      const std::vector<std::string>& inputs = {}) {
  return NodeText(
      name, "Const", inputs,
      TypeAttr("dtype", dtype) +
          Attr("value", "tensor { dtype: " + dtype + " tensor_shape { } " + value + " }"));
}

std::string PlaceholderText(const std::string& name, const std::string& dtype) {
  return NodeText(name, "Placeholder", {}, TypeAttr("dtype", dtype));
}

std::string EnterText(const std::string& name, const std::string& input, const std::string& frame,
                      const std::string& dtype, bool is_constant) {
  return NodeText(name, "Enter", {input},
                  TypeAttr("T", dtype) + Attr("frame_name", "s: " + Q(frame)) +
                      Attr("is_constant", is_constant ? "b: true" : "b: false") +
                      Attr("parallel_iterations", "i: 10"));
}

std::string Op1(const std::string& name, const std::string& op, const std::string& input,
                const std::string& dtype) {
  return NodeText(name, op, {input}, TypeAttr("T", dtype));
}

std::string Op2(const std::string& name, const std::string& op, const std::string& a,
                const std::string& b, const std::string& dtype) {
  return NodeText(name, op, {a, b}, TypeAttr("T", dtype));
}

// Named node texts, so that tests can swap or drop one.
using Nodes = std::vector<std::pair<std::string, std::string>>;

std::string Join(const Nodes& nodes) {
  std::string s;
  for (const auto& n : nodes) s += n.second;
  return s;
}

Nodes Replaced(Nodes nodes, const std::string& name, const std::string& text) {
  for (auto& n : nodes) {
    if (n.first == name) n.second = text;
  }
  return nodes;
}

Nodes Added(Nodes nodes, const std::string& name, const std::string& text) {
  nodes.emplace_back(name, text);
  return nodes;
}

// Loop variables of a v1 loop in frame "<p>/while_context": Enter, Merge, Switch on the
// LoopCond, Identity of Switch:1, Exit; the NextIteration reads `next`.
void AddLoopVar(Nodes* nodes, const std::string& p, const std::string& suffix,
                const std::string& init, const std::string& next, const std::string& dtype,
                bool next_first = false) {
  const std::string frame = p + "/while_context";
  auto add = [&](const std::string& name, const std::string& text) {
    nodes->emplace_back(name, text);
  };
  const std::string enter = p + "/Enter" + suffix, merge = p + "/Merge" + suffix;
  const std::string sw = p + "/Switch" + suffix, ni = p + "/NextIteration" + suffix;
  add(enter, EnterText(enter, init, frame, dtype, false));
  add(merge, NodeText(merge, "Merge",
                      next_first ? std::vector<std::string>{ni, enter}
                                 : std::vector<std::string>{enter, ni},
                      TypeAttr("T", dtype) + Attr("N", "i: 2")));
  add(sw, Op2(sw, "Switch", merge, p + "/LoopCond", dtype));
  add(p + "/Identity" + suffix, Op1(p + "/Identity" + suffix, "Identity", sw + ":1", dtype));
  add(ni, Op1(ni, "NextIteration", next, dtype));
  add(p + "/Exit" + suffix, Op1(p + "/Exit" + suffix, "Exit", sw, dtype));
}

// i = 0, acc = 1; while i < limit: i += 1, acc *= 2. The limit enters as an invariant;
// Merge_1 lists its NextIteration first; w/add/y carries a colocation attr.
Nodes CountLoop() {
  Nodes n;
  n.emplace_back("limit", PlaceholderText("limit", "DT_INT32"));
  n.emplace_back("i0", ConstText("i0", "DT_INT32", "int_val: 0"));
  n.emplace_back("acc0", ConstText("acc0", "DT_FLOAT", "float_val: 1"));
  AddLoopVar(&n, "w", "", "i0", "w/add", "DT_INT32");
  AddLoopVar(&n, "w", "_1", "acc0", "w/mul", "DT_FLOAT", /*next_first=*/true);
  n.emplace_back("w/Less/Enter",
                 EnterText("w/Less/Enter", "limit", "w/while_context", "DT_INT32", true));
  n.emplace_back(
      "w/Less", NodeText("w/Less", "Less", {"w/Merge", "w/Less/Enter"}, TypeAttr("T", "DT_INT32")));
  n.emplace_back("w/LoopCond", NodeText("w/LoopCond", "LoopCond", {"w/Less"}));
  n.emplace_back(
      "w/add/y",
      NodeText("w/add/y", "Const", {"^w/Identity"},
               TypeAttr("dtype", "DT_INT32") +
                   Attr("value", "tensor { dtype: DT_INT32 tensor_shape { } int_val: 1 }") +
                   Attr("_class", "list { s: \"loc:@w/Identity\" s: \"loc:@w/Merge\" }")));
  n.emplace_back("w/add", Op2("w/add", "AddV2", "w/Identity", "w/add/y", "DT_INT32"));
  n.emplace_back("w/mul/y", ConstText("w/mul/y", "DT_FLOAT", "float_val: 2", {"^w/Identity_1"}));
  n.emplace_back("w/mul", Op2("w/mul", "Mul", "w/Identity_1", "w/mul/y", "DT_FLOAT"));
  n.emplace_back("i_out", Op1("i_out", "Identity", "w/Exit", "DT_INT32"));
  n.emplace_back("acc_out", Op1("acc_out", "Identity", "w/Exit_1", "DT_FLOAT"));
  return n;
}

// ---- Inspecting results ----

tensorflow::GraphDef Parse(const std::string& text) {
  auto gd = ParseGraphDef(text, GraphDefFormat::kText, "test");
  INFO(gd.status().ToString());
  REQUIRE(gd.ok());
  return *std::move(gd);
}

tensorflow::GraphDef Functionalized(const Nodes& nodes) {
  tensorflow::GraphDef gd = Parse(Join(nodes));
  absl::Status s = FunctionalizeV1Loops(&gd);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return gd;
}

std::string ErrorOf(const Nodes& nodes) {
  tensorflow::GraphDef gd = Parse(Join(nodes));
  const tensorflow::GraphDef before = gd;
  absl::Status s = FunctionalizeV1Loops(&gd);
  CHECK(google::protobuf::util::MessageDifferencer::Equals(gd, before));  // untouched on error
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

const tensorflow::NodeDef* Find(const tensorflow::GraphDef& gd, const std::string& name) {
  for (const auto& n : gd.node()) {
    if (n.name() == name) return &n;
  }
  return nullptr;
}

const tensorflow::NodeDef& Get(const tensorflow::GraphDef& gd, const std::string& name) {
  const tensorflow::NodeDef* n = Find(gd, name);
  INFO(name);
  REQUIRE(n != nullptr);
  return *n;
}

std::vector<std::string> Inputs(const tensorflow::GraphDef& gd, const std::string& name) {
  const tensorflow::NodeDef& n = Get(gd, name);
  return {n.input().begin(), n.input().end()};
}

std::vector<std::string> Names(const tensorflow::GraphDef& gd) {
  std::vector<std::string> names;
  for (const auto& n : gd.node()) names.push_back(n.name());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<const tensorflow::NodeDef*> WhileNodes(const tensorflow::GraphDef& gd) {
  std::vector<const tensorflow::NodeDef*> out;
  for (const auto& n : gd.node()) {
    if (n.op() == kWhileOp) out.push_back(&n);
  }
  return out;
}

tensorflow::GraphDef SubGraph(const tensorflow::NodeDef& w, const std::string& attr) {
  tensorflow::GraphDef g;
  REQUIRE(w.attr().count(attr) == 1);
  REQUIRE(g.ParseFromString(w.attr().at(attr).s()));
  return g;
}

std::vector<tensorflow::DataType> Types(const tensorflow::NodeDef& w) {
  std::vector<tensorflow::DataType> types;
  for (int t : w.attr().at("T").list().type())
    types.push_back(static_cast<tensorflow::DataType>(t));
  return types;
}

void CheckArg(const tensorflow::GraphDef& g, int k, tensorflow::DataType dtype) {
  const tensorflow::NodeDef& arg = Get(g, WhileArgName(k));
  CHECK(arg.op() == "Placeholder");
  CHECK(arg.attr().at("dtype").type() == dtype);
}

void CheckResult(const tensorflow::GraphDef& g, int k, const std::vector<std::string>& inputs,
                 tensorflow::DataType dtype) {
  const tensorflow::NodeDef& ret = Get(g, WhileResultName(k));
  CHECK(ret.op() == "Identity");
  CHECK(Inputs(g, ret.name()) == inputs);
  CHECK(ret.attr().at("T").type() == dtype);
}

using tensorflow::DT_BOOL;
using tensorflow::DT_FLOAT;
using tensorflow::DT_INT32;

// ---- Structure ----

TEST_CASE("FunctionalizeV1Loops: a loop becomes one _While; Exits stay by name",
          "[functionalize]") {
  tensorflow::GraphDef original = Parse(Join(CountLoop()));
  CHECK(HasV1Loops(original));
  tensorflow::GraphDef gd = Functionalized(CountLoop());
  CHECK_FALSE(HasV1Loops(gd));
  CHECK(Names(gd) == std::vector<std::string>{"acc0", "acc_out", "i0", "i_out", "limit", "w",
                                              "w/Exit", "w/Exit_1"});
  auto whiles = WhileNodes(gd);
  REQUIRE(whiles.size() == 1);
  const tensorflow::NodeDef& w = *whiles[0];
  CHECK(w.name() == "w");
  // Variables in Merge-name order (w/Merge, w/Merge_1), then the invariant.
  CHECK(Inputs(gd, "w") == std::vector<std::string>{"i0", "acc0", "limit"});
  CHECK(Types(w) == std::vector<tensorflow::DataType>{DT_INT32, DT_FLOAT, DT_INT32});
  CHECK(Get(gd, "w/Exit").op() == "Identity");
  CHECK(Inputs(gd, "w/Exit") == std::vector<std::string>{"w:0"});
  CHECK(Get(gd, "w/Exit").attr().at("T").type() == DT_INT32);
  CHECK(Inputs(gd, "w/Exit_1") == std::vector<std::string>{"w:1"});
  CHECK(Get(gd, "w/Exit_1").attr().at("T").type() == DT_FLOAT);
  CHECK(Inputs(gd, "acc_out") == std::vector<std::string>{"w/Exit_1"});
}

TEST_CASE("FunctionalizeV1Loops: the cond graph is the LoopCond's input over args",
          "[functionalize]") {
  tensorflow::GraphDef gd = Functionalized(CountLoop());
  auto whiles = WhileNodes(gd);
  REQUIRE(whiles.size() == 1);
  tensorflow::GraphDef cond = SubGraph(*whiles[0], "cond_graph");
  CHECK(Names(cond) == std::vector<std::string>{"arg_0", "arg_1", "arg_2", "ret_0", "w/Less"});
  CheckArg(cond, 0, DT_INT32);
  CheckArg(cond, 1, DT_FLOAT);
  CheckArg(cond, 2, DT_INT32);
  CHECK(Inputs(cond, "w/Less") == std::vector<std::string>{"arg_0", "arg_2"});
  CHECK(Get(cond, "w/Less").attr().at("T").type() == DT_INT32);
  CheckResult(cond, 0, {"w/Less"}, DT_BOOL);
}

TEST_CASE("FunctionalizeV1Loops: the body graph computes the next values from Switch:1 args",
          "[functionalize]") {
  tensorflow::GraphDef gd = Functionalized(CountLoop());
  auto whiles = WhileNodes(gd);
  REQUIRE(whiles.size() == 1);
  tensorflow::GraphDef body = SubGraph(*whiles[0], "body_graph");
  CHECK(Names(body) == std::vector<std::string>{"arg_0", "arg_1", "arg_2", "ret_0", "ret_1",
                                                "ret_2", "w/Identity", "w/Identity_1", "w/add",
                                                "w/add/y", "w/mul", "w/mul/y"});
  CheckArg(body, 2, DT_INT32);
  CHECK(Inputs(body, "w/Identity") == std::vector<std::string>{"arg_0"});
  CHECK(Inputs(body, "w/Identity_1") == std::vector<std::string>{"arg_1"});
  CHECK(Inputs(body, "w/add/y") == std::vector<std::string>{"^w/Identity"});
  CHECK(Inputs(body, "w/mul") == std::vector<std::string>{"w/Identity_1", "w/mul/y"});
  // Every attr copied; the colocation entry naming a node left behind is dropped.
  const tensorflow::NodeDef& y = Get(body, "w/add/y");
  CHECK(y.attr().at("value").tensor().int_val(0) == 1);
  REQUIRE(y.attr().at("_class").list().s_size() == 1);
  CHECK(y.attr().at("_class").list().s(0) == "loc:@w/Identity");
  CheckResult(body, 0, {"w/add"}, DT_INT32);
  CheckResult(body, 1, {"w/mul"}, DT_FLOAT);
  CheckResult(body, 2, {"arg_2"}, DT_INT32);  // the invariant passes through
}

TEST_CASE("FunctionalizeV1Loops: side-effect nodes of the body run through ret_0",
          "[functionalize]") {
  // A NoOp after the counter's Identity feeds nothing; a node that reads the Merge directly
  // lands in the body, reading the Merge's arg.
  Nodes nodes = Added(CountLoop(), "w/sink", NodeText("w/sink", "NoOp", {"^w/Identity"}));
  nodes = Added(nodes, "w/peek", Op1("w/peek", "Identity", "w/Merge_1", "DT_FLOAT"));
  tensorflow::GraphDef gd = Functionalized(nodes);
  auto whiles = WhileNodes(gd);
  REQUIRE(whiles.size() == 1);
  tensorflow::GraphDef body = SubGraph(*whiles[0], "body_graph");
  CHECK(Inputs(body, "w/sink") == std::vector<std::string>{"^w/Identity"});
  CHECK(Inputs(body, "w/peek") == std::vector<std::string>{"arg_1"});
  CheckResult(body, 0, {"w/add", "^w/sink", "^w/peek"}, DT_INT32);
  CHECK(Find(SubGraph(*whiles[0], "cond_graph"), "w/sink") == nullptr);
}

TEST_CASE("FunctionalizeV1Loops: a loop reading another loop's Exit; the name is made unique",
          "[functionalize]") {
  // v: j = 0, s = w/Exit_1 (the first loop's result); while j < 3: s += s, j += 1.
  Nodes nodes = CountLoop();
  nodes.emplace_back("v", PlaceholderText("v", "DT_FLOAT"));  // takes the name "v"
  nodes.emplace_back("j0", ConstText("j0", "DT_INT32", "int_val: 0", {"^limit"}));
  AddLoopVar(&nodes, "v", "", "j0", "v/add", "DT_INT32");
  AddLoopVar(&nodes, "v", "_1", "w/Exit_1", "v/double", "DT_FLOAT");
  nodes.emplace_back("v/three", ConstText("v/three", "DT_INT32", "int_val: 3", {"^v/Merge"}));
  nodes.emplace_back("v/Less", Op2("v/Less", "Less", "v/Merge", "v/three", "DT_INT32"));
  nodes.emplace_back("v/LoopCond", NodeText("v/LoopCond", "LoopCond", {"v/Less"}));
  nodes.emplace_back("v/one", ConstText("v/one", "DT_INT32", "int_val: 1", {"^v/Identity"}));
  nodes.emplace_back("v/add", Op2("v/add", "AddV2", "v/Identity", "v/one", "DT_INT32"));
  nodes.emplace_back("v/double",
                     Op2("v/double", "AddV2", "v/Identity_1", "v/Identity_1", "DT_FLOAT"));
  nodes.emplace_back("s_out", Op1("s_out", "Identity", "v/Exit_1", "DT_FLOAT"));
  tensorflow::GraphDef gd = Functionalized(nodes);
  CHECK_FALSE(HasV1Loops(gd));
  auto whiles = WhileNodes(gd);
  REQUIRE(whiles.size() == 2);
  CHECK(Inputs(gd, "v_1") == std::vector<std::string>{"j0", "w/Exit_1"});
  CHECK(Inputs(gd, "v/Exit_1") == std::vector<std::string>{"v_1:1"});
  tensorflow::GraphDef cond = SubGraph(Get(gd, "v_1"), "cond_graph");
  CHECK(Inputs(cond, "v/three") == std::vector<std::string>{"^arg_0"});
}

TEST_CASE("FunctionalizeV1Loops: enter control inputs move onto the _While", "[functionalize]") {
  Nodes nodes = Added(CountLoop(), "init", NodeText("init", "NoOp", {}));
  nodes =
      Replaced(nodes, "w/Enter",
               NodeText("w/Enter", "Enter", {"i0", "^init"},
                        TypeAttr("T", "DT_INT32") + Attr("frame_name", "s: \"w/while_context\"") +
                            Attr("is_constant", "b: false")));
  tensorflow::GraphDef gd = Functionalized(nodes);
  CHECK(Inputs(gd, "w") == std::vector<std::string>{"i0", "acc0", "limit", "^init"});
}

// outer: i = 0, t = 0; while i < 3: (inner: k = 0, t2 = t; while k < i: t2 += 1, k += 1);
//        t = t2 + 1; i += 1.
Nodes NestedLoops() {
  Nodes n;
  n.emplace_back("i0", ConstText("i0", "DT_INT32", "int_val: 0"));
  n.emplace_back("t0", ConstText("t0", "DT_FLOAT", "float_val: 0"));
  AddLoopVar(&n, "o", "", "i0", "o/add", "DT_INT32");
  AddLoopVar(&n, "o", "_1", "t0", "o/t_next", "DT_FLOAT");
  n.emplace_back("o/three", ConstText("o/three", "DT_INT32", "int_val: 3", {"^o/Merge"}));
  n.emplace_back("o/Less", Op2("o/Less", "Less", "o/Merge", "o/three", "DT_INT32"));
  n.emplace_back("o/LoopCond", NodeText("o/LoopCond", "LoopCond", {"o/Less"}));
  n.emplace_back("o/one", ConstText("o/one", "DT_INT32", "int_val: 1", {"^o/Identity"}));
  n.emplace_back("o/add", Op2("o/add", "AddV2", "o/Identity", "o/one", "DT_INT32"));
  // The inner loop, frame "o/in/while_context": k from 0, t2 from o/Identity_1; bound o/Identity.
  n.emplace_back("o/k0", ConstText("o/k0", "DT_INT32", "int_val: 0", {"^o/Identity"}));
  AddLoopVar(&n, "o/in", "", "o/k0", "o/in/add", "DT_INT32");
  AddLoopVar(&n, "o/in", "_1", "o/Identity_1", "o/in/t_next", "DT_FLOAT");
  n.emplace_back("o/in/Less/Enter", EnterText("o/in/Less/Enter", "o/Identity", "o/in/while_context",
                                              "DT_INT32", true));
  n.emplace_back("o/in/Less",
                 Op2("o/in/Less", "Less", "o/in/Merge", "o/in/Less/Enter", "DT_INT32"));
  n.emplace_back("o/in/LoopCond", NodeText("o/in/LoopCond", "LoopCond", {"o/in/Less"}));
  n.emplace_back("o/in/one", ConstText("o/in/one", "DT_INT32", "int_val: 1", {"^o/in/Identity"}));
  n.emplace_back("o/in/add", Op2("o/in/add", "AddV2", "o/in/Identity", "o/in/one", "DT_INT32"));
  n.emplace_back("o/in/onef",
                 ConstText("o/in/onef", "DT_FLOAT", "float_val: 1", {"^o/in/Identity"}));
  n.emplace_back("o/in/t_next",
                 Op2("o/in/t_next", "AddV2", "o/in/Identity_1", "o/in/onef", "DT_FLOAT"));
  n.emplace_back("o/onef", ConstText("o/onef", "DT_FLOAT", "float_val: 1", {"^o/Identity"}));
  n.emplace_back("o/t_next", Op2("o/t_next", "AddV2", "o/in/Exit_1", "o/onef", "DT_FLOAT"));
  n.emplace_back("t_out", Op1("t_out", "Identity", "o/Exit_1", "DT_FLOAT"));
  return n;
}

TEST_CASE("FunctionalizeV1Loops: a nested loop stays in v1 form inside the outer body",
          "[functionalize]") {
  tensorflow::GraphDef gd = Functionalized(NestedLoops());
  auto whiles = WhileNodes(gd);
  REQUIRE(whiles.size() == 1);
  CHECK(whiles[0]->name() == "o");
  CHECK(Names(gd) == std::vector<std::string>{"i0", "o", "o/Exit", "o/Exit_1", "t0", "t_out"});
  tensorflow::GraphDef body = SubGraph(*whiles[0], "body_graph");
  CHECK(HasV1Loops(body));
  CHECK(Inputs(body, "o/in/Enter_1") == std::vector<std::string>{"o/Identity_1"});
  CHECK(Get(body, "o/in/Enter_1").attr().at("frame_name").s() == "o/in/while_context");
  CheckResult(body, 1, {"o/t_next"}, DT_FLOAT);
  // The inner loop's unused Exit (the counter) is a sink of the outer body.
  CheckResult(body, 0, {"o/add", "^o/in/Exit"}, DT_INT32);

  // Functionalizing the body (as its import does) gives the inner "_While".
  REQUIRE(FunctionalizeV1Loops(&body).ok());
  CHECK_FALSE(HasV1Loops(body));
  auto inner = WhileNodes(body);
  REQUIRE(inner.size() == 1);
  CHECK(inner[0]->name() == "o/in");
  CHECK(Inputs(body, "o/in") == std::vector<std::string>{"o/k0", "o/Identity_1", "o/Identity"});
  CHECK(Inputs(body, "o/in/Exit_1") == std::vector<std::string>{"o/in:1"});
}

TEST_CASE("FunctionalizeV1Loops: graphs without loops are left alone", "[functionalize]") {
  tensorflow::GraphDef gd =
      Parse(PlaceholderText("x", "DT_FLOAT") + Op1("y", "Identity", "x", "DT_FLOAT"));
  const std::string before = gd.SerializeAsString();
  CHECK_FALSE(HasV1Loops(gd));
  REQUIRE(FunctionalizeV1Loops(&gd).ok());
  CHECK(gd.SerializeAsString() == before);
  CHECK_FALSE(FunctionalizeV1Loops(nullptr).ok());
}

// ---- Refusals ----

TEST_CASE("FunctionalizeV1Loops: refuses a frame without exactly one LoopCond", "[functionalize]") {
  std::string none = ErrorOf(
      Replaced(CountLoop(), "w/LoopCond", Op1("w/LoopCond", "Identity", "w/Less", "DT_BOOL")));
  CHECK_THAT(none, Catch::Contains("w/while_context") && Catch::Contains("0 LoopCond"));
  std::string two =
      ErrorOf(Added(CountLoop(), "w/LoopCond_2", NodeText("w/LoopCond_2", "LoopCond", {"w/Less"})));
  CHECK_THAT(two, Catch::Contains("w/while_context") && Catch::Contains("2 LoopCond"));
}

TEST_CASE("FunctionalizeV1Loops: refuses a loop Merge that is not (Enter, NextIteration)",
          "[functionalize]") {
  std::string e = ErrorOf(Replaced(
      CountLoop(), "w/Merge_1",
      NodeText("w/Merge_1", "Merge", {"w/Enter_1", "w/Identity"}, TypeAttr("T", "DT_FLOAT"))));
  CHECK_THAT(e, Catch::Contains("w/while_context") && Catch::Contains("w/Merge_1") &&
                    Catch::Contains("NextIteration"));
}

TEST_CASE("FunctionalizeV1Loops: refuses a body reading Switch:0", "[functionalize]") {
  std::string e = ErrorOf(
      Replaced(CountLoop(), "w/mul", Op2("w/mul", "Mul", "w/Switch_1", "w/mul/y", "DT_FLOAT")));
  CHECK_THAT(e, Catch::Contains("w/while_context") && Catch::Contains("w/mul") &&
                    Catch::Contains("Switch:0"));
}

TEST_CASE("FunctionalizeV1Loops: refuses a body reading an outer tensor without an Enter",
          "[functionalize]") {
  Nodes nodes = Added(CountLoop(), "two", ConstText("two", "DT_FLOAT", "float_val: 2"));
  std::string e =
      ErrorOf(Replaced(nodes, "w/mul", Op2("w/mul", "Mul", "w/Identity_1", "two", "DT_FLOAT")));
  CHECK_THAT(e, Catch::Contains("w/while_context") && Catch::Contains("w/mul") &&
                    Catch::Contains("Enter"));
}

TEST_CASE("FunctionalizeV1Loops: refuses ref-typed and resource loop variables",
          "[functionalize]") {
  Nodes refs = Replaced(CountLoop(), "w/Merge_1",
                        NodeText("w/Merge_1", "Merge", {"w/NextIteration_1", "w/Enter_1"},
                                 TypeAttr("T", "DT_FLOAT_REF")));
  CHECK_THAT(ErrorOf(refs), Catch::Contains("w/Merge_1") && Catch::Contains("ref"));
  Nodes ref_op =
      Replaced(CountLoop(), "w/Less/Enter",
               NodeText("w/Less/Enter", "RefEnter", {"limit"},
                        TypeAttr("T", "DT_INT32") + Attr("frame_name", "s: \"w/while_context\"")));
  CHECK_THAT(ErrorOf(ref_op), Catch::Contains("w/Less/Enter") && Catch::Contains("ref"));
  Nodes res = Added(CountLoop(), "h", PlaceholderText("h", "DT_RESOURCE"));
  res =
      Added(res, "w/h/Enter", EnterText("w/h/Enter", "h", "w/while_context", "DT_RESOURCE", true));
  CHECK_THAT(ErrorOf(res), Catch::Contains("w/while_context") && Catch::Contains("w/h/Enter") &&
                               Catch::Contains("DT_RESOURCE"));
}

TEST_CASE("FunctionalizeV1Loops: refuses NextIteration and Merge counts that differ",
          "[functionalize]") {
  std::string e = ErrorOf(Added(CountLoop(), "w/NextIteration_2",
                                Op1("w/NextIteration_2", "NextIteration", "w/add", "DT_INT32")));
  CHECK_THAT(e, Catch::Contains("w/while_context") && Catch::Contains("3 NextIteration") &&
                    Catch::Contains("2 loop Merges"));
}

TEST_CASE("FunctionalizeV1Loops: refuses missing attrs and loop ops outside loops",
          "[functionalize]") {
  std::string no_frame =
      ErrorOf(Replaced(CountLoop(), "w/Enter", NodeText("w/Enter", "Enter", {"i0"})));
  CHECK_THAT(no_frame, Catch::Contains("w/Enter") && Catch::Contains("frame_name"));
  std::string no_type = ErrorOf(Replaced(
      CountLoop(), "w/Merge", NodeText("w/Merge", "Merge", {"w/Enter", "w/NextIteration"})));
  CHECK_THAT(no_type, Catch::Contains("w/Merge") && Catch::Contains("attr T"));
  std::string stray =
      ErrorOf({{"x", PlaceholderText("x", "DT_BOOL")}, {"c", NodeText("c", "LoopCond", {"x"})}});
  CHECK_THAT(stray, Catch::Contains("'c'") && Catch::Contains("not inside any while loop"));
}

// Every loop with one node dropped, or one input of one node dropped: an error or a graph,
// never a crash (run under ASan in the asan tree).
TEST_CASE("FunctionalizeV1Loops: mangled loops never crash", "[functionalize]") {
  for (const Nodes& base : {CountLoop(), NestedLoops()}) {
    for (size_t i = 0; i < base.size(); ++i) {
      Nodes dropped = base;
      dropped.erase(dropped.begin() + static_cast<long>(i));
      tensorflow::GraphDef gd = Parse(Join(dropped));
      (void)FunctionalizeV1Loops(&gd);
      tensorflow::GraphDef full = Parse(Join(base));
      for (int j = 0; j < full.node(static_cast<int>(i)).input_size(); ++j) {
        tensorflow::GraphDef cut = full;
        auto* inputs = cut.mutable_node(static_cast<int>(i))->mutable_input();
        inputs->erase(inputs->begin() + j);
        (void)FunctionalizeV1Loops(&cut);
        tensorflow::GraphDef renamed = full;
        renamed.mutable_node(static_cast<int>(i))->set_input(j, "nowhere:1");
        (void)FunctionalizeV1Loops(&renamed);
      }
    }
  }
  SUCCEED();
}

// ---- Values (by hand) ----
// A Session imports the v1 GraphDef as it is: ImportGraphDef functionalizes the loops, and the
// "_While" kernel imports the body (functionalizing a nested loop in turn).

TEST_CASE("FunctionalizeV1Loops: a Session runs a v1 loop", "[functionalize]") {
  // i = 0, acc = 1; while i < limit: acc *= 2, i += 1.
  auto session = Session::Create(Parse(Join(CountLoop())));
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  for (int limit : {5, 0}) {
    auto r = (*session)->Run({{"limit", Tensor::Scalar<int32_t>(limit)}}, {"i_out", "acc_out"});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    CHECK((*r)[0].ToVector<int32_t>() == std::vector<int32_t>{limit});  // limit = 5: i = 5
    CHECK((*r)[1].ToVector<float>() == std::vector<float>{limit == 5 ? 32.0f : 1.0f});
  }
}

TEST_CASE("FunctionalizeV1Loops: a Session runs nested v1 loops", "[functionalize]") {
  // i = 0: the inner loop runs 0 times, t = 0 + 1 = 1; i = 1: once, t = 1 + 1 + 1 = 3;
  // i = 2: twice, t = 3 + 2 + 1 = 6.
  auto session = Session::Create(Parse(Join(NestedLoops())));
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  auto r = (*session)->Run({}, {"t_out", "o/Exit"});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{6});
  CHECK((*r)[1].ToVector<int32_t>() == std::vector<int32_t>{3});
}

}  // namespace
}  // namespace quiver
