// Loops: TF2's functional While (StatelessWhile with cond/body functions) becomes a "_While"
// node at import (graph/while_loop.h) whose kernel (runtime/while_op.cc) iterates cond and
// body. Expected values are derived by hand; refusals name the node and the reason.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "devices/kernel.h"
#include "graph/graphdef.h"
#include "graph/op_registry.h"
#include "graph/while_loop.h"
#include "runtime/session.h"

namespace quiver {
namespace {

// Reports the intra-op thread budget its step gives kernels (ctx.intra_op_threads()).
QUIVER_REGISTER_OP("WhileTestIntraOpThreads")
    .Output("threads: int32")
    .SetIsStateful()
    .SetShapeFn(shape_fn::Scalar);
class IntraOpThreadsOp : public OpKernel {
 public:
  absl::Status Compute(OpKernelContext& ctx) const override {
    auto out = ctx.allocate_output(0, TensorShape({}));
    if (!out.ok()) return out.status();
    *(*out)->data<int32_t>() = ctx.intra_op_threads();
    return absl::OkStatus();
  }
};
QUIVER_REGISTER_KERNEL(KernelDef("WhileTestIntraOpThreads", kCpu),
                       [](OpKernelConstruction&) -> KernelOrError {
                         return std::make_unique<IntraOpThreadsOp>();
                       });

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// Plain strings: clang-format would reflow partial text protos in R"pb(...)pb" literals.
std::string ConstNode(const std::string& name, const std::string& dtype,
                      const std::string& value_field) {
  return "node_def { name: '" + name + "' op: 'Const' attr { key: 'dtype' value { type: " + dtype +
         " } } attr { key: 'value' value { tensor { dtype: " + dtype + " tensor_shape {} " +
         value_field + " } } } }";
}

// cond C(i, acc) = i < limit; body B(i, acc) = (i + 1, acc * 2).
std::string Library(const std::string& limit_field = "int_val: 5",
                    const std::string& cond_body = "") {
  const std::string args =
      "input_arg { name: 'i' type: DT_INT32 } input_arg { name: 'acc' type: DT_FLOAT } ";
  const std::string cond =
      cond_body.empty()
          ? ConstNode("limit", "DT_INT32", limit_field) +
                " node_def { name: 'less' op: 'Less' input: 'i' input: 'limit:output:0' "
                "attr { key: 'T' value { type: DT_INT32 } } } ret { key: 'r' value: 'less:z:0' }"
          : cond_body;
  return "library { function { signature { name: 'C' " + args +
         "output_arg { name: 'r' type: DT_BOOL } } " + cond +
         " } function { signature { name: 'B' " + args +
         "output_arg { name: 'i_next' type: DT_INT32 } "
         "output_arg { name: 'acc_next' type: DT_FLOAT } } " +
         ConstNode("one", "DT_INT32", "int_val: 1") + ConstNode("two", "DT_FLOAT", "float_val: 2") +
         " node_def { name: 'inc' op: 'AddV2' input: 'i' input: 'one:output:0' "
         "attr { key: 'T' value { type: DT_INT32 } } } "
         "node_def { name: 'dbl' op: 'Mul' input: 'acc' input: 'two:output:0' "
         "attr { key: 'T' value { type: DT_FLOAT } } } "
         "ret { key: 'i_next' value: 'inc:z:0' } ret { key: 'acc_next' value: 'dbl:z:0' } } }";
}

// w = StatelessWhile(i0 = 0, acc0 = fed) with `types` as T; i_out, acc_out read it.
std::string LoopGraph(const std::string& library,
                      const std::string& types = "type: DT_INT32 type: DT_FLOAT") {
  return "node { name: 'i0' op: 'Const' attr { key: 'dtype' value { type: DT_INT32 } } "
         "attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } } "
         "node { name: 'acc0' op: 'Placeholder' attr { key: 'dtype' value { type: DT_FLOAT } } } "
         "node { name: 'w' op: 'StatelessWhile' input: 'i0' input: 'acc0' "
         "attr { key: 'T' value { list { " +
         types +
         " } } } attr { key: 'cond' value { func { name: 'C' } } } "
         "attr { key: 'body' value { func { name: 'B' } } } } "
         "node { name: 'i_out' op: 'Identity' input: 'w' "
         "attr { key: 'T' value { type: DT_INT32 } } } "
         "node { name: 'acc_out' op: 'Identity' input: 'w:1' "
         "attr { key: 'T' value { type: DT_FLOAT } } } " +
         library;
}

absl::StatusOr<std::unique_ptr<Session>> Load(const std::string& text) {
  auto gd = ParseGraphDef(text, GraphDefFormat::kText, "test");
  if (!gd.ok()) return gd.status();
  return Session::Create(*gd);
}

TEST_CASE("a functional While iterates its body until cond is false", "[while]") {
  auto session = Load(LoopGraph(Library()));
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  for (float acc0 : {1.0f, -0.5f}) {
    auto r = (*session)->Run({{"acc0", Tensor::Scalar<float>(acc0)}}, {"i_out", "acc_out"});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    CHECK(*(*r)[0].data<int32_t>() == 5);           // i: 0 -> 5
    CHECK(*(*r)[1].data<float>() == acc0 * 32.0f);  // doubled five times
  }
  // A loop whose cond is false at once returns its inputs.
  auto none = Load(LoopGraph(Library("int_val: 0")));
  REQUIRE(none.ok());
  auto r = (*none)->Run({{"acc0", Tensor::Scalar<float>(3)}}, {"i_out", "acc_out"});
  REQUIRE(r.ok());
  CHECK(*(*r)[0].data<int32_t>() == 0);
  CHECK(*(*r)[1].data<float>() == 3.0f);
}

TEST_CASE("an endless loop stops at the step's deadline; the session stays usable", "[while]") {
  const std::string always =
      ConstNode("t", "DT_BOOL", "bool_val: true") + " ret { key: 'r' value: 't:output:0' }";
  auto session = Load(LoopGraph(Library("", always)));
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  RunOptions options;
  options.timeout_ms = 200;
  auto r = (*session)->Run(options, {{"acc0", Tensor::Scalar<float>(1)}}, {"acc_out"}, {}, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kDeadlineExceeded);
  CancellationToken token;
  token.Cancel();
  RunOptions cancelled;
  cancelled.cancellation = &token;
  auto c =
      (*session)->Run(cancelled, {{"acc0", Tensor::Scalar<float>(1)}}, {"acc_out"}, {}, nullptr);
  CHECK(c.status().code() == absl::StatusCode::kCancelled);
}

TEST_CASE("loops that cannot run are refused naming the node", "[while]") {
  auto error = [](const std::string& text) {
    auto s = Load(text);
    CHECK_FALSE(s.ok());
    return Message(s.status());
  };
  std::string missing = Library();
  missing.replace(missing.find("name: 'B'"), 9, "name: 'X'");
  CHECK_THAT(error(LoopGraph(missing)),
             Catch::Contains("node 'w' (StatelessWhile): function 'B' is missing"));
  // A resource loop variable is carried as its value only when the loop just reads it.
  std::string resource_lib = Library();
  for (const std::string from : {"name: 'acc' type: DT_FLOAT", "name: 'acc_next' type: DT_FLOAT"}) {
    for (size_t at = resource_lib.find(from); at != std::string::npos;
         at = resource_lib.find(from, at + 1)) {
      resource_lib.replace(at + from.size() - 8, 8, "DT_RESOURCE");
    }
  }
  CHECK_THAT(error(LoopGraph(resource_lib, "type: DT_INT32 type: DT_RESOURCE")),
             Catch::Contains("uses its resource argument 'acc' in node 'dbl' (Mul); only loops "
                             "that just read a variable are supported"));
  CHECK_THAT(error(LoopGraph(Library(), "type: DT_INT32 type: DT_RESOURCE")),
             Catch::Contains("returns DT_FLOAT for loop variable 1 of type DT_RESOURCE"));
  CHECK_THAT(error(LoopGraph(Library(), "type: DT_INT32")),
             Catch::Contains("has 2 data inputs for 1 loop variables"));
  const std::string int_cond =
      ConstNode("k", "DT_INT32", "int_val: 1") + " ret { key: 'r' value: 'k:output:0' }";
  std::string lib = Library("", int_cond);
  lib.replace(lib.find("name: 'r' type: DT_BOOL"), 23, "name: 'r' type: DT_INT32");
  CHECK_THAT(error(LoopGraph(lib)), Catch::Contains("must return one bool"));
}

// A GraphDef that nests `depth` loops: level d runs `while v < 1: v = L_{d-1}(v) + 1` (level 1:
// v = v + 1), so from 0, L_1 = 1 and L_d = L_{d-1} + 1 = d: each level runs one iteration.
tensorflow::NodeDef NodeOf(const std::string& name, const std::string& op,
                           std::vector<std::string> inputs) {
  tensorflow::NodeDef n;
  n.set_name(name);
  n.set_op(op);
  for (auto& i : inputs) n.add_input(i);
  (*n.mutable_attr())["T"].set_type(tensorflow::DT_INT32);
  return n;
}

tensorflow::NodeDef IntConst(const std::string& name, int value) {
  tensorflow::NodeDef n;
  n.set_name(name);
  n.set_op("Const");
  (*n.mutable_attr())["dtype"].set_type(tensorflow::DT_INT32);
  auto* t = (*n.mutable_attr())["value"].mutable_tensor();
  t->set_dtype(tensorflow::DT_INT32);
  t->mutable_tensor_shape();
  t->add_int_val(value);
  return n;
}

tensorflow::NodeDef NestedLoop(const std::string& name, const std::string& input, int depth) {
  tensorflow::GraphDef cond, body;
  for (tensorflow::GraphDef* g : {&cond, &body}) {
    tensorflow::NodeDef arg;
    arg.set_name(WhileArgName(0));
    arg.set_op("Placeholder");
    (*arg.mutable_attr())["dtype"].set_type(tensorflow::DT_INT32);
    *g->add_node() = arg;
    *g->add_node() = IntConst("one", 1);
  }
  *cond.add_node() = NodeOf(WhileResultName(0), "Less", {WhileArgName(0), "one"});
  std::string x = WhileArgName(0);
  if (depth > 1) {
    *body.add_node() = NestedLoop("inner", WhileArgName(0), depth - 1);
    x = "inner";
  }
  *body.add_node() = NodeOf(WhileResultName(0), "AddV2", {x, "one"});
  return MakeWhileNode(name, "", {input}, {tensorflow::DT_INT32}, cond, body, {});
}

absl::StatusOr<std::vector<Tensor>> RunNested(int depth) {
  tensorflow::GraphDef g;
  *g.add_node() = IntConst("i0", 0);
  *g.add_node() = NestedLoop("w", "i0", depth);
  auto session = Session::Create(g);
  if (!session.ok()) return session.status();
  return (*session)->Run({}, {"w"});
}

TEST_CASE("loops nested in loops run; nesting past 64 levels is refused", "[while]") {
  auto ok = RunNested(8);
  INFO(ok.status().ToString());
  REQUIRE(ok.ok());
  CHECK(*(*ok)[0].data<int32_t>() == 8);
  auto deep = RunNested(70);
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(Message(deep.status()), Catch::Contains("loops nest deeper than 64"));
}

TEST_CASE("a tensor inside a TF1 loop cannot be fetched, and the error says why", "[while]") {
  auto gd = ReadGraphDefFile(std::string(QUIVER_TEST_DATA_DIR) + "/tf/while_v1/graph.pb");
  REQUIRE(gd.ok());
  auto session = Session::Create(*gd);
  INFO(session.status().ToString());
  REQUIRE(session.ok());
  auto r = (*session)->Run({{"n", Tensor::Scalar<int32_t>(3)}}, {"loop/Identity"});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(Message(r.status()), Catch::Contains("no node named 'loop/Identity'") &&
                                      Catch::Contains("inside the loop 'loop'"));
}

TEST_CASE("a loop's body keeps the outer step's intra-op thread budget", "[while][threads]") {
  // w = loop (i, t): while i < 1: (i + 1, threads seen by the body). RunOptions may lower a
  // step's budget below the session's, never raise it.
  tensorflow::GraphDef cond, body;
  for (tensorflow::GraphDef* g : {&cond, &body}) {
    for (int k = 0; k < 2; ++k) {
      tensorflow::NodeDef arg;
      arg.set_name(WhileArgName(k));
      arg.set_op("Placeholder");
      (*arg.mutable_attr())["dtype"].set_type(tensorflow::DT_INT32);
      *g->add_node() = arg;
    }
    *g->add_node() = IntConst("one", 1);
  }
  *cond.add_node() = NodeOf(WhileResultName(0), "Less", {WhileArgName(0), "one"});
  *body.add_node() = NodeOf(WhileResultName(0), "AddV2", {WhileArgName(0), "one"});
  tensorflow::NodeDef probe;
  probe.set_name(WhileResultName(1));
  probe.set_op("WhileTestIntraOpThreads");
  *body.add_node() = probe;
  tensorflow::GraphDef g;
  *g.add_node() = IntConst("i0", 0);
  *g.add_node() = IntConst("t0", 0);
  *g.add_node() = MakeWhileNode("w", "", {"i0", "t0"}, {tensorflow::DT_INT32, tensorflow::DT_INT32},
                                cond, body, {});
  for (int session_threads : {1, 2}) {
    SessionOptions options;
    options.intra_op_threads = session_threads;
    auto session = Session::Create(g, options);
    INFO(session.status().ToString());
    REQUIRE(session.ok());
    auto r = (*session)->Run({}, {"w:1"});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    CHECK(*(*r)[0].data<int32_t>() == session_threads);
    RunOptions one_thread;
    one_thread.intra_op_threads = 1;
    auto capped = (*session)->Run(one_thread, {}, {"w:1"}, {}, nullptr);
    REQUIRE(capped.ok());
    CHECK(*(*capped)[0].data<int32_t>() == 1);
    RunOptions more;
    more.intra_op_threads = 8;  // more than the session has: the session's budget
    auto raised = (*session)->Run(more, {}, {"w:1"}, {}, nullptr);
    REQUIRE(raised.ok());
    CHECK(*(*raised)[0].data<int32_t>() == session_threads);
  }
}

}  // namespace
}  // namespace quiver
