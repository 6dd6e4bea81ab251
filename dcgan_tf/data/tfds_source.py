"""Reading a tensorflow-datasets dataset by name, with the one offline error, for both the
training pipeline (`--data=tfds:NAME`) and the dataset builder (`--source=tfds:NAME`).

tfds retries a download for minutes before it fails (measured: 3 min 25 s for mnist), so
a dataset that is not prepared locally first checks that the download host answers.
"""

from __future__ import annotations

import dataclasses
import socket

import tensorflow as tf

from dcgan_tf.utils.errors import UserError

TFDS_PROBE_HOST = "storage.googleapis.com"  # where tfds fetches most datasets from


def can_reach(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """True if a TCP connection to host:port opens within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _prepared(builder) -> bool:
    try:
        return bool(builder.is_prepared())
    except Exception:
        return False


def tfds_builder(name: str, data_dir: str = ""):
    """A prepared tfds builder for `name`, downloading it when needed and possible.

    Offline, says so in one sentence at once (tfds itself retries for minutes)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as e:  # DatasetNotFoundError and friends
        raise UserError(f"tfds has no dataset {name!r} ({type(e).__name__}).") from e
    if not _prepared(builder):
        where = data_dir or "~/tensorflow_datasets"
        advice = ("run once with internet, or point --tfds_data_dir at a prepared copy, or "
                  "use a folder of images or TFRecords instead.")
        if not can_reach(TFDS_PROBE_HOST):
            raise UserError(f"tfds dataset {name!r} is not in {where} and needs a download, "
                            f"but this machine cannot reach the internet; {advice}")
        try:
            builder.download_and_prepare()
        except Exception as e:
            raise UserError(f"tfds dataset {name!r} is not in {where} and downloading it "
                            f"failed ({type(e).__name__}: {str(e)[:120]}); {advice}") from e
    return builder


@dataclasses.dataclass
class TfdsData:
    """One split of a tfds dataset: elements are (uint8 image [H, W, C], int32 label or
    -1 when the dataset has no labels)."""

    name: str
    dataset: tf.data.Dataset
    count: int
    label_names: list[str] | None

    @property
    def has_labels(self) -> bool:
        return self.label_names is not None


def open_tfds(name: str, split: str = "train", data_dir: str = "") -> TfdsData:
    builder = tfds_builder(name, data_dir)
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False)
        count = builder.info.splits[split].num_examples
    except (KeyError, ValueError) as e:
        raise UserError(f"tfds dataset {name!r} has no split {split!r}; it has "
                        f"{sorted(builder.info.splits)}.") from e
    features = builder.info.features
    image_key = "image" if "image" in features else next(iter(features.keys()))
    label = features["label"] if "label" in features else None
    names = [str(n) for n in label.names] if hasattr(label, "names") else None

    def pick(example):
        image = tf.cast(example[image_key], tf.uint8)
        return image, (tf.cast(example["label"], tf.int32) if names is not None
                       else tf.constant(-1, tf.int32))

    return TfdsData(f"tfds:{name}", ds.map(pick), count, names)
