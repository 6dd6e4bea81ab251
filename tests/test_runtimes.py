"""Every runtime: the ONNX and TFLite files of an export give TensorFlow's images for every
model family (pggan, a conditional model and --sample_bn=batch included); the model card
names the run; --format and the export-time check fail in one line."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import SMALL, one_error_line, run_main

from dcgan_tf.artifacts import runtimes
from dcgan_tf.artifacts.runtimes import (TOLERANCE_FRACTION, TOLERANCE_LEVELS, compare,
                                         require_packages, run_runtime)
from dcgan_tf.artifacts.saved_generator import LoadedGenerator, export_generator
from dcgan_tf.models import build_models
from dcgan_tf.utils.errors import UserError

FORMATS = ("savedmodel", "onnx", "tflite")
# key: (family, builder options, num_classes, sample_bn); dcgan64 unconditional and moving
# is the workdir export of test_export_command_card_and_formats.
FAMILIES = {
    "dcgan64_conditional_batch": ("dcgan64", SMALL["dcgan64"], 3, "batch"),
    "mnist28": ("mnist28", SMALL["mnist28"], 0, "moving"),
    "faces96": ("faces96", SMALL["faces96"], 0, "moving"),
    "pggan": ("pggan", dict(SMALL["pggan"], resolution=8), 0, "moving"),  # one upsampling
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtimes")
    paths = {}
    for key, (family, options, k, sample_bn) in FAMILIES.items():
        pair = build_models(family, **options, latent_dim=16, num_classes=k)
        paths[key] = export_generator(pair.generator, 16, str(root / key),
                                      grows=family == "pggan", sample_bn=sample_bn,
                                      formats=FORMATS, extra_info={"model": family})
    return paths


@pytest.mark.parametrize("key", list(FAMILIES))
def test_onnx_and_tflite_give_tensorflows_images(exports, key):
    path = exports[key]
    k = FAMILIES[key][2]
    rng = np.random.default_rng(5)
    z = rng.normal(size=(5, 16)).astype(np.float32)  # not the export's check batch
    labels = rng.dirichlet(np.ones(k), size=5).astype(np.float32) if k else None  # mixtures
    expected = LoadedGenerator(path).images(z, labels)  # the SavedModel's serving_default
    info = json.load(open(os.path.join(path, "export.json")))
    for fmt in ("onnx", "tflite"):
        got = run_runtime(path, fmt, z, labels)
        assert got.dtype == np.uint8 and got.shape == expected.shape, (fmt, got.shape)
        diff = np.abs(got.astype(int) - expected.astype(int))
        assert diff.max() <= TOLERANCE_LEVELS, (key, fmt, diff.max())
        record = info["runtimes"][fmt]
        assert record["check"]["passed"] and record["check"]["max_abs_diff"] <= TOLERANCE_LEVELS
        assert list(record["inputs"]) == (["z", "labels"] if k else ["z"])
        assert record["outputs"]["images"]["shape"] == [None, *expected.shape[1:]]
        assert os.path.getsize(os.path.join(path, record["file"])) == record["bytes"]
    assert info["formats"] == list(FORMATS) and info["keras_files"] == []
    assert not os.path.exists(os.path.join(path, "generator.keras"))
    assert info["runtimes"]["onnx"]["opset"] == runtimes.ONNX_OPSET
    import onnxruntime

    session = onnxruntime.InferenceSession(os.path.join(path, "generator.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == (
        [("z", "tensor(float)")] + ([("labels", "tensor(float)")] if k else []))
    assert [(o.name, o.type) for o in session.get_outputs()] == [("images", "tensor(uint8)")]


def test_onnx_file_runs_without_tensorflow(exports, tmp_path):
    """What a consumer outside Python's TensorFlow gets: onnxruntime alone."""
    import subprocess

    path = os.path.join(exports["dcgan64_conditional_batch"], "generator.onnx")
    script = (
        "import sys, numpy as np, onnxruntime as ort\n"
        f"s = ort.InferenceSession({path!r})\n"
        "z = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)\n"
        "images = s.run(['images'], {'z': z, 'labels': np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]})[0]\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, images)\n"
        "assert not [m for m in sys.modules if m.startswith(('tensorflow', 'keras', 'dcgan_tf'))]\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    z = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    expected = LoadedGenerator(exports["dcgan64_conditional_batch"]).images(
        z, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    assert np.abs(np.load(tmp_path / "out.npy").astype(int) - expected).max() <= TOLERANCE_LEVELS


def test_export_command_card_and_formats(tmp_path):
    """A workdir (made by hand: config, one checkpoint, the logs a run keeps) exported by the
    command with onnx and tflite: the card names the data, steps, settings, evaluations and
    the memorisation check; the files match TensorFlow (dcgan64, unconditional)."""
    from dcgan_tf.artifacts.workdir import Workdir
    from dcgan_tf.config import Config
    from dcgan_tf.gan.model import network_items

    wd = Workdir(str(tmp_path / "run"))
    config = Config(data="digits", model="dcgan64", latent_dim=16, batch_size=16,
                    train_steps=5, workdir=wd.path, **SMALL["dcgan64"])
    os.makedirs(wd.path)
    wd.write_config(config)
    pair = wd.networks()
    tf.train.CheckpointManager(tf.train.Checkpoint(**network_items(pair.generator,
                                                                   pair.discriminator)),
                               wd.checkpoint_dir, 3).save(checkpoint_number=5)
    with open(wd.metrics_path, "w") as f:
        f.write(json.dumps({"step": 5, "images_seen": 80, "d_loss": 1.0}) + "\n")
    with open(wd.evaluation_path, "w") as f:
        f.write(json.dumps({"step": 5, "images_seen": 80, "time": 0, "swd": 12.5}) + "\n")
        f.write(json.dumps({"metrics": {"fd": {"value": 3.25, "real_halves": 0.5}},
                            "data": "digits", "step": 5}) + "\n")
    os.makedirs(os.path.join(wd.path, "nearest"))
    with open(os.path.join(wd.path, "nearest", "nearest.json"), "w") as f:
        json.dump({"median_sample_to_train": 0.4, "median_holdout_to_train": 0.5,
                   "ratio": 0.8}, f)
    out = tmp_path / "export"
    code, stdout, err = run_main("dcgan_tf.export", f"--workdir={wd.path}", f"--out={out}",
                                 "--format=onnx,tflite")
    assert code == 0, err
    assert "Traceback" not in err and "WARNING" not in err.upper(), err
    info = json.load(open(out / "export.json"))
    assert info["formats"] == ["savedmodel", "onnx", "tflite"] and info["step"] == 5
    z = LoadedGenerator(str(out)).z_for_seeds(range(3))
    expected = LoadedGenerator(str(out)).images(z)
    for fmt in ("onnx", "tflite"):
        diff = np.abs(run_runtime(str(out), fmt, z).astype(int) - expected.astype(int))
        assert diff.max() <= TOLERANCE_LEVELS, (fmt, diff.max())
    card = (out / "MODEL_CARD.md").read_text()
    for fact in ("`dcgan64`", "- Steps: 5 (80 images seen by step 5)", "`ngf=8`",
                 "`batch_size=16`", "Source: `digits`", "1,797", "Licence: fill in",
                 "swd 12.5", "fd_value 3.25", "ratio 0.80", "![16 samples](sample.png)",
                 "generator.onnx", "generator.tflite", "config.json",
                 f"generator {pair.generator.count_params():,}"):
        assert fact in card, fact
    assert tf.image.decode_png(open(out / "sample.png", "rb").read()).shape[-1] == 1


def test_bad_format_is_one_line(tmp_path):
    # in this process (the command's error contract; no TensorFlow start-up)
    for bad in ("savedmodel,pdf", ","):
        code, _, err = run_main("dcgan_tf.export", f"--workdir={tmp_path}", f"--format={bad}")
        line = one_error_line(err, "dcgan_tf.export")
        assert code == 2 and "--format must be a comma list of savedmodel, keras, onnx, " \
                             f"tflite, web, got {bad!r}." in line, line
    code, _, err = run_main("dcgan_tf.export", f"--workdir={tmp_path}", "--format=onnx",
                            f"--ort_web={tmp_path}")
    assert code == 2 and "add web to --format (--format=onnx,web)" in \
        one_error_line(err, "dcgan_tf.export")
    assert os.listdir(tmp_path) == []


def test_tolerance_passes_rounding_flips_and_refuses_a_wrong_file():
    images = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 1)).astype(np.uint8)
    flipped = images.copy()
    flipped[:, ::3] = np.clip(flipped[:, ::3].astype(int) + 1, 0, 255)  # a third: 1 level
    assert compare(images, flipped)["passed"]
    shifted = images.copy()
    shifted[0, :2] = 255 - shifted[0, :2]  # one image's top rows: far more than 0.1%
    result = compare(images, shifted)
    assert not result["passed"] and result["fraction_over_tolerance"] > TOLERANCE_FRACTION
    assert not compare(images, images[:, :, :, :1].astype(np.float32))["passed"]  # dtype


