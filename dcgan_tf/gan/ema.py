"""Exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al.
2019): a copy of G whose weights follow G's after every generator update,

    w_ema <- beta_t * w_ema + (1 - beta_t) * w      (after step `start`; before it, a copy)

`decay` sets the target half-life h = ln(1/2) / ln(decay) in generator steps (0.999: 693
steps). With `rampup` r > 0 the half-life grows with the run as in StyleGAN2-ADA's EMA
ramp-up: h_t = min(h, r * t) at step t, beta_t = 2^(-1 / h_t), so early in a run the average
follows G closely instead of dragging the untrained weights along (0.999 from step 0 keeps
37% of the initial weights after 1,000 steps). rampup = 0 gives the plain rule, beta_t = decay.

The copy is what sample tiles, exports and generation use. BatchNorm moving statistics are
not averaged and not copied: averaged weights produce activations of other means and
variances than G's, so G's statistics would mis-normalise the copy (measured: worse samples,
BUILD_NOTES.md). The step runs the copy forward in training mode on the step's latent batch
after each update (`recomputes_statistics`), so its moving statistics are its own, with the
layers' momentum. Other non-trainable state (e.g. the Progressive GAN's level) is copied.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from dcgan_tf.models.common import all_layers

# Checkpoint key of the averaged generator (the export reads it too).
EMA_KEY = "ema_generator"


class GeneratorEMA:
    def __init__(self, generator: keras.Model, decay: float = 0.999, start: int = 0,
                 rampup: float = 0.0):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay!r}.")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"ema_start must be an integer >= 0, got {start!r}.")
        if not rampup >= 0.0:
            raise ValueError(f"ema_rampup must be >= 0, got {rampup!r}.")
        self.decay = float(decay)
        self.rampup = float(rampup)
        self.half_life = math.log(0.5) / math.log(self.decay)
        self.start = start
        self.generator = keras.models.clone_model(generator)
        self.generator.set_weights(generator.get_weights())
        pairs = list(zip(self.generator.weights, generator.weights))
        for mine, theirs in pairs:
            if tuple(mine.shape) != tuple(theirs.shape):
                raise ValueError(f"EMA copy of {generator.name!r} does not match it "
                                 f"({mine.path}: {mine.shape} vs {theirs.shape}).")
        own = {id(v) for layer in all_layers(self.generator)
               if isinstance(layer, keras.layers.BatchNormalization)
               for v in (layer.moving_mean, layer.moving_variance)}
        self._pairs = [(mine, theirs) for mine, theirs in pairs if id(mine) not in own]
        # True when the copy has BatchNorm statistics of its own to keep (the step runs it).
        self.recomputes_statistics = bool(own)

    @classmethod
    def from_config(cls, config, generator) -> GeneratorEMA | None:
        if config.ema_decay <= 0:
            return None
        return cls(generator, config.ema_decay, config.ema_start, config.ema_rampup)

    def beta(self, g_step):
        """The averaging weight of the copy at G step `g_step` (0 within the warm-up)."""
        step = tf.cast(g_step, tf.float32)
        decay = tf.constant(self.decay, tf.float32)
        if self.rampup > 0:
            half_life = tf.minimum(self.half_life, self.rampup * step)
            decay = tf.where(half_life > 0, tf.pow(0.5, 1.0 / tf.maximum(half_life, 1e-8)), 0.0)
        return tf.where(tf.cast(g_step, tf.int64) <= self.start, 0.0, decay)

    def update(self, g_step) -> None:
        """Moves the copy toward G; `g_step` is the number of G updates done so far."""
        decay = self.beta(g_step)
        for mine, theirs in self._pairs:
            value = tf.cast(theirs, tf.float32)
            if mine.trainable:
                value = decay * tf.cast(mine, tf.float32) + (1.0 - decay) * value
            mine.assign(tf.cast(value, mine.dtype))

    def checkpoint_items(self) -> dict:
        return {EMA_KEY: self.generator}
