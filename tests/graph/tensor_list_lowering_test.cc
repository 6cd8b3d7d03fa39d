// TensorArray/TensorList lowering (graph/tensor_list_lowering.h) and the dense list kernels
// (graph/ops/tensor_list_ops.cc) on hand-built GraphDefs: what each op becomes, the values a
// Session computes (derived by hand), TF's zeros for unwritten elements of a known shape,
// copy-on-write when a list is shared, in-place writes when a step owns the list, and each
// refusal naming its node. The TF-written RNN fixtures (tests/data/tf/tensor_array_*,
// keras_*) check whole models against TensorFlow.
#include "graph/tensor_list_lowering.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "graph/graphdef.h"
#include "runtime/session.h"

namespace quiver {
namespace {

using tensorflow::GraphDef;
using tensorflow::NodeDef;

NodeDef* AddNode(GraphDef* g, const std::string& name, const std::string& op,
                 const std::vector<std::string>& inputs = {}) {
  NodeDef* n = g->add_node();
  n->set_name(name);
  n->set_op(op);
  for (const std::string& i : inputs) n->add_input(i);
  return n;
}

void SetType(NodeDef* n, const std::string& attr, tensorflow::DataType t) {
  (*n->mutable_attr())[attr].set_type(t);
}

void AddIntConst(GraphDef* g, const std::string& name, const std::vector<int32_t>& values,
                 bool scalar = false) {
  NodeDef* n = AddNode(g, name, "Const");
  SetType(n, "dtype", tensorflow::DT_INT32);
  tensorflow::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
  t->set_dtype(tensorflow::DT_INT32);
  if (!scalar) t->mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(values.size()));
  for (int32_t v : values) t->add_int_val(v);
}

void AddFloatPlaceholder(GraphDef* g, const std::string& name) {
  SetType(AddNode(g, name, "Placeholder"), "dtype", tensorflow::DT_FLOAT);
}

NodeDef* AddListOp(GraphDef* g, const std::string& name, const std::string& op,
                   const std::vector<std::string>& inputs) {
  NodeDef* n = AddNode(g, name, op, inputs);
  SetType(n, "element_dtype", tensorflow::DT_FLOAT);
  return n;
}

const NodeDef* Find(const GraphDef& g, const std::string& name) {
  for (const NodeDef& n : g.node()) {
    if (n.name() == name) return &n;
  }
  return nullptr;
}

std::vector<float> Floats(const Tensor& t) { return t.ToVector<float>(); }

std::string ErrorOf(const GraphDef& g) {
  auto session = Session::Create(g);
  if (session.ok()) return "";
  return std::string(session.status().message());
}

// A TF2 list: reserve 3 elements of unknown shape, write x at 1, read it back, stack.
GraphDef TensorListGraph() {
  GraphDef g;
  AddFloatPlaceholder(&g, "x");
  AddIntConst(&g, "unknown_shape", {-1}, /*scalar=*/true);
  AddIntConst(&g, "three", {3}, /*scalar=*/true);
  AddIntConst(&g, "one", {1}, /*scalar=*/true);
  NodeDef* reserve = AddListOp(&g, "reserve", "TensorListReserve", {"unknown_shape", "three"});
  SetType(reserve, "shape_type", tensorflow::DT_INT32);
  AddListOp(&g, "set", "TensorListSetItem", {"reserve", "one", "x"});
  SetType(AddNode(&g, "through", "Identity", {"set"}), "T", tensorflow::DT_VARIANT);
  AddListOp(&g, "get", "TensorListGetItem", {"through", "one", "unknown_shape"});
  AddListOp(&g, "stack", "TensorListStack", {"through", "unknown_shape"});
  SetType(AddNode(&g, "length", "TensorListLength", {"through"}), "element_dtype",
          tensorflow::DT_FLOAT);
  NodeDef* shape = AddNode(&g, "element_shape", "TensorListElementShape", {"through"});
  SetType(shape, "shape_type", tensorflow::DT_INT32);
  return g;
}

TEST_CASE("TensorList ops become dense list ops and forwarding nodes take the element dtype",
          "[tensor_list]") {
  auto lowered = LowerTensorLists(TensorListGraph());
  REQUIRE(lowered.ok());
  CHECK(Find(*lowered, "reserve")->op() == "_DenseListReserve");
  CHECK(Find(*lowered, "set")->op() == "_DenseListSetItem");
  CHECK(Find(*lowered, "get")->op() == "_DenseListGetItem");
  CHECK(Find(*lowered, "get")->input_size() == 2);  // the element_shape input is not needed
  CHECK(Find(*lowered, "stack")->op() == "Identity");
  CHECK(Find(*lowered, "length")->op() == "_DenseListLength");
  CHECK(Find(*lowered, "through")->attr().at("T").type() == tensorflow::DT_FLOAT);
  CHECK_FALSE(UsesTensorLists(*lowered));
}

TEST_CASE("a TensorList written, read and stacked gives TF's values", "[tensor_list]") {
  auto session = Session::Create(TensorListGraph());
  REQUIRE(session.ok());
  const Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape({2, 3}));
  auto r = (*session)->Run({{"x", x}}, {"stack", "get", "length", "element_shape"});
  REQUIRE(r.ok());
  // Unknown element shape: the first write fixes it; unwritten elements read as zeros.
  CHECK((*r)[0].shape() == TensorShape({3, 2, 3}));
  CHECK(Floats((*r)[0]) ==
        std::vector<float>{0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0});
  CHECK(Floats((*r)[1]) == Floats(x));
  CHECK((*r)[2].ToVector<int32_t>() == std::vector<int32_t>{3});
  CHECK((*r)[3].ToVector<int32_t>() == std::vector<int32_t>{2, 3});
}

