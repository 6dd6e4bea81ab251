"""Train-step speed of dcgan_tf against a PyTorch implementation of the same networks and
update, on this machine, in one run (the measuring instrument of BUILD_NOTES' speed table).

    python tools/benchmark.py [--models dcgan64:64,dcgan64:128,mnist28:50,faces96:96,pggan32:64]
                              [--variants fp32,xla,spe8,bf16,fp16,fp32_onednn0] [--rounds 3]
                              [--steps 24] [--no-torch] [--cli] [--json OUT]

Every measurement runs in its own fresh process (so one framework's thread pools and
memory never touch another's): it builds the networks, trains `--steps` untimed warm-up
steps, then `--steps` timed ones, and reports images/s, the time from process start to the
end of the first step (imports, building, tracing, compilation) and peak resident memory.
Rounds alternate every variant with the PyTorch reference, so machine noise hits all of
them; the table gives medians and each variant's ratio to the reference's median.

Networks (ours from the shipped configs, batch from the model spec):
  dcgan64  configs/cat64.cfg's networks (64x64x3, ngf = ndf = 64, BCE, sequential update:
           D on detached fakes, then G through the updated D, as PyTorch's DCGAN example).
  mnist28  configs/mnist28.cfg (source 003's layers, biases, BCE, sequential).
  faces96  configs/faces96.cfg (96x96x3, g_preset=cpu, BatchNorm without scale/offset,
           2-class softmax D, uniform z, simultaneous update, L2 weight decay 1e-5).
  pggan32  configs/pggan_digits.cfg's networks at a fixed 32x32 level (equalized LR, pixel
           norm, minibatch stddev; WGAN-GP + drift, EMA 0.99, sequential).
Variants of our trainer (`gan.fit` on an in-memory batch, the code the CLI runs):
  fp32 (the defaults), xla (--jit_compile), spe8 (--steps_per_execution=8), bf16 / fp16
  (--mixed_precision), fp32_onednn0 / fp32_onednn1 (TF_ENABLE_ONEDNN_OPTS forced), sim
  (--update=simultaneous), joint (--d_pass=joint), kerasbn (Keras' BatchNormalization in
  place of the fused layer), interN / intraN (TensorFlow's inter-/intra-op pool sizes);
  combine with '+': xla+spe8, fp32+inter1.
`--cli` also times `python -m dcgan_tf.train --flagfile=configs/cat64.cfg --batch_size=64`
on a synthetic .npz at two run lengths; the difference cancels start-up and export.
The PyTorch reference (networks and update) is tools/torch_reference.py; PyTorch is a
benchmark-only dependency: `pip install torch==2.13.0` (a CPU build here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

START = time.perf_counter()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {"dcgan64": "cat64.cfg", "mnist28": "mnist28.cfg", "faces96": "faces96.cfg",
           "pggan32": "pggan_digits.cfg"}
VARIANT_FIELDS = {
    "fp32": {},
    "xla": {"jit_compile": True},
    "spe8": {"steps_per_execution": 8},
    "bf16": {"mixed_precision": "bf16"},
    "fp16": {"mixed_precision": "fp16"},
    "sim": {"update": "simultaneous"},
    "joint": {"d_pass": "joint"},
}
ONEDNN = {"onednn0": "0", "onednn1": "1"}
THREADS = ("inter", "intra")  # inter1, intra2, ...: tf.config.threading pool sizes


def parse_variant(name: str):
    """'xla+spe8+onednn0' -> (Config fields, process settings). Process settings:
    onednn (TF_ENABLE_ONEDNN_OPTS), kerasbn (Keras' BatchNormalization instead of the
    fused layer), inter / intra (thread pool sizes)."""
    fields, process = {}, {}
    for part in name.replace("fp32_", "fp32+").split("+"):
        pool = next((p for p in THREADS if part.startswith(p) and part[len(p):].isdigit()),
                    None)
        if part in ONEDNN:
            process["onednn"] = ONEDNN[part]
        elif part == "kerasbn":
            process["kerasbn"] = True
        elif pool:
            process[pool] = int(part[len(pool):])
        elif part in VARIANT_FIELDS:
            fields.update(VARIANT_FIELDS[part])
        else:
            raise SystemExit(f"unknown variant part {part!r}; use {sorted(VARIANT_FIELDS)}, "
                             f"{sorted(ONEDNN)}, kerasbn, interN or intraN, joined with '+'")
    return fields, process


def apply_process_settings(process: dict) -> None:
    """What a variant changes in the worker process before anything is built."""
    import tensorflow as tf

    if "inter" in process:
        tf.config.threading.set_inter_op_parallelism_threads(process["inter"])
    if "intra" in process:
        tf.config.threading.set_intra_op_parallelism_threads(process["intra"])


# --------------------------------------------------------------------------- TF worker

def tf_config(model: str, batch: int, fields: dict):
    from dcgan_tf.config import Config
    from dcgan_tf.flags import flagfile_values
    from dcgan_tf.gan.assemble import resolve_config

    values = flagfile_values(os.path.join(ROOT, "configs", CONFIGS[model]))
    values.update(batch_size=batch, workdir="unused", train_steps=1, epochs=0, total_kimg=0,
                  data="unused", **fields)
    if model == "pggan32":  # one fixed 32x32 level: no growth, no fade
        values.update(start_resolution=32, train_steps=0, total_kimg=1.0)
    return resolve_config(Config(**values).validate())


def run_tf(model: str, batch: int, variant: str, steps: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from dcgan_tf.config import POLICIES
    from dcgan_tf.gan.assemble import build_gan

    fields, process = parse_variant(variant)
    apply_process_settings(process)
    config = tf_config(model, batch, fields)
    keras.mixed_precision.set_global_policy(POLICIES[config.mixed_precision])
    keras.utils.set_random_seed(0)
    # kerasbn: the layer Keras ships, to measure the fused one against
    gan = build_gan(config, plain_batchnorm=process.get("kerasbn", False))
    real = np.random.default_rng(0).uniform(
        -1, 1, (batch, config.resolution, config.resolution, config.channels)).astype("float32")
    from dcgan_tf.data.stream import stream_options

    # the trainer's stream options (autotune off: it costs ~170 ms a step on 2 cores)
    data = tf.data.Dataset.from_tensors(real).repeat().with_options(stream_options())
    spe = config.steps_per_execution
    steps = max(spe, steps // spe * spe)
    gan.fit(data, epochs=1, steps_per_epoch=spe, verbose=0)
    first = time.perf_counter() - START
    gan.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up
    t0 = time.perf_counter()
    gan.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    seconds = time.perf_counter() - t0
    return {"images_per_s": steps * batch / seconds, "first_step_s": first,
            "onednn": _onednn_on(),
            "threads": (tf.config.threading.get_inter_op_parallelism_threads(),
                        tf.config.threading.get_intra_op_parallelism_threads())}


def _onednn_on() -> bool:
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


# --------------------------------------------------------------------------- one op, and peak

# dcgan64's third generator layer: 16x16x128 -> 32x32x64, 4x4 kernel, stride 2
OP_SHAPE = dict(size=16, cin=128, cout=64)


def op_flops(batch: int) -> float:
    """FLOPs of the transposed convolution's forward, input gradient and weight gradient."""
    forward = 2.0 * batch * OP_SHAPE["size"] ** 2 * OP_SHAPE["cin"] * 16 * OP_SHAPE["cout"]
    return 3 * forward


