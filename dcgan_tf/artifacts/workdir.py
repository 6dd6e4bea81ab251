"""The workdir layer: where a run keeps its files, writing them and reading them back.

    wd = Workdir("runs/digits")
    wd.write_config(config)              # config.json + flags.cfg (the trainer)
    config = wd.config()                 # the resolved Config of the run (UserError if none)
    pair = wd.networks()                 # the networks that config describes
    gen, disc, step, kind = wd.restore_networks(step=None)   # from a checkpoint; EMA if kept

The trainer writes a run through this module, and every tool that reads one (export,
generate, serve, report, conditional accuracy, the evaluation command) reads it through
this module; none of them imports the trainer. Each file name is written here once.

Layout:
    config.json, flags.cfg       resolved configuration (flags.cfg works as --flagfile)
    classes.json                 class names of conditional runs
    init_from.json               what --init_from started the run from (written once)
    checkpoints/                 full-state checkpoints, each with its manifest, and the
                                 index (CheckpointManager's format); these, best.json:
                                 dcgan_tf.artifacts.checkpoint
    samples/step_XXXXXXXX.png    fixed-noise tiles (`sample_path`, `sample_tiles`);
    samples/real_batch.png       the first real batch
    tensorboard/                 event files
    metrics.jsonl                single-step metrics every --log_every steps
    evaluation.jsonl             SWD (--swd_every) and metrics (--eval_every) during training,
                                 and `dcgan_tf.evaluate --write`
    best/                        the checkpoint with the best --eval_best value, best.json
    export/                      the saved generator (dcgan_tf.artifacts.saved_generator)
    trainer.lock                 while a trainer runs: its pid, host and start (`WorkdirLock`)
"""

from __future__ import annotations

import json
import os
import re

import tensorflow as tf

from dcgan_tf.artifacts.checkpoint import (checkpoint_paths, checkpoint_problem,
                                           checkpoint_step, read_best)
from dcgan_tf.artifacts.lock import WorkdirLock
from dcgan_tf.config import Config, flagfile_text
from dcgan_tf.gan.assemble import build_from_config, resolve_config
from dcgan_tf.gan.ema import EMA_KEY
from dcgan_tf.gan.model import network_items
from dcgan_tf.utils.atomic_files import atomic_write_text
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.progress import warn as default_warn

CONFIG_FILE = "config.json"
FLAGS_FILE = "flags.cfg"
CLASSES_FILE = "classes.json"
INIT_FILE = "init_from.json"
METRICS_FILE = "metrics.jsonl"
EVALUATION_FILE = "evaluation.jsonl"
LOCK_FILE = "trainer.lock"
REAL_BATCH_FILE = "real_batch.png"
TILE_NAME = "step_{:08d}.png"  # a fixed-noise tile; TILE_PATTERN reads the step back
TILE_PATTERN = re.compile(r"^step_(\d+)\.png$")


