"""Evaluation during training: every N steps, metrics of the sampling generator's images
against a fixed real set, to TensorBoard (`eval/NAME[_KEY]`) and `evaluation.jsonl`.

Two flags schedule them, and one class computes and logs both:
    --eval_every N --eval_metrics=fid,swd,...   up to --eval_images reals of the data
    --swd_every N --swd_images M                the `swd` metric on a fixed batch of M
                                                reals drawn from the training stream
"""

from __future__ import annotations

import dataclasses
import json
import math
import time

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.training.callbacks import FIXED_NOISE_SEED_OFFSET, Interval, step_of
from dcgan_tf.utils.atomic_files import append_line
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.tiles import to_uint8


@dataclasses.dataclass
class PlannedEvaluation:
    """One evaluation schedule of a run, its real set loaded and its extractors ready."""

    names: list[str]
    evaluation: object  # dcgan_tf.metrics.evaluation.Evaluation
    every: int
    num: int  # generated images per evaluation
    best: str = ""  # the metric whose best value keeps a checkpoint (--eval_best)


def plan_evaluations(config, data) -> list[PlannedEvaluation]:
    """The run's evaluations (--swd_every, --eval_every) with every extractor loaded and the
    real features computed, so that a bad flag or a missing download fails before
    training. `data` is the run's RunData (training/run_data.py)."""
    from dcgan_tf.metrics.catalog import training_metrics
    from dcgan_tf.metrics.evaluation import Evaluation, ImageSet
    from dcgan_tf.metrics.inputs import feature_options, images_of_source

    plans = []
    if config.swd_every:
        if config.swd_images > data.source.num_examples:
            raise UserError(f"--swd_images ({config.swd_images}) is larger than the dataset "
                            f"({data.source.num_examples} images); lower it.")
        batch = data.stream(config.swd_images, seed=config.seed + 1, end_step=1)
        real = ImageSet(to_uint8(next(iter(batch)).numpy()))
        ev = Evaluation(real, seed=config.seed + FIXED_NOISE_SEED_OFFSET,
                        num_classes=config.num_classes)
        ev.prepare(["swd"], num_fake=config.swd_images)
        plans.append(PlannedEvaluation(["swd"], ev, config.swd_every, config.swd_images))
    if config.eval_every:
        names = training_metrics(config)
        real = images_of_source(data.source, limit=config.eval_images, seed=config.seed)
        choice, classifier = feature_options(config.features, config.data, config.resolution,
                                             names)
        ev = Evaluation(real, features=choice, inception_weights=config.inception_weights,
                        classifier=classifier, seed=config.seed, num_classes=config.num_classes)
        ev.prepare(names, num_fake=config.eval_images)
        plans.append(PlannedEvaluation(names, ev, config.eval_every, config.eval_images,
                                       config.eval_best))
    return plans


def evaluation_callbacks(plans, config, jsonl_path: str, writer, *, save_best=None,
                         best_info=None) -> list[MetricEvaluation]:
    """A MetricEvaluation per plan. `save_best(step, metric, value)` keeps the best
    checkpoint; `best_info` (best.json of a resumed run) carries the best value so far."""
    callbacks = []
    for plan in plans:
        best_value = None
        if plan.best and best_info and best_info.get("metric") == plan.best:
            best_value = best_info["value"]
        labels = (np.arange(plan.num) % config.num_classes if config.num_classes else None)
        callbacks.append(MetricEvaluation(
            plan.evaluation, plan.names, plan.every, plan.num, jsonl_path, writer,
            labels=labels, seed=config.seed + FIXED_NOISE_SEED_OFFSET, best=plan.best,
            save_best=save_best if plan.best else None, best_value=best_value))
    return callbacks


class MetricEvaluation(keras.callbacks.Callback):
    """Every `every` steps: the evaluation metrics `names` (dcgan_tf.metrics.catalog) of
    `num` samples of the sampling generator (EMA when kept; the same seeds each time)
    against the real set held by `evaluation`; one JSON line in `jsonl_path` and every
    number as a TensorBoard scalar `eval/NAME[_KEY]`. With `best`, each new best value of
    that metric calls `save_best(step, metric, value)`; `best_value` carries the best so
    far across a resume."""

    def __init__(self, evaluation, names, every: int, num: int, jsonl_path: str, writer=None,
                 labels=None, seed=0, best: str = "", save_best=None, best_value=None):
        super().__init__()
        self.evaluation = evaluation
        self.names = list(names)
        self.interval = Interval(every)
        self.num = num
        self.jsonl_path = jsonl_path
        self.writer = writer
        self.labels = labels  # class index per sample (conditional models)
        self.seed = seed
        self.best = best
        self.save_best = save_best
        self.best_value = best_value
        self.last = None

    def samples(self):
        from dcgan_tf.metrics.evaluation import ImageSet

        gan = self.model
        z = gan.sample_latent(self.num, seed=self.seed)
        labels = None if self.labels is None else gan.one_hot(self.labels)
        out = []
        for start in range(0, self.num, 256):
            batch = gan.sample_images(z[start:start + 256],
                                      None if labels is None else labels[start:start + 256])
            out.append(to_uint8(batch.numpy()))
        return ImageSet(np.concatenate(out), self.labels)

    def on_train_batch_end(self, batch, logs=None):
        from dcgan_tf.metrics.catalog import METRICS, flat_numbers

        step = step_of(self.model)
        if not self.interval.due(step):
            return
        report = self.evaluation.run(self.names, fake=self.samples())
        self.last = report["metrics"]
        record = {"step": step, "images_seen": int(self.model.images_seen.numpy()),
                  "time": round(time.time(), 3), **report["metrics"]}
        append_line(self.jsonl_path, json.dumps(record, sort_keys=True))
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in flat_numbers(report["metrics"]).items():
                    tf.summary.scalar(f"eval/{key}", value)
        if self.best and self.save_best is not None:
            spec = METRICS[self.best]
            value = spec.score(report["metrics"][self.best])
            better = (self.best_value is None or
                      (value > self.best_value if spec.higher_is_better
                       else value < self.best_value))
            if better and math.isfinite(value):
                self.best_value = value
                self.save_best(step, self.best, value)
