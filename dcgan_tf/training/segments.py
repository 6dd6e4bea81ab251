"""The fit loops: a run's length in train steps, and `fit` called segment by segment so
that every segment starts on a stream positioned exactly at the run's step (a resumed run
sees the uninterrupted run's batches). A growing model fits once per level phase."""

from __future__ import annotations

import math

import tensorflow as tf

from dcgan_tf.gan.schedules import growth_phases


def total_steps(config, steps_per_epoch: int, schedule=None) -> int:
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


def fit_segments(gan, data, config, callbacks, total, stopper, health):
    """Calls fit over whole epochs where it can and partial ones where it must (the first
    epoch after a resume, the last one of a --train_steps run), each on a stream that
    starts exactly at the current step."""
    steps_per_epoch = data.steps_per_epoch
    for step in _segment_starts(lambda: int(gan.step.numpy()), total, stopper, health):
        epoch, offset = divmod(step, steps_per_epoch)
        if offset == 0 and total - step >= steps_per_epoch:
            epochs, per_epoch = (total - step) // steps_per_epoch, steps_per_epoch
        else:
            epochs, per_epoch = 1, min(steps_per_epoch - offset, total - step)
        stream = data.stream(data.real_per_step, seed=config.seed, start_step=step,
                             end_step=total, shuffle_buffer=config.shuffle_buffer,
                             with_labels=config.num_classes > 0)
        gan.fit(stream, epochs=epoch + epochs, initial_epoch=epoch,
                steps_per_epoch=per_epoch,
                callbacks=callbacks, verbose=1 if config.progress == "epoch" else 0,
                shuffle=False)


def enter_level(gan, level: int) -> None:
    """Moves a growing GAN to `level`: networks, fresh optimizer state (as the paper resets
    Adam per resolution), that resolution's learning rates, one retrace of the step."""
    gan.growth.set_level(level)
    rates = gan.growth.schedule.learning_rates_at(level)
    for opt, rate in zip((gan.d_optimizer, gan.g_optimizer), rates):
        inner = getattr(opt, "inner_optimizer", opt)  # under a LossScaleOptimizer
        for variable in inner.variables:
            variable.assign(tf.zeros(variable.shape, variable.dtype))
        opt.learning_rate = rate
    gan.train_function = None  # the next fit traces the step for this level


def fit_growing(gan, data, config, callbacks, stopper, health):
    """fit once per level phase (a level's batch size may differ from the last one's); the
    level follows the shown-image counter, so a resumed run continues where it stopped."""
    schedule = gan.growth.schedule
    total_images = int(round(config.total_kimg * 1000))
    for shown in _segment_starts(lambda: int(gan.images_seen.numpy()), total_images, stopper,
                                 health):
        level, per_step, steps, _ = growth_phases(schedule, total_images, shown,
                                                  config.d_steps)[0]
        if level != gan.growth.level:
            enter_level(gan, level)
        first = shown // per_step
        stream = data.stream(per_step, seed=config.seed, start_step=first,
                             end_step=first + steps, shuffle_buffer=config.shuffle_buffer)
        gan.fit(stream, epochs=1, steps_per_epoch=steps, callbacks=callbacks,
                verbose=1 if config.progress == "epoch" else 0, shuffle=False)
