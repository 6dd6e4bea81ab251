"""Every command-line flag of `python -m dcgan_tf.train`, in one place.

Each flag is a field of `config.Config` (same name, same default) with the help text
below; `config_from_flags` reads them once into a frozen Config, and `flagfile_text`
writes a resolved Config back as a flagfile (`flags.cfg` in the workdir).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing

from absl import flags

from dcgan_tf.config import Config
from dcgan_tf.data.options import BuildOptions
from dcgan_tf.utils.errors import UserError

HELP = {
    "workdir": "Folder of the run: checkpoints, samples, TensorBoard events, export. "
               "Re-running on an existing workdir resumes it.",
    "seed": "Seed of weights, data order, augmentation, latent and label noise.",
    "dry_run": "Print the resolved configuration and model summaries, then exit.",
    "data": "'digits' (bundled, offline), 'tfds:NAME', a folder of images, a folder or "
            "glob of TFRecords (feature image_raw), or an .npz file with 'images'.",
    "num_classes": "Conditional model on this many classes (labels from the data); 0: "
                   "unconditional.",
    "d_conditioning": "How D sees the labels: input (label maps joined to the image "
                      "channels, source 002), hidden (joined after D's first activation), "
                      "input+hidden, or projection (Miyato & Koyama 2018).",
    "tfds_split": "Split of a tfds dataset (e.g. train, test).",
    "tfds_data_dir": "Folder where tfds finds datasets already downloaded or prepared.",
    "preprocess": "How images are brought to the model's size: resize (whole image), "
                  "center (short side, centre square) or resize_then_center "
                  "(resize to --load_size square, then cut the centre; source 000).",
    "load_size": "Square size to resize to before the centre crop (resize_then_center).",
    "flip_lr": "Random left-right flips.",
    "flip_ud": "Random up-down flips (source 000 used both).",
    "cache": "Decode the images once and hold them in memory (up to 4 GiB): faster, and "
             "a resumed run then sees exactly the batches of an uninterrupted one.",
    "shuffle_buffer": "Shuffle buffer size in images.",
    "model": "Architecture: dcgan64, mnist28, faces96 or pggan (progressive growing).",
    "resolution": "Image size; default: the model's own (64, 28, 96).",
    "channels": "Image channels (1 or 3); default: the model's own.",
    "latent_dim": "Size of z.",
    "latent": "Latent distribution: normal or uniform (in [-1, 1], source 004).",
    "d_head": "Discriminator head: sigmoid, softmax2 or linear; default: the loss's own.",
    "ngf": "dcgan64: generator width.",
    "ndf": "dcgan64: discriminator width.",
    "g_preset": "faces96: generator depths preset, paper (1024/512/256/128) or cpu "
                "(250/150/90/54).",
    "g_depths": "faces96: four generator depths, e.g. 250,150,90,54.",
    "d_depths": "faces96: four discriminator depths, e.g. 64,128,256,512.",
    "fmap_base": "pggan: feature maps nf(stage) = fmap_base / 2^stage (paper 8192).",
    "fmap_max": "pggan: at most this many feature maps per layer (paper 512).",
    "start_resolution": "pggan: resolution training starts at (grows to --resolution).",
    "fade_kimg": "pggan: thousands of real images over which a new resolution fades in "
                 "(paper 600).",
    "stable_kimg": "pggan: thousands of real images each resolution then trains for "
                   "(paper 600).",
    "resolution_batch_sizes": "pggan: per-resolution batch sizes, e.g. 4:64,8:64,16:32 "
                              "(others: --batch_size).",
    "resolution_lrs": "pggan: per-resolution learning rates of both networks, e.g. "
                      "128:0.0015,256:0.002 (others: --g_lr / --d_lr).",
    "adam_epsilon": "Adam epsilon of both optimizers (ProGAN: 1e-8).",
    "total_kimg": "Length of training in thousands of real images shown (ProGAN's unit; "
                  "or use --train_steps / --epochs).",
    "bn_affine": "faces96: BatchNorm with learned scale and offset (source: without).",
    "loss": "bce, minimax, softmax_ce, softplus, lsgan, hinge or wgan_gp.",
    "update": "Order of the two updates in a step: sequential (D first, then G through the "
              "updated D; sources 000/003) or simultaneous (both from one forward pass; "
              "source 004, the TensorFlow DCGAN tutorial).",
    "d_pass": "split: D scores reals and fakes in two calls, BatchNorm normalising them "
              "apart (sources 000/003/004); joint: one call on both (one larger batch, "
              "BatchNorm statistics of the mixed batch).",
    "diffaugment": "DiffAugment policy (Zhao et al. 2020) for every image D sees: a comma "
                   "list of color, translation, cutout (e.g. color,translation,cutout).",
    "ada_target": "Adaptive discriminator augmentation (Karras et al. 2020): target of "
                  "E[sign(D(x_real))], e.g. 0.6; 0: off.",
    "ada_interval": "ADA: adjust the augmentation probability every N D updates.",
    "ada_kimg": "ADA: thousands of real images over which p can go from 0 to 1.",
    "spectral_norm": "Spectral normalisation (Miyato et al. 2018) of D's Conv2D and Dense "
                     "layers (Keras' SpectralNormalization wrapper).",
    "r1_gamma": "R1 penalty gamma/2 ||grad D(x_real)||^2 (Mescheder et al. 2018); 0: off.",
    "r1_every": "Apply R1 every N D updates (lazy regularisation, scaled by N).",
    "ema_decay": "Keep an exponential moving average of G's weights with this decay (e.g. "
                 "0.999) for samples and exports; 0: off.",
    "ema_start": "Generator steps during which the average is a plain copy of G.",
    "ema_rampup": "EMA half-life ramp-up (StyleGAN2-ADA): at step t the half-life is "
                  "min(that of --ema_decay, RAMPUP * t) steps, so early samples are not "
                  "dragged toward the untrained G; 0: plain constant decay.",
    "progress": "Console progress: run (one line for the whole run: steps, elapsed, ETA, "
                "images/s, losses), epoch (Keras' per-epoch bar) or none.",
    "swd_every": "Every N steps, the sliced Wasserstein distance of generated vs real images "
                 "(per pyramid level) to TensorBoard and evaluation.jsonl; 0: off.",
    "swd_images": "Images per set of that SWD (real ones: a fixed batch of the data).",
    "eval_every": "Every N steps, --eval_metrics of --eval_images samples (EMA generator when "
                  "kept) against the data, to TensorBoard (eval/*) and evaluation.jsonl; 0: off.",
    "eval_metrics": "Metrics of --eval_every (as python -m dcgan_tf.evaluate --metrics); "
                    "default swd.",
    "eval_images": "Generated images per evaluation (fixed seeds), and at most as many real "
                   "ones.",
    "eval_best": "Keep the checkpoint with the best value of this metric (one of "
                 "--eval_metrics) in WORKDIR/best; export it with python -m dcgan_tf.export "
                 "--best.",
    "features": "Features of pr and the classifier of fd/cond_acc/modes during training "
                "(as dcgan_tf.evaluate --features).",
    "inception_weights": "InceptionV3 weights file for fid/kid/is on offline machines.",
    "explode_factor": "Divergence when a loss or gradient norm exceeds this many times its "
                      "running median (at least 1.0); 0: off.",
    "d_steps": "Discriminator updates per generator update (each on its own real batch).",
    "g_steps": "Generator updates per discriminator update.",
    "label_flip": "Probability of swapping a sample's real/fake label in D's loss.",
    "label_smoothing": "One-sided label smoothing: real target 1 - s.",
    "instance_noise": "Sigma of Gaussian noise added to D's inputs.",
    "instance_noise_decay_steps": "Generator steps over which that sigma decays to 0 "
                                  "(0 = constant).",
    "weight_decay": "L2 coefficient on all kernels (source 004).",
    "gp_weight": "Gradient-penalty weight lambda (wgan_gp).",
    "drift": "Epsilon-drift weight on D(x)^2 (wgan_gp; ProGAN uses 0.001).",
    "g_lr": "Generator learning rate.",
    "d_lr": "Discriminator learning rate.",
    "g_beta1": "Generator Adam beta1.",
    "g_beta2": "Generator Adam beta2.",
    "d_beta1": "Discriminator Adam beta1.",
    "d_beta2": "Discriminator Adam beta2.",
    "batch_size": "Images per generator update (D sees d_steps x batch_size per step).",
    "train_steps": "Length of training in generator updates (or use --epochs).",
    "epochs": "Length of training in passes over the data (or use --train_steps).",
    "jit_compile": "Compile the train step with XLA.",
    "mixed_precision": "no, fp16 (mixed_float16 with loss scaling) or bf16.",
    "steps_per_execution": "Train steps per host round trip.",
    "strategy": "Where to train (tf.distribute): default (one device), mirrored (every GPU "
                "of this machine), multi_worker (the machines TF_CONFIG lists) or tpu. "
                "--batch_size is the global batch.",
    "sync_batchnorm": "With several replicas, BatchNorm normalises with the statistics of "
                      "the global batch instead of each replica's share.",
    "checkpoint_every": "Save a checkpoint every N steps (and at the end).",
    "keep_checkpoints": "How many recent checkpoints to keep.",
    "sample_every": "Write a fixed-noise sample tile every N steps (and at the end).",
    "log_every": "Write TensorBoard scalars every N steps.",
    "sample_grid": "Sample tile is N x N images.",
    "export": "Export the generator as a SavedModel at the end.",
    "on_divergence": "On non-finite losses: stop, or retry from the last checkpoint with "
                     "lower learning rates.",
    "max_retries": "How many times --on_divergence=retry may restart.",
    "lr_backoff": "Factor applied to both learning rates on each retry.",
    "d_win_threshold": "D 'wins outright' when D(x) > 1 - t and D(G(z)) < t.",
    "d_win_span": "Warn when D has won outright for this many consecutive steps.",
}

def _base_type(hint):
    """int | None -> (int, True); tuple[int, ...] | None -> (tuple, True)."""
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    return typing.get_origin(hint) or hint, optional


def _define_from_dataclass(cls, help_texts: dict, flag_names: dict | None = None) -> None:
    """One absl flag per field of dataclass `cls` (type from its annotations, default from
    the field). A name another tool already defined in this process is left as it is."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = (flag_names or {}).get(field.name, field.name)
        if name in flags.FLAGS:
            continue
        kind, _ = _base_type(hints[field.name])
        default, help_text = field.default, help_texts[field.name]
        if kind is bool:
            flags.DEFINE_boolean(name, default, help_text)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text)
        elif kind is tuple:
            flags.DEFINE_list(name, None if default is None else [str(v) for v in default],
                              help_text)
        else:
            flags.DEFINE_string(name, default, help_text)


