"""The generator in other runtimes: ONNX and TFLite files in an export folder, written,
run and checked against TensorFlow here (export --format=...,onnx,tflite).

    records = write_runtimes(generator, folder, ("onnx", "tflite"), latent="normal")
    images = run_runtime(folder, "onnx", z, labels)      # uint8 [N, H, W, C]

Both files compute what the SavedModel's serving_default computes, with the same names:
  inputs  z       float32 [N, latent_dim]
          labels  float32 [N, num_classes]   (conditional models only; one row per z row)
  output  images  uint8 [N, H, W, C]         NHWC, 0..255: round((x + 1) * 127.5), clipped
uint8 NHWC is what a consumer draws (a browser canvas, an image file), with no scaling of
its own that could differ from ours. Any N works in both files (ONNX: a dynamic first
axis; TFLite: the signature runner or resize_tensor_input resizes).

generator.onnx comes from tf2onnx (what Keras 3's own export(format="onnx") calls), opset
ONNX_OPSET, converted from the serving function directly: it names the inputs and output
and puts the uint8 step inside. generator.tflite comes from TFLiteConverter over a SavedModel
of the same function (from a concrete function the converter would not freeze Keras 3's
variables). Keras' UpSampling2D (pggan) repeats with a shape known only at run time, which
TFLite's Conv2D cannot take; the converted copy uses a nearest resize of fixed size there
(the same values: the check below compares with the original network).

The check: each written file runs the fixed CHECK_SEEDS batch (labels: one-hot class i % K)
and a batch of one, and is compared with TensorFlow's images of the same z. A file is refused
(UserError; the export folder is then not written at all) when more than TOLERANCE_FRACTION of
the pixel values differ by more than TOLERANCE_LEVELS. Why 2 levels: float32 runtimes add
and multiply in other orders (fused kernels, XNNPACK), a ~1e-6 relative difference that
moves a value across a rounding boundary: 1 level, now and then. 2 levels need an error
~1e4 times larger, which only a wrong conversion makes (a lost BatchNorm epsilon, a padding
or layout mix-up moves many pixels by tens of levels). The fraction leaves room for a rare
value on a steep part of tanh, not for a broken file. The measured figures go to export.json.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.config import EXPORT_FORMATS
from dcgan_tf.models.latent import get_latent
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.progress import Progress
from dcgan_tf.utils.registry import check_choice
from dcgan_tf.utils.tiles import to_uint8_images

FILES = {"onnx": "generator.onnx", "tflite": "generator.tflite"}
RUNTIMES = tuple(FILES)  # the formats this module writes; savedmodel/keras: saved_generator
ONNX_OPSET = 17  # onnxruntime and onnxruntime-web run it; nothing here needs a newer op
CHECK_SEEDS = tuple(range(8))
TOLERANCE_LEVELS = 2
TOLERANCE_FRACTION = 0.001
INSTALL = 'pip install "dcgan_tf[export]"'
_NAMES = {"onnx": "ONNX", "tflite": "TFLite"}


def runtime_formats(formats) -> tuple[str, ...]:
    """The formats of `formats` that this module writes (onnx, tflite), in its order."""
    for name in formats:
        check_choice("format", name, EXPORT_FORMATS)
    return tuple(f for f in RUNTIMES if f in formats)


def require_packages(formats) -> None:
    """UserError in one line when a runtime of `formats` lacks its packages (asked before
    anything is written)."""
    if "onnx" in formats:
        missing = [name for name in ("tf2onnx", "onnx", "onnxruntime") if not _importable(name)]
        if missing:
            raise UserError(f"--format=onnx needs {', '.join(missing)}: {INSTALL}.")
    if "tflite" in formats and _interpreter_class() is None:
        raise UserError("--format=tflite needs TensorFlow's tf.lite or ai-edge-litert: "
                        "pip install ai-edge-litert.")


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------- writing

def write_runtimes(generator: keras.Model, folder: str, formats, *, latent: str = "normal",
                   family: str = "") -> dict:
    """Writes the runtime files of `formats` (onnx, tflite; others are ignored) for
    `generator` (the network the SavedModel's signatures call) into `folder`, checks each
    against TensorFlow and returns export.json's "runtimes" records. `family` names the
    model in the one-line errors. UserError when a converter fails or a check does not
    pass (module doc)."""
    formats = runtime_formats(formats)
    if not formats:
        return {}
    require_packages(formats)
    family = family or generator.name
    latent_dim = int(generator.inputs[0].shape[-1])
    num_classes = int(generator.inputs[1].shape[-1]) if len(generator.inputs) == 2 else 0
    specs = [tf.TensorSpec([None, latent_dim], tf.float32, name="z")]
    if num_classes:
        specs.append(tf.TensorSpec([None, num_classes], tf.float32, name="labels"))
    feeds = check_batch(latent, latent_dim, num_classes)
    one = {k: v[:1] for k, v in feeds.items()}
    expected = {len(CHECK_SEEDS): _images(generator, feeds), 1: _images(generator, one)}
    portable = _portable(generator)
    records = {}
    bar = Progress(len(formats), "Converting the generator", unit="runtimes")
    for done, fmt in enumerate(formats):
        bar.note = _NAMES[fmt]
        bar.update(done)
        path = os.path.join(folder, FILES[fmt])
        start = time.perf_counter()
        try:
            with _quiet():
                _WRITERS[fmt](portable, specs, path)
        except UserError:
            raise
        except Exception as e:  # the converters raise many kinds; one line names them
            raise UserError(f"{_NAMES[fmt]} cannot convert the {family} generator "
                            f"({_first_line(e)}); export without {fmt}.") from None
        seconds = time.perf_counter() - start
        check = {}
        for batch in (feeds, one):
            try:
                got = run_runtime(path, fmt, **batch)
            except Exception as e:  # a file the converter wrote but its runtime refuses
                raise UserError(f"The {_NAMES[fmt]} file of the {family} generator does not "
                                f"run ({_first_line(e)}); export without {fmt}.") from None
            check[len(batch["z"])] = compare(expected[len(batch["z"])], got)
        worst = max(check.values(), key=lambda c: c["fraction_over_tolerance"])
        if not worst["passed"]:
            raise UserError(
                f"The {_NAMES[fmt]} file of the {family} generator differs from TensorFlow: "
                f"{worst['fraction_over_tolerance']:.2%} of pixel values by more than "
                f"{TOLERANCE_LEVELS} levels (max {worst['max_abs_diff']}); not exported.")
        records[fmt] = _record(fmt, path, specs, generator, seconds, check, num_classes)
    bar.note = "checked"
    bar.update(len(formats))
    bar.close()
    return records


def check_batch(latent: str, latent_dim: int, num_classes: int) -> dict:
    """The fixed check inputs: z of CHECK_SEEDS drawn as dcgan_tf draws an integer seed,
    and for conditional models one-hot labels of class i % num_classes."""
    distribution = get_latent(latent)
    z = np.concatenate([distribution.sample((1, latent_dim), s).numpy() for s in CHECK_SEEDS])
    feeds = {"z": z.astype(np.float32)}
    if num_classes:
        classes = np.arange(len(CHECK_SEEDS)) % num_classes
        feeds["labels"] = np.eye(num_classes, dtype=np.float32)[classes]
    return feeds


def compare(expected: np.ndarray, got: np.ndarray) -> dict:
    """Pixel-level agreement of two uint8 image batches (module doc: the tolerance)."""
    if got.shape != expected.shape or got.dtype != np.uint8:
        return {"max_abs_diff": 255, "fraction_over_1": 1.0, "fraction_over_tolerance": 1.0,
                "passed": False, "shape": list(got.shape), "dtype": str(got.dtype)}
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    over = float(np.mean(diff > TOLERANCE_LEVELS))
    return {"max_abs_diff": int(diff.max()), "fraction_over_1": float(np.mean(diff > 1)),
            "fraction_over_tolerance": over, "passed": over <= TOLERANCE_FRACTION}


def _images(generator, feeds) -> np.ndarray:
    """TensorFlow's uint8 images of `feeds` (the serving_default computation)."""
    inputs = [feeds["z"], feeds["labels"]] if "labels" in feeds else feeds["z"]
    return to_uint8_images(generator(inputs, training=False)).numpy()


def _serving_function(generator, specs):
    """The function both files hold: (z[, labels]) -> {"images": uint8}."""
    if len(specs) == 2:
        def serve(z, labels):
            return {"images": to_uint8_images(generator([z, labels], training=False))}
    else:
        def serve(z):
            return {"images": to_uint8_images(generator(z, training=False))}
    return serve


def _write_onnx(generator, specs, path: str) -> None:
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    function = tf.function(_serving_function(generator, specs), input_signature=specs)
    tf2onnx.convert.from_function(function, input_signature=specs, opset=ONNX_OPSET,
                                  output_path=path)


def _write_tflite(generator, specs, path: str) -> None:
    with tempfile.TemporaryDirectory() as saved:
        archive = keras.export.ExportArchive()
        archive.track(generator)
        archive.add_endpoint(name="serving_default", fn=_serving_function(generator, specs),
                             input_signature=specs)
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved, signature_keys=["serving_default"])
        data = converter.convert()
    with open(path, "wb") as f:
        f.write(data)


