"""Everything around the update math: progress, checkpoints, samples, logs, health.

Each callback reads the model's step counter (`gan.step`, train steps done so far, restored
on resume), so intervals stay aligned across restarts and with steps_per_execution > 1.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.io_utils import append_line
from dcgan_tf.tiles import write_tile


def _step(model) -> int:
    return int(model.step.numpy())


class Interval:
    """True once each time the step counter reaches or passes a multiple of `every`.

    With steps_per_execution = N, batch callbacks see the step jump by N, so `step %
    every == 0` could skip an interval; a boundary crossed is never missed.
    """

    def __init__(self, every: int):
        self.every = every
        self._last_block = None

    def due(self, step: int) -> bool:
        block = step // self.every
        if self._last_block is None:
            self._last_block = (step - 1) // self.every  # the first call may be due
        if block > self._last_block:
            self._last_block = block
            return True
        return False


def _float_logs(logs) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        try:
            out[key] = float(np.asarray(value))
        except (TypeError, ValueError):
            continue
    return out


def learning_rates(gan) -> dict[str, float]:
    return {"d_lr": float(np.asarray(gan.d_optimizer.learning_rate)),
            "g_lr": float(np.asarray(gan.g_optimizer.learning_rate))}


class Throughput(keras.callbacks.Callback):
    """Adds `img_per_s` (real images consumed per second) to the logs the progress bar
    shows. Must come before the progress bar in the callback list (Keras appends its own
    progress bar last)."""

    def __init__(self):
        super().__init__()
        self._t0 = None
        self._images0 = 0
        self.rate = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        if self._t0 is None:
            self._t0 = time.perf_counter()
            self._images0 = int(self.model.images_seen.numpy())

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        images = int(self.model.images_seen.numpy())
        if now > self._t0 and images > self._images0:
            self.rate = (images - self._images0) / (now - self._t0)
        if logs is not None:
            logs["img_per_s"] = self.rate
        # A window of recent steps: restart the clock every 20 batches.
        if batch % 20 == 19:
            self._t0, self._images0 = now, images

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["img_per_s"] = self.rate
        self._t0 = None


class RunProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, showing the run's epoch count rather than the segment's
    (the trainer calls fit more than once when a run resumes mid-epoch)."""

    def __init__(self, total_epochs: int):
        super().__init__()
        self.total_epochs = total_epochs

    def set_params(self, params):
        super().set_params(params)
        self.epochs = self.total_epochs