def _values_from_flags(cls, fv, flag_names: dict | None = None) -> dict:
    """Field values of `cls` read from parsed flags (integer lists parsed, UserError). A
    flag the user did not set gives the field's default: another tool in the same process
    may have defined a flag of that name with its own default (e.g. --model, an export)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        name = (flag_names or {}).get(field.name, field.name)
        if (isinstance(fv, flags.FlagValues) and not fv[name].present
                and field.default is not dataclasses.MISSING):
            values[field.name] = field.default
            continue
        value = getattr(fv, name)
        kind, _ = _base_type(hints[field.name])
        if kind is tuple and value is not None:
            value = parse_int_list(name, value)
        values[field.name] = value
    return values


def define_flags() -> None:
    """Defines one absl flag per Config field (idempotent)."""
    _define_from_dataclass(Config, HELP)


_collecting: dict | None = None  # name -> this tool's default, while a tool defines flags


def _define(kind: str, name: str, default, help_text: str) -> None:
    """flags.DEFINE_<kind>, unless another tool already defined `name` in this process."""
    if _collecting is not None:
        _collecting[name] = default
    if name not in flags.FLAGS:
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text)


class ToolFlags:
    """The parsed flags as one tool sees them: a flag the user did not set reads THIS
    tool's default. Tools share absl's one FlagValues, and a name two tools define (--model:
    an architecture for training, an export for the others) keeps the first definer's
    default, which must not leak into another tool run in the same process (tests)."""

    def __init__(self, defaults: dict):
        self._defaults = dict(defaults)

    def __getattr__(self, name):
        if name in self._defaults and not flags.FLAGS[name].present:
            return self._defaults[name]
        return getattr(flags.FLAGS, name)

    def __getitem__(self, name):
        return flags.FLAGS[name]


def _tool_flags(define):
    """Decorates a tool's define_*_flags(): collects its defaults, returns ToolFlags."""
    @functools.wraps(define)
    def wrapper():
        global _collecting
        _collecting = {}
        try:
            define()
            return ToolFlags(_collecting)
        finally:
            _collecting = None
    return wrapper


