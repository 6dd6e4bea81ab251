"""IDX files, LeCun's format of MNIST, Fashion-MNIST, KMNIST and EMNIST: images in
`*-idx3-ubyte(.gz)`, their labels beside them in `*-idx1-ubyte(.gz)` (the same name with
"images" -> "labels" and idx3 -> idx1, as `train-images-idx3-ubyte.gz` and
`train-labels-idx1-ubyte.gz`).

    --data=FOLDER      every images file directly in the folder (train and t10k alike)
    --data=FILE        one images file (one split)

A folder's files are all read, in name order: a GAN holds nothing out, so MNIST's and
Fashion-MNIST's 60,000 + 10,000 train on all 70,000; naming one file takes one split.

The format: two zero bytes, a type code (0x08 unsigned byte, ..., 0x0E float64), the
number of dimensions, each dimension as a big-endian uint32, then the values big-endian in
row-major order. Everything is checked (magic, type, sizes, image/label counts); a file
that fails is one UserError line. EMNIST stores its images transposed: they load as stored.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from dcgan_tf.utils.errors import UserError

IMAGES_SUFFIXES = ("idx3-ubyte", "idx3-ubyte.gz")
LABELS_SUFFIXES = ("idx1-ubyte", "idx1-ubyte.gz")
# IDX type code -> numpy dtype (big-endian on disk).
TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
         0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
GZIP_MAGIC = b"\x1f\x8b"


def is_images_name(name: str) -> bool:
    return os.path.basename(name).endswith(IMAGES_SUFFIXES)


def is_labels_name(name: str) -> bool:
    return os.path.basename(name).endswith(LABELS_SUFFIXES)


def images_files(folder: str) -> list[str]:
    """The images files directly in `folder`, in name order (hidden files left out)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if not n.startswith(".") and is_images_name(n)
            and os.path.isfile(os.path.join(folder, n))]


def holds_idx(spec: str) -> bool:
    """Whether a --data / --source string names IDX data: an IDX file, or a folder with
    images files directly in it."""
    if is_images_name(spec) or is_labels_name(spec):
        return True
    return os.path.isdir(spec) and bool(images_files(spec))


def labels_file(images_path: str) -> str | None:
    """The labels file beside an images file (plain or .gz), or None."""
    folder, name = os.path.split(images_path)
    stem = name[:-3] if name.endswith(".gz") else name
    head, _, _ = stem.rpartition("idx3-ubyte")
    head = "labels".join(head.rsplit("images", 1))
    for candidate in (head + "idx1-ubyte", head + "idx1-ubyte.gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx(path: str) -> np.ndarray:
    """One IDX file (gzipped or not, told by its first bytes) as a numpy array in native
    byte order; UserError when it is not a whole, well-formed IDX file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        reason = "truncated gzip" if isinstance(e, EOFError) else (e.strerror or str(e))
        raise UserError(f"Cannot read IDX file {path!r}: {reason}.") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in TYPES:
        raise UserError(f"{path!r} is not an IDX file (its first bytes are "
                        f"{data[:4].hex(' ') or 'missing'}; expected 00 00, a type code and "
                        "the number of dimensions).")
    dtype, ndim = TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise UserError(f"IDX file {path!r} is truncated in its header ({ndim} dimensions).")
    dims = [int(d) for d in np.frombuffer(data, ">u4", ndim, 4)]
    expected = int(np.prod(dims)) * dtype.itemsize
    have = len(data) - header
    if have != expected:
        what = "is truncated" if have < expected else "has extra bytes"
        raise UserError(f"IDX file {path!r} {what}: its header says {'x'.join(map(str, dims))} "
                        f"{dtype.name} values ({expected} bytes), it holds {have} bytes.")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def load_idx(spec: str) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """A folder or images file -> (uint8 images [N, H, W, 1], int32 labels [N] or None,
    label names or None)."""
    if is_labels_name(spec) and not os.path.isdir(spec):
        raise UserError(f"{spec!r} is an IDX labels file; name its images file (*-idx3-ubyte"
                        "[.gz]) or the folder.")
    if os.path.isdir(spec):
        files = images_files(spec)
        if not files:
            raise UserError(f"Folder {spec!r} holds no IDX images file (*-idx3-ubyte[.gz]).")
    elif os.path.isfile(spec):
        files = [spec]
    else:
        raise UserError(f"IDX file {spec!r} does not exist.")
    images, labels, missing = [], [], []
    for path in files:
        array = read_idx(path)
        if array.ndim != 3 or array.dtype != np.uint8:
            raise UserError(f"{path!r} holds {array.dtype.name} values of shape "
                            f"{list(array.shape)}; IDX images are unsigned bytes [N, H, W].")
        if images and array.shape[1:] != images[0].shape[1:]:
            raise UserError(f"{path!r} holds {array.shape[1]}x{array.shape[2]} images, "
                            f"{files[0]!r} {images[0].shape[1]}x{images[0].shape[2]} ones.")
        images.append(array)
        label_path = labels_file(path)
        if label_path is None:
            missing.append(path)
            continue
        found = read_idx(label_path)
        if found.ndim != 1 or found.dtype != np.uint8:
            raise UserError(f"{label_path!r} holds {found.dtype.name} values of shape "
                            f"{list(found.shape)}; IDX labels are unsigned bytes [N].")
        if len(found) != len(array):
            raise UserError(f"{path!r} has {len(array)} images but {label_path!r} "
                            f"{len(found)} labels.")
        labels.append(found)
    if missing and labels:
        raise UserError(f"{missing[0]!r} has no labels file beside it (*-labels-idx1-ubyte"
                        "[.gz]) while the others have: add it, or name the files to use.")
    all_images = np.concatenate(images)[..., None]
    if not labels:
        return all_images, None, None
    all_labels = np.concatenate(labels).astype(np.int32)
    return all_images, all_labels, [str(i) for i in range(int(all_labels.max()) + 1)]