_WRITERS = {"onnx": _write_onnx, "tflite": _write_tflite}


class _StaticUpSampling(keras.layers.Layer):
    """Nearest upsampling by an integer factor to a size fixed when traced (Keras'
    UpSampling2D repeats with run-time shapes; TFLite's Conv2D then has no height). Used
    only in the converted copy, never saved as a Keras file."""

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        height, width = int(x.shape[1]), int(x.shape[2])
        return tf.image.resize(x, [height * self.factor, width * self.factor],
                               method="nearest")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, h * self.factor, w * self.factor, c)


def _portable(generator: keras.Model) -> keras.Model:
    """`generator`, or a copy sharing its layers (and weights) whose nearest UpSampling2D
    layers have a fixed output size (_StaticUpSampling)."""
    def upsamplers(model):
        for layer in model.layers:
            if isinstance(layer, keras.layers.UpSampling2D):
                yield layer
            elif isinstance(layer, keras.Model):
                yield from upsamplers(layer)

    found = list(upsamplers(generator))
    if not found:
        return generator
    if any(l.size[0] != l.size[1] or l.interpolation != "nearest" for l in found):
        return generator  # not the pattern this copy knows; the converter decides

    def swap(layer):
        if isinstance(layer, keras.layers.UpSampling2D):
            return _StaticUpSampling(int(layer.size[0]), name=layer.name)
        return layer

    return keras.models.clone_model(generator, clone_function=swap)