def _define_inception_weights() -> None:
    _define("string", "inception_weights", "", "InceptionV3 weights file (Keras' "
            "inception_v3_weights_tf_dim_ordering_tf_kernels.h5) for offline machines.")


@_tool_flags
def define_export_flags():
    """Flags of `python -m dcgan_tf.export`; returns the FlagValues holding them."""
    _define("string", "workdir", "", "Training run to export.")
    _define("string", "out", "", "Export folder; default WORKDIR/export.")
    _define("integer", "step", None, "Checkpoint step to export; default the newest.")
    _define("boolean", "best", False, "Export the checkpoint that --eval_best kept (WORKDIR/best).")
    return flags.FLAGS


@_tool_flags
def define_report_flags():
    """Flags of `python -m dcgan_tf.report`; returns the FlagValues holding them."""
    _define("string", "workdir", "", "Training run (finished or running).")
    return flags.FLAGS


@_tool_flags
def define_generate_flags():
    """Flags of `python -m dcgan_tf.generate`; returns the FlagValues holding them."""
    _define("string", "model", "", "An export folder, or a workdir with an export.")
    _define("string", "out", "", "Folder to write the images into.")
    _define("string", "mode", "sample", "sample, interpolate or arithmetic.")
    _define("integer", "num", 64, "sample: how many images.")
    _define("integer", "seed", 0, "sample: first seed (image i uses seed + i); "
                                    "arithmetic: seed of the variations' noise.")
    _define("boolean", "tile", True, "sample: write one tile of all images.")
    _define("boolean", "individual", False, "sample: write one PNG per image.")
    _define("string", "seeds", "0,1", "interpolate: seeds to pass through, e.g. 3,17,42.")
    _define("integer", "frames", 10, "interpolate: images per leg between two seeds.")
    _define("string", "method", "slerp", "interpolate: slerp or linear.")
    _define("string", "a_seeds", "", "arithmetic: seeds of concept A (averaged).")
    _define("string", "b_seeds", "", "arithmetic: seeds of concept B (averaged).")
    _define("string", "c_seeds", "", "arithmetic: seeds of concept C (averaged).")
    _define("integer", "variations", 8, "arithmetic: noisy variations of A - B + C.")
    _define("float", "truncation", None, "Scale z by this factor (temperature), in (0, 2].")
    _define("string", "labels", "", "Conditional models: a label vector, one value in "
                                      "[0, 1] per class, e.g. 0,0,1,0,0,0,0,0,0,0 or mixtures; "
                                      "sample without it: one row per class.")
    return flags.FLAGS


