"""The health check of a run: divergence (non-finite values, explosions, a refused
checkpoint) handled by restoring the last good checkpoint, and a warning when D wins
outright."""

from __future__ import annotations

import collections
import math
import sys

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.training.callbacks import float_logs, learning_rates, step_of


def state_is_finite_fn(model):
    """A compiled check that every floating-point variable of both networks and both
    optimizers (weights, BatchNorm statistics, Adam moments) is finite."""
    variables = []
    for owner in (model.generator, model.discriminator, model.d_optimizer, model.g_optimizer):
        variables += [v for v in owner.variables
                      if tf.as_dtype(v.dtype).is_floating]

    @tf.function
    def check():
        return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in variables])

    return lambda: bool(check().numpy())


class HealthCheck(keras.callbacks.Callback):
    """Watches every metric of every step, not only a key named `loss`, and the state.

    Divergence, handled alike: restore the last good checkpoint, then stop
    (`on_divergence="stop"`) or lower both learning rates and go on (`"retry"`, at most
    `max_retries` times). It is any of
    - a non-finite metric (without loss scaling; with it, an overflowing step is skipped
      by the optimizer and a loss scale collapsing below 1 is the sign instead);
    - a non-finite value anywhere in the training state (weights, BatchNorm statistics,
      optimizer moments), checked after every step;
    - an explosion: a loss or gradient norm whose magnitude exceeds `explode_factor` times
      the median magnitude of its last `window` values (at least 1.0), e.g. 1e3 x;
    - a checkpoint the trainer could not write because the state was not finite
      (`refused_checkpoint`).
    D winning outright (D(x) > 1 - t and D(G(z)) < t on a probabilistic head) for `span`
    consecutive steps gets one warning with the usual remedies (source 000).
    """

    WATCHED = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm")

    def __init__(self, restore_fn, *, on_divergence="stop", max_retries=3, lr_backoff=0.5,
                 d_win_threshold=0.02, span=200, explode_factor=1e3, window=100, out=None):
        super().__init__()
        self.restore_fn = restore_fn
        self.on_divergence = on_divergence
        self.max_retries = max_retries
        self.lr_backoff = lr_backoff
        self.threshold = d_win_threshold
        self.span = span
        self.explode_factor = explode_factor
        self.out = out or sys.stderr
        self.retries = 0
        self.diverged: str | None = None  # message when training stopped on divergence
        self._d_wins = 0
        self._warned = False
        self._history = {k: collections.deque(maxlen=window) for k in self.WATCHED}
        self._state_finite = None

    def set_model(self, model):
        super().set_model(model)
        self._state_finite = None

    def _say(self, text):
        print(f"\n[dcgan_tf] {text}", file=self.out, flush=True)

    def _problem(self, logs) -> str | None:
        gan = self.model
        values = gan.last_step_values()
        values.update({k: v for k, v in float_logs(logs).items() if k.endswith("loss_scale")})
        scaled = any(k.endswith("loss_scale") for k in values)
        for key, value in values.items():
            if key.endswith("loss_scale"):
                if value < 1.0:
                    return f"the {key.split('_')[0].upper()} loss scale collapsed to {value:g}"
            elif not math.isfinite(value) and not scaled:
                return f"{key} became {value}"
        # Under loss scaling a non-finite step is skipped, not applied; weights that did go
        # bad make every step overflow, and the scale then collapses below 1 (caught above).
        if self._state_finite is None:
            self._state_finite = state_is_finite_fn(gan)
        if not self._state_finite():
            return "the training state (weights or optimizer moments) holds non-finite values"
        if self.explode_factor > 0:
            for key in self.WATCHED:
                value = values.get(key)
                if value is None or not math.isfinite(value):
                    continue
                history = self._history[key]
                if history:
                    median = float(np.median(history))
                    if abs(value) > self.explode_factor * max(median, 1.0):
                        return (f"{key} exploded to {value:.3g}, more than "
                                f"{self.explode_factor:g}x its running median {median:.3g}")
                history.append(abs(value))
        return None

    def refused_checkpoint(self, step: int):
        """The trainer found non-finite values while saving: handled as a divergence."""
        self._diverge(step, "the checkpoint was refused because the training state holds "
                            "non-finite values")

    def on_train_batch_end(self, batch, logs=None):
        gan = self.model
        step = step_of(gan)
        problem = self._problem(logs)
        if problem:
            self._diverge(step, problem)
            return
        if gan.head.probabilistic:
            values = gan.last_step_values()
            wins = values["d_real"] > 1 - self.threshold and values["d_fake"] < self.threshold
            self._d_wins = self._d_wins + 1 if wins else 0
            if self._d_wins >= self.span and not self._warned:
                self._warned = True
                self._say(
                    f"Step {step}: the discriminator has won outright for {self._d_wins} steps "
                    f"(D(x)={values['d_real']:.3f}, D(G(z))={values['d_fake']:.3f}), so the "
                    "generator learns little. Try --label_flip=0.1, --label_smoothing=0.1, "
                    "--instance_noise=0.1, a lower --d_lr or --g_steps=2."
                )
            elif self._d_wins == 0:
                self._warned = False

    def _diverge(self, step, problem):
        gan = self.model
        restored = self.restore_fn()
        for metric in gan.metrics:
            metric.reset_state()
        for history in self._history.values():
            history.clear()
        where = f"restored the checkpoint of step {step_of(gan)}" if restored else \
            "no checkpoint to restore"
        if self.on_divergence == "retry" and self.retries < self.max_retries and restored:
            self.retries += 1
            for opt in (gan.d_optimizer, gan.g_optimizer):
                opt.learning_rate = float(np.asarray(opt.learning_rate)) * self.lr_backoff
            lrs = learning_rates(gan)
            self._say(f"Step {step}: {problem}; {where} and lowered the learning rates to "
                      f"d_lr={lrs['d_lr']:.3g}, g_lr={lrs['g_lr']:.3g} "
                      f"(retry {self.retries} of {self.max_retries}).")
            return
        self.diverged = (f"Training diverged at step {step}: {problem}; {where}. "
                         "Lower --d_lr/--g_lr, or use --on_divergence=retry.")
        gan.stop_training = True  # the trainer raises DivergenceError with this message
