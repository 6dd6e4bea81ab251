"""Every command-line flag of `python -m dcgan_tf.train`, in one place.

Each flag is a field of `config.Config` (same name, same default) with the help text
below; `config_from_flags` reads them once into a frozen Config, and `flagfile_text`
writes a resolved Config back as a flagfile (`flags.cfg` in the workdir).
"""

from __future__ import annotations

import dataclasses
import types
import typing

from absl import flags

from dcgan_tf.config import Config

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
    "model": "Architecture: dcgan64, mnist28 or faces96.",
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
    "bn_affine": "faces96: BatchNorm with learned scale and offset (source: without).",
    "loss": "bce, minimax, softmax_ce, softplus, lsgan, hinge or wgan_gp.",
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

_defined = False


def _base_type(annotation):
    """'int | None' -> (int, True); 'tuple[int, ...] | None' -> (tuple, True)."""
    hint = eval(annotation, {"tuple": tuple}) if isinstance(annotation, str) else annotation
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    return typing.get_origin(hint) or hint, optional


def define_flags() -> None:
    """Defines one absl flag per Config field (idempotent)."""
    global _defined
    if _defined:
        return
    for field in dataclasses.fields(Config):
        kind, _ = _base_type(field.type)
        default, help_text = field.default, HELP[field.name]
        if kind is bool:
            flags.DEFINE_boolean(field.name, default, help_text)
        elif kind is int:
            flags.DEFINE_integer(field.name, default, help_text)
        elif kind is float:
            flags.DEFINE_float(field.name, default, help_text)
        elif kind is tuple:
            flags.DEFINE_list(field.name, default, help_text)
        else:
            flags.DEFINE_string(field.name, default, help_text)
    _defined = True


def define_export_flags():
    """Flags of `python -m dcgan_tf.export`; returns the FlagValues holding them."""
    if "out" not in flags.FLAGS:
        if "workdir" not in flags.FLAGS:
            flags.DEFINE_string("workdir", "", "Training run to export.")
        flags.DEFINE_string("out", "", "Export folder; default WORKDIR/export.")
        flags.DEFINE_integer("step", None, "Checkpoint step to export; default the newest.")
    return flags.FLAGS


def define_report_flags():
    """Flags of `python -m dcgan_tf.report`; returns the FlagValues holding them."""
    if "workdir" not in flags.FLAGS:
        flags.DEFINE_string("workdir", "", "Training run (finished or running).")
    return flags.FLAGS


def define_generate_flags():
    """Flags of `python -m dcgan_tf.generate`; returns the FlagValues holding them."""
    if "mode" in flags.FLAGS:
        return flags.FLAGS
    flags.DEFINE_string("model", "", "An export folder, or a workdir with an export.")
    flags.DEFINE_string("out", "", "Folder to write the images into.")
    flags.DEFINE_string("mode", "sample", "sample, interpolate or arithmetic.")
    flags.DEFINE_integer("num", 64, "sample: how many images.")
    flags.DEFINE_integer("seed", 0, "sample: first seed (image i uses seed + i); "
                                    "arithmetic: seed of the variations' noise.")
    flags.DEFINE_boolean("tile", True, "sample: write one tile of all images.")
    flags.DEFINE_boolean("individual", False, "sample: write one PNG per image.")
    flags.DEFINE_string("seeds", "0,1", "interpolate: seeds to pass through, e.g. 3,17,42.")
    flags.DEFINE_integer("frames", 10, "interpolate: images per leg between two seeds.")
    flags.DEFINE_string("method", "slerp", "interpolate: slerp or linear.")
    flags.DEFINE_string("a_seeds", "", "arithmetic: seeds of concept A (averaged).")
    flags.DEFINE_string("b_seeds", "", "arithmetic: seeds of concept B (averaged).")
    flags.DEFINE_string("c_seeds", "", "arithmetic: seeds of concept C (averaged).")
    flags.DEFINE_integer("variations", 8, "arithmetic: noisy variations of A - B + C.")
    flags.DEFINE_float("truncation", None, "Scale z by this factor (temperature), in (0, 2].")
    flags.DEFINE_string("labels", "", "Conditional models: a label vector, one value in "
                                      "[0, 1] per class, e.g. 0,0,1,0,0,0,0,0,0,0 or mixtures; "
                                      "sample without it: one row per class.")
    return flags.FLAGS


def config_from_flags(flag_values=None) -> Config:
    """Reads the parsed flags into a Config (not yet validated)."""
    fv = flag_values or flags.FLAGS
    values = {}
    for field in dataclasses.fields(Config):
        value = fv[field.name].value
        kind, _ = _base_type(field.type)
        if kind is tuple and value is not None:
            value = _int_list(field.name, value)
        values[field.name] = value
    return Config(**values)


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