LENGTH_FLAGS = ("train_steps", "epochs", "total_kimg")


def command_line_flags(argv) -> set[str]:
    """Names of the flags written on the command line itself (not inside a --flagfile)."""
    names = set()
    for token in argv or []:
        if not token.startswith("-") or token in ("-", "--"):
            continue
        name = token.lstrip("-").split("=", 1)[0]
        if name.startswith("no") and name[2:] in flags.FLAGS and name not in flags.FLAGS:
            name = name[2:]
        names.add(name)
    return names


def config_from_flags(flag_values=None, argv=None) -> Config:
    """Reads the parsed flags into a Config (not yet validated).

    A run length given on the command line (`argv`, the tokens as typed) replaces the one a
    flagfile set: `--flagfile=configs/cat64.cfg --train_steps=100` trains 100 steps even
    though the flagfile says --epochs=400 (the other length is cleared). Both on the command
    line is still an error (Config.validate).
    """
    fv = flag_values or flags.FLAGS
    values = _values_from_flags(Config, fv)
    typed = command_line_flags(argv) & set(LENGTH_FLAGS)
    if len(typed) == 1:
        (given,) = typed
        for other in LENGTH_FLAGS:
            if other != given:
                values[other] = 0
    return Config(**values)


def flagfile_values(path: str) -> dict:
    """{Config field: typed value} of the training flags a flagfile sets, parsed by absl
    as `python -m dcgan_tf.train` parses it (nested --flagfile lines included); for tools
    that build Configs from the shipped configs."""
    define_flags()
    fv = flags.FLAGS
    fv.unparse_flags()
    try:
        fv(["flagfile_values", f"--flagfile={path}"])
        values = _values_from_flags(Config, fv)
        return {f.name: values[f.name] for f in dataclasses.fields(Config) if fv[f.name].present}
    finally:
        fv.unparse_flags()


