#include "graph/op_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "graph/graph.h"

namespace quiver {

const AttrDef* OpDef::FindAttr(const std::string& attr_name) const {
  for (const AttrDef& a : attrs) {
    if (a.name == attr_name) return &a;
  }
  return nullptr;
}

OpRegistry& OpRegistry::Global() {
  static OpRegistry* registry = new OpRegistry;
  return *registry;
}

void OpRegistry::Register(OpDef def) {
  if (ops_.count(def.name)) {
    std::fprintf(stderr, "quiver: op '%s' registered twice\n", def.name.c_str());
    std::abort();
  }
  std::string name = def.name;
  ops_.emplace(std::move(name), std::move(def));
}

const OpDef* OpRegistry::Find(const std::string& op) const {
  auto it = ops_.find(op);
  return it == ops_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::ListOps() const {
  std::vector<std::string> out;
  for (const auto& [name, def] : ops_) out.push_back(name);
  return out;
}

// ---- spec parsing ------------------------------------------------------------------------

namespace {

[[noreturn]] void SpecError(const std::string& op, const std::string& spec, const char* why) {
  std::fprintf(stderr, "quiver: bad op spec for '%s': \"%s\": %s\n", op.c_str(), spec.c_str(), why);
  std::abort();
}

std::string Trim(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

bool ParseTypeName(const std::string& raw, DataType* out) {
  std::string name = Trim(raw);
  if (name == "half") name = "float16";
  auto t = DataTypeFromName(name);
  if (!t.ok()) return false;
  *out = *t;
  return true;
}

ArgDef ParseArg(const std::string& op, const std::string& spec) {
  std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 1));
  if (parts.size() != 2) SpecError(op, spec, "expected 'name: type'");
  ArgDef arg;
  arg.name = Trim(parts[0]);
  std::string type = Trim(parts[1]);
  if (absl::StartsWith(type, "Ref(") && absl::EndsWith(type, ")")) {
    arg.is_ref = true;
    type = Trim(type.substr(4, type.size() - 5));
  }
  size_t star = type.find('*');
  if (star != std::string::npos) {
    arg.number_attr = Trim(type.substr(0, star));
    type = Trim(type.substr(star + 1));
  }
  DataType fixed;
  if (ParseTypeName(type, &fixed)) {
    arg.fixed_type = fixed;
  } else {
    arg.type_attr = type;  // resolved to a type or list(type) attr when the op is complete
  }
  return arg;
}

AttrValue ParseDefault(const std::string& op, const std::string& spec, const std::string& type,
                       const std::string& raw) {
  std::string v = Trim(raw);
  AttrValue out;
  auto unquote = [&](std::string s) {
    s = Trim(s);
    if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"')) return s.substr(1, s.size() - 2);
    return s;
  };
  if (type == "int") {
    int64_t i;
    if (!absl::SimpleAtoi(v, &i)) SpecError(op, spec, "bad int default");
    out.set_i(i);
  } else if (type == "float") {
    float f;
    if (!absl::SimpleAtof(v, &f)) SpecError(op, spec, "bad float default");
    out.set_f(f);
  } else if (type == "bool") {
    if (v != "true" && v != "false") SpecError(op, spec, "bad bool default");
    out.set_b(v == "true");
  } else if (type == "string") {
    out.set_s(unquote(v));
  } else if (type == "type") {
    DataType t;
    if (!ParseTypeName(absl::StartsWith(v, "DT_") ? v.substr(3) : v, &t)) {
      SpecError(op, spec, "bad type default");
    }
    out.set_type(static_cast<tensorflow::DataType>(t));
  } else if (type == "shape") {
    if (v == "unknown") {
      out.mutable_shape()->set_unknown_rank(true);
    } else if (v == "[]") {
      out.mutable_shape();
    } else {
      SpecError(op, spec, "shape defaults must be 'unknown' or '[]'");
    }
  } else if (absl::StartsWith(type, "list(")) {
    if (v.size() < 2 || v.front() != '[' || v.back() != ']') SpecError(op, spec, "bad list default");
    auto* list = out.mutable_list();
    std::string inner = Trim(v.substr(1, v.size() - 2));
    if (!inner.empty()) {
      for (absl::string_view item_view : absl::StrSplit(inner, ',')) {
        std::string item(item_view);
        if (type == "list(int)") {
          int64_t i;
          if (!absl::SimpleAtoi(Trim(item), &i)) SpecError(op, spec, "bad list(int) default");
          list->add_i(i);
        } else if (type == "list(float)") {
          float f;
          if (!absl::SimpleAtof(Trim(item), &f)) SpecError(op, spec, "bad list(float) default");
          list->add_f(f);
        } else if (type == "list(string)") {
          list->add_s(unquote(item));
        } else if (type == "list(type)") {
          DataType t;
          if (!ParseTypeName(Trim(item), &t)) SpecError(op, spec, "bad list(type) default");
          list->add_type(static_cast<tensorflow::DataType>(t));
        } else {
          SpecError(op, spec, "unsupported list default");
        }
      }
    } else {
      out.mutable_list();
    }
  } else {
    SpecError(op, spec, "defaults unsupported for this attr type");
  }
  return out;
}

AttrDef ParseAttr(const std::string& op, const std::string& spec) {
  std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 1));
  if (parts.size() != 2) SpecError(op, spec, "expected 'name: type'");
  AttrDef attr;
  attr.name = Trim(parts[0]);
  std::string rest = Trim(parts[1]);
  std::string default_text;
  // The default follows the first '=' that is not part of ">=".
  size_t eq = rest.find('=');
  while (eq != std::string::npos && eq > 0 && rest[eq - 1] == '>') eq = rest.find('=', eq + 1);
  bool has_default = false;
  if (eq != std::string::npos) {
    default_text = rest.substr(eq + 1);
    rest = Trim(rest.substr(0, eq));
    has_default = true;
  }
  size_t ge = rest.find(">=");
  if (ge != std::string::npos) {
    int64_t min;
    if (!absl::SimpleAtoi(Trim(rest.substr(ge + 2)), &min)) SpecError(op, spec, "bad minimum");
    attr.minimum = min;
    rest = Trim(rest.substr(0, ge));
  }
  if (!rest.empty() && rest.front() == '{') {
    if (rest.back() != '}') SpecError(op, spec, "unterminated {...}");
    std::string inner = rest.substr(1, rest.size() - 2);
    bool strings = inner.find('\'') != std::string::npos || inner.find('"') != std::string::npos;
    attr.type = strings ? "string" : "type";
    for (absl::string_view item_view : absl::StrSplit(inner, ',')) {
        std::string item(item_view);
      std::string it = Trim(item);
      if (strings) {
        attr.allowed_strings.push_back(it.substr(1, it.size() - 2));
      } else {
        DataType t;
        if (!ParseTypeName(it, &t)) SpecError(op, spec, "unknown dtype in allowed list");
        attr.allowed_types.push_back(t);
      }
    }
  } else {
    attr.type = rest;
  }
  static const char* kTypes[] = {"int", "float", "bool", "string", "type", "shape", "tensor",
                                 "func", "list(int)", "list(float)", "list(bool)", "list(string)",
                                 "list(type)", "list(shape)", "list(tensor)"};
  bool known = false;
  for (const char* t : kTypes) known |= attr.type == t;
  if (!known) SpecError(op, spec, "unknown attr type");
  if (has_default) attr.default_value = ParseDefault(op, spec, attr.type, default_text);
  return attr;
}

}  // namespace

