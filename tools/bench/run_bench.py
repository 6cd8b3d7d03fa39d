#!/usr/bin/env python3
"""Quiver vs TensorFlow on the same GraphDef files, side by side.

    run_bench.py --quiver BUILD/quiver [--threads 2] [--inter-op-threads 1] [--rounds 3]
                 [--cases a,b] [--round-seconds 0.5] [--out bench.json] [--graphs DIR]
                 [--roofline BUILD/quiver_roofline] [--profile] [--optimized]

1. make_bench_graphs.py writes every case's GraphDef (TF1 graph mode: frozen inference graphs,
   training graphs with "init" and "train" ops) and its feeds into --graphs (default: a temp
   dir). Both frameworks run exactly these files.
2. Per case: a TensorFlow worker (tf_worker.py, tf.compat.v1.Session, make_callable) loads the
   graph and warms up once; then ROUNDS alternating rounds run K steps in Quiver
   (`quiver bench --format json`, a fresh process per round with its own warm-up) and K steps
   in the TF worker. K is sized so one side's round takes about --round-seconds.
   Medians are over all timed steps of all rounds.
3. Threads: TF gets intra_op_parallelism_threads=--threads and
   inter_op_parallelism_threads=--inter-op-threads; Quiver --intra-op-threads and
   --inter-op-threads likewise.
4. Peak memory, the same rule on both sides: the process's peak resident set (VmHWM, reset
   through /proc/self/clear_refs after the graph is loaded and the session created) minus its
   resident set at that moment, over init, warm-up and timed steps. Quiver: the largest over
   its rounds; TF: at the end of the timed rounds. Quiver's own peak tensor bytes per step
   are also reported.
5. GFLOP/s from the cases' FLOP counts (MatMul/Conv multiply-adds x2), against this machine's
   sgemm peak and triad bandwidth from quiver_roofline when it is built (run at the start and
   at the end; the better of the two is kept, as a shared machine lowers both).

Prints a table and writes JSON (--out).
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


class TfWorker:
    def __init__(self, python, case_dir, threads, inter, warmup):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(
            [python, os.path.join(HERE, "tf_worker.py"), case_dir, "--threads", str(threads),
             "--inter-op-threads", str(inter), "--warmup", str(warmup)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        self.ready = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise RuntimeError("TensorFlow worker failed:\n" + err[-3000:])
        return json.loads(line)

    def ask(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def quiver_bench(quiver, graph_path, case, case_dir, iters, warmup, threads, inter,
                 profile_iters=0, top=12, max_seconds=0):
    cmd = [quiver, "bench", graph_path, "--format", "json", "--iters", str(iters),
           "--warmup", str(warmup), "--profile-iters", str(profile_iters), "--top", str(top),
           "--intra-op-threads", str(threads), "--inter-op-threads", str(inter)]
    if max_seconds:
        cmd += ["--max-seconds", str(max_seconds)]
    for name, fname in case["feeds"].items():
        cmd += ["--feed", "%s=%s" % (name.split(":")[0], os.path.join(case_dir, fname))]
    for f in case["fetches"]:
        cmd += ["--fetch", f]
    for t in case["targets"]:
        cmd += ["--target", t]
    for t in case["init"]:
        cmd += ["--init", t]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, "exit %d: %s" % (r.returncode, (r.stderr or r.stdout).strip()[-1500:])
    return json.loads(r.stdout), None


def quiver_optimize(quiver, graph_path, case, out_path):
    cmd = [quiver, "optimize", graph_path, "-o", out_path]
    for f in case["fetches"] + case["targets"] + case["init"]:
        cmd += ["--fetch", f.split(":")[0]]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode == 0, (r.stderr or r.stdout).strip()[-500:]


def roofline(path, threads):
    if not path or not os.path.exists(path):
        return None
    r = subprocess.run([path, "--threads", str(threads), "--format", "json"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        log("quiver_roofline failed: " + r.stderr.strip()[-500:])
        return None
    return json.loads(r.stdout)


def fmt_mb(b):
    return "n/a" if b is None or b < 0 else "%.1f" % (b / 1e6)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quiver", required=True, help="path to the quiver CLI binary")
    p.add_argument("--roofline", default=None,
                   help="quiver_roofline binary (default: next to --quiver)")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads, both sides")
    p.add_argument("--inter-op-threads", type=int, default=1, help="inter-op threads, both sides")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--round-seconds", type=float, default=0.6)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--cases", default="")
    p.add_argument("--graphs", default="", help="where to write the GraphDefs (default: temp dir)")
    p.add_argument("--out", default="", help="JSON results file")
    p.add_argument("--profile", action="store_true",
                   help="also collect per-op profiles (Quiver step stats, TF FULL_TRACE)")
    p.add_argument("--optimized", action="store_true",
                   help="also time Quiver on `quiver optimize` output (inference cases)")
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args()

    quiver = os.path.abspath(args.quiver)
    if not os.access(quiver, os.X_OK):
        sys.exit("run_bench: %s is not an executable quiver binary" % quiver)
    roof_bin = args.roofline or os.path.join(os.path.dirname(quiver), "quiver_roofline")

    tmp = None
    graphs = args.graphs
    if not graphs:
        tmp = tempfile.mkdtemp(prefix="quiver_bench.")
        graphs = tmp
    try:
        gen = [args.python, os.path.join(HERE, "make_bench_graphs.py"), "--out", graphs]
        if args.cases:
            gen += ["--cases", args.cases]
        log(">> generating graphs with TensorFlow into %s" % graphs)
        r = subprocess.run(gen, capture_output=True, text=True,
                           env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        if r.returncode != 0:
            sys.exit("run_bench: make_bench_graphs.py failed:\n" + r.stderr[-3000:])
        log(r.stdout.rstrip())
        names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]

        roof = roofline(roof_bin, args.threads)
        if roof:
            log(">> roofline: sgemm %.1f GFLOP/s (%d threads), %.1f (1 thread); triad %.1f GB/s"
                % (roof["sgemm_gflops"], args.threads, roof["sgemm_gflops_1t"],
                   roof["triad_gbs"]))

        results = []
        tf_version = None
        for name in names:
            case_dir = os.path.join(graphs, name)
            with open(os.path.join(case_dir, "case.json")) as f:
                case = json.load(f)
            graph_path = os.path.join(case_dir, "graph.pb")
            log(">> %s (load %.2f)" % (name, loadavg()))
            res = {"case": name, "kind": case["kind"], "batch": case["batch"],
                   "description": case["description"], "flops": case["flops"],
                   "load_before": loadavg()}
            worker = TfWorker(args.python, case_dir, args.threads, args.inter_op_threads,
                              args.warmup)
            tf_version = worker.ready.get("tf_version")
            # Size a round from TF's warm step time (its first run is excluded).
            probe = worker.ask("run 3")["samples_ms"]
            step_ms = max(1e-3, statistics.median(probe))
            iters = int(min(2000, max(5, args.round_seconds * 1e3 / step_ms)))
            res["iters_per_round"] = iters
            variants = [("quiver", graph_path)]
            if args.optimized and case["kind"] == "inference":
                opt_path = os.path.join(case_dir, "graph.opt.pb")
                ok, msg = quiver_optimize(quiver, graph_path, case, opt_path)
                if ok:
                    variants.append(("quiver_opt", opt_path))
                else:
                    res["quiver_opt_error"] = msg
            q_samples = {v: [] for v, _ in variants}
            q_runs = {v: [] for v, _ in variants}
            tf_samples = []
            for rnd in range(args.rounds):
                for v, path in variants:
                    out, err = quiver_bench(quiver, path, case, case_dir, iters, args.warmup,
                                            args.threads, args.inter_op_threads,
                                            max_seconds=3 * args.round_seconds)
                    if err:
                        res[v + "_error"] = err
                        log("   %s failed: %s" % (v, err))
                        continue
                    q_samples[v] += out["samples_ms"]
                    q_runs[v].append(out)
                tf_samples += worker.ask("run %d" % iters)["samples_ms"]
            res["tf_peak_rss_delta_bytes"] = worker.ask("mem")["peak_rss_delta_bytes"]
            if args.profile:
                k = max(3, min(50, iters // 2))
                res["tf_profile"] = worker.ask("profile %d" % k)
                out, err = quiver_bench(quiver, graph_path, case, case_dir, 1, args.warmup,
                                        args.threads, args.inter_op_threads, profile_iters=k,
                                        top=15)
                if out:
                    res["quiver_profile"] = {"ops": out["ops"], "nodes": out["nodes"]}
            worker.close()
            res["tf_median_ms"] = statistics.median(tf_samples)
            for v, _ in variants:
                if not q_samples[v]:
                    continue
                runs = q_runs[v]
                res[v + "_median_ms"] = statistics.median(q_samples[v])
                res[v + "_peak_rss_delta_bytes"] = max(o["peak_rss_delta_bytes"] for o in runs)
                res[v + "_peak_tensor_bytes"] = max(o["peak_tensor_bytes"] for o in runs)
                res[v + "_ratio"] = res[v + "_median_ms"] / res["tf_median_ms"]
            res["load_after"] = loadavg()
            for side in ["quiver", "quiver_opt", "tf"]:
                if side + "_median_ms" in res:
                    ms = res[side + "_median_ms"]
                    res[side + "_examples_per_s"] = case["batch"] * 1e3 / ms
                    res[side + "_gflops"] = case["flops"] / ms / 1e6
            results.append(res)
            log("   quiver %s ms, tf %.3f ms" % (
                "%.3f" % res["quiver_median_ms"] if "quiver_median_ms" in res else "n/a",
                res["tf_median_ms"]))
        # The machine may be shared: measure the ceilings again at the end, keep the best.
        roof_end = roofline(roof_bin, args.threads)
        if roof and roof_end:
            roof = {k: max(v, roof_end[k]) if isinstance(v, (int, float)) else v
                    for k, v in roof.items()}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    header = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "threads": args.threads,
        "inter_op_threads": args.inter_op_threads, "rounds": args.rounds,
        "tensorflow": tf_version, "roofline": roof,
        "memory_rule": "peak RSS (VmHWM, reset after load) minus RSS after load + session creation",
    }
    print()
    print("Quiver vs TensorFlow %s | %s, %s CPUs | intra-op %d, inter-op %d threads | %s" % (
        tf_version, header["cpu"], header["cpus"], args.threads, args.inter_op_threads,
        header["date"]))
    loads = [r[k] for r in results for k in ("load_before", "load_after")]
    if loads:
        print("load average during the run: %.1f-%.1f (other processes slow both sides; "
              "compare the ratio, not absolute times)" % (min(loads), max(loads)))
    if roof:
        print("roofline: sgemm %.0f GFLOP/s (%d threads), %.0f (1 thread); triad %.1f GB/s" % (
            roof["sgemm_gflops"], args.threads, roof["sgemm_gflops_1t"], roof["triad_gbs"]))
    cols = ("case", "batch", "Quiver ms", "TF ms", "Q/TF time", "Q ex/s", "TF ex/s",
            "Q GFLOP/s", "TF GFLOP/s", "Q peak MB", "TF peak MB")
    fmt = "%-19s %5s %10s %10s %9s %10s %10s %9s %10s %9s %10s"
    print(fmt % cols)
    for r in results:
        q = r.get("quiver_median_ms")
        print(fmt % (
            r["case"], r["batch"], "%.3f" % q if q else "FAIL", "%.3f" % r["tf_median_ms"],
            "%.2f" % r["quiver_ratio"] if q else "n/a",
            "%.0f" % r["quiver_examples_per_s"] if q else "n/a", "%.0f" % r["tf_examples_per_s"],
            "%.1f" % r["quiver_gflops"] if q else "n/a", "%.1f" % r["tf_gflops"],
            fmt_mb(r.get("quiver_peak_rss_delta_bytes")), fmt_mb(r["tf_peak_rss_delta_bytes"])))
        if "quiver_opt_median_ms" in r:
            print(fmt % ("  (quiver optimize)", "", "%.3f" % r["quiver_opt_median_ms"], "",
                         "%.2f" % r["quiver_opt_ratio"], "%.0f" % r["quiver_opt_examples_per_s"],
                         "", "%.1f" % r["quiver_opt_gflops"], "",
                         fmt_mb(r["quiver_opt_peak_rss_delta_bytes"]), ""))
        if "quiver_error" in r:
            print("   quiver failed: " + r["quiver_error"].splitlines()[-1])
    if roof:
        print("\nfraction of sgemm peak (%d threads): " % args.threads + ", ".join(
            "%s Q %.0f%% TF %.0f%%" % (r["case"], 100 * r.get("quiver_gflops", 0) /
                                       roof["sgemm_gflops"],
                                       100 * r["tf_gflops"] / roof["sgemm_gflops"])
            for r in results))
    if args.profile:
        for r in results:
            print("\n%s: top ops, ms per step (Quiver step stats | TF FULL_TRACE)" % r["case"])
            qo = r.get("quiver_profile", {}).get("ops", [])
            to = r.get("tf_profile", {}).get("ops", [])
            for i in range(min(10, max(len(qo), len(to)))):
                a = "%-28s %8.3f %5.1f%%" % (qo[i]["op"], qo[i]["ms_per_run"], qo[i]["percent"]) \
                    if i < len(qo) else ""
                b = "%-28s %8.3f %5.1f%%" % (to[i]["op"], to[i]["ms_per_run"], to[i]["percent"]) \
                    if i < len(to) else ""
                print("  %-46s | %s" % (a, b))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"header": header, "results": results}, f, indent=1)
        print("\nwrote " + args.out)


if __name__ == "__main__":
    main()