def flagfile_text(config: Config) -> str:
    """The resolved configuration as a flagfile that `--flagfile=` accepts."""
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


BUILD_HELP = {
    "source": "A folder of images (recursive), an .npz with 'images' (and 'labels', "
              "'label_names'), tfds:NAME, or digits (scikit-learn's 8x8 digits, offline).",
    "out": "Folder to write the TFRecord shards and metadata.json into.",
    "sizes": "Output size in pixels (square); several, e.g. 4,8,16,32,64, write one "
             "subfolder per size.",
    "channels": "1 (grayscale) or 3 (RGB).",
    "crop": "none, center, resize_then_center, face, cat_face or boxes.",
    "load_size": "resize_then_center: resize to this first (source 000: 256 for --size=64).",
    "small": "Crops smaller than the size: skip or upscale.",
    "format": "Encoding of image_raw: jpeg or png.",
    "jpeg_quality": "JPEG quality, 1-100.",
    "background": "R,G,B that transparent pixels and crops past the border get.",
    "class_subfolders": "First-level subfolders are classes: integer labels and a saved "
                        "label map.",
    "dedup": "Drop files whose bytes repeat an earlier file.",
    "face_margin": "face/cat_face: margin on each side, as a fraction of the detected face "
                   "size.",
    "min_face_size": "face/cat_face: smallest face in source pixels.",
    "max_faces": "face/cat_face: most faces taken from one photo.",
    "min_confidence": "face: smallest MTCNN confidence accepted.",
    "on_no_face": "face/cat_face with nothing found: skip the photo or take its centre "
                  "square.",
    "detect_max_side": "Detect on a copy no larger than this.",
    "boxes": "boxes: CSV of file,x,y,w,h (files relative to --source).",
    "tfds_split": "tfds split to read.",
    "tfds_data_dir": "tfds data folder (default ~/tensorflow_datasets).",
    "num_shards": "Number of shards; 0: about 1,024 records each.",
    "workers": "Threads decoding and cropping; 0: one per core.",
    "overwrite": "Replace a different dataset already in --out.",
    "stack_digits": "Stacked digits (Srivastava et al. 2017): write N images of three random "
                    "labelled digits of --source in the R, G, B channels, labelled 100 d_R + "
                    "10 d_G + d_B (1,000 modes); e.g. --source=tfds:mnist or digits, "
                    "--channels=3; 0: off.",
    "stack_seed": "Seed of the stacked digits' draws.",
}
BUILD_FLAG_NAMES = {"sizes": "size"}  # field -> flag, where the flag reads better


def define_build_flags():
    """Flags of `python -m dcgan_tf.data.build`, one per BuildOptions field."""
    _define_from_dataclass(BuildOptions, BUILD_HELP, BUILD_FLAG_NAMES)
    return flags.FLAGS


@_tool_flags
def define_serve_flags():
    """Flags of `python -m dcgan_tf.serve`; returns the FlagValues holding them."""
    _define("string", "model", "", "An export folder, or a workdir with an export.")
    _define("string", "host", "127.0.0.1", "Address to listen on (0.0.0.0: every "
                                             "interface; only do that on a trusted network).")
    _define("integer", "port", 8000, "Port to listen on (0: any free port).")
    _define("integer", "max_count", 64, "Most images one request may ask for.")
    _define("integer", "threads", 4, "Request threads of the server.")
    _define("float", "body_timeout", 10.0, "Seconds a request may take to arrive (slow "
                                             "or silent clients are disconnected).")
    return flags.FLAGS


