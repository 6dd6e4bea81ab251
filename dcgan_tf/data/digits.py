"""The offline dataset: scikit-learn's 1,797 UCI handwritten digits (8x8, 16 grey levels).

scikit-learn ships these inside its wheel, so they load with no network. They are upscaled
to the model's resolution with a bicubic filter and clipped, which gives smooth strokes.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 10
LABEL_NAMES = tuple(str(i) for i in range(NUM_CLASSES))


def load_digits(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns (images float32 [1797, R, R, 1] in [-1, 1], labels int32 [1797])."""
    if resolution < 8:
        raise ValueError(f"resolution must be >= 8 for the 8x8 digits, got {resolution}.")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:  # a dependency in setup.cfg; say so if it is missing
        raise ValueError(
            "The offline 'digits' dataset needs scikit-learn: pip install scikit-learn"
        ) from e
    import tensorflow as tf

    bunch = _sk_load_digits()
    images = bunch.images.astype(np.float32)[..., None] / 16.0  # [N, 8, 8, 1] in [0, 1]
    images = tf.image.resize(images, (resolution, resolution), method="bicubic").numpy()
    images = np.clip(images, 0.0, 1.0) * 2.0 - 1.0
    return images.astype(np.float32), bunch.target.astype(np.int32)
