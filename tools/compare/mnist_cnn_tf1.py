#!/usr/bin/env python3
"""The TF1 "Deep MNIST for experts" CNN, written against tf.compat.v1 in graph mode.

This is the TensorFlow side of tools/compare/compare_mnist.sh: the same model, batch
size, step count and thread count as Quiver's C++ `mnist_cnn`, so the two can be
compared side by side.

  mnist_cnn_tf1.py [--data DIR] [--steps N] [--batch N] [--threads N] [--seed N] [--quiet]

Final output (exactly these three lines, after an optional progress line):
  test accuracy: 0.xxxx
  train time: S s
  examples/s: E
"""
import argparse
import gzip
import os
import struct
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


# ---------------------------------------------------------------- MNIST (IDX gz) ----
def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError("%s: truncated IDX header" % path)
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file (magic %02x%02x)" %
                         (path, dtype_code, ndim))
    header = 4 + 4 * ndim
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    count = int(np.prod(dims))
    if len(data) - header < count:
        raise ValueError("%s: expected %d bytes of data, found %d" %
                         (path, count, len(data) - header))
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header).reshape(dims)


def load_mnist(data_dir, prefix):
    """prefix is "train" or "t10k". Returns images [N,784] float32 in [0,1], labels [N,10]."""
    images = _read_idx(os.path.join(data_dir, "%s-images-idx3-ubyte.gz" % prefix))
    labels = _read_idx(os.path.join(data_dir, "%s-labels-idx1-ubyte.gz" % prefix))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError("%s: image/label files disagree (%s vs %s)" %
                         (prefix, images.shape, labels.shape))
    x = images.reshape(images.shape[0], -1).astype(np.float32) / 255.0
    y = np.zeros((labels.shape[0], 10), dtype=np.float32)
    y[np.arange(labels.shape[0]), labels] = 1.0
    return x, y


class DataSet(object):
    """next_batch as in the TF tutorial's mnist DataSet: shuffle each epoch."""

    def __init__(self, images, labels, seed):
        self._images, self._labels = images, labels
        self._n = images.shape[0]
        self._rng = np.random.RandomState(seed)
        self._epochs_completed = 0
        self._index_in_epoch = 0

    def next_batch(self, batch_size):
        start = self._index_in_epoch
        if self._epochs_completed == 0 and start == 0:
            perm = self._rng.permutation(self._n)
            self._images, self._labels = self._images[perm], self._labels[perm]
        if start + batch_size > self._n:
            # Finish this epoch, reshuffle, and take the rest from the next one.
            self._epochs_completed += 1
            rest = self._n - start
            images_rest = self._images[start:self._n]
            labels_rest = self._labels[start:self._n]
            perm = self._rng.permutation(self._n)
            self._images, self._labels = self._images[perm], self._labels[perm]
            self._index_in_epoch = batch_size - rest
            end = self._index_in_epoch
            return (np.concatenate((images_rest, self._images[0:end]), axis=0),
                    np.concatenate((labels_rest, self._labels[0:end]), axis=0))
        self._index_in_epoch += batch_size
        end = self._index_in_epoch
        return self._images[start:end], self._labels[start:end]


# ------------------------------------------------------------------------ model ----
def build_model(tf):
    def weight_variable(shape):
        return tf.Variable(tf.truncated_normal(shape, stddev=0.1))

    def bias_variable(shape):
        return tf.Variable(tf.constant(0.1, shape=shape))

    def conv2d(x, W):
        return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME")

    def max_pool_2x2(x):
        return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

    x = tf.placeholder(tf.float32, [None, 784], name="x")
    y_ = tf.placeholder(tf.float32, [None, 10], name="y_")
    keep_prob = tf.placeholder(tf.float32, name="keep_prob")

    x_image = tf.reshape(x, [-1, 28, 28, 1])
    W_conv1 = weight_variable([5, 5, 1, 32])
    b_conv1 = bias_variable([32])
    h_pool1 = max_pool_2x2(tf.nn.relu(conv2d(x_image, W_conv1) + b_conv1))

    W_conv2 = weight_variable([5, 5, 32, 64])
    b_conv2 = bias_variable([64])
    h_pool2 = max_pool_2x2(tf.nn.relu(conv2d(h_pool1, W_conv2) + b_conv2))

    W_fc1 = weight_variable([7 * 7 * 64, 1024])
    b_fc1 = bias_variable([1024])
    h_pool2_flat = tf.reshape(h_pool2, [-1, 7 * 7 * 64])
    h_fc1 = tf.nn.relu(tf.matmul(h_pool2_flat, W_fc1) + b_fc1)
    h_fc1_drop = tf.nn.dropout(h_fc1, rate=1.0 - keep_prob)  # == keep_prob=keep_prob

    W_fc2 = weight_variable([1024, 10])
    b_fc2 = bias_variable([10])
    y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2

    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
    train_step = tf.train.AdamOptimizer(1e-4).minimize(loss)
    correct = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
    num_correct = tf.reduce_sum(tf.cast(correct, tf.float32))
    return x, y_, keep_prob, loss, train_step, num_correct


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data/mnist")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    args = p.parse_args()
    if args.steps < 0 or args.batch <= 0:
        p.error("--steps must be >= 0 and --batch > 0")

    try:
        import tensorflow.compat.v1 as tf
    except ImportError as e:
        sys.exit("mnist_cnn_tf1: tensorflow is not importable (%s); pip install tensorflow-cpu" % e)
    tf.disable_eager_execution()
    tf.get_logger().setLevel("ERROR")  # no deprecation chatter on stderr

    train_x, train_y = load_mnist(args.data, "train")
    test_x, test_y = load_mnist(args.data, "t10k")
    train = DataSet(train_x, train_y, args.seed)

    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(args.seed)
        x, y_, keep_prob, loss, train_step, num_correct = build_model(tf)
        init = tf.global_variables_initializer()
    config = tf.ConfigProto(intra_op_parallelism_threads=args.threads,
                            inter_op_parallelism_threads=args.threads)

    with tf.Session(graph=graph, config=config) as sess:
        sess.run(init)
        train_secs = 0.0
        last_print = 0.0
        for step in range(1, args.steps + 1):
            t0 = time.perf_counter()
            bx, by = train.next_batch(args.batch)
            _, l = sess.run([train_step, loss], feed_dict={x: bx, y_: by, keep_prob: 0.5})
            train_secs += time.perf_counter() - t0
            if not args.quiet and (train_secs - last_print >= 0.25 or step == args.steps):
                last_print = train_secs
                sys.stdout.write("\r step %d loss %.4f  %.0f examples/s   " %
                                 (step, l, step * args.batch / max(train_secs, 1e-9)))
                sys.stdout.flush()
        if not args.quiet and args.steps > 0:
            sys.stdout.write("\n")

        correct = 0.0
        for i in range(0, test_x.shape[0], 1000):
            correct += sess.run(num_correct, feed_dict={x: test_x[i:i + 1000],
                                                        y_: test_y[i:i + 1000],
                                                        keep_prob: 1.0})
    print("test accuracy: %.4f" % (correct / test_x.shape[0]))
    print("train time: %.3f s" % train_secs)
    print("examples/s: %.1f" % (args.steps * args.batch / train_secs if train_secs > 0 else 0.0))


if __name__ == "__main__":
    main()