def run_op(framework: str, batch: int, steps: int) -> dict:
    """GFLOP/s of one Conv2DTranspose (forward + both gradients) in TF or PyTorch, and of
    a 2048x2048 float32 matrix product (the practical peak of this machine)."""
    import numpy as np

    size, cin, cout = OP_SHAPE["size"], OP_SHAPE["cin"], OP_SHAPE["cout"]
    if framework == "tf":
        import tensorflow as tf

        layer = tf.keras.layers.Conv2DTranspose(cout, 4, strides=2, padding="same",
                                                use_bias=False)
        x = tf.Variable(tf.random.normal([batch, size, size, cin]))
        layer.build(x.shape)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                y = layer(x)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x] + layer.trainable_variables)

        a = tf.random.normal([2048, 2048])
        gemm = tf.function(lambda: tf.linalg.matmul(a, a))
    else:
        import torch

        layer = torch.nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        x = torch.randn(batch, cin, size, size, requires_grad=True)

        def step():
            y = layer(x)
            return torch.autograd.grad((y * y).sum(), [x, layer.weight])

        a = torch.randn(2048, 2048)

        def gemm():
            return a @ a

    def rate(fn, flops, n):
        fn()
        t0 = time.perf_counter()
        for _ in range(n):
            out = fn()
        first = out[0] if isinstance(out, (list, tuple)) else out
        np.asarray(first.detach() if hasattr(first, "detach") else first)  # wait for it
        return flops * n / (time.perf_counter() - t0) / 1e9

    return {"images_per_s": rate(step, op_flops(batch), steps),  # GFLOP/s in this mode
            "gemm_gflops": rate(gemm, 2.0 * 2048 ** 3, steps)}


