"""The on-disk dataset format: sharded TFRecords of tf.train.Example plus metadata.json.

Features of each record (source 004's reader needs only `image_raw`):

    image_raw   bytes   encoded JPEG or PNG
    height, width, channels   int64
    label       int64   only in labelled datasets (index into metadata label_names)
    source_id   bytes   stable id of the source: relative path, or NAME#index for arrays
    crop_index  int64   which crop of that source (several faces per photo)
    crop_box    float   [x, y, w, h] of the crop in the upright source photo's pixels

Shards are named `train-00003-of-00011.tfrecord`. `ShardSet` writes every shard under a
hidden temporary name and renames all of them only when the build completed, so an
interrupted build never leaves a file that a reader (which skips dot-files) would take.

This module is the format's one home: it writes records and metadata.json (`make_example`,
`ShardSet`, `check_output` .. `remove_old` for the output folder's lifecycle) and reads
them (`decode_record`, `read_metadata` and the readers of its fields below it).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid

import tensorflow as tf

from dcgan_tf.utils.errors import UserError

METADATA = "metadata.json"
FORMAT = "dcgan_tf.tfrecords/1"
SHARD_PREFIX = "train"
TEMP_MARK = ".tmp-"
BUILD_LOCK = "build.lock"  # while a builder writes the folder (dcgan_tf.data.build)
RECORDS_PER_SHARD = 1024  # automatic shard count: about this many records per shard
MAX_AUTO_SHARDS = 256


def shard_name(index: int, count: int) -> str:
    return f"{SHARD_PREFIX}-{index:05d}-of-{count:05d}.tfrecord"


def make_example(image_raw: bytes, shape, label: int | None, source_id: str,
                 crop_index: int, crop_box=(0.0, 0.0, 0.0, 0.0)) -> bytes:
    def ints(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    def raw(v: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    feature = {
        "image_raw": raw(image_raw),
        "height": ints(shape[0]),
        "width": ints(shape[1]),
        "channels": ints(shape[2]),
        "source_id": raw(source_id.encode("utf-8")),
        "crop_index": ints(crop_index),
        "crop_box": tf.train.Feature(float_list=tf.train.FloatList(value=list(crop_box))),
    }
    if label is not None:
        feature["label"] = ints(label)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_record(record, channels: int, with_label: bool):
    """One serialized record -> (uint8 image [H, W, channels], int32 label or None), in
    the graph. Reads only `image_raw` (and `label`), so foreign records with just an
    `image_raw` (source 004's convention) read too; a missing label reads as -1."""
    features = {"image_raw": tf.io.FixedLenFeature([], tf.string)}
    if with_label:
        features["label"] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)
    example = tf.io.parse_single_example(record, features)
    image = tf.io.decode_image(example["image_raw"], channels=channels, expand_animations=False)
    return image, (tf.cast(example["label"], tf.int32) if with_label else None)


class ShardSet:
    """`count` shards in `folder`, records dealt round-robin; `commit()` renames them in."""

    def __init__(self, folder: str, count: int):
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.names = [shard_name(i, count) for i in range(count)]
        tag = uuid.uuid4().hex[:8]
        self.temps = [os.path.join(folder, f".{n}{TEMP_MARK}{tag}") for n in self.names]
        self.writers = [tf.io.TFRecordWriter(t) for t in self.temps]
        self.counts = [0] * count
        self.written = 0

    def write(self, record: bytes) -> None:
        i = self.written % len(self.writers)
        self.writers[i].write(record)
        self.counts[i] += 1
        self.written += 1

    def close(self) -> None:
        for w in self.writers:
            w.close()
        self.writers = []

    def abort(self) -> None:
        self.close()
        for t in self.temps:
            if os.path.exists(t):
                os.remove(t)

    def commit(self) -> list[dict]:
        """Renames complete shards to their final names (empty shards are dropped)."""
        self.close()
        shards = []
        for name, temp, n in zip(self.names, self.temps, self.counts):
            if n == 0:
                os.remove(temp)
                continue
            os.replace(temp, os.path.join(self.folder, name))
            shards.append({"file": name, "records": n})
        return shards


