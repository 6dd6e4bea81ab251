"""Mode coverage from a classifier's decisions (Metz et al. 2017; Srivastava et al. 2017;
Lin et al. 2018): how many of the known modes the samples hit, and the KL divergence of the
samples' mode histogram from the real one (uniform when not given).

Stacked digits: three digits in the RGB channels make 1,000 modes; each channel is
classified on its own and mode = 100 d_R + 10 d_G + d_B.
"""

from __future__ import annotations

import numpy as np


def mode_coverage(modes, num_modes: int, reference=None, min_count: int = 1) -> dict:
    """`modes`: int mode index per sample; `reference`: real distribution over modes
    (probabilities or counts), uniform when None. A mode counts as covered with at least
    `min_count` samples."""
    modes = np.asarray(modes).astype(np.int64).ravel()
    if modes.size == 0 or modes.min() < 0 or modes.max() >= num_modes:
        raise ValueError(f"mode indices must be in [0, {num_modes})")
    counts = np.bincount(modes, minlength=num_modes).astype(np.float64)
    q = counts / counts.sum()
    p = (np.full(num_modes, 1.0 / num_modes) if reference is None
         else np.asarray(reference, np.float64) / np.sum(reference))
    nz = q > 0
    kl = float(np.sum(q[nz] * (np.log(q[nz]) - np.log(np.clip(p[nz], 1e-12, None)))))
    return {"covered": int((counts >= min_count).sum()), "num_modes": num_modes, "kl": kl,
            "samples": int(modes.size)}


def stacked_modes(channel_classes) -> np.ndarray:
    """[N, 3] digit per channel -> mode index 0-999."""
    c = np.asarray(channel_classes, np.int64)
    return c[:, 0] * 100 + c[:, 1] * 10 + c[:, 2]
