"""Any --data as a `Source`: decoded images at the model's geometry, and how many.

    source = open_source("digits" | "mnist5k" | "lfw100" | "tfds:mnist" | FOLDER | TFRECORDS
                         | FILE.npz | IDX FOLDER OR FILE, geometry)

The kind of a --data string is decided once, by dcgan_tf.data.files.source_kind. A
source that fits in memory is decoded once into uint8 arrays (`materialize`); the
training stream (dcgan_tf.data.stream) permutes those, or streams from disk otherwise.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import os

import numpy as np
import tensorflow as tf

from dcgan_tf.data import records
from dcgan_tf.data.files import (IMAGE_EXTENSIONS, class_labels, is_image_name, list_files,
                                  named_source_hint, source_kind, tfds_name)
from dcgan_tf.data.geometry import Geometry, fit_geometry
from dcgan_tf.data.readers import load_npz
from dcgan_tf.utils.errors import UserError

AUTOTUNE = tf.data.AUTOTUNE
TFRECORD_PATTERNS = ("*.tfrecord", "*.tfrecords", "*.tfrecord-*", "*.tfrec")
# Sources whose decoded uint8 images exceed this stay on disk and are streamed instead.
MEMORY_BUDGET_BYTES = 4 << 30


@dataclasses.dataclass
class Source:
    """Decoded images as a tf.data.Dataset of float32 pixels [H, W, C] in [0, 255] at the
    model's geometry (labels, when present, as a second int32 element), and how many."""

    name: str
    dataset: tf.data.Dataset
    num_examples: int
    has_labels: bool = False
    arrays: tuple | None = None  # (uint8 images, labels or None) once materialized
    exact_count: bool = True  # False: num_examples is an upper bound (undecoded files)
    skipped: int = 0  # records/files that failed to decode or parse (counted, then dropped)
    label_names: list | None = None
    # Records that dcgan_tf.data.build already cropped to this size: they are only resized
    # to the model's size (identity at the built size), never cropped again by --preprocess.
    built_size: int | None = None
    # Called when records were skipped: raises UserError naming a damaged file, if any
    # (TFRecords: a file cut short reads as fewer records, not as an error).
    check_files: object = None

    def steps_per_epoch(self, batch_size: int) -> int:
        """Whole batches of `batch_size` in one pass (UserError when there is none)."""
        steps = self.num_examples // batch_size
        if steps == 0:
            raise UserError(
                f"The batch ({batch_size} images per step) is larger than the dataset "
                f"({self.num_examples} images in {self.name!r}); lower --batch_size.")
        return steps

    def check_labels(self, num_classes: int) -> list[str]:
        """A conditional run's labels must exist and lie in [0, num_classes) (UserError);
        returns one name per class (the data's names, then numbers)."""
        if not self.has_labels:
            raise UserError(f"--num_classes={num_classes} needs labelled data, but "
                            f"{self.name!r} has no labels (build it with --class_subfolders, "
                            "or use an .npz with 'labels').")
        if self.arrays is not None and len(self.arrays[1]):
            labels = self.arrays[1]
            if labels.min() < 0 or labels.max() >= num_classes:
                raise UserError(f"{self.name!r} has labels {int(labels.min())}.."
                                f"{int(labels.max())} but --num_classes={num_classes}.")
        names = list(self.label_names or [])[:num_classes]
        return names + [str(i) for i in range(len(names), num_classes)]

    def images(self, *, limit: int, seed: int):
        """(uint8 images [n, H, W, C], labels [n] or None): up to `limit` of them, a seeded
        subset in source order when there are more (the first `limit` when streamed)."""
        if self.arrays is not None:
            images, labels = self.arrays
        else:  # too large for memory: the first `limit` of the stream
            images, labels = [], []
            for element in self.dataset.take(limit).as_numpy_iterator():
                image = element[0] if isinstance(element, tuple) else element
                images.append(np.round(image).astype(np.uint8))
                if isinstance(element, tuple):
                    labels.append(element[1])
            images, labels = np.stack(images), (np.array(labels) if labels else None)
        if len(images) > limit:
            keep = np.sort(np.random.default_rng(seed).permutation(len(images))[:limit])
            images = images[keep]
            labels = labels[keep] if labels is not None else None
        return np.asarray(images, np.uint8), labels


