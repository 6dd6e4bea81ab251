"""Floating-point operations of one forward pass of each network of shipped configs, by
TensorFlow's graph profiler (the convolutions and matrix products dominate):

    python tools/model_flops.py [--configs digits,pggan_digits,stacked_mnist] [--batch 1]

For a growing model (pggan) the networks at their final resolution, no fade-in. A train
step costs roughly 3x the forward FLOPs of each network it runs (forward + two backward
products), more with a gradient penalty (a double backward through D). Prints a table on
stdout: config, G GFLOP, D GFLOP per image, and each relative to the first config.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the v1 profiler warns about its own API

from dcgan_tf.config import Config  # noqa: E402
from dcgan_tf.flags import config_path, flagfile_values  # noqa: E402
from dcgan_tf.gan.assemble import build_from_config, model_family, resolve_config  # noqa: E402


def forward_flops(model, input_shapes) -> int:
    """FLOPs of model(inputs) for float32 inputs of `input_shapes` (batch included)."""
    specs = [tf.TensorSpec(s, tf.float32) for s in input_shapes]
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    graph = fn.get_concrete_function(*specs).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops


def networks_flops(name: str, batch: int) -> tuple[float, float]:
    values = flagfile_values(config_path(name))
    config = resolve_config(Config(**{**values, "dry_run": True}))
    pair = build_from_config(config)
    g, d = pair.generator, pair.discriminator
    if model_family(config).grows:
        g, d = g.final_model(), d.final_model()
    r, c = config.resolution, config.channels
    g_shapes = [(batch, config.latent_dim)]
    d_shapes = [(batch, r, r, c * max(1, config.pack))]
    if config.num_classes:
        g_shapes.append((batch, config.num_classes))
        d_shapes.append((batch, config.num_classes))
    return (forward_flops(g, g_shapes) / batch / 1e9,
            forward_flops(d, d_shapes) / batch / 1e9)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="digits,pggan_digits,stacked_mnist,mnist28")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    rows = []
    for i, name in enumerate(args.configs.split(",")):
        print(f"[{i + 1}] {name} ...", file=sys.stderr, flush=True)
        rows.append((name, *networks_flops(name, args.batch)))
    base = rows[0][1] + rows[0][2]
    print(f"{'config':<22}{'G GFLOP/img':>12}{'D GFLOP/img':>12}{'G+D vs ' + rows[0][0]:>18}")
    for name, g, d in rows:
        print(f"{name:<22}{g:>12.4f}{d:>12.4f}{(g + d) / base:>17.2f}x")


if __name__ == "__main__":
    main()