OpDefBuilder::OpDefBuilder(std::string name) { def_.name = std::move(name); }
OpDefBuilder& OpDefBuilder::Input(const std::string& spec) {
  def_.inputs.push_back(ParseArg(def_.name, spec));
  return *this;
}
OpDefBuilder& OpDefBuilder::Output(const std::string& spec) {
  def_.outputs.push_back(ParseArg(def_.name, spec));
  return *this;
}
OpDefBuilder& OpDefBuilder::Attr(const std::string& spec) {
  def_.attrs.push_back(ParseAttr(def_.name, spec));
  // An arg typed by a list(type) attr is a type list, not a single type.
  for (auto* args : {&def_.inputs, &def_.outputs}) {
    for (ArgDef& a : *args) {
      if (a.type_attr == def_.attrs.back().name && def_.attrs.back().type == "list(type)") {
        a.type_list_attr = a.type_attr;
        a.type_attr.clear();
      }
    }
  }
  return *this;
}
OpDefBuilder& OpDefBuilder::SetShapeFn(ShapeFn fn) {
  def_.shape_fn = std::move(fn);
  return *this;
}
OpDefBuilder& OpDefBuilder::SetIsStateful() {
  def_.is_stateful = true;
  return *this;
}

// ---- validation --------------------------------------------------------------------------

