"""A Config -> networks, the parts of the update step and the GAN: the one public door
from a run configuration into the package (the trainer, the workdir layer, tools/ and the
tests all come through here; every Config lookup by name happens in this file).

    config = resolve_config(config)        # resolution, channels, D's head filled in
    pair = build_from_config(config)       # the networks (models.build_models)
    gan = build_gan(config, pair)          # GAN compiled with its optimizers and parts
    parts = step_components(config, pair.generator, pair.discriminator)  # GAN.compile's

Names (model, loss, regularizers, augmentations) are resolved here once; `GAN.compile`
takes the objects. A ValueError from any part names the bad value (build_gan raises it as
a UserError).
"""

from __future__ import annotations

import dataclasses
import math

import keras

from dcgan_tf.config import MODEL_OPTION_FIELDS
from dcgan_tf.gan import losses as losses_lib
from dcgan_tf.gan.augment import augmentations_from_config
from dcgan_tf.gan.ema import GeneratorEMA
from dcgan_tf.gan.top_k import TopK
from dcgan_tf.gan.update import UpdateRule
from dcgan_tf.gan.growth import ProgressiveGrowth
from dcgan_tf.gan.model import GAN
from dcgan_tf.gan.regularizers import regularizers_from_config
from dcgan_tf.gan.schedules import GrowthSchedule
from dcgan_tf.models import MODELS, ModelFamily, ModelPair, build_models
from dcgan_tf.models.blocks import frozen_variables
from dcgan_tf.models.layers import MinibatchStdDev
from dcgan_tf.models.common import (synchronize_batchnorm, with_plain_batchnorm,
                                    with_spectral_norm)
from dcgan_tf.utils.errors import UserError


def model_family(config) -> ModelFamily:
    """The registered family of --model: what its networks can do (grows, conditional...)."""
    return MODELS.get(config.model)


def check_run_length(config) -> None:
    """A growing model measures its run in shown images: UserError unless --total_kimg
    (the trainer's check; a dry run has no length)."""
    if model_family(config).grows and not config.total_kimg and not config.dry_run:
        raise UserError(f"--model={config.model} measures its length in shown images: set "
                        "--total_kimg (the paper's schedule is in kimg).")


def resolve_config(config):
    """Fills the choices that depend on others: resolution and channels from the model,
    the discriminator head from the loss. Raises ValueError for unknown names."""
    defaults = model_family(config).defaults()
    return config.replace(
        resolution=config.resolution or defaults["resolution"],
        channels=config.channels or defaults["channels"],
        d_head=config.d_head or losses_lib.get_loss(config.loss).default_head,
    )


def build_from_config(config, *, plain_batchnorm: bool = False) -> ModelPair:
    """The networks a (resolved) run configuration describes (D spectrally normalised with
    --spectral_norm). `plain_batchnorm`: with Keras' own BatchNormalization instead of the
    fused layer the builders use (models/batchnorm.py), e.g. to measure one against the
    other."""
    options = {k: getattr(config, k) for k in MODEL_OPTION_FIELDS
               if getattr(config, k) is not None}
    pair = build_models(config.model, resolution=config.resolution, channels=config.channels,
                        latent_dim=config.latent_dim, head=config.d_head,
                        num_classes=config.num_classes, d_conditioning=config.d_conditioning,
                        **options)
    pack = getattr(config, "pack", 1)
    if pack > 1:
        if model_family(config).grows or config.num_classes:
            raise ValueError(f"--pack packs the images of unconditional, non-growing models; "
                             f"--model={config.model}"
                             + (f" with --num_classes={config.num_classes}"
                                if config.num_classes else "") + " cannot use it.")
        packed = build_models(config.model, resolution=config.resolution,
                              channels=config.channels * pack, latent_dim=config.latent_dim,
                              head=config.d_head, **options)
        pair = dataclasses.replace(pair, discriminator=packed.discriminator)
    if plain_batchnorm:
        pair = dataclasses.replace(pair, generator=with_plain_batchnorm(pair.generator),
                                   discriminator=with_plain_batchnorm(pair.discriminator))
    if getattr(config, "spectral_norm", False):
        if not model_family(config).spectral_norm:
            raise ValueError(f"--spectral_norm wraps Conv2D/Dense layers; {config.model}'s "
                             "equalized layers already control their scale.")
        pair = dataclasses.replace(pair, discriminator=with_spectral_norm(pair.discriminator))
    if getattr(config, "sync_batchnorm", False):
        for model in (pair.generator, pair.discriminator):
            synchronize_batchnorm(model)
    return pair


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
        d_learning_rate=config.d_lr, g_learning_rate=config.g_lr,
        batch_sizes=resolution_map("resolution_batch_sizes", config.resolution_batch_sizes, int),
        learning_rates=resolution_map("resolution_lrs", config.resolution_lrs, float))