# ---------------------------------------------------------------------------------- reading

def run_runtime(path: str, fmt: str, z, labels=None) -> np.ndarray:
    """uint8 [N, H, W, C] images of the runtime file `path` (or of an export folder's file
    of format `fmt`) for z [N, latent_dim] (and labels [N, num_classes])."""
    check_choice("format", fmt, RUNTIMES)
    if os.path.isdir(path):
        path = os.path.join(path, FILES[fmt])
    feeds = {"z": np.asarray(z, np.float32)}
    if labels is not None:
        feeds["labels"] = np.asarray(labels, np.float32)
    with _quiet():
        if fmt == "onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(path, options,
                                                   providers=["CPUExecutionProvider"])
            return session.run(["images"], feeds)[0]
        interpreter = _interpreter_class()(model_path=path)
        return interpreter.get_signature_runner("serving_default")(**feeds)["images"]


def _interpreter_class():
    """LiteRT's interpreter when ai-edge-litert is installed, else TensorFlow's own
    tf.lite.Interpreter (deprecated in favour of LiteRT, still in TF 2.21); None: neither."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        return getattr(getattr(tf, "lite", None), "Interpreter", None)


def interpreter_name() -> str:
    cls = _interpreter_class()
    return "ai_edge_litert" if cls and cls.__module__.startswith("ai_edge_litert") else "tf.lite"


# ---------------------------------------------------------------------------------- records

def _record(fmt, path, specs, generator, seconds, check, num_classes) -> dict:
    """export.json's record of one runtime file."""
    inputs = {s.name: {"dtype": "float32", "shape": list(s.shape)} for s in specs}
    if num_classes:
        inputs["labels"]["doc"] = ("one value in [0, 1] per class, one row per z row; "
                                   "one-hot for one class")
    image_shape = [None, *[int(d) for d in generator.output.shape[1:]]]
    batch, one = check[len(CHECK_SEEDS)], check[1]
    record = {
        "file": FILES[fmt],
        "bytes": os.path.getsize(path),
        "inputs": inputs,
        "outputs": {"images": {"dtype": "uint8", "shape": image_shape, "layout": "NHWC",
                               "range": [0, 255],
                               "doc": "round((x + 1) * 127.5) of the generator's [-1, 1] "
                                      "output, as the SavedModel's serving_default"}},
        "batch": "any N (the first axis is dynamic)",
        "convert_seconds": round(seconds, 2),
        "check": {
            "against": "TensorFlow, the same generator and z (serving_default's images)",
            "seeds": list(CHECK_SEEDS), "batch_sizes": [len(CHECK_SEEDS), 1],
            "labels": "one-hot class i % num_classes" if num_classes else None,
            "max_abs_diff": max(batch["max_abs_diff"], one["max_abs_diff"]),
            "fraction_over_1": max(batch["fraction_over_1"], one["fraction_over_1"]),
            "tolerance": f"at most {TOLERANCE_FRACTION:.1%} of pixel values differ by more "
                         f"than {TOLERANCE_LEVELS} levels of 255",
            "passed": True,
        },
    }
    if fmt == "onnx":
        import tf2onnx

        record.update(opset=ONNX_OPSET, converter=f"tf2onnx {tf2onnx.__version__}",
                      run="onnxruntime.InferenceSession('generator.onnx').run(['images'], "
                          "{'z': z" + (", 'labels': labels" if num_classes else "") + "})[0]")
    else:
        record.update(signature="serving_default",
                      converter=f"tf.lite.TFLiteConverter (TensorFlow {tf.__version__})",
                      checked_with=interpreter_name(),
                      run="Interpreter(model_path='generator.tflite').get_signature_runner("
                          "'serving_default')(z=z" + (", labels=labels" if num_classes else "")
                          + ")['images']")
    return record


def _first_line(error: BaseException) -> str:
    text = (getattr(error, "message", None) or str(error) or type(error).__name__).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return (lines[0] if lines else type(error).__name__)[:200]


@contextlib.contextmanager
def _quiet():
    """The converters' and interpreters' own output (C++ log lines on file descriptor 2,
    tf.lite's deprecation warning, tf2onnx's log) kept off the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
