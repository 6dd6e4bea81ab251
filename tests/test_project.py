"""Projection of real images (GAN inversion): the fit finds a known z's image far better than
random starts, the files, conditional models, the morph, photo preparation, bad input."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import one_error_line, run_main
from PIL import Image

from dcgan_tf.artifacts.projection import load_projection_model
from dcgan_tf.artifacts.saved_generator import export_generator
from dcgan_tf.data.photo import PhotoPlan, prepare_photo
from dcgan_tf.gan.projection import ProjectionOptions, project
from dcgan_tf.metrics.ms_ssim import ms_ssim, ms_ssim_tensor
from dcgan_tf.models import build_models
from dcgan_tf.utils.errors import UserError

LATENT = 8
TINY = dict(resolution=32, channels=1, ngf=8, ndf=8, latent_dim=LATENT)


def _lively(generator, seed=0):
    """Redraws G's kernels with He-style scales: the DCGAN init (std 0.02) draws nearly the
    same faint image for every z before training; these vary with z as a trained G's do
    (pixel std ~0.4, ~0.27 of it across z)."""
    rng = np.random.default_rng(seed)
    for v in generator.weights:
        if "kernel" in v.path:  # Conv2DTranspose: [k, k, out, in]
            fan = np.prod(v.shape) / v.shape[-2] / (4 if v.shape[0] == 4 else 1)
            v.assign(rng.normal(0, np.sqrt(2.0 / fan), v.shape).astype(np.float32))
    return generator


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A tiny unconditional export with its D, and a tiny conditional one (3 classes)."""
    import keras

    keras.utils.set_random_seed(7)
    root = tmp_path_factory.mktemp("projection")
    plain = build_models("dcgan64", **TINY)
    cond = build_models("dcgan64", **TINY, num_classes=3)
    _lively(plain.generator)
    _lively(cond.generator, 1)
    return {
        "plain": export_generator(plain.generator, LATENT, str(root / "plain"),
                                  discriminator=plain.discriminator),
        "cond": export_generator(cond.generator, LATENT, str(root / "cond"),
                                 extra_info={"class_names": ["a", "b", "c"]}),
        "root": root,
    }


def _png(path, image):
    """Writes an image in [-1, 1] [H, W, 1] as a grey PNG."""
    Image.fromarray(np.round((image[..., 0] + 1) * 127.5).astype(np.uint8)).save(path)
    return str(path)


def test_projection_finds_a_known_code_far_better_than_random_starts(exports):
    model = load_projection_model(exports["plain"])
    assert model.features is not None and model.num_classes == 0
    z_true = tf.random.stateless_normal([2, LATENT], seed=[5, 0])
    targets = model.generator(z_true, training=False).numpy()
    options = ProjectionOptions(steps=80, starts=4, warm_steps=20, seed=1, frames=4)
    result = project(model.generator, targets, latent="normal", latent_dim=LATENT,
                     features=model.features, options=options)
    random_z = tf.random.stateless_normal([256, LATENT], seed=[9, 0])
    random_images = model.generator(random_z, training=False).numpy()
    best_random = np.mean(np.square(random_images[None] - targets[:, None]), axis=(2, 3, 4))
    best_random = best_random.min(axis=1)  # [2]: the best of 256 random z per target
    assert result.start_mse.shape == (2, 4)
    # measured: 6e-5 and 3e-4 against best starts 0.12 and 0.051, best random z 0.057, 0.020
    assert np.all(result.pixel_mse < 0.02 * result.start_mse.min(axis=1)), (
        result.pixel_mse, result.start_mse)
    assert np.all(result.pixel_mse < 0.05 * best_random), (result.pixel_mse, best_random)
    assert np.all(result.ms_ssim > ms_ssim(random_images[:2], targets))
    assert result.history["total"].shape == (80, 2)
    assert result.frames[-1][0] == 80 and len(result.frames) >= 3


def test_uniform_latents_stay_in_their_box(exports):
    model = load_projection_model(exports["plain"])
    z_true = tf.random.stateless_uniform([1, LATENT], seed=[4, 0], minval=-1, maxval=1)
    target = model.generator(z_true, training=False).numpy()
    result = project(model.generator, target, latent="uniform", latent_dim=LATENT,
                     options=ProjectionOptions(steps=30, starts=2, warm_steps=5, d_weight=0))
    assert np.all(np.abs(result.z) < 1.0) and "prior" not in result.history
    assert result.pixel_mse[0] < 0.5 * result.start_mse.min()


def test_ms_ssim_loss_equals_the_metric_and_has_a_finite_gradient():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.4, a.shape), -1, 1).astype(np.float32)
    b[2] = -a[2]  # anti-correlated: TensorFlow's own gradient is NaN here
    np.testing.assert_allclose(ms_ssim_tensor(a[:2], b[:2]).numpy(), ms_ssim(a[:2], b[:2]),
                               atol=1e-5)
    b = tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch(b)
        loss = tf.reduce_sum(ms_ssim_tensor(a, b))
    assert np.all(np.isfinite(tape.gradient(loss, b).numpy()))