def define_build_flags():
    """Flags of `python -m dcgan_tf.data.build`; returns the FlagValues holding them."""
    if "crop" in flags.FLAGS:
        return flags.FLAGS
    flags.DEFINE_string("source", "", "A folder of images (recursive), an .npz with 'images' "
                                      "(and 'labels', 'label_names'), or tfds:NAME.")
    flags.DEFINE_string("out", "", "Folder to write the TFRecord shards and metadata.json into.")
    flags.DEFINE_list("size", ["64"], "Output size in pixels (square); several, e.g. "
                                      "4,8,16,32,64, write one subfolder per size.")
    flags.DEFINE_integer("channels", 3, "1 (grayscale) or 3 (RGB).")
    flags.DEFINE_string("crop", "center", "none, center, resize_then_center, face, cat_face "
                                          "or boxes.")
    flags.DEFINE_integer("load_size", 0, "resize_then_center: resize to this first "
                                         "(source 000: 256 for --size=64).")
    flags.DEFINE_string("small", "skip", "Crops smaller than the size: skip or upscale.")
    flags.DEFINE_string("format", "jpeg", "Encoding of image_raw: jpeg or png.")
    flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality, 1-100.")
    flags.DEFINE_list("background", ["255", "255", "255"],
                      "R,G,B that transparent pixels and crops past the border get.")
    flags.DEFINE_boolean("class_subfolders", False, "First-level subfolders are classes: "
                                                    "integer labels and a saved label map.")
    flags.DEFINE_boolean("dedup", False, "Drop files whose bytes repeat an earlier file.")
    flags.DEFINE_float("face_margin", 0.25, "face/cat_face: margin on each side, as a "
                                            "fraction of the detected face size.")
    flags.DEFINE_integer("min_face_size", 40, "face/cat_face: smallest face in source pixels.")
    flags.DEFINE_integer("max_faces", 1, "face/cat_face: most faces taken from one photo.")
    flags.DEFINE_float("min_confidence", 0.95, "face: smallest MTCNN confidence accepted.")
    flags.DEFINE_string("on_no_face", "skip", "face/cat_face with nothing found: skip the "
                                              "photo or take its centre square.")
    flags.DEFINE_integer("detect_max_side", 1024, "Detect on a copy no larger than this.")
    flags.DEFINE_string("boxes", "", "boxes: CSV of file,x,y,w,h (files relative to --source).")
    if "tfds_split" not in flags.FLAGS:
        flags.DEFINE_string("tfds_split", "train", "tfds split to read.")
    if "tfds_data_dir" not in flags.FLAGS:
        flags.DEFINE_string("tfds_data_dir", "", "tfds data folder (default ~/tensorflow_datasets).")
    flags.DEFINE_integer("num_shards", 0, "Number of shards; 0: about 1,024 records each.")
    flags.DEFINE_integer("workers", 0, "Threads decoding and cropping; 0: one per core.")
    flags.DEFINE_boolean("overwrite", False, "Replace a different dataset already in --out.")
    return flags.FLAGS


def define_serve_flags():
    """Flags of `python -m dcgan_tf.serve`; returns the FlagValues holding them."""
    if "host" in flags.FLAGS:
        return flags.FLAGS
    if "model" not in flags.FLAGS:
        flags.DEFINE_string("model", "", "An export folder, or a workdir with an export.")
    flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every "
                                             "interface; only do that on a trusted network).")
    flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port).")
    flags.DEFINE_integer("max_count", 64, "Most images one request may ask for.")
    flags.DEFINE_integer("threads", 4, "Request threads of the server.")
    return flags.FLAGS


def define_accuracy_flags():
    """Flags of `python -m dcgan_tf.conditional_accuracy`."""
    if "per_class" in flags.FLAGS:
        return flags.FLAGS
    if "model" not in flags.FLAGS:
        flags.DEFINE_string("model", "", "An export folder, or a workdir with an export.")
    flags.DEFINE_integer("per_class", 100, "Generated samples per class.")
    if "seed" not in flags.FLAGS:
        flags.DEFINE_integer("seed", 0, "First seed of the samples.")
    return flags.FLAGS


def _int_list(name: str, values) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        from dcgan_tf.errors import UserError
        raise UserError(f"--{name} must be integers separated by commas, "
                        f"got {','.join(values)!r}.") from None


def build_options_from_flags(fv=None):
    from dcgan_tf.data.build import BuildOptions

    fv = fv or flags.FLAGS
    return BuildOptions(
        source=fv.source, out=fv.out, sizes=_int_list("size", fv.size), channels=fv.channels,
        crop=fv.crop, load_size=fv.load_size, small=fv.small, format=fv.format,
        jpeg_quality=fv.jpeg_quality, background=_int_list("background", fv.background),
        class_subfolders=fv.class_subfolders, dedup=fv.dedup, face_margin=fv.face_margin,
        min_face_size=fv.min_face_size, max_faces=fv.max_faces,
        min_confidence=fv.min_confidence, on_no_face=fv.on_no_face,
        detect_max_side=fv.detect_max_side, boxes=fv.boxes, split=fv.tfds_split,
        tfds_data_dir=fv.tfds_data_dir, num_shards=fv.num_shards, workers=fv.workers,
        overwrite=fv.overwrite)
