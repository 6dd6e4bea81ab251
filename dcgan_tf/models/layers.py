"""Layers of Progressive Growing of GANs (Karras et al. 2018), in the keras-hub style:
every constructor argument kept as an attribute, weights made in `build`, `get_config`
chained to super, registered as serializable under the package name "dcgan_tf" (so a
`.keras` file with them loads once dcgan_tf is imported).

- EqualizedDense / EqualizedConv2D: weights drawn from N(0, 1) and scaled at run time by
  the He constant gain / sqrt(fan_in) (paper sec. 4.1), so Adam sees every weight at the
  same scale.
- PixelNorm: x / sqrt(mean over channels of x^2 + eps) per pixel (sec. 4.2), in float32.
- MinibatchStdDev: appends the standard deviation of features over groups of samples as
  extra feature maps (sec. 3), statistics in float32. Group size 0 takes the whole batch
  (as the paper's sec. 3 text and source 001 describe it); the paper's code uses groups of
  4, and a batch smaller than the group is one group (its tf.minimum); a larger batch that
  the group size does not divide is an error, not a silently smaller group.
- FadeIn: old + alpha * (new - old) with alpha in a non-trainable variable, so changing
  alpha never retraces a compiled step.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

PACKAGE = "dcgan_tf"


def _he_scale(gain: float, fan_in: int) -> float:
    return gain / math.sqrt(fan_in)


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedDense(keras.layers.Layer):
    """y = x @ (W * gain / sqrt(fan_in)) + b, W ~ N(0, 1), b = 0."""

    def __init__(self, units: int, gain: float = math.sqrt(2.0), use_bias: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.gain = gain
        self.use_bias = use_bias

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = _he_scale(self.gain, fan_in)
        self.kernel = self.add_weight(name="kernel", shape=(fan_in, self.units),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = (self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        y = tf.matmul(x, self.kernel * self.scale)
        return y + self.bias if self.bias is not None else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain,
                "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedConv2D(keras.layers.Layer):
    """Same-padded, stride-1 convolution with the equalized learning rate."""

    def __init__(self, filters: int, kernel_size: int = 3, gain: float = math.sqrt(2.0),
                 use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.gain = gain
        self.use_bias = use_bias

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.scale = _he_scale(self.gain, k * k * channels)
        self.kernel = self.add_weight(name="kernel", shape=(k, k, channels, self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        y = tf.nn.conv2d(x, self.kernel * self.scale, strides=1, padding="SAME")
        return y + self.bias if self.bias is not None else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "gain": self.gain, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelNorm(keras.layers.Layer):
    """x / sqrt(mean(x^2 over the last axis) + epsilon), statistics in float32."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        x32 = tf.cast(x, tf.float32)
        norm = tf.math.rsqrt(tf.reduce_mean(tf.square(x32), axis=-1, keepdims=True)
                             + self.epsilon)
        return tf.cast(x32 * norm, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinibatchStdDev(keras.layers.Layer):
    """Appends `num_features` maps: per group of `group_size` samples (0: the whole batch),
    the standard deviation of every feature over the group, averaged over pixels and
    channels (in `num_features` channel slices); every sample of a group gets its group's
    value. Sample i belongs to group i mod (N / group size), as in the paper's code.

    A batch smaller than `group_size` is one group. A larger batch must be a multiple of
    it: a fallback to a smaller divisor would change the statistic silently (a prime batch
    would give groups of one and a constant 0 map), so it raises instead."""

    def __init__(self, group_size: int = 4, num_features: int = 1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 0:
            raise ValueError(f"MinibatchStdDev: group_size must be an integer >= 0 (0: the "
                             f"whole batch), got {group_size!r}.")
        self.group_size = group_size
        self.num_features = num_features

    def build(self, input_shape):
        if int(input_shape[-1]) % self.num_features:
            raise ValueError(f"MinibatchStdDev: {input_shape[-1]} channels do not split into "
                             f"{self.num_features} feature groups.")

    def _not_divisible(self, batch) -> str:
        return (f"MinibatchStdDev: a batch of {batch} does not split into groups of "
                f"{self.group_size}; use a batch size that is a multiple of the group size "
                "(or group size 0: the whole batch).")

    def call(self, x):
        shape = tf.shape(x)
        n, h, w, c = shape[0], shape[1], shape[2], shape[3]
        f = self.num_features
        if self.group_size == 0:
            g = n
        else:
            static_n = x.shape[0]
            if static_n is not None and static_n > self.group_size and static_n % self.group_size:
                raise ValueError(self._not_divisible(static_n))
            g = tf.minimum(tf.constant(self.group_size, tf.int32), n)
            check = tf.debugging.assert_equal(tf.math.floormod(n, g), 0,
                                              message=self._not_divisible("N"))
            with tf.control_dependencies([check]):
                x = tf.identity(x)
        y = tf.reshape(tf.cast(x, tf.float32), [g, -1, h, w, f, c // f])  # [G, M, H, W, F, c]
        y = y - tf.reduce_mean(y, axis=0)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)  # [M, H, W, F, c]
        y = tf.reduce_mean(y, axis=[1, 2, 4])  # [M, F]
        y = tf.reshape(y, [-1, 1, 1, f])
        y = tf.tile(y, [g, h, w, 1])  # [N, H, W, F]: sample i gets group i mod M
        return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_features)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_features": self.num_features}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FadeIn(keras.layers.Layer):
    """[old, new] -> old + alpha * (new - old); alpha is a non-trainable weight."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_alpha = alpha

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(), trainable=False,
                                     initializer=keras.initializers.Constant(self.initial_alpha))

    def call(self, inputs):
        old, new = inputs
        alpha = tf.cast(self.alpha, new.dtype)
        return old + alpha * (new - old)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "alpha": self.initial_alpha}