// A TF1 TensorArray of 4 elements of shape [2]: write x at 2, read, gather, size, close.
GraphDef TensorArrayGraph() {
  GraphDef g;
  AddFloatPlaceholder(&g, "x");
  AddIntConst(&g, "four", {4}, /*scalar=*/true);
  AddIntConst(&g, "two", {2}, /*scalar=*/true);
  AddIntConst(&g, "indices", {2, 0});
  NodeDef* ta = AddNode(&g, "ta", "TensorArrayV3", {"four"});
  SetType(ta, "dtype", tensorflow::DT_FLOAT);
  (*ta->mutable_attr())["element_shape"].mutable_shape()->add_dim()->set_size(2);
  SetType(AddNode(&g, "write", "TensorArrayWriteV3", {"ta", "two", "x", "ta:1"}), "T",
          tensorflow::DT_FLOAT);
  SetType(AddNode(&g, "read", "TensorArrayReadV3", {"ta", "two", "write"}), "dtype",
          tensorflow::DT_FLOAT);
  SetType(AddNode(&g, "gather", "TensorArrayGatherV3", {"ta", "indices", "write"}), "dtype",
          tensorflow::DT_FLOAT);
  AddNode(&g, "size", "TensorArraySizeV3", {"ta", "write"});
  AddNode(&g, "close", "TensorArrayCloseV3", {"ta", "^gather"});
  return g;
}

TEST_CASE("a TF1 TensorArray runs through its flow; unwritten elements of a known shape are 0",
          "[tensor_list]") {
  auto lowered = LowerTensorLists(TensorArrayGraph());
  REQUIRE(lowered.ok());
  CHECK(Find(*lowered, "ta")->op() == "_DenseTensorArray");
  CHECK(Find(*lowered, "write")->input(0) == "ta:1");  // the flow, not the handle
  CHECK(Find(*lowered, "close")->op() == "NoOp");

  auto session = Session::Create(TensorArrayGraph());
  REQUIRE(session.ok());
  const Tensor x = Tensor::FromVector<float>({7, 8}, TensorShape({2}));
  auto r = (*session)->Run({{"x", x}}, {"read", "gather", "size"}, {"close"});
  REQUIRE(r.ok());
  CHECK(Floats((*r)[0]) == std::vector<float>{7, 8});
  CHECK((*r)[1].shape() == TensorShape({2, 2}));
  CHECK(Floats((*r)[1]) == std::vector<float>{7, 8, 0, 0});
  CHECK((*r)[2].ToVector<int32_t>() == std::vector<int32_t>{4});
}