# --------------------------------------------------------------------------- CLI timing

def run_cli(batch: int, short: int, long: int) -> dict:
    """images/s of `python -m dcgan_tf.train` from the difference of two run lengths."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "photos.npz")
        np.savez(data, images=np.random.default_rng(0).integers(
            0, 256, (512, 64, 64, 3), dtype=np.uint8))
        seconds = {}
        for steps in (short, long):
            cmd = [sys.executable, "-m", "dcgan_tf.train", "--flagfile=configs/cat64.cfg",
                   f"--data={data}", f"--batch_size={batch}", f"--train_steps={steps}",
                   "--epochs=0", f"--workdir={os.path.join(tmp, f'run{steps}')}"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            seconds[steps] = time.perf_counter() - t0
            if proc.returncode:
                raise SystemExit(f"CLI run failed: {proc.stderr[-2000:]}")
    return {"images_per_s": (long - short) * batch / (seconds[long] - seconds[short]),
            "short_s": seconds[short], "long_s": seconds[long]}


# --------------------------------------------------------------------------- driver

def worker(spec: dict) -> None:
    if spec["kind"] == "tf":
        out = run_tf(spec["model"], spec["batch"], spec["variant"], spec["steps"])
    elif spec["kind"] == "op":
        out = run_op(spec["variant"], spec["batch"], spec["steps"])
    elif spec["kind"] == "cli":
        out = run_cli(spec["batch"], spec["short"], spec["long"])
    else:
        from torch_reference import run_torch  # tools/torch_reference.py

        out = run_torch(spec["model"], spec["batch"], spec["steps"], START)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out), flush=True)


def measure(spec: dict) -> dict:
    variant = spec["variant"] if spec["kind"] == "tf" else "fp32"
    return run_worker([os.path.abspath(__file__), "--worker", json.dumps(spec)], variant,
                      label=str(spec))


def run_worker(argv: list, variant: str, label: str) -> dict:
    """Runs `python ARGV` in a fresh process with `variant`'s environment (oneDNN) and
    returns the JSON of its last 'RESULT ' line; a failed worker stops the benchmark."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    onednn = parse_variant(variant)[1].get("onednn")
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def machine() -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    isa = [k for k in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
                       "amx_tile") if f" {k}" in flags]
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                          "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS")
               if k in os.environ}
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
            f"ISA {'+'.join(isa) or '?'}, thread settings {threads or 'defaults'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="dcgan64:64,dcgan64:128,mnist28:50,faces96:96,"
                                            "pggan32:64")
    parser.add_argument("--variants", default="fp32,xla,spe8,bf16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--no-torch", dest="torch", action="store_false")
    parser.add_argument("--cli", action="store_true",
                        help="also time the training CLI (cat64.cfg at batch 64)")
    parser.add_argument("--cli_steps", default="8,40")
    parser.add_argument("--op", action="store_true",
                        help="also time one Conv2DTranspose (dcgan64's 16->32 px layer, "
                             "batch 64) in TF and PyTorch, in GFLOP/s, next to a GEMM")
    parser.add_argument("--json", default="")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    for variant in args.variants.split(","):
        parse_variant(variant)
    if args.torch:
        try:
            import torch  # noqa: F401  (only: is it installed?)
        except ImportError:
            raise SystemExit("The PyTorch reference needs torch: pip install torch==2.13.0 "
                             "(or pass --no-torch).") from None
    jobs = []
    for item in args.models.split(","):
        model, _, batch = item.partition(":")
        if model not in CONFIGS:
            raise SystemExit(f"unknown model {model!r}; choose from {sorted(CONFIGS)}")
        batch = int(batch or 64)
        for variant in args.variants.split(","):
            jobs.append(dict(kind="tf", model=model, batch=batch, variant=variant,
                             steps=args.steps))
        if args.torch:
            jobs.append(dict(kind="torch", model=model, batch=batch, variant="pytorch",
                             steps=args.steps))
    if args.cli:
        short, long = (int(s) for s in args.cli_steps.split(","))
        jobs.append(dict(kind="cli", model="dcgan64", batch=64, variant="cli default",
                         short=short, long=long))
    if args.op:
        for framework in ("tf", "torch") if args.torch else ("tf",):
            jobs.append(dict(kind="op", model="conv_transpose", batch=64, variant=framework,
                             steps=args.steps))
    print(f"Machine: {machine()}", flush=True)
    results = {}
    for r in range(args.rounds):
        for job in jobs:
            out = measure(job)
            key = (job["model"], job["batch"], job["variant"])
            results.setdefault(key, []).append(out)
            unit = "GFLOP/s" if job["kind"] == "op" else "images/s"
            print(f"round {r + 1} {job['model']}:{job['batch']} {job['variant']}: "
                  f"{out['images_per_s']:.1f} {unit}", flush=True)
    rows = []
    print(f"\n{'model':<9}{'batch':>6}  {'variant':<16}{'images/s':>9}{'vs torch':>9}"
          f"{'1st step s':>11}{'peak MB':>9}")
    for (model, batch, variant), outs in results.items():
        ips = statistics.median(o["images_per_s"] for o in outs)
        ref = results.get((model, batch, "torch" if model == "conv_transpose" else "pytorch"))
        if variant == "torch":
            ref = None
        ratio = ips / statistics.median(o["images_per_s"] for o in ref) if ref else None
        if variant == "cli default" and (model, 64, "pytorch") in results:
            ratio = ips / statistics.median(o["images_per_s"] for o in results[(model, 64,
                                                                                 "pytorch")])
        first = statistics.median(o.get("first_step_s", float("nan")) for o in outs)
        peak = max(o["peak_rss_mb"] for o in outs)
        rows.append(dict(model=model, batch=batch, variant=variant, images_per_s=ips,
                         ratio=ratio, first_step_s=first, peak_rss_mb=peak,
                         runs=[o["images_per_s"] for o in outs],
                         extra={k: v for k, v in outs[0].items()
                                if k in ("onednn", "threads", "torch", "mkldnn",
                                         "gemm_gflops")}))
        print(f"{model:<9}{batch:>6}  {variant:<16}{ips:9.1f}"
              f"{'' if ratio is None else f'{ratio:9.2f}':>9}{first:11.1f}{peak:9.0f}")
    print("\nworker details:", json.dumps({f"{r['model']}:{r['batch']} {r['variant']}":
                                           r["extra"] for r in rows}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rounds": args.rounds, "steps": args.steps,
                       "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
