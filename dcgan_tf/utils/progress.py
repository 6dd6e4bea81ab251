"""Progress of long work in the tools, on stderr (results go to stdout), without colour
codes: one line redrawn in place on a terminal, else a plain line every few seconds and
at the end (a log file gets a readable history, not carriage returns).

    bar = Progress(len(files), "Building", unit="files")
    for i, f in enumerate(files, 1):
        ...
        bar.update(i)
    bar.close()

Keras' own bars are not used: they write to stdout and colour their numbers whatever the
output is. `fit_progress(...)` is the same line as a Keras callback, for `model.fit`.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import sys
import time


def warn(line: str) -> None:
    """One warning line on stderr, at once (not buffered behind the results on stdout)."""
    print(line, file=sys.stderr, flush=True)


def clock(seconds: float) -> str:
    """Seconds as m:ss or h:mm:ss."""
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """`label done/total unit pct | elapsed, ETA | note` on stderr (`out` for tests).
    `interactive`: redraw in place (default: when `out` is a terminal); otherwise a line
    every `log_seconds`. Shown only when the work lasts longer than `delay` seconds, so
    quick work prints nothing."""

    def __init__(self, total: int, label: str, unit: str = "", out=None,
                 interactive: bool | None = None, refresh: float = 0.25,
                 log_seconds: float = 10.0, delay: float = 1.0):
        self.total, self.label, self.unit = int(total), label, unit
        self._out = out
        stream = self.out
        self.interactive = (interactive if interactive is not None
                            else bool(getattr(stream, "isatty", lambda: False)()))
        self.every = refresh if self.interactive else log_seconds
        self.delay = delay
        self.t0 = time.perf_counter()
        self.done = 0
        self.note = ""
        self._last_print = None
        self._width = 0
        self.lines = 0  # lines written (tests)

    @property
    def out(self):
        return self._out or sys.stderr  # looked up late: tests redirect sys.stderr

    def text(self) -> str:
        elapsed = time.perf_counter() - self.t0
        parts = [f"{self.label} {self.done}/{self.total}"
                 + (f" {self.unit}" if self.unit else "")
                 + (f" {100 * self.done / self.total:.0f}%" if self.total else "")]
        eta = "?"
        if self.done >= self.total:
            eta = "0:00"
        elif self.done > 0:
            eta = clock(elapsed / self.done * (self.total - self.done))
        parts.append(f"{clock(elapsed)} elapsed, ETA {eta}")
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)

    def update(self, done: int, note: str = "") -> None:
        self.done, self.note = int(done), note or self.note
        now = time.perf_counter()
        if now - self.t0 < self.delay:
            return
        if self._last_print is not None and now - self._last_print < self.every:
            return
        self._show(now)

    def _show(self, now: float) -> None:
        self._last_print = now
        text = self.text()
        if self.interactive:
            pad = max(self._width - len(text), 0)
            self.out.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.out.write(text + "\n")
        self.out.flush()
        self.lines += 1

    def close(self, note: str = "") -> None:
        """The final line (only if a line was shown before: quick work stays silent)."""
        if note:
            self.note = note
        if self._last_print is None:
            return
        self._show(time.perf_counter())
        if self.interactive:
            self.out.write("\n")
            self.out.flush()


def fit_progress(label: str, epochs: int, steps_per_epoch: int, **kwargs):
    """A Keras callback showing `model.fit` as one Progress line over all its steps, with
    the epoch and the latest loss/accuracy (use with `fit(..., verbose=0)`)."""
    import keras

    class _FitProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar = Progress(epochs * steps_per_epoch, label, unit="steps", **kwargs)
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            shown = [f"epoch {self.epoch + 1}/{epochs}"]
            for key in ("loss", "accuracy"):
                if logs and key in logs:
                    shown.append(f"{key} {float(logs[key]):.3f}")
            self.bar.update(self.epoch * steps_per_epoch + batch + 1, " ".join(shown))

        def on_train_end(self, logs=None):
            self.bar.close()

    return _FitProgress()
