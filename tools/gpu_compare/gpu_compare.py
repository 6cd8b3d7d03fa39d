#!/usr/bin/env python3
"""Quiver vs PyTorch (eager, torch.compile) and JAX (jit): the tools/bench cases, same weights.

    gpu_compare.py --cases DIR --quiver BIN [--device cuda|cpu] [--frameworks LIST]
                   [--only a,b] [--seconds 0.5] [--warmup 10] [--threads N] [--budget-s S]
                   [--out results.json]

DIR is what export_cases.py wrote (with TensorFlow, elsewhere): per case graph.pb, the feeds
(.npy), case.json and compare.json. No TensorFlow is needed here.

Per case:
1. Weights: Quiver reads them out of the very graph it runs (`quiver run --optimize-level 0
   --fetch NODE:0`: a frozen graph's Const, a training graph's `VAR/Assign:0`, i.e. the
   initial value), checked against TensorFlow's summary statistics in compare.json.
2. The same model is built in PyTorch and JAX from those weights (NHWC/HWIO kept: PyTorch
   gets channels_last views, JAX lax.conv with NHWC/HWIO), strict float32 everywhere (no TF32:
   torch.backends.{cuda.matmul,cudnn}.allow_tf32 = False, jax_default_matmul_precision =
   "highest"; Quiver's cuBLAS/cuDNN run without TF32 too).
3. Agreement before timing. Inference: each framework's output against Quiver's output on the
   same device (`quiver run`), max abs diff <= 1e-4 x max(1, max|output|); Quiver's against
   TensorFlow's reference where exported. Training: the loss of the first 3 steps from the
   initial weights with dropout off (keep_prob 1) against TensorFlow's reference losses
   (Quiver's CLI cannot run a graph's init and then train in one `run`, so its GPU training is
   checked by gpu_check.sh's MNIST stage, not here).
4. Timing: warm-up steps (the first call, where torch.compile/jit compile, is timed apart as
   compile_s), then steps for --seconds; the median per-step time. Two modes:
   host:     feeds from host NumPy arrays every step, outputs (the loss for training) back to
             host NumPy: the contract of Quiver's Session::Run, so `quiver bench` is compared
             with this one (the Q/x ratios).
   resident: inputs already on the device, outputs left there; synchronised (CUDA events for
             PyTorch, block_until_ready for JAX). Reported beside, for reference.
   Training: SGD(0.5) / Adam(1e-4) steps with dropout keep_prob 0.5 (PyTorch: torch.optim;
   Adam's epsilon is PyTorch's, TF's applies it before the bias correction, a <1e-7 change;
   torch.compile compiles forward+backward, the optimizer step is torch.optim's; JAX: the
   TF1 update rules written out, one jitted step).

Prints a table and writes JSON (--out).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave GPU memory to others
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

FRAMEWORKS = ["quiver", "torch", "torch_compile", "jax"]
LABEL = {"quiver": "Quiver", "torch": "torch eager", "torch_compile": "torch.compile",
         "jax": "jax.jit"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def stem(name):
    return name.replace("/", "_").replace(":", "_")


# ------------------------------------------------------------------------------ cases ----
class Case:
    def __init__(self, root, name):
        self.name, self.dir = name, os.path.join(root, name)
        with open(os.path.join(self.dir, "case.json")) as f:
            self.meta = json.load(f)
        with open(os.path.join(self.dir, "compare.json")) as f:
            self.cmp = json.load(f)
        self.model = self.cmp["model"]
        self.kind = self.meta["kind"]
        self.batch = self.meta["batch"]
        self.graph = os.path.join(self.dir, "graph.pb")
        self.feeds = {t: np.load(os.path.join(self.dir, f)) for t, f in self.meta["feeds"].items()}
        self.weights = None

    def feed(self, prefix):
        for t, v in self.feeds.items():
            if t.split(":")[0] == prefix:
                return v
        raise KeyError(prefix)

    def feed_args(self):
        out = []
        for t, f in self.meta["feeds"].items():
            out += ["--feed", "%s=%s" % (t.split(":")[0], os.path.join(self.dir, f))]
        return out


def quiver_env(device):
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def quiver_run(quiver, case, fetches, out_dir, device, extra=()):
    cmd = [quiver, "run", case.graph, "--out", out_dir] + list(extra)
    for f in fetches:
        cmd += ["--fetch", f]
    r = subprocess.run(cmd, capture_output=True, text=True, env=quiver_env(device))
    if r.returncode != 0:
        raise RuntimeError("quiver run exit %d: %s" % (r.returncode, (r.stderr or r.stdout)[-800:]))
    return {f: np.load(os.path.join(out_dir, stem(f) + ".npy")) for f in fetches}


def load_weights(quiver, case, tmp):
    """role -> float32 array, read by Quiver out of graph.pb, checked against TF's stats."""
    spec = case.cmp["weights"]
    fetches = sorted({w["fetch"] for w in spec.values()})
    out_dir = os.path.join(tmp, case.name + ".weights")
    os.makedirs(out_dir, exist_ok=True)
    # On the CPU: this only reads constants / initial values out of the graph.
    got = quiver_run(quiver, case, fetches, out_dir, "cpu", ["--optimize-level", "0"])
    weights = {}
    for role, w in spec.items():
        a = np.ascontiguousarray(got[w["fetch"]], np.float32)
        if list(a.shape) != w["shape"]:
            raise RuntimeError("weight %s: shape %s, TF had %s" % (role, a.shape, w["shape"]))
        head = a.reshape(-1)[:len(w["head"])]
        if not (np.allclose(head, w["head"], rtol=1e-5, atol=1e-7) and
                abs(float(a.mean()) - w["mean"]) <= 1e-5 * max(1.0, w["absmean"]) and
                abs(float(np.abs(a).mean()) - w["absmean"]) <= 1e-5 * max(1.0, w["absmean"])):
            raise RuntimeError("weight %s (%s) differs from TensorFlow's" % (role, w["node"]))
        weights[role] = a
    return weights


