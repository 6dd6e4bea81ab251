"""Improved precision and recall for generative models (Kynkäänniemi et al. 2019).

Each set's manifold is the union of balls around its feature vectors, the radius of a ball
the distance to the k-th nearest neighbour in the same set (k = 3 in the paper).
Precision = share of generated samples inside the real manifold (are samples realistic?);
recall = share of real samples inside the generated manifold (is the data covered?).
"""

from __future__ import annotations

import numpy as np


def _squared_distances(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _radii(x, k: int, chunk: int = 1024):
    out = np.empty(len(x))
    for i in range(0, len(x), chunk):
        d = _squared_distances(x[i:i + chunk], x)
        out[i:i + chunk] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return out


def _inside(queries, points, radii, chunk: int = 1024):
    hits = np.empty(len(queries), bool)
    for i in range(0, len(queries), chunk):
        d = _squared_distances(queries[i:i + chunk], points)
        hits[i:i + chunk] = (d <= radii[None, :]).any(axis=1)
    return hits


def precision_recall(real, fake, k: int = 3) -> dict:
    real, fake = np.asarray(real), np.asarray(fake)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k = {k} needs more than {k} samples per set")
    precision = _inside(fake, real, _radii(real, k)).mean()
    recall = _inside(real, fake, _radii(fake, k)).mean()
    return {"precision": float(precision), "recall": float(recall), "k": k}
