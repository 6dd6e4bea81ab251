"""The readers shared by the training pipeline and the dataset builder: `load_npz`, and
the builder's readers, which turn each kind of --source (dcgan_tf.data.files.source_kind,
the one dispatch over source strings) into `Item`s: a file to decode or a uint8 array.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from dcgan_tf.data.files import (class_labels, is_image_name, list_files, named_source_hint,
                                  source_kind, tfds_name)
from dcgan_tf.data.options import BuildOptions
from dcgan_tf.utils.errors import UserError


def load_npz(path: str):
    """An .npz of `images` [N, H, W(, C)] (+ optional `labels` [N], `label_names`) ->
    (images [N, H, W, C], int32 labels or None, names or None); UserError when unusable."""
    if not os.path.isfile(path):
        raise UserError(f"Data file {path!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "images" not in npz:
                raise UserError(f"{path!r} has no array named 'images' (has {list(npz)}).")
            images = npz["images"]
            labels = npz["labels"] if "labels" in npz else None
            names = [str(n) for n in npz["label_names"]] if "label_names" in npz else None
    except (OSError, ValueError) as e:
        raise UserError(f"Cannot read {path!r} as a numpy .npz file: {e}") from e
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise UserError(f"'images' in {path!r} must be [N, H, W, C] with C in 1, 3 or 4, "
                        f"got shape {images.shape}.")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1).astype(np.int32)
        if len(labels) != len(images):
            raise UserError(f"{path!r}: {len(labels)} labels for {len(images)} images.")
    return images, labels, names


# ---------------------------------------------------------------------- builder items


@dataclasses.dataclass
class Item:
    key: str  # stable id: relative posix path, or NAME#index
    label: int | None = None
    path: str | None = None
    array: np.ndarray | None = None


def list_items(opts: BuildOptions):
    """-> (items, label_names or None, skipped [(key, reason, detail)])."""
    if opts.stack_digits:
        return _stacked_items(opts)
    return _ITEM_READERS[source_kind(opts.source)](opts)


def _folder_items(opts: BuildOptions):
    root = opts.source
    if not os.path.isdir(root):
        raise UserError(f"--source {root!r} is not a folder, an .npz file, IDX files, "
                        f"tfds:NAME, digits, mnist5k or lfw100.{named_source_hint(root)}")
    files = list_files(root)
    items, skipped = [], []
    class_names, labels = class_labels(files) if opts.class_subfolders else ([], [None] * len(files))
    if opts.class_subfolders and not class_names:
        raise UserError(f"--class_subfolders: {root!r} has no subfolders to take labels from.")
    for rel, label in zip(files, labels):
        if not is_image_name(rel):
            skipped.append((rel, "not an image file name", ""))
            continue
        if opts.class_subfolders and label is None:
            skipped.append((rel, "not in a class subfolder", ""))
            continue
        items.append(Item(rel, label, path=os.path.join(root, rel)))
    if not items and not skipped:
        raise UserError(f"--source folder {root!r} is empty.")
    return items, (class_names or None), skipped


def _uint8(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    images = images.astype(np.float32)
    if images.size and images.max() <= 1.0:
        images = images * 255.0
    return np.clip(np.round(images), 0, 255).astype(np.uint8)


def _npz_items(opts: BuildOptions):
    images, labels, names = load_npz(opts.source)
    if labels is not None and names is None:
        names = [str(i) for i in range(int(labels.max()) + 1)] if len(labels) else []
    images = _uint8(images)
    return _array_items(os.path.basename(opts.source), images, labels), names, []


def _array_items(stem: str, images: np.ndarray, labels):
    """uint8 arrays [N, H, W, C] (and labels) as items keyed STEM#index."""
    return [Item(f"{stem}#{i}", None if labels is None else int(labels[i]), array=images[i])
            for i in range(len(images))]


def _mnist5k_items(opts: BuildOptions):
    from dcgan_tf.data.mnist5k import LABEL_NAMES, NAME, load_mnist5k

    images, labels = load_mnist5k()  # uint8 [5000, 28, 28, 1], resized by the builder
    return _array_items(NAME, images, labels), list(LABEL_NAMES), []


def _lfw100_items(opts: BuildOptions):
    from dcgan_tf.data.lfw100 import NAME, load_lfw100

    # uint8 [100, 25, 25, 1], unlabelled; sizes above 25 need --small=upscale
    return _array_items(NAME, load_lfw100(), None), None, []


def _idx_items(opts: BuildOptions):
    from dcgan_tf.data.idx import load_idx

    images, labels, names = load_idx(opts.source)
    return _array_items(os.path.basename(os.path.normpath(opts.source)), images, labels), \
        names, []


def _digits_items(opts: BuildOptions):
    from dcgan_tf.data.digits import LABEL_NAMES, load_digits
    from dcgan_tf.utils.tiles import to_uint8

    images, labels = load_digits(32)  # bicubic 8 -> 32, as the trainer's 'digits'
    u8 = to_uint8(images)
    items = [Item(f"digits#{i}", int(labels[i]), array=u8[i]) for i in range(len(u8))]
    return items, list(LABEL_NAMES), []


def _stacked_items(opts: BuildOptions):
    """`opts.stack_digits` images, each three random digits of the (labelled) source in
    the R, G, B channels; label 100 d_R + 10 d_G + d_B."""
    base = dataclasses.replace(opts, stack_digits=0)
    items, _, _ = list_items(base)
    arrays = [item for item in items if item.array is not None and item.label is not None]
    if not arrays or len(arrays) < len(items):
        raise UserError("--stack_digits needs labelled images in memory: --source=mnist5k, "
                        "digits, IDX files with labels, tfds:mnist or an .npz with 'labels'.")
    gray = []
    for item in arrays:
        image = item.array if item.array.ndim == 3 else item.array[..., None]
        if image.shape[-1] == 3:
            image = np.round(image.astype(np.float32) @ np.array([0.299, 0.587, 0.114])
                             )[..., None].astype(np.uint8)
        gray.append(image[..., 0])
    if len({g.shape for g in gray}) != 1:
        raise UserError("--stack_digits needs source images of one size.")
    gray = np.stack(gray)
    labels = np.array([item.label for item in arrays])
    if labels.max() > 9:
        raise UserError(f"--stack_digits needs digit labels 0-9; the source has {labels.max()}.")
    pick = np.random.default_rng(opts.stack_seed).integers(0, len(gray),
                                                           (opts.stack_digits, 3))
    stacked = []
    for i, (r, g, b) in enumerate(pick):
        label = int(labels[r] * 100 + labels[g] * 10 + labels[b])
        stacked.append(Item(f"stacked#{i}", label,
                            array=np.stack([gray[r], gray[g], gray[b]], axis=-1)))
    return stacked, [f"{m:03d}" for m in range(1000)], []


def _tfds_items(opts: BuildOptions):
    from dcgan_tf.data.tfds_source import open_tfds

    data = open_tfds(tfds_name(opts.source), opts.tfds_split, opts.tfds_data_dir)
    items = []
    for i, (image, label) in enumerate(data.dataset.as_numpy_iterator()):
        items.append(Item(f"{data.name}/{opts.tfds_split}#{i}",
                          int(label) if data.has_labels else None, array=_uint8(image)))
    return items, data.label_names, []


_ITEM_READERS = {"digits": _digits_items, "mnist5k": _mnist5k_items, "lfw100": _lfw100_items,
                 "tfds": _tfds_items, "npz": _npz_items, "idx": _idx_items,
                 "path": _folder_items}
