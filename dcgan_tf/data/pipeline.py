"""The training input pipeline: one function from a data spec to a resumable stream.

    source = open_source("digits" | "tfds:mnist" | FOLDER | TFRECORDS | FILE.npz, ...)
    stream = training_stream(source, spec, batch_size=..., seed=..., start_step=k)

The stream is deterministic in (seed, step): epoch e is the source shuffled with a seed
made from (seed, e), augmented with stateless random ops seeded by (seed, e, index), and
batched with drop_remainder. Resuming at step k rebuilds the stream from epoch
k // steps_per_epoch and skips k % steps_per_epoch batches, so a resumed run sees exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import numpy as np
import tensorflow as tf

from dcgan_tf.data.crops import central_fraction
from dcgan_tf.data.files import IMAGE_EXTENSIONS, class_labels, is_image_name, list_files
from dcgan_tf.data.tfds_source import open_tfds
from dcgan_tf.utils.errors import UserError

AUTOTUNE = tf.data.AUTOTUNE
TFRECORD_PATTERNS = ("*.tfrecord", "*.tfrecords", "*.tfrecord-*", "*.tfrec")


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How raw images become model inputs."""

    resolution: int
    channels: int
    mode: str = "resize"  # resize | center | resize_then_center
    load_size: int = 0
    flip_lr: bool = False
    flip_ud: bool = False


@dataclasses.dataclass
class Source:
    """Decoded images as a tf.data.Dataset of float32 [H, W, C] in [-1, 1] at the model's
    resolution (labels, when present, as a second int32 element), and how many."""

    name: str
    dataset: tf.data.Dataset
    num_examples: int
    has_labels: bool = False
    arrays: tuple | None = None  # (uint8 images, labels or None) once materialized
    exact_count: bool = True  # False: num_examples is an upper bound (undecoded files)
    skipped: int = 0  # records/files that failed to decode or parse (counted, then dropped)
    label_names: list | None = None
    # Set for records that dcgan_tf.data.build already cropped: how they are brought to the
    # model's size instead of the run's --preprocess (a plain resize, identity at the built
    # size), so a finished crop is never cropped again. The source's dataset applies it.
    preprocess: Preprocess | None = None


# ---------------------------------------------------------------------- pixel work


def to_model_range(image, prep: Preprocess):
    """uint8/float image [H, W, c] in [0, 255] -> float32 [R, R, C] in [-1, 1]."""
    image = tf.cast(image, tf.float32)
    have = image.shape[-1]
    if have == 4:
        image = image[..., :3]
        have = 3
    if prep.channels == 3 and have == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif prep.channels == 1 and have == 3:
        image = tf.image.rgb_to_grayscale(image)
    size = (prep.resolution, prep.resolution)
    if prep.mode == "resize":
        image = tf.image.resize(image, size, antialias=True)
    elif prep.mode == "center":
        image = _center_square(image)
        image = tf.image.resize(image, size, antialias=True)
    else:  # resize_then_center (source 000: 256x256, then the central 64x64)
        shape = tf.cast(tf.shape(image), tf.float32)
        x, y, w, h = central_fraction(shape[0], shape[1], prep.resolution, prep.load_size)
        box = [tf.cast(tf.round(v), tf.int32) for v in (y, x, h, w)]
        image = tf.image.crop_to_bounding_box(image, box[0], box[1], tf.maximum(box[2], 1),
                                              tf.maximum(box[3], 1))
        image = tf.image.resize(image, size, antialias=True)
    image = tf.clip_by_value(image, 0.0, 255.0) / 127.5 - 1.0
    image.set_shape((prep.resolution, prep.resolution, prep.channels))
    return image


def _center_square(image):
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    return tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)


def augment_batch(images, prep: Preprocess, seed):
    """Random flips per image of a batch [B, H, W, C]; `seed` is an int64 [2] tensor
    (stateless: the same seed flips the same images)."""
    if not (prep.flip_lr or prep.flip_ud):
        return images
    coins = tf.random.stateless_uniform([2, tf.shape(images)[0]], seed=seed)
    if prep.flip_lr:
        images = tf.where((coins[0] < 0.5)[:, None, None, None],
                          tf.reverse(images, axis=[2]), images)
    if prep.flip_ud:
        images = tf.where((coins[1] < 0.5)[:, None, None, None],
                          tf.reverse(images, axis=[1]), images)
    return images


