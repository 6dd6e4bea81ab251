"""A Config -> the resolved parts of the update step (the one place names are looked up).

    parts = step_components(config, generator)
    gan.compile(d_optimizer, g_optimizer, **parts)

Names (loss, regularizers, augmentations) are resolved here once; `GAN.compile` takes the
objects. A ValueError from any part names the bad value.
"""

from __future__ import annotations

import keras

from dcgan_tf import losses as losses_lib
from dcgan_tf.augment import augmentations_from_config
from dcgan_tf.ema import GeneratorEMA
from dcgan_tf.gan import UpdateRule
from dcgan_tf.regularizers import regularizers_from_config


def step_components(config, generator) -> dict:
    """Keyword arguments of `GAN.compile` (besides the optimizers) for `config`."""
    spec = losses_lib.get_loss(config.loss)
    return {
        "loss": spec,
        "targets": losses_lib.Targets(config.label_flip, config.label_smoothing),
        "regularizers": regularizers_from_config(config, spec),
        "augmentations": augmentations_from_config(config),
        "ema": GeneratorEMA.from_config(config, generator),
        "update": UpdateRule(config.d_steps, config.g_steps, config.update),
    }


def optimizers(config) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(D's, G's) Adam with the run's separate settings."""
    return (keras.optimizers.Adam(config.d_lr, beta_1=config.d_beta1, beta_2=config.d_beta2),
            keras.optimizers.Adam(config.g_lr, beta_1=config.g_beta1, beta_2=config.g_beta2))
