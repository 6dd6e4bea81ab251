"""The training stream: a Source (dcgan_tf.data.sources) as resumable batches.

    stream = training_stream(source, flips, batch_size=..., seed=..., start_step=k)

The stream is deterministic in (seed, step): epoch e is the source shuffled with a seed
made from (seed, e), flipped with stateless random ops seeded by (seed, e, index), and
batched with drop_remainder. Resuming at step k rebuilds the stream from epoch
k // steps_per_epoch and skips k % steps_per_epoch batches, so a resumed run sees exactly
the batches an uninterrupted run would have seen. Images leave it as float32 in [-1, 1].
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from dcgan_tf.data.sources import Source

PERMUTATION_SALT = 498247692  # first seed word of the per-epoch permutation
PREFETCH_BATCHES = 4


@dataclasses.dataclass(frozen=True)
class Flips:
    """Random flips applied per image at batch time (--flip_lr, --flip_ud)."""

    lr: bool = False
    ud: bool = False


NO_FLIPS = Flips()


def to_model_range(pixels):
    """Pixels in [0, 255] (uint8 or float) -> float32 in [-1, 1], the model's range."""
    return tf.cast(pixels, tf.float32) / 127.5 - 1.0


def augment_batch(images, flips: Flips, seed):
    """Random flips per image of a batch [B, H, W, C]; `seed` is an int64 [2] tensor
    (stateless: the same seed flips the same images)."""
    if not (flips.lr or flips.ud):
        return images
    coins = tf.random.stateless_uniform([2, tf.shape(images)[0]], seed=seed)
    if flips.lr:
        images = tf.where((coins[0] < 0.5)[:, None, None, None],
                          tf.reverse(images, axis=[2]), images)
    if flips.ud:
        images = tf.where((coins[1] < 0.5)[:, None, None, None],
                          tf.reverse(images, axis=[1]), images)
    return images


def training_stream(source: Source, flips: Flips = NO_FLIPS, *, batch_size: int, seed: int,
                    start_step: int = 0, end_step: int | None = None,
                    shuffle_buffer: int = 10_000, shuffle: bool = True,
                    with_labels: bool = False) -> tf.data.Dataset:
    """Deterministic, resumable batches for steps [start_step, end_step) (endless when
    end_step is None); an epoch is `source.steps_per_epoch(batch_size)` steps.

    In-memory (`materialize`d) sources: the stream is a range over global example
    positions p = step * batch + k; epoch e = p // (steps_per_epoch * batch) uses the
    stateless permutation `index_shuffle(seed=(seed, e))`, so any step can be rebuilt
    exactly and a resumed run sees the uninterrupted run's batches. No per-epoch datasets
    are created (a flat_map over epochs made tf.data's autotuner stall for ~50 s after
    100 epochs). Streamed sources use a shuffle buffer seeded by (seed, first epoch):
    deterministic for a given start, but not batch-identical across a resume.
    `shuffle=False`: every epoch in the source's own order (PyTorch's shuffle=False,
    source 003); flips stay random.
    """
    steps_per_epoch = source.steps_per_epoch(batch_size)
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
            index = positions % per_epoch  # --noshuffle: the source's own order
            if shuffle:
                # The raw op: tf.random.experimental.index_shuffle mis-pads [n, 2] seeds.
                index = tf.raw_ops.RandomIndexShuffle(
                    index=index, seed=seeds, max_index=tf.fill([batch_size], last), rounds=4)
            images = to_model_range(tf.gather(images_u8, index))
            images = augment_batch(images, flips, tf.stack([tf.constant(seed, tf.int64),
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
        ds = source.dataset
        if shuffle:
            ds = ds.shuffle(min(shuffle_buffer, source.num_examples),
                            seed=seed * 1_000_003 + start_epoch, reshuffle_each_iteration=True)
        ds = ds.take(per_epoch).repeat(epochs).batch(batch_size, drop_remainder=True)

        def finish(step, element):
            images, label = element if source.has_labels else (element, None)
            images = augment_batch(to_model_range(images), flips,
                                   tf.stack([tf.constant(seed, tf.int64), step * batch_size]))
            return (images, label) if with_labels else images

        stream = ds.skip(offset).enumerate(start=start_step)
        stream = stream.map(finish, num_parallel_calls=2, deterministic=True)
        if end_step is not None:
            stream = stream.take(end_step - start_step)
    return stream.with_options(stream_options()).prefetch(PREFETCH_BATCHES)


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
