"""Network builders by name. Each returns a `ModelPair` of plain Keras models.

    pair = build_models("dcgan64", resolution=32, channels=1, head="sigmoid")
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

from dcgan_tf.models import conditional
from dcgan_tf.models.common import ModelPair
from dcgan_tf.models.dcgan import RESOLUTIONS as _DCGAN_RES, build_dcgan64
from dcgan_tf.models.faces import RESOLUTIONS as _FACES_RES, build_faces96
from dcgan_tf.models.mnist import RESOLUTIONS as _MNIST_RES, build_mnist28
from dcgan_tf.models.pggan import RESOLUTIONS as _PGGAN_RES, build_pggan
from dcgan_tf.utils.registry import Registry, check_choice


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """A registered architecture: its builder, the resolutions it can make, and what it can
    do. Code that depends on a capability asks the family (MODELS.get(name).grows), never
    the model's name or its attributes, so a new model with a capability edits this file.

    grows: the networks grow during training (set_level, final_model(); its runs are
      measured in shown images, --total_kimg, and follow a GrowthSchedule);
    conditional: it has a conditional form (num_classes > 0);
    spectral_norm: --spectral_norm may wrap its discriminator's Conv2D/Dense layers.
    """

    name: str
    build: Callable[..., ModelPair]
    resolutions: tuple[int, ...]
    grows: bool = False
    conditional: bool = True
    spectral_norm: bool = True

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
MODELS.register("pggan", ModelFamily("pggan", build_pggan, _PGGAN_RES, grows=True,
                                      conditional=False, spectral_norm=False))


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
    if not family.conditional:
        raise ValueError(f"{name} has no conditional form here; use num_classes=0.")
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


__all__ = ["MODELS", "ModelFamily", "ModelPair", "build_models"]
