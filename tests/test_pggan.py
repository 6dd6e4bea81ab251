"""Progressive GAN (source 001): layer math against hand computations, the growth
schedule, fade-in equivalences of the growing networks, and a run through every phase
type that resumes in the middle of a fade-in with the same alpha."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.models.layers import EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm
from dcgan_tf.models import build_models
from dcgan_tf.gan.schedules import GrowthSchedule
from dcgan_tf.utils.errors import UserError

SMALL = dict(resolution=16, latent_dim=8, channels=1, fmap_base=64, fmap_max=16)


def test_equalized_dense_and_conv_scale_weights_at_run_time():
    dense = EqualizedDense(2, gain=2.0)
    dense.build((None, 4))
    dense.kernel.assign(np.arange(8, dtype="float32").reshape(4, 2))
    dense.bias.assign([1.0, -1.0])
    x = np.array([[1.0, 0.0, 2.0, -1.0]], "float32")
    expected = x @ (np.arange(8).reshape(4, 2) * 2.0 / math.sqrt(4)) + [1.0, -1.0]
    np.testing.assert_allclose(dense(x), expected, rtol=1e-6)

    conv = EqualizedConv2D(1, kernel_size=1, gain=math.sqrt(2.0))
    conv.build((None, 2, 2, 2))
    conv.kernel.assign(np.array([3.0, -1.0], "float32").reshape(1, 1, 2, 1))
    images = np.random.default_rng(0).normal(size=(1, 2, 2, 2)).astype("float32")
    scale = math.sqrt(2.0) / math.sqrt(1 * 1 * 2)  # gain / sqrt(k * k * channels)
    np.testing.assert_allclose(conv(images)[..., 0],
                               (images[..., 0] * 3.0 - images[..., 1]) * scale, rtol=1e-5)
    # weights are drawn from N(0, 1): the scale is applied at run time, not at init
    big = EqualizedConv2D(64, 3)
    big.build((None, 8, 8, 64))
    assert 0.9 < float(np.std(big.kernel.numpy())) < 1.1


def test_pixel_norm_and_fade_in():
    x = np.array([[3.0, 4.0]], "float32")
    np.testing.assert_allclose(PixelNorm()(x), x / math.sqrt(12.5 + 1e-8), rtol=1e-6)
    fade = FadeIn(0.25)
    old, new = np.zeros((1, 2), "float32"), np.full((1, 2), 8.0, "float32")
    np.testing.assert_allclose(fade([old, new]), [[2.0, 2.0]])
    fade.alpha.assign(1.0)
    np.testing.assert_allclose(fade([old, new]), new)


def test_minibatch_stddev_by_hand_and_on_odd_batches():
    layer = MinibatchStdDev(group_size=4)
    # 4 samples of one 1x1 feature: 0, 2, 0, 2 -> one group, std 1 for everybody
    x = np.array([0.0, 2.0, 0.0, 2.0], "float32").reshape(4, 1, 1, 1)
    out = layer(x).numpy()
    assert out.shape == (4, 1, 1, 2)
    np.testing.assert_allclose(out[..., 1].ravel(), [1.0] * 4, atol=1e-4)
    # a batch smaller than the group is one group (the paper's code: min(group, N))
    x = np.array([0.0, 10.0], "float32").reshape(2, 1, 1, 1)
    np.testing.assert_allclose(layer(x).numpy()[..., 1].ravel(), [5.0, 5.0], atol=1e-3)
    # a larger batch the group does not divide is an error, not a silently smaller group
    with pytest.raises(ValueError, match="a batch of 6 does not split into groups of 4"):
        layer(np.zeros((6, 1, 1, 1), "float32"))
    traced = tf.function(layer, input_signature=[tf.TensorSpec([None, 1, 1, 1])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not split into groups"):
        traced(np.zeros((6, 1, 1, 1), "float32"))
    with pytest.raises(ValueError, match="group_size must be an integer >= 0"):
        MinibatchStdDev(group_size=-1)


def _stddev_by_numpy(x, group_size, num_features=1):
    """The minibatch-stddev maps of x [N, H, W, C] computed sample by sample in numpy."""
    n, h, w, c = x.shape
    groups = n // (group_size or n)  # M groups; sample i is in group i mod M
    out = np.zeros((n, h, w, num_features))
    for i in range(n):
        members = x[i % groups::groups].astype("float64")  # [G, H, W, C]
        std = np.sqrt(members.var(axis=0) + 1e-8)  # [H, W, C]
        for f, part in enumerate(np.split(std, num_features, axis=-1)):
            out[i, :, :, f] = part.mean()
    return out


@pytest.mark.parametrize("group_size,batch,num_features", [(0, 6, 1), (4, 8, 1), (4, 8, 2),
                                                           (0, 5, 2)])
def test_minibatch_stddev_against_numpy(group_size, batch, num_features):
    x = np.random.default_rng(group_size + batch).normal(size=(batch, 3, 3, 4)).astype("float32")
    x[::2] *= 3.0  # groups differ, so a wrong grouping shows
    out = MinibatchStdDev(group_size, num_features)(x).numpy()
    np.testing.assert_allclose(out[..., :4], x)
    np.testing.assert_allclose(out[..., 4:], _stddev_by_numpy(x, group_size, num_features),
                               rtol=1e-4)
    if group_size == 0:  # the whole batch: one value for everybody
        assert np.ptp(out[..., 4:], axis=0).max() < 1e-6


def test_mbstd_group_size_reaches_the_discriminator_and_checks_batches():
    from dcgan_tf.gan.assemble import build_gan, build_from_config, resolve_config
    from dcgan_tf.config import Config

    base = dict(model="pggan", resolution=8, channels=1, latent_dim=8, fmap_base=16,
                fmap_max=8, total_kimg=1.0, dry_run=True)
    whole = build_from_config(resolve_config(Config(**base, mbstd_group_size=0)))
    assert whole.discriminator.stddev.group_size == 0
    default = build_from_config(resolve_config(Config(**base)))
    assert default.discriminator.stddev.group_size == 4  # the paper's code
    with pytest.raises(UserError, match=r"Batch size 14 does not split into minibatch-stddev "
                                        r"groups of 4.*--mbstd_group_size=0"):
        build_gan(resolve_config(Config(**base, batch_size=16, resolution_batch_sizes="8:14")))
    build_gan(resolve_config(Config(**base, batch_size=14, mbstd_group_size=0)))


def test_layers_round_trip_through_a_keras_file(tmp_path):
    inp = keras.Input((4, 4, 3))
    x = EqualizedConv2D(4, 3)(inp)
    x = PixelNorm()(x)
    x = MinibatchStdDev(2, 1)(x)
    x = keras.layers.Flatten()(x)
    out = EqualizedDense(1, gain=1.0)(x)
    model = keras.Model(inp, out)
    data = np.random.default_rng(1).normal(size=(4, 4, 4, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded(data), model(data), rtol=1e-5, atol=1e-6)


def test_growth_schedule_phases():
    s = GrowthSchedule(start_resolution=4, final_resolution=16, fade_images=100,
                       stable_images=200, batch_size=8, batch_sizes=((16, 4),),
                       learning_rates=((16, 0.5),))
    assert (s.start_level, s.final_level) == (0, 2)
    assert s.phase(0) == (0, 1.0) and s.phase(199) == (0, 1.0)
    assert s.phase(200) == (1, 0.0) and s.phase(250) == (1, 0.5) and s.phase(300) == (1, 1.0)
    assert s.phase(499) == (1, 1.0) and s.phase(525) == (2, 0.25) and s.phase(10**6) == (2, 1.0)
    assert [s.level_start(level) for level in range(3)] == [0, 200, 500]
    assert float(s.alpha_tensor(525, 2)) == pytest.approx(0.25)
    assert float(s.alpha_tensor(10**6, 2)) == 1.0 and float(s.alpha_tensor(5, 0)) == 1.0
    assert (s.batch_size_at(1), s.batch_size_at(2)) == (8, 4)
    assert (s.learning_rates_at(0), s.learning_rates_at(2)) == ((1e-3, 1e-3), (0.5, 0.5))
    # each network keeps its own rate where the table has no entry
    own = GrowthSchedule(final_resolution=16, d_learning_rate=4e-4, g_learning_rate=1e-4,
                         learning_rates=((16, 0.5),))
    assert (own.learning_rates_at(1), own.learning_rates_at(2)) == ((4e-4, 1e-4), (0.5, 0.5))
    started_late = GrowthSchedule(start_resolution=8, final_resolution=16, fade_images=10,
                                  stable_images=10)
    assert started_late.phase(0) == (1, 1.0) and started_late.phase(15) == (2, 0.5)
    with pytest.raises(ValueError, match="power of two"):
        GrowthSchedule(final_resolution=24)


def test_growing_networks_fade_in_from_the_previous_level():
    pair = build_models("pggan", **SMALL)
    g, d = pair.generator, pair.discriminator
    n_vars = (len(g.trainable_variables), len(d.trainable_variables))
    z = tf.random.normal([8, 8], seed=1)  # a multiple of D's minibatch-stddev group (4)
    for level, size in enumerate((4, 8, 16)):
        g.set_level(level)
        d.set_level(level)
        images = g(z)
        assert images.shape == (8, size, size, 1) and images.dtype == tf.float32
        assert d(images).shape == (8, 1)
    assert (len(g.trainable_variables), len(d.trainable_variables)) == n_vars  # one structure
    g.set_alpha(0.0)
    d.set_alpha(0.0)
    grown = g.grow(z, 2)
    previous = g.upsample(g.grow(z, 1, fade=False))  # the old path, nearest-upsampled
    np.testing.assert_allclose(grown, previous, atol=1e-6)
    x = tf.random.normal([8, 16, 16, 1], seed=2)
    np.testing.assert_allclose(d.score(x, 2), d.score(d.downsample(x), 1, fade=False),
                               atol=1e-5)
    g.set_alpha(1.0)
    np.testing.assert_allclose(g.grow(z, 2), g.grow(z, 2, fade=False), atol=1e-6)
    final = g.final_model()  # what exports hold: full resolution at alpha 1, same weights
    np.testing.assert_allclose(final(z), g.grow(z, 2, fade=False), atol=1e-6)
    with pytest.raises(ValueError, match="pggan has no conditional form"):
        build_models("pggan", num_classes=10, **SMALL)


def _rows(path):
    return [json.loads(line) for line in open(path)]


@pytest.mark.slow
def test_every_phase_type_and_a_resume_in_the_middle_of_a_fade(tmp_path):
    """4x4 stable -> 8x8 fade -> 8x8 stable -> 16x16 fade, wgan_gp with drift: the logged
    resolution and alpha follow the schedule; a run stopped mid-fade and resumed logs the
    same alpha, counters and losses as one that never stopped."""
    from dcgan_tf.training import trainer
    from dcgan_tf.config import Config

    base = dict(data="digits", model="pggan", resolution=16, channels=1, latent_dim=8,
                fmap_base=64, fmap_max=16, loss="wgan_gp", drift=0.001, batch_size=16,
                g_beta1=0.0, d_beta1=0.0, g_beta2=0.99, d_beta2=0.99, ema_decay=0.9,
                fade_kimg=0.16, stable_kimg=0.16, log_every=1, checkpoint_every=1000,
                sample_every=1000, progress="none", seed=5, explode_factor=0, swd_every=25,
                swd_images=64)
    straight = trainer.run(Config(workdir=str(tmp_path / "a"), total_kimg=0.8, **base))
    rows = _rows(tmp_path / "a" / "metrics.jsonl")
    by_images = {r["images_seen"]: r for r in rows}
    assert [by_images[n]["resolution"] for n in (16, 160, 176, 336, 496, 512)] == \
        [4.0, 4.0, 8.0, 8.0, 16.0, 16.0]
    # alpha during the 8x8 fade-in: (images shown before the step - 160) / 160
    assert by_images[176]["alpha"] == pytest.approx(0.0)
    assert by_images[240]["alpha"] == pytest.approx(64 / 160)
    assert by_images[336]["alpha"] == 1.0 and by_images[496]["alpha"] == pytest.approx(0.0)
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["gp"]) for r in rows)
    assert straight.step == 50
    evaluations = _rows(tmp_path / "a" / "evaluation.jsonl")  # SWD during training
    assert [r["step"] for r in evaluations] == [25, 50]
    assert all(r["swd"]["16"] > 0 and r["swd"]["mean"] == r["swd"]["16"] for r in evaluations)

    # stop at 0.24 kimg (in the 8x8 fade), resume into the 8x8 stable phase (0.4 kimg)
    trainer.run(Config(workdir=str(tmp_path / "b"), total_kimg=0.24, **base))
    resumed = trainer.run(Config(workdir=str(tmp_path / "b"), total_kimg=0.4, **base))
    assert resumed.step == 25
    again = {r["images_seen"]: r for r in _rows(tmp_path / "b" / "metrics.jsonl")}
    for n in (256, 272, 320, 336, 400):
        assert again[n]["alpha"] == pytest.approx(by_images[n]["alpha"])
        assert again[n]["resolution"] == by_images[n]["resolution"]
        for key in ("d_loss", "g_loss", "gp"):
            assert again[n][key] == pytest.approx(by_images[n][key], rel=1e-4, abs=1e-6), (n, key)
    # exported: the final-resolution EMA generator with the usual signature
    info = json.loads((tmp_path / "a" / "export" / "export.json").read_text())
    assert info["weights"] == "ema" and info["image_shape"] == [16, 16, 1]
    loaded = tf.saved_model.load(str(tmp_path / "a" / "export"))
    out = loaded.signatures["sample"](num=tf.constant(3), seed=tf.constant(1, tf.int64))
    assert out["images"].shape == (3, 16, 16, 1) and out["images"].dtype == tf.uint8
    # the checkpoint holds every level's layers, the EMA copy's too: an export made later
    # from the workdir draws what the trainer's own export draws
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator, export_workdir

    first = LoadedGenerator(str(tmp_path / "a" / "export"))
    later = LoadedGenerator(export_workdir(str(tmp_path / "a"), str(tmp_path / "a_again")))
    z = first.z_for_seeds(range(4))
    np.testing.assert_array_equal(later.images(z), first.images(z))


@pytest.mark.parametrize("loss,policy", [("wgan_gp", "mixed_float16"), ("lsgan", "float32")])
def test_one_fade_step_per_loss_and_under_mixed_precision(loss, policy):
    """The GPU path in small form: fp16 compute, loss-scaled optimizers, the gradient
    penalty through the scale; and LSGAN, the paper's other loss."""
    from conftest import compile_with

    from dcgan_tf.gan.model import GAN

    keras.mixed_precision.set_global_policy(policy)
    pair = build_models("pggan", **SMALL, head="linear")
    gan = GAN(pair.generator, pair.discriminator, latent_dim=8, head="linear", seed=0)
    compile_with(gan, keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.99),
                 keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.99), loss=loss,
                 model="pggan", resolution=16, fade_kimg=1.0, stable_kimg=0.008,
                 drift=0.001 if loss == "wgan_gp" else 0.0)
    gan.growth.set_level(1)  # 8x8, in its fade-in (8 images into 1,000)
    gan.images_seen.assign(16)
    reals = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    logs = gan.fit(reals, batch_size=8, epochs=1, verbose=0).history
    assert logs["resolution"][-1] == 8.0 and logs["alpha"][-1] == pytest.approx(0.008)
    assert all(np.isfinite(v[-1]) for v in logs.values()), logs
    assert all(np.isfinite(w).all() for w in pair.generator.get_weights())
    if policy == "mixed_float16":
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        assert pair.generator.convs_a[0].compute_dtype == "float16"


