"""The 96x96 face DCGAN of source 004 (TensorFlow 1).

Generator: z -> dense with one bias per channel -> [N, R/16, R/16, d0] -> BN, ReLU -> four 5x5 stride-2 transposed
convs (d1, d2, d3, C) with BN + ReLU between and tanh at the end.
Discriminator: four 5x5 stride-2 convs (64/128/256/512 by default), each with BN and
LeakyReLU 0.2 (the source normalises the first one too), then a dense layer to the head.
Weights from a truncated N(0, 0.02), biases everywhere, and BatchNorm without learned
scale and offset (`tf.nn.batch_normalization(..., None, None, 1e-5)` in the source);
`bn_affine=True` adds them.
"""

from __future__ import annotations

import keras

from dcgan_tf.models.common import (
    DCGAN_STDDEV,
    ModelPair,
    batch_norm,
    check_common,
    float32_logits,
)

RESOLUTIONS = (48, 64, 96, 128)
G_PRESETS = {
    "paper": (1024, 512, 256, 128),  # Radford et al. 2016
    "cpu": (250, 150, 90, 54),  # what source 004 trained on a CPU
}
D_DEPTHS = (64, 128, 256, 512)


def _init():
    return keras.initializers.TruncatedNormal(mean=0.0, stddev=DCGAN_STDDEV)


def _depths(name, value, length):
    depths = tuple(value)
    if len(depths) != length or any(
        isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in depths
    ):
        raise ValueError(f"{name} must be {length} positive integers, got {value!r}.")
    return depths


def build_faces96(
    *,
    resolution: int = 96,
    latent_dim: int = 100,
    channels: int = 3,
    head: str = "softmax2",
    g_preset: str = "paper",
    g_depths=None,
    d_depths=D_DEPTHS,
    bn_affine: bool = False,
) -> ModelPair:
    units = check_common(
        model="faces96", resolution=resolution, resolutions=RESOLUTIONS,
        latent_dim=latent_dim, channels=channels, head=head,
    )
    if g_depths is None:
        if g_preset not in G_PRESETS:
            raise ValueError(
                f"Unknown g_preset {g_preset!r}. Expected one of {sorted(G_PRESETS)}."
            )
        g_depths = G_PRESETS[g_preset]
    g_depths = _depths("g_depths", g_depths, 4)
    d_depths = _depths("d_depths", d_depths, 4)
    base = resolution // 16

    z = keras.Input((latent_dim,), name="z")
    # The source's first layer: matmul to R/16 x R/16 x d0, reshape, then ONE BIAS PER
    # CHANNEL (b0 = [d0]). A transposed conv with an R/16 x R/16 kernel on the 1x1 map of z
    # is exactly that (same weights, d0 biases) in a built-in layer.
    x = keras.layers.Reshape((1, 1, latent_dim), name="z_map")(z)  # [N, 1, 1, latent]
    x = keras.layers.Conv2DTranspose(
        g_depths[0], base, strides=1, padding="valid", kernel_initializer=_init(),
        name="project")(x)  # [N, R/16, R/16, d0]
    x = batch_norm("project_bn", affine=bn_affine)(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    for i, filters in enumerate(g_depths[1:]):
        x = keras.layers.Conv2DTranspose(
            filters, 5, strides=2, padding="same", kernel_initializer=_init(),
            name=f"up{i}")(x)  # [N, R/8 .. R/2, ..., filters]
        x = batch_norm(f"up{i}_bn", affine=bn_affine)(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = keras.layers.Conv2DTranspose(
        channels, 5, strides=2, padding="same", kernel_initializer=_init(),
        dtype="float32", name="to_image")(x)
    images = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)  # [N, R, R, C]
    generator = keras.Model(z, images, name="faces96_generator")

    inp = keras.Input((resolution, resolution, channels), name="images")
    x = inp
    for i, filters in enumerate(d_depths):
        x = keras.layers.Conv2D(
            filters, 5, strides=2, padding="same", kernel_initializer=_init(),
            name=f"down{i}")(x)  # [N, R/2^(i+1), ..., filters]
        x = batch_norm(f"down{i}_bn", affine=bn_affine)(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(units, kernel_initializer=_init(), dtype="float32", name="logits")(x)
    logits = float32_logits(x, units, "logits")
    discriminator = keras.Model(inp, logits, name="faces96_discriminator")
    return ModelPair(generator, discriminator, latent_dim, resolution, channels, head)
