"""MS-SSIM between random pairs of generated images (Odena et al. 2017; Karras et al.
2018 use it for diversity): 1 for identical images, lower for more varied ones.

`tf.image.ssim_multiscale` computes it; small images get as many of its five scales (and
power factors, renormalised) as fit an 11x11 filter, e.g. two at 32x32.

`ms_ssim_tensor` is the same value written out in differentiable ops, for losses
(dcgan_tf.gan.projection): TensorFlow's own function has a gradient, but a NaN one as
soon as a scale's term is <= 0 (its relu(x) ** p; anti-correlated pairs at 28 and 32 px,
common from a random start). This one clamps at a small epsilon instead, so it equals
`ms_ssim` wherever every scale's term is above 1e-6 (tested) and its gradient stays finite.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def scales_for(size: int, filter_size: int = 11) -> int:
    if size < filter_size:
        return 1
    return max(1, min(len(POWER_FACTORS), int(math.log2(size / filter_size)) + 1))


def ms_ssim(images_a, images_b) -> np.ndarray:
    """Per-pair MS-SSIM of two batches in [-1, 1] [N, R, R, C] -> [N]."""
    a = (tf.convert_to_tensor(images_a, tf.float32) + 1.0) / 2.0
    b = (tf.convert_to_tensor(images_b, tf.float32) + 1.0) / 2.0
    size = int(a.shape[1])
    n = scales_for(size)
    weights = np.array(POWER_FACTORS[:n]) / np.sum(POWER_FACTORS[:n])
    values = tf.image.ssim_multiscale(a, b, max_val=1.0, power_factors=weights.tolist(),
                                      filter_size=min(11, size))
    return values.numpy()


def _gaussian_window(size: int, sigma: float, channels: int):
    """TensorFlow's SSIM window: a normalised 2-D Gaussian, [size, size, channels, 1]."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * coords**2 / sigma**2)
    window = np.outer(g, g) / np.sum(np.outer(g, g))
    return tf.constant(np.tile(window[:, :, None, None], (1, 1, channels, 1)), tf.float32)


def ms_ssim_tensor(images_a, images_b, *, eps: float = 1e-6):
    """Differentiable per-pair MS-SSIM of two batches in [-1, 1] [N, R, R, C] -> [N]
    (tf.image.ssim_multiscale's constants: 1.5-sigma Gaussian, k1 0.01, k2 0.03, 2x2
    average pooling between scales; scales and filter as `ms_ssim`)."""
    a = (tf.cast(images_a, tf.float32) + 1.0) / 2.0
    b = (tf.cast(images_b, tf.float32) + 1.0) / 2.0
    size, channels = int(a.shape[1]), int(a.shape[-1])
    n = scales_for(size)
    weights = np.array(POWER_FACTORS[:n]) / np.sum(POWER_FACTORS[:n])
    filter_size = min(11, size)
    window = _gaussian_window(filter_size, 1.5, channels)
    c1, c2 = 0.01**2, 0.03**2

    def blur(x):  # [N, h, w, C] -> [N, h - f + 1, w - f + 1, C]
        return tf.nn.depthwise_conv2d(x, window, [1, 1, 1, 1], "VALID")

    terms = []
    for k in range(n):
        if k > 0:  # halve, padding an odd side symmetrically at its end (as TensorFlow)
            pad_h, pad_w = int(a.shape[1]) % 2, int(a.shape[2]) % 2
            if pad_h or pad_w:
                paddings = [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]
                a = tf.pad(a, paddings, mode="SYMMETRIC")
                b = tf.pad(b, paddings, mode="SYMMETRIC")
            a = tf.nn.avg_pool2d(a, 2, 2, "VALID")
            b = tf.nn.avg_pool2d(b, 2, 2, "VALID")
        mean_a, mean_b = blur(a), blur(b)
        num0 = 2.0 * mean_a * mean_b
        den0 = tf.square(mean_a) + tf.square(mean_b)
        luminance = (num0 + c1) / (den0 + c1)
        cs = (2.0 * blur(a * b) - num0 + c2) / (blur(tf.square(a) + tf.square(b)) - den0 + c2)
        if k < n - 1:
            terms.append(tf.reduce_mean(cs, [1, 2]))  # [N, C]
        else:
            terms.append(tf.reduce_mean(luminance * cs, [1, 2]))
    stacked = tf.maximum(tf.stack(terms, axis=-1), eps)  # [N, C, scales]
    values = tf.reduce_prod(stacked ** tf.constant(weights, tf.float32), axis=-1)
    return tf.reduce_mean(values, axis=-1)


def pairwise_diversity(images, pairs: int = 1000, seed: int = 0) -> float:
    """Mean MS-SSIM over `pairs` random pairs of distinct images of one set."""
    images = np.asarray(images, np.float32)
    if len(images) < 2:
        raise ValueError("MS-SSIM diversity needs at least two images.")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(images), pairs)
    j = (i + rng.integers(1, len(images), pairs)) % len(images)  # never the same image
    return float(np.mean(ms_ssim(images[i], images[j])))
