"""The saved generator: an export folder that loads without dcgan_tf, written and read here.

An export folder holds
  saved_model.pb, variables/   SavedModel (keras.export.ExportArchive), float32 signatures:
      serving_default(z float32 [N, latent_dim]) -> {"images": uint8 [N, H, W, C]}
      sample(num int32 [], seed int64 []) -> {"images": uint8 [num, H, W, C],
                                               "z": float32 [num, latent_dim]}
    conditional generators take one more input, labels float32 [N, num_classes] in [0, 1]
    (any mixture, not only one-hot); in `sample` a [1, num_classes] row applies to all.
    They are required: a conditional generator has no class of its own, and a default
    class would hide a forgotten argument. A call with labels of another shape (class
    indices, another class count) or z of another width fails at once with an
    InvalidArgumentError saying what the input must be (`_checked`; TensorFlow does not
    enforce a signature's shapes itself), and a call without labels gets TensorFlow's
    TypeError, which lists the signature with labels (None, num_classes).
  generator.keras, discriminator.keras   for keras.saving.load_model (--format keras, default)
  generator.onnx, generator.tflite   with --format onnx / tflite: the serving_default
                              computation in those runtimes, checked against TensorFlow at
                              export time (dcgan_tf.artifacts.runtimes; export.json "runtimes")
  MODEL_CARD.md, sample.png   the model card (dcgan_tf.artifacts.model_card)
  export.json                 signatures (with a working `call` of each and the labels'
                              `doc`), latent size and distribution, image size, step,
                              and `sample_bn`: the BatchNorm statistics the signatures use;
                              `formats`, `runtimes` (each file's inputs/outputs, opset, check
                              figures) and `model_card_files`
It is written to a temporary folder beside the target and renamed when complete, so a
crash never leaves a half export.

    export_generator(generator, latent_dim, path)   # write (the trainer, tests)
    export_workdir(workdir, out, step)              # write from a run's checkpoint
    gen = LoadedGenerator(path)                     # read: an export folder or a workdir
    gen.images(gen.z_for_seeds(range(16)))          # uint8 [16, H, W, C]

`sample(num, seed)` draws z exactly as `dcgan_tf.models.latent` does for an integer seed, so the
same seed gives the same images here, in `dcgan_tf.generate` and in the web app.

With `sample_bn="batch"` (--sample_bn=batch) the signatures normalise every BatchNorm over
the batch of z they are given (training-mode statistics, moving averages untouched, as
sources 000/003/004 sampled): an image then depends on the other z of its request, and a
request of one image gets statistics of one. The `.keras` files keep Keras' own layer with
the moving averages (call it with training=True for batch statistics; that call also
updates its moving averages).
"""

from __future__ import annotations

import json
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.gan.assemble import model_family
from dcgan_tf.artifacts.model_card import write_model_card
from dcgan_tf.artifacts.runtimes import FILES as RUNTIME_FILES
from dcgan_tf.artifacts.runtimes import require_packages, runtime_formats, write_runtimes
from dcgan_tf.artifacts.web_page import WEB_DIR, ort_web_files, write_web
from dcgan_tf.config import DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS, SAMPLE_BN
from dcgan_tf.models.common import with_batch_statistics, with_plain_batchnorm
from dcgan_tf.models.latent import get_latent
from dcgan_tf.utils.atomic_files import ensure_parent_writable, replace_dir, temp_dir_beside
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.labels import one_hot, parse_label_vector
from dcgan_tf.utils.registry import check_choice
from dcgan_tf.utils.progress import Progress
from dcgan_tf.utils.tiles import to_uint8_images

INFO_FILE = "export.json"
SAVED_MODEL_FILE = "saved_model.pb"
GENERATOR_FILE = "generator.keras"
DISCRIMINATOR_FILE = "discriminator.keras"


def is_export(path: str) -> bool:
    """True when `path` is an export folder (it holds a SavedModel)."""
    return os.path.isfile(os.path.join(path, SAVED_MODEL_FILE))


# ---------------------------------------------------------------------------------- writing

