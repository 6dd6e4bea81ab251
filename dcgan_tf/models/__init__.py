"""Network builders by name. Each returns a `ModelPair` of plain Keras models.

    pair = build_models("dcgan64", resolution=32, channels=1, head="sigmoid")
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

from dcgan_tf.gan.losses import get_loss
from dcgan_tf.models import conditional
from dcgan_tf.models.common import ModelPair, synchronize_batchnorm, with_spectral_norm
from dcgan_tf.models.dcgan import RESOLUTIONS as _DCGAN_RES, build_dcgan64
from dcgan_tf.models.faces import RESOLUTIONS as _FACES_RES, build_faces96
from dcgan_tf.models.mnist import RESOLUTIONS as _MNIST_RES, build_mnist28
from dcgan_tf.models.pggan import RESOLUTIONS as _PGGAN_RES, build_pggan
from dcgan_tf.utils.registry import Registry, check_choice


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """A registered architecture: its builder and the resolutions it can make."""

    name: str
    build: Callable[..., ModelPair]
    resolutions: tuple[int, ...]

    def defaults(self) -> dict:
        """The builder's keyword defaults (resolution, latent_dim, channels, head, ...)."""
        return {
            k: p.default
            for k, p in inspect.signature(self.build).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    def options(self) -> list[str]:
        return list(inspect.signature(self.build).parameters)


MODELS: Registry[ModelFamily] = Registry("model")
MODELS.register("dcgan64", ModelFamily("dcgan64", build_dcgan64, _DCGAN_RES))
MODELS.register("mnist28", ModelFamily("mnist28", build_mnist28, _MNIST_RES))
MODELS.register("faces96", ModelFamily("faces96", build_faces96, _FACES_RES))
MODELS.register("pggan", ModelFamily("pggan", build_pggan, _PGGAN_RES))


def build_models(name: str, *, num_classes: int = 0, d_conditioning: str = "input",
                 **options) -> ModelPair:
    """Builds the generator and discriminator of model `name` with builder `options`;
    with num_classes > 0 both are conditional (see models/conditional.py).

    Raises ValueError for an unknown model, an unknown option, or a value the builder
    rejects (resolution it cannot make, latent size <= 0, ...).
    """
    family = MODELS.get(name)
    unknown = sorted(set(options) - set(family.options()))
    if unknown:
        raise ValueError(
            f"Model {name!r} has no option(s) {unknown}. Expected some of {family.options()}."
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an integer >= 0, got {num_classes!r}.")
    if num_classes == 0:
        return family.build(**options)
    if name == "pggan":
        raise ValueError("pggan has no conditional form here; use num_classes=0.")
    check_choice("d_conditioning", d_conditioning, conditional.D_CONDITIONING)
    defaults = family.defaults()
    latent_dim = options.get("latent_dim", defaults["latent_dim"])
    channels = options.get("channels", defaults["channels"])
    head = options.get("head", defaults["head"])
    g_base = family.build(**dict(options, latent_dim=latent_dim + num_classes))
    d_channels = channels + num_classes if d_conditioning == "input" else channels
    d_base = family.build(**dict(options, channels=d_channels))
    resolution = g_base.resolution
    generator = conditional.wrap_generator(g_base.generator, latent_dim, num_classes)
    if d_conditioning == "input":
        discriminator = conditional.input_discriminator(d_base.discriminator, resolution,
                                                        channels, num_classes)
    elif d_conditioning in ("hidden", "input+hidden"):
        discriminator = conditional.hidden_discriminator(
            d_base.discriminator, resolution, channels, num_classes,
            also_input=d_conditioning == "input+hidden")
    else:
        discriminator = conditional.projection_discriminator(d_base.discriminator, head,
                                                             num_classes)
    return ModelPair(generator, discriminator, latent_dim, resolution, channels, head,
                     num_classes)


# Config fields that are builder options of some architectures (None: the builder's default).
MODEL_OPTION_FIELDS = ("ngf", "ndf", "g_preset", "g_depths", "d_depths", "bn_affine",
                       "fmap_base", "fmap_max")


def resolve_config(config):
    """Fills the choices that depend on others: resolution and channels from the model,
    the discriminator head from the loss. Raises ValueError for unknown names."""
    defaults = MODELS.get(config.model).defaults()
    return config.replace(
        resolution=config.resolution or defaults["resolution"],
        channels=config.channels or defaults["channels"],
        d_head=config.d_head or get_loss(config.loss).default_head,
    )


def build_from_config(config) -> ModelPair:
    """The networks a (resolved) run configuration describes (D spectrally normalised with
    --spectral_norm)."""
    options = {k: getattr(config, k) for k in MODEL_OPTION_FIELDS
               if getattr(config, k) is not None}
    pair = build_models(config.model, resolution=config.resolution, channels=config.channels,
                        latent_dim=config.latent_dim, head=config.d_head,
                        num_classes=config.num_classes, d_conditioning=config.d_conditioning,
                        **options)
    if getattr(config, "spectral_norm", False):
        if config.model == "pggan":
            raise ValueError("--spectral_norm wraps Conv2D/Dense layers; pggan's equalized "
                             "layers already control their scale.")
        pair = dataclasses.replace(pair, discriminator=with_spectral_norm(pair.discriminator))
    if getattr(config, "sync_batchnorm", False):
        for model in (pair.generator, pair.discriminator):
            synchronize_batchnorm(model)
    return pair


__all__ = ["MODELS", "MODEL_OPTION_FIELDS", "ModelFamily", "ModelPair", "build_from_config",
           "build_models", "resolve_config"]
