"""Pure schedules: values as functions of a step or image count, tested alone.

They take and return tensors (or Python numbers) so `train_step` can call them on the
model's counters inside a compiled graph; nothing here keeps state.
"""

from __future__ import annotations

import tensorflow as tf


def linear_decay(step, *, start: float, decay_steps: int):
    """`start` at step 0 falling linearly to 0 at `decay_steps`, then 0.

    `decay_steps` <= 0 means no decay: always `start`. Used for the instance-noise sigma
    (Sonderby et al. 2017; Arjovsky & Bottou 2017) that weakens an overconfident D early.
    """
    start = tf.constant(start, tf.float32)
    if decay_steps <= 0:
        return start
    frac = tf.cast(step, tf.float32) / float(decay_steps)
    return start * tf.maximum(0.0, 1.0 - frac)