namespace {

std::string TypeList(const std::vector<DataType>& types) {
  std::vector<std::string> names;
  for (DataType t : types) names.push_back(DataTypeName(t));
  return absl::StrJoin(names, ", ");
}

absl::Status NodeError(const OpDef& op, const std::string& node, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat("node '", node, "' (", op.name, "): ", msg));
}

}  // namespace

absl::Status AddDefaultsAndValidateAttrs(const OpDef& op, const std::string& node_name,
                                         AttrMap* attrs) {
  for (const AttrDef& def : op.attrs) {
    auto it = attrs->find(def.name);
    if (it == attrs->end()) {
      if (!def.default_value) {
        return NodeError(op, node_name, absl::StrCat("missing required attr '", def.name, "' of type ", def.type));
      }
      (*attrs)[def.name] = *def.default_value;
      continue;
    }
    const AttrValue& v = it->second;
    std::string actual = AttrValueTypeName(v);
    bool ok = actual == def.type || (actual == "list" && absl::StartsWith(def.type, "list("));
    if (!ok) {
      return NodeError(op, node_name,
                       absl::StrCat("attr '", def.name, "' has type ", actual.empty() ? "<unset>" : actual,
                                    ", expected ", def.type));
    }
    if (def.type == "type") {
      DataType t = static_cast<DataType>(v.type());
      if (!def.allowed_types.empty() &&
          std::find(def.allowed_types.begin(), def.allowed_types.end(), t) == def.allowed_types.end()) {
        return NodeError(op, node_name,
                         absl::StrCat("attr '", def.name, "' is ", DataTypeName(t),
                                      ", which is not one of the allowed types {",
                                      TypeList(def.allowed_types), "}"));
      }
    }
    if (def.type == "string" && !def.allowed_strings.empty() &&
        std::find(def.allowed_strings.begin(), def.allowed_strings.end(), v.s()) ==
            def.allowed_strings.end()) {
      return NodeError(op, node_name,
                       absl::StrCat("attr '", def.name, "' is '", v.s(), "', expected one of '",
                                    absl::StrJoin(def.allowed_strings, "', '"), "'"));
    }
    if (def.minimum) {
      int64_t value = def.type == "int" ? v.i() : 0;
      if (absl::StartsWith(def.type, "list(")) {
        const auto& l = v.list();
        value = l.i_size() + l.f_size() + l.s_size() + l.type_size() + l.shape_size() + l.b_size();
      }
      if (value < *def.minimum) {
        return NodeError(op, node_name, absl::StrCat("attr '", def.name, "' is ", value,
                                                     ", must be >= ", *def.minimum));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ResolveSignature(const OpDef& op, const std::string& node_name, const AttrMap& attrs,
                              std::vector<DataType>* input_types,
                              std::vector<DataType>* output_types,
                              std::vector<bool>* input_is_ref, std::vector<bool>* output_is_ref) {
  auto resolve = [&](const std::vector<ArgDef>& args, std::vector<DataType>* types,
                     std::vector<bool>* refs) -> absl::Status {
    types->clear();
    if (refs) refs->clear();
    for (const ArgDef& arg : args) {
      std::vector<DataType> arg_types;
      if (!arg.type_list_attr.empty()) {
        auto list = GetAttr<std::vector<DataType>>(attrs, arg.type_list_attr);
        if (!list.ok()) return NodeError(op, node_name, std::string(list.status().message()));
        arg_types = *list;
      } else {
        DataType t = arg.fixed_type;
        if (!arg.type_attr.empty()) {
          auto v = GetAttr<DataType>(attrs, arg.type_attr);
          if (!v.ok()) return NodeError(op, node_name, std::string(v.status().message()));
          t = *v;
        }
        int64_t n = 1;
        if (!arg.number_attr.empty()) {
          auto v = GetAttr<int64_t>(attrs, arg.number_attr);
          if (!v.ok()) return NodeError(op, node_name, std::string(v.status().message()));
          if (*v < 0 || *v > (1 << 20)) {
            return NodeError(op, node_name, absl::StrCat("attr '", arg.number_attr, "' = ", *v,
                                                         " is out of range"));
          }
          n = *v;
        }
        arg_types.assign(n, t);
      }
      for (DataType t : arg_types) {
        types->push_back(t);
        if (refs) refs->push_back(arg.is_ref);
      }
    }
    return absl::OkStatus();
  };
  absl::Status s = resolve(op.inputs, input_types, input_is_ref);
  if (!s.ok()) return s;
  return resolve(op.outputs, output_types, output_is_ref);
}

// ---- shape inference ---------------------------------------------------------------------

InferenceContext::InferenceContext(const Node& node, std::vector<TensorShape> input_shapes,
                                   std::vector<const Tensor*> input_tensors)
    : node_(node),
      input_shapes_(std::move(input_shapes)),
      input_tensors_(std::move(input_tensors)),
      output_shapes_(node.num_outputs(), TensorShape::UnknownRank()) {}

const std::string& InferenceContext::node_name() const { return node_.name(); }
const AttrMap& InferenceContext::attrs() const { return node_.attrs(); }
DataType InferenceContext::input_type(int i) const { return node_.input_type(i); }

absl::Status InferenceContext::Error(const std::string& message) const {
  return absl::InvalidArgumentError(
      absl::StrCat("node '", node_.name(), "' (", node_.op(), "): ", message));
}

namespace shape_fn {

absl::Status Unknown(InferenceContext& c) {
  for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, TensorShape::UnknownRank());
  return absl::OkStatus();
}

absl::Status UnchangedShape(InferenceContext& c) {
  c.set_output(0, c.input_shape(0));
  return absl::OkStatus();
}

absl::Status Scalar(InferenceContext& c) {
  c.set_output(0, TensorShape{});
  return absl::OkStatus();
}

absl::StatusOr<TensorShape> BroadcastShapes(const TensorShape& a, const TensorShape& b) {
  if (a.unknown_rank() || b.unknown_rank()) return TensorShape::UnknownRank();
  int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(rank);
  for (int i = 0; i < rank; ++i) {
    int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    int64_t da = ia >= 0 ? a.dim(ia) : 1;
    int64_t db = ib >= 0 ? b.dim(ib) : 1;
    if (da == 1) {
      out[i] = db;
    } else if (db == 1) {
      out[i] = da;
    } else if (da < 0 || db < 0) {
      out[i] = da < 0 ? db : da;  // unknown vs known > 1: the known one (or unknown if both)
    } else if (da == db) {
      out[i] = da;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("incompatible shapes for broadcasting: ",
                                                     a.DebugString(), " vs ", b.DebugString()));
    }
  }
  return TensorShape(std::move(out));
}

absl::Status BroadcastBinary(InferenceContext& c) {
  auto s = BroadcastShapes(c.input_shape(0), c.input_shape(1));
  if (!s.ok()) return c.Error(std::string(s.status().message()));
  c.set_output(0, *s);
  return absl::OkStatus();
}

}  // namespace shape_fn
}  // namespace quiver