TEST_CASE("a list shared by two readers is copied before a write; the first value is unchanged",
          "[tensor_list]") {
  GraphDef g;
  AddFloatPlaceholder(&g, "a");
  AddFloatPlaceholder(&g, "b");
  AddIntConst(&g, "shape", {2});
  AddIntConst(&g, "two", {2}, /*scalar=*/true);
  AddIntConst(&g, "zero", {0}, /*scalar=*/true);
  AddIntConst(&g, "one", {1}, /*scalar=*/true);
  AddListOp(&g, "l0", "TensorListReserve", {"shape", "two"});
  AddListOp(&g, "l1", "TensorListSetItem", {"l0", "zero", "a"});
  AddListOp(&g, "l2", "TensorListSetItem", {"l1", "one", "b"});
  AddListOp(&g, "s1", "TensorListStack", {"l1", "shape"});
  AddListOp(&g, "s2", "TensorListStack", {"l2", "shape"});
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  const Tensor a = Tensor::FromVector<float>({1, 2}, TensorShape({2}));
  const Tensor b = Tensor::FromVector<float>({3, 4}, TensorShape({2}));
  for (int run = 0; run < 3; ++run) {  // whichever of s1 and l2 runs first
    auto r = (*session)->Run({{"a", a}, {"b", b}}, {"s1", "s2"});
    REQUIRE(r.ok());
    CHECK(Floats((*r)[0]) == std::vector<float>{1, 2, 0, 0});
    CHECK(Floats((*r)[1]) == std::vector<float>{1, 2, 3, 4});
  }
}