def open_source(data: str, geometry: Geometry, *, tfds_split="train", tfds_data_dir="",
                cache=True) -> Source:
    """Opens `data` (see module doc) and counts its usable examples.

    Raises UserError with one sentence when the data cannot be found or read.
    """
    if geometry.mode == "resize_then_center" and geometry.load_size < geometry.resolution:
        raise UserError(
            f"--load_size ({geometry.load_size}) must be at least the resolution "
            f"({geometry.resolution}) to cut a centre crop from it."
        )
    if not data:
        raise UserError("--data is empty: name a folder of images, TFRecords, an .npz file, "
                        "IDX files, 'tfds:NAME', 'digits', 'mnist5k' or 'lfw100'.")
    source = _OPENERS[source_kind(data)](data, geometry, tfds_split, tfds_data_dir)
    # In memory when it fits: decoded once, permuted statelessly per epoch.
    listed, exact = source.num_examples, source.exact_count
    in_memory = cache and materialize(source)
    if not in_memory and not exact:  # count what really decodes
        source.num_examples = int(source.dataset.reduce(np.int64(0), lambda n, _: n + 1))
    if not exact:
        source.exact_count = True
        source.skipped = max(listed - source.num_examples, 0)
        if source.skipped and source.check_files is not None:
            source.check_files()
    if source.num_examples == 0:
        raise UserError(f"No usable images in {data!r}.")
    return source


def class_count(data: str, geometry: Geometry, *, tfds_split="train",
                tfds_data_dir="") -> int | None:
    """How many classes labelled `data` has, read without decoding its images: the count of
    its class names (class subfolders, the builder's metadata, digits), else the largest
    label + 1 (an .npz or IDX file without names); None for unlabelled data, and for tfds
    (opening it may download and prepare it; the trainer checks it once opened)."""
    kind = source_kind(data)
    if kind == "tfds":
        return None
    if kind in ("npz", "idx"):
        from dcgan_tf.data.idx import load_idx

        _, labels, names = (load_npz if kind == "npz" else load_idx)(data)
        if labels is None or not len(labels):
            return None
        return len(names) if names is not None and len(names) else int(np.max(labels)) + 1
    source = _OPENERS[kind](data, geometry, tfds_split, tfds_data_dir)
    return len(source.label_names) if source.has_labels and source.label_names else None


def materialize(source: Source, budget_bytes: int = MEMORY_BUDGET_BYTES) -> bool:
    """Decodes the whole source once into uint8 arrays held in memory (source.arrays).

    Returns False (and leaves the source streaming) when it would exceed the budget.
    """
    spec = source.dataset.element_spec
    image_spec = spec[0] if source.has_labels else spec
    per_image = int(np.prod(image_spec.shape))
    if source.num_examples * per_image > budget_bytes:
        return False

    def to_u8(*element):
        image = tf.cast(tf.round(element[0]), tf.uint8)
        return (image, element[1]) if source.has_labels else image

    images, labels = [], []
    for batch in source.dataset.map(to_u8, num_parallel_calls=AUTOTUNE).batch(1024):
        if source.has_labels:
            images.append(batch[0].numpy())
            labels.append(batch[1].numpy())
        else:
            images.append(batch.numpy())
    if not images:
        raise UserError(f"No image in {source.name!r} could be decoded (expected JPEG/PNG "
                        "images or records with an image_raw feature).")
    source.arrays = (np.concatenate(images),
                     np.concatenate(labels) if source.has_labels else None)
    source.num_examples = len(source.arrays[0])
    return True


# ---------------------------------------------------------------------- one per kind


