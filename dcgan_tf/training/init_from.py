"""--init_from: a new run whose networks start from another trained model (fine-tuning).

    config, record = start_from(config, gan, wd, previous, out)   # the trainer, before training

Which weights (decisions; BUILD_NOTES "Fine-tuning"):
- A run folder: its newest intact checkpoint. G <- the raw generator and D <- the
  discriminator: that pair was playing the game (D learned against raw G's samples), so
  training continues from a consistent state; the EMA weights are an average that G never
  was. The EMA copy (when this run keeps one) <- the source's EMA copy when it kept one,
  else the raw G. StyleGAN2-ADA's --resume copies G, D and G_ema the same way.
- An export folder: generator.keras into G and the EMA copy (the exported weights: the EMA
  copy when export.json says "weights": "ema"), discriminator.keras into D when present
  (else D stays random, with a warning). A growing model's export holds only its final
  path, so a pggan source must be its run folder.
Optimizers, counters and the seed generator start fresh: it is a new run. Every variable is
compared (order, shape) before any is copied; the first that differs is named in one line.
A conditional source of another class count is refused in one line: its label inputs have no
counterpart (a new class would need new weights, not a copy).
When the workdir already holds checkpoints (a resume), nothing is read: the checkpoint wins,
and config.json keeps the --init_from of the run's start.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from dcgan_tf.artifacts.saved_generator import is_export, read_keras_networks
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.models import MODELS
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.progress import warn


def start_from(config, gan, wd: Workdir, previous, out=None):
    """Applies --init_from to a new run's networks (or checks a resumed run's fine-tuning
    flags). Returns (config, record): the config to record (on a resume, with the run's
    own --init_from) and what init_from.json should say (None: nothing to write)."""
    out = out or sys.stdout
    resuming = bool(wd.checkpoint_steps())
    if resuming:
        if previous is not None and previous.freeze_d != config.freeze_d:
            raise UserError(f"--freeze_d={config.freeze_d}, but {wd.path!r} was trained with "
                            f"--freeze_d={previous.freeze_d} (its D optimizer holds state for "
                            f"those variables): resume with --freeze_d={previous.freeze_d}, or "
                            "use another --workdir.")
        started = previous.init_from if previous is not None else config.init_from
        if config.init_from and config.init_from != started:
            print(f"--init_from={config.init_from} is not applied: {wd.path} resumes from its "
                  f"own checkpoint (it started from {started or 'random weights'}).", file=out)
        return config.replace(init_from=started), None
    if not config.init_from:
        if config.freeze_d:
            warn(f"Warning: --freeze_d={config.freeze_d} without --init_from freezes blocks "
                  "of a randomly initialised D; FreezeD is meant to keep a trained D's first "
                  "blocks (--init_from=RUN).")
        return config, None
    source = _read_source(config)
    source.check(config, gan)
    record = source.apply(gan)
    if config.freeze_d and record["d_weights"] == "random":
        warn(f"Warning: --freeze_d={config.freeze_d} freezes blocks of a random D: "
              f"{config.init_from} has no discriminator.keras.")
    d_text = {"checkpoint": "D from its checkpoint", "export": "D from discriminator.keras",
              "random": "D random"}[record["d_weights"]]
    ema_from = {"ema": "EMA copy", "raw": "raw G"}.get(record["ema_weights"], "G")
    ema_text = f", the EMA copy from its {ema_from}" if record["ema_weights"] else ""
    step = f"step {record['step']}" if record["step"] is not None else "step unknown"
    print(f"Initialised from {config.init_from} ({record['source_kind']}, {step}): G from "
          f"its {record['g_weights']} weights{ema_text}, {d_text}; optimizers and step start "
          "fresh.", file=out)
    return config, record


def _state_variables(model) -> list:
    """The variables a copy carries over: all of the network's weights (BatchNorm moving
    statistics and spectral-norm vectors included) but a growing network's level and
    fade-in alpha, which the new run's own schedule sets."""
    skip = set()
    if hasattr(model, "final_model") and hasattr(model, "level"):
        skip = {id(model.level), id(model.fade.alpha)}
    return [v for v in model.weights if id(v) not in skip]


