// TF1 ref-variable kernels (VariableV2, Assign, AssignAdd/Sub, IsVariableInitialized) run
// directly against a test-owned variable store, plus their shape functions.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "devices/kernel.h"
#include "graph/graph.h"
#include "tests/devices/kernel_test_util.h"

using namespace quiver;

namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The session's variable store, in miniature.
struct VarStore {
  std::map<std::string, std::unique_ptr<Variable>> vars;
  StepResources resources;
  VarStore() {
    resources.variable = [this](const std::string& name, bool create) -> Variable* {
      auto it = vars.find(name);
      if (it != vars.end()) return it->second.get();
      if (!create) return nullptr;
      return (vars[name] = std::make_unique<Variable>()).get();
    };
  }
};

// A graph with variable W (float [2,2] unless given) and helpers to add and run nodes.
struct Fixture {
  Graph graph;
  VarStore store;
  Node* var = nullptr;

  explicit Fixture(DataType dtype = DT_FLOAT, TensorShape shape = TensorShape{2, 2},
                   std::string shared_name = "") {
    NodeSpec spec;
    spec.name = "W";
    spec.op = "VariableV2";
    spec.attrs["dtype"] = MakeAttr(dtype);
    spec.attrs["shape"] = MakeAttr(shape);
    if (!shared_name.empty()) spec.attrs["shared_name"] = MakeAttr(shared_name);
    auto n = graph.AddNode(std::move(spec));
    INFO(n.status().ToString());
    REQUIRE(n.ok());
    var = *n;
  }

  Node* Const(const std::string& name, const Tensor& t) {
    auto n = quiver::testing::AddConst(graph, name, t);
    REQUIRE(n.ok());
    return *n;
  }

  absl::StatusOr<Node*> Add(const std::string& name, const std::string& op, AttrMap attrs,
                            std::vector<Endpoint> inputs) {
    NodeSpec spec;
    spec.name = name;
    spec.op = op;
    spec.attrs = std::move(attrs);
    spec.inputs = std::move(inputs);
    return graph.AddNode(std::move(spec));
  }

  // Runs `node` with the given input values; returns the outputs or the kernel's error.
  absl::StatusOr<std::vector<TensorValue>> RunNode(Node* node, std::vector<TensorValue> inputs) {
    auto kernel = KernelRegistry::Global().CreateKernel(*node, kCpu);
    if (!kernel.ok()) return kernel.status();
    std::vector<TensorValue> outputs(node->num_outputs());
    OpKernelContext ctx(*node, &inputs, &outputs, &store.resources);
    absl::Status s = (*kernel)->Compute(ctx);
    if (!s.ok()) return s;
    return outputs;
  }

  TensorValue RunVariable() {
    auto out = RunNode(var, {});
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    return (*out)[0];
  }

  // The ref a variable output carries, as a consumer's ref input: the Variable only.
  static TensorValue RefOf(Variable* v) { return TensorValue{Tensor(), v}; }
};

std::vector<float> Values(Variable* v) {
  ReaderMutexLock lock(&v->mu);
  return v->value.ToVector<float>();
}

}  // namespace

TEST_CASE("VariableV2 creates one session variable and outputs a ref to it", "[state]") {
  Fixture f;
  TensorValue out = f.RunVariable();
  REQUIRE(out.ref != nullptr);
  REQUIRE_FALSE(out.tensor.valid());  // uninitialised until assigned
  REQUIRE(f.store.vars.size() == 1);
  REQUIRE(f.store.vars.count("W") == 1);
  REQUIRE(f.RunVariable().ref == out.ref);  // the same variable on every step

  Fixture shared(DT_FLOAT, TensorShape{2, 2}, "shared_w");
  shared.RunVariable();
  REQUIRE(shared.store.vars.count("shared_w") == 1);

  // A store that cannot create variables is an error, not a crash.
  Fixture none;
  none.store.resources.variable = nullptr;
  auto missing = none.RunNode(none.var, {});
  REQUIRE_FALSE(missing.ok());
  REQUIRE(Contains(std::string(missing.status().message()), "node 'W'"));
}

