"""Latent distributions by name: normal (default; sources 000, 002, 003) and uniform in
[-1, 1] (source 004).

Sampling is stateless: it takes a seed, either a Python int (the same int always gives the
same z, in any process) or a [2] integer tensor drawn from the GAN's checkpointed
`keras.random.SeedGenerator` (see `GAN.next_seed`).

Truncation (`truncation=t`, `truncation_method` of config.TRUNCATION):
- resample (default): the truncated normal of BigGAN (Brock et al. 2019): every component
  with |z_i| > t is redrawn inside [-t, t]. Stateless and exact in one round: a component
  inside is kept (so the image of a seed changes only where its z was beyond t), one
  outside is replaced by an independent draw from N(0, 1) restricted to [-t, t] by the
  inverse CDF, sqrt(2) erfinv(erf(t / sqrt(2)) v) with v ~ U(-1, 1) drawn from the seed
  folded with 1 (`tf.random.experimental.stateless_fold_in(seed, 1)`). Keeping the inside
  ones and redrawing the outside ones from the truncated law gives exactly the truncated
  normal, as rejection ("redraw until inside") does, without a loop or a final clip.
- scale: z * t (the "temperature" of Kingma & Dhariwal 2018), the behaviour before.
Uniform z in [-1, 1] shrinks its support to [-t, t] (z * t) under either name.
The StyleGAN truncation (lerp towards the mean of w) needs a mapping network; no model
here has one, so it does not apply.

Paths through latent space: `slerp` and `interpolation_path` (dcgan_tf.generate, the web app).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import math

import numpy as np
import tensorflow as tf

from dcgan_tf.config import INTERPOLATION, TRUNCATION
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.registry import Registry, check_choice


def as_seed(seed) -> tf.Tensor:
    """int -> [seed, 0]; a [2] tensor passes through. Returns an int64 [2] tensor."""
    if isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    if isinstance(seed, int):
        return tf.constant([seed, 0], dtype=tf.int64)
    return tf.cast(seed, tf.int64)


@dataclasses.dataclass(frozen=True)
class LatentDistribution:
    name: str
    sample_fn: Callable[..., tf.Tensor]
    # (z, seed, t) -> z truncated at t by resampling; None: resampling is scaling here
    resample_fn: Callable[..., tf.Tensor] | None = None

    def sample(self, shape, seed, truncation: float | None = None,
               truncation_method: str = "resample") -> tf.Tensor:
        """Draws float32 z of `shape`; `truncation` t > 0 shortens it (module doc):
        `truncation_method` resample (truncated normal) or scale (z * t)."""
        check_choice("truncation_method", truncation_method, TRUNCATION)
        seed = as_seed(seed)
        z = self.sample_fn(shape, seed)
        if truncation is None:
            return z
        t = tf.cast(truncation, tf.float32)
        if truncation_method == "scale" or self.resample_fn is None:
            return z * t
        return self.resample_fn(z, seed, t)


def _normal(shape, seed):
    return tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32)


def _normal_resample(z, seed, t):
    """Components of z beyond +-t replaced by draws of N(0, 1) restricted to [-t, t]."""
    redraw_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    v = tf.random.stateless_uniform(tf.shape(z), seed=redraw_seed, minval=-1.0, maxval=1.0)
    inside = math.sqrt(2.0) * tf.math.erfinv(tf.math.erf(t / math.sqrt(2.0)) * v)
    inside = tf.clip_by_value(inside, -t, t)  # float rounding of erfinv(erf(.)) only
    return tf.where(tf.abs(z) <= t, z, inside)


def _uniform(shape, seed):
    return tf.random.stateless_uniform(shape, seed=seed, minval=-1.0, maxval=1.0)


LATENTS: Registry[LatentDistribution] = Registry("latent distribution")
LATENTS.register("normal", LatentDistribution("normal", _normal, _normal_resample))
LATENTS.register("uniform", LatentDistribution("uniform", _uniform))


def get_latent(name: str) -> LatentDistribution:
    return LATENTS.get(name)


def slerp(a, b, t):
    """Spherical interpolation between vectors a and b (linear when they are parallel)."""
    a_n, b_n = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(a_n, b_n), -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_path(zs, frames: int, method: str) -> np.ndarray:
    """z along zs[0] -> zs[1] -> ... with `frames` points per leg (ends included once)."""
    if method not in INTERPOLATION:
        raise UserError(f"Unknown --method {method!r}. Expected one of {list(INTERPOLATION)}.")
    path = []
    for i in range(len(zs) - 1):
        for k in range(frames):
            t = k / (frames - 1)
            if i > 0 and k == 0:
                continue  # the joint is the previous leg's last point
            path.append(slerp(zs[i], zs[i + 1], t) if method == "slerp"
                        else (1 - t) * zs[i] + t * zs[i + 1])
    return np.stack(path).astype(np.float32)
