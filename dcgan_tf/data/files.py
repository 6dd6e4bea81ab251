"""Facts about folders of user images, in one place: which file names are images, how a
folder is listed, and how class subfolders become labels. The dataset builder and the
training pipeline both read folders through this module.
"""

from __future__ import annotations

import os

# What Pillow (dcgan_tf.data.images) decodes; the pipeline decodes folders with it too.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


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
