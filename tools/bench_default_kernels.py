"""The offline default (configs/digits.cfg, whole run) under each kernel choice: wall time
and quality, so a speed change is shown not to cost quality.

    python tools/bench_default_kernels.py [--variants fused,kerasbn,onednn0] [--steps 2700]
                                          [--seed 0] [--out bench_default_kernels.json]

Variants (tools/benchmark.py's process settings; one fresh process each, run one after
the other, so the machine must be otherwise idle):
  fused    the package as shipped (fused BatchNorm, oneDNN as dcgan_tf sets it)
  kerasbn  Keras' own BatchNormalization layer in place of the fused one
  onednn0  TF_ENABLE_ONEDNN_OPTS=0, fused layer (TensorFlow's Eigen kernels: what an
           AVX2 CPU ran before dcgan_tf turned oneDNN on)
Each trains `--steps` steps of digits.cfg (its EMA and all) and is scored like
tools/bench_digits_recipe.py: 1,000 samples (100 per class) against all 1,797 digits, FD
in the digits classifier's features, conditional accuracy, SWD x 1e3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(variant: str, steps: int, seed: int) -> dict:
    sys.path.insert(0, HERE)
    import benchmark
    from bench_digits_recipe import digits_config

    process = benchmark.parse_variant(_process_variant(variant))[1]
    benchmark.apply_process_settings(process)
    from dcgan_tf.training import trainer
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator
    from dcgan_tf.metrics.classifier import digits_classifier_path
    from dcgan_tf.metrics.evaluation import Evaluation
    from dcgan_tf.metrics.inputs import generated_images, load_images

    with tempfile.TemporaryDirectory() as folder:
        config = digits_config(workdir=folder, train_steps=steps, seed=seed)
        start = time.perf_counter()
        trainer.run(config, out=open(os.devnull, "w"),
                    plain_batchnorm=process.get("kerasbn", False))
        seconds = time.perf_counter() - start
        real = load_images("digits", 32, 1, limit=10_000, seed=0)
        ev = Evaluation(real, features="classifier", classifier=digits_classifier_path(32),
                        seed=seed, num_classes=10)
        fake = generated_images(LoadedGenerator(folder), 1000, seed)
        metrics = ev.run(["fd", "cond_acc", "swd"], fake=fake)["metrics"]
    return dict(variant=variant, steps=steps, seed=seed, seconds=round(seconds, 1),
                onednn=benchmark._onednn_on(), fd=metrics["fd"]["value"],
                cond_acc=metrics["cond_acc"]["value"], swd=metrics["swd"]["mean"])


VARIANTS = {"fused": "fp32", "kerasbn": "kerasbn", "onednn0": "onednn0"}  # -> benchmark's


def _process_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; use {sorted(VARIANTS)}")
    return VARIANTS[variant]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="fused,kerasbn,onednn0")
    parser.add_argument("--steps", type=int, default=2700)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench_default_kernels.json")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.steps, args.seed)), flush=True)
        return
    variants = args.variants.split(",")
    for variant in variants:
        _process_variant(variant)  # unknown names fail before anything runs
    sys.path.insert(0, HERE)
    import benchmark

    rows = []
    for variant in variants:
        rows.append(benchmark.run_worker(
            [os.path.abspath(__file__), "--worker", variant, f"--steps={args.steps}",
             f"--seed={args.seed}"], _process_variant(variant), label=variant))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'variant':<10}{'oneDNN':>7}{'seconds':>9}{'FD':>8}{'cond_acc':>9}{'SWD':>7}")
    for r in rows:
        print(f"{r['variant']:<10}{str(r['onednn']):>7}{r['seconds']:9.1f}{r['fd']:8.3f}"
              f"{r['cond_acc']:9.3f}{r['swd']:7.2f}")
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
