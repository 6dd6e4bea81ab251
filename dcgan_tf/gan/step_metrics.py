"""The Keras tracker bookkeeping of `GAN.train_step`: what `fit` averages and logs.

Each metric has a `keras.metrics.Mean` (epoch average, reset by `fit`) and a variable
holding its value at the latest step (for callbacks that log or check single steps).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dcgan_tf.gan.gradients import across_workers, is_loss_scaled

CORE_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "d_fake_after", "d_grad_norm",
                "g_grad_norm")


def make_trackers(parts) -> tuple[dict, dict]:
    """({name: Mean}, {name: latest value variable}) for the core metrics and those of the
    step's `parts` (regularizers, augmentations, growth), each name once."""
    names = list(CORE_METRICS)
    for part in parts:
        names += [n for n in part.metric_names if n not in names]
    trackers = {n: keras.metrics.Mean(name=n) for n in names}
    # The values of the latest step (the trackers hold epoch averages), for callbacks
    # that log or check single steps. Diagnostic only: not checkpointed.
    last = {n: keras.Variable(0.0, trainable=False, name=f"last_{n}",
                              aggregation="only_first_replica") for n in names}
    return trackers, last


def record(trackers: dict, last: dict, values: dict, weights: dict, d_optimizer,
           g_optimizer) -> dict:
    """Feeds one step's `values` (weights: 0 for a lazy regularizer that did not run) to
    the trackers and the latest values; returns the logs of `train_step`."""
    mixed = is_loss_scaled(d_optimizer)
    for name, tracker in trackers.items():
        value = tf.cast(values[name], tf.float32)
        weight = weights.get(name)  # a lazy regularizer that did not run: weight 0
        if weight is not None:
            value = tf.where(weight > 0, value, last[name])
        last[name].assign(value)
        # A LossScaleOptimizer skips an overflowing step and lowers its scale; such a
        # step is not a divergence, so it stays out of the averages. Without loss
        # scaling a non-finite value is real and reaches the health check.
        if mixed:
            finite = tf.cast(tf.math.is_finite(value), tf.float32)
            weight = finite if weight is None else weight * finite
            value = tf.where(tf.math.is_finite(value), value, 0.0)
        tracker.update_state(value, sample_weight=weight)
    logs = {name: tracker.result() for name, tracker in trackers.items()}
    for name, opt in (("d_loss_scale", d_optimizer), ("g_loss_scale", g_optimizer)):
        if is_loss_scaled(opt):
            logs[name] = tf.cast(opt.dynamic_scale, tf.float32)
    if across_workers():
        # Keras 3 reduces the logs of a multi-worker step with strategy.reduce(MEAN,
        # axis=0), which fails on scalars (keras-team/keras#20585): give them an axis.
        logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs


def latest_values(last: dict) -> dict[str, float]:
    """Metric values of the most recent train step (not averaged)."""
    return {n: float(v.numpy()) for n, v in last.items()}
