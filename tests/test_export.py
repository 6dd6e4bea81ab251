"""Exports load anywhere: plain tf.saved_model.load in a process without dcgan_tf,
keras.layers.TFSMLayer, and .keras files; `python -m dcgan_tf.export` and its errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import SMALL, run_without_dcgan_tf

from dcgan_tf.artifacts.saved_generator import export_generator, export_workdir
from dcgan_tf.models.latent import get_latent
from dcgan_tf.models import build_models
from dcgan_tf.utils.tiles import to_uint8

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def exported(tmp_path):
    pair = build_models("dcgan64", **SMALL["dcgan64"], latent_dim=16)
    path = str(tmp_path / "export")
    export_generator(pair.generator, 16, path, latent="uniform",
                     discriminator=pair.discriminator, extra_info={"step": 3})
    return pair, path


def test_saved_model_in_a_process_that_never_imports_dcgan_tf(exported, tmp_path):
    pair, path = exported
    z = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({path!r})\n"
        f"out = m.signatures['serving_default'](z=tf.constant(np.load({str(tmp_path / 'z.npy')!r})))\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, out['images'].numpy())\n"
        "s = m.signatures['sample'](num=tf.constant(4), seed=tf.constant(11, tf.int64))\n"
        f"np.save({str(tmp_path / 's.npy')!r}, s['images'].numpy())\n"
        f"np.save({str(tmp_path / 'sz.npy')!r}, s['z'].numpy())\n"
        "import keras\n"  # the Keras file too (Keras' own BatchNorm in it, not ours)
        f"g = keras.saving.load_model({os.path.join(path, 'generator.keras')!r})\n"
        f"np.save({str(tmp_path / 'k.npy')!r}, g(np.load({str(tmp_path / 'z.npy')!r})).numpy())\n"
    )
    run_without_dcgan_tf(script, tmp_path)
    out = np.load(tmp_path / "out.npy")
    assert out.dtype == np.uint8 and out.shape == (5, 32, 32, 1)
    np.testing.assert_allclose(np.load(tmp_path / "k.npy"),
                               pair.generator(z, training=False).numpy(), atol=1e-5)
    np.testing.assert_array_equal(out, to_uint8(pair.generator(z, training=False).numpy()))
    # sample(num, seed) draws z exactly like dcgan_tf.models.latent with that integer seed
    z_expected = get_latent("uniform").sample((4, 16), 11).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "sz.npy"), z_expected, atol=1e-6)
    np.testing.assert_array_equal(
        np.load(tmp_path / "s.npy"), to_uint8(pair.generator(z_expected, training=False).numpy()))


def test_tfsmlayer_and_keras_files(exported):
    pair, path = exported
    z = np.random.default_rng(1).normal(size=(3, 16)).astype(np.float32)
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    out = layer(z)
    images = out["images"] if isinstance(out, dict) else out
    np.testing.assert_array_equal(np.asarray(images),
                                  to_uint8(pair.generator(z, training=False).numpy()))
    gen = keras.saving.load_model(os.path.join(path, "generator.keras"))
    disc = keras.saving.load_model(os.path.join(path, "discriminator.keras"))
    fake = pair.generator(z, training=False)
    np.testing.assert_allclose(gen(z, training=False), fake, atol=1e-6)
    np.testing.assert_allclose(disc(fake, training=False),
                               pair.discriminator(fake, training=False), atol=1e-6)
    info = json.loads(open(os.path.join(path, "export.json")).read())
    assert info["latent_dim"] == 16 and info["latent"] == "uniform" and info["step"] == 3
    assert info["image_shape"] == [32, 32, 1]
    assert set(info["signatures"]) == {"serving_default", "sample"}
    assert not [f for f in os.listdir(os.path.dirname(path)) if ".tmp-" in f]


@pytest.mark.slow
def test_export_command_on_a_workdir(tmp_path):
    from dcgan_tf.training import trainer
    from dcgan_tf.config import Config
    from dcgan_tf.utils.errors import UserError

    workdir = tmp_path / "run"
    trainer.run(Config(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                       latent_dim=16, batch_size=16, train_steps=4, checkpoint_every=2,
                       workdir=str(workdir), export=False))
    path = export_workdir(str(workdir), str(tmp_path / "e2"), step=2)
    assert json.loads(open(os.path.join(path, "export.json")).read())["step"] == 2
    with pytest.raises(UserError, match=r"no checkpoint of step 3; it has \[0, 2, 4\]"):
        export_workdir(str(workdir), str(tmp_path / "e3"), step=3)
    assert not (tmp_path / "e3").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        export_workdir(str(workdir), str(blocker / "export"))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run = lambda *a: subprocess.run([sys.executable, "-m", "dcgan_tf.export", *a], cwd=ROOT,
                                    env=env, capture_output=True, text=True, timeout=300)
    ok = run(f"--workdir={workdir}")
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    assert tf.saved_model.load(str(workdir / "export")).signatures["serving_default"]
    # the error contract of the same command, in this process (no TensorFlow start-up each)
    from conftest import one_error_line, run_main

    for args, message in [((f"--workdir={tmp_path}",), "holds no training run"),
                          ((f"--workdir={workdir}", "--step=99"), "no checkpoint of step 99"),
                          ((), "--workdir is required"),
                          (("--bogus",), "Unknown command line flag 'bogus'"),
                          # a virtual file system: refused by the permission check, or (as
                          # root) by TensorFlow's own write, in one line either way
                          ((f"--workdir={workdir}", "--out=/proc/dcgan_tf_export"),
                           "/proc/dcgan_tf_export")]:
        code, _, err = run_main("dcgan_tf.export", *args)
        assert code == 2 and message in one_error_line(err, "dcgan_tf.export"), err


def test_export_prefers_the_ema_generator_when_the_checkpoint_has_one(tmp_path):
    """Runs with generator EMA (small-data issue) store it under `ema_generator`; the export
    must take those weights. Simulated: a checkpoint whose EMA copy has other weights."""
    from dcgan_tf.training import trainer
    from dcgan_tf.config import Config
    from dcgan_tf.gan.assemble import build_from_config, resolve_config
    from dcgan_tf.gan.ema import EMA_KEY
    from dcgan_tf.gan.model import network_items

    workdir = tmp_path / "run"
    config = Config(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                    latent_dim=16, batch_size=16, train_steps=2, checkpoint_every=2,
                    workdir=str(workdir), export=False)
    trainer.run(config)
    raw = export_workdir(str(workdir), str(tmp_path / "raw"))
    assert json.load(open(os.path.join(raw, "export.json")))["weights"] == "raw"
    pair = build_from_config(resolve_config(config))
    ema = pair.generator
    for v in ema.trainable_variables:
        v.assign(v * 0.5)
    other = build_from_config(resolve_config(config))
    ckpt = tf.train.Checkpoint(**network_items(other.generator, other.discriminator),
                               **{EMA_KEY: ema})
    tf.train.CheckpointManager(ckpt, str(workdir / "checkpoints"), 100).save(checkpoint_number=9)
    path = export_workdir(str(workdir), str(tmp_path / "ema"), step=9)
    assert json.load(open(os.path.join(path, "export.json")))["weights"] == "ema"
    z = tf.random.normal([2, 16])
    served = tf.saved_model.load(path).signatures["serving_default"](z=z)["images"].numpy()
    expected = np.clip(np.round((ema(z, training=False).numpy() + 1) * 127.5), 0, 255)
    np.testing.assert_allclose(served, expected, atol=1)


def test_each_run_folder_format_is_named_in_one_module():
    """Every file name of a run folder, the checkpoint keys and the checkpoint index parser
    live in one module (which writes and reads them); the others ask that module."""
    package = os.path.join(ROOT, "dcgan_tf")
    homes = {'"best.json"': "artifacts/checkpoint.py",
             "get_checkpoint_state": "artifacts/checkpoint.py",
             '"export.json"': "artifacts/saved_generator.py",
             '"saved_model.pb"': "artifacts/saved_generator.py",
             '"config.json"': "artifacts/workdir.py", '"flags.cfg"': "artifacts/workdir.py",
             '"classes.json"': "artifacts/workdir.py", '"metrics.jsonl"': "artifacts/workdir.py",
             '"evaluation.jsonl"': "artifacts/workdir.py",
             '"real_batch.png"': "artifacts/workdir.py", "step_{": "artifacts/workdir.py",
             '"generator":': "gan/model.py", '"ema_generator"': "gan/ema.py",
             '"init_from.json"': "artifacts/workdir.py",
             '"generator.keras"': "artifacts/saved_generator.py",
             '"generator.onnx"': "artifacts/runtimes.py",
             '"MODEL_CARD.md"': "artifacts/model_card.py",
             '"model.json"': "artifacts/web_page.py",
             '"directions.npz"': "artifacts/latent_directions.py",
             '"nearest.json"': "metrics/memorisation.py"}
    for needle, home in homes.items():
        where = [os.path.relpath(os.path.join(folder, name), package)
                 for folder, _, names in os.walk(package) for name in names
                 if name.endswith(".py")
                 and needle in open(os.path.join(folder, name), encoding="utf-8").read()]
        assert where == [home], (needle, where)