TEST_CASE("a step that owns a fed list writes it in place; a list the caller keeps is copied",
          "[tensor_list]") {
  GraphDef g;
  AddFloatPlaceholder(&g, "list");
  AddFloatPlaceholder(&g, "item");
  AddIntConst(&g, "one", {1}, /*scalar=*/true);
  SetType(AddNode(&g, "set", "_DenseListSetItem", {"list", "one", "item"}), "T",
          tensorflow::DT_FLOAT);
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  auto call = (*session)->MakeCallable({"list", "item"}, {"set"}, {},
                                       /*results_may_alias_feeds=*/true);
  REQUIRE(call.ok());
  const Tensor item = Tensor::FromVector<float>({9, 9}, TensorShape({2}));

  // Handed over, as a loop hands one iteration's result to the next: the result is the fed
  // buffer, written in place. (The first call copies: the caller's buffer comes from another
  // allocator than the session's.)
  Tensor list = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape({3, 2}));
  auto r = (*session)->RunCallable(*call, std::vector<Tensor>{std::move(list), item});
  REQUIRE(r.ok());
  CHECK(Floats((*r)[0]) == std::vector<float>{1, 2, 9, 9, 5, 6});
  const void* buffer = (*r)[0].raw_data();
  const Tensor item2 = Tensor::FromVector<float>({7, 7}, TensorShape({2}));
  std::vector<Tensor> feeds;  // (an initializer list would copy the tensors: two owners)
  feeds.push_back(std::move((*r)[0]));
  feeds.push_back(item2);
  auto again = (*session)->RunCallable(*call, std::move(feeds));
  REQUIRE(again.ok());
  CHECK(Floats((*again)[0]) == std::vector<float>{1, 2, 7, 7, 5, 6});
  CHECK((*again)[0].raw_data() == buffer);

  // The caller still holds the list: it must not change.
  const Tensor kept = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape({3, 2}));
  auto r2 = (*session)->RunCallable(*call, std::vector<Tensor>{kept, item});
  REQUIRE(r2.ok());
  CHECK(Floats((*r2)[0]) == std::vector<float>{1, 2, 9, 9, 5, 6});
  CHECK(Floats(kept) == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK((*r2)[0].raw_data() != kept.raw_data());

  // Fed by const reference: never written in place.
  const std::vector<Tensor> const_feeds = {kept, item};
  auto r3 = (*session)->RunCallable(*call, const_feeds);
  REQUIRE(r3.ok());
  CHECK(Floats(kept) == std::vector<float>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("list errors name the node: unsupported ops, growth, bad indices and shapes",
          "[tensor_list]") {
  SECTION("an op with no dense form") {
    GraphDef g = TensorListGraph();
    AddListOp(&g, "resize", "TensorListResize", {"through", "three"});
    const std::string e = ErrorOf(g);
    CHECK(e.find("node 'resize' (TensorListResize)") != std::string::npos);
    CHECK(e.find("not supported") != std::string::npos);
  }
  SECTION("a TensorArray that grows") {
    GraphDef g = TensorArrayGraph();
    NodeDef* ta = g.mutable_node(4);
    REQUIRE(ta->name() == "ta");
    (*ta->mutable_attr())["dynamic_size"].set_b(true);
    const std::string e = ErrorOf(g);
    CHECK(e.find("node 'ta' (TensorArrayV3)") != std::string::npos);
    CHECK(e.find("dynamic_size") != std::string::npos);
  }
  SECTION("lists of different element dtypes meet in a Merge") {
    GraphDef g = TensorListGraph();
    NodeDef* ints = AddNode(&g, "ints", "TensorListReserve", {"unknown_shape", "three"});
    SetType(ints, "element_dtype", tensorflow::DT_INT32);
    NodeDef* merge = AddNode(&g, "merge", "Merge", {"reserve", "ints"});
    SetType(merge, "T", tensorflow::DT_VARIANT);
    (*merge->mutable_attr())["N"].set_i(2);
    const std::string e = ErrorOf(g);
    CHECK(e.find("node 'merge' (Merge)") != std::string::npos);
    CHECK(e.find("different element dtypes") != std::string::npos);
  }
  SECTION("an index out of range, at run time") {
    auto s2 = Session::Create(TensorArrayGraph());
    REQUIRE(s2.ok());
    auto r = (*s2)->Run({{"x", Tensor::FromVector<float>({1, 2}, TensorShape({2}))},
                         {"two", Tensor::Scalar<int32_t>(4)}},
                        {"read"});
    REQUIRE_FALSE(r.ok());
    const std::string e(r.status().message());
    CHECK(e.find("node 'write'") != std::string::npos);
    CHECK(e.find("index 4 is out of range for a list of 4 elements") != std::string::npos);
  }
  SECTION("an item whose shape is not the list's element shape, at run time") {
    auto session = Session::Create(TensorArrayGraph());
    REQUIRE(session.ok());
    auto r =
        (*session)->Run({{"x", Tensor::FromVector<float>({1, 2, 3}, TensorShape({3}))}}, {"read"});
    REQUIRE_FALSE(r.ok());
    const std::string e(r.status().message());
    CHECK(e.find("node 'write'") != std::string::npos);
    CHECK(e.find("elements have shape [2], the value written has shape [3]") != std::string::npos);
  }
}

TEST_CASE("frozen graphs' unread DT_VARIANT placeholders are dropped with the lists",
          "[tensor_list]") {
  GraphDef g = TensorListGraph();
  SetType(AddNode(&g, "unused_control_flow_input", "Placeholder"), "dtype", tensorflow::DT_VARIANT);
  auto lowered = LowerTensorLists(g);
  REQUIRE(lowered.ok());
  CHECK(Find(*lowered, "unused_control_flow_input") == nullptr);
  CHECK(Session::Create(g).ok());
}

TEST_CASE("a TF2 loop's gradient accumulator: pushes then pops give the values back in reverse",
          "[tensor_list]") {
  GraphDef g;
  AddFloatPlaceholder(&g, "a");
  AddFloatPlaceholder(&g, "b");
  AddIntConst(&g, "unknown_shape", {-1}, /*scalar=*/true);
  AddIntConst(&g, "no_max", {-1}, /*scalar=*/true);
  AddListOp(&g, "acc", "EmptyTensorList", {"unknown_shape", "no_max"});
  AddListOp(&g, "push_a", "TensorListPushBack", {"acc", "a"});
  AddListOp(&g, "push_b", "TensorListPushBack", {"push_a", "b"});
  AddListOp(&g, "pop_1", "TensorListPopBack", {"push_b", "unknown_shape"});
  AddListOp(&g, "pop_2", "TensorListPopBack", {"pop_1", "unknown_shape"});
  SetType(AddNode(&g, "pushed", "TensorListLength", {"push_b"}), "element_dtype",
          tensorflow::DT_FLOAT);
  SetType(AddNode(&g, "left", "TensorListLength", {"pop_2"}), "element_dtype",
          tensorflow::DT_FLOAT);
  AddListOp(&g, "stacked", "TensorListStack", {"push_b", "unknown_shape"});
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  const Tensor a = Tensor::FromVector<float>({1, 2}, TensorShape({2}));
  const Tensor b = Tensor::FromVector<float>({3, 4}, TensorShape({2}));
  auto r =
      (*session)->Run({{"a", a}, {"b", b}}, {"pop_1:1", "pop_2:1", "pushed", "left", "stacked"});
  REQUIRE(r.ok());
  CHECK(Floats((*r)[0]) == std::vector<float>{3, 4});
  CHECK(Floats((*r)[1]) == std::vector<float>{1, 2});
  CHECK((*r)[2].ToVector<int32_t>() == std::vector<int32_t>{2});
  CHECK((*r)[3].ToVector<int32_t>() == std::vector<int32_t>{0});
  CHECK((*r)[4].shape() == TensorShape({2, 2}));
  CHECK(Floats((*r)[4]) == std::vector<float>{1, 2, 3, 4});

  // Popping an empty list is an error naming the node.
  GraphDef empty = g;
  AddListOp(&empty, "pop_3", "TensorListPopBack", {"pop_2", "unknown_shape"});
  auto s2 = Session::Create(empty);
  REQUIRE(s2.ok());
  auto bad = (*s2)->Run({{"a", a}, {"b", b}}, {"pop_3:1"});
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("node 'pop_3'") != std::string::npos);
  CHECK(std::string(bad.status().message()).find("cannot pop from an empty list") !=
        std::string::npos);
}

TEST_CASE("pushes a loop hands over grow the list within spare room, without copying it",
          "[tensor_list]") {
  GraphDef g;
  AddFloatPlaceholder(&g, "list");
  AddFloatPlaceholder(&g, "item");
  SetType(AddNode(&g, "push", "_DenseListPushBack", {"list", "item"}), "T", tensorflow::DT_FLOAT);
  auto session = Session::Create(g);
  REQUIRE(session.ok());
  auto call = (*session)->MakeCallable({"list", "item"}, {"push"}, {},
                                       /*results_may_alias_feeds=*/true);
  REQUIRE(call.ok());
  Tensor list = Tensor::FromVector<float>({1, 2}, TensorShape({1, 2}));
  const void* buffer = nullptr;
  for (float v = 3; v < 9; v += 2) {
    std::vector<Tensor> feeds;
    feeds.push_back(std::move(list));
    feeds.push_back(Tensor::FromVector<float>({v, v + 1}, TensorShape({2})));
    auto r = (*session)->RunCallable(*call, std::move(feeds));
    REQUIRE(r.ok());
    list = std::move((*r)[0]);
    if (buffer == nullptr) buffer = list.raw_data();  // the first push allocates room for 8
    CHECK(list.raw_data() == buffer);
  }
  CHECK(list.shape() == TensorShape({4, 2}));
  CHECK(Floats(list) == std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8});
}

}  // namespace
}  // namespace quiver
