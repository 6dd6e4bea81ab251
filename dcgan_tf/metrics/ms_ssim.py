"""MS-SSIM between random pairs of generated images (Odena et al. 2017; Karras et al.
2018 use it for diversity): 1 for identical images, lower for more varied ones.

`tf.image.ssim_multiscale` computes it; small images get as many of its five scales (and
power factors, renormalised) as fit an 11x11 filter, e.g. two at 32x32.
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


def pairwise_diversity(images, pairs: int = 1000, seed: int = 0) -> float:
    """Mean MS-SSIM over `pairs` random pairs of distinct images of one set."""
    images = np.asarray(images, np.float32)
    if len(images) < 2:
        raise ValueError("MS-SSIM diversity needs at least two images.")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(images), pairs)
    j = (i + rng.integers(1, len(images), pairs)) % len(images)  # never the same image
    return float(np.mean(ms_ssim(images[i], images[j])))