def count_records(files: list[str], meta: dict | None = None) -> int:
    """How many records the TFRecord `files` hold, read (framing and CRCs checked) but not
    decoded. UserError in one line naming a file that is cut short or damaged: a record
    that does not read, or fewer records than metadata.json (`meta`) lists for it."""
    listed = {}
    for shard in (meta or {}).get("shards") or []:
        if isinstance(shard, dict) and "file" in shard:
            listed[str(shard["file"])] = shard.get("records")
    total = 0
    for path in files:
        try:
            n = int(tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64),
                                                         lambda count, _: count + 1))
        except tf.errors.OpError as e:
            reason = e.message.split(" failed with ")[0].rsplit("}}", 1)[-1].strip(" '")
            raise UserError(f"{path} is damaged ({reason or type(e).__name__}): cut short "
                            "or overwritten; rebuild it, or leave it out of --data.") from None
        expected = listed.get(os.path.basename(path))
        if n == 0 and os.path.getsize(path) > 0:  # shorter than one record's header
            raise UserError(f"{path} is damaged (no whole record in its "
                            f"{os.path.getsize(path)} bytes): cut short or overwritten; "
                            "rebuild it, or leave it out of --data.")
        if isinstance(expected, int) and n < expected:
            raise UserError(f"{path} is cut short: {n} of the {expected} records "
                            f"{METADATA} lists; rebuild it, or leave it out of --data.")
        total += n
    return total


# ---------------------------------------------------------------------- metadata.json


def read_metadata(folder: str) -> dict | None:
    path = os.path.join(folder, METADATA)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def built_sizes(meta: dict | None) -> list[int]:
    """The image sizes a built dataset holds: every size of a multi-size build, else its
    one size; [] for metadata that names none."""
    if not meta:
        return []
    try:
        return [int(s) for s in meta.get("resolutions") or []] or (
            [int(meta["size"])] if meta.get("size") else [])
    except (TypeError, ValueError):
        return []


def size_folder(folder: str, resolution: int) -> str:
    """A multi-size build (dcgan_tf.data.build --size=32,64,...) keeps one subfolder per
    size: the model's size, else the smallest larger one, else the largest. Any other
    folder (or path) is returned as it is."""
    meta = read_metadata(folder) if os.path.isdir(folder) else None
    sizes = built_sizes(meta) if meta and meta.get("resolutions") else []
    if not sizes:
        return folder
    larger = [s for s in sizes if s >= resolution]
    return os.path.join(folder, str(min(larger) if larger else max(sizes)))


def built_size(meta: dict | None) -> int | None:
    """The one size the builder cropped a folder's records to (None: not built here)."""
    sizes = built_sizes(meta)
    return sizes[0] if len(sizes) == 1 else None


def label_names(meta: dict | None) -> list[str] | None:
    """Class names of a labelled dataset (a record's `label` indexes them), else None."""
    return list((meta or {}).get("label_names") or []) or None


def record_count(meta: dict | None) -> int:
    """How many records metadata.json says the folder holds (0: unknown)."""
    if not meta:
        return 0
    try:
        return int(meta.get("count", meta.get("written", 0)) or 0)
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------------- the output folder


def is_temp_leftover(name: str) -> bool:
    return name.startswith(".") and TEMP_MARK in name


def dataset_files(folder: str, meta: dict | None) -> list[str]:
    """Paths (relative to folder) that belong to the dataset described by `meta`."""
    if not meta:
        return []
    files = [METADATA]
    for shard in meta.get("shards", []):
        files.append(shard["file"])
    for sub in meta.get("resolution_dirs", []):
        files.append(sub)
    return files


def check_output(out: str, identity: dict, overwrite: bool) -> dict | None:
    """Refuses to clobber; returns the metadata of a dataset that may be replaced (one built
    with the same options `identity`, or any with `overwrite`)."""
    if not os.path.exists(out):
        return None
    if not os.path.isdir(out):
        raise UserError(f"--out {out!r} exists and is not a folder.")
    entries = [e for e in os.listdir(out) if not is_temp_leftover(e) and e != BUILD_LOCK]
    if not entries:
        return None
    meta = read_metadata(out)
    if meta is not None and meta.get("options") == identity:
        return meta  # the same build again: replace it
    if overwrite:
        return meta or {}
    what = "a different dataset" if meta is not None else f"{len(entries)} other file(s)"
    raise UserError(f"--out {out!r} already holds {what}; choose another folder or pass "
                    "--overwrite to replace it.")


def remove_old(out: str, meta: dict | None, keep: set[str]) -> None:
    """Removes the previous dataset's files (and any shard-named files) not in `keep`."""
    names = set(dataset_files(out, meta))
    names |= {n for n in os.listdir(out) if n.startswith(SHARD_PREFIX + "-")
              and n.endswith(".tfrecord")}
    for name in sorted(names - keep):
        path = os.path.join(out, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)


def clean_temp_leftovers(folder: str) -> None:
    """Removes the hidden temporary shards a killed build left (in size subfolders too)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if is_temp_leftover(name) and os.path.isfile(path):
            os.remove(path)
        elif os.path.isdir(path) and name.isdigit():
            clean_temp_leftovers(path)


def auto_shards(num_items: int) -> int:
    return max(1, min(MAX_AUTO_SHARDS, math.ceil(num_items / RECORDS_PER_SHARD)))
