"""The workdir layer: where a run keeps its files, and reading them back.

    wd = Workdir("runs/digits")
    config = wd.config()                 # the resolved Config of the run (UserError if none)
    pair = wd.networks()                 # the networks that config describes
    gen, disc, step, kind = wd.restore_networks(step=None)   # from a checkpoint; EMA if kept

Every tool that reads a run (export, generate, serve, report, conditional accuracy, the
evaluation command) goes through this module; none of them imports the trainer.

Layout:
    config.json, flags.cfg       resolved configuration (flags.cfg works as --flagfile)
    classes.json                 class names of conditional runs
    checkpoints/                 tf.train.CheckpointManager checkpoints, full state
    samples/step_XXXXXXXX.png    fixed-noise tiles; samples/real_batch.png
    tensorboard/                 event files
    metrics.jsonl                single-step metrics every --log_every steps
    evaluation.jsonl             SWD (--swd_every) and metrics (--eval_every) during training
    best/                        the checkpoint with the best --eval_best value, best.json
    export/                      SavedModel of the generator
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from dcgan_tf.config import Config
from dcgan_tf.gan.ema import EMA_KEY
from dcgan_tf.utils.errors import UserError
from dcgan_tf.models import build_from_config, resolve_config

CONFIG_FILE = "config.json"
FLAGS_FILE = "flags.cfg"
CLASSES_FILE = "classes.json"
METRICS_FILE = "metrics.jsonl"


class Workdir:
    def __init__(self, path: str):
        self.path = path

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def config_path(self) -> str:
        return self.file(CONFIG_FILE)

    @property
    def checkpoints(self) -> str:
        return self.file("checkpoints")

    @property
    def samples(self) -> str:
        return self.file("samples")

    @property
    def tensorboard(self) -> str:
        return self.file("tensorboard")

    @property
    def metrics(self) -> str:
        return self.file(METRICS_FILE)

    @property
    def export(self) -> str:
        return self.file("export")

    @property
    def best(self) -> str:
        return self.file("best")

    def best_info(self) -> dict | None:
        """{"step", "metric", "value", "checkpoint"} of the kept best checkpoint, or None."""
        try:
            with open(os.path.join(self.best, "best.json")) as f:
                info = json.load(f)
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and "checkpoint" in info else None

    def has_run(self) -> bool:
        return os.path.isfile(self.config_path)

    # ------------------------------------------------------------------ reading

    def config(self) -> Config:
        """The run's resolved Config. UserError when the folder holds no readable run."""
        if os.path.isfile(self.path):
            raise UserError(f"{self.path!r} is a file, not a run folder.")
        if not self.has_run():
            raise UserError(f"{self.path!r} holds no training run (no {CONFIG_FILE}).")
        try:
            with open(self.config_path) as f:
                config = Config.from_dict(json.load(f))
        except (OSError, ValueError, TypeError) as e:
            raise UserError(f"Cannot read {self.config_path!r} ({e}).") from e
        return resolve(config)

    def class_names(self) -> list[str] | None:
        path = self.file(CLASSES_FILE)
        if not os.path.isfile(path):
            return None
        try:
            with open(path) as f:
                names = json.load(f)
        except (OSError, ValueError):
            return None
        return [str(n) for n in names] if isinstance(names, list) else None

    def checkpoint_steps(self) -> dict[int, str]:
        """{step: checkpoint prefix} of every checkpoint the manager lists."""
        state = tf.train.get_checkpoint_state(self.checkpoints)
        paths = list(state.all_model_checkpoint_paths) if state else []
        out = {}
        for p in paths:
            # The index stores paths as the writer named them: absolute, relative to the
            # folder of the index, or relative to the writer's working directory.
            if not os.path.isabs(p) and not os.path.exists(p + ".index"):
                p = os.path.join(self.checkpoints, os.path.basename(p))
            try:
                out[int(p.rsplit("-", 1)[1])] = p
            except (IndexError, ValueError):
                continue
        return out

    # ------------------------------------------------------------------ networks

    def networks(self, config: Config | None = None):
        """A fresh ModelPair for the run's configuration (float32 unless the policy says
        otherwise; callers that export set float32 first)."""
        return build_networks(config or self.config())

    def restore_networks(self, step: int | None = None, prefer_ema: bool = True,
                         best: bool = False):
        """(generator, discriminator, step, "ema" | "raw") from checkpoint `step` (default:
        the newest), or with `best` from the best checkpoint of --eval_best. With
        `prefer_ema`, the generator is the run's EMA copy when the checkpoint holds one."""
        config = self.config()
        if best:
            info = self.best_info()
            if info is None:
                raise UserError(f"{self.path!r} has no best checkpoint; train with "
                                "--eval_every and --eval_best to keep one.")
            step, path = int(info["step"]), os.path.join(self.best, info["checkpoint"])
        else:
            steps = self.checkpoint_steps()
            if not steps:
                raise UserError(f"{self.path!r} has no checkpoint yet.")
            if step is None:
                step = max(steps)
            if step not in steps:
                raise UserError(f"{self.path!r} has no checkpoint of step {step}; it has "
                                f"{sorted(steps)}.")
            path = steps[step]
        pair = self.networks(config)
        try:
            saved = {name for name, _ in tf.train.list_variables(path)}
            status = tf.train.Checkpoint(generator=pair.generator,
                                         discriminator=pair.discriminator).restore(path)
            status.expect_partial()  # optimizers and counters are not needed here
            status.assert_existing_objects_matched()
            generator, kind = pair.generator, "raw"
            if prefer_ema and any(name.startswith(f"{EMA_KEY}/") for name in saved):
                generator = self.networks(config).generator
                ema = tf.train.Checkpoint(**{EMA_KEY: generator}).restore(path)
                ema.expect_partial()
                ema.assert_existing_objects_matched()
                kind = "ema"
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            raise UserError(f"Cannot restore {path!r}: {str(e).splitlines()[0][:200]}") from e
        return generator, pair.discriminator, step, kind


def resolve(config: Config) -> Config:
    """Config with its model- and loss-dependent defaults filled (UserError for names)."""
    try:
        return resolve_config(config)
    except ValueError as e:
        raise UserError(str(e)) from e


def build_networks(config: Config):
    try:
        return build_from_config(config)
    except ValueError as e:
        raise UserError(str(e)) from e