# ---------------------------------------------------------------------- sources


def open_source(data: str, prep: Preprocess, *, tfds_split="train", tfds_data_dir="",
                cache=True) -> Source:
    """Opens `data` (see module doc) and counts its usable examples.

    Raises UserError with one sentence when the data cannot be found or read.
    """
    if prep.mode == "resize_then_center" and prep.load_size < prep.resolution:
        raise UserError(
            f"--load_size ({prep.load_size}) must be at least the resolution "
            f"({prep.resolution}) to cut a centre crop from it."
        )
    if not data:
        raise UserError("--data is empty: name a folder of images, TFRecords, an .npz file, "
                        "'tfds:NAME' or 'digits'.")
    if data == "digits":
        source = _digits_source(prep)
    elif data.startswith("tfds:"):
        source = _tfds_source(data[len("tfds:"):], prep, tfds_split, tfds_data_dir)
    elif data.endswith(".npz"):
        source = _npz_source(data, prep)
    else:
        source = _file_source(data, prep)
    # In memory when it fits: decoded once, permuted statelessly per epoch.
    listed, exact = source.num_examples, source.exact_count
    in_memory = cache and materialize(source)
    if not in_memory and not exact:  # count what really decodes
        source.num_examples = int(source.dataset.reduce(np.int64(0), lambda n, _: n + 1))
    if not exact:
        source.exact_count = True
        source.skipped = max(listed - source.num_examples, 0)
    if source.num_examples == 0:
        raise UserError(f"No usable images in {data!r}.")
    return source


def _digits_source(prep: Preprocess) -> Source:
    from dcgan_tf.data.digits import load_digits

    images, labels = load_digits(prep.resolution)  # [N, R, R, 1] in [-1, 1]
    if prep.channels == 3:
        images = np.repeat(images, 3, axis=-1)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return Source("digits", ds, len(images), has_labels=True,
                  label_names=[str(i) for i in range(10)])


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


def _npz_source(path: str, prep: Preprocess) -> Source:
    images, labels, names = load_npz(path)
    # Floats (in [0, 1] or [0, 255]) stay floats, unrounded: non-finite values reach the
    # train step, whose health check stops the run, instead of turning silently into 0.
    if images.dtype != np.uint8:
        scale = 255.0 if images.max() <= 1.0 else 1.0
        images = np.clip(images.astype(np.float32) * scale, 0, 255)
    ds = tf.data.Dataset.from_tensor_slices(images)
    ds = ds.map(lambda im: to_model_range(im, prep), num_parallel_calls=AUTOTUNE)
    if labels is not None:
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(labels)))
    return Source(path, ds, len(images), has_labels=labels is not None, label_names=names)


def _tfds_source(name, prep, split, data_dir) -> Source:
    data = open_tfds(name, split, data_dir)

    def convert(image, label):
        image = to_model_range(image, prep)
        return (image, label) if data.has_labels else image

    return Source(data.name, data.dataset.map(convert, num_parallel_calls=AUTOTUNE),
                  data.count, data.has_labels, label_names=data.label_names)


def _file_source(data: str, prep: Preprocess) -> Source:
    data = _pick_resolution_dir(data, prep.resolution)
    records = _tfrecord_files(data)
    if records:
        return _tfrecord_source(data, records, prep)
    if os.path.isdir(data):
        return _folder_source(data, prep)
    if os.path.isfile(data):
        raise UserError(f"--data {data!r} is a file but not an image archive: expected a "
                        "folder of images or TFRecords, a TFRecord file, an .npz file, "
                        "'tfds:NAME' or 'digits'.")
    raise UserError(f"--data {data!r} does not exist (expected a folder of images or "
                    "TFRecords, a TFRecord file or glob, an .npz file, 'tfds:NAME' or "
                    "'digits').")