def export_generator(generator: keras.Model, latent_dim: int, path: str, *,
                     latent: str = "normal", discriminator: keras.Model | None = None,
                     extra_info: dict | None = None, grows: bool = False,
                     sample_bn: str = "moving", formats=DEFAULT_EXPORT_FORMATS,
                     workdir: str | None = None, ort_web: str | None = None) -> str:
    """Writes the export folder (see module doc) at `path` and returns the path.

    The networks of a growing model family (`grows`: ModelFamily.grows) are exported as
    their final-resolution networks at alpha = 1 (`final_model()`, sharing the weights).
    `sample_bn`: the BatchNorm statistics of the signatures, moving or batch (module doc).
    `formats` (EXPORT_FORMATS): keras adds the .keras files, onnx and tflite the checked
    runtime files (artifacts.runtimes), web (implies onnx) the in-browser page EXPORT/web
    (artifacts.web_page; `ort_web`: onnxruntime-web's tarball or folder, default the cache
    or a download); the SavedModel is always written. MODEL_CARD.md
    and sample.png are always written (artifacts.model_card; `workdir`: the training run
    it describes, when known)."""
    check_choice("sample_bn", sample_bn, SAMPLE_BN)
    formats = tuple(formats)
    if "web" in formats and "onnx" not in formats:
        formats += ("onnx",)  # the page runs generator.onnx
    require_packages(runtime_formats(formats))  # before anything is written
    web_runtime = ort_web_files(ort_web) if "web" in formats else None
    if grows:
        generator = generator.final_model()
        if discriminator is not None:
            discriminator = discriminator.final_model()
    keras_file_generator = generator
    if sample_bn == "batch":  # the signatures' copy; the .keras file keeps Keras' own layer
        generator = with_batch_statistics(generator)
    num_classes = int(generator.inputs[1].shape[-1]) if len(generator.inputs) == 2 else 0
    archive = _archive(generator, latent_dim, latent, num_classes)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = temp_dir_beside(os.path.abspath(path))
    try:
        archive.write_out(tmp, verbose=False)
        keras_files = []
        if "keras" in formats:  # Keras' own BatchNormalization: they load without dcgan_tf
            with_plain_batchnorm(keras_file_generator).save(os.path.join(tmp, GENERATOR_FILE))
            keras_files.append(GENERATOR_FILE)
            if discriminator is not None:
                with_plain_batchnorm(discriminator).save(os.path.join(tmp, DISCRIMINATOR_FILE))
                keras_files.append(DISCRIMINATOR_FILE)
        info = {
            "signatures": _signatures_info(latent_dim, num_classes,
                                           [None, *generator.output.shape[1:]]),
            "num_classes": num_classes,
            "latent_dim": latent_dim,
            "latent": latent,
            "image_shape": list(generator.output.shape[1:]),
            "sample_bn": sample_bn,
            "sample_bn_note": _SAMPLE_BN_NOTES[sample_bn],
            "keras_files": keras_files,
            **(extra_info or {}),
        }
        info["formats"] = ["savedmodel"] + [f for f in EXPORT_FORMATS[1:] if f in formats]
        runtimes = write_runtimes(generator, tmp, formats, latent=latent,
                                  family=info.get("model") or generator.name)
        if runtimes:
            info["runtimes"] = runtimes
        if web_runtime is not None:
            info["web"] = write_web(os.path.join(tmp, WEB_DIR), info,
                                    os.path.join(tmp, RUNTIME_FILES["onnx"]), web_runtime)
        info["model_card_files"] = write_model_card(tmp, info, generator, discriminator,
                                                    workdir=workdir, formats=formats)
        with open(os.path.join(tmp, INFO_FILE), "w") as f:
            json.dump(info, f, indent=2)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _archive(generator, latent_dim: int, latent: str, num_classes: int):
    """The SavedModel's two signatures (module doc) over `generator`."""
    distribution = get_latent(latent)
    archive = keras.export.ExportArchive()
    archive.track(generator)
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    sample_specs = [tf.TensorSpec([], tf.int32, name="num"),
                    tf.TensorSpec([], tf.int64, name="seed")]
    labels_spec = tf.TensorSpec([None, num_classes], tf.float32, name="labels")

    if num_classes:
        def serve(z, labels):
            z = _checked(z, latent_dim, None, _z_message(latent_dim))
            labels = _checked(labels, num_classes, tf.shape(z)[:1], _labels_message(num_classes))
            images = generator([tf.cast(z, tf.float32), tf.cast(labels, tf.float32)],
                               training=False)
            return {"images": to_uint8_images(images)}

        def sample(num, seed, labels):
            labels = _checked(labels, num_classes, tf.stack([1, num]),
                              _labels_message(num_classes))
            z = distribution.sample(tf.stack([num, latent_dim]), tf.stack([seed, 0]))
            labels = tf.broadcast_to(labels, tf.stack([num, num_classes]))
            return {"images": serve(z, labels)["images"], "z": z}

        archive.add_endpoint(name="serving_default", fn=serve,
                             input_signature=[z_spec, labels_spec])
        archive.add_endpoint(name="sample", fn=sample,
                             input_signature=sample_specs + [labels_spec])
    else:
        def serve(z):
            z = _checked(z, latent_dim, None, _z_message(latent_dim))
            images = generator(tf.cast(z, tf.float32), training=False)
            return {"images": to_uint8_images(images)}

        def sample(num, seed):
            z = distribution.sample(tf.stack([num, latent_dim]), tf.stack([seed, 0]))
            return {"images": serve(z)["images"], "z": z}

        archive.add_endpoint(name="serving_default", fn=serve, input_signature=[z_spec])
        archive.add_endpoint(name="sample", fn=sample, input_signature=sample_specs)
    return archive


