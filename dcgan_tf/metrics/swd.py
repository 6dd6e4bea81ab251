"""Sliced Wasserstein distance over Laplacian-pyramid patches (Karras et al. 2018, sec. 5
and appendix D): how far the local image structure of two image sets is apart, per scale.

For each image set: a Laplacian pyramid of every image (5x5 binomial filter) down to 16x16;
at each level, `patches` random 7x7 neighbourhoods per image; each level's descriptors are
normalised per channel (mean 0, std 1 over the set). The distance of two descriptor sets is
the mean, over `repeats` x `directions` random unit projections, of the mean absolute
difference of the sorted projections (a 1-D Wasserstein-1 distance). The paper reports it
x 1e3 per level and the average; so does `swd`. Sets must be equally large.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0


def _filter(images, kernel):
    c = images.shape[-1]
    k = tf.constant(np.tile(kernel[:, :, None, None], [1, 1, c, 1]))
    padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, k, [1, 1, 1, 1], "VALID")


def pyramid_down(images):
    return _filter(images, _BINOMIAL)[:, ::2, ::2, :]


def pyramid_up(images):
    shape = tf.shape(images)
    up = tf.reshape(tf.stack([images, tf.zeros_like(images)], axis=3),
                    [shape[0], shape[1], 2 * shape[2], shape[3]])
    up = tf.reshape(tf.stack([up, tf.zeros_like(up)], axis=2),
                    [shape[0], 2 * shape[1], 2 * shape[2], shape[3]])
    return _filter(up, _BINOMIAL * 4.0)


def laplacian_pyramid(images, min_resolution: int = 16) -> list:
    """[N, R, R, C] float -> levels from full resolution down to `min_resolution` (the last
    one the blurred image itself)."""
    levels, current = [], tf.convert_to_tensor(images, tf.float32)
    while current.shape[1] > min_resolution:
        smaller = pyramid_down(current)
        levels.append(current - pyramid_up(smaller))
        current = smaller
    levels.append(current)
    return levels


def patch_descriptors(level, patches: int, rng: np.random.Generator, size: int = 7):
    """`patches` random size x size neighbourhoods per image -> [N * patches, size*size*C]."""
    level = np.asarray(level)
    n, h, w, c = level.shape
    ys = rng.integers(0, h - size + 1, (n, patches))
    xs = rng.integers(0, w - size + 1, (n, patches))
    offsets = np.arange(size)
    rows = ys[:, :, None, None] + offsets[None, None, :, None]  # [N, P, size, 1]
    cols = xs[:, :, None, None] + offsets[None, None, None, :]  # [N, P, 1, size]
    idx = np.arange(n)[:, None, None, None]
    out = level[idx, rows, cols]  # [N, P, size, size, C]
    return out.reshape(n * patches, size * size * c), c


def _normalise(desc, channels):
    d = desc.reshape(len(desc), -1, channels)
    d = (d - d.mean(axis=(0, 1))) / (d.std(axis=(0, 1)) + 1e-8)
    return d.reshape(len(desc), -1)


def sliced_wasserstein(a, b, rng: np.random.Generator, repeats: int = 4,
                       directions: int = 128) -> float:
    """Mean over random unit projections of the 1-D Wasserstein-1 distance of a and b."""
    results = []
    for _ in range(repeats):
        dirs = rng.standard_normal((a.shape[1], directions)).astype(np.float32)
        dirs /= np.sqrt(np.sum(dirs ** 2, axis=0, keepdims=True))
        pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return float(np.mean(results))


def swd(images_a, images_b, *, patches: int = 128, repeats: int = 4, directions: int = 128,
        min_resolution: int = 16, seed: int = 0) -> dict:
    """SWD x 1e3 of two equally large image sets in [-1, 1] [N, R, R, C]: one value per
    pyramid level (keyed by its resolution) and their average ("mean")."""
    a, b = np.asarray(images_a, np.float32), np.asarray(images_b, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"SWD compares equally large sets of equal images: {a.shape} vs "
                         f"{b.shape}.")
    if a.shape[1] < 7:
        raise ValueError(f"SWD needs images of at least 7x7, got {a.shape[1:3]}.")
    result = {}
    levels = zip(laplacian_pyramid(a, min_resolution), laplacian_pyramid(b, min_resolution))
    for index, (la, lb) in enumerate(levels):
        # the same patch positions in both sets (a set against itself gives exactly 0)
        da, channels = patch_descriptors(la, patches, np.random.default_rng([seed, index]))
        db, _ = patch_descriptors(lb, patches, np.random.default_rng([seed, index]))
        value = sliced_wasserstein(_normalise(da, channels), _normalise(db, channels),
                                   np.random.default_rng([seed, index, 1]), repeats,
                                   directions)
        result[int(la.shape[1])] = 1e3 * value
    result["mean"] = float(np.mean([v for k, v in result.items() if k != "mean"]))
    return result
