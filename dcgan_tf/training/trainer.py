"""Runs one training job described by a `Config`: the library behind `dcgan_tf.train`.

    result = run(config)   # builds data and models, resumes, trains, exports

The workdir layout is described in dcgan_tf.artifacts.workdir.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.training import callbacks as cb
from dcgan_tf.artifacts.checkpoint import RunCheckpoint
from dcgan_tf.gan.assemble import optimizers, step_components
from dcgan_tf.config import POLICIES, Config
from dcgan_tf.data.pipeline import Preprocess, open_source, training_stream
from dcgan_tf.training.distribute import WorkerRole, barrier, check_batch, make_strategy
from dcgan_tf.utils.errors import DivergenceError, UserError
from dcgan_tf.export import export_generator, export_info
from dcgan_tf.flags import flagfile_text
from dcgan_tf.gan.model import GAN
from dcgan_tf.utils.atomic_files import atomic_write_text, ensure_dir
from dcgan_tf.models import ModelPair
from dcgan_tf.report import write_report
from dcgan_tf.utils.tiles import write_tile
from dcgan_tf.artifacts.workdir import CLASSES_FILE, Workdir, build_networks
from dcgan_tf.artifacts.workdir import resolve as resolve_config

FIXED_NOISE_SEED_OFFSET = 7919  # fixed sample noise: its own stream, apart from training's


@dataclasses.dataclass
class RunResult:
    """What a run did (returned to the entry point and to tests)."""

    status: str  # "completed" | "already_complete" | "interrupted" | "dry_run"
    step: int
    total_steps: int
    workdir: str
    signal: int | None = None
    export_path: str | None = None


def resolve(config: Config) -> Config:
    """Fills defaults that depend on other choices (see dcgan_tf.artifacts.workdir.resolve)."""
    return resolve_config(config)


def build_pair(config: Config) -> ModelPair:
    return build_networks(config)


def _check_labels(config: Config, source) -> list[str] | None:
    """Conditional runs need labels in [0, num_classes); returns the row names of tiles."""
    if not config.num_classes:
        return None
    if not source.has_labels:
        raise UserError(f"--num_classes={config.num_classes} needs labelled data, but "
                        f"{source.name!r} has no labels (build it with --class_subfolders, "
                        "or use an .npz with 'labels').")
    if source.arrays is not None and len(source.arrays[1]):
        labels = source.arrays[1]
        if labels.min() < 0 or labels.max() >= config.num_classes:
            raise UserError(f"{source.name!r} has labels {int(labels.min())}..{int(labels.max())}"
                            f" but --num_classes={config.num_classes}.")
    names = list(source.label_names or [])[: config.num_classes]
    return names + [str(i) for i in range(len(names), config.num_classes)]


def build_gan(config: Config, pair: ModelPair) -> GAN:
    """The GAN with its optimizers and every part of its update step, from `config`."""
    try:
        gan = GAN(pair.generator, pair.discriminator, latent_dim=config.latent_dim,
                  latent=config.latent, head=config.d_head, seed=config.seed)
        d_opt, g_opt = optimizers(config)
        gan.compile(d_opt, g_opt,
                    **step_components(config, pair.generator, pair.discriminator),
                    jit_compile=config.jit_compile,
                    steps_per_execution=config.steps_per_execution)
    except ValueError as e:
        raise UserError(str(e)) from e
    return gan


def total_steps(config: Config, steps_per_epoch: int, schedule=None) -> int:
    """Train steps of the whole run. --train_steps counts generator updates; --total_kimg
    real images shown (under a growth schedule, with each resolution's batch size)."""
    if config.train_steps:
        return math.ceil(config.train_steps / config.g_steps)
    if config.total_kimg:
        images = int(round(config.total_kimg * 1000))
        if schedule is not None:
            return sum(steps for _, _, steps, _ in growth_phases(schedule, images, 0,
                                                                 config.d_steps))
        return math.ceil(images / (config.batch_size * config.d_steps))
    return config.epochs * steps_per_epoch


def growth_phases(schedule, total_images: int, shown: int, d_steps: int = 1):
    """The fit segments of a growing run from `shown` images on: (level, real images per
    step, steps, images shown at the end), each ending at a level boundary or the end."""
    phases = []
    while shown < total_images:
        level, _ = schedule.phase(shown)
        per_step = schedule.batch_size_at(level) * d_steps
        end = total_images
        if level < schedule.final_level:
            end = min(end, schedule.level_start(level + 1))
        steps = max(1, math.ceil((end - shown) / per_step))
        shown += steps * per_step
        phases.append((level, per_step, steps, shown))
    return phases


def _summaries(pair: ModelPair) -> str:
    lines = []
    for model in (pair.generator, pair.discriminator):
        model.summary(print_fn=lambda s, **_: lines.append(s))
        count = sum(int(math.prod(v.shape)) for v in model.trainable_variables)
        lines.append(f"{model.name}: {count:,} trainable parameters\n")
    return "\n".join(lines)


def _check_workdir(config: Config, wd: Workdir) -> Config | None:
    """Returns the previous run's Config if the workdir holds one; raises UserError if it
    holds a run of different networks, or cannot be a workdir (nothing is written then)."""
    if os.path.isfile(wd.path):
        raise UserError(f"--workdir {wd.path!r} is a file, not a folder.")
    if not wd.has_run():
        if os.path.isdir(wd.checkpoints):
            raise UserError(f"{wd.path!r} has checkpoints but no config.json; "
                            "it is not a dcgan_tf run I can resume. Use another --workdir.")
        return None
    try:
        previous = wd.config()
    except UserError as e:
        raise UserError(f"{e} Use another --workdir.") from e
    ours, theirs = config.identity(), previous.identity()
    diff = {k: (theirs[k], ours[k]) for k in ours if ours[k] != theirs[k]}
    if diff:
        described = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
        raise UserError(f"--workdir {wd.path!r} holds a run of different networks "
                        f"({described}); use another --workdir.")
    return previous


def _training_evaluation(config: Config, source):
    """(metric names, Evaluation over up to --eval_images real images) for --eval_every,
    with every extractor loaded and the real features computed; None when off."""
    if not config.eval_every:
        return None
    from dcgan_tf.metrics.evaluation import (Evaluation, feature_options, images_of_source,
                                             training_metrics)

    names = training_metrics(config)
    real = images_of_source(source, limit=config.eval_images, seed=config.seed)
    choice, classifier = feature_options(config.features, config.data, config.resolution,
                                         names)
    ev = Evaluation(real, features=choice, inception_weights=config.inception_weights,
                    classifier=classifier, seed=config.seed, num_classes=config.num_classes)
    ev.prepare(names, num_fake=config.eval_images)
    return names, ev


def run(config: Config, *, out=None) -> RunResult:
    """Trains (or resumes) the run `config` describes. Raises UserError for bad input and
    DivergenceError when training diverged and was stopped."""
    out = out or sys.stdout
    config = config.validate()
    strategy = make_strategy(config.strategy)  # before any other TensorFlow work
    config = resolve(config)
    check_batch(strategy, config.batch_size)
    role = WorkerRole.of(strategy)
    after_scope = []
    try:
        with strategy.scope():
            result = _run(config, strategy, role, out, after_scope)
        # The export runs outside the strategy's scope: the Keras copy it writes (plain
        # BatchNorm layers) makes ordinary variables there, not variables every worker
        # would have to create together.
        for job in after_scope:
            job()
        return result
    finally:
        role.cleanup()


def _run(config: Config, strategy, role: WorkerRole, out, after_scope: list) -> RunResult:
    keras.mixed_precision.set_global_policy(POLICIES[config.mixed_precision])
    keras.utils.set_random_seed(config.seed)
    pair = build_pair(config)
    gan = build_gan(config, pair)

    if config.dry_run:
        if role.chief:
            print(config.to_json(), file=out)
            print(_summaries(pair), file=out)
        return RunResult("dry_run", 0, 0, config.workdir)

    wd = Workdir(config.workdir)  # what the run reads (resume); `own` is where it writes
    previous = _check_workdir(config, wd)
    own = Workdir(role.write_path(wd.path))
    if strategy.num_replicas_in_sync == 1 and config.strategy != "default":
        print(f"--strategy={config.strategy} found one device "
              f"({strategy.extended.worker_devices[0]}): training on one replica.", file=out)
    elif strategy.num_replicas_in_sync > 1:
        print(f"Training on {strategy.num_replicas_in_sync} replicas "
              f"({type(strategy).__name__}), {config.batch_size // strategy.num_replicas_in_sync}"
              f" images each; this process is {'the chief' if role.chief else role.task}.",
              file=out)
    growing = hasattr(gan.growth, "schedule")
    schedule = gan.growth.schedule if growing else None
    created = not os.path.exists(own.path)
    ensure_dir(own.path, "--workdir")  # an unwritable place fails now, before any work
    try:
        prep = Preprocess(config.resolution, config.channels, config.preprocess, config.load_size,
                          config.flip_lr, config.flip_ud)
        source = open_source(config.data, prep, tfds_split=config.tfds_split,
                             tfds_data_dir=config.tfds_data_dir, cache=config.cache)
        row_names = _check_labels(config, source)
        real_per_step = config.batch_size * config.d_steps
        _, steps_per_epoch = training_stream(source, prep, batch_size=real_per_step,
                                             seed=config.seed,
                                             shuffle_buffer=config.shuffle_buffer)
        total = total_steps(config, steps_per_epoch, schedule)
        if config.swd_every and config.swd_images > source.num_examples:
            raise UserError(f"--swd_images ({config.swd_images}) is larger than the dataset "
                            f"({source.num_examples} images); lower it.")
        evaluation = _training_evaluation(config, source)  # fails now if offline, etc.
    except BaseException:
        if created and os.path.isdir(own.path) and not os.listdir(own.path):
            os.rmdir(own.path)  # bad data or flags: leave no empty workdir behind
        raise
    grid = config.sample_grid
    rows = config.num_classes or grid  # conditional: one class per row
    fixed_z = tf.Variable(gan.sample_latent(rows * grid, seed=config.seed + FIXED_NOISE_SEED_OFFSET),
                          trainable=False, name="fixed_z")
    fixed_labels = (gan.one_hot(np.repeat(np.arange(config.num_classes), grid))
                    if config.num_classes else None)
    items = dict(gan.checkpoint_items(), fixed_z=fixed_z)
    ckpt = RunCheckpoint(own.checkpoints, items, config.keep_checkpoints,
                         restore_from=wd.checkpoints)
    restored = ckpt.restore_latest()
    barrier(strategy)  # every worker has read the workdir before the chief writes to it
    if growing and restored:
        gan.growth.sync()
    step = int(gan.step.numpy())
    if restored:
        print(f"Resuming {wd.path} from step {step} ({restored}).", file=out)
        _apply_changed_learning_rates(gan, config, previous, out)
    atomic_write_text(own.config_path, config.to_json())
    atomic_write_text(own.file("flags.cfg"), flagfile_text(config))
    if row_names is not None:  # class names, for exports and the web app
        atomic_write_text(own.file(CLASSES_FILE), json.dumps(row_names))
    if not restored and ckpt.save(0) is None:
        raise UserError("The initial networks hold non-finite values (check the data and "
                        "the flags); nothing was trained.")

    writer = tf.summary.create_file_writer(own.tensorboard)

    def restore():
        path = ckpt.restore_latest()
        if growing and path:
            gan.growth.sync()  # the level of the restored state, then one retrace
            gan.make_train_function(force=True)
        return path

    health = cb.HealthCheck(restore, on_divergence=config.on_divergence,
                            max_retries=config.max_retries, lr_backoff=config.lr_backoff,
                            d_win_threshold=config.d_win_threshold, span=config.d_win_span,
                            explode_factor=config.explode_factor)

    def save():
        step_now = int(gan.step.numpy())
        path = ckpt.save(step_now)
        if path is None:  # never silent: a state that cannot be saved is a divergence
            health.refused_checkpoint(step_now)
        return path

    samples = cb.SampleTiles(fixed_z, own.samples, config.sample_every,
                             grid, writer, fixed_labels=fixed_labels, row_names=row_names)
    stopper = cb.StopOnSignal(save)
    callbacks = [
        cb.Throughput(),
        health,  # before anything that saves: a bad step is never checkpointed
        stopper,
        cb.PeriodicCheckpoint(save, config.checkpoint_every),
        samples,
        cb.ScalarLog(writer, own.metrics, config.log_every),
    ]
    if config.swd_every:
        real_swd, _ = training_stream(source, prep, batch_size=config.swd_images,
                                      seed=config.seed + 1, end_step=1)
        swd_labels = (gan.one_hot(np.arange(config.swd_images) % config.num_classes)
                      if config.num_classes else None)
        callbacks.append(cb.SWDEvaluation(next(iter(real_swd)).numpy(), config.swd_every,
                                          own.file("evaluation.jsonl"), writer, swd_labels,
                                          seed=config.seed + FIXED_NOISE_SEED_OFFSET))
    if evaluation is not None:
        names, ev = evaluation
        best = wd.best_info()
        callbacks.append(cb.MetricEvaluation(
            ev, names, config.eval_every, config.eval_images, own.file("evaluation.jsonl"),
            writer, labels=(np.arange(config.eval_images) % config.num_classes
                            if config.num_classes else None),
            seed=config.seed + FIXED_NOISE_SEED_OFFSET, best=config.eval_best,
            save_best=lambda step_, metric, value: ckpt.write_best(
                own.best, step_, {"metric": metric, "value": value}),
            best_value=(best["value"] if best and best.get("metric") == config.eval_best
                        else None)))
    progress = None
    if config.progress == "run":
        progress = cb.RunProgress(total, out=out)
        callbacks.append(progress)
    elif config.progress == "epoch":
        callbacks.append(cb.RunProgbar(math.ceil(total / steps_per_epoch)))  # last: shows all
    samples.set_model(gan)
    real_tile = os.path.join(own.samples, "real_batch.png")
    if not os.path.exists(real_tile):  # the first real batch, once (source 003)
        first, _ = training_stream(source, prep, batch_size=real_per_step, seed=config.seed,
                                   end_step=1)
        write_tile(real_tile, next(iter(first)).numpy()[: grid * grid], rows=None, cols=grid)
    if step >= total:
        print(f"{wd.path} is already complete ({step} of {total} steps).", file=out)
        result = RunResult("already_complete", step, total, wd.path)
    else:
        notes = []
        if source.skipped:
            notes.append(f"{source.skipped} records/files could not be decoded and were "
                         "skipped.")
        if source.preprocess is not None and config.preprocess != "resize":
            notes.append(f"These records were cropped by dcgan_tf.data.build, so "
                         f"--preprocess={config.preprocess} is not applied again.")
        print(f"Training {config.model} at {config.resolution}x{config.resolution} on "
              f"{source.num_examples} images from {source.name!r}: steps {step} -> {total} "
              f"({steps_per_epoch} steps per epoch, {real_per_step} real images per step)."
              + "".join(" " + n for n in notes), file=out)
        stopper.install()
        try:
            if growing:
                _fit_growing(gan, source, prep, config, callbacks, stopper, health)
            else:
                _fit_segments(gan, source, prep, config, callbacks, steps_per_epoch, total,
                              stopper, health)
        finally:
            stopper.uninstall()
            if progress is not None:
                progress.finish()
        step = int(gan.step.numpy())
        if health.diverged:
            writer.flush()
            raise DivergenceError(health.diverged)
        if stopper.received is not None:
            name = signal.Signals(stopper.received).name
            print(f"\nStopped by {name} at step {step}; checkpoint saved. Re-run the same "
                  "command to resume.", file=out)
            writer.flush()
            return RunResult("interrupted", step, total, wd.path, signal=stopper.received)
        if ckpt.save(step) is None:
            writer.flush()
            raise DivergenceError(f"Training ended at step {step} with non-finite values in "
                                  "its state; the last good checkpoint is kept and nothing "
                                  "was exported.")
        samples.write_now()
        result = RunResult("completed", step, total, wd.path)
        try:
            for path in (write_report(wd.path) if role.chief else ()):
                print(f"Wrote {path}.", file=out)
        except UserError as e:  # e.g. --log_every longer than the run: nothing to plot
            print(f"No report: {e}", file=out)

    writer.flush()
    if config.export and role.chief:
        info = export_info(config, step, row_names)
        info["weights"] = "ema" if gan.ema is not None else "raw"

        def export():
            export_generator(gan.sampling_generator, config.latent_dim, wd.export,
                             latent=config.latent, discriminator=gan.discriminator,
                             extra_info=info)
            result.export_path = wd.export
            print(f"Exported the generator to {wd.export}.", file=out)

        after_scope.append(export)
    return result


def _apply_changed_learning_rates(gan, config, previous, out):
    """A learning rate restored from the checkpoint wins (it may have been lowered by a
    divergence retry) unless the user changed that flag since the previous run."""
    if previous is None:
        return
    for name, opt in (("d_lr", gan.d_optimizer), ("g_lr", gan.g_optimizer)):
        if getattr(config, name) != getattr(previous, name):
            opt.learning_rate = getattr(config, name)
            print(f"--{name} changed since the last run: now {getattr(config, name):g}.",
                  file=out)


def _segment_starts(position, end, stopper, health):
    """Yields the run's position (steps or images shown) before each fit segment until it
    reaches `end`, is stopped by a signal, diverges, or a segment made no progress (never
    loop forever)."""
    last = None
    while True:
        now = position()
        if now >= end or stopper.received is not None or health.diverged:
            return
        if (now, health.retries) == last:
            return
        last = (now, health.retries)
        yield now


def _fit_segments(gan, source, prep, config, callbacks, steps_per_epoch, total, stopper, health):
    """Calls fit over whole epochs where it can and partial ones where it must (the first
    epoch after a resume, the last one of a --train_steps run), each on a stream that
    starts exactly at the current step."""
    for step in _segment_starts(lambda: int(gan.step.numpy()), total, stopper, health):
        epoch, offset = divmod(step, steps_per_epoch)
        if offset == 0 and total - step >= steps_per_epoch:
            epochs, per_epoch = (total - step) // steps_per_epoch, steps_per_epoch
        else:
            epochs, per_epoch = 1, min(steps_per_epoch - offset, total - step)
        stream, _ = training_stream(source, prep, batch_size=config.batch_size * config.d_steps,
                                    seed=config.seed, start_step=step, end_step=total,
                                    shuffle_buffer=config.shuffle_buffer,
                                    with_labels=config.num_classes > 0)
        gan.fit(stream, epochs=epoch + epochs, initial_epoch=epoch,
                steps_per_epoch=per_epoch,
                callbacks=callbacks, verbose=1 if config.progress == "epoch" else 0,
                shuffle=False)


def _enter_level(gan, level: int, config: Config) -> None:
    """Moves a growing GAN to `level`: networks, fresh optimizer state (as the paper resets
    Adam per resolution), that resolution's learning rates, one retrace of the step."""
    schedule = gan.growth.schedule
    gan.growth.set_level(level)
    for opt, default in ((gan.d_optimizer, config.d_lr), (gan.g_optimizer, config.g_lr)):
        inner = getattr(opt, "inner_optimizer", opt)
        for variable in inner.variables:
            variable.assign(tf.zeros(variable.shape, variable.dtype))
        resolution = schedule.resolution(level)
        opt.learning_rate = dict(schedule.learning_rates).get(resolution, default)
    gan.train_function = None  # the next fit traces the step for this level


def _fit_growing(gan, source, prep, config, callbacks, stopper, health):
    """fit once per level phase (a level's batch size may differ from the last one's); the
    level follows the shown-image counter, so a resumed run continues where it stopped."""
    schedule = gan.growth.schedule
    total_images = int(round(config.total_kimg * 1000))
    for shown in _segment_starts(lambda: int(gan.images_seen.numpy()), total_images, stopper,
                                 health):
        level, per_step, steps, _ = growth_phases(schedule, total_images, shown,
                                                  config.d_steps)[0]
        if level != gan.growth.level:
            _enter_level(gan, level, config)
        first = shown // per_step
        stream, _ = training_stream(source, prep, batch_size=per_step, seed=config.seed,
                                    start_step=first, end_step=first + steps,
                                    shuffle_buffer=config.shuffle_buffer)
        gan.fit(stream, epochs=1, steps_per_epoch=steps, callbacks=callbacks,
                verbose=1 if config.progress == "epoch" else 0, shuffle=False)
