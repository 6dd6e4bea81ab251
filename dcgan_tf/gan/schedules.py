"""Pure schedules: values as functions of a step or image count, tested alone.

They take and return tensors (or Python numbers) so `train_step` can call them on the
model's counters inside a compiled graph; nothing here keeps state.
"""

from __future__ import annotations

import dataclasses
import math

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


# ---------------------------------------------------------------- Progressive GAN growth


def level_of_resolution(resolution: int) -> int:
    """4 -> 0, 8 -> 1, 16 -> 2, ... (UserError-free: callers validate powers of two)."""
    return int(round(math.log2(resolution))) - 2


@dataclasses.dataclass(frozen=True)
class GrowthSchedule:
    """Progressive growing as pure functions of the number of real images shown (Karras
    et al. 2018, sec. 3 and A.1): the start resolution trains for `stable_images`; each
    higher one fades in over `fade_images` (alpha rising linearly 0 -> 1) and then
    stabilises for `stable_images`; the final resolution trains until the run ends.

    Levels count from 4x4 (level 0). `batch_sizes` and `learning_rates` map a resolution to
    its value; a resolution without an entry takes the default (`batch_size`; each network's
    own `d_learning_rate` / `g_learning_rate`). A resolution's learning rate applies to both
    networks, as in the paper's per-resolution table.
    """

    start_resolution: int = 4
    final_resolution: int = 32
    fade_images: int = 600_000
    stable_images: int = 600_000
    batch_size: int = 16
    d_learning_rate: float = 1e-3
    g_learning_rate: float = 1e-3
    batch_sizes: tuple[tuple[int, int], ...] = ()
    learning_rates: tuple[tuple[int, float], ...] = ()

    def __post_init__(self):
        for name in ("start_resolution", "final_resolution"):
            value = getattr(self, name)
            if value < 4 or value & (value - 1):
                raise ValueError(f"{name} must be a power of two >= 4, got {value}.")
        if self.start_resolution > self.final_resolution:
            raise ValueError(f"start_resolution {self.start_resolution} is above "
                             f"final_resolution {self.final_resolution}.")
        if self.fade_images < 0 or self.stable_images <= 0:
            raise ValueError("fade_images must be >= 0 and stable_images > 0, got "
                             f"{self.fade_images} and {self.stable_images}.")

    @property
    def start_level(self) -> int:
        return level_of_resolution(self.start_resolution)

    @property
    def final_level(self) -> int:
        return level_of_resolution(self.final_resolution)

    def level_start(self, level: int) -> int:
        """Images shown when `level` begins (its fade-in, or training for the start level)."""
        grown = level - self.start_level
        if grown <= 0:
            return 0
        return self.stable_images + (grown - 1) * (self.fade_images + self.stable_images)

    def phase(self, shown: int) -> tuple[int, float]:
        """(level, alpha) after `shown` images; alpha < 1 only during a fade-in."""
        if shown < self.stable_images or self.final_level == self.start_level:
            return self.start_level, 1.0
        t = shown - self.stable_images
        per = self.fade_images + self.stable_images
        grown, into = divmod(t, per)
        level = self.start_level + 1 + grown
        if level > self.final_level:
            return self.final_level, 1.0
        alpha = 1.0 if self.fade_images == 0 else min(into / self.fade_images, 1.0)
        return level, alpha

    def alpha_tensor(self, shown, level: int):
        """The same alpha in a graph, for a level fixed at trace time: float32 scalar."""
        if level == self.start_level or self.fade_images == 0:
            return tf.constant(1.0)
        into = tf.cast(shown, tf.float32) - float(self.level_start(level))
        return tf.clip_by_value(into / float(self.fade_images), 0.0, 1.0)

    def resolution(self, level: int) -> int:
        return 4 * 2 ** level

    def batch_size_at(self, level: int) -> int:
        return dict(self.batch_sizes).get(self.resolution(level), self.batch_size)

    def learning_rates_at(self, level: int) -> tuple[float, float]:
        """(D's, G's) learning rate at `level`."""
        rate = dict(self.learning_rates).get(self.resolution(level))
        if rate is not None:
            return rate, rate
        return self.d_learning_rate, self.g_learning_rate


def growth_phases(schedule: GrowthSchedule, total_images: int, shown: int,
                  d_steps: int = 1) -> list[tuple[int, int, int, int]]:
    """The fit segments of a growing run from `shown` images on: (level, real images per
    step, steps, images shown at the end), each ending at a level boundary or the end."""
    phases = []
    while shown < total_images:
        level, _ = schedule.phase(shown)
        per_step = schedule.batch_size_at(level) * d_steps
        end = total_images
        if level < schedule.final_level:
            end = min(end, schedule.level_start(level + 1))
        steps = max(1, math.ceil((end - shown) / per_step))
        shown += steps * per_step
        phases.append((level, per_step, steps, shown))
    return phases
