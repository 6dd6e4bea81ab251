"""Transformations of every image the discriminator sees (real and fake, in D and G
updates): one class per augmentation, composed by the update step.

An augmentation is called on a batch [B, H, W, C] and returns a batch of the same shape and
dtype; it must be differentiable (G's gradient flows through it) and draw its randomness
from the GAN's checkpointed seed stream (`gan.next_seed()`). It may report per-step metrics
(`metrics(gan)`), keep state that checkpoints must hold (`checkpoint_items`), and watch D's
outputs on reals (`observe`, for adaptive schemes).

`AUGMENTATIONS` maps names to classes; `from_config(config)` returns an instance when the
run asks for it, or None.
"""

from __future__ import annotations

import math
from typing import ClassVar

import tensorflow as tf

from dcgan_tf.registry import Registry
from dcgan_tf.schedules import linear_decay


class Augmentation:
    name: ClassVar[str] = ""
    metric_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, config) -> Augmentation | None:
        raise NotImplementedError

    def __call__(self, images, gan):
        raise NotImplementedError

    def metrics(self, gan) -> dict:
        """{name: float32 scalar} reported for the current step."""
        return {}

    def observe(self, gan, real_logits) -> None:
        """Called after each D update with D's float32 logits on the (augmented) reals."""

    def checkpoint_items(self) -> dict:
        return {}


AUGMENTATIONS: Registry[type[Augmentation]] = Registry("augmentation")


@AUGMENTATIONS.register("instance_noise")
class InstanceNoise(Augmentation):
    """images + N(0, sigma^2), sigma falling linearly from `sigma` to 0 over `decay_steps`
    generator steps (0: constant). Sonderby et al. 2017; Arjovsky & Bottou 2017: noise
    makes the real and fake distributions overlap, so an overconfident D learns less."""

    name = "instance_noise"
    metric_names = ("noise_sigma",)

    def __init__(self, sigma: float, decay_steps: int = 0):
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (
                math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"instance_noise must be a finite number >= 0, got {sigma!r}.")
        if isinstance(decay_steps, bool) or not isinstance(decay_steps, int) or decay_steps < 0:
            raise ValueError(f"instance_noise_decay_steps must be >= 0, got {decay_steps!r}.")
        self.sigma = float(sigma)
        self.decay_steps = decay_steps

    @classmethod
    def from_config(cls, config):
        if config.instance_noise <= 0:
            return None
        return cls(config.instance_noise, config.instance_noise_decay_steps)

    def current_sigma(self, gan):
        return linear_decay(gan.g_step, start=self.sigma, decay_steps=self.decay_steps)

    def __call__(self, images, gan):
        noise = tf.random.stateless_normal(tf.shape(images), seed=gan.next_seed())
        sigma = self.current_sigma(gan)
        return images + tf.cast(sigma, images.dtype) * tf.cast(noise, images.dtype)

    def metrics(self, gan):
        return {"noise_sigma": self.current_sigma(gan)}


def augmentations_from_config(config) -> list[Augmentation]:
    found = []
    for name in AUGMENTATIONS:
        augmentation = AUGMENTATIONS[name].from_config(config)
        if augmentation is not None:
            found.append(augmentation)
    return found