def test_a_runtime_that_fails_or_differs_leaves_no_export(tmp_path, monkeypatch):
    pair = build_models("dcgan64", **SMALL["dcgan64"], latent_dim=8)

    def broken(*args):
        raise ValueError("Unsupported op: Frobnicate\nmore lines of detail")

    monkeypatch.setitem(runtimes._WRITERS, "tflite", broken)
    with pytest.raises(UserError, match=r"^TFLite cannot convert the dcgan64 generator "
                                        r"\(Unsupported op: Frobnicate\); export without "
                                        r"tflite\.$"):
        export_generator(pair.generator, 8, str(tmp_path / "a"), formats=("tflite",),
                         extra_info={"model": "dcgan64"})
    monkeypatch.setitem(runtimes._WRITERS, "onnx", lambda g, specs, path: open(path, "w"))
    monkeypatch.setattr(runtimes, "run_runtime", lambda path, fmt, z, labels=None:
                        np.full((len(z), 32, 32, 1), 7, np.uint8))
    with pytest.raises(UserError, match="ONNX file of the dcgan64 generator differs"):
        export_generator(pair.generator, 8, str(tmp_path / "b"), formats=("onnx",),
                         extra_info={"model": "dcgan64"})
    assert os.listdir(tmp_path) == []  # nothing half-written, no temporary folder


def test_missing_packages_are_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(UserError, match=r'needs onnxruntime: pip install "dcgan_tf\[export\]"'):
        require_packages(("onnx",))
    require_packages(("tflite",))  # TensorFlow's own interpreter is enough
