"""The run configuration: one frozen, typed record read from the flags once.

Nothing below the entry point reads absl FLAGS; it takes a `Config`. `config.json` in the
workdir is `Config.to_dict()`, and `flags.cfg` holds the same values as a flagfile.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from dcgan_tf.utils.errors import UserError

MIXED_PRECISION = ("no", "fp16", "bf16")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")  # dcgan_tf.training.distribute
POLICIES = {"no": "float32", "fp16": "mixed_float16", "bf16": "mixed_bfloat16"}
PREPROCESS = ("resize", "center", "resize_then_center")
ON_DIVERGENCE = ("stop", "retry")
UPDATE = ("sequential", "simultaneous")
D_PASS = ("split", "joint")  # dcgan_tf.gan.model.D_PASSES
PROGRESS = ("run", "epoch", "none")

# Fields that fix the networks' shapes: a workdir trained with other values cannot resume.
IDENTITY_FIELDS = ("model", "resolution", "channels", "latent_dim", "d_head", "ngf", "ndf",
                   "g_preset", "g_depths", "d_depths", "bn_affine", "num_classes",
                   "d_conditioning", "fmap_base", "fmap_max", "spectral_norm")


@dataclasses.dataclass(frozen=True)
class Config:
    # run
    workdir: str = ""
    seed: int = 0
    dry_run: bool = False
    # data
    data: str = "digits"
    tfds_split: str = "train"
    tfds_data_dir: str = ""
    preprocess: str = "resize"
    load_size: int = 0
    flip_lr: bool = False
    flip_ud: bool = False
    cache: bool = True
    shuffle_buffer: int = 10_000
    # networks
    model: str = "dcgan64"
    resolution: int | None = None
    channels: int | None = None
    latent_dim: int = 100
    latent: str = "normal"
    d_head: str = ""
    ngf: int | None = None
    ndf: int | None = None
    g_preset: str | None = None
    g_depths: tuple[int, ...] | None = None
    d_depths: tuple[int, ...] | None = None
    bn_affine: bool | None = None
    num_classes: int = 0  # > 0: conditional on the data's labels (source 002)
    d_conditioning: str = "input"
    fmap_base: int | None = None
    fmap_max: int | None = None
    # progressive growing (pggan)
    start_resolution: int = 4
    fade_kimg: float = 600.0
    stable_kimg: float = 600.0
    resolution_batch_sizes: str = ""
    resolution_lrs: str = ""
    # loss and update rule
    loss: str = "bce"
    update: str = "sequential"
    d_pass: str = "split"
    d_steps: int = 1
    g_steps: int = 1
    label_flip: float = 0.0
    label_smoothing: float = 0.0
    instance_noise: float = 0.0
    instance_noise_decay_steps: int = 0
    weight_decay: float = 0.0
    gp_weight: float = 10.0
    drift: float = 0.0
    ema_decay: float = 0.0
    ema_start: int = 0
    ema_rampup: float = 0.05
    diffaugment: str = ""
    ada_target: float = 0.0
    ada_interval: int = 4
    ada_kimg: float = 500.0
    spectral_norm: bool = False
    r1_gamma: float = 0.0
    r1_every: int = 16
    # optimizers
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    g_beta1: float = 0.5
    g_beta2: float = 0.999
    d_beta1: float = 0.5
    d_beta2: float = 0.999
    adam_epsilon: float = 1e-7
    # length
    batch_size: int = 64
    train_steps: int = 0
    epochs: int = 0
    total_kimg: float = 0.0
    # speed
    jit_compile: bool = False
    mixed_precision: str = "no"
    steps_per_execution: int = 1
    strategy: str = "default"
    sync_batchnorm: bool = False
    # outputs
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    sample_every: int = 500
    log_every: int = 50
    sample_grid: int = 8
    export: bool = True
    progress: str = "run"
    swd_every: int = 0
    swd_images: int = 512
    eval_every: int = 0
    eval_metrics: str = ""
    eval_images: int = 1000
    eval_best: str = ""
    features: str = ""
    inception_weights: str = ""
    # health
    on_divergence: str = "stop"
    max_retries: int = 3
    lr_backoff: float = 0.5
    d_win_threshold: float = 0.02
    d_win_span: int = 200
    explode_factor: float = 1000.0

    # ------------------------------------------------------------------ checks

    def validate(self) -> Config:
        """Raises UserError naming the first bad value; returns self."""
        if not self.workdir and not self.dry_run:
            raise UserError("--workdir is required (the folder that holds the run).")
        _choice("mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("preprocess", self.preprocess, PREPROCESS)
        _choice("on_divergence", self.on_divergence, ON_DIVERGENCE)
        _choice("update", self.update, UPDATE)
        _choice("d_pass", self.d_pass, D_PASS)
        _choice("progress", self.progress, PROGRESS)
        _choice("d_conditioning", self.d_conditioning,
                ("input", "hidden", "input+hidden", "projection"))
        if self.num_classes < 0:
            raise UserError(f"--num_classes must be >= 0, got {self.num_classes}.")
        for name in ("r1_every", "batch_size", "latent_dim", "steps_per_execution",
                     "checkpoint_every", "keep_checkpoints", "sample_every", "log_every",
                     "sample_grid",
                     "d_win_span", "shuffle_buffer"):
            _positive(name, getattr(self, name))
        for name in ("train_steps", "epochs", "max_retries", "load_size", "ema_start",
                     "swd_every", "eval_every"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0, got {getattr(self, name)}.")
        lengths = [n for n in ("train_steps", "epochs", "total_kimg") if getattr(self, n) > 0]
        if len(lengths) != 1:
            raise UserError(
                "Set exactly one of --train_steps (generator updates), --epochs and "
                f"--total_kimg (thousands of real images shown), got train_steps="
                f"{self.train_steps}, epochs={self.epochs}, total_kimg={self.total_kimg:g}."
            )
        if self.model == "pggan" and not self.total_kimg and not self.dry_run:
            raise UserError("--model=pggan measures its length in shown images: set "
                            "--total_kimg (the paper's schedule is in kimg).")
        for name in ("fade_kimg", "total_kimg", "adam_epsilon"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"--{name} must be a finite number >= 0, got {value}.")
        if not (math.isfinite(self.stable_kimg) and self.stable_kimg > 0):
            raise UserError(f"--stable_kimg must be > 0, got {self.stable_kimg}.")
        for name in ("g_lr", "d_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"--{name} must be a finite number >= 0, got {value}.")
        for name in ("g_beta1", "g_beta2", "d_beta1", "d_beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise UserError(f"--{name} must be in [0, 1), got {value}.")
        if not self.eval_every and (self.eval_metrics or self.eval_best):
            raise UserError("--eval_metrics/--eval_best need --eval_every=N (evaluate every N "
                            "steps).")
        if self.eval_every and not 10 <= self.eval_images <= 100_000:
            raise UserError(f"--eval_images must be in [10, 100000], got {self.eval_images}.")
        if self.swd_every and not 16 <= self.swd_images <= 16384:
            raise UserError(f"--swd_images must be in [16, 16384], got {self.swd_images}.")
        if not (0.0 <= self.ema_decay < 1.0):
            raise UserError(f"--ema_decay must be in [0, 1) (0: no EMA), got {self.ema_decay}.")
        if not self.ema_rampup >= 0.0:
            raise UserError(f"--ema_rampup must be >= 0 (0: no ramp-up), got {self.ema_rampup}.")
        if not (math.isfinite(self.explode_factor) and
                (self.explode_factor == 0 or self.explode_factor > 1)):
            raise UserError(f"--explode_factor must be > 1 (or 0: off), got "
                            f"{self.explode_factor}.")
        if not 0.0 < self.lr_backoff < 1.0:
            raise UserError(f"--lr_backoff must be in (0, 1), got {self.lr_backoff}.")
        if not 0.0 < self.d_win_threshold < 0.5:
            raise UserError(f"--d_win_threshold must be in (0, 0.5), got {self.d_win_threshold}.")
        if self.preprocess == "resize_then_center" and self.load_size <= 0:
            raise UserError("--preprocess=resize_then_center needs --load_size (e.g. 256).")
        return self

    # ------------------------------------------------------------------ (de)serialising

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v)
                  for k, v in values.items() if k in known}
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def identity(self) -> dict[str, Any]:
        """The values that fix the networks' shapes (compared when resuming)."""
        d = self.to_dict()
        return {k: d[k] for k in IDENTITY_FIELDS}

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)


def _choice(name, value, choices):
    if value not in choices:
        raise UserError(f"Unknown --{name} {value!r}. Expected one of {list(choices)}.")


def _positive(name, value):
    if value is None or value <= 0:
        raise UserError(f"--{name} must be a positive integer, got {value}.")
