"""Latent distributions by name: normal (default; sources 000, 002, 003) and uniform in
[-1, 1] (source 004).

Sampling is stateless: it takes a seed, either a Python int (the same int always gives the
same z, in any process) or a [2] integer tensor drawn from the GAN's checkpointed
`keras.random.SeedGenerator` (see `GAN.next_seed`).

Paths through latent space: `slerp` and `interpolation_path` (dcgan_tf.generate, the web app).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.registry import Registry


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

    def sample(self, shape, seed, truncation: float | None = None) -> tf.Tensor:
        """Draws float32 z of `shape`. `truncation` > 0 rescales towards the mode.

        For the normal distribution, truncation t redraws nothing; it multiplies z by t
        (the "temperature" of Kingma & Dhariwal 2018), which is smooth and deterministic.
        For the uniform distribution it shrinks the support to [-t, t].
        """
        z = self.sample_fn(shape, as_seed(seed))
        if truncation is not None:
            z = z * tf.constant(truncation, tf.float32)
        return z


def _normal(shape, seed):
    return tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32)


def _uniform(shape, seed):
    return tf.random.stateless_uniform(shape, seed=seed, minval=-1.0, maxval=1.0)


LATENTS: Registry[LatentDistribution] = Registry("latent distribution")
LATENTS.register("normal", LatentDistribution("normal", _normal))
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
    if method not in ("slerp", "linear"):
        raise UserError(f"Unknown --method {method!r}. Expected one of ['linear', 'slerp'].")
    path = []
    for i in range(len(zs) - 1):
        for k in range(frames):
            t = k / (frames - 1)
            if i > 0 and k == 0:
                continue  # the joint is the previous leg's last point
            path.append(slerp(zs[i], zs[i + 1], t) if method == "slerp"
                        else (1 - t) * zs[i] + t * zs[i + 1])
    return np.stack(path).astype(np.float32)
