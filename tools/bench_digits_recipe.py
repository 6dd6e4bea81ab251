"""The offline default (configs/digits.cfg) with each part of the small-data recipe, at
equal wall time: which parts improve its distance to the real digits?

    python tools/bench_digits_recipe.py [--steps 3000] [--seeds 0] [--variants default,ema,...]

Variants: `default` (digits.cfg as it is), `ema` (+ --ema_decay=0.999, ramp-up 0.05),
`diffaugment` (+ --diffaugment=color,translation,cutout), `both`. With `--timing=matched`
each variant's seconds per step are measured first (150-step runs, variants alternated,
the last 100 steps timed) and a variant trains for `--steps` x (default's time per step /
its own), so every variant gets the default's wall time; that needs a machine doing
nothing else. `--timing=equal_steps` trains every variant `--steps` steps and
`--timing=only` measures just the time ratios (three alternations). Scored with
dcgan_tf.evaluate's metrics on 1,000 samples (100 per class) against all 1,797 digits:
`fd` (digits classifier features), `cond_acc`, `swd`, `pr`. Prints a table and writes JSON
(`--out`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dcgan_tf.training import trainer  # noqa: E402
from dcgan_tf.config import Config  # noqa: E402
from dcgan_tf.flags import flagfile_values  # noqa: E402
from dcgan_tf.artifacts.saved_generator import LoadedGenerator  # noqa: E402
from dcgan_tf.metrics.classifier import digits_classifier_path  # noqa: E402
from dcgan_tf.metrics.evaluation import Evaluation  # noqa: E402
from dcgan_tf.metrics.inputs import generated_images, load_images  # noqa: E402

VARIANTS = {
    "default": {},
    "ema": dict(ema_decay=0.999),
    "diffaugment": dict(diffaugment="color,translation,cutout"),
    "both": dict(ema_decay=0.999, diffaugment="color,translation,cutout"),
}
METRICS = ["fd", "cond_acc", "swd", "pr"]


def digits_config(**overrides) -> Config:
    """configs/digits.cfg read the way `python -m dcgan_tf.train` reads it, with overrides."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                        "digits.cfg")
    return dataclasses.replace(Config(**flagfile_values(path)), progress="none", **overrides)


def seconds_per_step(variant: str, steps: int = 150) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = digits_config(workdir=folder, train_steps=steps, log_every=1,
                               sample_every=10_000, checkpoint_every=10_000, export=False,
                               **VARIANTS[variant])
        trainer.run(config, out=open(os.devnull, "w"))
        rows = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))]
    times = {r["step"]: r["time"] for r in rows if "time" in r}
    if len(times) < 2:
        raise SystemExit("metrics.jsonl has no time stamps")
    last = sorted(times)[-100:]
    return (times[last[-1]] - times[last[0]]) / (last[-1] - last[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default="default,ema,diffaugment,both")
    parser.add_argument("--out", default="bench_digits_recipe.json")
    parser.add_argument("--timing", choices=["matched", "equal_steps", "only"],
                        default="matched",
                        help="matched: steps scaled to equal wall time (needs a quiet "
                             "machine); equal_steps: every variant trains --steps (time "
                             "measured separately with 'only'); only: just the timing")
    args = parser.parse_args()
    variants = args.variants.split(",")
    if args.timing == "equal_steps":
        speed = {v: 1.0 for v in variants}
    else:
        per_step = {v: [] for v in variants}
        for _ in range(3 if args.timing == "only" else 2):
            for v in variants:
                per_step[v].append(seconds_per_step(v))
        speed = {v: statistics.median(t) for v, t in per_step.items()}
        print("seconds per step:", {v: round(t, 4) for v, t in speed.items()}, flush=True)
        if args.timing == "only":
            base = speed.get("default", speed[variants[0]])
            print("time per step relative to default:",
                  {v: round(t / base, 3) for v, t in speed.items()})
            return
    base = speed.get("default", speed[variants[0]])
    real = load_images("digits", 32, 1, limit=10_000, seed=0)
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for v in variants:
            steps = int(round(args.steps * base / speed[v]))
            with tempfile.TemporaryDirectory() as folder:
                config = digits_config(workdir=folder, train_steps=steps, seed=seed,
                                       **VARIANTS[v])
                start = time.perf_counter()
                trainer.run(config, out=open(os.devnull, "w"))
                seconds = time.perf_counter() - start
                gen = LoadedGenerator(folder)
                ev = Evaluation(real, features="classifier",
                                classifier=digits_classifier_path(32), seed=seed,
                                num_classes=10)
                metrics = ev.run(METRICS, fake=generated_images(gen, 1000, seed))["metrics"]
            row = dict(variant=v, seed=seed, steps=steps, seconds=round(seconds, 1),
                       fd=metrics["fd"]["value"], fd_real_halves=metrics["fd"]["real_halves"],
                       cond_acc=metrics["cond_acc"]["value"], swd=metrics["swd"]["mean"],
                       precision=metrics["pr"]["precision"], recall=metrics["pr"]["recall"])
            results.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'variant':<13}{'s/step':>8}{'steps':>7}{'FD':>9}{'cond_acc':>9}{'SWD':>8}"
          f"{'prec':>7}{'recall':>7}")
    for v in variants:
        rows = [r for r in results if r["variant"] == v]
        mean = {k: np.mean([r[k] for r in rows]) for k in
                ("fd", "cond_acc", "swd", "precision", "recall")}
        print(f"{v:<13}{speed[v]:8.4f}{rows[0]['steps']:7d}{mean['fd']:9.4f}"
              f"{mean['cond_acc']:9.3f}{mean['swd']:8.2f}{mean['precision']:7.3f}"
              f"{mean['recall']:7.3f}")
    with open(args.out, "w") as f:
        json.dump({"base_steps": args.steps, "seconds_per_step": speed, "results": results}, f,
                  indent=2)


if __name__ == "__main__":
    main()
