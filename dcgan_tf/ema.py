"""Exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al.
2019): a copy of G whose weights follow G's after every generator update,

    w_ema <- decay * w_ema + (1 - decay) * w        (after step `start`; before it, a copy)

The copy is what sample tiles, exports and generation use. BatchNorm moving statistics are
not averaged: the copy takes G's current statistics at every update (they already are
moving averages of the batches G saw).
"""

from __future__ import annotations

import keras
import tensorflow as tf

# Checkpoint key of the averaged generator (the export reads it too).
EMA_KEY = "ema_generator"


class GeneratorEMA:
    def __init__(self, generator: keras.Model, decay: float = 0.999, start: int = 0):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay!r}.")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"ema_start must be an integer >= 0, got {start!r}.")
        self.decay = float(decay)
        self.start = start
        self.generator = keras.models.clone_model(generator)
        self.generator.set_weights(generator.get_weights())
        self._pairs = list(zip(self.generator.weights, generator.weights))
        for mine, theirs in self._pairs:
            if tuple(mine.shape) != tuple(theirs.shape):
                raise ValueError(f"EMA copy of {generator.name!r} does not match it "
                                 f"({mine.path}: {mine.shape} vs {theirs.shape}).")

    @classmethod
    def from_config(cls, config, generator) -> GeneratorEMA | None:
        if config.ema_decay <= 0:
            return None
        return cls(generator, config.ema_decay, config.ema_start)

    def update(self, g_step) -> None:
        """Moves the copy toward G; `g_step` is the number of G updates done so far."""
        decay = tf.where(tf.cast(g_step, tf.int64) <= self.start, 0.0, self.decay)
        for mine, theirs in self._pairs:
            value = tf.cast(theirs, tf.float32)
            if mine.trainable:
                value = decay * tf.cast(mine, tf.float32) + (1.0 - decay) * value
            mine.assign(tf.cast(value, mine.dtype))

    def checkpoint_items(self) -> dict:
        return {EMA_KEY: self.generator}