def _folder_source(data: str, prep: Preprocess) -> Source:
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
    channels = prep.channels

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
        return to_model_range(image, prep)

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


def _pick_resolution_dir(data: str, resolution: int) -> str:
    """A multi-size build (dcgan_tf.data.build --size=32,64,...) keeps one subfolder per
    size: take the model's size, else the smallest larger one, else the largest."""
    meta_path = os.path.join(data, "metadata.json")
    if not os.path.isdir(data) or not os.path.isfile(meta_path):
        return data
    try:
        with open(meta_path) as f:
            sizes = [int(s) for s in json.load(f).get("resolutions") or []]
    except (OSError, ValueError, TypeError):
        return data
    if not sizes:
        return data
    larger = [s for s in sizes if s >= resolution]
    return os.path.join(data, str(min(larger) if larger else max(sizes)))


def _tfrecord_files(data: str) -> list[str]:
    if os.path.isdir(data):
        found = []
        for pattern in TFRECORD_PATTERNS:
            found += glob.glob(os.path.join(data, pattern))
        return sorted(set(f for f in found if not os.path.basename(f).startswith(".")))
    if any(ch in data for ch in "*?["):
        return sorted(glob.glob(data))
    if os.path.isfile(data) and _is_tfrecord_file(data):
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


def _tfrecord_source(data, files, prep: Preprocess) -> Source:
    """TFRecords of tf.train.Example with JPEG/PNG bytes in `image_raw` (source 004's
    format; also what `dcgan_tf.data.build` writes), optional int64 `label`."""
    count = 0
    meta = os.path.join(data if os.path.isdir(data) else os.path.dirname(data), "metadata.json")
    has_labels, names = False, None
    built = None  # the size the dataset builder cropped these records to
    if os.path.isfile(meta):
        with open(meta) as f:
            info = json.load(f)
        names = info.get("label_names") or None
        has_labels = bool(names)
        count = int(info.get("count", info.get("written", 0)) or 0)
        built = info.get("size")
    features = {"image_raw": tf.io.FixedLenFeature([], tf.string)}
    if has_labels:
        features["label"] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)

    precropped = None
    if built:  # cropped by the builder: only a resize to the model's size (none if equal)
        precropped = dataclasses.replace(prep, mode="resize", load_size=0)
        prep = precropped

    def parse(record):
        ex = tf.io.parse_single_example(record, features)
        image = tf.io.decode_image(ex["image_raw"], channels=prep.channels,
                                   expand_animations=False)
        image = to_model_range(image, prep)
        if has_labels:
            return image, tf.cast(ex["label"], tf.int32)
        return image

    files_ds = tf.data.Dataset.from_tensor_slices(files)
    ds = files_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                             num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.map(parse, num_parallel_calls=AUTOTUNE)
    ds = ds.ignore_errors(log_warning=True)
    if count <= 0:  # no metadata: count records (cheap, nothing is decoded)
        count = int(tf.data.TFRecordDataset(files).reduce(np.int64(0), lambda n, _: n + 1))
    return Source(data, ds, count, has_labels, exact_count=False, label_names=names,
                  preprocess=precropped)


# ---------------------------------------------------------------------- the stream

MEMORY_BUDGET_BYTES = 4 << 30
PERMUTATION_SALT = 498247692
PREFETCH_BATCHES = 4  # first seed word of the per-epoch permutation  # decoded uint8 images above this stream from disk instead


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
        image = tf.cast(tf.round((element[0] + 1.0) * 127.5), tf.uint8)
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


