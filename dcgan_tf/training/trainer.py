"""Runs one training job described by a `Config`: the library behind `dcgan_tf.train`.

    result = run(config)   # builds data and models, resumes, trains, exports

`_run` reads as its steps: build the GAN (dcgan_tf.gan.assemble), check the workdir,
`_open_data`, `_open_state` (fixed noise, checkpoint, resume), `_callbacks`, `_train`
(the fit loops: training/segments.py) and `_export_later`. The workdir layout is
described in dcgan_tf.artifacts.workdir.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.artifacts.checkpoint import RunCheckpoint
from dcgan_tf.artifacts.run_report import write_report
from dcgan_tf.artifacts.saved_generator import export_generator, export_info
from dcgan_tf.artifacts.workdir import Workdir, resolve
from dcgan_tf.config import POLICIES, Config
from dcgan_tf.gan.assemble import build_gan, check_run_length, model_family, summaries
from dcgan_tf.training import callbacks as cb
from dcgan_tf.training.distribute import WorkerRole, barrier, check_batch, make_strategy
from dcgan_tf.training.eval_callbacks import evaluation_callbacks, plan_evaluations
from dcgan_tf.training.health import HealthCheck
from dcgan_tf.training.init_from import start_from
from dcgan_tf.training.progress import RunProgbar, RunProgress, Throughput
from dcgan_tf.training.run_data import RunData, open_data
from dcgan_tf.training.segments import fit_growing, fit_segments, total_steps
from dcgan_tf.utils.atomic_files import ensure_dir
from dcgan_tf.utils.errors import DivergenceError, UserError
from dcgan_tf.utils.progress import warn
from dcgan_tf.utils.tiles import write_tile


@dataclasses.dataclass
class RunResult:
    """What a run did (returned to the entry point and to tests)."""

    status: str  # "completed" | "already_complete" | "interrupted" | "dry_run"
    step: int
    total_steps: int
    workdir: str
    signal: int | None = None
    export_path: str | None = None


@dataclasses.dataclass
class _Callbacks:
    """The run's callbacks in order, and the ones the trainer talks to itself."""

    all: list
    samples: cb.SampleTiles
    scalars: cb.ScalarLog
    stopper: cb.StopOnSignal
    health: HealthCheck
    progress: RunProgress | None


def run(config: Config, *, out=None, plain_batchnorm: bool = False,
        resume_command: str | None = None) -> RunResult:
    """Trains (or resumes) the run `config` describes. Raises UserError for bad input and
    DivergenceError when training diverged and was stopped. `plain_batchnorm`: networks
    with Keras' own BatchNormalization instead of the fused layer (tools/ measure one
    against the other; checkpoints and exports are the same either way).
    `resume_command`: the command line that started the run, which the line of a run
    stopped by a signal shows as the way to resume it (status "interrupted"; the train
    command then exits 128 + the signal's number)."""
    out = out or sys.stdout
    config = config.validate()
    strategy = make_strategy(config.strategy)  # before any other TensorFlow work
    config = resolve(config)
    check_run_length(config)
    check_batch(strategy, config.batch_size)
    role = WorkerRole.of(strategy)
    # one trainer per workdir: a second one stops here, before it reads or writes anything
    lock = (Workdir(config.workdir).lock() if role.chief and not config.dry_run else None)
    after_scope = []
    try:
        with strategy.scope():
            result = _run(config, strategy, role, out, after_scope, plain_batchnorm,
                          resume_command)
        # The export runs outside the strategy's scope: the Keras copy it writes (plain
        # BatchNorm layers) makes ordinary variables there, not variables every worker
        # would have to create together.
        for job in after_scope:
            job()
        return result
    finally:
        role.cleanup()
        if lock is not None:
            lock.release()


def _run(config: Config, strategy, role: WorkerRole, out, after_scope: list,
         plain_batchnorm: bool, resume_command: str | None = None) -> RunResult:
    keras.mixed_precision.set_global_policy(POLICIES[config.mixed_precision])
    keras.utils.set_random_seed(config.seed)
    gan = build_gan(config, plain_batchnorm=plain_batchnorm)
    if config.dry_run:
        if role.chief:
            print(config.to_json(), file=out)
            print(summaries(gan), file=out)
        return RunResult("dry_run", 0, 0, config.workdir)

    wd = Workdir(config.workdir)  # what the run reads (resume); `own` is where it writes
    previous = wd.check_resumable(config)
    # --init_from / --freeze_d: weights copied into a new run (shapes checked first); a
    # resumed run keeps its own start and its checkpoint wins
    config, init_record = start_from(config, gan, wd, previous, out)
    own = Workdir(role.write_path(wd.path))
    _say_replicas(config, strategy, role, out)
    growing = model_family(config).grows
    data, total, evaluations = _open_data(config, own, gan.growth.schedule if growing else None)
    ckpt, fixed_z, fixed_labels = _open_state(config, gan, strategy, wd, own, previous, data,
                                              growing, out)
    if init_record is not None and role.chief:
        own.write_init_record(init_record)
    writer = tf.summary.create_file_writer(own.tensorboard_dir)
    if role.chief and int(gan.step.numpy()) == 0:  # a new run: its settings, once (HParams)
        cb.write_hparams(writer, config)
    callbacks = _callbacks(config, gan, wd, own, ckpt, fixed_z, fixed_labels, data,
                           evaluations, total, writer, growing, out)
    if not os.path.exists(own.real_batch_path):  # the first real batch, once (source 003)
        first = data.stream(data.real_per_step, seed=config.seed, end_step=1)
        write_tile(own.real_batch_path,
                   next(iter(first)).numpy()[: sample_rows(config) * config.sample_grid],
                   rows=None, cols=config.sample_grid)
    result = _train(config, gan, data, total, ckpt, callbacks, writer, wd, role, growing, out,
                    resume_command)
    writer.flush()
    if config.export and role.chief and result.status != "interrupted":
        after_scope.append(_export_later(config, gan, wd, result, data.row_names, growing,
                                         out))
    return result