def test_entering_a_level_resets_adam_and_sets_each_networks_learning_rate():
    """The trainer's level change: fresh Adam moments (as the paper), and the schedule's
    rates: D's and G's own where the table has no entry for the resolution."""
    from types import SimpleNamespace

    from dcgan_tf.training.segments import enter_level

    schedule = GrowthSchedule(final_resolution=16, d_learning_rate=4e-4, g_learning_rate=1e-4,
                              learning_rates=((16, 0.5),))
    levels = []
    growth = SimpleNamespace(schedule=schedule, set_level=levels.append)
    variables = [keras.Variable(np.ones(3, "float32"))]
    gan = SimpleNamespace(growth=growth, train_function="traced",
                          d_optimizer=keras.optimizers.Adam(1.0),
                          g_optimizer=keras.optimizers.Adam(1.0))
    for opt in (gan.d_optimizer, gan.g_optimizer):
        opt.build(variables)
        for v in opt.variables:
            v.assign(tf.ones(v.shape, v.dtype))
    enter_level(gan, 1)
    assert levels == [1] and gan.train_function is None
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-4)
    moments = [v for v in gan.d_optimizer.variables if "learning_rate" not in v.path]
    assert moments and all(not np.any(v.numpy()) for v in moments)
    enter_level(gan, 2)
    assert float(gan.d_optimizer.learning_rate) == float(gan.g_optimizer.learning_rate) == 0.5


def test_growing_model_needs_its_length_in_shown_images(tmp_path):
    from dcgan_tf.config import Config
    from dcgan_tf.training import trainer
    from dcgan_tf.utils.errors import UserError

    with pytest.raises(UserError, match="measures its length in shown images"):
        trainer.run(Config(workdir=str(tmp_path / "w"), model="pggan", train_steps=5))
    assert not (tmp_path / "w").exists()