class _Source:
    """The networks of the --init_from model, read and ready to be checked and copied."""

    def __init__(self, path: str, kind: str, model: str | None, num_classes: int | None,
                 step, generator, discriminator, ema, generator_kind: str):
        self.path, self.kind, self.model, self.num_classes = path, kind, model, num_classes
        self.step, self.generator, self.discriminator, self.ema = (step, generator,
                                                                  discriminator, ema)
        self.generator_kind = generator_kind
        self.identity = None  # a run's shape-fixing settings (Config.identity), for messages

    def check(self, config, gan) -> None:
        """UserError in one line naming the first variable whose shape (or presence) differs,
        before anything is copied."""
        flag = f"--init_from={self.path}"
        if self.num_classes is not None and self.num_classes != config.num_classes:
            what = lambda n: f"conditional on {n} classes" if n else "unconditional"  # noqa
            raise UserError(f"{flag} is {what(self.num_classes)} and this run is "
                            f"{what(config.num_classes)}: fine-tuning keeps the class count "
                            "(the label inputs' weights have no counterpart); train with "
                            f"--num_classes={self.num_classes}.")
        models = (f" ({self.model} there, {config.model} here)"
                  if self.model and self.model != config.model else "")
        pairs = [("generator", self.generator, gan.generator)]
        if self.discriminator is not None:
            pairs.append(("discriminator", self.discriminator, gan.discriminator))
        for network, theirs, ours in pairs:
            a, b = _state_variables(theirs), _state_variables(ours)
            for i in range(max(len(a), len(b))):
                there = _describe(a[i]) if i < len(a) else "nothing"
                here = _describe(b[i]) if i < len(b) else "nothing"
                if i >= len(a) or i >= len(b) or tuple(a[i].shape) != tuple(b[i].shape):
                    raise UserError(f"{flag} does not fit this model{models}: {network} "
                                    f"variable {i}: {there} there, {here} here "
                                    f"({self._differences(config)}).")

    def _differences(self, config) -> str:
        """The shape-fixing settings that differ, when the source is a run folder."""
        generic = ("family, size, resolution, channels, latent size and class count must "
                   "match")
        if self.identity is None:
            return generic
        ours = config.identity()
        diff = [f"--{k}: {self.identity.get(k)!r} there, {v!r} here" for k, v in ours.items()
                if self.identity.get(k) != v]
        return "settings that differ: " + "; ".join(diff) if diff else generic

    def apply(self, gan) -> dict:
        """Copies the weights into the GAN's networks; returns the init_from.json record."""
        _copy(self.generator, gan.generator)
        if self.discriminator is not None:
            _copy(self.discriminator, gan.discriminator)
        ema_copy = None
        if gan.ema is not None:
            source = self.ema if self.ema is not None else self.generator
            _copy(source, gan.ema.generator)
            ema_copy = "ema" if self.ema is not None else self.generator_kind
        return {
            "path": self.path,
            "resolved_path": os.path.abspath(self.path),
            "source_kind": self.kind,
            "model": self.model,
            "step": self.step,
            "g_weights": self.generator_kind,
            "ema_weights": ema_copy,
            "d_weights": ("random" if self.discriminator is None
                              else "checkpoint" if self.kind == "run" else "export"),
        }


def _describe(variable) -> str:
    return f"{variable.path} {list(variable.shape)}"


def _copy(source, target) -> None:
    for theirs, ours in zip(_state_variables(source), _state_variables(target), strict=True):
        ours.assign(np.asarray(theirs.numpy(), dtype=ours.dtype))


def _read_source(config) -> _Source:
    path = config.init_from
    if os.path.abspath(path) == os.path.abspath(config.workdir):
        raise UserError(f"--init_from={path} is this run's own --workdir; to continue a run, "
                        "re-run it without --init_from.")
    if os.path.isfile(path):
        raise UserError(f"--init_from={path} is a file; give the folder of a run or of an "
                        "export.")
    if not os.path.isdir(path):
        raise UserError(f"--init_from={path}: no such folder (a run folder or an export).")
    source_wd = Workdir(path)
    if source_wd.has_run():
        return _read_run(path, source_wd)
    if is_export(path):
        return _read_export(path)
    raise UserError(f"--init_from={path} is neither a run folder (config.json) nor an export "
                    "(saved_model.pb).")


def _read_run(path: str, source_wd: Workdir) -> _Source:
    source_config = source_wd.config()
    generator, discriminator, step, _ = source_wd.restore_networks(prefer_ema=False)
    ema = None
    if source_config.ema_decay > 0:
        ema, _, _, kind = source_wd.restore_networks(step, prefer_ema=True)
        ema = ema if kind == "ema" else None
    source = _Source(path, "run", source_config.model, source_config.num_classes, step,
                     generator, discriminator, ema, "raw")
    source.identity = source_config.identity()
    return source


def _read_export(path: str) -> _Source:
    generator, discriminator, info = read_keras_networks(path)
    model = info.get("model")
    if model in MODELS and MODELS.get(model).grows:
        raise UserError(f"--init_from={path} is an export of a growing model, which holds only "
                        "its final-resolution path: give its run folder instead.")
    num_classes = info.get("num_classes")
    return _Source(path, "export", model, None if num_classes is None else int(num_classes),
                   info.get("step"), generator, discriminator, None,
                   info.get("weights") or "exported")