def _say_replicas(config: Config, strategy, role: WorkerRole, out) -> None:
    if strategy.num_replicas_in_sync == 1 and config.strategy != "default":
        print(f"--strategy={config.strategy} found one device "
              f"({strategy.extended.worker_devices[0]}): training on one replica.", file=out)
    elif strategy.num_replicas_in_sync > 1:
        print(f"Training on {strategy.num_replicas_in_sync} replicas "
              f"({type(strategy).__name__}), {config.batch_size // strategy.num_replicas_in_sync}"
              f" images each; this process is {'the chief' if role.chief else role.task}.",
              file=out)


def _open_data(config: Config, own: Workdir, schedule):
    """(RunData, total train steps, planned evaluations). Bad data or flags fail here,
    before anything is written, and leave no empty workdir behind."""
    created = not os.path.exists(own.path)
    ensure_dir(own.path, "--workdir")  # an unwritable place fails now, before any work
    try:
        data = open_data(config)
        total = total_steps(config, data.steps_per_epoch, schedule)
        evaluations = plan_evaluations(config, data)  # fails now if offline, etc.
    except BaseException:
        if created and os.path.isdir(own.path) and not os.listdir(own.path):
            os.rmdir(own.path)
        raise
    return data, total, evaluations


def sample_rows(config: Config) -> int:
    """Rows of the sample tile: one per class (conditional), else --sample_rows or square."""
    return config.num_classes or config.sample_rows or config.sample_grid


def _open_state(config: Config, gan, strategy, wd: Workdir, own: Workdir, previous,
                data: RunData, growing: bool, out):
    """The fixed sample noise and the checkpoint, restored from `wd` when it holds one;
    writes the run's config (and class names). Returns (checkpoint, fixed_z, labels)."""
    grid = config.sample_grid
    rows = sample_rows(config)
    fixed_z = tf.Variable(gan.sample_latent(rows * grid,
                                            seed=config.seed + cb.FIXED_NOISE_SEED_OFFSET),
                          trainable=False, name="fixed_z")
    fixed_labels = (gan.one_hot(np.repeat(np.arange(config.num_classes), grid))
                    if config.num_classes else None)
    items = dict(gan.checkpoint_items(), fixed_z=fixed_z)
    ckpt = RunCheckpoint(own.checkpoint_dir, items, config.keep_checkpoints,
                         restore_from=wd.checkpoint_dir)
    restored = ckpt.restore_latest()
    barrier(strategy)  # every worker has read the workdir before the chief writes to it
    if growing and restored:
        gan.growth.sync()  # the level of the restored state
    if restored:
        print(f"Resuming {wd.path} from step {int(gan.step.numpy())} ({restored}).", file=out)
        _apply_changed_learning_rates(gan, config, previous, out)
    own.write_config(config)
    if data.row_names is not None:  # class names, for exports and the web app
        own.write_class_names(data.row_names)
    if not restored and ckpt.save(0) is None:
        raise UserError("The initial networks hold non-finite values (check the data and "
                        "the flags); nothing was trained.")
    return ckpt, fixed_z, fixed_labels


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


