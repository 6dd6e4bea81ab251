"""Progressive Growing of GANs (source 001; Karras et al. 2018), built once at full size.

Both networks hold every level's layers from 4x4 up to `resolution` (toRGB / fromRGB of
every level included), so checkpoints and optimizer slots have one structure for the whole
run. The active level is a non-trainable variable mirrored in a Python attribute that the
compiled step reads at trace time (one trace per level); alpha lives in each network's
FadeIn layer and is assigned inside the step (no retrace per alpha).

G: z -> PixelNorm -> 4x4 block (equalized dense to 4x4xnf, conv 3x3) -> per doubling:
   nearest 2x upsampling, two 3x3 convs; leaky ReLU 0.2 and PixelNorm after every conv;
   toRGB (1x1, linear) at each level. During a fade-in the output is
   lerp(upsample(toRGB_{L-1}(h_{L-1})), toRGB_L(h_L), alpha).
D: fromRGB (1x1 + leaky ReLU) at each level -> per halving: two 3x3 convs, 2x average
   pooling -> 4x4 block: minibatch stddev, conv 3x3, dense nf, dense to the head's units.
   During a fade-in the input also takes the old path lerp(fromRGB_{L-1}(avgpool(x)),
   block_L(fromRGB_L(x)), alpha).
Feature maps: nf(stage) = min(fmap_base / 2^stage, fmap_max), stage = log2(res) - 1
(paper: 8192 / 512). No BatchNorm anywhere.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from dcgan_tf.models.layers import EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm
from dcgan_tf.models.common import ModelPair, check_common

RESOLUTIONS = tuple(2 ** k for k in range(2, 11))  # 4 .. 1024
PACKAGE = "dcgan_tf"


def _nf(stage: int, fmap_base: int, fmap_max: int) -> int:
    return max(1, min(int(fmap_base / 2.0 ** stage), fmap_max))


def _lrelu(name):
    return keras.layers.LeakyReLU(0.2, name=name)


def _num_levels(resolution: int) -> int:
    return int(round(math.log2(resolution))) - 1  # 4 -> 1 level, 8 -> 2, ...


class _Growing(keras.Model):
    """What both networks share: the active level (variable + trace-time attribute)."""

    def build(self, input_shape=None):
        self.built = True  # every layer is built in __init__

    def _init_level(self, levels: int):
        # tf.train.Checkpoint does not see into the Keras lists of per-level layers
        # (convs_a, to_rgb, ...): each layer also gets an attribute of its own, so
        # checkpoints hold every level (and the EMA copy's) by name, not only through the
        # optimizer's slots. The attributes sort after the lists, so Keras' own saving
        # still finds each layer under its list first.
        for name in ("from_rgb", "convs_a", "convs_b", "to_rgb"):
            for i, layer in enumerate(getattr(self, name, ())):
                setattr(self, f"tracked_{name}_{i}", layer)
        self.levels = levels
        self.level = self.add_weight(name="level", shape=(), dtype="int32", trainable=False,
                                     initializer=keras.initializers.Constant(levels - 1))
        self.active_level = levels - 1

    def set_level(self, level: int) -> None:
        if not 0 <= level < self.levels:
            raise ValueError(f"level must be in [0, {self.levels - 1}], got {level}.")
        self.level.assign(level)
        self.active_level = int(level)

    def sync_level(self) -> int:
        """Reads the (restored) level variable into the trace-time attribute."""
        self.active_level = int(self.level.numpy())
        return self.active_level

    def set_alpha(self, alpha) -> None:
        self.fade.alpha.assign(tf.cast(alpha, self.fade.alpha.dtype))

    @property
    def alpha(self):
        return self.fade.alpha


@keras.saving.register_keras_serializable(package=PACKAGE)
class ProgressiveGenerator(_Growing):
    def __init__(self, latent_dim: int = 512, resolution: int = 32, channels: int = 3,
                 fmap_base: int = 8192, fmap_max: int = 512, **kwargs):
        kwargs.setdefault("name", "pggan_generator")
        super().__init__(**kwargs)
        self.latent_dim, self.resolution, self.channels = latent_dim, resolution, channels
        self.fmap_base, self.fmap_max = fmap_base, fmap_max
        levels = _num_levels(resolution)
        nf = lambda stage: _nf(stage, fmap_base, fmap_max)  # noqa: E731
        self.pixel_norm = PixelNorm(name="pixel_norm")
        self.dense = EqualizedDense(16 * nf(1), gain=math.sqrt(2.0) / 4, name="dense_4x4")
        # convs_a[l]: first conv of level l; convs_b[l - 1]: second conv of level l >= 1.
        self.convs_a = [EqualizedConv2D(nf(l + 1), 3, name=f"conv{l}a") for l in range(levels)]
        self.convs_b = [EqualizedConv2D(nf(l + 1), 3, name=f"conv{l}b")
                        for l in range(1, levels)]
        self.to_rgb = [EqualizedConv2D(channels, 1, gain=1.0, name=f"to_rgb{l}")
                       for l in range(levels)]
        self.lrelu = _lrelu("lrelu")
        self.upsample = keras.layers.UpSampling2D(2, name="upsample")
        self.fade = FadeIn(1.0, name="fade")
        self._init_level(levels)
        # Build every layer now: the full structure exists from the first step.
        self.dense.build((None, latent_dim))
        for level in range(levels):
            self.convs_a[level].build((None, None, None, nf(1) if level == 0 else nf(level)))
            if level > 0:
                self.convs_b[level - 1].build((None, None, None, nf(level + 1)))
            self.to_rgb[level].build((None, None, None, nf(level + 1)))
        self.fade.build([(None, None, None, channels)] * 2)

    def _block(self, x, level):
        if level == 0:
            x = self.pixel_norm(self.lrelu(x))
        else:
            x = self.upsample(x)
        x = self.pixel_norm(self.lrelu(self.convs_a[level](x)))
        if level > 0:
            x = self.pixel_norm(self.lrelu(self.convs_b[level - 1](x)))
        return x

    def features(self, z, level: int):
        """Hidden maps of `level` [N, 4*2^level, 4*2^level, nf] (and of level - 1)."""
        x = self.dense(self.pixel_norm(ops.cast(z, self.compute_dtype)))
        x = ops.reshape(x, (-1, 4, 4, self.dense.units // 16))  # [N, 4, 4, nf(1)]
        previous = None
        for l in range(level + 1):
            previous = x if l == level else previous
            x = self._block(x, l)
        return x, previous

    def grow(self, z, level: int, fade: bool = True):
        """Images at level `level` [N, R_l, R_l, C], float32; with `fade`, mixed with the
        upsampled previous level by alpha."""
        x, before = self.features(z, level)
        rgb = self.to_rgb[level](x)
        if fade and level > 0:
            old = self.upsample(self.to_rgb[level - 1](before))
            rgb = self.fade([old, rgb])
        return ops.cast(rgb, "float32")

    def call(self, z, training=False):
        return self.grow(z, self.active_level)

    def final_model(self) -> keras.Model:
        """A functional model z -> images at full resolution (alpha = 1) that shares these
        weights: what exports and `.keras` files hold."""
        z = keras.Input((self.latent_dim,), name="z")
        return keras.Model(z, self.grow(z, self.levels - 1, fade=False),
                           name=f"{self.name}_final")

    def get_config(self):
        return {"latent_dim": self.latent_dim, "resolution": self.resolution,
                "channels": self.channels, "fmap_base": self.fmap_base,
                "fmap_max": self.fmap_max, "name": self.name}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ProgressiveDiscriminator(_Growing):
    def __init__(self, resolution: int = 32, channels: int = 3, units: int = 1,
                 fmap_base: int = 8192, fmap_max: int = 512, group_size: int = 4,
                 **kwargs):
        kwargs.setdefault("name", "pggan_discriminator")
        super().__init__(**kwargs)
        self.resolution, self.channels, self.units = resolution, channels, units
        self.fmap_base, self.fmap_max, self.group_size = fmap_base, fmap_max, group_size
        levels = _num_levels(resolution)
        nf = lambda stage: _nf(stage, fmap_base, fmap_max)  # noqa: E731
        self.from_rgb = [EqualizedConv2D(nf(l + 1), 1, name=f"from_rgb{l}")
                         for l in range(levels)]
        # the block of level l >= 1 at index l - 1: conv to nf(l + 1), conv to nf(l), pool
        self.convs_a = [EqualizedConv2D(nf(l + 1), 3, name=f"conv{l}a")
                        for l in range(1, levels)]
        self.convs_b = [EqualizedConv2D(nf(l), 3, name=f"conv{l}b") for l in range(1, levels)]
        self.stddev = MinibatchStdDev(group_size, 1, name="minibatch_stddev")
        self.final_conv = EqualizedConv2D(nf(1), 3, name="conv0")
        self.final_dense = EqualizedDense(nf(0), name="dense0")
        self.logits = EqualizedDense(units, gain=1.0, name="logits")
        self.lrelu = _lrelu("lrelu")
        self.downsample = keras.layers.AveragePooling2D(2, name="downsample")
        self.fade = FadeIn(1.0, name="fade")
        self._init_level(levels)
        for level in range(levels):
            self.from_rgb[level].build((None, None, None, channels))
            if level > 0:
                self.convs_a[level - 1].build((None, None, None, nf(level + 1)))
                self.convs_b[level - 1].build((None, None, None, nf(level + 1)))
        self.final_conv.build((None, 4, 4, nf(1) + 1))
        self.final_dense.build((None, 16 * nf(1)))
        self.logits.build((None, nf(0)))
        self.fade.build([(None, None, None, nf(1))] * 2)

    @property
    def output_units(self) -> int:
        return self.units

    def _block(self, x, level):
        x = self.lrelu(self.convs_a[level - 1](x))
        x = self.lrelu(self.convs_b[level - 1](x))
        return self.downsample(x)

    def score(self, images, level: int, fade: bool = True):
        """Logits [N, units] (float32) of images at level `level` [N, R_l, R_l, C]."""
        images = ops.cast(images, self.compute_dtype)
        x = self.lrelu(self.from_rgb[level](images))
        if level > 0:
            x = self._block(x, level)
            if fade:
                old = self.lrelu(self.from_rgb[level - 1](self.downsample(images)))
                x = self.fade([old, x])
            for l in range(level - 1, 0, -1):
                x = self._block(x, l)
        x = self.stddev(x)
        x = self.lrelu(self.final_conv(x))
        x = self.lrelu(self.final_dense(ops.reshape(x, (-1, 16 * x.shape[-1]))))
        return ops.cast(self.logits(x), "float32")

    def call(self, images, training=False):
        return self.score(images, self.active_level)

    def final_model(self) -> keras.Model:
        x = keras.Input((self.resolution, self.resolution, self.channels), name="images")
        return keras.Model(x, self.score(x, self.levels - 1, fade=False),
                           name=f"{self.name}_final")

    def get_config(self):
        return {"resolution": self.resolution, "channels": self.channels, "units": self.units,
                "fmap_base": self.fmap_base, "fmap_max": self.fmap_max,
                "group_size": self.group_size, "name": self.name}


def build_pggan(*, resolution: int = 32, latent_dim: int = 512, channels: int = 3,
                head: str = "linear", fmap_base: int = 8192, fmap_max: int = 512,
                mbstd_group_size: int = 4) -> ModelPair:
    units = check_common(model="pggan", resolution=resolution, resolutions=RESOLUTIONS,
                         latent_dim=latent_dim, channels=channels, head=head)
    for name, value in (("fmap_base", fmap_base), ("fmap_max", fmap_max)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    generator = ProgressiveGenerator(latent_dim, resolution, channels, fmap_base, fmap_max)
    if (isinstance(mbstd_group_size, bool) or not isinstance(mbstd_group_size, int)
            or mbstd_group_size < 0):
        raise ValueError("mbstd_group_size must be an integer >= 0 (0: the whole batch), got "
                         f"{mbstd_group_size!r}.")
    discriminator = ProgressiveDiscriminator(resolution, channels, units, fmap_base, fmap_max,
                                             group_size=mbstd_group_size)
    return ModelPair(generator, discriminator, latent_dim, resolution, channels, head)