def _digits_source(data, geometry: Geometry, split, data_dir) -> Source:
    from dcgan_tf.data.digits import LABEL_NAMES, load_digits

    images, labels = load_digits(geometry.resolution)  # [N, R, R, 1] in [-1, 1]
    pixels = (images + 1.0) * 127.5  # float32, as the model range maps back
    if geometry.channels == 3:
        pixels = np.repeat(pixels, 3, axis=-1)
    ds = tf.data.Dataset.from_tensor_slices((pixels, labels))
    return Source("digits", ds, len(images), has_labels=True, label_names=list(LABEL_NAMES))


def _array_source(name: str, images, labels, names, geometry: Geometry) -> Source:
    """Pixel arrays [N, H, W, C] in [0, 255] (and int32 labels [N] or None) brought to the
    model's geometry (by batches: all have one size)."""
    ds = tf.data.Dataset.from_tensor_slices(images).batch(256)
    ds = ds.map(lambda im: fit_geometry(im, geometry), num_parallel_calls=AUTOTUNE).unbatch()
    if labels is not None:
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(labels)))
    return Source(name, ds, len(images), has_labels=labels is not None, label_names=names)


def _mnist5k_source(data, geometry: Geometry, split, data_dir) -> Source:
    from dcgan_tf.data.mnist5k import LABEL_NAMES, NAME, load_mnist5k

    images, labels = load_mnist5k()  # uint8 [5000, 28, 28, 1]
    return _array_source(NAME, images, labels, list(LABEL_NAMES), geometry)


def _lfw100_source(data, geometry: Geometry, split, data_dir) -> Source:
    from dcgan_tf.data.lfw100 import NAME, load_lfw100

    return _array_source(NAME, load_lfw100(), None, None, geometry)  # uint8 [100, 25, 25, 1]


def _idx_source(path: str, geometry: Geometry, split, data_dir) -> Source:
    from dcgan_tf.data.idx import load_idx

    images, labels, names = load_idx(path)  # uint8 [N, H, W, 1]
    return _array_source(path, images, labels, names, geometry)


def _npz_source(path: str, geometry: Geometry, split, data_dir) -> Source:
    images, labels, names = load_npz(path)
    # Floats (in [0, 1] or [0, 255]) stay floats, unrounded: non-finite values reach the
    # train step, whose health check stops the run, instead of turning silently into 0.
    if images.dtype != np.uint8:
        scale = 255.0 if images.max() <= 1.0 else 1.0
        images = np.clip(images.astype(np.float32) * scale, 0, 255)
    return _array_source(path, images, labels, names, geometry)


def _tfds_source(data, geometry: Geometry, split, data_dir) -> Source:
    from dcgan_tf.data.tfds_source import open_tfds

    found = open_tfds(tfds_name(data), split, data_dir)

    def convert(image, label):
        image = fit_geometry(image, geometry)
        return (image, label) if found.has_labels else image

    return Source(found.name, found.dataset.map(convert, num_parallel_calls=AUTOTUNE),
                  found.count, found.has_labels, label_names=found.label_names)


def _path_source(data: str, geometry: Geometry, split, data_dir) -> Source:
    data = records.size_folder(data, geometry.resolution)
    files = _tfrecord_files(data)
    if files:
        return _tfrecord_source(data, files, geometry)
    if os.path.isdir(data):
        return _folder_source(data, geometry)
    if os.path.isfile(data):
        raise UserError(f"--data {data!r} is a file but not an image archive: expected a "
                        "folder of images or TFRecords, a TFRecord file, an .npz file, "
                        "IDX files, 'tfds:NAME', 'digits', 'mnist5k' or 'lfw100'.")
    raise UserError(f"--data {data!r} does not exist (expected a folder of images or "
                    "TFRecords, a TFRecord file or glob, an .npz file, IDX files, "
                    f"'tfds:NAME', 'digits', 'mnist5k' or 'lfw100').{named_source_hint(data)}")


_OPENERS = {"digits": _digits_source, "mnist5k": _mnist5k_source, "lfw100": _lfw100_source,
            "tfds": _tfds_source, "npz": _npz_source, "idx": _idx_source, "path": _path_source}


