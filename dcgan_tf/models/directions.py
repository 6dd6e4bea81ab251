"""Directions in latent space, found without labels: the maths, on a Keras generator.

    A = latent_weight(generator, latent_dim)            # [F, latent_dim], the first layer on z
    d, eig = sefa(A, num)                               # SeFa (Shen & Zhou 2021)
    f = early_features(generator, latent_dim)(z, y)     # [N, F'] first block's output
    d, var = ganspace(z, f, num)                        # GANSpace (Harkonen et al. 2020)
    d, counts = class_mean_directions(z, classes, K)    # from labelled samples

Every direction is a unit vector in z space (rows of a [K, latent_dim] array); moving along
one is z + alpha * d.

- SeFa: the first layer that acts on z is linear, y = A z (+ b); the unit vectors that change
  y most are the top eigenvectors of A^T A (largest ||A d||^2). For the DCGAN families that
  layer is the first Conv2DTranspose on the 1x1 map of z (kernel [k, k, out, in] read as
  A [k*k*out, in]); for pggan the equalized dense after the pixel norm of z, with its run-time
  He scale applied; for conditional generators (z and labels concatenated, z first) only the
  z columns. BatchNorm after that layer is not folded in (the paper uses the weight alone).
- GANSpace: PCA of the first block's output (after its normalisation and nonlinearity, where
  y is no longer linear in z: PCA of the linear layer's own output would give SeFa's
  directions again), then, as GANSpace does for BigGAN (no mapping network), the principal
  coordinates x = V (f - mean) are regressed back to z by least squares, U = argmin
  ||X U - Z||; direction k is row k of U, normalised. These are not orthogonal in general.
- Class means: the mean z of samples of class k minus the mean z of all samples, normalised.
"""

from __future__ import annotations

import keras
import numpy as np


def _layers_in_order(model) -> list:
    """Layers of `model` in call order, nested functional models expanded."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model) and hasattr(layer, "layers") and layer.layers:
            out.extend(_layers_in_order(layer))
        else:
            out.append(layer)
    return out


def _weighted(layer) -> bool:
    return getattr(layer, "kernel", None) is not None


def first_z_layer(generator):
    """The first layer with a kernel in call order: the one that acts on z."""
    for layer in _layers_in_order(generator):
        if _weighted(layer):
            return layer
    raise ValueError(f"{generator.name!r} has no layer with a kernel.")


def latent_weight(generator, latent_dim: int) -> np.ndarray:
    """A [F, latent_dim]: the first layer's linear map on z (F its output size)."""
    layer = first_z_layer(generator)
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        a = kernel.reshape(-1, kernel.shape[-1])  # [k, k, out, in] -> [k*k*out, in]
    elif kernel.ndim == 2:  # Dense [in, units], EqualizedDense with its He scale
        a = kernel.T * float(getattr(layer, "scale", 1.0))
    else:
        raise ValueError(f"First layer {layer.name!r} ({type(layer).__name__}) is not a dense "
                         "or transposed-convolution layer on z; SeFa does not apply.")
    if a.shape[1] < latent_dim:
        raise ValueError(f"First layer {layer.name!r} takes {a.shape[1]} inputs, fewer than "
                         f"the latent size {latent_dim}.")
    return a[:, :latent_dim]  # conditional: z comes first in [z, labels]


def _fix_signs(directions: np.ndarray) -> np.ndarray:
    """Each row's largest-magnitude component positive: the same file on every run."""
    idx = np.argmax(np.abs(directions), axis=1)
    signs = np.sign(directions[np.arange(len(directions)), idx])
    return directions * np.where(signs == 0, 1.0, signs)[:, None]


def sefa(weight: np.ndarray, num: int) -> tuple[np.ndarray, np.ndarray]:
    """Top `num` eigenvectors of A^T A ([num, latent_dim], unit, orthogonal, largest
    eigenvalue first) and their eigenvalues."""
    a = np.asarray(weight, np.float64)
    values, vectors = np.linalg.eigh(a.T @ a)  # ascending
    order = np.argsort(values)[::-1][:num]
    return _fix_signs(vectors[:, order].T), values[order]


def early_features(generator, latent_dim: int):
    """f(z, labels=None) -> [N, F'] float64: the output of the generator's first block (the
    first layer on z through its normalisation and nonlinearity, inference mode)."""
    layers = [l for l in _layers_in_order(generator)
              if not isinstance(l, (keras.layers.InputLayer, keras.layers.Concatenate))]
    first = next(i for i, l in enumerate(layers) if _weighted(l))
    end = next((i for i, l in enumerate(layers) if i > first and isinstance(
        l, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.Activation))), None)
    if end is None:
        raise ValueError(f"{generator.name!r} has no nonlinearity after its first layer.")
    chain = layers[:end + 1]

    def features(z, labels=None):
        x = np.asarray(z, np.float32)
        if labels is not None:
            x = np.concatenate([x, np.asarray(labels, np.float32)], axis=1)
        out = []
        for start in range(0, len(x), 256):
            h = keras.ops.convert_to_tensor(x[start:start + 256])
            for layer in chain:
                h = layer(h, training=False)
            h = keras.ops.convert_to_numpy(h)
            out.append(h.reshape(len(h), -1).astype(np.float64))
        return np.concatenate(out)

    return features


def ganspace(z: np.ndarray, features: np.ndarray, num: int):
    """-> (directions [num, latent_dim] unit, explained-variance ratios [num]): PCA of
    `features` [N, F'] mapped back to z [N, latent_dim] by least squares (module doc)."""
    z = np.asarray(z, np.float64)
    f = np.asarray(features, np.float64)
    centred = f - f.mean(axis=0)
    num = min(num, min(centred.shape), z.shape[1])
    s, vt = _top_singular(centred, num)  # the principal axes, [num, F']
    coords = centred @ vt.T  # [N, num]
    u, *_ = np.linalg.lstsq(coords, z - z.mean(axis=0), rcond=None)  # [num, latent_dim]
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    ratio = s ** 2 / np.sum(centred ** 2)
    return _fix_signs(u / np.maximum(norms, 1e-12)), ratio


def _top_singular(x: np.ndarray, num: int):
    """Top `num` singular values and right singular vectors of x [N, F], largest first, by
    Lanczos (scipy's svds, fixed start vector): exact to float precision and a few seconds,
    where the full SVD took 27-60 s for 2,000 x 2,048 on the busy 2-core box."""
    from scipy.sparse.linalg import svds

    if num >= min(x.shape) - 1:  # svds needs k < min(N, F)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        return s[:num], vt[:num]
    _, s, vt = svds(x, k=num, v0=np.ones(min(x.shape)), random_state=0)
    order = np.argsort(s)[::-1]
    return s[order], vt[order]


def class_mean_directions(z: np.ndarray, classes: np.ndarray, num_classes: int,
                          min_count: int = 10):
    """-> (directions [K', latent_dim] unit, the classes k they lead to, sample counts):
    mean z of class k minus the mean of all, for classes with at least `min_count` samples,
    most frequent first."""
    z = np.asarray(z, np.float64)
    classes = np.asarray(classes)
    counts = np.bincount(classes, minlength=num_classes)
    kept = [int(k) for k in np.argsort(-counts, kind="stable") if counts[k] >= min_count]
    overall = z.mean(axis=0)
    rows = []
    for k in kept:
        d = z[classes == k].mean(axis=0) - overall
        rows.append(d / max(np.linalg.norm(d), 1e-12))
    directions = np.stack(rows) if rows else np.zeros((0, z.shape[1]))
    return directions, kept, counts[kept]
