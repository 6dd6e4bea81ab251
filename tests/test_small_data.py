"""Small-data parts of the update step: DiffAugment and R1 against known cases."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compile_with

from dcgan_tf.gan.augment import DiffAugment, diff_color, diff_cutout, diff_translation
from dcgan_tf.gan.model import GAN
from dcgan_tf.gan.losses import get_loss
from dcgan_tf.gan.regularizers import R1, StepContext


def tiny_gan(seed=0, channels=3):
    z = keras.Input((2,))
    g = keras.Model(z, keras.layers.Reshape((8, 8, channels))(
        keras.layers.Dense(64 * channels)(z)))
    x = keras.Input((8, 8, channels))
    d = keras.Model(x, keras.layers.Dense(1, name="logits", use_bias=False)(
        keras.layers.Flatten()(x)))
    return GAN(g, d, latent_dim=2, head="linear", seed=seed)


def test_each_diffaugment_keeps_shape_and_dtype_and_passes_gradients():
    gan = tiny_gan()
    x = tf.random.stateless_uniform([6, 8, 8, 3], [1, 2], -1.0, 1.0)
    for fn in (diff_color, diff_translation, diff_cutout):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x, gan)
            total = tf.reduce_sum(y)
        grad = tape.gradient(total, x)
        assert y.shape == x.shape and y.dtype == x.dtype, fn.__name__
        assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0, fn.__name__


def test_translation_moves_whole_images_and_fills_with_zeros():
    gan = tiny_gan(seed=3)
    x = tf.ones([64, 8, 8, 1])
    y = diff_translation(x, gan).numpy()
    # 8 * 0.125 = 1 pixel at most per axis: each image keeps 8x8, 8x7, 7x8 or 7x7 ones
    kept = y.reshape(64, -1).sum(axis=1)
    assert set(kept.tolist()) <= {64.0, 56.0, 49.0} and len(set(kept.tolist())) > 1
    ramp = tf.reshape(tf.range(64, dtype=tf.float32), [1, 8, 8, 1]) + 1.0
    moved = diff_translation(tf.tile(ramp, [16, 1, 1, 1]), gan).numpy()
    for image in moved:  # every non-zero pixel is a pixel of the ramp, shifted as a whole
        values = image[image > 0]
        assert set(values.tolist()) <= set(ramp.numpy().ravel().tolist())


def test_cutout_erases_at_most_a_quarter_and_a_quarter_inside():
    gan = tiny_gan(seed=4)
    y = diff_cutout(tf.ones([200, 8, 8, 1]), gan).numpy()
    erased = 1.0 - y.reshape(200, -1).mean(axis=1)
    assert erased.max() == pytest.approx(0.25) and erased.min() > 0
    assert (erased == 0.25).mean() > 0.3  # a centred 4x4 square lies fully inside often


def test_color_on_one_channel_and_policy_validation():
    gan = tiny_gan(channels=1)
    x = tf.zeros([4, 8, 8, 1])
    y = diff_color(x, gan).numpy()
    # a constant image stays constant per sample (brightness moves it, contrast keeps it)
    assert np.allclose(y.std(axis=(1, 2, 3)), 0.0, atol=1e-6)
    assert DiffAugment("cutout,color").policy == ("color", "cutout")
    with pytest.raises(ValueError, match="Unknown --diffaugment policy"):
        DiffAugment("colour")


def test_r1_of_a_linear_critic_is_known_and_diffaugment_trains():
    """D(x) = sum(a * x) has gradient a: R1 = gamma / 2 * ||a||^2 (no augmentation)."""
    gan = tiny_gan()
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0),
                loss=get_loss("hinge"))
    kernel = gan.discriminator.get_layer("logits").kernel
    kernel.assign(tf.fill(kernel.shape, 0.5))
    ctx = StepContext(gan, "d", gan.discriminator, real=tf.zeros([3, 8, 8, 3]))
    term, metrics, ran = R1(gamma=4.0, every=2)(ctx, step=2)
    assert float(metrics["r1"]) == pytest.approx(0.5 * 4.0 * 192 * 0.25)  # 192 weights
    assert float(term) == pytest.approx(2 * 0.5 * 4.0 * 48.0) and bool(ran)  # x every
    gan = tiny_gan(seed=1)
    compile_with(gan, keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), loss="hinge",
                 diffaugment="color,translation,cutout", r1_gamma=1.0, r1_every=2)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    logs = gan.fit(x, batch_size=4, epochs=1, verbose=0).history
    assert {"r1", "r1_grad_norm"} <= set(logs) and all(np.isfinite(v[-1]) for v in logs.values())


class _Counter:
    """The parts of a GAN that ADA reads: a D-update counter and a seed stream."""

    def __init__(self):
        self.d_step = tf.Variable(0, dtype=tf.int64)
        self._gan = tiny_gan()

    def next_seed(self):
        return self._gan.next_seed()


def test_ada_probability_follows_the_overfitting_sign_and_survives_a_checkpoint(tmp_path):
    from dcgan_tf.gan.augment import AdaptiveAugment

    gan = _Counter()
    ada = AdaptiveAugment(target=0.6, interval=2, kimg=0.08)  # p 0 -> 1 in 80 images
    x = tf.random.stateless_uniform([8, 8, 8, 3], [5, 6], -1.0, 1.0)
    np.testing.assert_array_equal(ada(x, gan), x)  # p = 0: the identity
    overfit = tf.fill([8, 1], 3.0)  # D sure that every real is real: r_t = 1 > 0.6
    trace = []
    for _ in range(8):
        gan.d_step.assign_add(1)
        ada.observe(gan, overfit)
        trace.append(float(ada.p.numpy()))
    # adjusted every 2nd update by +16 images / 80 = 0.2
    assert trace == pytest.approx([0.0, 0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 0.8])
    assert float(ada.rt.numpy()) == 1.0
    changed = ada(x, gan).numpy()
    assert changed.shape == x.shape and not np.allclose(changed, x)
    saved = tf.train.Checkpoint(**ada.checkpoint_items()).save(str(tmp_path / "ada"))
    healthy = tf.constant([[1.0], [-1.0]] * 4)  # r_t = 0 < 0.6: p falls
    for _ in range(4):
        gan.d_step.assign_add(1)
        ada.observe(gan, healthy)
    assert float(ada.p.numpy()) == pytest.approx(0.4)
    again = AdaptiveAugment(target=0.6, interval=2, kimg=0.08)
    tf.train.Checkpoint(**again.checkpoint_items()).restore(saved).assert_consumed()
    assert float(again.p.numpy()) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="ada_target must be in"):
        AdaptiveAugment(target=1.5)


def test_spectral_norm_brings_the_largest_singular_value_to_one_and_saves(tmp_path):
    from dcgan_tf.config import Config
    from dcgan_tf.gan.assemble import build_from_config, resolve_config

    config = resolve_config(Config(model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                                   spectral_norm=True))
    d = build_from_config(config).discriminator
    wrapped = [l for l in d.layers if isinstance(l, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 4  # three convolutions and the logits layer
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 1)).astype("float32")
    for _ in range(30):  # power iterations happen in training calls
        d(x, training=True)
    for layer in wrapped:
        kernel = layer.layer.kernel.numpy()
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert sigma == pytest.approx(1.0, abs=0.05), layer.name
    d.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras")
    np.testing.assert_allclose(loaded(x), d(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="equalized layers"):
        build_from_config(resolve_config(Config(model="pggan", resolution=16,
                                                spectral_norm=True)))


@pytest.mark.slow
def test_a_resumed_run_with_ada_diffaugment_and_ema_continues_exactly(tmp_path):
    from dcgan_tf.training import trainer
    from dcgan_tf.config import Config
    from dcgan_tf.artifacts.workdir import Workdir

    base = dict(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                latent_dim=16, batch_size=16, sample_grid=4, log_every=1, seed=3,
                progress="none", ada_target=0.6, ada_interval=1, ada_kimg=0.2,
                ema_decay=0.9, diffaugment="translation", export=False)
    trainer.run(Config(workdir=str(tmp_path / "a"), train_steps=8, **base))
    trainer.run(Config(workdir=str(tmp_path / "b"), train_steps=4, **base))
    trainer.run(Config(workdir=str(tmp_path / "b"), train_steps=8, **base))
    rows = {name: [json.loads(l) for l in open(tmp_path / name / "metrics.jsonl")]
            for name in ("a", "b")}
    assert [r["ada_p"] for r in rows["a"]] == pytest.approx([r["ada_p"] for r in rows["b"]])
    assert max(r["ada_p"] for r in rows["a"]) > 0  # the tiny D overfits at once: p rises
    straight = Workdir(str(tmp_path / "a")).restore_networks(8)
    resumed = Workdir(str(tmp_path / "b")).restore_networks(8)
    assert straight[3] == resumed[3] == "ema"
    for a, b in zip(straight[0].get_weights(), resumed[0].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_memorisation_check_tells_copies_from_new_images(tmp_path):
    from dcgan_tf.data.digits import load_digits
    from dcgan_tf.metrics.memorisation import memorisation_report

    images = load_digits(32)[0]
    train, holdout, other = images[:1000], images[1000:1200], images[1200:1400]
    noise = np.random.default_rng(0).normal(0, 0.01, (200,) + train.shape[1:])
    copies = memorisation_report(train[:200] + noise, train, holdout)
    new = memorisation_report(other, train, holdout)
    assert copies["ratio"] < 0.1 and 0.7 < new["ratio"] < 1.3, (copies["ratio"], new["ratio"])
    assert list(copies["nearest"][:5]) == [0, 1, 2, 3, 4]


def test_nearest_command_writes_the_pairs_and_the_numbers(tmp_path):
    from test_foundation import run_main

    from dcgan_tf.artifacts.saved_generator import export_generator
    from dcgan_tf.models import build_models

    pair = build_models("dcgan64", resolution=32, channels=1, ngf=8, ndf=8)
    export = export_generator(pair.generator, pair.latent_dim, str(tmp_path / "export"))
    code, out, err = run_main("dcgan_tf.nearest", f"--model={export}", "--data=digits",
                              f"--out={tmp_path / 'near'}", "--num=64")
    assert code == 0, err
    assert "median nearest-training distance: samples" in out
    summary = json.loads((tmp_path / "near" / "nearest.json").read_text())
    assert summary["train"] + summary["holdout"] == 1797 and summary["samples"] == 64
    assert summary["median_sample_to_train"] > 0 and summary["ratio"] > 1  # an untrained G
    from PIL import Image

    # 32 closest pairs, 4 to a row; 32 px cells doubled so "nearest real" fits under them,
    # with a two-line caption band (28 px): "generated" | "nearest real / d = ..."
    tile = np.asarray(Image.open(tmp_path / "near" / "nearest.png"))
    assert tile.shape[:2] == (8 * (64 + 28) + 9 * 2, 8 * 64 + 9 * 2)
    bands = [tile[2 + 64 + r * 94: 2 + 64 + r * 94 + 28] for r in range(8)]
    assert all((band < 128).sum() > 100 for band in bands)
    # the same report in the evaluation features (the cached digits classifier)
    assert summary["features"]["extractor"].startswith("classifier:")
    assert summary["features"]["ratio"] > 0 and "in classifier:" in out
    code, _, err = run_main("dcgan_tf.nearest", f"--model={export}", "--data=digits",
                            f"--out={tmp_path / 'x'}", "--holdout_fraction=1.5")
    assert code == 2 and "--holdout_fraction" in err
