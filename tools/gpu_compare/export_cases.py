#!/usr/bin/env python3
"""Writes the tools/bench cases for gpu_compare.py, with what PyTorch/JAX need (run with TF).

    export_cases.py --out DIR [--cases a,b,...]

The GPU machine has PyTorch and JAX but no TensorFlow, so the GraphDefs are written here by
tools/bench/make_bench_graphs.py (the same files the CPU benchmark runs) and carried in the
gpu_check bundle. Per case, besides graph.pb, the feeds and case.json, DIR/<case>/compare.json:

    {"model": "mlp"|"cnn"|"resnet"|"softmax_train"|"cnn_train",
     "weights": {role: {"node": NAME, "fetch": TENSOR, "shape": [...], "mean": m,
                        "absmean": a, "head": [first 8 values]}},
     "reference": {...}}

Weights are not written again as .npy (the bundle must stay under 64 MiB and the CNN's
3136x1024 layer alone is 13 MB): gpu_compare.py asks Quiver for them from the very graph it
runs (`quiver run --fetch NODE:0 --out DIR`): a frozen inference graph's Const, or a training
graph's initial value through its `VAR/Assign:0`. The summary statistics recorded here from
TensorFlow's values let it check that what it got is TensorFlow's weights.

"reference" holds TensorFlow's outputs: for inference the fetched output when it is small
(< 1 MB, as reference_<fetch>.npy), for training the loss of the first 3 steps from the
initial weights with dropout off (keep_prob 1.0), which PyTorch and JAX must reproduce.

Identical files across cases (cnn_b1/cnn_b256 share the frozen graph) are hard-linked.
"""
import argparse
import hashlib
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import make_bench_graphs as mbg  # noqa: E402

REF_STEPS = 3


def model_of(name):
    for prefix, model in [("mlp_", "mlp"), ("cnn_train_", "cnn_train"), ("cnn_", "cnn"),
                          ("resnet56_", "resnet"), ("softmax_train_", "softmax_train")]:
        if name.startswith(prefix):
            return model
    raise SystemExit("export_cases: no model for case " + name)


# The TF1 Deep MNIST variables are unnamed (Variable, Variable_1, ...); their shapes differ.
CNN_ROLES = {(5, 5, 1, 32): "conv1_w", (32,): "conv1_b", (5, 5, 32, 64): "conv2_w",
             (64,): "conv2_b", (3136, 1024): "fc1_w", (1024,): "fc1_b", (1024, 10): "fc2_w",
             (10,): "fc2_b"}


def roles(model, names_shapes):
    """role -> variable name, from the case's variable names and shapes."""
    out = {}
    if model in ("cnn", "cnn_train"):
        for n, s in names_shapes:
            if re.fullmatch(r"Variable(_\d+)?", n):
                out[CNN_ROLES[tuple(s)]] = n
        want = set(CNN_ROLES.values())
    elif model == "mlp":
        want = {"fc%d/%s" % (i, k) for i in range(3) for k in "Wb"}
        out = {n: n for n, _ in names_shapes if n in want}
    elif model == "resnet":
        want = {"block%d/conv%d/%s" % (b, c, k) for b in range(mbg.RESNET_BLOCKS)
                for c in (1, 2) for k in ("W", "gamma", "beta", "mean", "var")}
        out = {n: n for n, _ in names_shapes if n in want}
    else:  # softmax_train
        want = {"W", "b"}
        out = {n: n for n, _ in names_shapes if n in want}
    missing = want - set(out)
    if missing:
        raise SystemExit("export_cases: %s: variables not found: %s" % (model, sorted(missing)))
    return out


def stats(a):
    a = np.asarray(a, np.float32)
    return {"shape": list(a.shape), "mean": float(a.mean()), "absmean": float(np.abs(a).mean()),
            "head": [float(v) for v in a.reshape(-1)[:8]]}