def _folder_source(data: str, geometry: Geometry) -> Source:
    """Every image below `data`, decoded by dcgan_tf.data.images (EXIF orientation, every
    format and mode the dataset builder reads). Class subfolders (every image inside a
    first-level folder, the builder's --class_subfolders rule) give labels."""
    from dcgan_tf.data.images import BadImage, load_image

    rel = [f for f in list_files(data) if is_image_name(f)]
    if not rel:
        raise UserError(f"Folder {data!r} holds no images ({', '.join(IMAGE_EXTENSIONS)}) "
                        "and no TFRecords.")
    names, labels = class_labels(rel)
    labelled = bool(names) and all(label is not None for label in labels)
    files = [os.path.join(data, f) for f in rel]
    channels = geometry.channels

    def decode(path):
        try:
            with open(path.decode(), "rb") as f:
                array, _ = load_image(f.read(), channels)
        except (OSError, BadImage) as e:
            raise ValueError(f"{path.decode()}: {e}") from None  # dropped by ignore_errors
        return array

    def load(path):
        image = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
        image.set_shape([None, None, channels])
        return fit_geometry(image, geometry)

    paths = tf.data.Dataset.from_tensor_slices(files)
    if labelled:
        ds = tf.data.Dataset.zip((paths, tf.data.Dataset.from_tensor_slices(
            np.array(labels, np.int32))))
        ds = ds.map(lambda p, label: (load(p), label), num_parallel_calls=AUTOTUNE)
    else:
        ds = paths.map(load, num_parallel_calls=AUTOTUNE)
    ds = ds.ignore_errors()
    return Source(data, ds, len(files), has_labels=labelled, exact_count=False,
                  label_names=names if labelled else None)


def _tfrecord_files(data: str) -> list[str]:
    if os.path.isdir(data):
        found = []
        for pattern in TFRECORD_PATTERNS:
            found += glob.glob(os.path.join(data, pattern))
        return sorted(set(f for f in found if not os.path.basename(f).startswith(".")))
    if any(ch in data for ch in "*?["):
        return sorted(glob.glob(data))
    # a file named like TFRecords is one even when its first record does not read: a
    # damaged file is then reported as damaged (records.count_records), not as unknown
    named = any(fnmatch.fnmatch(os.path.basename(data), p) for p in TFRECORD_PATTERNS)
    if os.path.isfile(data) and (named or _is_tfrecord_file(data)):
        return [data]
    return []


def _is_tfrecord_file(path: str) -> bool:
    """True if the file starts with a well-formed TFRecord (length and CRCs check out)."""
    try:
        for _ in tf.data.TFRecordDataset(path).take(1):
            pass
        return os.path.getsize(path) > 0
    except (tf.errors.DataLossError, tf.errors.OpError):
        return False


def _tfrecord_source(data, files, geometry: Geometry) -> Source:
    """TFRecords of tf.train.Example with JPEG/PNG bytes in `image_raw` (source 004's
    format; also what `dcgan_tf.data.build` writes, dcgan_tf.data.records), optional
    int64 `label`; metadata.json beside them gives labels, count and built size."""
    meta = records.read_metadata(data if os.path.isdir(data) else os.path.dirname(data))
    names = records.label_names(meta)
    has_labels = bool(names)
    count = records.record_count(meta)
    built = records.built_size(meta)
    if built:  # cropped by the builder: only a resize to the model's size (none if equal)
        geometry = dataclasses.replace(geometry, mode="resize", load_size=0)

    def parse(record):
        image, label = records.decode_record(record, geometry.channels, has_labels)
        image = fit_geometry(image, geometry)
        return (image, label) if has_labels else image

    files_ds = tf.data.Dataset.from_tensor_slices(files)
    ds = files_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                             num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.map(parse, num_parallel_calls=AUTOTUNE)
    ds = ds.ignore_errors(log_warning=True)
    if count <= 0:  # no metadata: count records (cheap, nothing is decoded)
        count = records.count_records(files)
    return Source(data, ds, count, has_labels, exact_count=False, label_names=names,
                  built_size=built, check_files=lambda: records.count_records(files, meta))
