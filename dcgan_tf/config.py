"""The run configuration: one frozen, typed record read from the flags once.

Nothing below the entry point reads absl FLAGS; it takes a `Config`. Each field carries
the help of its flag (dcgan_tf.flags generates the flags from the fields). `config.json` in
the workdir is `Config.to_dict()`, and `flags.cfg` holds the same values as a flagfile
(`flagfile_text`). This module imports without TensorFlow.
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
# The one home of these choices (this module imports without TensorFlow): gan/update.py and
# models/conditional.py import them from here.
UPDATE = ("sequential", "simultaneous")
D_PASS = ("split", "joint")
D_CONDITIONING = ("input", "hidden", "input+hidden", "projection")
PROGRESS = ("run", "epoch", "none")
SAMPLE_BN = ("moving", "batch")  # gan/model.py, artifacts/saved_generator.py
# What `dcgan-tf export --format` writes (artifacts/saved_generator.py, artifacts/runtimes.py,
# artifacts/web_page.py); the SavedModel is always written (generate, serve and
# LoadedGenerator read it); web (the in-browser page) implies onnx.
EXPORT_FORMATS = ("savedmodel", "keras", "onnx", "tflite", "web")
DEFAULT_EXPORT_FORMATS = ("savedmodel", "keras")
PIXEL_LOSSES = ("mse", "l1")  # the projection's pixel term (gan/projection.py)
# How --truncation=t shortens z (models/latent.py); the --truncation_method flag of generate
# and serve, with this help.
TRUNCATION = ("resample", "scale")
TRUNCATION_HELP = ("How --truncation=t shortens z: resample (components of z beyond +-t "
                   "redrawn inside: a truncated normal, BigGAN) or scale (z * t, a "
                   "temperature). Uniform z: both scale.")
# Paths between latent codes (models/latent.py): --method of generate and project
INTERPOLATION = ("slerp", "linear")
# Methods of `dcgan-tf directions` (models/directions.py, artifacts/latent_directions.py)
DIRECTION_METHODS = ("sefa", "ganspace", "class_means")

# Fields that are builder options of some architectures (None: the builder's default).
MODEL_OPTION_FIELDS = ("ngf", "ndf", "g_preset", "g_depths", "d_depths", "bn_affine",
                       "fmap_base", "fmap_max", "mbstd_group_size")
# Fields that fix the networks' shapes: a workdir trained with other values cannot resume.
IDENTITY_FIELDS = ("model", "resolution", "channels", "latent_dim", "d_head", "num_classes",
                   "d_conditioning", "spectral_norm", "pack") + MODEL_OPTION_FIELDS


def _setting(default, help_text: str):
    """A Config field: its default, and the help of its flag next to it (`{models}`,
    `{losses}`, `{metrics}` are filled with the registries' names by dcgan_tf.flags)."""
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class Config:
    # run
    workdir: str = _setting("", "Folder of the run: checkpoints, samples, TensorBoard events, "
        "export. Re-running on an existing workdir resumes it.")
    seed: int = _setting(0, "Seed of weights, data order, augmentation, latent and label "
        "noise.")
    dry_run: bool = _setting(False, "Print the resolved configuration and model summaries, "
        "then exit.")
    # data
    data: str = _setting("digits", "'digits' (bundled, offline), 'mnist5k' (5,000 real "
        "28x28 MNIST digits with labels, offline: pip install \"dcgan_tf[mnist]\"), 'lfw100' "
        "(100 real 25x25 grey LFW faces, unlabelled, offline: pip install \"dcgan_tf[lfw]\"), "
        "'tfds:NAME', a folder of images, a folder or glob of TFRecords (feature image_raw), "
        "an .npz file with 'images', or IDX files (MNIST's format: a folder of "
        "*-idx3-ubyte[.gz] with *-idx1-ubyte[.gz] labels reads every split in it, one images "
        "file that split).")
    tfds_split: str = _setting("train", "Split of a tfds dataset (e.g. train, test).")
    tfds_data_dir: str = _setting("", "Folder where tfds finds datasets already downloaded or "
        "prepared.")
    preprocess: str = _setting("resize", "How images are brought to the model's size: resize "
        "(whole image), center (short side, centre square) or resize_then_center (resize to "
        "--load_size square, then cut the centre; source 000).")
    load_size: int = _setting(0, "Square size to resize to before the centre crop "
        "(resize_then_center).")
    flip_lr: bool = _setting(False, "Random left-right flips.")
    flip_ud: bool = _setting(False, "Random up-down flips (source 000 used both).")
    cache: bool = _setting(True, "Decode the images once and hold them in memory (up to 4 "
        "GiB): faster, and a resumed run then sees exactly the batches of an uninterrupted "
        "one.")
    shuffle_buffer: int = _setting(10_000, "Shuffle buffer size in images.")
    shuffle: bool = _setting(True, "Shuffle the data every epoch; --noshuffle: every epoch "
        "in the source's order (source 003's shuffle=False).")
    # networks
    model: str = _setting("dcgan64", "Architecture: {models} (pggan grows progressively).")
    resolution: int | None = _setting(None, "Image size; default: the model's own (64, 28, "
        "96).")
    channels: int | None = _setting(None, "Image channels (1 or 3); default: the model's own.")
    latent_dim: int = _setting(100, "Size of z.")
    latent: str = _setting("normal", "Latent distribution: normal or uniform (in [-1, 1], "
        "source 004).")
    d_head: str = _setting("", "Discriminator head: sigmoid, softmax2 or linear; default: the "
        "loss's own.")
    ngf: int | None = _setting(None, "dcgan64: generator width.")
    ndf: int | None = _setting(None, "dcgan64: discriminator width.")
    g_preset: str | None = _setting(None, "faces96: generator depths preset, paper "
        "(1024/512/256/128) or cpu (250/150/90/54).")
    g_depths: tuple[int, ...] | None = _setting(None, "faces96: four generator depths, e.g. "
        "250,150,90,54.")
    d_depths: tuple[int, ...] | None = _setting(None, "faces96: four discriminator depths, "
        "e.g. 64,128,256,512.")
    bn_affine: bool | None = _setting(None, "faces96: BatchNorm with learned scale and offset "
        "(source: without).")
    num_classes: int = _setting(0, "Conditional model on this many classes (labels from the "
        "data); 0: unconditional.")
    d_conditioning: str = _setting("input", "How D sees the labels: input (label maps joined "
        "to the image channels, source 002), hidden (joined after D's first activation), "
        "input+hidden, or projection (Miyato & Koyama 2018).")
    fmap_base: int | None = _setting(None, "pggan: feature maps nf(stage) = fmap_base / "
        "2^stage (paper 8192).")
    fmap_max: int | None = _setting(None, "pggan: at most this many feature maps per layer "
        "(paper 512).")
    mbstd_group_size: int | None = _setting(None, "Minibatch-stddev group size (pggan, "
        "dcgan64): D appends the feature std over groups of this many samples (paper's code: "
        "4; 0: the whole minibatch, as the paper's text describes it). A batch above it must "
        "be a multiple of it. pggan: default 4; dcgan64: unset = no such layer.")
    # fine-tuning
    init_from: str = _setting("", "Start a new run from another trained model of the same "
        "family and size: a run folder (G and D from its newest checkpoint; the EMA copy from "
        "its EMA weights when both runs keep one) or an export folder (generator.keras, and "
        "discriminator.keras when present). Optimizers and step start fresh; a resumed run "
        "ignores it (its checkpoint wins).")
    freeze_d: int = _setting(0, "FreezeD (Mo et al. 2020): D's first N blocks (from the "
        "image side) get no updates; meant with --init_from. 0: off.")
    # progressive growing (pggan)
    start_resolution: int = _setting(4, "pggan: resolution training starts at (grows to "
        "--resolution).")
    fade_kimg: float = _setting(600.0, "pggan: thousands of real images over which a new "
        "resolution fades in (paper 600).")
    stable_kimg: float = _setting(600.0, "pggan: thousands of real images each resolution "
        "then trains for (paper 600).")
    resolution_batch_sizes: str = _setting("", "pggan: per-resolution batch sizes, e.g. "
        "4:64,8:64,16:32 (others: --batch_size).")
    resolution_lrs: str = _setting("", "pggan: per-resolution learning rates of both "
        "networks, e.g. 128:0.0015,256:0.002 (others: --g_lr / --d_lr).")
    # loss and update rule
    loss: str = _setting("bce", "The GAN loss: {losses}.")
    update: str = _setting("sequential", "Order of the two updates in a step: sequential (D "
        "first, then G through the updated D; sources 000/003) or simultaneous (both from "
        "one forward pass; source 004, the TensorFlow DCGAN tutorial).")
    d_pass: str = _setting("split", "split: D scores reals and fakes in two calls, BatchNorm "
        "normalising them apart (sources 000/003/004); joint: one call on both (one larger "
        "batch, BatchNorm statistics of the mixed batch).")
    d_steps: int = _setting(1, "Discriminator updates per generator update (each on its own "
        "real batch).")
    g_steps: int = _setting(1, "Generator updates per discriminator update.")
    label_flip: float = _setting(0.0, "Probability of swapping a sample's real/fake label in "
        "D's loss.")
    label_smoothing: float = _setting(0.0, "One-sided label smoothing: real target 1 - s.")
    instance_noise: float = _setting(0.0, "Sigma of Gaussian noise added to D's inputs.")
    instance_noise_decay_steps: int = _setting(0, "Generator steps over which that sigma "
        "decays to 0 (0 = constant).")
    weight_decay: float = _setting(0.0, "L2 coefficient on all kernels (source 004).")
    gp_weight: float = _setting(10.0, "Gradient-penalty weight lambda (wgan_gp).")
    drift: float = _setting(0.0, "Epsilon-drift weight on D(x)^2 (wgan_gp; ProGAN uses "
        "0.001).")
    ema_decay: float = _setting(0.0, "Keep an exponential moving average of G's weights with "
        "this decay (e.g. 0.999) for samples and exports; 0: off.")
    ema_start: int = _setting(0, "Generator steps during which the average is a plain copy of "
        "G.")
    ema_rampup: float = _setting(0.05, "EMA half-life ramp-up (StyleGAN2-ADA): at step t the "
        "half-life is min(that of --ema_decay, RAMPUP * t) steps, so early samples are not "
        "dragged toward the untrained G; 0: plain constant decay.")
    diffaugment: str = _setting("", "DiffAugment policy (Zhao et al. 2020) for every image D "
        "sees: a comma list of color, translation, cutout (e.g. color,translation,cutout).")
    gridmask: float = _setting(0.0, "GridMask (Chen et al. 2020; source 000's Fig. 3) on "
        "every image D sees, real and fake: probability per image; 0: off.")
    gridmask_ratio: float = _setting(0.6, "GridMask: kept fraction r of each grid unit's "
        "side; a square of (1 - r) d is removed per d x d unit, (1 - r)^2 of the image "
        "(paper: 0.6).")
    gridmask_d_min: float = _setting(0.43, "GridMask: smallest unit d, as a fraction of the "
        "image side (paper on ImageNet: 96 of 224 px).")
    gridmask_d_max: float = _setting(1.0, "GridMask: largest unit d, as a fraction of the "
        "image side (paper on ImageNet: 224 of 224 px).")
    ada_target: float = _setting(0.0, "Adaptive discriminator augmentation (Karras et al. "
        "2020): target of E[sign(D(x_real))], e.g. 0.6; 0: off.")
    ada_interval: int = _setting(4, "ADA: adjust the augmentation probability every N D "
        "updates.")
    ada_kimg: float = _setting(500.0, "ADA: thousands of real images over which p can go from "
        "0 to 1.")
    spectral_norm: bool = _setting(False, "Spectral normalisation (Miyato et al. 2018) of D's "
        "Conv2D and Dense layers (Keras' SpectralNormalization wrapper).")
    pack: int = _setting(1, "PacGAN packing (Lin et al. 2018): D judges N images at once, "
        "stacked along channels (reals with reals, fakes with fakes), which penalises a "
        "generator that repeats itself; the paper's 2-4 remove most mode collapse on stacked "
        "MNIST. Unconditional, non-growing models; --batch_size a multiple of N; 1: off.")
    top_k: float = _setting(0.0, "Top-k generator updates (Sinha et al. 2020): G learns only "
        "from the fakes D scores most real, a share of its batch falling from 1 to this value "
        "(the paper's nu: 0.5-0.75) over --top_k_steps; 0: off.")
    top_k_steps: int = _setting(2000, "Generator updates over which the top-k share falls "
        "geometrically from the whole batch to --top_k.")
    r1_gamma: float = _setting(0.0, "R1 penalty gamma/2 ||grad D(x_real)||^2 (Mescheder et "
        "al. 2018); 0: off.")
    r1_every: int = _setting(16, "Apply R1 every N D updates (lazy regularisation, scaled by "
        "N).")
    # optimizers
    g_lr: float = _setting(2e-4, "Generator learning rate.")
    d_lr: float = _setting(2e-4, "Discriminator learning rate.")
    g_beta1: float = _setting(0.5, "Generator Adam beta1.")
    g_beta2: float = _setting(0.999, "Generator Adam beta2.")
    d_beta1: float = _setting(0.5, "Discriminator Adam beta1.")
    d_beta2: float = _setting(0.999, "Discriminator Adam beta2.")
    adam_epsilon: float = _setting(1e-7, "Adam epsilon of both optimizers (ProGAN: 1e-8).")
    # length
    batch_size: int = _setting(64, "Images per generator update (D sees d_steps x batch_size "
        "per step).")
    train_steps: int = _setting(0, "Length of training in generator updates (or use "
        "--epochs).")
    epochs: int = _setting(0, "Length of training in passes over the data (or use "
        "--train_steps).")
    total_kimg: float = _setting(0.0, "Length of training in thousands of real images shown "
        "(ProGAN's unit; or use --train_steps / --epochs).")
    # speed
    jit_compile: bool = _setting(False, "Compile the train step with XLA.")
    mixed_precision: str = _setting("no", "no, fp16 (mixed_float16 with loss scaling) or "
        "bf16.")
    steps_per_execution: int = _setting(1, "Train steps per host round trip.")
    strategy: str = _setting("default", "Where to train (tf.distribute): default (one "
        "device), mirrored (every GPU of this machine), multi_worker (the machines TF_CONFIG "
        "lists) or tpu. --batch_size is the global batch.")
    sync_batchnorm: bool = _setting(False, "With several replicas, BatchNorm normalises with "
        "the statistics of the global batch instead of each replica's share.")
    # outputs
    checkpoint_every: int = _setting(500, "Save a checkpoint every N steps (and at the end).")
    keep_checkpoints: int = _setting(3, "How many recent checkpoints to keep.")
    sample_every: int = _setting(500, "Write a fixed-noise sample tile every N steps (and at "
        "the end).")
    log_every: int = _setting(50, "Write TensorBoard scalars every N steps.")
    sample_grid: int = _setting(8, "Sample tile is N x N images (N columns with "
        "--sample_rows).")
    sample_rows: int = _setting(0, "Rows of the sample tile (of --sample_grid images each); "
        "0: as many as columns (conditional runs: one row per class). Source 003: 5 x 10.")
    sample_bn: str = _setting("moving", "BatchNorm statistics when G draws samples (tiles, "
        "evaluation during training, the export): moving (the moving averages) or batch "
        "(each sampled batch's own, as sources 000/003/004 sampled: PyTorch's train mode, "
        "TF1's tf.nn.moments; moving averages untouched; an image then depends on the other "
        "images of its batch).")
    export: bool = _setting(True, "Export the generator as a SavedModel at the end.")
    progress: str = _setting("run", "Console progress: run (one line for the whole run: "
        "steps, elapsed, ETA, images/s, losses), epoch (Keras' per-epoch bar) or none.")
    swd_every: int = _setting(0, "Every N steps, the sliced Wasserstein distance of generated "
        "vs real images (per pyramid level) to TensorBoard and evaluation.jsonl; 0: off.")
    swd_images: int = _setting(512, "Images per set of that SWD (real ones: a fixed batch of "
        "the data).")
    eval_every: int = _setting(0, "Every N steps, --eval_metrics of --eval_images samples "
        "(EMA generator when kept) against the data, to TensorBoard (eval/*) and "
        "evaluation.jsonl; 0: off.")
    eval_metrics: str = _setting("", "Metrics of --eval_every, a comma list of {metrics} (as "
        "python -m dcgan_tf.evaluate --metrics); default swd.")
    eval_images: int = _setting(1000, "Generated images per evaluation (fixed seeds), and at "
        "most as many real ones.")
    eval_best: str = _setting("", "Keep the checkpoint with the best value of this metric "
        "(one of --eval_metrics) in WORKDIR/best; export it with python -m dcgan_tf.export "
        "--best.")
    features: str = _setting("", "Features of pr and the classifier of fd/cond_acc/modes/"
        "confident during training (as dcgan_tf.evaluate --features).")
    inception_weights: str = _setting("", "InceptionV3 weights file (Keras' "
        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5) for fid/kid/is on offline "
        "machines.")
    # health
    on_divergence: str = _setting("stop", "On non-finite losses: stop, or retry from the last "
        "checkpoint with lower learning rates.")
    max_retries: int = _setting(3, "How many times --on_divergence=retry may restart.")
    lr_backoff: float = _setting(0.5, "Factor applied to both learning rates on each retry.")
    d_win_threshold: float = _setting(0.02, "D 'wins outright' when D(x) > 1 - t and D(G(z)) "
        "< t.")
    d_win_span: int = _setting(200, "Warn when D has won outright for this many consecutive "
        "steps.")
    explode_factor: float = _setting(1000.0, "Divergence when a loss or gradient norm exceeds "
        "this many times its running median (at least 1.0); 0: off.")

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
        _choice("sample_bn", self.sample_bn, SAMPLE_BN)
        _choice("d_conditioning", self.d_conditioning, D_CONDITIONING)
        if self.num_classes < 0:
            raise UserError(f"--num_classes must be >= 0, got {self.num_classes}.")
        for name in ("r1_every", "batch_size", "latent_dim", "steps_per_execution",
                     "checkpoint_every", "keep_checkpoints", "sample_every", "log_every",
                     "sample_grid", "pack",
                     "d_win_span", "shuffle_buffer"):
            _positive(name, getattr(self, name))
        for name in ("train_steps", "epochs", "max_retries", "load_size", "ema_start",
                     "sample_rows", "freeze_d", "top_k_steps",
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
        for name in ("fade_kimg", "total_kimg", "adam_epsilon"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"--{name} must be a finite number >= 0, got {value}.")
        if not (0.0 <= self.top_k <= 1.0):
            raise UserError(f"--top_k must be in [0, 1] (the share of G's batch kept at the "
                            f"end; 0: off), got {self.top_k}.")
        if self.mbstd_group_size is not None and self.mbstd_group_size < 0:
            raise UserError(f"--mbstd_group_size must be >= 0 (0: the whole batch), got "
                            f"{self.mbstd_group_size}.")
        if self.batch_size % self.pack:
            raise UserError(f"--batch_size={self.batch_size} does not split into packs of "
                            f"--pack={self.pack}: use a multiple of {self.pack}.")
        if self.pack > 1 and self.num_classes:
            raise UserError("--pack packs unconditional D inputs; a conditional model "
                            f"(--num_classes={self.num_classes}) cannot use it.")
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


def flagfile_text(config: Config) -> str:
    """The resolved configuration as a flagfile that `--flagfile=` accepts (`flags.cfg` in
    the workdir)."""
    lines = ["# Resolved flags of this run; re-usable with --flagfile."]
    for key, value in config.to_dict().items():
        if value is None or key == "dry_run":
            continue
        if isinstance(value, bool):
            lines.append(f"--{key}" if value else f"--no{key}")
        elif isinstance(value, list):
            lines.append(f"--{key}={','.join(str(v) for v in value)}")
        else:
            lines.append(f"--{key}={value}")
    return "\n".join(lines) + "\n"