def test_command_files_morph_and_conditional(exports, tmp_path):
    plain = load_projection_model(exports["plain"])
    images = plain.generator(tf.random.stateless_normal([2, LATENT], seed=[3, 0]),
                             training=False).numpy()
    a, b = _png(tmp_path / "a.png", images[0]), _png(tmp_path / "b.png", images[1])
    out = tmp_path / "out"
    code, stdout, err = run_main("dcgan_tf.project", f"--model={exports['plain']}",
                                 f"--image={a}", f"--image={b}", f"--out={out}",
                                 "--steps=12", "--starts=2", "--warm_steps=4",
                                 "--morph_frames=5")
    assert code == 0, err
    assert {"z.npy", "compare.png", "loss.png", "fit.gif", "morph.gif", "morph.png",
            "projection.json"} <= set(os.listdir(out))
    assert np.load(out / "z.npy").shape == (2, LATENT)
    assert Image.open(out / "morph.gif").n_frames == 8  # 5 there, 3 back between the ends
    summary = json.loads((out / "projection.json").read_text())
    assert [r["image"] for r in summary["results"]] == [a, b]
    assert "pixel MSE" in stdout and "MS-SSIM" in stdout and "Wrote" in stdout
    assert summary["preparation"]["plan"] == "--crop=center"  # an export alone: center

    # conditional, no --label: every class tried, the class is reported
    out = tmp_path / "cond"
    code, stdout, err = run_main("dcgan_tf.project", f"--model={exports['cond']}",
                                 f"--image={a}", f"--out={out}", "--steps=6", "--starts=1",
                                 "--warm_steps=3")
    assert code == 0, err
    assert "best of 3 classes" in stdout
    assert np.load(out / "labels.npy").shape == (1, 3)
    code, stdout, err = run_main("dcgan_tf.project", f"--model={exports['cond']}",
                                 f"--image={a}", f"--out={out}", "--steps=3", "--starts=1",
                                 "--label=c", "--invert")
    assert code == 0 and "class 'c' (--label)" in stdout, err
    np.testing.assert_array_equal(np.load(out / "labels.npy"), [[0, 0, 1]])
    compare = np.asarray(Image.open(out / "compare.png").convert("L"), np.float32)
    target = np.round((1 - images[0][..., 0]) * 127.5)  # --invert: the negative is the target
    k = (compare.shape[1] - 3 * 2) // 2 // 32  # 2 columns, 2 px padding: the enlargement
    cell = compare[2:2 + 32 * k:k, 2:2 + 32 * k:k]  # the first cell: the target
    np.testing.assert_allclose(cell, target, atol=1)


def test_photo_preparation_crops_and_converts_as_training_did(tmp_path):
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, 20:60] = (255, 255, 255)  # a white centre square on black sides
    path = str(tmp_path / "wide.png")
    Image.fromarray(rgb).save(path)
    centre = prepare_photo(path, PhotoPlan(16, 1, crop="center"))
    assert centre.shape == (16, 16, 1) and centre.min() > 0.99  # the white square alone
    squashed = prepare_photo(path, PhotoPlan(16, 1, preprocess="resize"))
    assert squashed[:, 0].max() < -0.9 and squashed[:, 8].min() > 0.9  # sides kept


def test_bad_input_is_one_line(exports, tmp_path):
    photo = _png(tmp_path / "p.png", np.zeros((32, 32, 1), np.float32))
    (tmp_path / "blocker").write_text("x")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty").mkdir()
    model = f"--model={exports['plain']}"
    out = f"--out={tmp_path / 'o'}"
    cases = [
        ((model, f"--image={tmp_path / 'missing.png'}", out), "does not exist"),
        ((model, f"--image={tmp_path}", out), "is a folder"),
        ((model, f"--image={tmp_path / 'text.png'}", out), "not a usable image"),
        ((model, f"--image={photo}", f"--out={tmp_path / 'blocker'}"), "is a file"),
        ((f"--model={tmp_path / 'empty'}", f"--image={photo}", out),
         "neither an export"),
        ((model, f"--image={photo}", out, "--label=3"), "not a conditional generator"),
        ((f"--model={exports['cond']}", f"--image={photo}", out, "--label=7"),
         "not a class of this model"),
        ((model, f"--image={photo}", out, "--crop=oval"), "Unknown --crop 'oval'"),
        ((model, f"--image={photo}", out, "--pixel_loss=l3"), "Unknown pixel loss 'l3'"),
        ((model, out), "--image is required"),
    ]
    for args, message in cases:
        code, _, err = run_main("dcgan_tf.project", *args, "--steps=2", "--starts=1")
        assert code == 2 and message in one_error_line(err, "dcgan_tf.project"), (args, err)
    assert not os.path.exists(tmp_path / "o")
    with pytest.raises(UserError, match="is a file"):
        load_projection_model(str(tmp_path / "blocker"))