TEST_CASE("Assign initialises with a private copy, then writes in place", "[state]") {
  Fixture f;
  Variable* v = f.RunVariable().ref;
  Node* init_value = f.Const("init", Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape{2, 2}));
  auto assign =
      f.Add("assign", "Assign", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {init_value, 0}});
  REQUIRE(assign.ok());
  auto is_init =
      f.Add("is_init", "IsVariableInitialized", {{"dtype", MakeAttr(DT_FLOAT)}}, {{f.var, 0}});
  REQUIRE(is_init.ok());

  auto before = f.RunNode(*is_init, {Fixture::RefOf(v)});
  REQUIRE(before.ok());
  REQUIRE_FALSE(*(*before)[0].tensor.data<bool>());

  Tensor value = Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape{2, 2});
  auto out = f.RunNode(*assign, {Fixture::RefOf(v), {value, nullptr}});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  REQUIRE((*out)[0].ref == v);
  REQUIRE(Values(v) == std::vector<float>{1, 2, 3, 4});
  REQUIRE_FALSE(v->value.SharesBufferWith(value));  // never aliases the (possibly fed) input
  value.data<float>()[0] = 100;                     // so later writes to it do not leak in
  REQUIRE(Values(v)[0] == 1);

  auto after = f.RunNode(*is_init, {Fixture::RefOf(v)});
  REQUIRE(after.ok());
  REQUIRE(*(*after)[0].tensor.data<bool>());

  // Same shape again, nobody reading: the existing buffer is overwritten (no allocation).
  const void* buffer = v->value.raw_data();
  Tensor next = Tensor::FromVector<float>({5, 6, 7, 8}, TensorShape{2, 2});
  REQUIRE(f.RunNode(*assign, {Fixture::RefOf(v), {next, nullptr}}).ok());
  REQUIRE(v->value.raw_data() == buffer);
  REQUIRE(Values(v) == std::vector<float>{5, 6, 7, 8});

  // A reader holds the value (a fetch): it keeps what it read; the variable gets a new buffer.
  Tensor held = v->value;
  Tensor third = Tensor::FromVector<float>({9, 10, 11, 12}, TensorShape{2, 2});
  REQUIRE(f.RunNode(*assign, {Fixture::RefOf(v), {third, nullptr}}).ok());
  REQUIRE_FALSE(v->value.SharesBufferWith(held));
  REQUIRE(held.ToVector<float>() == std::vector<float>{5, 6, 7, 8});
  REQUIRE(Values(v) == std::vector<float>{9, 10, 11, 12});

  // Assigning the variable its own current value (its read) is a no-op, not a copy.
  Tensor own = v->value;
  REQUIRE(f.RunNode(*assign, {Fixture::RefOf(v), {own, nullptr}}).ok());
  REQUIRE(v->value.SharesBufferWith(own));
  REQUIRE(Values(v) == std::vector<float>{9, 10, 11, 12});
}

TEST_CASE("Assign validates shapes unless validate_shape=false", "[state]") {
  Fixture f;
  Variable* v = f.RunVariable().ref;
  Node* c = f.Const("c", Tensor::FromVector<float>({0, 0, 0, 0}, TensorShape{2, 2}));
  auto assign = f.Add("assign", "Assign", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c, 0}});
  REQUIRE(assign.ok());
  REQUIRE(
      f.RunNode(*assign, {Fixture::RefOf(v), {Tensor::Zeros(DT_FLOAT, {2, 2}).value(), nullptr}})
          .ok());

  // A fed value of another shape: the kernel refuses and names the node and both shapes.
  Tensor wrong = Tensor::FromVector<float>({1, 2, 3}, TensorShape{3});
  auto bad = f.RunNode(*assign, {Fixture::RefOf(v), {wrong, nullptr}});
  REQUIRE_FALSE(bad.ok());
  std::string msg(bad.status().message());
  REQUIRE(Contains(msg, "node 'assign' (Assign)"));
  REQUIRE(Contains(msg,
                   "Assign requires shapes of both tensors to match. lhs shape= [2,2] rhs "
                   "shape= [3]"));
  REQUIRE(Values(v) == std::vector<float>{0, 0, 0, 0});  // unchanged

  // validate_shape=false replaces the value (and its shape).
  auto loose =
      f.Add("loose", "Assign", {{"T", MakeAttr(DT_FLOAT)}, {"validate_shape", MakeAttr(false)}},
            {{f.var, 0}, {c, 0}});
  REQUIRE(loose.ok());
  REQUIRE(f.RunNode(*loose, {Fixture::RefOf(v), {wrong, nullptr}}).ok());
  REQUIRE(v->value.shape() == TensorShape{3});
  REQUIRE(Values(v) == std::vector<float>{1, 2, 3});

  // Its own value reshaped (same buffer, new shape) takes the new shape too.
  auto column = v->value.Reshaped(TensorShape{3, 1});
  REQUIRE(column.ok());
  REQUIRE(f.RunNode(*loose, {Fixture::RefOf(v), {*column, nullptr}}).ok());
  REQUIRE(v->value.shape() == (TensorShape{3, 1}));
  REQUIRE(Values(v) == std::vector<float>{1, 2, 3});

  // The shape function catches a constant of the wrong shape at graph construction.
  Node* c3 = f.Const("c3", wrong);
  auto static_bad =
      f.Add("static_bad", "Assign", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c3, 0}});
  REQUIRE(static_bad.ok());
  absl::Status s = f.graph.InferShapes();
  REQUIRE_FALSE(s.ok());
  REQUIRE(Contains(std::string(s.message()), "node 'static_bad' (Assign)"));
  REQUIRE(Contains(std::string(s.message()), "lhs shape= [2,2] rhs shape= [3]"));
}

