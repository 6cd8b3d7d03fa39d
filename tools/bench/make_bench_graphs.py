#!/usr/bin/env python3
"""Writes the benchmark cases of tools/bench/run_bench.py as TensorFlow GraphDefs.

    make_bench_graphs.py --out DIR [--cases a,b,...]

Every case gets DIR/<case>/ with
    graph.pb      a binary GraphDef, the one file both Quiver and TensorFlow run
    <feed>.npy    one file per placeholder fed
    case.json     {"name", "kind": "inference"|"training", "batch", "feeds": {tensor: file},
                   "fetches": [...], "targets": [...], "init": [...], "flops": F,
                   "description"}

Inference graphs are frozen (variables folded into constants) with TF1's
convert_variables_to_constants. Training graphs are TF1 programs with reference variables
(VariableV2/Assign/Apply*, tf.compat.v1.disable_resource_variables(), as TF 1.x wrote them),
an init op ("init") and a train op ("train"), exported as they are: not frozen.

"flops" counts multiply-adds twice for the MatMul/Conv2D layers (forward; for a training step
also the filter and input gradients of every layer the graph computes),
the convention of TensorFlow's profiler. Element-wise work is not counted.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _tf():
    import tensorflow as tf
    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    tf1.disable_resource_variables()
    tf.get_logger().setLevel("ERROR")
    return tf, tf1


# ---------------------------------------------------------------------------- FLOPs ----
def dense_flops(batch, k, n):
    return 2 * batch * k * n


def conv_flops(batch, oh, ow, kh, kw, ci, co):
    return 2 * batch * oh * ow * kh * kw * ci * co


# ------------------------------------------------------------------------- models ----
MLP_SIZES = [784, 512, 256, 10]


def build_mlp(tf, tf1, r, batch):
    x = tf1.placeholder(tf.float32, [None, 784], name="x")
    h = x
    for i, (k, n) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:])):
        w = tf1.Variable(r.normal(0, 1.0 / np.sqrt(k), (k, n)).astype(np.float32), name="fc%d/W" % i)
        b = tf1.Variable(r.normal(0, 0.1, (n,)).astype(np.float32), name="fc%d/b" % i)
        h = tf.matmul(h, w) + b
        if i < len(MLP_SIZES) - 2:
            h = tf.nn.relu(h)
    probs = tf.nn.softmax(h, name="probs")
    flops = sum(dense_flops(batch, k, n) for k, n in zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
    feeds = {x: r.uniform(0, 1, (batch, 784)).astype(np.float32)}
    return feeds, [probs], flops


def cnn_layers(tf, tf1, seed, x, keep_prob=None):
    """The TF1 "Deep MNIST for experts" network (tools/compare/mnist_cnn_tf1.py)."""
    def weight(shape):
        return tf1.Variable(tf1.truncated_normal(shape, stddev=0.1, seed=seed + len(shape) * 7 + shape[-1]))

    def bias(n):
        return tf1.Variable(tf1.constant(0.1, shape=[n]))

    def conv2d(h, w):
        return tf.nn.conv2d(h, w, strides=[1, 1, 1, 1], padding="SAME")

    def pool(h):
        return tf1.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

    image = tf.reshape(x, [-1, 28, 28, 1])
    h1 = pool(tf.nn.relu(conv2d(image, weight([5, 5, 1, 32])) + bias(32)))
    h2 = pool(tf.nn.relu(conv2d(h1, weight([5, 5, 32, 64])) + bias(64)))
    fc1 = tf.nn.relu(tf.matmul(tf.reshape(h2, [-1, 7 * 7 * 64]), weight([7 * 7 * 64, 1024])) + bias(1024))
    if keep_prob is not None:
        # tf.nn.dropout as TensorFlow 1.15 wrote it (x * 1/keep_prob * cast(uniform >= rate)).
        # TF 2.x's tf.nn.dropout emits SelectV2 instead, an op Quiver does not import.
        uniform = tf1.random_uniform(tf.shape(fc1), seed=seed + 99)
        uniform.set_shape(fc1.shape)  # as TF 1.15 did; else the loss gradient goes dynamic
        keep = tf.cast(uniform >= 1.0 - keep_prob, tf.float32)
        fc1 = fc1 * (1.0 / keep_prob) * keep
    return tf.matmul(fc1, weight([1024, 10])) + bias(10)


def cnn_forward_flops(batch):
    return (conv_flops(batch, 28, 28, 5, 5, 1, 32) + conv_flops(batch, 14, 14, 5, 5, 32, 64) +
            dense_flops(batch, 3136, 1024) + dense_flops(batch, 1024, 10))


def cnn_train_flops(batch):
    # forward + filter gradients (= forward) + input gradients (= forward). TF's conv gradient
    # groups both outputs with tf.tuple, so conv1's input gradient runs too (in both systems).
    return 3 * cnn_forward_flops(batch)


def build_cnn(tf, tf1, r, batch):
    x = tf1.placeholder(tf.float32, [None, 784], name="x")
    logits = cnn_layers(tf, tf1, 11, x)
    probs = tf.nn.softmax(logits, name="probs")
    feeds = {x: r.uniform(0, 1, (batch, 784)).astype(np.float32)}
    return feeds, [probs], cnn_forward_flops(batch)


RESNET_HW, RESNET_C, RESNET_BLOCKS = 56, 64, 2


def build_resnet(tf, tf1, r, batch):
    """ResNet basic blocks at 56x56x64: conv3x3-BN-relu-conv3x3-BN + identity, relu."""
    c = RESNET_C
    x = tf1.placeholder(tf.float32, [None, RESNET_HW, RESNET_HW, c], name="x")

    def conv_bn(h, name, relu):
        w = tf1.Variable(r.normal(0, np.sqrt(2.0 / (9 * c)), (3, 3, c, c)).astype(np.float32),
                         name=name + "/W")
        h = tf.nn.conv2d(h, w, strides=[1, 1, 1, 1], padding="SAME")
        scale = tf1.Variable(r.uniform(0.5, 1.5, (c,)).astype(np.float32), name=name + "/gamma")
        offset = tf1.Variable(r.normal(0, 0.1, (c,)).astype(np.float32), name=name + "/beta")
        mean = tf1.Variable(r.normal(0, 0.1, (c,)).astype(np.float32), name=name + "/mean")
        var = tf1.Variable(r.uniform(0.5, 1.5, (c,)).astype(np.float32), name=name + "/var")
        h, _, _ = tf1.nn.fused_batch_norm(h, scale, offset, mean=mean, variance=var,
                                          epsilon=1e-3, is_training=False)
        return tf.nn.relu(h) if relu else h

    h = x
    for blk in range(RESNET_BLOCKS):
        shortcut = h
        y = conv_bn(h, "block%d/conv1" % blk, True)
        y = conv_bn(y, "block%d/conv2" % blk, False)
        h = tf.nn.relu(y + shortcut)
    out = tf.identity(h, name="out")
    flops = 2 * RESNET_BLOCKS * conv_flops(batch, RESNET_HW, RESNET_HW, 3, 3, c, c)
    feeds = {x: r.uniform(0, 1, (batch, RESNET_HW, RESNET_HW, c)).astype(np.float32)}
    return feeds, [out], flops


def random_onehot(r, batch):
    y = np.zeros((batch, 10), np.float32)
    y[np.arange(batch), r.randint(0, 10, batch)] = 1
    return y


def build_softmax_train(tf, tf1, r, batch):
    """TF1 "MNIST for beginners": zeros W/b, softmax xent, GradientDescent(0.5)."""
    x = tf1.placeholder(tf.float32, [None, 784], name="x")
    y_ = tf1.placeholder(tf.float32, [None, 10], name="y_")
    w = tf1.Variable(tf.zeros([784, 10]), name="W")
    b = tf1.Variable(tf.zeros([10]), name="b")
    y = tf.matmul(x, w) + b
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y),
                          name="loss")
    tf1.train.GradientDescentOptimizer(0.5).minimize(loss, name="train")
    feeds = {x: r.uniform(0, 1, (batch, 784)).astype(np.float32), y_: random_onehot(r, batch)}
    flops = 3 * dense_flops(batch, 784, 10) - dense_flops(batch, 784, 10)  # no dx for x
    return feeds, [loss], flops


def build_cnn_train(tf, tf1, r, batch):
    """TF1 "Deep MNIST for experts" step: dropout 0.5, softmax xent, Adam(1e-4)."""
    x = tf1.placeholder(tf.float32, [None, 784], name="x")
    y_ = tf1.placeholder(tf.float32, [None, 10], name="y_")
    keep_prob = tf1.placeholder(tf.float32, [], name="keep_prob")
    logits = cnn_layers(tf, tf1, 11, x, keep_prob)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=logits),
                          name="loss")
    tf1.train.AdamOptimizer(1e-4).minimize(loss, name="train")
    feeds = {x: r.uniform(0, 1, (batch, 784)).astype(np.float32), y_: random_onehot(r, batch),
             keep_prob: np.array(0.5, np.float32)}
    return feeds, [loss], cnn_train_flops(batch)


def build_rnn_loop(tf, tf1, r, batch, v2):
    """An Elman RNN over 50 steps as one tf.while_loop: h = tanh(h W + x[t] U), 128 units."""
    steps, units = 50, 128
    if v2:
        tf1.enable_control_flow_v2()
    else:
        tf1.disable_control_flow_v2()
    try:
        x = tf1.placeholder(tf.float32, [steps, batch, units], name="x")
        w = tf.constant(r.normal(0, 0.1, (units, units)).astype(np.float32))
        u = tf.constant(r.normal(0, 0.1, (units, units)).astype(np.float32))

        def body(t, h):
            return t + 1, tf.tanh(tf.matmul(h, w) + tf.matmul(tf.gather(x, t), u))

        _, h = tf1.while_loop(lambda t, h: t < steps, body,
                              [tf.constant(0), tf.zeros([batch, units])], name="rnn")
        h = tf.identity(h, name="h")
    finally:
        tf1.disable_control_flow_v2()
    feeds = {x: r.uniform(-1, 1, (steps, batch, units)).astype(np.float32)}
    return feeds, [h], steps * 2 * dense_flops(batch, units, units)


def build_rnn_loop_v1(tf, tf1, r, batch):
    return build_rnn_loop(tf, tf1, r, batch, v2=False)


def build_rnn_loop_v2(tf, tf1, r, batch):
    return build_rnn_loop(tf, tf1, r, batch, v2=True)


def build_lstm_seq(tf, tf1, r, batch, v2):
    """An LSTM over 50 steps as tf.nn.dynamic_rnn writes it: the inputs unstacked into a
    TensorArray, each step's h written into another, stacked after the loop (TF1: TensorArrayV3;
    control flow v2: TensorLists as loop variables). 64 inputs, 128 units."""
    steps, inputs, units = 50, 64, 128
    if v2:
        tf1.enable_control_flow_v2()
    else:
        tf1.disable_control_flow_v2()
    try:
        x = tf1.placeholder(tf.float32, [steps, batch, inputs], name="x")
        kernel = tf.constant(r.normal(0, 0.1, (inputs + units, 4 * units)).astype(np.float32))
        bias = tf.constant(np.zeros(4 * units, np.float32))
        xs = tf.TensorArray(tf.float32, size=steps).unstack(x)
        hs = tf.TensorArray(tf.float32, size=steps)

        def body(t, c, h, hs):
            z = tf.matmul(tf.concat([xs.read(t), h], 1), kernel) + bias
            i, g, f, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            return t + 1, c, h, hs.write(t, h)

        zeros = tf.zeros([batch, units])
        _, _, _, hs = tf1.while_loop(lambda t, c, h, hs: t < steps, body,
                                     [tf.constant(0), zeros, zeros, hs], name="lstm")
        out = tf.identity(hs.stack(), name="outputs")
    finally:
        tf1.disable_control_flow_v2()
    feeds = {x: r.uniform(-1, 1, (steps, batch, inputs)).astype(np.float32)}
    return feeds, [out], steps * dense_flops(batch, inputs + units, 4 * units)


def build_lstm_seq_v1(tf, tf1, r, batch):
    return build_lstm_seq(tf, tf1, r, batch, v2=False)


def build_lstm_seq_v2(tf, tf1, r, batch):
    return build_lstm_seq(tf, tf1, r, batch, v2=True)


# name -> (builder, kind, batch, description)
CASES = {
    "mlp_b1": (build_mlp, "inference", 1, "MLP 784-512-256-10 relu, softmax"),
    "mlp_b256": (build_mlp, "inference", 256, "MLP 784-512-256-10 relu, softmax"),
    "cnn_b1": (build_cnn, "inference", 1, "MNIST CNN (TF1 Deep MNIST) forward"),
    "cnn_b256": (build_cnn, "inference", 256, "MNIST CNN (TF1 Deep MNIST) forward"),
    "resnet56_b8": (build_resnet, "inference", 8,
                    "2 ResNet basic blocks, 56x56x64, conv3x3+BN+relu, residual add"),
    "softmax_train_b100": (build_softmax_train, "training", 100,
                           "MNIST softmax regression training step, SGD 0.5"),
    "cnn_train_b50": (build_cnn_train, "training", 50,
                      "MNIST CNN training step, dropout 0.5, Adam 1e-4"),
    "rnn_loop_v1_b32": (build_rnn_loop_v1, "inference", 32,
                        "RNN, 50 steps of tanh(hW + x[t]U), 128 units: TF1 tf.while_loop"),
    "rnn_loop_v2_b32": (build_rnn_loop_v2, "inference", 32,
                        "the same loop in control flow v2 (StatelessWhile)"),
    "lstm_seq_v1_b32": (build_lstm_seq_v1, "inference", 32,
                        "LSTM, 50 steps, 64->128, sequence out via TensorArrayV3 (TF1)"),
    "lstm_seq_v2_b32": (build_lstm_seq_v2, "inference", 32,
                        "the same LSTM with TensorLists (control flow v2)"),
}


def file_stem(name):
    return name.replace("/", "_").replace(":", "_")


def make_case(name, out_dir):
    tf, tf1 = _tf()
    builder, kind, batch, desc = CASES[name]
    r = np.random.RandomState(sum(map(ord, name)))
    graph = tf1.Graph()
    with graph.as_default():
        tf1.set_random_seed(1)
        feeds, fetches, flops = builder(tf, tf1, r, batch)
        init = tf1.variables_initializer(tf1.global_variables(), name="init")
        with tf1.Session(graph=graph) as sess:
            sess.run(init)
            graph_def = graph.as_graph_def()
            if kind == "inference":
                graph_def = tf1.graph_util.convert_variables_to_constants(
                    sess, graph_def, [t.op.name for t in fetches])
    case_dir = os.path.join(out_dir, name)
    os.makedirs(case_dir, exist_ok=True)
    with open(os.path.join(case_dir, "graph.pb"), "wb") as f:
        f.write(graph_def.SerializeToString())
    feed_files = {}
    for ph, value in feeds.items():
        fname = file_stem(ph.name) + ".npy"
        np.save(os.path.join(case_dir, fname), value)
        feed_files[ph.name] = fname
    ops = sorted({n.op for n in graph_def.node})
    meta = {
        "name": name, "kind": kind, "batch": batch, "description": desc,
        "feeds": feed_files, "fetches": [t.name for t in fetches],
        "targets": ["train"] if kind == "training" else [],
        "init": ["init"] if kind == "training" else [],
        "flops": int(flops), "nodes": len(graph_def.node), "ops": ops,
    }
    with open(os.path.join(case_dir, "case.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--cases", default=",".join(CASES))
    args = p.parse_args()
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        sys.exit("make_bench_graphs: unknown case(s) %s (known: %s)" % (unknown, ", ".join(CASES)))
    for name in names:
        meta = make_case(name, args.out)
        print("%-20s %-9s batch %-4d %4d nodes  %.3f GFLOP" %
              (name, meta["kind"], meta["batch"], meta["nodes"], meta["flops"] / 1e9))


if __name__ == "__main__":
    main()
