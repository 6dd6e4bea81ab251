"""Reading a built dataset back record by record, every feature as numpy values, for the
builder's tests (the package reads records through dcgan_tf.data.records.decode_record)."""

from __future__ import annotations

import os

import tensorflow as tf

from dcgan_tf.data import records


def parse_example(record: bytes) -> dict:
    """One serialized record -> dict of numpy values."""
    example = tf.train.Example.FromString(record)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        out[key] = values if key == "crop_box" else values[0]
    return out


def read_records(folder: str) -> list[dict]:
    """All records of a built dataset folder, in shard order (shard 0 first)."""
    meta = records.read_metadata(folder) or {}
    out = []
    for shard in meta.get("shards", []):
        for record in tf.data.TFRecordDataset(os.path.join(folder, shard["file"])):
            out.append(parse_example(record.numpy()))
    return out