def _callbacks(config: Config, gan, wd: Workdir, own: Workdir, ckpt, fixed_z, fixed_labels,
               data: RunData, evaluations, total: int, writer, growing: bool,
               out) -> _Callbacks:
    def restore():
        path = ckpt.restore_latest()
        if growing and path:
            gan.growth.sync()  # the level of the restored state, then one retrace
            gan.make_train_function(force=True)
        return path

    health = HealthCheck(restore, on_divergence=config.on_divergence,
                         max_retries=config.max_retries, lr_backoff=config.lr_backoff,
                         d_win_threshold=config.d_win_threshold, span=config.d_win_span,
                         explode_factor=config.explode_factor)

    def save():
        step_now = int(gan.step.numpy())
        path = ckpt.save(step_now)
        if path is None:  # never silent: a state that cannot be saved is a divergence
            health.refused_checkpoint(step_now)
        return path

    samples = cb.SampleTiles(fixed_z, own.sample_path, config.sample_every, config.sample_grid,
                             writer, fixed_labels=fixed_labels, row_names=data.row_names,
                             rows=sample_rows(config))
    stopper = cb.StopOnSignal(save)
    scalars = cb.ScalarLog(writer, own.metrics_path, config.log_every)
    callbacks = [
        Throughput(),
        health,  # before anything that saves: a bad step is never checkpointed
        stopper,
        cb.PeriodicCheckpoint(save, config.checkpoint_every),
        samples,
        scalars,
    ]
    callbacks += evaluation_callbacks(
        evaluations, config, own.evaluation_path, writer, best_info=wd.best_info(warn=warn),
        save_best=lambda step, metric, value: ckpt.write_best(
            own.best_dir, step, {"metric": metric, "value": value}))
    progress = None
    if config.progress == "run":
        # progress on stderr, what the run did on stdout (a caller's own `out` gets both)
        progress = RunProgress(total, out=sys.stderr if out is sys.stdout else out)
        callbacks.append(progress)
    elif config.progress == "epoch":  # last: shows all
        callbacks.append(RunProgbar(math.ceil(total / data.steps_per_epoch)))
    samples.set_model(gan)
    return _Callbacks(callbacks, samples, scalars, stopper, health, progress)


def _train(config: Config, gan, data: RunData, total: int, ckpt, callbacks: _Callbacks,
           writer, wd: Workdir, role: WorkerRole, growing: bool, out,
           resume_command: str | None = None) -> RunResult:
    """Fits from the restored step to `total`; the final checkpoint, tile and report."""
    step = int(gan.step.numpy())
    if step >= total:
        print(f"{wd.path} is already complete ({step} of {total} steps).", file=out)
        return RunResult("already_complete", step, total, wd.path)
    source = data.source
    notes = []
    if source.skipped:
        notes.append(f"{source.skipped} records/files could not be decoded and were skipped.")
    if source.built_size is not None and config.preprocess != "resize":
        notes.append(f"These records were cropped by dcgan_tf.data.build, so "
                     f"--preprocess={config.preprocess} is not applied again.")
    if data.sorted_by_label():
        notes.append("Warning: --noshuffle on data sorted by label: most batches hold one "
                     "class; shuffle it once (or drop --noshuffle).")
    print(f"Training {config.model} at {config.resolution}x{config.resolution} on "
          f"{source.num_examples} images from {source.name!r}: steps {step} -> {total} "
          f"({data.steps_per_epoch} steps per epoch, {data.real_per_step} real images per "
          "step)." + "".join(" " + n for n in notes), file=out)
    stopper, health = callbacks.stopper, callbacks.health
    stopper.install()
    try:
        if growing:
            fit_growing(gan, data, config, callbacks.all, stopper, health)
        else:
            fit_segments(gan, data, config, callbacks.all, total, stopper, health)
    finally:
        stopper.uninstall()
        if callbacks.progress is not None:
            callbacks.progress.finish()
    step = int(gan.step.numpy())
    if health.diverged:
        writer.flush()
        raise DivergenceError(health.diverged)
    callbacks.scalars.write_now()  # the last step, when --log_every did not fall on it
    if stopper.received is not None:
        name = signal.Signals(stopper.received).name
        how = (f"To resume, run the same command: {resume_command}" if resume_command
               else "Re-run the same command to resume.")
        print(f"\nStopped by {name} at step {step}; checkpoint saved. {how}", file=out,
              flush=True)
        return RunResult("interrupted", step, total, wd.path, signal=stopper.received)
    if ckpt.save(step) is None:
        writer.flush()
        raise DivergenceError(f"Training ended at step {step} with non-finite values in "
                              "its state; the last good checkpoint is kept and nothing "
                              "was exported.")
    callbacks.samples.write_now()
    try:
        for path in (write_report(wd.path) if role.chief else ()):
            print(f"Wrote {path}.", file=out)
    except UserError as e:  # e.g. --log_every longer than the run: nothing to plot
        print(f"No report: {e}", file=out)
    return RunResult("completed", step, total, wd.path)


def _export_later(config: Config, gan, wd: Workdir, result: RunResult, row_names,
                  growing: bool, out):
    """The export job of a finished run (run() calls it outside the strategy's scope)."""
    info = export_info(config, result.step, row_names)
    info["weights"] = "ema" if gan.ema is not None else "raw"

    def export():
        export_generator(gan.sampling_generator, config.latent_dim, wd.export_dir,
                         latent=config.latent, discriminator=gan.discriminator,
                         extra_info=info, grows=growing, sample_bn=config.sample_bn,
                         workdir=wd.path)
        result.export_path = wd.export_dir
        print(f"Exported the generator to {wd.export_dir}.", file=out)

    return export