def quiver_outputs(quiver, case, tmp, device):
    out_dir = os.path.join(tmp, case.name + ".out")
    os.makedirs(out_dir, exist_ok=True)
    return quiver_run(quiver, case, case.meta["fetches"], out_dir, device, case.feed_args())


def quiver_bench(quiver, case, device, warmup, seconds, threads):
    cmd = [quiver, "bench", case.graph, "--format", "json", "--iters", "5000", "--warmup",
           str(warmup), "--profile-iters", "0", "--max-seconds", str(seconds)] + case.feed_args()
    if threads:
        cmd += ["--intra-op-threads", str(threads)]
    for f in case.meta["fetches"]:
        cmd += ["--fetch", f]
    for t in case.meta["targets"]:
        cmd += ["--target", t]
    for t in case.meta["init"]:
        cmd += ["--init", t]
    r = subprocess.run(cmd, capture_output=True, text=True, env=quiver_env(device))
    if r.returncode != 0:
        raise RuntimeError("quiver bench exit %d: %s" % (r.returncode,
                                                         (r.stderr or r.stdout)[-800:]))
    return json.loads(r.stdout)


def time_steps(step, sync, warmup, seconds, max_iters=5000, min_iters=5, timer=None):
    """Median-able per-step times in ms; timer(step) -> ms overrides perf_counter+sync."""
    for _ in range(warmup):
        step()
    sync()
    samples, total = [], 0.0
    while len(samples) < max_iters and (total < seconds * 1e3 or len(samples) < min_iters):
        if timer:
            dt = timer(step)
        else:
            t0 = time.perf_counter()
            step()
            sync()
            dt = (time.perf_counter() - t0) * 1e3
        samples.append(dt)
        total += dt
    return samples


def agree(out, ref):
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    if out.shape != ref.shape:
        return {"ok": False, "error": "shape %s vs %s" % (out.shape, ref.shape)}
    scale = max(1.0, float(np.abs(ref).max()))
    d = float(np.abs(out - ref).max())
    return {"ok": bool(d <= 1e-4 * scale), "max_abs_diff": d, "scale": scale}


