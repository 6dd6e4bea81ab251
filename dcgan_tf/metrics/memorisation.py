"""Does a generator copy its training images? The memorisation check's math.

For generated images, the distance to the nearest training image; for held-out real images
(never trained on), the same distance. Samples much closer to the training images than
unseen real images are ("ratio" of the medians well below 1) are copies. Used by
`python -m dcgan_tf.nearest` (in pixels and in evaluation features) and
tools/bench_small_data.py.
"""

from __future__ import annotations

import numpy as np

# The summary `dcgan-tf nearest` writes (dcgan_tf/nearest.py); the model card of an export
# reports one kept in the run folder (dcgan_tf/artifacts/model_card.py).
REPORT_FILE = "nearest.json"


def nearest_distances(queries: np.ndarray, references: np.ndarray,
                      chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """RMS distance from each query to its nearest reference, and that reference's index."""
    q = queries.reshape(len(queries), -1).astype(np.float32)
    r = references.reshape(len(references), -1).astype(np.float32)
    r_sq = np.sum(r * r, axis=1)
    best, index = [], []
    for start in range(0, len(q), chunk):
        block = q[start:start + chunk]
        d2 = np.sum(block * block, axis=1)[:, None] - 2.0 * block @ r.T + r_sq[None, :]
        j = np.argmin(d2, axis=1)
        best.append(np.sqrt(np.maximum(d2[np.arange(len(block)), j], 0.0) / q.shape[1]))
        index.append(j)
    return np.concatenate(best), np.concatenate(index)


def memorisation_report(samples, train, holdout) -> dict:
    """Median nearest-training distances of samples and of held-out reals, and their ratio;
    also per sample its distance ("distances") and nearest training image ("nearest")."""
    sample_d, sample_j = nearest_distances(samples, train)
    holdout_d, _ = nearest_distances(holdout, train)
    median_s, median_h = float(np.median(sample_d)), float(np.median(holdout_d))
    return {"samples": len(samples), "train": len(train), "holdout": len(holdout),
            "median_sample_to_train": median_s, "median_holdout_to_train": median_h,
            "ratio": median_s / median_h if median_h > 0 else float("inf"),
            "distances": sample_d, "nearest": sample_j}
