"""Progress of a run: images per second, one progress line for the whole run, and Keras'
progress bar counting the run's epochs."""

from __future__ import annotations

import collections
import math
import sys
import time

import keras

from dcgan_tf.training.callbacks import float_logs, step_of


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


def _d_outputs(last: dict, one_pass: bool = False) -> list[str]:
    """Mean D(x) and mean D(G(z)) before >> after the step's D update, as source 003
    printed them every 100 steps: ["D(x) 0.583", "D(G(z)) 0.271>>0.183"] (a probability of
    "real" for sigmoid/softmax heads, the raw score for linear ones); those present only.
    `one_pass` (--update=simultaneous): G reads the same pass, so "after" equals "before" by
    construction and is left out (shown, it would read as a D that did not change)."""
    shown = [f"D(x) {last['d_real']:.3g}"] if "d_real" in last else []
    if "d_fake" in last:
        after = (f">>{last['d_fake_after']:.3g}" if "d_fake_after" in last and not one_pass
                 else "")
        shown.append(f"D(G(z)) {last['d_fake']:.3g}{after}")
    return shown


class RunProgress(keras.callbacks.Callback):
    """One progress line for the whole run (not per epoch):

        step 1200/3000 [========>...........] 40% | 1:23 elapsed, ETA 2:05 | 412 img/s | d_loss 0.532 g_loss 2.113 D(x) 0.583 D(G(z)) 0.271>>0.183

    The losses and D's mean outputs are the latest step's (source 003's log line: D(G(z))
    before >> after D's update). A resumed run starts at its resumed step; elapsed time
    counts this process's training. On a terminal the line is redrawn in place (at most
    every `refresh` seconds); in a log file one line is written every `log_seconds` and at
    the end.
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
            self._step0 = step_of(self.model)
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
        self._steps.append((time.perf_counter(), step_of(self.model)))
        self._logs = dict(logs or {})
        self._show(force=step_of(self.model) >= self.total)

    def line(self) -> str:
        step = step_of(self.model)
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
        values = float_logs(getattr(self, "_logs", {}))
        if "img_per_s" in values:
            parts.append(f"{values['img_per_s']:.0f} img/s")
        last = self.model.last_step_values()
        shown = [f"{k} {last[k]:.4g}" for k in ("d_loss", "g_loss") if k in last]
        rule = getattr(self.model, "update_rule", None)
        shown += _d_outputs(last, one_pass=getattr(rule, "order", "") == "simultaneous")
        extra = [f"{k} {values[k]:.3g}" for k in sorted(values) if k.endswith("loss_scale")]
        parts.append(" ".join(shown + extra))
        return " | ".join(p for p in parts if p)

    def _show(self, force=False):
        now = time.perf_counter()
        if not force and now - self._last_print < self.refresh:
            return
        if self.model is None or not hasattr(self.model, "step"):
            return
        step = step_of(self.model)
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
