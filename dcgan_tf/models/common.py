"""Pieces shared by the network builders: initializers, BatchNorm settings, checks."""

from __future__ import annotations

import dataclasses

import keras

from dcgan_tf.models.heads import get_head
from dcgan_tf.models.batchnorm import BatchStatisticsNormalization, FusedBatchNormalization
from dcgan_tf.utils.registry import check_positive_int

# DCGAN paper (Radford et al. 2016, sec. 4): all weights from N(0, 0.02).
DCGAN_STDDEV = 0.02


@dataclasses.dataclass(frozen=True)
class ModelPair:
    """What every builder returns: two plain Keras models and how they fit together."""

    generator: keras.Model
    discriminator: keras.Model
    latent_dim: int
    resolution: int
    channels: int
    head: str
    num_classes: int = 0  # > 0: both networks take a label vector as second input


def conv_init(seed=None):
    return keras.initializers.RandomNormal(mean=0.0, stddev=DCGAN_STDDEV, seed=seed)


def gamma_init(seed=None):
    """BatchNorm gamma ~ N(1, 0.02), beta = 0 (PyTorch DCGAN tutorial's weights_init)."""
    return keras.initializers.RandomNormal(mean=1.0, stddev=DCGAN_STDDEV, seed=seed)


def batch_norm(name: str, *, affine: bool = True) -> keras.layers.BatchNormalization:
    """BatchNorm with PyTorch's constants (momentum 0.1 there = 0.9 here, eps 1e-5), on
    TensorFlow's fused kernel while training (models/batchnorm.py).

    Keras' defaults (0.99, 1e-3) make the moving statistics lag far behind a GAN's fast
    changing activations, so samples drawn in inference mode look worse than training ones.
    """
    return FusedBatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        center=affine,
        scale=affine,
        gamma_initializer=gamma_init() if affine else "ones",
        name=name,
    )


def check_common(*, model: str, resolution, resolutions, latent_dim, channels, head) -> int:
    """Validates the arguments every builder shares; returns the head's output units."""
    if resolution not in resolutions:
        raise ValueError(
            f"Model {model!r} cannot make resolution {resolution!r}. "
            f"Expected one of {sorted(resolutions)}."
        )
    check_positive_int("latent_dim", latent_dim)
    check_positive_int("channels", channels)
    return get_head(head).units


def float32_logits(x, units: int, name: str):
    """Reshapes D's last layer output to float32 logits [N, units]."""
    x = keras.layers.Reshape((units,), name=f"{name}_reshape", dtype="float32")(x)
    return x


def with_spectral_norm(model: keras.Model) -> keras.Model:
    """A copy of `model` whose Conv2D and Dense layers (nested models included) are wrapped
    in Keras' built-in `SpectralNormalization` (Miyato et al. 2018; one power iteration per
    training call, which divides the stored kernel by its largest singular value), so the
    saved model loads without dcgan_tf. Freshly built weights are not carried over."""
    sn_types = (keras.layers.Conv2D, keras.layers.Dense)

    def replace(layer, fresh):
        if isinstance(layer, sn_types) and not isinstance(layer, keras.layers.Conv2DTranspose):
            return keras.layers.SpectralNormalization(fresh, name=f"{layer.name}_sn",
                                                      dtype=layer.dtype_policy)
        return fresh

    found = [l for l in all_layers(model) if isinstance(l, sn_types)]
    if not found:
        raise ValueError(f"{model.name!r} has no Conv2D or Dense layer to spectrally "
                         "normalise.")
    return _clone_layers(model, replace)


def _clone_layers(model: keras.Model, replace) -> keras.Model:
    """A copy of `model` (nested models cloned too, fresh weights) in which every layer is
    `replace(layer, fresh_copy_of_layer)`."""
    def clone(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=clone)
        return replace(layer, layer.__class__.from_config(layer.get_config()))

    return keras.models.clone_model(model, clone_function=clone)


def synchronize_batchnorm(model) -> int:
    """Makes every BatchNormalization of `model` use the global batch's statistics under
    tf.distribute (an all-reduce of the moments per layer); returns how many it changed."""
    changed = 0
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            changed += 1
    return changed


def all_layers(model):
    """Every layer of `model`, nested models included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def with_plain_batchnorm(model: keras.Model) -> keras.Model:
    """`model` itself when it has no FusedBatchNormalization; otherwise a copy (same
    weights) with `keras.layers.BatchNormalization` in its place."""
    if not any(isinstance(l, FusedBatchNormalization) for l in all_layers(model)):
        return model

    def replace(layer, fresh):
        if isinstance(layer, FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return fresh

    copy = _clone_layers(model, replace)
    copy.set_weights(model.get_weights())
    return copy


def with_batch_statistics(model: keras.Model) -> keras.Model:
    """`model` itself when it has no BatchNormalization; otherwise a copy (same weights at
    the time of the call) whose BatchNorm layers normalise with the statistics of each batch
    they are given and never update their moving averages (--sample_bn=batch)."""
    if not any(isinstance(l, keras.layers.BatchNormalization) for l in all_layers(model)):
        return model

    def replace(layer, fresh):
        if isinstance(layer, keras.layers.BatchNormalization):
            return BatchStatisticsNormalization.from_config(layer.get_config())
        return fresh

    copy = _clone_layers(model, replace)
    copy.set_weights(model.get_weights())
    return copy
