"""Network builders by name. Each returns a `ModelPair` of plain Keras models.

    pair = build_models("dcgan64", resolution=32, channels=1, head="sigmoid")
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

from dcgan_tf.models.common import ModelPair
from dcgan_tf.models.dcgan import RESOLUTIONS as _DCGAN_RES, build_dcgan64
from dcgan_tf.models.faces import RESOLUTIONS as _FACES_RES, build_faces96
from dcgan_tf.models.mnist import RESOLUTIONS as _MNIST_RES, build_mnist28
from dcgan_tf.registry import Registry


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


def build_models(name: str, **options) -> ModelPair:
    """Builds the generator and discriminator of model `name` with builder `options`.

    Raises ValueError for an unknown model, an unknown option, or a value the builder
    rejects (resolution it cannot make, latent size <= 0, ...).
    """
    family = MODELS.get(name)
    unknown = sorted(set(options) - set(family.options()))
    if unknown:
        raise ValueError(
            f"Model {name!r} has no option(s) {unknown}. Expected some of {family.options()}."
        )
    return family.build(**options)


__all__ = ["MODELS", "ModelFamily", "ModelPair", "build_models"]