def _signatures_info(latent_dim: int, num_classes: int, image_shape: list) -> dict:
    """export.json's "signatures": each one's inputs, outputs and a call that works."""
    labels_info = ({"labels": {"dtype": "float32", "shape": [None, num_classes],
                               "range": [0.0, 1.0],
                               "doc": _labels_message(num_classes)}} if num_classes else {})
    return {
        "serving_default": {
            "inputs": {"z": {"dtype": "float32", "shape": [None, latent_dim]}, **labels_info},
            "outputs": {"images": {"dtype": "uint8", "shape": image_shape}},
            "call": _call_example("serving_default", latent_dim, num_classes),
        },
        "sample": {
            "inputs": {"num": {"dtype": "int32", "shape": []},
                       "seed": {"dtype": "int64", "shape": []}, **labels_info},
            "outputs": {"images": {"dtype": "uint8", "shape": image_shape},
                        "z": {"dtype": "float32", "shape": [None, latent_dim]}},
            "call": _call_example("sample", latent_dim, num_classes),
        },
    }


def _z_message(latent_dim: int) -> str:
    return f"z must be float32 [N, {latent_dim}]: one latent vector of {latent_dim} per image."


def _labels_message(num_classes: int) -> str:
    """What a conditional signature's `labels` must be: the text of its call-time check
    (an InvalidArgumentError carries it) and of export.json."""
    return (f"labels must be float32 [N, {num_classes}] (serving_default: one row per z row; "
            f"sample: 1 row for all or num rows): one value in [0, 1] per class, not class "
            f"indices; a one-hot row draws one class (class k: tf.one_hot([k] * N, "
            f"{num_classes})); export.json lists class_names.")


def _call_example(signature: str, latent_dim: int, num_classes: int) -> str:
    """A call of `signature` that works, as export.json shows it."""
    labels = f", labels=tf.one_hot([0] * 16, {num_classes})" if num_classes else ""  # class 0
    if signature == "sample":
        labels = labels.replace("16", "1")
        return f"sample(num=tf.constant(16), seed=tf.constant(7, tf.int64){labels})"
    return f"serving_default(z=tf.random.normal([16, {latent_dim}]){labels})"


def _checked(tensor, width: int, rows, message: str):
    """`tensor` after a call-time check that it is [rows, width] (rows: any, or one of the
    values of the tensor `rows`); InvalidArgumentError with `message` otherwise. A
    signature's TensorSpec shape is not enforced when it is called, and a wrong width
    would fail deep inside the generator with a reshape error."""
    shape = tf.concat([tf.shape(tensor), [-1, -1]], 0)  # padded: a scalar has no shape[1]
    ok = tf.logical_and(tf.equal(tf.rank(tensor), 2), tf.equal(shape[1], width))
    if rows is not None:
        ok = tf.logical_and(ok, tf.reduce_any(tf.equal(shape[0], rows)))
    with tf.control_dependencies([tf.debugging.assert_equal(ok, True, message=message)]):
        return tf.identity(tensor)


