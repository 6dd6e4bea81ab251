"""The callbacks around the update math: intervals, signals, checkpoints, sample tiles and
scalar logs (and the run's settings for TensorBoard's HParams dashboard: write_hparams).
Progress lives in training/progress.py, the health check in
training/health.py, evaluation during training in training/eval_callbacks.py.

Each callback reads the model's step counter (`gan.step`, train steps done so far, restored
on resume), so intervals stay aligned across restarts and with steps_per_execution > 1.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.utils.atomic_files import append_line
from dcgan_tf.utils.tiles import write_tile

FIXED_NOISE_SEED_OFFSET = 7919  # fixed sample noise: its own stream, apart from training's


def step_of(model) -> int:
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


def float_logs(logs) -> dict[str, float]:
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
        if self.interval.due(step_of(self.model)) and not self.model.stop_training:
            self.save_fn()


class SampleTiles(keras.callbacks.Callback):
    """Fixed-noise sample tiles as PNG every `every` steps (and by `write_now`), plus a
    TensorBoard image summary of the same tile."""

    def __init__(self, fixed_z, tile_path, every: int, grid: int, writer=None,
                 fixed_labels=None, row_names=None, rows: int | None = None):
        super().__init__()
        self.fixed_z = fixed_z
        self.fixed_labels = fixed_labels  # conditional: one class per row
        self.row_names = row_names
        self.tile_path = tile_path  # step -> PNG path (Workdir.sample_path)
        self.interval = Interval(every)
        self.rows = len(row_names) if row_names is not None else (rows or grid)
        self.grid = grid
        self.writer = writer
        self._last = None

    def write_now(self) -> str | None:
        step = step_of(self.model)
        if step == self._last:
            return None
        self._last = step
        images = self.model.sample_images(self.fixed_z, self.fixed_labels).numpy()
        path = self.tile_path(step)
        tile = write_tile(path, images, rows=self.rows, cols=self.grid,
                          row_names=self.row_names)
        if self.writer is not None:
            name = "samples/by_class" if self.row_names is not None else "samples/fixed_noise"
            with self.writer.as_default(step=step):
                tf.summary.image(name, tile[None], max_outputs=1)
        return path

    def on_train_batch_end(self, batch, logs=None):
        if self.interval.due(step_of(self.model)):
            self.write_now()


class ScalarLog(keras.callbacks.Callback):
    """Every `every` steps: single-step metric values, learning rates, loss scales and
    images/s to TensorBoard and to `metrics.jsonl` (one JSON object per line). The trainer
    calls `write_now` when training stops, so the last step is logged too (a run shorter
    than --log_every still has its losses for the report)."""

    def __init__(self, writer, jsonl_path: str, every: int):
        super().__init__()
        self.writer = writer
        self.jsonl_path = jsonl_path
        self.interval = Interval(every)
        self._last = None
        self._logs = None  # the latest step's logs; None until this process trained a step

    def on_train_batch_end(self, batch, logs=None):
        self._logs = logs or {}
        if self.interval.due(step_of(self.model)):
            self.write_now()

    def write_now(self) -> bool:
        """Logs the current step unless it is logged already (or nothing was trained in
        this process); True when a line was written."""
        if self._logs is None:
            return False
        step = step_of(self.model)
        if step == self._last:
            return False
        self._last = step
        logs = self._logs
        values = self.model.last_step_values()
        extra = float_logs(logs)
        for key in ("img_per_s", "d_loss_scale", "g_loss_scale", "noise_sigma"):
            if key in extra:
                values[key] = extra[key]
        values.update(learning_rates(self.model))
        images_seen = int(self.model.images_seen.numpy())
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in values.items():
                    tf.summary.scalar(f"train/{key}", value)
                tf.summary.scalar("train/kimg", images_seen / 1000.0)
        record = {"step": step, "images_seen": images_seen, "time": round(time.time(), 3)}
        record.update({k: (v if math.isfinite(v) else str(v)) for k, v in values.items()})
        append_line(self.jsonl_path, json.dumps(record, sort_keys=True))
        return True


# Settings that say where a run lives or how it reports, not how it trains: left out of
# TensorBoard's HParams table (the run's folder is already its row's name there).
NOT_HPARAMS = ("workdir", "dry_run", "progress")


def hparams_of(config) -> dict:
    """The resolved Config's settings that TensorBoard's HParams dashboard can show: every
    bool, int, float and str field (None fields, a builder's own default, are left out)."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name not in NOT_HPARAMS and isinstance(value, (bool, int, float, str)):
            out[field.name] = value
    return out


def write_hparams(writer, config) -> None:
    """Records the run's settings for TensorBoard's HParams dashboard (runs side by side)
    in `writer`'s folder. The dashboard's metric columns are the run's own scalars
    (train/d_loss, train/g_loss, eval/..., their last values), so nothing more is written
    at the end. The trainer calls this once, when a run starts at step 0."""
    from tensorboard.plugins.hparams import api as hp

    with writer.as_default():
        hp.hparams(hparams_of(config))
    writer.flush()