TEST_CASE("Assign needs a variable reference", "[state]") {
  Fixture f;
  Node* c = f.Const("c", Tensor::FromVector<float>({0, 0, 0, 0}, TensorShape{2, 2}));
  auto not_ref = f.Add("bad", "Assign", {{"T", MakeAttr(DT_FLOAT)}}, {{c, 0}, {c, 0}});
  REQUIRE_FALSE(not_ref.ok());
  REQUIRE(Contains(std::string(not_ref.status().message()), "variable reference"));
  // A kernel handed a plain tensor where the ref belongs fails cleanly.
  auto assign = f.Add("assign", "Assign", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c, 0}});
  REQUIRE(assign.ok());
  Tensor z = Tensor::Zeros(DT_FLOAT, {2, 2}).value();
  auto out = f.RunNode(*assign, {{z, nullptr}, {z, nullptr}});
  REQUIRE_FALSE(out.ok());
  REQUIRE(Contains(std::string(out.status().message()), "reference to a variable"));
}

TEST_CASE("AssignAdd and AssignSub update in place unless a reader holds the value", "[state]") {
  SECTION("float") {
    Fixture f;
    Variable* v = f.RunVariable().ref;
    {
      MutexLock lock(&v->mu);
      v->value = Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape{2, 2});
    }
    const void* buffer = v->value.raw_data();
    Node* c = f.Const("c", v->value);
    auto add = f.Add("add", "AssignAdd", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c, 0}});
    auto sub = f.Add("sub", "AssignSub", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c, 0}});
    REQUIRE((add.ok() && sub.ok()));
    Tensor delta = Tensor::FromVector<float>({0.5f, -1, 10, 0}, TensorShape{2, 2});
    auto out = f.RunNode(*add, {Fixture::RefOf(v), {delta, nullptr}});
    REQUIRE(out.ok());
    REQUIRE((*out)[0].ref == v);
    REQUIRE(Values(v) == std::vector<float>{1.5f, 1, 13, 4});
    REQUIRE(f.RunNode(*sub, {Fixture::RefOf(v), {delta, nullptr}}).ok());
    REQUIRE(f.RunNode(*sub, {Fixture::RefOf(v), {delta, nullptr}}).ok());
    REQUIRE(Values(v) == std::vector<float>{0.5f, 3, -7, 4});
    REQUIRE(v->value.raw_data() == buffer);  // in place: nobody else held it

    // Copy-on-write: a value a reader holds never changes under it.
    Tensor held = v->value;
    REQUIRE(f.RunNode(*add, {Fixture::RefOf(v), {delta, nullptr}}).ok());
    REQUIRE(held.ToVector<float>() == std::vector<float>{0.5f, 3, -7, 4});
    REQUIRE(Values(v) == std::vector<float>{1, 2, 3, 4});
    REQUIRE_FALSE(v->value.SharesBufferWith(held));

    Tensor wrong = Tensor::FromVector<float>({1, 2}, TensorShape{2});
    auto bad = f.RunNode(*add, {Fixture::RefOf(v), {wrong, nullptr}});
    REQUIRE_FALSE(bad.ok());
    REQUIRE(Contains(std::string(bad.status().message()), "node 'add' (AssignAdd)"));
    REQUIRE(Contains(std::string(bad.status().message()), "[2,2]"));
  }
  SECTION("integer and 16-bit float dtypes") {
    Fixture fi(DT_INT64, TensorShape{3});
    Variable* v = fi.RunVariable().ref;
    {
      MutexLock lock(&v->mu);
      v->value = Tensor::FromVector<int64_t>({1, 2, 3}, TensorShape{3});
    }
    Node* c = fi.Const("c", v->value);
    auto sub = fi.Add("sub", "AssignSub", {{"T", MakeAttr(DT_INT64)}}, {{fi.var, 0}, {c, 0}});
    REQUIRE(sub.ok());
    REQUIRE(
        fi.RunNode(*sub, {Fixture::RefOf(v),
                          {Tensor::FromVector<int64_t>({10, 20, -30}, TensorShape{3}), nullptr}})
            .ok());
    REQUIRE(v->value.ToVector<int64_t>() == std::vector<int64_t>{-9, -18, 33});

    Fixture fh(DT_HALF, TensorShape{2});
    Variable* h = fh.RunVariable().ref;
    {
      MutexLock lock(&h->mu);  // 1.0 and 2.0
      h->value = Tensor::FromVector<Half>({Half{0x3c00}, Half{0x4000}}, TensorShape{2});
    }
    Node* ch = fh.Const("c", h->value);
    auto add = fh.Add("add", "AssignAdd", {{"T", MakeAttr(DT_HALF)}}, {{fh.var, 0}, {ch, 0}});
    REQUIRE(add.ok());
    REQUIRE(fh.RunNode(*add, {Fixture::RefOf(h), {h->value, nullptr}}).ok());
    REQUIRE(h->value.data<Half>()[0].bits == 0x4000);  // 2.0
    REQUIRE(h->value.data<Half>()[1].bits == 0x4400);  // 4.0
  }
}