def agree_losses(losses, ref):
    d = max(abs(a - b) for a, b in zip(losses, ref))
    return {"ok": bool(d <= 1e-4 * max(1.0, max(abs(r) for r in ref))), "max_abs_diff": d,
            "losses": losses, "reference": ref}


# ---------------------------------------------------------------------------- PyTorch ----
class TorchRunner:
    def __init__(self, device, threads):
        import torch
        import torch.nn.functional as F
        self.torch, self.F = torch, F
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        if device == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False")
            torch.backends.cudnn.benchmark = True
        elif threads:
            torch.set_num_threads(threads)
        self.dev = torch.device(device)
        self.device = device

    def version(self):
        t = self.torch
        return {"torch": t.__version__, "cuda": t.version.cuda,
                "cudnn": t.backends.cudnn.version() if self.device == "cuda" else None,
                "gpu": t.cuda.get_device_name(0) if self.device == "cuda" else None}

    def sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def params(self, case, grad):
        torch = self.torch
        P = {}
        for role, a in case.weights.items():
            t = torch.from_numpy(a).to(self.dev)
            if a.ndim == 4:  # HWIO -> OIHW, channels_last (NHWC-like) memory
                t = t.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
            P[role] = t.detach().clone().requires_grad_(grad)
        return P

    # The models, written as the TF graphs compute them.
    def forward(self, model, P, x, keep=None):
        torch, F = self.torch, self.F
        if model == "mlp":
            h = F.relu(x @ P["fc0/W"] + P["fc0/b"])
            h = F.relu(h @ P["fc1/W"] + P["fc1/b"])
            return torch.softmax(h @ P["fc2/W"] + P["fc2/b"], dim=1)
        if model in ("cnn", "cnn_train"):
            b = x.shape[0]
            h = x.reshape(b, 28, 28, 1).permute(0, 3, 1, 2)  # NCHW view of the NHWC image
            h = F.max_pool2d(F.relu(F.conv2d(h, P["conv1_w"], P["conv1_b"], padding=2)), 2, 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, P["conv2_w"], P["conv2_b"], padding=2)), 2, 2)
            h = h.permute(0, 2, 3, 1).reshape(b, 7 * 7 * 64)  # TF flattens NHWC
            h = F.relu(h @ P["fc1_w"] + P["fc1_b"])
            if keep is not None:  # TF 1.15's dropout: x / keep * (uniform >= 1 - keep)
                h = h * (1.0 / keep) * (torch.rand_like(h) >= 1.0 - keep).to(h.dtype)
            logits = h @ P["fc2_w"] + P["fc2_b"]
            return logits if model == "cnn_train" else torch.softmax(logits, dim=1)
        if model == "resnet":
            h = x.permute(0, 3, 1, 2)  # NHWC feed -> NCHW view, channels_last memory
            for blk in range(2):
                y = h
                for conv in (1, 2):
                    k = "block%d/conv%d/" % (blk, conv)
                    y = F.conv2d(y, P[k + "W"], padding=1)
                    y = F.batch_norm(y, P[k + "mean"], P[k + "var"], P[k + "gamma"],
                                     P[k + "beta"], False, 0.0, 1e-3)
                    if conv == 1:
                        y = F.relu(y)
                h = F.relu(y + h)
            return h.permute(0, 2, 3, 1)  # back to NHWC
        if model == "softmax_train":
            return x @ P["W"] + P["b"]
        raise ValueError(model)

    def loss(self, model, P, x, y, keep):
        logits = self.forward(model, P, x, keep)
        return -(y * self.F.log_softmax(logits, dim=1)).sum(1).mean()

    def run_case(self, case, compiled, ref_out, warmup, seconds):
        torch = self.torch
        res = {}
        if case.kind == "inference":
            P = self.params(case, False)
            model = case.model

            def fn(x):
                return self.forward(model, P, x)
            f = torch.compile(fn, dynamic=False) if compiled else fn
            x_host = case.feed("x")
            x_dev = torch.from_numpy(x_host).to(self.dev)
            with torch.no_grad():
                t0 = time.perf_counter()
                out = f(x_dev)
                self.sync()
                res["first_call_s"] = time.perf_counter() - t0
                res["agreement"] = agree(out.cpu().numpy(), ref_out)

                def host_step():
                    return f(torch.from_numpy(x_host).to(self.dev)).cpu().numpy()

                def resident_step():
                    return f(x_dev)
                res["host_ms"] = time_steps(host_step, self.sync, warmup, seconds)
                res["resident_ms"] = time_steps(resident_step, self.sync, warmup, seconds,
                                                timer=self.event_timer())
            return res
        # Training.
        model = case.model
        x_host, y_host = case.feed("x"), case.feed("y_")
        keep_feed = float(case.feed("keep_prob")) if model == "cnn_train" else None

        def make():
            P = self.params(case, True)
            ps = list(P.values())
            if model == "softmax_train":
                opt = torch.optim.SGD(ps, lr=0.5)
            else:
                opt = torch.optim.Adam(ps, lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
            return P, opt

        def loss_fn(P, x, y, keep):
            return self.loss(model, P, x, y, keep)
        lf = torch.compile(loss_fn, dynamic=False) if compiled else loss_fn

        def make_step(P, opt):
            def step(x, y, keep):
                loss = lf(P, x, y, keep)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                return loss.detach()
            return step

        def keep_t(v):
            return None if v is None else torch.tensor(v, dtype=torch.float32, device=self.dev)
        # Agreement: 3 steps, dropout off, from the initial weights.
        P, opt = make()
        step = make_step(P, opt)
        x_dev = torch.from_numpy(x_host).to(self.dev)
        y_dev = torch.from_numpy(y_host).to(self.dev)
        t0 = time.perf_counter()
        losses = [float(step(x_dev, y_dev, keep_t(None if keep_feed is None else 1.0)))
                  for _ in range(len(case.cmp["reference"]["losses_keep_prob_1"]))]
        res["first_call_s"] = time.perf_counter() - t0
        res["agreement"] = agree_losses(losses, case.cmp["reference"]["losses_keep_prob_1"])
        # Timing: fresh weights and optimizer, dropout as fed (keep_prob 0.5).
        P, opt = make()
        step = make_step(P, opt)
        kt = keep_t(keep_feed)

        def host_step():
            return float(step(torch.from_numpy(x_host).to(self.dev),
                              torch.from_numpy(y_host).to(self.dev), kt))

        def resident_step():
            return step(x_dev, y_dev, kt)
        res["host_ms"] = time_steps(host_step, self.sync, warmup, seconds)
        res["resident_ms"] = time_steps(resident_step, self.sync, warmup, seconds,
                                        timer=self.event_timer())
        return res

    def event_timer(self):
        if self.device != "cuda":
            return None
        torch = self.torch

        def timer(step):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        return timer


# -------------------------------------------------------------------------------- JAX ----
class JaxRunner:
    def __init__(self, device, threads=0):
        if device == "cpu" and threads == 1:  # XLA's CPU client has no thread-count knob
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                       " --xla_cpu_multi_thread_eigen=false").strip()
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")
        import jax.numpy as jnp
        from jax import lax
        self.jax, self.jnp, self.lax = jax, jnp, lax
        platform_name = "gpu" if device == "cuda" else "cpu"
        try:
            self.dev = jax.devices(platform_name)[0]
        except RuntimeError as e:
            raise RuntimeError("JAX has no %s backend: %s" % (platform_name, e))
        self.device = device

    def version(self):
        return {"jax": self.jax.__version__, "device": str(self.dev)}

    def forward(self, model, P, x, keep=None, key=None):
        jnp, lax = self.jnp, self.lax
        relu = self.jax.nn.relu

        def conv(h, w, b=None):
            y = lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
            return y if b is None else y + b

        def pool(h):
            return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")
        if model == "mlp":
            h = relu(x @ P["fc0/W"] + P["fc0/b"])
            h = relu(h @ P["fc1/W"] + P["fc1/b"])
            return self.jax.nn.softmax(h @ P["fc2/W"] + P["fc2/b"], axis=1)
        if model in ("cnn", "cnn_train"):
            h = x.reshape(-1, 28, 28, 1)
            h = pool(relu(conv(h, P["conv1_w"], P["conv1_b"])))
            h = pool(relu(conv(h, P["conv2_w"], P["conv2_b"])))
            h = relu(h.reshape(-1, 7 * 7 * 64) @ P["fc1_w"] + P["fc1_b"])
            if keep is not None:
                u = self.jax.random.uniform(key, h.shape, jnp.float32)
                h = h * (1.0 / keep) * (u >= 1.0 - keep).astype(h.dtype)
            logits = h @ P["fc2_w"] + P["fc2_b"]
            return logits if model == "cnn_train" else self.jax.nn.softmax(logits, axis=1)
        if model == "resnet":
            h = x
            for blk in range(2):
                y = h
                for c in (1, 2):
                    k = "block%d/conv%d/" % (blk, c)
                    y = conv(y, P[k + "W"])
                    y = (y - P[k + "mean"]) * lax.rsqrt(P[k + "var"] + 1e-3) * P[k + "gamma"] \
                        + P[k + "beta"]
                    if c == 1:
                        y = relu(y)
                h = relu(y + h)
            return h
        if model == "softmax_train":
            return x @ P["W"] + P["b"]
        raise ValueError(model)

    def run_case(self, case, ref_out, warmup, seconds):
        jax, jnp = self.jax, self.jnp
        res = {}
        P = {k: jax.device_put(v, self.dev) for k, v in case.weights.items()}
        model = case.model
        if case.kind == "inference":
            f = jax.jit(lambda P, x: self.forward(model, P, x))
            x_host = case.feed("x")
            x_dev = jax.device_put(x_host, self.dev)
            t0 = time.perf_counter()
            out = f(P, x_dev).block_until_ready()
            res["first_call_s"] = time.perf_counter() - t0
            res["agreement"] = agree(np.asarray(out), ref_out)
            res["host_ms"] = time_steps(lambda: np.asarray(f(P, jax.device_put(x_host, self.dev))),
                                        lambda: None, warmup, seconds)
            res["resident_ms"] = time_steps(lambda: f(P, x_dev).block_until_ready(),
                                            lambda: None, warmup, seconds)
            return res
        adam = model == "cnn_train"

        def loss_fn(P, x, y, keep, key):
            logits = self.forward(model, P, x, keep, key)
            return -(y * jax.nn.log_softmax(logits, axis=1)).sum(1).mean()

        def step(P, S, x, y, keep, key):
            key, sub = jax.random.split(key)
            loss, g = jax.value_and_grad(loss_fn)(P, x, y, keep, sub)
            if not adam:  # GradientDescent(0.5)
                return loss, {k: P[k] - 0.5 * g[k] for k in P}, S, key
            # TF1 ApplyAdam: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); var -= lr_t m / (sqrt(v) + eps)
            m, v, t = S
            t = t + 1.0
            lr_t = 1e-4 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            m = {k: 0.9 * m[k] + 0.1 * g[k] for k in P}
            v = {k: 0.999 * v[k] + 0.001 * g[k] * g[k] for k in P}
            P = {k: P[k] - lr_t * m[k] / (jnp.sqrt(v[k]) + 1e-8) for k in P}
            return loss, P, (m, v, t), key

        donate = (0, 1) if self.device == "cuda" else ()
        jstep = jax.jit(step, donate_argnums=donate)

        def fresh():
            P0 = {k: jax.device_put(v, self.dev) for k, v in case.weights.items()}
            zeros = {k: jnp.zeros_like(v) for k, v in P0.items()}
            S0 = (zeros, {k: jnp.zeros_like(v) for k, v in P0.items()},
                  jnp.float32(0)) if adam else ()
            return P0, S0, jax.device_put(jax.random.PRNGKey(0), self.dev)
        x_host, y_host = case.feed("x"), case.feed("y_")
        keep_feed = np.float32(case.feed("keep_prob")) if adam else None
        x_dev, y_dev = jax.device_put(x_host, self.dev), jax.device_put(y_host, self.dev)
        refl = case.cmp["reference"]["losses_keep_prob_1"]
        st = list(fresh())
        one = None if keep_feed is None else jax.device_put(np.float32(1.0), self.dev)
        losses = []
        t0 = time.perf_counter()
        for _ in refl:
            loss, st[0], st[1], st[2] = jstep(st[0], st[1], x_dev, y_dev, one, st[2])
            losses.append(float(loss))
        res["first_call_s"] = time.perf_counter() - t0
        res["agreement"] = agree_losses(losses, refl)
        st = list(fresh())
        kp = None if keep_feed is None else jax.device_put(keep_feed, self.dev)

        def host_step():
            loss, st[0], st[1], st[2] = jstep(st[0], st[1], jax.device_put(x_host, self.dev),
                                              jax.device_put(y_host, self.dev), kp, st[2])
            return float(loss)

        def resident_step():
            loss, st[0], st[1], st[2] = jstep(st[0], st[1], x_dev, y_dev, kp, st[2])
            loss.block_until_ready()
        res["host_ms"] = time_steps(host_step, lambda: None, warmup, seconds)
        res["resident_ms"] = time_steps(resident_step, lambda: None, warmup, seconds)
        return res


