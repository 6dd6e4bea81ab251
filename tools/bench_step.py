"""Images/s of one dcgan64 train step, and its ratio to a reference step, in one process.

    python tools/bench_step.py [--resolution 64] [--batch 64] [--steps 20] [--repeats 3]

The reference is the textbook TF2 DCGAN step (TensorFlow's DCGAN tutorial: one
generator pass under two simultaneous tapes, both optimizers applied at the end) on the
SAME networks and batch, compiled with tf.function. dcgan_tf's step does more (the
generator update reads the fakes through the already-updated D, metrics, counters), so a
ratio near 1 means that extra work is cheap. Timings alternate the two steps so machine
noise hits both; the median of `--repeats` rounds is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dcgan_tf.gan import GAN, UpdateRule  # noqa: E402
from dcgan_tf.gan.losses import get_loss  # noqa: E402
from dcgan_tf.models import build_models  # noqa: E402


def reference_step_fn(generator, discriminator, latent_dim, batch):
    g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real):
        z = tf.random.normal([batch, latent_dim])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(z, training=True)
            real_out = discriminator(real, training=True)
            fake_out = discriminator(fake, training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
        g_opt.apply(g_tape.gradient(g_loss, generator.trainable_variables),
                    generator.trainable_variables)
        d_opt.apply(d_tape.gradient(d_loss, discriminator.trainable_variables),
                    discriminator.trainable_variables)
        return d_loss, g_loss

    return step


def time_calls(fn, arg, steps):
    fn(arg)  # warm (already traced)
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(arg)
    np.asarray(out[0] if isinstance(out, tuple) else next(iter(out.values())))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--update", default="sequential", choices=["sequential", "simultaneous"],
                        help="order of the two updates in our step")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    real = tf.random.uniform([args.batch, args.resolution, args.resolution, 3], -1, 1)

    ours = build_models("dcgan64", resolution=args.resolution)
    gan = GAN(ours.generator, ours.discriminator, latent_dim=100, seed=0)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5),
                loss=get_loss("bce"), update=UpdateRule(order=args.update), jit_compile=False)
    our_step = tf.function(gan.train_step)
    ref = build_models("dcgan64", resolution=args.resolution)
    ref_step = reference_step_fn(ref.generator, ref.discriminator, 100, args.batch)
    our_step(real)
    ref_step(real)

    ours_t, ref_t = [], []
    for _ in range(args.repeats):
        ours_t.append(time_calls(our_step, real, args.steps))
        ref_t.append(time_calls(ref_step, real, args.steps))
    ours_s, ref_s = statistics.median(ours_t), statistics.median(ref_t)
    ips = args.batch * args.steps / ours_s
    ref_ips = args.batch * args.steps / ref_s
    print(f"dcgan64 {args.resolution}x{args.resolution}, batch {args.batch}, CPU threads "
          f"{tf.config.threading.get_inter_op_parallelism_threads() or os.cpu_count()}:")
    print(f"  dcgan_tf GAN.train_step : {ips:8.1f} images/s")
    print(f"  reference tutorial step : {ref_ips:8.1f} images/s")
    print(f"  ratio (ours / reference): {ips / ref_ips:8.3f}")


if __name__ == "__main__":
    main()