def training_stream(source: Source, prep: Preprocess, *, batch_size: int, seed: int,
                    start_step: int = 0, end_step: int | None = None,
                    shuffle_buffer: int = 10_000,
                    with_labels: bool = False) -> tuple[tf.data.Dataset, int]:
    """Deterministic, resumable batches for steps [start_step, end_step) (endless when
    end_step is None); returns (dataset, steps_per_epoch).

    In-memory (`materialize`d) sources: the stream is a range over global example
    positions p = step * batch + k; epoch e = p // (steps_per_epoch * batch) uses the
    stateless permutation `index_shuffle(seed=(seed, e))`, so any step can be rebuilt
    exactly and a resumed run sees the uninterrupted run's batches. No per-epoch datasets
    are created (a flat_map over epochs made tf.data's autotuner stall for ~50 s after
    100 epochs). Streamed sources use a shuffle buffer seeded by (seed, first epoch):
    deterministic for a given start, but not batch-identical across a resume.
    """
    steps_per_epoch = source.num_examples // batch_size
    if steps_per_epoch == 0:
        raise UserError(
            f"The batch ({batch_size} images per step) is larger than the dataset "
            f"({source.num_examples} images in {source.name!r}); lower --batch_size."
        )
    per_epoch = steps_per_epoch * batch_size
    end = np.iinfo(np.int64).max // 2 if end_step is None else end_step * batch_size
    seed = int(seed)

    if source.arrays is not None:
        images_u8 = tf.convert_to_tensor(source.arrays[0])
        labels = None if source.arrays[1] is None else tf.convert_to_tensor(source.arrays[1])
        last = tf.constant(source.num_examples - 1, tf.int64)

        def make_batch(positions):  # [B] int64 global example positions
            epoch = positions[0] // per_epoch  # a batch never spans two epochs
            seeds = tf.stack([tf.fill([batch_size], tf.constant(PERMUTATION_SALT, tf.int64)),
                              tf.fill([batch_size], tf.constant(seed, tf.int64)),
                              tf.fill([batch_size], epoch)], axis=1)  # [B, 3]
            # The raw op: tf.random.experimental.index_shuffle mis-pads [n, 2] seeds.
            index = tf.raw_ops.RandomIndexShuffle(
                index=positions % per_epoch, seed=seeds,
                max_index=tf.fill([batch_size], last), rounds=4)
            images = tf.cast(tf.gather(images_u8, index), tf.float32) / 127.5 - 1.0
            images = augment_batch(images, prep, tf.stack([tf.constant(seed, tf.int64),
                                                           positions[0]]))
            if with_labels:
                return images, tf.gather(labels, index)
            return images

        positions = tf.data.Dataset.range(start_step * batch_size, end)
        stream = positions.batch(batch_size, drop_remainder=True)
        stream = stream.map(make_batch, num_parallel_calls=2, deterministic=True)
    else:
        start_epoch, offset = divmod(start_step, steps_per_epoch)
        epochs = None if end_step is None else max(-(-end_step // steps_per_epoch) - start_epoch, 1)
        ds = source.dataset.shuffle(min(shuffle_buffer, source.num_examples),
                                    seed=seed * 1_000_003 + start_epoch,
                                    reshuffle_each_iteration=True)
        ds = ds.take(per_epoch).repeat(epochs).batch(batch_size, drop_remainder=True)

        def finish(step, element):
            images, label = element if source.has_labels else (element, None)
            images = augment_batch(images, prep, tf.stack([tf.constant(seed, tf.int64),
                                                           step * batch_size]))
            return (images, label) if with_labels else images

        stream = ds.skip(offset).enumerate(start=start_step)
        stream = stream.map(finish, num_parallel_calls=2, deterministic=True)
        if end_step is not None:
            stream = stream.take(end_step - start_step)
    return stream.with_options(stream_options()).prefetch(PREFETCH_BATCHES), steps_per_epoch


def stream_options() -> tf.data.Options:
    """Options of every training stream.

    - autotune off: its thread made deleting an iterator take 27-50 s after ~100 epochs
      (a 3,000-step digits run paused at every fit() boundary and at exit), and on 2 cores
      it costs ~170 ms per mnist28 step (0.51 s against 0.34 s, tools/benchmark.py).
      Parallelism is set by hand instead; a train step dwarfs a gather anyway.
    - DATA sharding under tf.distribute: the stream is rebatched per replica and each
      worker keeps its replicas' part of every global batch, so the images of a step do not
      depend on the number of workers (FILE sharding would change them and break the
      resumable order).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return options
