"""Gradients under tf.distribute and fp16 loss scaling: the plumbing around the update
math of `GAN.train_step`, in one place.

- `is_loss_scaled` is the one test for a loss-scaled optimizer (mixed_float16): the
  gradient norm, the gradient penalty and the logged loss scales all ask it.
- With R replicas each holds its share of the gradient; `summed` measures the whole
  batch's norm and hands the optimizer 1/R of the sum (its all-reduce adds them back).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def is_loss_scaled(optimizer) -> bool:
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def loss_scaled(optimizer):
    """`optimizer` wrapped in a LossScaleOptimizer (unless it already is one)."""
    if is_loss_scaled(optimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def unscaled(value, optimizer):
    """A float32 value taken through a scaled loss, divided by `optimizer`'s loss scale."""
    value = tf.cast(value, tf.float32)
    if is_loss_scaled(optimizer):
        value = value / tf.cast(optimizer.dynamic_scale, tf.float32)
    return value


def replicas() -> float:
    return float(tf.distribute.get_strategy().num_replicas_in_sync)


def across_workers() -> bool:
    """True inside a MultiWorkerMirroredStrategy that spans more than one worker."""
    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    in_multi_worker_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    return bool(in_multi_worker_mode()) if in_multi_worker_mode else True


def present(grads, variables):
    """(gradient, variable) pairs with a gradient: layers of inactive pggan levels get None."""
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    return [g for g, _ in pairs], [v for _, v in pairs]


def grad_norm(grads, optimizer):
    """Global L2 norm of the (unscaled) gradients of one update."""
    norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads if g is not None])
    return unscaled(norm, optimizer)


def summed(grads, optimizer):
    """(gradients to apply, norm of the whole batch's gradient). With several replicas
    each holds its share of the gradient, which the optimizer sums; the norm of one
    share means nothing, so the shares are summed here to measure it, and each
    replica then hands the optimizer 1/R of the sum (its all-reduce adds them back)."""
    ctx = tf.distribute.get_replica_context()
    count = ctx.num_replicas_in_sync if ctx is not None else 1
    if count == 1:
        return grads, grad_norm(grads, optimizer)
    total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    return [g / count for g in total], grad_norm(total, optimizer)


def input_gradients(gan, images, labels, augment: bool = False):
    """d sum(D(x)) / dx in float32 [B, H, W, C]. Under fp16 loss scaling the inner objective
    is scaled (so small gradients survive float16) and the gradient unscaled in float32."""
    images = tf.cast(images, tf.float32)
    optimizer = gan.d_optimizer
    with tf.GradientTape() as tape:
        tape.watch(images)
        inputs = gan.augment(images) if augment else images
        # with packing each pack's logit is repeated per image: count it once
        scores = tf.reduce_sum(gan.discriminate(inputs, labels, training=True)) / gan.pack
        scaled = optimizer.scale_loss(scores)
    return unscaled(tape.gradient(scaled, images), optimizer)