class Workdir:
    def __init__(self, path: str):
        self.path = path

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    # ------------------------------------------------------------------ layout

    @property
    def config_path(self) -> str:
        return self.file(CONFIG_FILE)

    @property
    def flags_path(self) -> str:
        return self.file(FLAGS_FILE)

    @property
    def classes_path(self) -> str:
        return self.file(CLASSES_FILE)

    @property
    def init_record_path(self) -> str:
        return self.file(INIT_FILE)

    @property
    def checkpoint_dir(self) -> str:
        return self.file("checkpoints")

    @property
    def samples_dir(self) -> str:
        return self.file("samples")

    @property
    def real_batch_path(self) -> str:
        return os.path.join(self.samples_dir, REAL_BATCH_FILE)

    def sample_path(self, step: int) -> str:
        """The fixed-noise tile of `step`."""
        return os.path.join(self.samples_dir, TILE_NAME.format(step))

    @property
    def tensorboard_dir(self) -> str:
        return self.file("tensorboard")

    @property
    def metrics_path(self) -> str:
        return self.file(METRICS_FILE)

    @property
    def evaluation_path(self) -> str:
        return self.file(EVALUATION_FILE)

    @property
    def export_dir(self) -> str:
        return self.file("export")

    @property
    def best_dir(self) -> str:
        return self.file("best")

    @property
    def lock_path(self) -> str:
        return self.file(LOCK_FILE)

    def has_run(self) -> bool:
        return os.path.isfile(self.config_path)

    def lock(self, warn=None) -> WorkdirLock:
        """Takes the workdir for this process (creating the folder) or raises UserError in
        one line naming the trainer that holds it; release() at the end of the run."""
        return WorkdirLock(self.path, self.lock_path, warn).acquire()

    # ------------------------------------------------------------------ writing

    def write_config(self, config: Config) -> None:
        """config.json and flags.cfg (the same values as a --flagfile), atomically."""
        atomic_write_text(self.config_path, config.to_json())
        atomic_write_text(self.flags_path, flagfile_text(config))

    def write_class_names(self, names) -> None:
        """classes.json: the row names of a conditional run (for exports and the web app)."""
        atomic_write_text(self.classes_path, json.dumps(list(names)))

    def write_init_record(self, record: dict) -> None:
        """init_from.json: the model a fine-tuned run started from (--init_from: its path,
        step and which weights), written once when the run starts."""
        atomic_write_text(self.init_record_path, json.dumps(record, indent=2) + "\n")

    # ------------------------------------------------------------------ reading

    def init_record(self) -> dict | None:
        """What init_from.json records, or None (not a fine-tuned run, or unreadable)."""
        try:
            with open(self.init_record_path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def metrics_rows(self) -> list[dict]:
        """The rows of metrics.jsonl ([] when there is none)."""
        return _jsonl_rows(self.metrics_path)

    def evaluation_rows(self) -> list[dict]:
        """The rows of evaluation.jsonl ([] when there is none)."""
        return _jsonl_rows(self.evaluation_path)

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

    def check_resumable(self, config: Config) -> Config | None:
        """Returns the previous run's Config if the workdir holds one; raises UserError if it
        holds a run of different networks, or cannot be a workdir (nothing is written then)."""
        if os.path.isfile(self.path):
            raise UserError(f"--workdir {self.path!r} is a file, not a folder.")
        if not self.has_run():
            if os.path.isdir(self.checkpoint_dir):
                raise UserError(f"{self.path!r} has checkpoints but no {CONFIG_FILE}; it is "
                                "not a dcgan_tf run I can resume. Use another --workdir.")
            return None
        try:
            previous = self.config()
        except UserError as e:
            raise UserError(f"{e} Use another --workdir.") from e
        ours, theirs = config.identity(), previous.identity()
        diff = {k: (theirs[k], ours[k]) for k in ours if ours[k] != theirs[k]}
        if diff:
            described = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
            raise UserError(f"--workdir {self.path!r} holds a run of different networks "
                            f"({described}); use another --workdir.")
        return previous

    def class_names(self) -> list[str] | None:
        path = self.classes_path
        if not os.path.isfile(path):
            return None
        try:
            with open(path) as f:
                names = json.load(f)
        except (OSError, ValueError):
            return None
        return [str(n) for n in names] if isinstance(names, list) else None

    def sample_tiles(self) -> list[tuple[int, str]]:
        """(step, path) of every fixed-noise tile in the workdir, in step order."""
        folder = self.samples_dir
        if not os.path.isdir(folder):
            return []
        found = []
        for name in os.listdir(folder):
            match = TILE_PATTERN.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(folder, name)))
        return sorted(found)

    def best_info(self, warn=None) -> dict | None:
        """{"step", "metric", "value", "checkpoint"} of the kept best checkpoint, or None.
        A damaged best.json: UserError in one line, or with `warn` that line as a warning
        and None (a trainer then keeps the next best anew)."""
        try:
            return read_best(self.best_dir)
        except UserError as e:
            if warn is None:
                raise
            warn(f"Warning: {e} It is ignored; the next best checkpoint replaces it.")
            return None

    def checkpoint_steps(self) -> dict[int, str]:
        """{step: checkpoint prefix} of every checkpoint the manager lists."""
        steps = {}
        for path in checkpoint_paths(self.checkpoint_dir):
            step = checkpoint_step(path)
            if step is not None:
                steps[step] = path
        return steps

    # ------------------------------------------------------------------ networks

    def networks(self, config: Config | None = None):
        """A fresh ModelPair for the run's configuration (float32 unless the policy says
        otherwise; callers that export set float32 first)."""
        return build_networks(config or self.config())

    def restore_networks(self, step: int | None = None, prefer_ema: bool = True,
                         best: bool = False, warn=None):
        """(generator, discriminator, step, "ema" | "raw") from checkpoint `step` (default:
        the newest intact one: damaged newer ones are skipped with one line to `warn`,
        stderr by default), or with `best` from the best checkpoint of --eval_best. With
        `prefer_ema`, the generator is the run's EMA copy when the checkpoint holds one.
        UserError in one line for a damaged `step` or best checkpoint, or when every
        checkpoint is damaged."""
        config = self.config()
        if best:
            info = self.best_info()
            if info is None:
                raise UserError(f"{self.path!r} has no best checkpoint; train with "
                                "--eval_every and --eval_best to keep one.")
            step, path = int(info["step"]), os.path.join(self.best_dir, info["checkpoint"])
            generator, discriminator, kind = self._restore_pair(config, path, prefer_ema,
                                                                "The best checkpoint")
            return generator, discriminator, step, kind
        steps = self.checkpoint_steps()
        if not steps:
            raise UserError(f"{self.path!r} has no checkpoint yet.")
        if step is not None:
            if step not in steps:
                raise UserError(f"{self.path!r} has no checkpoint of step {step}; it has "
                                f"{sorted(steps)}.")
            generator, discriminator, kind = self._restore_pair(
                config, steps[step], prefer_ema, f"The checkpoint of step {step}")
            return generator, discriminator, step, kind
        damaged = []
        for candidate in sorted(steps, reverse=True):
            try:
                generator, discriminator, kind = self._restore_pair(
                    config, steps[candidate], prefer_ema, "")
            except _Damaged as e:
                damaged.append(f"step {candidate} ({e})")
                continue
            if damaged:
                (warn or default_warn)(f"Warning: damaged checkpoint(s) in {self.checkpoint_dir} "
                                  f"skipped: {'; '.join(damaged)}; using step {candidate}.")
            return generator, discriminator, candidate, kind
        raise UserError(f"Every checkpoint in {self.checkpoint_dir} is damaged: "
                        f"{'; '.join(damaged)}.")

    def _restore_pair(self, config: Config, path: str, prefer_ema: bool, what: str):
        """(generator, discriminator, "ema" | "raw") from checkpoint `path`.
        A damaged checkpoint: UserError naming it as `what`, or _Damaged without `what`."""
        problem = checkpoint_problem(path)
        if problem is not None:
            if what:
                raise UserError(f"{what} is damaged ({problem}): {path}.")
            raise _Damaged(problem)
        pair = self.networks(config)
        try:
            saved = {name for name, _ in tf.train.list_variables(path)}
            status = tf.train.Checkpoint(
                **network_items(pair.generator, pair.discriminator)).restore(path)
            status.expect_partial()  # optimizers and counters are not needed here
            status.assert_existing_objects_matched()
            generator, kind = pair.generator, "raw"
            if prefer_ema and any(name.startswith(f"{EMA_KEY}/") for name in saved):
                generator = self.networks(config).generator
                ema = tf.train.Checkpoint(**{EMA_KEY: generator}).restore(path)
                ema.expect_partial()
                ema.assert_existing_objects_matched()
                kind = "ema"
        except (tf.errors.OpError, IndexError) as e:  # the files do not read
            problem = (getattr(e, "message", None) or str(e)).splitlines()[0][:160]
            if what:
                raise UserError(f"{what} is damaged ({problem}): {path}.") from None
            raise _Damaged(problem) from None
        except (AssertionError, ValueError) as e:
            raise UserError(f"Cannot restore {path!r}: {str(e).splitlines()[0][:200]}") from e
        return generator, pair.discriminator, kind


class _Damaged(Exception):
    """A checkpoint whose files are damaged (the message says how)."""


def _jsonl_rows(path: str) -> list[dict]:
    """The JSON objects of a .jsonl log, one a line; a line cut short by a crash (or
    anything else that is not an object) is skipped."""
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    except OSError:
        return []
    return rows


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
