"""A Config -> the resolved parts of the update step (the one place names are looked up).

    parts = step_components(config, generator)
    gan.compile(d_optimizer, g_optimizer, **parts)

Names (loss, regularizers, augmentations) are resolved here once; `GAN.compile` takes the
objects. A ValueError from any part names the bad value.
"""

from __future__ import annotations

import keras

from dcgan_tf.gan import losses as losses_lib
from dcgan_tf.gan.augment import augmentations_from_config
from dcgan_tf.gan.ema import GeneratorEMA
from dcgan_tf.gan.model import UpdateRule
from dcgan_tf.gan.growth import ProgressiveGrowth
from dcgan_tf.gan.regularizers import regularizers_from_config
from dcgan_tf.gan.schedules import GrowthSchedule


def resolution_map(name: str, text: str, cast) -> tuple:
    """'4:64,8:32' -> ((4, 64), (8, 32)); ValueError naming the flag otherwise."""
    pairs = []
    for part in [p for p in (text or "").split(",") if p.strip()]:
        try:
            res, value = part.split(":")
            pairs.append((int(res), cast(value)))
        except ValueError:
            raise ValueError(f"--{name} must look like 4:64,8:32 (resolution:value), got "
                             f"{text!r}.") from None
    return tuple(pairs)


def growth_schedule(config, final_resolution: int | None = None) -> GrowthSchedule:
    return GrowthSchedule(
        start_resolution=config.start_resolution,
        final_resolution=config.resolution or final_resolution,
        fade_images=int(round(config.fade_kimg * 1000)),
        stable_images=int(round(config.stable_kimg * 1000)), batch_size=config.batch_size,
        learning_rate=config.g_lr,
        batch_sizes=resolution_map("resolution_batch_sizes", config.resolution_batch_sizes, int),
        learning_rates=resolution_map("resolution_lrs", config.resolution_lrs, float))


def step_components(config, generator, discriminator=None) -> dict:
    """Keyword arguments of `GAN.compile` (besides the optimizers) for `config`."""
    spec = losses_lib.get_loss(config.loss)
    growth = None
    if hasattr(generator, "levels"):  # a growing network pair (pggan)
        growth = ProgressiveGrowth(growth_schedule(config, generator.resolution), generator,
                                   discriminator)
    return {
        "growth": growth,
        "loss": spec,
        "targets": losses_lib.Targets(config.label_flip, config.label_smoothing),
        "regularizers": regularizers_from_config(config, spec),
        "augmentations": augmentations_from_config(config),
        "ema": GeneratorEMA.from_config(config, generator),
        "update": UpdateRule(config.d_steps, config.g_steps, config.update, config.d_pass),
    }


def optimizers(config) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(D's, G's) Adam with the run's separate settings."""
    return (keras.optimizers.Adam(config.d_lr, beta_1=config.d_beta1, beta_2=config.d_beta2,
                                  epsilon=config.adam_epsilon),
            keras.optimizers.Adam(config.g_lr, beta_1=config.g_beta1, beta_2=config.g_beta2,
                                  epsilon=config.adam_epsilon))