_SAMPLE_BN_NOTES = {
    "moving": "BatchNorm uses the moving averages of training: each image depends only on "
              "its own z (and labels).",
    "batch": "BatchNorm normalises over the batch of z of each request (training-mode "
             "statistics, as the source sampled; moving averages untouched): an image "
             "depends on the other z of its request; ask for many at once (a request of one "
             "image gets the statistics of one). generator.keras holds the moving averages: "
             "call it with training=True for batch statistics.",
}


def export_info(config, step: int, class_names=None) -> dict:
    """What export.json records about the run (class names for conditional models)."""
    info = {"step": step, "model": config.model, "resolution": config.resolution,
            "channels": config.channels}
    if config.num_classes:
        info["class_names"] = class_names or [str(i) for i in range(config.num_classes)]
    return info


def export_workdir(workdir: str, out: str | None = None, step: int | None = None,
                   best: bool = False, sample_bn: str | None = None,
                   formats=DEFAULT_EXPORT_FORMATS, ort_web: str | None = None) -> str:
    """Exports the generator of a training run from its checkpoint (`step`, the newest, or
    with `best` the one --eval_best kept); the EMA generator when the run kept one
    (export.json says which). `sample_bn`: the signatures' BatchNorm statistics (moving or
    batch; None: the run's --sample_bn). `formats`, `ort_web`: as export_generator's.

    Raises UserError when the workdir has no run, no checkpoint, or not that step.
    """
    wd = Workdir(workdir)
    config = wd.config()
    out = out or wd.export_dir
    ensure_parent_writable(out, "--out")
    keras.mixed_precision.set_global_policy("float32")  # exports compute in float32
    if best and step is not None:
        raise UserError("Give --step or --best, not both.")
    generator, discriminator, step, kind = wd.restore_networks(step, best=best)
    info = export_info(config, step, wd.class_names())
    info["weights"] = kind
    if best:
        info["best"] = wd.best_info()
    try:
        return export_generator(generator, config.latent_dim, out, latent=config.latent,
                                discriminator=discriminator, extra_info=info,
                                grows=model_family(config).grows,
                                sample_bn=sample_bn or config.sample_bn, formats=formats,
                                workdir=workdir, ort_web=ort_web)
    except OSError as e:
        raise UserError(f"Cannot write the export to {out!r}: {e.strerror or e}.") from e
    except tf.errors.OpError as e:  # TensorFlow's own file writes (SavedModel, variables)
        raise UserError(f"Cannot write the export to {out!r}: {e.message}.") from e


# ---------------------------------------------------------------------------------- reading

