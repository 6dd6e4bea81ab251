"""Where the time of one train step goes: TensorFlow's profiler over a few steps of our
trainer, summed by op type.

    python tools/profile_step.py [--model dcgan64] [--batch 64] [--variant fp32] [--steps 5]

Builds the networks of tools/benchmark.py's configs, warms up, records `--steps` steps with
tf.profiler, then reads the trace (the xplane protobuf TensorFlow ships) and prints, per op
type, milliseconds per step and the share of all op time, next to the step's wall time.
Ops running at the same time on different threads each count, so the op total can exceed
the wall time. The trace stays in --logdir for TensorBoard's profile tab.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchmark  # noqa: E402  (tools/benchmark.py: the same configs and variants)


def op_times(logdir: str) -> collections.Counter:
    """{op type: total picoseconds} of the TensorFlow ops in the trace under `logdir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise SystemExit(f"no profile was written under {logdir}")
    space = xplane_pb2.XSpace()
    with open(max(paths, key=os.path.getmtime), "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        names = {k: m.name for k, m in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's worker threads
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                # op events are named "scope/op_name:OpType" (oneDNN kernels: "_Mkl...")
                if ":" in name and "::" not in name:
                    totals[name.rsplit(":", 1)[1]] += event.duration_ps
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="dcgan64", choices=sorted(benchmark.CONFIGS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--variant", default="fp32")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--logdir", default="")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from dcgan_tf.config import POLICIES
    from dcgan_tf.gan.assemble import build_gan

    fields, process = benchmark.parse_variant(args.variant)
    benchmark.apply_process_settings(process)
    config = benchmark.tf_config(args.model, args.batch, fields)
    keras.mixed_precision.set_global_policy(POLICIES[config.mixed_precision])
    gan = build_gan(config, plain_batchnorm=process.get("kerasbn", False))
    real = np.random.default_rng(0).uniform(
        -1, 1, (args.batch, config.resolution, config.resolution, config.channels))
    from dcgan_tf.data.stream import stream_options

    data = tf.data.Dataset.from_tensors(real.astype("float32")).repeat().with_options(
        stream_options())
    gan.fit(data, epochs=1, steps_per_epoch=3, verbose=0)  # trace and warm up
    logdir = args.logdir or tempfile.mkdtemp(prefix="dcgan_tf_profile_")
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    gan.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
    wall = (time.perf_counter() - t0) / args.steps
    tf.profiler.experimental.stop()
    totals = op_times(logdir)
    total = sum(totals.values())
    print(f"{args.model} batch {args.batch} {args.variant}: wall {wall * 1e3:.1f} ms/step, "
          f"op time {total / 1e9 / args.steps:.1f} ms/step (summed over threads); "
          f"trace in {logdir}")
    print(f"{'op type':<40}{'ms/step':>9}{'share':>8}")
    for op_type, ps in totals.most_common(args.top):
        print(f"{op_type:<40}{ps / 1e9 / args.steps:9.2f}{ps / total:8.1%}")


if __name__ == "__main__":
    main()
