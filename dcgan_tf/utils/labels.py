"""Label vectors of conditional generators: one validation used by the generate tool and
the web app (ValueError with a sentence a user can act on)."""

from __future__ import annotations

import math

import numpy as np


def parse_label_vector(value, num_classes: int) -> np.ndarray:
    """A list of numbers, or text "0,0.5,1,...", -> float32 [num_classes] in [0, 1].

    Any real vector in [0, 1]^K is allowed (mixtures, all zeros, all ones: source 002's
    experiments); raises ValueError for a wrong length, non-numbers, NaN/inf or values
    outside [0, 1].
    """
    if num_classes <= 0:
        raise ValueError("This generator is not conditional: it takes no labels.")
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise ValueError(f"labels must be a list of {num_classes} numbers in [0, 1].")
    if len(parts) != num_classes:
        raise ValueError(f"labels must have {num_classes} values (one per class), "
                         f"got {len(parts)}.")
    out = []
    for p in parts:
        if isinstance(p, bool) or not isinstance(p, (int, float, str)):
            raise ValueError(f"labels must be numbers in [0, 1], got {p!r}.")
        try:
            x = float(p)
        except ValueError:
            raise ValueError(f"labels must be numbers in [0, 1], got {p!r}.") from None
        if not math.isfinite(x) or not 0.0 <= x <= 1.0:
            raise ValueError(f"labels must be numbers in [0, 1], got {p!r}.")
        out.append(x)
    return np.asarray(out, np.float32)


def one_hot(index: int, num_classes: int) -> np.ndarray:
    v = np.zeros([num_classes], np.float32)
    v[index] = 1.0
    return v