# ------------------------------------------------------------------------------- main ----
def summarize(res):
    for k in ("host_ms", "resident_ms"):
        if k in res:
            s = res.pop(k)
            res[k.replace("_ms", "_median_ms")] = statistics.median(s)
            res[k.replace("_ms", "_steps")] = len(s)
    return res


def fmt(v, spec="%.3f"):
    return spec % v if isinstance(v, (int, float)) else "-"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", required=True, help="folder written by export_cases.py")
    p.add_argument("--quiver", required=True, help="the quiver CLI binary")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--only", default="", help="comma-separated case names (default: all)")
    p.add_argument("--seconds", type=float, default=0.5, help="timed seconds per measurement")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for Quiver and PyTorch (--device cpu; 0: their default)")
    p.add_argument("--budget-s", type=float, default=0,
                   help="skip torch.compile for the remaining cases once this many seconds "
                        "have passed (0: no limit)")
    p.add_argument("--out", default="")
    args = p.parse_args()
    start = time.time()
    fws = [f for f in args.frameworks.split(",") if f]
    bad = [f for f in fws if f not in FRAMEWORKS]
    if bad:
        sys.exit("gpu_compare: unknown framework(s) %s (known: %s)" % (bad, FRAMEWORKS))
    quiver = os.path.abspath(args.quiver)
    if not os.access(quiver, os.X_OK):
        sys.exit("gpu_compare: %s is not an executable" % quiver)
    names_file = os.path.join(args.cases, "cases.txt")
    names = open(names_file).read().split() if os.path.exists(names_file) else sorted(
        d for d in os.listdir(args.cases) if os.path.exists(os.path.join(args.cases, d,
                                                                          "compare.json")))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]

    header = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "device": args.device,
              "host": platform.node(), "cpus": os.cpu_count(), "threads": args.threads,
              "seconds": args.seconds, "warmup": args.warmup, "versions": {}, "errors": {}}
    # Three passes, so that no framework's idle threads run beside another's timing: Quiver
    # (a subprocess per run) before PyTorch or JAX is imported, then PyTorch, then JAX.
    results, cases, refs = [], {}, {}
    all_ok = True

    def record(row, fw, r):
        nonlocal all_ok
        summarize(r)
        if ("agreement" in r and not r["agreement"]["ok"]) or "error" in r:
            all_ok = False
        row[fw] = r
        log("   %-13s %-8s %s%s" % (
            LABEL[fw], row["case"], "host %s ms" % fmt(r.get("host_median_ms"))
            if "host_median_ms" in r else r.get("error", r.get("skipped", "")),
            "  agreement %s (max abs diff %.2e)" % (
                "ok" if r["agreement"]["ok"] else "FAIL",
                r["agreement"].get("max_abs_diff", float("nan"))) if "agreement" in r else ""))

    def guarded(fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            log(traceback.format_exc()[-1500:])
            return {"error": "%s: %s" % (type(e).__name__, str(e)[-600:])}

    with tempfile.TemporaryDirectory(prefix="gpu_compare.") as tmp:
        log(">> Quiver (%.0f s)" % (time.time() - start))
        for name in names:
            case = Case(args.cases, name)
            row = {"case": name, "kind": case.kind, "batch": case.batch, "model": case.model,
                   "flops": case.meta.get("flops")}
            results.append(row)
            try:
                case.weights = load_weights(quiver, case, tmp)
            except Exception as e:  # noqa: BLE001
                row["error"] = "weights: %s" % e
                all_ok = False
                log("   " + row["error"])
                continue
            if case.kind == "inference":
                fetch = case.meta["fetches"][0]
                try:
                    refs[name] = quiver_outputs(quiver, case, tmp, args.device)[fetch]
                    tf_file = case.cmp["reference"].get(fetch)
                    if tf_file:
                        row["quiver_vs_tf"] = agree(refs[name],
                                                    np.load(os.path.join(case.dir, tf_file)))
                        all_ok &= row["quiver_vs_tf"]["ok"]
                except Exception as e:  # noqa: BLE001
                    row["quiver_run_error"] = str(e)
                    all_ok = False
                    log("   quiver run: %s" % e)
                    continue
            cases[name] = case
            if "quiver" in fws:
                def qb():
                    out = quiver_bench(quiver, case, args.device, args.warmup, args.seconds,
                                       args.threads)
                    return {"host_ms": out["samples_ms"],
                            "peak_tensor_bytes": out["peak_tensor_bytes"]}
                record(row, "quiver", guarded(qb))

        rows = {r["case"]: r for r in results}
        if "torch" in fws or "torch_compile" in fws:
            log(">> PyTorch (%.0f s)" % (time.time() - start))
            try:
                runner = TorchRunner(args.device, args.threads)
                header["versions"]["torch"] = runner.version()
            except Exception as e:  # noqa: BLE001
                runner = None
                header["errors"]["torch"] = "%s: %s" % (type(e).__name__, e)
                all_ok = False
                log("PyTorch unavailable: " + header["errors"]["torch"])
            for fw in ("torch", "torch_compile"):
                if runner is None or fw not in fws:
                    continue
                failures = 0
                for name, case in cases.items():
                    if fw == "torch_compile" and args.budget_s and \
                            time.time() - start > args.budget_s:
                        record(rows[name], fw, {"skipped": "over --budget-s"})
                        continue
                    if failures >= 2:  # e.g. no C compiler for Triton/Inductor: don't retry
                        record(rows[name], fw, {"error": "not run: it failed on 2 cases"})
                        continue
                    r = guarded(lambda: runner.run_case(case, fw == "torch_compile",
                                                        refs.get(name), args.warmup,
                                                        args.seconds))
                    failures = failures + 1 if "error" in r else 0
                    record(rows[name], fw, r)
        if "jax" in fws:
            log(">> JAX (%.0f s)" % (time.time() - start))
            try:
                jrunner = JaxRunner(args.device, args.threads)
                header["versions"]["jax"] = jrunner.version()
            except Exception as e:  # noqa: BLE001
                jrunner = None
                header["errors"]["jax"] = "%s: %s" % (type(e).__name__, e)
                all_ok = False
                log("JAX unavailable: " + header["errors"]["jax"])
            for name, case in cases.items():
                if jrunner is not None:
                    record(rows[name], "jax", guarded(lambda: jrunner.run_case(
                        case, refs.get(name), args.warmup, args.seconds)))
        for row in results:
            q = row.get("quiver", {}).get("host_median_ms")
            for fw in fws:
                o = row.get(fw, {}).get("host_median_ms")
                if fw != "quiver" and q and o:
                    row["quiver_over_" + fw] = q / o
    header["total_s"] = time.time() - start
    header["all_agree"] = all_ok

    def cell(row, fw, key="host_median_ms"):
        r = row.get(fw, {})
        if key in r:
            return fmt(r[key])
        if "error" in r:
            return "ERR"
        if "skipped" in r:
            return "skip"
        return "-"
    gpu = header["versions"].get("torch", {}).get("gpu") if args.device == "cuda" else None
    print()
    print("Quiver vs PyTorch / JAX on %s | %s | torch %s, jax %s | %s" % (
        gpu or args.device, header["date"],
        header["versions"].get("torch", {}).get("torch", "n/a"),
        header["versions"].get("jax", {}).get("jax", "n/a"), "median ms per step"))
    print("host: feeds from and outputs to host NumPy every step (Quiver's Session::Run "
          "contract); ratios are Quiver time / other time (< 1: Quiver faster)")
    cols = ("case", "batch", "Quiver", "eager", "compile", "jax.jit", "Q/eager", "Q/compile",
            "Q/jax", "agree")
    f = "%-19s %5s %9s %9s %9s %9s %8s %9s %7s  %s"
    print(f % cols)
    for row in results:
        oks = [row[fw]["agreement"]["ok"] for fw in fws if "agreement" in row.get(fw, {})]
        if "quiver_vs_tf" in row:
            oks.append(row["quiver_vs_tf"]["ok"])
        ag = "ERR" if "error" in row else ("ok" if oks and all(oks) else
                                           ("FAIL" if oks else "-"))
        print(f % (row["case"], row["batch"], cell(row, "quiver"), cell(row, "torch"),
                   cell(row, "torch_compile"), cell(row, "jax"),
                   fmt(row.get("quiver_over_torch"), "%.2f"),
                   fmt(row.get("quiver_over_torch_compile"), "%.2f"),
                   fmt(row.get("quiver_over_jax"), "%.2f"), ag))
    print("\nresident (inputs on the device, outputs left there; %s):" % (
        "CUDA events / block_until_ready" if args.device == "cuda" else "wall clock"))
    f2 = "%-19s %5s %9s %9s %9s   first call s: %s"
    print(f2 % ("case", "batch", "eager", "compile", "jax.jit", "eager/compile/jax"))
    for row in results:
        print(f2 % (row["case"], row["batch"], cell(row, "torch", "resident_median_ms"),
                    cell(row, "torch_compile", "resident_median_ms"),
                    cell(row, "jax", "resident_median_ms"),
                    "/".join(fmt(row.get(fw, {}).get("first_call_s"), "%.1f")
                             for fw in ("torch", "torch_compile", "jax"))))
    print("\nagreement (max abs diff; inference vs Quiver's output on the same device, "
          "training: first 3 losses vs TensorFlow's):")
    for row in results:
        parts = []
        if "quiver_vs_tf" in row:
            parts.append("quiver-vs-TF %.1e" % row["quiver_vs_tf"]["max_abs_diff"])
        for fw in fws:
            a = row.get(fw, {}).get("agreement")
            if a:
                parts.append("%s %s %.1e" % (LABEL[fw], "ok" if a["ok"] else "FAIL",
                                             a.get("max_abs_diff", float("nan"))))
            elif "error" in row.get(fw, {}):
                parts.append("%s ERROR %s" % (LABEL[fw], row[fw]["error"][:100]))
        if "error" in row:
            parts.append("ERROR " + row["error"][:200])
        print("  %-19s %s" % (row["case"], ", ".join(parts)))
    for fw, e in header["errors"].items():
        print("  %s unavailable: %s" % (fw, e[:200]))
    print("\ntotal %.0f s; %s" % (header["total_s"], "ALL AGREE" if all_ok else
                                 "SOME CHECKS FAILED"))
    if args.out:
        with open(args.out, "w") as fo:
            json.dump({"header": header, "results": results}, fo, indent=1)
        print("wrote " + args.out)
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