class StopOnSignal(keras.callbacks.Callback):
    """SIGTERM and Ctrl-C (SIGINT) ask for a checkpoint and a clean stop after the
    current step instead of killing the process mid-write."""

    def __init__(self, save_fn):
        super().__init__()
        self.save_fn = save_fn
        self.received: int | None = None
        self._previous = {}

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.received = signum

    def on_train_batch_end(self, batch, logs=None):
        if self.received is not None and not self.model.stop_training:
            self.save_fn()
            self.model.stop_training = True


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves every `every` steps; the trainer saves once more at the end."""

    def __init__(self, save_fn, every: int):
        super().__init__()
        self.save_fn = save_fn
        self.interval = Interval(every)

    def on_train_batch_end(self, batch, logs=None):
        if self.interval.due(_step(self.model)) and not self.model.stop_training:
            self.save_fn()


class SampleTiles(keras.callbacks.Callback):
    """Fixed-noise sample tiles as PNG every `every` steps (and by `write_now`), plus a
    TensorBoard image summary of the same tile."""

    def __init__(self, fixed_z, folder: str, every: int, grid: int, writer=None,
                 fixed_labels=None, row_names=None):
        super().__init__()
        self.fixed_z = fixed_z
        self.fixed_labels = fixed_labels  # conditional: one class per row
        self.row_names = row_names
        self.folder = folder
        self.interval = Interval(every)
        self.rows = len(row_names) if row_names is not None else grid
        self.grid = grid
        self.writer = writer
        self._last = None

    def write_now(self) -> str | None:
        step = _step(self.model)
        if step == self._last:
            return None
        self._last = step
        images = self.model.generate(self.fixed_z, self.fixed_labels, training=False).numpy()
        path = os.path.join(self.folder, f"step_{step:08d}.png")
        tile = write_tile(path, images, rows=self.rows, cols=self.grid,
                          row_names=self.row_names)
        if self.writer is not None:
            name = "samples/by_class" if self.row_names is not None else "samples/fixed_noise"
            with self.writer.as_default(step=step):
                tf.summary.image(name, tile[None], max_outputs=1)
        return path

    def on_train_batch_end(self, batch, logs=None):
        if self.interval.due(_step(self.model)):
            self.write_now()


class ScalarLog(keras.callbacks.Callback):
    """Every `every` steps: single-step metric values, learning rates, loss scales and
    images/s to TensorBoard and to `metrics.jsonl` (one JSON object per line)."""

    def __init__(self, writer, jsonl_path: str, every: int):
        super().__init__()
        self.writer = writer
        self.jsonl_path = jsonl_path
        self.interval = Interval(every)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if not self.interval.due(step):
            return
        values = self.model.last_step_values()
        extra = _float_logs(logs)
        for key in ("img_per_s", "d_loss_scale", "g_loss_scale", "noise_sigma"):
            if key in extra:
                values[key] = extra[key]
        values.update(learning_rates(self.model))
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in values.items():
                    tf.summary.scalar(f"train/{key}", value)
        record = {"step": step, "images_seen": int(self.model.images_seen.numpy()),
                  "time": round(time.time(), 3)}
        record.update({k: (v if math.isfinite(v) else str(v)) for k, v in values.items()})
        append_line(self.jsonl_path, json.dumps(record, sort_keys=True))


class HealthCheck(keras.callbacks.Callback):
    """Watches every metric of every step, not only a key named `loss`.

    - A non-finite value (or, under fp16 loss scaling, a loss scale that has collapsed
      below 1) is a divergence: restore the last good
      checkpoint, then stop (`on_divergence="stop"`) or lower both learning rates and
      go on (`"retry"`, at most `max_retries` times).
    - D winning outright (D(x) > 1 - t and D(G(z)) < t on a probabilistic head) for
      `span` consecutive steps gets one warning with the usual remedies (source 000).
    """

    def __init__(self, restore_fn, *, on_divergence="stop", max_retries=3, lr_backoff=0.5,
                 d_win_threshold=0.02, span=200, out=None):
        super().__init__()
        self.restore_fn = restore_fn
        self.on_divergence = on_divergence
        self.max_retries = max_retries
        self.lr_backoff = lr_backoff
        self.threshold = d_win_threshold
        self.span = span
        self.out = out or sys.stderr
        self.retries = 0
        self.diverged: str | None = None  # message when training stopped on divergence
        self._d_wins = 0
        self._warned = False

    def _say(self, text):
        print(f"\n[dcgan_tf] {text}", file=self.out, flush=True)

    def _problem(self, logs) -> str | None:
        gan = self.model
        values = gan.last_step_values()
        values.update({k: v for k, v in _float_logs(logs).items() if k.endswith("loss_scale")})
        scaled = any(k.endswith("loss_scale") for k in values)
        for key, value in values.items():
            if key.endswith("loss_scale"):
                if value < 1.0:
                    return f"the {key.split('_')[0].upper()} loss scale collapsed to {value:g}"
            elif not math.isfinite(value) and not scaled:
                return f"{key} became {value}"
        # Under loss scaling a non-finite step is skipped, not applied; weights that did go
        # bad make every step overflow, and the scale then collapses below 1 (caught above).
        return None

    def on_train_batch_end(self, batch, logs=None):
        gan = self.model
        step = _step(gan)
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
        where = f"restored the checkpoint of step {_step(gan)}" if restored else \
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
        self._say(self.diverged)
        gan.stop_training = True
