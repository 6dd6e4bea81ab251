"""Real faces offline: the 100 face crops (25x25 grey, from Labeled Faces in the Wild) that
the `scikit-image` wheel ships in its LFW subset (`pip install "dcgan_tf[lfw]"`).

The subset is one .npy of 200 float images in [0, 1]: the first 100 are faces, the last 100
are not, and only the faces are kept, as uint8, unlabelled. The file is read with numpy
where the wheel put it (found with importlib, scikit-image itself is never imported).
"""

from __future__ import annotations

import zipfile

import numpy as np

from dcgan_tf.data.files import file_in_package
from dcgan_tf.utils.errors import UserError

NAME = "lfw100"
SIDE = 25
FACES = 100
# The file's layout: FACES faces, then as many non-faces, each SIDE x SIDE.
FILE_SHAPE = (2 * FACES, SIDE, SIDE)
# Where the wheel keeps it, relative to the skimage package folder.
NPY_IN_PACKAGE = ("data", "lfw_subset.npy")
INSTALL_HINT = 'pip install "dcgan_tf[lfw]"'


def npy_path() -> str:
    """The .npy inside the installed skimage package (UserError when it is not installed)."""
    return file_in_package(
        "skimage", NPY_IN_PACKAGE,
        not_installed=f"lfw100 is the LFW faces shipped with scikit-image, which is not "
                      f"installed: {INSTALL_HINT}",
        missing=f"scikit-image is installed but has no {'/'.join(NPY_IN_PACKAGE)} (a "
                f"version without the LFW subset?): {INSTALL_HINT}")


def load_lfw100(path: str | None = None) -> np.ndarray:
    """Returns the faces as uint8 images [100, 25, 25, 1], in the file's order."""
    path = path or npy_path()
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise UserError(f"Cannot read the LFW faces in {path!r}: "
                        f"{' '.join(str(e).split())}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under the .npy name
        array.close()
        array = None
    if array is None or array.shape != FILE_SHAPE:
        shape = "an .npz archive" if array is None else f"shape {array.shape}"
        raise UserError(f"{path!r} should hold {FILE_SHAPE[0]} images of {SIDE}x{SIDE} "
                        f"pixels ({FACES} faces, then {FACES} non-faces), got {shape}.")
    faces = array[:FACES]
    if faces.dtype.kind == "f":
        if not np.isfinite(faces).all() or faces.min() < 0 or faces.max() > 1:
            raise UserError(f"{path!r} has pixels outside [0, 1].")
        faces = np.round(faces * 255.0)
    elif faces.dtype.kind in "ui":
        if faces.min() < 0 or faces.max() > 255:
            raise UserError(f"{path!r} has pixels outside 0-255.")
    else:
        raise UserError(f"{path!r} holds {faces.dtype} values, not pixels.")
    return faces.astype(np.uint8)[..., None]
