"""The DCGAN pair of Radford et al. 2016 as in the PyTorch tutorial (source 000).

Generator: z -> ConvT 4x4 s1 to 4x4x(ngf * 2^(n-1)) -> n-1 ConvT 4x4 s2 blocks halving the
width -> ConvT 4x4 s2 to RxRxC, tanh. BatchNorm + ReLU everywhere but the output; no biases.
Discriminator: the mirror: Conv 4x4 s2 blocks doubling the width from ndf (no BatchNorm on
the first), LeakyReLU 0.2, then a 4x4 valid conv to the head's units. n = log2(R / 4).
With `mbstd_group_size` set, a minibatch-stddev map (Karras et al. 2018, models/layers.py)
joins the last 4x4 features before that conv: a mode-collapse lever, off by default.
"""

from __future__ import annotations

import math

import keras

from dcgan_tf.models.common import (
    ModelPair,
    batch_norm,
    check_common,
    check_positive_int,
    conv_init,
    float32_logits,
)
from dcgan_tf.models.layers import MinibatchStdDev

RESOLUTIONS = (32, 64, 128)


def build_dcgan64(
    *,
    resolution: int = 64,
    latent_dim: int = 100,
    channels: int = 3,
    head: str = "sigmoid",
    ngf: int = 64,
    ndf: int = 64,
    mbstd_group_size: int | None = None,
) -> ModelPair:
    units = check_common(
        model="dcgan64", resolution=resolution, resolutions=RESOLUTIONS,
        latent_dim=latent_dim, channels=channels, head=head,
    )
    check_positive_int("ngf", ngf)
    check_positive_int("ndf", ndf)
    stddev = None if mbstd_group_size is None else MinibatchStdDev(
        mbstd_group_size, 1, name="minibatch_stddev")  # checks the group size
    n = int(math.log2(resolution // 4))  # stride-2 blocks between 4x4 and R x R

    # ---- generator
    z = keras.Input((latent_dim,), name="z")
    x = keras.layers.Reshape((1, 1, latent_dim), name="z_to_map")(z)
    width = ngf * 2 ** (n - 1)
    x = keras.layers.Conv2DTranspose(
        width, 4, strides=1, padding="valid", use_bias=False,
        kernel_initializer=conv_init(), name="project")(x)  # [N, 4, 4, ngf*2^(n-1)]
    x = batch_norm("project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    for i in range(1, n):
        width //= 2
        x = keras.layers.Conv2DTranspose(
            width, 4, strides=2, padding="same", use_bias=False,
            kernel_initializer=conv_init(), name=f"up{i}")(x)  # [N, 4*2^i, 4*2^i, width]
        x = batch_norm(f"up{i}_bn")(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = keras.layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", use_bias=False,
        kernel_initializer=conv_init(), dtype="float32", name="to_image")(x)
    images = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)  # [N, R, R, C]
    generator = keras.Model(z, images, name="dcgan64_generator")

    # ---- discriminator
    inp = keras.Input((resolution, resolution, channels), name="images")
    x = inp
    width = ndf
    for i in range(n):
        x = keras.layers.Conv2D(
            width, 4, strides=2, padding="same", use_bias=False,
            kernel_initializer=conv_init(), name=f"down{i}")(x)  # [N, R/2^(i+1), ..., width]
        if i > 0:
            x = batch_norm(f"down{i}_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        width *= 2
    if stddev is not None:
        x = stddev(x)  # [N, 4, 4, width + 1]
    x = keras.layers.Conv2D(
        units, 4, strides=1, padding="valid", use_bias=False,
        kernel_initializer=conv_init(), dtype="float32", name="logits")(x)  # [N, 1, 1, units]
    logits = float32_logits(x, units, "logits")
    discriminator = keras.Model(inp, logits, name="dcgan64_discriminator")
    return ModelPair(generator, discriminator, latent_dim, resolution, channels, head)