def export(name, out_dir):
    tf, tf1 = mbg._tf()
    case = mbg.make_case(name, out_dir)
    case_dir = os.path.join(out_dir, name)
    model = model_of(name)
    gd = tf1.GraphDef()
    with open(os.path.join(case_dir, "graph.pb"), "rb") as f:
        gd.ParseFromString(f.read())
    graph = tf1.Graph()
    with graph.as_default():
        tf1.import_graph_def(gd, name="")
    feeds = {graph.get_tensor_by_name(t): np.load(os.path.join(case_dir, f))
             for t, f in case["feeds"].items()}
    meta = {"model": model, "weights": {}, "reference": {}}
    with tf1.Session(graph=graph) as sess:
        if case["kind"] == "inference":
            consts = [(n.name, [d.size for d in n.attr["value"].tensor.tensor_shape.dim])
                      for n in gd.node if n.op == "Const" and n.attr["dtype"].type == 1]
            for role, node in roles(model, consts).items():
                value = sess.run(graph.get_tensor_by_name(node + ":0"))
                meta["weights"][role] = dict(node=node, fetch=node + ":0", **stats(value))
            outs = sess.run(case["fetches"], {k: v for k, v in feeds.items()})
            for fetch, value in zip(case["fetches"], outs):
                if value.nbytes < 1e6:
                    fname = "reference_" + mbg.file_stem(fetch) + ".npy"
                    np.save(os.path.join(case_dir, fname), value)
                    meta["reference"][fetch] = fname
        else:
            variables = [(n.name, None) for n in gd.node if n.op == "VariableV2"]
            sess.run([graph.get_operation_by_name(n) for n in case["init"]])
            shaped = [(n, sess.run(graph.get_tensor_by_name(n + ":0")).shape)
                      for n, _ in variables]
            for role, node in roles(model, shaped).items():
                value = sess.run(graph.get_tensor_by_name(node + ":0"))
                meta["weights"][role] = dict(node=node, fetch=node + "/Assign:0", **stats(value))
            # Loss of the first steps, dropout off, from the initial weights.
            step_feeds = dict(feeds)
            for t in list(step_feeds):
                if t.name.startswith("keep_prob"):
                    step_feeds[t] = np.array(1.0, np.float32)
            train = [graph.get_operation_by_name(n) for n in case["targets"]]
            losses = []
            for _ in range(REF_STEPS):
                loss, _ = sess.run([graph.get_tensor_by_name(case["fetches"][0]), train],
                                   step_feeds)
                losses.append(float(loss))
            meta["reference"]["losses_keep_prob_1"] = losses
    with open(os.path.join(case_dir, "compare.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return case, meta


def hardlink_duplicates(root):
    """Replaces files with identical content by hard links to the first (sorted) one."""
    seen, saved = {}, 0
    for dirpath, _, files in sorted(os.walk(root)):
        for fn in sorted(files):
            path = os.path.join(dirpath, fn)
            if os.path.getsize(path) < 4096:
                continue
            with open(path, "rb") as f:
                h = hashlib.sha256(f.read()).hexdigest()
            if h in seen:
                os.remove(path)
                os.link(seen[h], path)
                saved += os.path.getsize(path)
            else:
                seen[h] = path
    return saved


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--cases", default=",".join(mbg.CASES))
    args = p.parse_args()
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in mbg.CASES]
    if unknown:
        sys.exit("export_cases: unknown case(s) %s (known: %s)" % (unknown, ", ".join(mbg.CASES)))
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        case, meta = export(name, args.out)
        print("%-20s %-9s batch %-4d %-13s %2d weights  reference %s" % (
            name, case["kind"], case["batch"], meta["model"], len(meta["weights"]),
            ", ".join(meta["reference"]) or "-"))
    with open(os.path.join(args.out, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    saved = hardlink_duplicates(args.out)
    print("hard-linked duplicates: %.1f MB saved" % (saved / 1e6))


if __name__ == "__main__":
    main()
