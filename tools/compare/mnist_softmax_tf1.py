#!/usr/bin/env python3
"""The TF1 "MNIST for beginners" softmax regression, written against tf.compat.v1 in graph mode.

The TensorFlow side of tools/compare/compare_mnist.sh, matching Quiver's C++
`mnist_softmax`: W and b zeros, y = x W + b, gradient descent (0.5), batches of 100.

  mnist_softmax_tf1.py [--data DIR] [--steps N] [--batch N] [--threads N] [--seed N] [--quiet]

Final output (exactly these three lines, after an optional progress line):
  test accuracy: 0.xxxx
  train time: S s
  examples/s: E
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mnist_cnn_tf1 import DataSet, load_mnist  # noqa: E402  (IDX reader + next_batch)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data/mnist")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    args = p.parse_args()
    if args.steps < 0 or args.batch <= 0:
        p.error("--steps must be >= 0 and --batch > 0")

    try:
        import tensorflow.compat.v1 as tf
    except ImportError as e:
        sys.exit("mnist_softmax_tf1: tensorflow is not importable (%s); "
                 "pip install tensorflow-cpu" % e)
    tf.disable_eager_execution()
    tf.get_logger().setLevel("ERROR")  # no deprecation chatter on stderr

    train_x, train_y = load_mnist(args.data, "train")
    test_x, test_y = load_mnist(args.data, "t10k")
    train = DataSet(train_x, train_y, args.seed)

    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(args.seed)
        x = tf.placeholder(tf.float32, [None, 784], name="x")
        y_ = tf.placeholder(tf.float32, [None, 10], name="y_")
        W = tf.Variable(tf.zeros([784, 10]))
        b = tf.Variable(tf.zeros([10]))
        y = tf.matmul(x, W) + b
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
        train_step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        correct = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
        num_correct = tf.reduce_sum(tf.cast(correct, tf.float32))
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
            _, l = sess.run([train_step, loss], feed_dict={x: bx, y_: by})
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
                                                        y_: test_y[i:i + 1000]})
    print("test accuracy: %.4f" % (correct / test_x.shape[0]))
    print("train time: %.3f s" % train_secs)
    print("examples/s: %.1f" % (args.steps * args.batch / train_secs if train_secs > 0 else 0.0))


if __name__ == "__main__":
    main()
