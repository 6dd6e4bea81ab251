"""Everything around the update math: progress, checkpoints, samples, logs, health.

Each callback reads the model's step counter (`gan.step`, train steps done so far, restored
on resume), so intervals stay aligned across restarts and with steps_per_execution > 1.
"""

from __future__ import annotations

import collections
import json
import math
import os
import signal
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.utils.atomic_files import append_line
from dcgan_tf.utils.tiles import to_uint8, write_tile


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
    """Adds `img_per_s` to the logs: real images consumed per second over the last
    `window` steps (the current speed, not a running mean since the epoch began). Must come
    before the callbacks that show or log it."""

    def __init__(self, window: int = 20):
        super().__init__()
        self._marks = collections.deque(maxlen=window + 1)
        self.rate = 0.0

    def on_train_begin(self, logs=None):
        self._marks.clear()  # a new fit segment: the time between segments is not training

    def on_train_batch_begin(self, batch, logs=None):
        if not self._marks:
            self._marks.append((time.perf_counter(), int(self.model.images_seen.numpy())))

    def on_train_batch_end(self, batch, logs=None):
        self._marks.append((time.perf_counter(), int(self.model.images_seen.numpy())))
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        if t1 > t0 and n1 > n0:
            self.rate = (n1 - n0) / (t1 - t0)
        if logs is not None:
            logs["img_per_s"] = self.rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["img_per_s"] = self.rate


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunProgress(keras.callbacks.Callback):
    """One progress line for the whole run (not per epoch):

        step 1200/3000 [========>...........] 40% | 1:23 elapsed, ETA 2:05 | 412 img/s | d_loss 0.532 g_loss 2.113

    A resumed run starts at its resumed step; elapsed time counts this process's training.
    On a terminal the line is redrawn in place (at most every `refresh` seconds); in a log
    file one line is written every `log_seconds` and at the end.
    """

    def __init__(self, total_steps: int, out=None, interactive: bool | None = None,
                 refresh: float = 0.25, log_seconds: float = 30.0, width: int = 24):
        super().__init__()
        self.total = total_steps
        self.out = out or sys.stdout
        self.interactive = (self.out.isatty() if interactive is None else interactive)
        self.refresh = refresh if self.interactive else log_seconds
        self.width = width
        self._t0 = None
        self._step0 = 0
        self._train_time = 0.0
        self._segment_t0 = None
        self._last_print = -math.inf
        self._last_step = None
        self._steps = collections.deque(maxlen=50)
        self.last_line = ""

    def on_train_begin(self, logs=None):
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
            self._step0 = _step(self.model)
        self._segment_t0 = now
        self._steps.clear()

    def on_train_end(self, logs=None):
        if self._segment_t0 is not None:
            self._train_time += time.perf_counter() - self._segment_t0
            self._segment_t0 = None
        self._show(force=True)

    def finish(self):
        """Ends the redrawn line (the trainer calls it once, after the last segment)."""
        if self.interactive and self.last_line:
            print(file=self.out, flush=True)
            self.last_line = ""

    def on_train_batch_end(self, batch, logs=None):
        self._steps.append((time.perf_counter(), _step(self.model)))
        self._logs = dict(logs or {})
        self._show(force=_step(self.model) >= self.total)

    def line(self) -> str:
        step = _step(self.model)
        frac = min(step / self.total, 1.0) if self.total else 1.0
        done = int(self.width * frac)
        bar = "=" * done + (">" if done < self.width else "") + "." * (self.width - done - 1)
        elapsed = self._train_time + (time.perf_counter() - self._segment_t0
                                      if self._segment_t0 is not None else 0.0)
        parts = [f"step {step}/{self.total} [{bar[:self.width]}] {100 * frac:.0f}%"]
        rate = None  # steps per second over the recent window
        if len(self._steps) >= 2:
            (t0, s0), (t1, s1) = self._steps[0], self._steps[-1]
            if t1 > t0 and s1 > s0:
                rate = (s1 - s0) / (t1 - t0)
        eta = _clock((self.total - step) / rate) if rate and step < self.total else \
            ("0:00" if step >= self.total else "?")
        parts.append(f"{_clock(elapsed)} elapsed, ETA {eta}")
        values = _float_logs(getattr(self, "_logs", {}))
        if "img_per_s" in values:
            parts.append(f"{values['img_per_s']:.0f} img/s")
        last = self.model.last_step_values()
        shown = [f"{k} {last[k]:.4g}" for k in ("d_loss", "g_loss") if k in last]
        extra = [f"{k} {values[k]:.3g}" for k in sorted(values) if k.endswith("loss_scale")]
        parts.append(" ".join(shown + extra))
        return " | ".join(p for p in parts if p)

    def _show(self, force=False):
        now = time.perf_counter()
        if not force and now - self._last_print < self.refresh:
            return
        if self.model is None or not hasattr(self.model, "step"):
            return
        step = _step(self.model)
        if not self.interactive and force and step == self._last_step:
            return  # a log file gets no repeated line for the same step
        self._last_print, self._last_step = now, step
        text = self.line()
        if self.interactive:
            pad = max(len(self.last_line) - len(text), 0)
            print("\r" + text + " " * pad, end="", file=self.out, flush=True)
        else:
            print(text, file=self.out, flush=True)
        self.last_line = text


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
        images = self.model.sample_images(self.fixed_z, self.fixed_labels).numpy()
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
        images_seen = int(self.model.images_seen.numpy())
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in values.items():
                    tf.summary.scalar(f"train/{key}", value)
                tf.summary.scalar("train/kimg", images_seen / 1000.0)
        record = {"step": step, "images_seen": images_seen, "time": round(time.time(), 3)}
        record.update({k: (v if math.isfinite(v) else str(v)) for k, v in values.items()})
        append_line(self.jsonl_path, json.dumps(record, sort_keys=True))


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


