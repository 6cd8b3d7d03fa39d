// Loading TF1-style SavedModels (runtime/saved_model.h). The fixtures under
// tests/data/saved_model were written by TensorFlow (tools/fixtures/make_saved_model_fixtures.py)
// and each signature's expected outputs are what TensorFlow's own loader served.
#include "runtime/saved_model.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "graph/builder.h"
#include "graph/npy.h"
#include "proto/saved_model.pb.h"
#include "runtime/tf_checkpoint.h"
#include "tests/tools/fixture_util.h"

namespace quiver {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(QUIVER_TEST_DATA_DIR) / "saved_model";

Tensor Npy(const fs::path& path) {
  auto t = ReadNpyFile(path.string());
  INFO(path.string() << ": " << t.status().ToString());
  REQUIRE(t.ok());
  return *std::move(t);
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// One "signature NAME TAGS in=file ... -> out=file ..." line of a case's manifest.
struct ExpectedSignature {
  std::string name;
  std::set<std::string> tags;
  std::vector<std::pair<std::string, fs::path>> inputs, outputs;
};

std::vector<ExpectedSignature> ReadManifest(const std::string& name) {
  std::ifstream in(kData / name / "manifest.txt");
  REQUIRE(in);
  std::vector<ExpectedSignature> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    REQUIRE(words.size() >= 5);
    REQUIRE(words[0] == "signature");
    ExpectedSignature e;
    e.name = words[1];
    for (const auto& t : absl::StrSplit(words[2], ',')) e.tags.insert(std::string(t));
    bool outputs = false;
    for (size_t i = 3; i < words.size(); ++i) {
      if (words[i] == "->") {
        outputs = true;
        continue;
      }
      std::pair<std::string, std::string> kv = absl::StrSplit(words[i], '=');
      (outputs ? e.outputs : e.inputs).emplace_back(kv.first, kData / name / kv.second);
    }
    out.push_back(std::move(e));
  }
  return out;
}

// Loads the case's model for each signature's tags and compares every output with TF's.
void CheckServesLikeTf(const std::string& name) {
  const std::vector<ExpectedSignature> expected = ReadManifest(name);
  REQUIRE_FALSE(expected.empty());
  for (const ExpectedSignature& e : expected) {
    INFO(name << " signature " << e.name);
    SavedModelOptions options;
    options.tags = e.tags;
    auto model = LoadSavedModel((kData / name / "model").string(), options);
    INFO(model.status().ToString());
    REQUIRE(model.ok());
    std::vector<std::pair<std::string, Tensor>> inputs;
    for (const auto& [key, file] : e.inputs) inputs.emplace_back(key, Npy(file));
    auto out = (*model)->Run(e.name, inputs);
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    REQUIRE(out->size() == e.outputs.size());
    for (size_t i = 0; i < e.outputs.size(); ++i) {
      INFO("output " << e.outputs[i].first);
      CHECK((*out)[i].first == e.outputs[i].first);  // both sorted by key
      auto c = fixture::CompareTensors((*out)[i].second, Npy(e.outputs[i].second), 1e-5, 1e-6);
      INFO(c.message);
      CHECK(c.ok);
    }
  }
}
#define CHECK_SERVES_LIKE_TF(name) CheckServesLikeTf(name)

TEST_CASE("a TF1 SavedModel with ref variables serves TF's outputs", "[saved_model]") {
  CHECK_SERVES_LIKE_TF("mlp_ref");
}

TEST_CASE("a SavedModel with resource variables and two MetaGraphs serves TF's outputs",
          "[saved_model]") {
  CHECK_SERVES_LIKE_TF("mlp_resource");
}

TEST_CASE("a TF2 SavedModel (a tf.Module's tf.function) serves TF's outputs", "[saved_model]") {
  // The model is a function called through StatefulPartitionedCall (inlined on import); its
  // checkpoint keys are object paths, mapped to the variables by the restore function.
  CHECK_SERVES_LIKE_TF("tf2_module");
  // TF's own __saved_model_init_op is run by loaders, not offered as a signature.
  auto model = LoadSavedModel((kData / "tf2_module" / "model").string());
  REQUIRE(model.ok());
  REQUIRE((*model)->signatures().size() == 1);
  CHECK((*model)->signatures()[0].name == "serving_default");
  CHECK((*model)->signatures()[0].outputs[1].tensor == "StatefulPartitionedCall:1");
  // Inlined: no call node is left, the call's name now names the IdentityN of its results.
  const Node* call = (*model)->session().graph().FindNode("StatefulPartitionedCall");
  REQUIRE(call != nullptr);
  CHECK(call->op() == "IdentityN");
}

TEST_CASE("a TF2 checkpoint reads by object path, without its object-graph metadata",
          "[saved_model][tf_checkpoint]") {
  auto tensors =
      ReadTfCheckpoint((kData / "tf2_module" / "model" / "variables" / "variables").string());
  INFO(tensors.status().ToString());
  REQUIRE(tensors.ok());
  std::vector<std::string> names;
  for (const auto& [name, t] : *tensors) names.push_back(name);
  CHECK(names ==
        std::vector<std::string>{"b1/.ATTRIBUTES/VARIABLE_VALUE", "b2/.ATTRIBUTES/VARIABLE_VALUE",
                                 "w1/.ATTRIBUTES/VARIABLE_VALUE", "w2/.ATTRIBUTES/VARIABLE_VALUE"});
  CHECK((*tensors)[2].second.shape() == TensorShape({4, 6}));
  // A key the restore function names but the checkpoint lacks is reported by that key.
  Graph graph;
  GraphBuilder b(&graph);
  b.Variable(b.Zeros({4, 6}), "w1");
  REQUIRE(b.status().ok());
  auto session = Session::Create(graph);
  REQUIRE(session.ok());
  absl::Status s = RestoreTfCheckpoint(
      **session, (kData / "tf2_module" / "model" / "variables" / "variables").string(),
      {{"w1", "encoder/w1/.ATTRIBUTES/VARIABLE_VALUE"}});
  CHECK_THAT(Message(s), Catch::Contains("Key encoder/w1/.ATTRIBUTES/VARIABLE_VALUE not found"));
  // The right key restores.
  REQUIRE(RestoreTfCheckpoint(**session,
                              (kData / "tf2_module" / "model" / "variables" / "variables").string(),
                              {{"w1", "w1/.ATTRIBUTES/VARIABLE_VALUE"}})
              .ok());
  auto w1 = (*session)->Run({}, {"w1"});
  REQUIRE(w1.ok());
  CHECK((*w1)[0].ToVector<float>() == (*tensors)[2].second.ToVector<float>());
}

TEST_CASE("a Keras 3 Model.export SavedModel (a small CNN) serves TF's outputs", "[saved_model]") {
  CHECK_SERVES_LIKE_TF("keras_cnn");
}

TEST_CASE("a Keras 3 Model.export SavedModel (LSTM + GRU) serves TF's outputs", "[saved_model]") {
  // Each layer's loop is a functional While inside the exported tf.function: its TensorLists
  // and the layer's three resource variables are loop variables, read in the body by
  // ReadVariableOp (graph/tensor_list_lowering.h, graph/resource_variable_lowering.h).
  CHECK_SERVES_LIKE_TF("keras_rnn");
}

TEST_CASE("a Keras 3 Model.export SavedModel (Embedding + Bidirectional LSTM) serves TF's outputs",
          "[saved_model]") {
  // int32 token ids: Keras 3 exports the Embedding lookup as ReadVariableOp + GatherV2 (not
  // ResourceGather); the Bidirectional LSTM is two While loops, the backward one over a
  // ReverseV2'd sequence.
  CHECK_SERVES_LIKE_TF("keras_text");
}

TEST_CASE("a Keras 3 Model.export SavedModel (a 1-D CNN) serves TF's outputs", "[saved_model]") {
  // Conv1D is Conv2D between ExpandDims and Squeeze (the dilated one inside SpaceToBatchND /
  // BatchToSpaceND); BatchNormalization runs on its moving statistics; Dropout is inert.
  CHECK_SERVES_LIKE_TF("keras_conv1d");
}

TEST_CASE("a Keras 3 Model.export SavedModel (separable/upsampling CNN) serves TF's outputs",
          "[saved_model]") {
  // LeakyRelu, DepthwiseConv2dNative, ResizeBilinear (UpSampling2D) and SeparableConv2D's
  // depthwise + pointwise Conv2D pair.
  CHECK_SERVES_LIKE_TF("keras_cnn_extra");
}

TEST_CASE("a Keras 3 Model.export SavedModel (a transformer encoder block) serves TF's outputs",
          "[saved_model]") {
  // MultiHeadAttention (Einsum projections, Softmax), LayerNormalization, exact gelu (Keras
  // writes 0.5 x erfc(-x / sqrt(2)): Erfc), GlobalAveragePooling1D.
  CHECK_SERVES_LIKE_TF("keras_transformer");
}

TEST_CASE("a SavedModel's signatures are listed with their tensors", "[saved_model]") {
  auto model = LoadSavedModel((kData / "mlp_ref" / "model").string());
  REQUIRE(model.ok());
  const auto& sigs = (*model)->signatures();
  REQUIRE(sigs.size() == 2);
  CHECK(sigs[0].name == "logits");
  CHECK(sigs[1].name == "serving_default");
  CHECK(sigs[1].method_name == "tensorflow/serving/predict");
  REQUIRE(sigs[1].inputs.size() == 1);
  CHECK(sigs[1].inputs[0].key == "x");
  CHECK(sigs[1].inputs[0].tensor == "x:0");
  CHECK(sigs[1].inputs[0].dtype == DT_FLOAT);
  CHECK(sigs[1].inputs[0].shape.DebugString() == "[?,4]");
  REQUIRE(sigs[1].outputs.size() == 2);
  CHECK(sigs[1].outputs[0].key == "class");
  CHECK(sigs[1].outputs[0].dtype == DT_INT64);
  CHECK(sigs[1].outputs[1].key == "probs");
  // The save/restore subgraph (SaveV2, RestoreV2, string ops) is not in the loaded graph.
  for (const Node* n : (*model)->session().graph().nodes()) {
    INFO(n->name());
    CHECK(n->op() != "SaveV2");
    CHECK(n->name().rfind("save/", 0) != 0);
  }

  auto summary = ReadSavedModelSummary((kData / "mlp_resource" / "model").string());
  REQUIRE(summary.ok());
  REQUIRE(summary->size() == 2);
  CHECK((*summary)[0].tags == std::set<std::string>{"serve"});
  CHECK((*summary)[1].tags == std::set<std::string>{"train"});
  REQUIRE((*summary)[1].signatures.size() == 1);
  CHECK((*summary)[1].signatures[0].inputs.size() == 2);  // labels, x
}

TEST_CASE("SavedModel errors name what is wrong", "[saved_model]") {
  const std::string ref = (kData / "mlp_ref" / "model").string();
  // Tags must match a MetaGraph's tag set exactly, as in TF's loader.
  SavedModelOptions gpu;
  gpu.tags = {"serve", "gpu"};
  auto r = LoadSavedModel(ref, gpu);
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(Message(r.status()),
             Catch::Contains("no MetaGraph tagged {gpu, serve}") && Catch::Contains("{serve}"));
  CHECK_THAT(Message(LoadSavedModel("/nonexistent/model").status()),
             Catch::Contains("'/nonexistent/model' does not exist"));
  CHECK_THAT(Message(LoadSavedModel(kData.string()).status()),
             Catch::Contains("no saved_model.pb or saved_model.pbtxt"));

  auto model = LoadSavedModel(ref);
  REQUIRE(model.ok());
  const Tensor x = Npy(kData / "x.npy");
  CHECK_THAT(Message((*model)->Run("predict", {{"x", x}}).status()),
             Catch::Contains("no signature 'predict'") &&
                 Catch::Contains("(it has: logits, serving_default)"));
  CHECK_THAT(Message((*model)->Run("logits", {{"images", x}}).status()),
             Catch::Contains("has no input 'images' (inputs: x)"));
  CHECK_THAT(Message((*model)->Run("logits", {}).status()),
             Catch::Contains("input 'x' (x:0) is not given"));
  // A wrong dtype is the session's usual feed error.
  CHECK_FALSE(
      (*model)->Run("logits", {{"x", Tensor::FromVector<int32_t>({1, 2, 3, 4}, {1, 4})}}).ok());
}

fs::path TempDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("quiver_saved_model_test_" + std::to_string(getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

tensorflow::SavedModel FixtureProto(const std::string& name) {
  std::ifstream in(kData / name / "model" / "saved_model.pb", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  tensorflow::SavedModel proto;
  REQUIRE(proto.ParseFromString(bytes.str()));
  return proto;
}

void WriteModel(const fs::path& dir, const tensorflow::SavedModel& proto, bool with_variables) {
  std::ofstream(dir / "saved_model.pb", std::ios::binary) << proto.SerializeAsString();
  if (!with_variables) return;
  fs::create_directories(dir / "variables");
  for (const char* f : {"variables.index", "variables.data-00000-of-00001"}) {
    fs::copy_file(kData / "mlp_ref" / "model" / "variables" / f, dir / "variables" / f);
  }
}

TEST_CASE("damaged or unsupported SavedModels are refused with a reason", "[saved_model]") {
  // Variables missing: the restore error names the checkpoint.
  fs::path dir = TempDir("no_variables");
  WriteModel(dir, FixtureProto("mlp_ref"), /*with_variables=*/false);
  auto r = LoadSavedModel(dir.string());
  CHECK_THAT(Message(r.status()), Catch::Contains("restoring its variables") &&
                                      Catch::Contains("variables/variables.index"));

  // A signature naming a node the graph lacks.
  tensorflow::SavedModel proto = FixtureProto("mlp_ref");
  (*proto.mutable_meta_graphs(0)->mutable_signature_def())["logits"]
      .mutable_outputs()
      ->at("logits")
      .set_name("no_such:0");
  dir = TempDir("bad_signature");
  WriteModel(dir, proto, true);
  CHECK_THAT(Message(LoadSavedModel(dir.string()).status()),
             Catch::Contains("signature 'logits' tensor 'logits' names 'no_such:0'"));

  // A signature output computed by a call whose function the library lacks.
  proto = FixtureProto("mlp_ref");
  auto* graph = proto.mutable_meta_graphs(0)->mutable_graph_def();
  auto* call = graph->add_node();
  call->set_name("StatefulPartitionedCall");
  call->set_op("StatefulPartitionedCall");
  (*call->mutable_attr())["f"].mutable_func()->set_name("__inference_missing_1");
  (*proto.mutable_meta_graphs(0)->mutable_signature_def())["logits"]
      .mutable_outputs()
      ->at("logits")
      .set_name("StatefulPartitionedCall:0");
  dir = TempDir("tf2");
  WriteModel(dir, proto, true);
  r = LoadSavedModel(dir.string());
  CHECK_THAT(Message(r.status()),
             Catch::Contains("calls function '__inference_missing_1', which the graph's library "
                             "lacks"));

  // Not a SavedModel proto.
  dir = TempDir("garbage");
  std::ofstream(dir / "saved_model.pb", std::ios::binary) << std::string("\xff\xff\xff\x01", 4);
  CHECK_THAT(Message(LoadSavedModel(dir.string()).status()),
             Catch::Contains("does not parse as a SavedModel"));
  // No signatures and nothing to keep.
  proto = FixtureProto("mlp_ref");
  proto.mutable_meta_graphs(0)->clear_signature_def();
  dir = TempDir("no_signatures");
  WriteModel(dir, proto, true);
  CHECK_THAT(Message(LoadSavedModel(dir.string()).status()), Catch::Contains("has no signatures"));
  // ... but naming a tensor to keep loads it, and the session runs it by name.
  SavedModelOptions keep;
  keep.keep = {"logits:0"};
  auto model = LoadSavedModel(dir.string(), keep);
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  auto logits = (*model)->session().Run({{"x", Npy(kData / "x.npy")}}, {"logits:0"});
  REQUIRE(logits.ok());
  auto c = fixture::CompareTensors(
      (*logits)[0], Npy(kData / "mlp_ref" / "expected_logits_logits.npy"), 1e-5, 1e-6);
  INFO(c.message);
  CHECK(c.ok);
}

}  // namespace
}  // namespace quiver
