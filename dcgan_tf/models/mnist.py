"""The 28x28 MNIST DCGAN of source 003, layer for layer (PyTorch padding p0/p1 mapped to
Keras 'valid'/'same'; shapes and parameter counts are identical).

Generator (2,169,473 trainable parameters):
  z [N,100] -> ConvT(512, 3, s1, valid) 3x3 -> BN, ReLU -> ConvT(256, 3, s2, valid) 7x7
  -> BN, ReLU -> ConvT(128, 4, s2, same) 14x14 -> BN, ReLU -> ConvT(1, 4, s2, same) 28x28, tanh.
Discriminator (1,713,025 trainable parameters with one output unit):
  Conv(128, 4, s2, same) 14x14, LReLU -> Conv(256, 4, s2, same) 7x7, BN, LReLU
  -> Conv(512, 3, s2, valid) 3x3, BN, LReLU -> Conv(units, 3, s1, valid) 1x1.
All layers have biases, as in the source.
"""

from __future__ import annotations

import keras

from dcgan_tf.models.common import (
    ModelPair,
    batch_norm,
    check_common,
    conv_init,
    float32_logits,
)

RESOLUTIONS = (28,)


def build_mnist28(
    *,
    resolution: int = 28,
    latent_dim: int = 100,
    channels: int = 1,
    head: str = "sigmoid",
) -> ModelPair:
    units = check_common(
        model="mnist28", resolution=resolution, resolutions=RESOLUTIONS,
        latent_dim=latent_dim, channels=channels, head=head,
    )

    z = keras.Input((latent_dim,), name="z")
    x = keras.layers.Reshape((1, 1, latent_dim), name="z_to_map")(z)
    for i, (filters, kernel, stride, padding) in enumerate(
        [(512, 3, 1, "valid"), (256, 3, 2, "valid"), (128, 4, 2, "same")]
    ):
        x = keras.layers.Conv2DTranspose(
            filters, kernel, strides=stride, padding=padding,
            kernel_initializer=conv_init(), name=f"up{i}")(x)  # 3x3, 7x7, 14x14
        x = batch_norm(f"up{i}_bn")(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = keras.layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", kernel_initializer=conv_init(),
        dtype="float32", name="to_image")(x)
    images = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)  # [N, 28, 28, C]
    generator = keras.Model(z, images, name="mnist28_generator")

    inp = keras.Input((28, 28, channels), name="images")
    x = inp
    for i, (filters, kernel, padding) in enumerate(
        [(128, 4, "same"), (256, 4, "same"), (512, 3, "valid")]
    ):
        x = keras.layers.Conv2D(
            filters, kernel, strides=2, padding=padding,
            kernel_initializer=conv_init(), name=f"down{i}")(x)  # 14x14, 7x7, 3x3
        if i > 0:
            x = batch_norm(f"down{i}_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
    x = keras.layers.Conv2D(
        units, 3, strides=1, padding="valid", kernel_initializer=conv_init(),
        dtype="float32", name="logits")(x)  # [N, 1, 1, units]
    logits = float32_logits(x, units, "logits")
    discriminator = keras.Model(inp, logits, name="mnist28_discriminator")
    return ModelPair(generator, discriminator, latent_dim, 28, channels, head)
