"""Inception score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), computed on each of
`splits` equal parts of the samples (10 in the paper's protocol); mean and standard
deviation over the parts. 1 for a classifier that says the same thing about every image,
the number of classes for confident, evenly spread predictions.
"""

from __future__ import annotations

import numpy as np


def inception_score(probabilities, splits: int = 10) -> dict:
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2 or len(p) < splits:
        raise ValueError(f"need class probabilities [N >= {splits}, K], got shape {p.shape}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(np.clip(part, 1e-12, None))
                            - np.log(np.clip(marginal, 1e-12, None))), axis=1)
        scores.append(float(np.exp(kl.mean())))
    return {"value": float(np.mean(scores)), "std": float(np.std(scores)), "splits": splits}
