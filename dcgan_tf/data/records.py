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
"""

from __future__ import annotations

import json
import os
import uuid

import tensorflow as tf

METADATA = "metadata.json"
FORMAT = "dcgan_tf.tfrecords/1"
SHARD_PREFIX = "train"
TEMP_MARK = ".tmp-"


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


def read_metadata(folder: str) -> dict | None:
    path = os.path.join(folder, METADATA)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


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


def parse_example(record: bytes) -> dict:
    """One serialized record -> dict of numpy values (for tests and inspection tools)."""
    example = tf.train.Example.FromString(record)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        out[key] = values if key == "crop_box" else values[0]
    return out


def read_records(folder: str) -> list[dict]:
    """All records of a built dataset folder, in shard order (shard 0 first)."""
    meta = read_metadata(folder) or {}
    out = []
    for shard in meta.get("shards", []):
        for record in tf.data.TFRecordDataset(os.path.join(folder, shard["file"])):
            out.append(parse_example(record.numpy()))
    return out