TEST_CASE("Updating an uninitialised variable reports TF's message", "[state]") {
  Fixture f;
  Variable* v = f.RunVariable().ref;
  Node* c = f.Const("c", Tensor::Zeros(DT_FLOAT, {2, 2}).value());
  auto add = f.Add("add", "AssignAdd", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c, 0}});
  REQUIRE(add.ok());
  auto out =
      f.RunNode(*add, {Fixture::RefOf(v), {Tensor::Zeros(DT_FLOAT, {2, 2}).value(), nullptr}});
  REQUIRE_FALSE(out.ok());
  REQUIRE(Contains(std::string(out.status().message()), "Attempting to use uninitialized value W"));
}

TEST_CASE("Concurrent AssignAdd steps do not lose updates", "[state]") {
  Fixture f(DT_INT32, TensorShape{4});
  Variable* v = f.RunVariable().ref;
  {
    MutexLock lock(&v->mu);
    v->value = Tensor::Zeros(DT_INT32, {4}).value();
  }
  Node* c = f.Const("c", v->value);
  auto add = f.Add("add", "AssignAdd", {{"T", MakeAttr(DT_INT32)}}, {{f.var, 0}, {c, 0}});
  REQUIRE(add.ok());
  auto kernel = KernelRegistry::Global().CreateKernel(**add, kCpu);
  REQUIRE(kernel.ok());
  Tensor one = Tensor::FromVector<int32_t>({1, 1, 1, 1}, TensorShape{4});
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::vector<TensorValue> in = {{Tensor(), v}, {one, nullptr}};
        std::vector<TensorValue> out(1);
        OpKernelContext ctx(**add, &in, &out, &f.store.resources);
        if (!(*kernel)->Compute(ctx).ok()) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures == std::vector<int>(4, 0));
  REQUIRE(v->value.ToVector<int32_t>() == std::vector<int32_t>(4, 2000));
}

TEST_CASE("State op shape functions", "[state]") {
  using quiver::testing::InferOpShapes;
  auto w = InferOpShapes(
      "VariableV2", {{"dtype", MakeAttr(DT_FLOAT)}, {"shape", MakeAttr(TensorShape{784, 10})}}, {});
  REQUIRE(w.ok());
  REQUIRE((*w)[0] == TensorShape{784, 10});
  // The old Variable op cannot tell [] from "unknown".
  auto old = InferOpShapes("Variable",
                           {{"dtype", MakeAttr(DT_FLOAT)}, {"shape", MakeAttr(TensorShape{})}}, {});
  REQUIRE(old.ok());
  REQUIRE((*old)[0] == TensorShape::UnknownRank());

  Fixture f(DT_FLOAT, TensorShape{-1, 3});
  Node* c = f.Const("c", Tensor::Zeros(DT_FLOAT, {5, 3}).value());
  auto assign = f.Add("assign", "Assign", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c, 0}});
  auto add = f.Add("add", "AssignAdd", {{"T", MakeAttr(DT_FLOAT)}}, {{f.var, 0}, {c, 0}});
  auto init = f.Add("init", "IsVariableInitialized", {{"dtype", MakeAttr(DT_FLOAT)}}, {{f.var, 0}});
  REQUIRE((assign.ok() && add.ok() && init.ok()));
  absl::Status s = f.graph.InferShapes();
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE((*assign)->output_shape(0) == TensorShape{5, 3});
  REQUIRE((*add)->output_shape(0) == TensorShape{5, 3});
  REQUIRE((*init)->output_shape(0) == TensorShape{});
  REQUIRE(f.var->is_stateful());
  REQUIRE((*assign)->output_is_ref(0));
}
