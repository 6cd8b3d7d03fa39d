#!/usr/bin/env python3
"""Checks, against real TensorFlow, that checkpoints Quiver writes are TensorFlow's.

Usage (needs `pip install tensorflow-cpu numpy` and a built `quiver` CLI):
    python3 tools/compare/check_tf_checkpoint_interop.py [--quiver build/quiver]

1. Quiver trains, TensorFlow restores. Quiver restores the TF-written fixture checkpoint
   (tests/data/tf_checkpoint), runs one Adam step of the training graph and saves with
   `quiver run --save`. TensorFlow then restores that checkpoint into the same graph with
   tf.compat.v1.train.Saver and finds it with tf.train.latest_checkpoint; every variable must
   equal what TensorFlow itself holds after restoring the fixture and running the same step
   (rtol 1e-5: the two runtimes' float sums may differ in the last bits).
2. Byte identity for an index of several blocks. TensorFlow saves 8000 variables (an index of
   about 330 KB: two table blocks of up to 256 KiB); Quiver restores them and saves them again; both
   files must equal TensorFlow's byte for byte. (tests/runtime/tf_checkpoint_writer_test.cc
   checks the one-block case against the committed fixture on every build.)

Prints one line per check and exits non-zero on any failure.
"""
import argparse
import filecmp
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(REPO, "tests", "data", "tf_checkpoint")


def quiver(cli, *args):
    r = subprocess.run([cli, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("quiver %s failed (%d): %s" % (args[0], r.returncode, r.stderr.strip()))
    return r.stdout


def load_graph(tf, path):
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    return g


def variables_after_restore(tf, graph, prefix, train_feeds=None):
    """Every variable's value after Saver.restore(prefix) (and one train step if fed). The
    graphs hold TF1 ref variables (VariableV2) or resource variables (VarHandleOp)."""
    with graph.as_default():
        ops = [op for op in graph.get_operations() if op.type in ("VariableV2", "VarHandleOp")]
        values = {}
        for op in ops:
            if op.type == "VarHandleOp":
                values[op.name] = tf.raw_ops.ReadVariableOp(resource=op.outputs[0],
                                                            dtype=op.get_attr("dtype"))
            else:
                values[op.name] = op.outputs[0]
        # A resource variable is saved through a read of its handle (TF's
        # ResourceVariableSaveable looks at the read's input).
        saver = tf.compat.v1.train.Saver(var_list=dict(values))
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, prefix)
            if train_feeds is not None:
                sess.run("train", feed_dict=train_feeds)
            return sess.run(values)


def check_quiver_trains_tf_restores(tf, cli, work):
    x = np.load(os.path.join(FIXTURE, "x_0.npy"))
    y = np.load(os.path.join(FIXTURE, "y_0.npy"))
    graph_pb = os.path.join(FIXTURE, "graph.pb")
    prefix = os.path.join(work, "quiver", "model.ckpt-4")
    os.makedirs(os.path.dirname(prefix))
    quiver(cli, "run", graph_pb, "--restore", os.path.join(FIXTURE, "model.ckpt"),
           "--feed", "x=" + os.path.join(FIXTURE, "x_0.npy"),
           "--feed", "y=" + os.path.join(FIXTURE, "y_0.npy"),
           "--target", "train", "--save", prefix)
    latest = tf.train.latest_checkpoint(os.path.dirname(prefix))
    ok = latest == prefix
    print("%s tf.train.latest_checkpoint finds Quiver's checkpoint (%s)" %
          ("PASS" if ok else "FAIL", latest))
    theirs = variables_after_restore(tf, load_graph(tf, graph_pb),
                                     os.path.join(FIXTURE, "model.ckpt"), {"x:0": x, "y:0": y})
    ours = variables_after_restore(tf, load_graph(tf, graph_pb), prefix)
    worst = 0.0
    for name, want in sorted(theirs.items()):
        got = ours[name]
        if got.dtype != want.dtype or got.shape != want.shape:
            print("FAIL %s: Quiver saved %s%s, TF has %s%s" %
                  (name, got.dtype, got.shape, want.dtype, want.shape))
            ok = False
            continue
        if want.dtype.kind == "f":
            err = float(np.max(np.abs(got - want) / (np.abs(want) + 1e-6))) if want.size else 0.0
            worst = max(worst, err)
            ok = ok and err <= 1e-5
        else:
            ok = ok and np.array_equal(got, want)
    print("%s TF's Saver restores Quiver's checkpoint after one Quiver Adam step: %d variables "
          "equal TF's own step (worst relative difference %.2g)" %
          ("PASS" if ok else "FAIL", len(theirs), worst))
    return ok


def index_blocks(path):
    """Data blocks of a LevelDB table: entries of its index block (from the footer)."""
    with open(path, "rb") as f:
        data = f.read()

    def varint(b, i):
        value = shift = 0
        while True:
            c = b[i]
            i += 1
            value |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return value, i

    footer = data[-48:]
    _, i = varint(footer, 0)
    _, i = varint(footer, i)
    offset, i = varint(footer, i)
    size, _ = varint(footer, i)
    block = data[offset:offset + size]
    restarts = int.from_bytes(block[-4:], "little")  # the index block restarts at every key
    return restarts


def check_many_block_bytes(tf, cli, work):
    n = 8000
    g = tf.Graph()
    rng = np.random.default_rng(7)
    with g.as_default():
        for i in range(n):
            # Long names with shared prefixes, as real models have: every index entry is
            # prefix-compressed and the index spans two 256 KiB blocks.
            tf.compat.v1.Variable(rng.standard_normal(3).astype(np.float32),
                                  name="model/encoder/layer_%04d/attention/kernel" % i)
        init = tf.compat.v1.global_variables_initializer()
        tf.no_op(name="noop")
        # The GraphDef Quiver runs is written before the Saver adds its SaveV2/RestoreV2 ops.
        graph_pb = os.path.join(work, "big.pb")
        with open(graph_pb, "wb") as f:
            f.write(g.as_graph_def().SerializeToString())
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(init)
            tf_prefix = saver.save(sess, os.path.join(work, "tf", "big.ckpt"))
    q_prefix = os.path.join(work, "quiver_big", "big.ckpt")
    os.makedirs(os.path.dirname(q_prefix))
    quiver(cli, "run", graph_pb, "--restore", tf_prefix, "--target", "noop", "--save", q_prefix)
    size = os.path.getsize(tf_prefix + ".index")
    ok = True
    for suffix in (".index", ".data-00000-of-00001"):
        same = filecmp.cmp(tf_prefix + suffix, q_prefix + suffix, shallow=False)
        ok = ok and same
        print("%s %s of %d variables (index %d bytes, %d blocks) is byte-identical to TF's" %
              ("PASS" if same else "FAIL", suffix, n, size, index_blocks(tf_prefix + ".index")))
    return ok


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quiver", default=os.path.join(REPO, "build", "quiver"))
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    print("TensorFlow %s, %s" % (tf.__version__, args.quiver))
    with tempfile.TemporaryDirectory() as work:
        ok = check_quiver_trains_tf_restores(tf, args.quiver, work)
        ok = check_many_block_bytes(tf, args.quiver, work) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
