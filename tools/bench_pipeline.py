"""Steps/s of the default digits model fed by the training stream with tf.data autotune
off (what dcgan_tf uses) and on, alternated in one process.

    python tools/bench_pipeline.py [--steps 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from dcgan_tf.config import Config  # noqa: E402
from dcgan_tf.gan.assemble import build_gan, resolve_config  # noqa: E402
from dcgan_tf.data.geometry import Geometry  # noqa: E402
from dcgan_tf.data.sources import open_source  # noqa: E402
from dcgan_tf.data.stream import training_stream  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cfg = resolve_config(Config(data="digits", model="dcgan64", resolution=32, channels=1,
                                ngf=32, ndf=32, batch_size=64, train_steps=1,
                                label_smoothing=0.1))
    gan = build_gan(cfg)
    source = open_source("digits", Geometry(32, 1))

    def run(autotune: bool, steps: int) -> float:
        ds = training_stream(source, batch_size=64, seed=0, end_step=steps)
        if autotune:
            options = tf.data.Options()
            options.autotune.enabled = True
            ds = ds.with_options(options)
        start = time.perf_counter()
        gan.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        return time.perf_counter() - start

    run(False, 20)  # trace
    for _ in range(args.rounds):
        off, on = run(False, args.steps), run(True, args.steps)
        print(f"{args.steps} steps: autotune off {off:6.1f} s, on {on:6.1f} s, "
              f"ratio on/off {on / off:5.2f}")


if __name__ == "__main__":
    main()