@_tool_flags
def define_accuracy_flags():
    """Flags of `python -m dcgan_tf.conditional_accuracy`."""
    _define("string", "model", "", "An export folder, or a workdir with an export.")
    _define("integer", "per_class", 100, "Generated samples per class.")
    _define("integer", "seed", 0, "First seed of the samples.")
    return flags.FLAGS


@_tool_flags
def define_nearest_flags():
    """Flags of `python -m dcgan_tf.nearest` (the memorisation check)."""
    _define("string", "model", "", "An export folder, or a workdir with an export.")
    _define("string", "data", "", "The training data (any --data the trainer reads).")
    _define("string", "out", "", "Folder for nearest.png and nearest.json.")
    _define("integer", "num", 1000, "Generated images to compare.")
    _define("float", "holdout_fraction", 0.1, "Share of the data held out as the reference.")
    _define("integer", "seed", 0, "Seed of the samples and of the split.")
    _define("string", "features", "", "Evaluation features for a second report: "
            "classifier:PATH, inception or none; default the digits classifier for "
            "--data=digits, else InceptionV3 when its weights are at hand.")
    _define_inception_weights()
    _define("string", "tfds_split", "train", "Split of a tfds dataset.")
    _define("string", "tfds_data_dir", "", "Folder where tfds finds prepared datasets.")
    return flags.FLAGS


@_tool_flags
def define_evaluate_flags():
    """Flags of `python -m dcgan_tf.evaluate` (and its train-classifier command)."""
    _define("string", "model", "", "An export folder, or a workdir with an export.")
    _define("string", "fake", "", "Instead of --model: a folder of generated images.")
    _define("string", "data", "", "Real images: a folder, TFRecords, an .npz, tfds:NAME or "
            "digits (train-classifier: labelled ones).")
    _define("string", "metrics", "", "Comma list of fid, kid, is, pr, swd, ms_ssim, fd, "
            "cond_acc, modes; default fd,swd for --data=digits, else fid,kid.")
    _define("integer", "num_samples", 5000, "Generated images to score (seeds --seed, "
            "--seed+1, ...).")
    _define("integer", "num_real", 50000, "At most this many real images (a seeded subset).")
    _define("string", "features", "", "Features of pr (and the classifier of fd, cond_acc, "
            "modes): inception, classifier or classifier:PATH; default classifier for "
            "--data=digits, else inception.")
    _define_inception_weights()
    _define("integer", "seed", 0, "Seed of the samples and subsets.")
    _define("boolean", "write", False, "Also append the result to WORKDIR/evaluation.jsonl.")
    _define("string", "out", "", "train-classifier: the classifier file to write (.keras).")
    _define("integer", "classifier_epochs", 20, "train-classifier: training epochs.")
    _define("integer", "classifier_resolution", 32, "train-classifier: image side the "
            "classifier reads.")
    _define("integer", "classifier_channels", 1, "train-classifier: 1 or 3 channels.")
    _define("string", "tfds_split", "train", "Split of a tfds dataset.")
    _define("string", "tfds_data_dir", "", "Folder where tfds finds prepared datasets.")
    return flags.FLAGS


def parse_int_list(name: str, values) -> tuple[int, ...]:
    """'3,17,42' or ['3', '17', '42'] -> (3, 17, 42); UserError naming --name otherwise.
    The one integer-list parser of every tool."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    try:
        return tuple(int(str(v).strip()) for v in values)
    except (TypeError, ValueError):
        raise UserError(f"--{name} must be integers separated by commas, "
                        f"got {','.join(str(v) for v in values)!r}.") from None


def build_options_from_flags(fv=None) -> BuildOptions:
    return BuildOptions(**_values_from_flags(BuildOptions, fv or flags.FLAGS, BUILD_FLAG_NAMES))
