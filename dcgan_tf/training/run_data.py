"""The data of a run: its source opened once, the class names of its tiles, and every
stream the trainer, the fit loops and the evaluations read (each through `RunData.stream`,
the one place the training side calls the data pipeline)."""

from __future__ import annotations

import dataclasses

import numpy as np

from dcgan_tf.data.geometry import Geometry
from dcgan_tf.data.sources import open_source
from dcgan_tf.data.stream import Flips, training_stream
from dcgan_tf.utils.errors import UserError


@dataclasses.dataclass
class RunData:
    source: object  # dcgan_tf.data.sources.Source
    flips: Flips
    row_names: list[str] | None  # conditional runs: the class of each tile row
    steps_per_epoch: int
    real_per_step: int  # real images one train step reads (batch_size x d_steps)
    shuffle: bool = True  # --noshuffle: every epoch in the source's order (source 003)

    def sorted_by_label(self) -> bool:
        """True when the run reads in the source's order (--noshuffle) and that order is
        sorted by label (several classes, in-memory labels): batches of one class."""
        arrays = getattr(self.source, "arrays", None)
        if self.shuffle or arrays is None or arrays[1] is None or len(arrays[1]) < 2:
            return False
        labels = np.asarray(arrays[1])
        return bool(labels[0] != labels[-1] and np.all(np.diff(labels) >= 0))

    def stream(self, batch_size: int, *, seed: int, **options):
        """`training_stream` over this run's source."""
        return training_stream(self.source, self.flips, batch_size=batch_size, seed=seed,
                               shuffle=self.shuffle, **options)


def check_class_count(config, source) -> None:
    """A conditional run's --num_classes must be the data's class count (its class names,
    else its largest label + 1): a 10-class model on 4-class data would train 6 classes
    that never appear. UserError naming both numbers. (A --num_classes that came from a
    flagfile was already replaced by the data's count: dcgan_tf.flags.)"""
    if source.label_names:
        count = len(source.label_names)
    elif source.arrays is not None and source.arrays[1] is not None and len(source.arrays[1]):
        count = int(np.max(source.arrays[1])) + 1
    else:
        return  # streamed data without class names: its labels are checked as they come
    if count != config.num_classes:
        raise UserError(f"--num_classes={config.num_classes} but {config.data!r} has {count} "
                        f"classes; give --num_classes={count} (or leave it to the config, "
                        "which then takes the data's count).")


def open_data(config) -> RunData:
    """Opens --data for a resolved `config` (UserError for bad data or labels)."""
    geometry = Geometry(config.resolution, config.channels, config.preprocess,
                        config.load_size)
    source = open_source(config.data, geometry, tfds_split=config.tfds_split,
                         tfds_data_dir=config.tfds_data_dir, cache=config.cache)
    # Conditional runs need labels in [0, num_classes); the row names of tiles.
    row_names = source.check_labels(config.num_classes) if config.num_classes else None
    if config.num_classes:
        check_class_count(config, source)
    real_per_step = config.batch_size * config.d_steps
    return RunData(source, Flips(config.flip_lr, config.flip_ud), row_names,
                   source.steps_per_epoch(real_per_step), real_per_step, config.shuffle)
