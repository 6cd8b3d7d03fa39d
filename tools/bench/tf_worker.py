#!/usr/bin/env python3
"""TensorFlow side of tools/bench/run_bench.py: one process per case, driven over stdin.

    tf_worker.py CASE_DIR --threads N --inter-op-threads M --warmup W

Loads CASE_DIR/graph.pb into a tf.compat.v1.Session (intra-op N, inter-op M threads),
resets the kernel's peak-RSS mark and records the resident size (the post-load baseline),
runs the init targets once and W warm-up steps, prints {"ready": ..., "first_ms": ...}, then
answers one JSON line per command:
    run K      -> {"samples_ms": [...]}         K timed steps (a callable from make_callable)
    mem        -> {"peak_rss_delta_bytes": B}   VmHWM minus the post-load VmRSS
    profile K  -> {"ops": [...], "nodes": [...]} K steps with FULL_TRACE step stats
    quit
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def proc_status_bytes(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("case_dir")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--inter-op-threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()

    import tensorflow as tf
    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    tf.get_logger().setLevel("ERROR")

    with open(os.path.join(args.case_dir, "case.json")) as f:
        case = json.load(f)
    graph_def = tf1.GraphDef()
    with open(os.path.join(args.case_dir, "graph.pb"), "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf1.Graph()
    with graph.as_default():
        tf1.import_graph_def(graph_def, name="")
    op_type = {n.name: n.op for n in graph_def.node}
    feeds = {graph.get_tensor_by_name(name): np.load(os.path.join(args.case_dir, fname))
             for name, fname in case["feeds"].items()}
    fetches = [graph.get_tensor_by_name(n) for n in case["fetches"]]
    targets = [graph.get_operation_by_name(n) for n in case["targets"]]
    config = tf1.ConfigProto(intra_op_parallelism_threads=args.threads,
                             inter_op_parallelism_threads=args.inter_op_threads)
    sess = tf1.Session(graph=graph, config=config)

    hwm_reset = reset_peak_rss()
    baseline = proc_status_bytes("VmRSS")
    if case["init"]:
        sess.run([graph.get_operation_by_name(n) for n in case["init"]])
    feed_list = list(feeds)
    values = [feeds[t] for t in feed_list]
    step = sess.make_callable(fetches + targets, feed_list)
    t0 = time.perf_counter()
    step(*values)
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(args.warmup):
        step(*values)
    print(json.dumps({"ready": True, "first_ms": first_ms, "tf_version": tf.__version__,
                      "rss_baseline_bytes": baseline}), flush=True)

    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            samples = []
            for _ in range(int(cmd[1])):
                t0 = time.perf_counter()
                step(*values)
                samples.append((time.perf_counter() - t0) * 1e3)
            print(json.dumps({"samples_ms": samples}), flush=True)
        elif cmd[0] == "mem":
            peak = proc_status_bytes("VmHWM")
            delta = peak - baseline if hwm_reset and peak >= 0 and baseline >= 0 else -1
            print(json.dumps({"peak_rss_delta_bytes": delta}), flush=True)
        elif cmd[0] == "profile":
            k = int(cmd[1])
            per_op, per_node = {}, {}
            opts = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
            for _ in range(k):
                meta = tf1.RunMetadata()
                sess.run(fetches + targets, feed_dict=feeds, options=opts, run_metadata=meta)
                for dev in meta.step_stats.dev_stats:
                    for ns in dev.node_stats:
                        name = ns.node_name.split(":")[0]
                        # The op that ran (after Grappler's rewrites, e.g. _FusedConv2D),
                        # from "name = Op(inputs)"; else the GraphDef's op.
                        label = ns.timeline_label
                        op = (label.split(" = ", 1)[1].split("(", 1)[0]
                              if " = " in label else op_type.get(name))
                        if op is None or op in ("_SOURCE", "_Retval", "_Arg"):
                            continue
                        us = ns.op_end_rel_micros - ns.op_start_rel_micros
                        per_op[op] = per_op.get(op, 0) + us
                        per_node.setdefault(name, [op, 0])[1] += us
            total = max(1, sum(per_op.values()))
            ops = sorted(per_op.items(), key=lambda kv: -kv[1])
            nodes = sorted(per_node.items(), key=lambda kv: -kv[1][1])
            print(json.dumps({
                "ops": [{"op": op, "ms_per_run": us / 1e3 / k, "percent": 100.0 * us / total}
                        for op, us in ops[:15]],
                "nodes": [{"node": n, "op": v[0], "ms_per_run": v[1] / 1e3 / k}
                          for n, v in nodes[:15]]}), flush=True)
        elif cmd[0] == "quit":
            break
    sess.close()


if __name__ == "__main__":
    main()