def check_stddev_groups(config, discriminator) -> None:
    """Every batch size of the run (--batch_size, --resolution_batch_sizes) must split into
    D's minibatch-stddev groups (a batch smaller than a group is one group): ValueError
    naming the size and the flags before training starts, not at the first step."""
    groups = [layer.group_size for layer in discriminator._flatten_layers()
              if isinstance(layer, MinibatchStdDev)]
    group = groups[0] if groups else 0
    if not group:
        return
    sizes = {config.batch_size} | {size for _, size in resolution_map(
        "resolution_batch_sizes", config.resolution_batch_sizes, int)}
    pack = max(1, getattr(config, "pack", 1))  # D sees batch / pack packed samples
    bad = sorted(size for size in sizes if size // pack > group and (size // pack) % group)
    if bad:
        seen = f" ({bad[0] // pack} packs of {pack})" if pack > 1 else ""
        raise ValueError(f"Batch size {bad[0]}{seen} does not split into minibatch-stddev "
                         f"groups of {group}: use multiples of {group * pack} (--batch_size, "
                         "--resolution_batch_sizes) or --mbstd_group_size=0 (the whole "
                         "batch).")


def step_components(config, generator, discriminator=None) -> dict:
    """Keyword arguments of `GAN.compile` (besides the optimizers) for `config`."""
    spec = losses_lib.get_loss(config.loss)
    growth = None
    if model_family(config).grows:
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
        "top_k": TopK.from_config(config),
        "d_frozen": (frozen_variables(config.model, discriminator, config.freeze_d)
                     if discriminator is not None else ()),
    }


def optimizers(config) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(D's, G's) Adam with the run's separate settings."""
    return (keras.optimizers.Adam(config.d_lr, beta_1=config.d_beta1, beta_2=config.d_beta2,
                                  epsilon=config.adam_epsilon),
            keras.optimizers.Adam(config.g_lr, beta_1=config.g_beta1, beta_2=config.g_beta2,
                                  epsilon=config.adam_epsilon))


def build_gan(config, pair: ModelPair | None = None, *, plain_batchnorm: bool = False) -> GAN:
    """The GAN of a resolved `config` with its optimizers and every part of its update step
    (on `pair`, or on networks built here; `plain_batchnorm` as in build_from_config).
    Raises UserError for a bad value."""
    try:
        pair = pair or build_from_config(config, plain_batchnorm=plain_batchnorm)
        check_stddev_groups(config, pair.discriminator)
        gan = GAN(pair.generator, pair.discriminator, latent_dim=config.latent_dim,
                  latent=config.latent, head=config.d_head, seed=config.seed,
                  sample_bn=config.sample_bn, pack=getattr(config, "pack", 1))
        d_opt, g_opt = optimizers(config)
        gan.compile(d_opt, g_opt,
                    **step_components(config, pair.generator, pair.discriminator),
                    jit_compile=config.jit_compile,
                    steps_per_execution=config.steps_per_execution)
    except ValueError as e:
        raise UserError(str(e)) from e
    return gan


def summaries(networks) -> str:
    """Keras summaries of both networks (of a ModelPair or a GAN) with their trainable
    parameter counts."""
    lines = []
    for model in (networks.generator, networks.discriminator):
        model.summary(print_fn=lambda s, **_: lines.append(s))
        count = sum(int(math.prod(v.shape)) for v in model.trainable_variables)
        lines.append(f"{model.name}: {count:,} trainable parameters\n")
    return "\n".join(lines)