class LoadedGenerator:
    """A generator from an export folder (SavedModel) or a training workdir."""

    def __init__(self, path: str):
        if not os.path.isdir(path):
            raise UserError(f"--model {path!r} is not a folder (an export or a workdir).")
        workdir = Workdir(path)
        export = path if is_export(path) else workdir.export_dir
        if not is_export(export):
            if workdir.has_run():
                raise UserError(f"Workdir {path!r} has no export yet; run "
                                f"python -m dcgan_tf.export --workdir={path} first.")
            raise UserError(f"{path!r} is neither an export (saved_model.pb) nor a workdir.")
        # An export is renamed into place whole; a damaged one was cut short or changed
        # after it was written (a copy, a full disk): each case is one line.
        again = (f" Export it again (python -m dcgan_tf.export --workdir=RUN --out={export})."
                 if export == path else f" Export it again (python -m dcgan_tf.export "
                                        f"--workdir={path}).")
        info_path = os.path.join(export, INFO_FILE)
        if not os.path.isfile(info_path):
            raise UserError(f"{export!r} has no {INFO_FILE}: the export is incomplete (or "
                            f"was not written by dcgan_tf).{again}")
        try:
            with open(info_path) as f:
                info = json.load(f)
            self.latent_dim = int(info["latent_dim"])
            self.num_classes = int(info.get("num_classes", 0))
            self.class_names = (info.get("class_names")
                                or [str(i) for i in range(self.num_classes)])
            self.image_shape = list(info.get("image_shape", []))
            latent = info.get("latent", "normal")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            reason = f"no {e}" if isinstance(e, KeyError) else str(e).splitlines()[0][:120]
            raise UserError(f"{info_path} is damaged ({reason}).{again}") from None
        self.latent = get_latent(latent)
        self.path = export
        self.step = info.get("step")  # the training step of the weights (None: not recorded)
        self.weights = info.get("weights")  # "ema" or "raw" when exported from a workdir
        try:
            self._serve = tf.saved_model.load(export).signatures["serving_default"]
        except (OSError, ValueError, KeyError, IndexError, tf.errors.OpError) as e:
            reason = (getattr(e, "message", None) or str(e)).splitlines()[0][:160]
            raise UserError(f"Cannot load the SavedModel in {export!r}, it is damaged "
                            f"({reason}).{again}") from None

    def z_for_seeds(self, seeds, truncation=None, truncation_method="resample") -> np.ndarray:
        """One z per seed, exactly as dcgan_tf draws it for that integer seed (truncated at
        `truncation` by `truncation_method`: dcgan_tf.models.latent)."""
        return np.concatenate([
            self.latent.sample((1, self.latent_dim), int(s), truncation,
                               truncation_method).numpy() for s in seeds
        ]).astype(np.float32)

    def labels(self, text) -> np.ndarray | None:
        """--labels text -> [K] vector (UserError when it does not fit this model)."""
        if text in (None, "") and not self.num_classes:
            return None
        if text in (None, ""):
            return one_hot(0, self.num_classes)
        try:
            return parse_label_vector(text, self.num_classes)
        except ValueError as e:
            raise UserError(f"--labels: {e}") from None

    def images(self, z, labels=None) -> np.ndarray:
        """uint8 [N, H, W, C] for z [N, latent_dim] (and labels [K] or [N, K])."""
        out = []
        z = np.asarray(z, np.float32)
        if self.num_classes:
            labels = np.broadcast_to(np.asarray(labels, np.float32),
                                     (len(z), self.num_classes))
        bar = Progress(len(z), "Generating", unit="images")  # shown when it takes a while
        for start in range(0, len(z), 256):
            args = {"z": tf.constant(z[start:start + 256])}
            if self.num_classes:
                args["labels"] = tf.constant(labels[start:start + 256])
            out.append(self._serve(**args)["images"].numpy())
            bar.update(min(start + 256, len(z)))
        bar.close()
        return np.concatenate(out)


def load_keras_file(file: str) -> keras.Model:
    """One `.keras` file of an export (plain Keras layers; dcgan_tf's own layers are
    registered by importing dcgan_tf.models). UserError in one line for a damaged or
    foreign file."""
    try:
        return keras.saving.load_model(file, compile=False)
    except Exception as e:  # Keras raises many kinds for a damaged or foreign file
        raise UserError(f"Cannot load {file}: {str(e).splitlines()[0][:160]}") from None


def read_keras_networks(path: str, discriminator: bool = True):
    """(generator, discriminator or None, export.json's values) from the `.keras` files of
    export folder `path` (what --init_from, project and directions read; the exported
    generator's weights: the EMA copy when export.json says "weights": "ema"; with
    `discriminator` False, D is not read). UserError in one line when `path` is no complete
    export or a file does not load."""
    info_path = os.path.join(path, INFO_FILE)
    if not is_export(path) or not os.path.isfile(info_path):
        raise UserError(f"{path!r} is not a complete export folder (no {SAVED_MODEL_FILE} "
                        f"or {INFO_FILE}).")
    try:
        with open(info_path) as f:
            info = json.load(f)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise UserError(f"{info_path} is damaged ({str(e).splitlines()[0][:120]}).") from None
    g_file = os.path.join(path, GENERATOR_FILE)
    if not os.path.isfile(g_file):
        raise UserError(f"{path!r} has no {GENERATOR_FILE} (exported without the keras "
                        "format, or by an older version): export the run again with keras in --format (the "
                        "default: dcgan-tf export --workdir=RUN).")
    generator = load_keras_file(g_file)
    d_file = os.path.join(path, DISCRIMINATOR_FILE)
    d_net = load_keras_file(d_file) if discriminator and os.path.isfile(d_file) else None
    return generator, d_net, info