class SWDEvaluation(keras.callbacks.Callback):
    """Every `every` steps: sliced Wasserstein distance (x 1e3, per Laplacian level and
    mean; Karras et al. 2018) between `len(real)` images of the sampling generator (EMA when
    kept; fixed noise) and a fixed batch of real images, to TensorBoard (`eval/swd_*`) and
    to `evaluation.jsonl`."""

    def __init__(self, real, every: int, jsonl_path: str, writer=None, labels=None, seed=0):
        super().__init__()
        self.real = np.asarray(real, np.float32)
        self.labels = labels
        self.interval = Interval(every)
        self.jsonl_path = jsonl_path
        self.writer = writer
        self.seed = seed
        self.last = None

    def evaluate(self) -> dict:
        from dcgan_tf.metrics.swd import swd

        gan = self.model
        z = gan.sample_latent(len(self.real), seed=self.seed)
        fake = gan.sample_images(z, self.labels).numpy()
        return swd(fake, self.real, seed=self.seed)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if not self.interval.due(step):
            return
        values = self.evaluate()
        self.last = values
        record = {"step": step, "images_seen": int(self.model.images_seen.numpy()),
                  "time": round(time.time(), 3)}
        record.update({f"swd_{k}": round(float(v), 4) for k, v in values.items()})
        append_line(self.jsonl_path, json.dumps(record, sort_keys=True))
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in values.items():
                    tf.summary.scalar(f"eval/swd_{key}", value)


class MetricEvaluation(keras.callbacks.Callback):
    """Every `every` steps: the evaluation metrics `names` (dcgan_tf.metrics.evaluation) of
    `num` samples of the sampling generator (EMA when kept; the same seeds each time)
    against the real set held by `evaluation`; one JSON line in `jsonl_path` and every
    number as a TensorBoard scalar `eval/NAME[_KEY]`. With `best`, each new best value of
    that metric calls `save_best(step, metric, value)`; `best_value` carries the best so
    far across a resume."""

    def __init__(self, evaluation, names, every: int, num: int, jsonl_path: str, writer=None,
                 labels=None, seed=0, best: str = "", save_best=None, best_value=None):
        super().__init__()
        self.evaluation = evaluation
        self.names = list(names)
        self.interval = Interval(every)
        self.num = num
        self.jsonl_path = jsonl_path
        self.writer = writer
        self.labels = labels  # class index per sample (conditional models)
        self.seed = seed
        self.best = best
        self.save_best = save_best
        self.best_value = best_value
        self.last = None

    def samples(self):
        from dcgan_tf.metrics.evaluation import ImageSet

        gan = self.model
        z = gan.sample_latent(self.num, seed=self.seed)
        labels = None if self.labels is None else gan.one_hot(self.labels)
        out = []
        for start in range(0, self.num, 256):
            batch = gan.sample_images(z[start:start + 256],
                                      None if labels is None else labels[start:start + 256])
            out.append(to_uint8(batch.numpy()))
        return ImageSet(np.concatenate(out), self.labels)

    def on_train_batch_end(self, batch, logs=None):
        from dcgan_tf.metrics.evaluation import METRICS, flat_numbers

        step = _step(self.model)
        if not self.interval.due(step):
            return
        report = self.evaluation.run(self.names, fake=self.samples())
        self.last = report["metrics"]
        record = {"step": step, "images_seen": int(self.model.images_seen.numpy()),
                  "time": round(time.time(), 3), **report["metrics"]}
        append_line(self.jsonl_path, json.dumps(record, sort_keys=True))
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in flat_numbers(report["metrics"]).items():
                    tf.summary.scalar(f"eval/{key}", value)
        if self.best and self.save_best is not None:
            spec = METRICS[self.best]
            value = spec.score(report["metrics"][self.best])
            better = (self.best_value is None or
                      (value > self.best_value if spec.higher_is_better
                       else value < self.best_value))
            if better and math.isfinite(value):
                self.best_value = value
                self.save_best(step, self.best, value)


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
        for history in self._history.values():
            history.clear()
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
        gan.stop_training = True  # the trainer raises DivergenceError with this message
