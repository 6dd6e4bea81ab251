"""Fine-tuning (issue 23, part 4): --init_from copies a trained run's (or export's) networks
into a new run, --freeze_d=N keeps D's first N blocks fixed (FreezeD), resume stays exact and
never re-applies --init_from, and a model that does not fit is one line naming the variable.
One tiny source run (3 steps, exported) serves every test."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import SMALL, one_error_line, run_main
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.config import Config
from dcgan_tf.gan.assemble import build_gan, resolve_config
from dcgan_tf.models import build_models
from dcgan_tf.models.blocks import discriminator_blocks
from dcgan_tf.training import trainer
from dcgan_tf.training.init_from import start_from
from dcgan_tf.utils.errors import UserError

TINY = dict(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
            latent_dim=16, batch_size=8, sample_grid=2, log_every=1, seed=3, progress="none",
            ema_decay=0.9, sample_every=1000, checkpoint_every=2, keep_checkpoints=10,
            export=False)


def tiny(workdir, **overrides):
    return Config(**{**TINY, "workdir": str(workdir), **overrides})


def _weights(model) -> dict:
    return {v.path: v.numpy() for v in model.weights}


def _state(workdir, step):
    """Every value of the run's checkpoint of `step`."""
    reader = tf.train.load_checkpoint(Workdir(str(workdir)).checkpoint_steps()[step])
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if not k.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A 3-step source run with an EMA copy and its export."""
    path = tmp_path_factory.mktemp("finetune") / "source"
    trainer.run(tiny(path, train_steps=3, export=True))
    return path


@pytest.fixture(scope="module")
def finetuned(source):
    """4 steps from the source with D's first 2 blocks frozen (checkpoints at 0, 2, 4)."""
    path = source.parent / "finetuned"
    trainer.run(tiny(path, train_steps=4, init_from=str(source), freeze_d=2, seed=5))
    return path


def _started(config):
    """A new run's GAN after start_from (what the trainer does before training)."""
    config = resolve_config(config.validate())
    gan = build_gan(config)
    config, record = start_from(config, gan, Workdir(config.workdir), None)
    return gan, record


def test_init_from_a_run_copies_raw_g_d_and_the_ema_copy(source, tmp_path):
    gan, record = _started(tiny(tmp_path / "new", train_steps=1, init_from=str(source)))
    raw_g, d, step, kind = Workdir(str(source)).restore_networks(prefer_ema=False)
    ema_g, *_ = Workdir(str(source)).restore_networks(prefer_ema=True)
    assert kind == "raw" and step == 3
    for theirs, ours in ((raw_g, gan.generator), (d, gan.discriminator),
                         (ema_g, gan.ema.generator)):
        a, b = _weights(theirs), _weights(ours)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(_weights(raw_g)["project/kernel"],
                              _weights(ema_g)["project/kernel"])  # the two kinds differ
    assert record == {**record, "source_kind": "run", "step": 3, "g_weights": "raw",
                      "ema_weights": "ema", "d_weights": "checkpoint"}
    assert int(gan.step.numpy()) == 0 and int(gan.d_optimizer.iterations.numpy()) == 0


def test_init_from_an_export_copies_its_keras_files(source, tmp_path):
    import keras

    gan, record = _started(tiny(tmp_path / "new", train_steps=1,
                                init_from=str(source / "export")))
    exported = keras.saving.load_model(str(source / "export" / "generator.keras"))
    a, b = exported.get_weights(), gan.generator.get_weights()
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    disc = keras.saving.load_model(str(source / "export" / "discriminator.keras"))
    a, b = disc.get_weights(), gan.discriminator.get_weights()
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert record["source_kind"] == "export" and record["g_weights"] == "ema"
    assert record["d_weights"] == "export"


def test_frozen_blocks_stay_bit_identical_and_the_rest_trains(source, finetuned):
    record = Workdir(str(finetuned)).init_record()
    assert record["path"] == str(source) and record["step"] == 3
    assert json.load(open(finetuned / "config.json"))["init_from"] == str(source)
    start = Workdir(str(source)).restore_networks(prefer_ema=False)[1]
    end = Workdir(str(finetuned)).restore_networks(prefer_ema=False)[1]
    a, b = _weights(start), _weights(end)
    frozen = ["down0/kernel", "down1/kernel", "down1_bn/gamma", "down1_bn/beta"]
    for key in frozen:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for key in ("down2/kernel", "down2_bn/gamma", "logits/kernel"):
        assert not np.array_equal(a[key], b[key]), key
    # BatchNorm statistics of a frozen block follow the new batches (module doc of blocks)
    assert not np.array_equal(a["down1_bn/moving_mean"], b["down1_bn/moving_mean"])
    # the optimizer holds no slots for the frozen variables; step 0 is the source's D
    state0 = _state(finetuned, 0)
    assert state0["d_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 0
    trainable = len(end.trainable_variables)
    slots = [k for k in state0 if k.startswith("d_optimizer/_variables/")]
    assert len(slots) == 2 * (trainable - len(frozen))


def test_model_card_of_a_finetuned_run_names_its_start(source, finetuned, tmp_path):
    from dcgan_tf.artifacts.model_card import CARD_FILE, write_model_card

    generator = Workdir(str(finetuned)).restore_networks()[0]
    write_model_card(str(tmp_path), {"latent_dim": 16, "step": 4}, generator,
                     workdir=str(finetuned))
    card = (tmp_path / CARD_FILE).read_text()
    assert (f"- Fine-tuned from `{source}` (step 3, its raw G weights, D checkpoint), "
            "D's first 2 blocks frozen") in card, card


def test_resume_of_a_finetuned_run_is_exact_and_does_not_reapply(source, finetuned, tmp_path,
                                                                 capsys):
    other = source / "export"  # a resume that re-applied would take its EMA generator
    path = tmp_path / "resumed"
    trainer.run(tiny(path, train_steps=2, init_from=str(source), freeze_d=2, seed=5))
    capsys.readouterr()
    result = trainer.run(tiny(path, train_steps=4, init_from=str(other), freeze_d=2, seed=5))
    assert result.status == "completed" and result.step == 4
    assert "is not applied" in capsys.readouterr().out
    assert json.load(open(path / "config.json"))["init_from"] == str(source)
    a, b = _state(finetuned, 4), _state(path, 4)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)
    with pytest.raises(UserError, match="resume with --freeze_d=2"):
        trainer.run(tiny(path, train_steps=6, freeze_d=1, seed=5))


@pytest.mark.parametrize("flags, needle", [
    (["--ndf=16"], "discriminator variable 0: down0/kernel [4, 4, 1, 8] there, "
                   "down0/kernel [4, 4, 1, 16] here"),
    (["--latent_dim=8"], "generator variable 0: project/kernel [4, 4, 32, 16] there, "
                         "project/kernel [4, 4, 32, 8] here"),
    (["--num_classes=10"], "is unconditional and this run is conditional on 10 classes"),
    (["--freeze_d=4"], "--freeze_d=4: dcgan64's discriminator has 3 blocks here (down0, "
                       "down1, down2); use 0-3."),
])
def test_what_does_not_fit_is_one_line_before_training(source, tmp_path, flags, needle):
    workdir = tmp_path / "bad"
    base = {"--ndf": "8", "--latent_dim": "16"}
    for flag in flags:
        base.pop(flag.split("=")[0], None)
    code, out, err = run_main(
        "dcgan_tf.train", "--data=digits", "--model=dcgan64", "--resolution=32",
        "--channels=1", "--ngf=8", *[f"{k}={v}" for k, v in base.items()], "--batch_size=8",
        "--train_steps=1", f"--init_from={source}", f"--workdir={workdir}", *flags)
    assert code == 2 and needle in one_error_line(err, "dcgan_tf.train"), err
    assert not os.path.exists(workdir / "checkpoints")


def test_init_from_a_file_says_it_is_a_file(tmp_path):
    model = tmp_path / "generator.keras"  # what a user may pass instead of its folder
    model.write_bytes(b"not a folder")
    code, out, err = run_main(
        "dcgan_tf.train", "--data=digits", "--model=dcgan64", "--resolution=32",
        "--channels=1", "--ngf=8", "--ndf=8", "--batch_size=8", "--train_steps=1",
        f"--init_from={model}", f"--workdir={tmp_path / 'run'}")
    assert code == 2
    assert "is a file; give the folder of a run or of an export" in one_error_line(
        err, "dcgan_tf.train"), err
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_every_family_names_its_discriminator_blocks():
    counts = {"dcgan64": 3, "mnist28": 3, "faces96": 4, "pggan": 2}
    for name, options in SMALL.items():
        pair = build_models(name, **options)
        blocks = discriminator_blocks(name, pair.discriminator)
        assert len(blocks) == counts[name], (name, [b.name for b in blocks])
        assert all(block.variables for block in blocks), name
        ids = [id(v) for block in blocks for v in block.variables]
        assert len(ids) == len(set(ids)) < len(pair.discriminator.trainable_variables), name
    conditional = build_models("dcgan64", num_classes=3, **SMALL["dcgan64"])
    assert [b.name for b in discriminator_blocks("dcgan64", conditional.discriminator)] == [
        "down0", "down1", "down2"]


def test_a_growing_run_is_read_through_its_whole_training_state(tmp_path):
    """pggan keeps its per-level layers in Keras lists; the checkpoint holds each by name
    (models/pggan.py), so --init_from reads every level, frozen blocks included."""
    from dcgan_tf.artifacts.checkpoint import RunCheckpoint

    config = resolve_config(Config(model="pggan", **SMALL["pggan"], latent_dim=16,
                                   batch_size=8, total_kimg=1.0, freeze_d=1,
                                   workdir=str(tmp_path / "source")).validate())
    source = build_gan(config)
    for v in source.generator.trainable_variables + source.discriminator.trainable_variables:
        v.assign(v + 0.5)  # unlike any fresh build
    assert "d_frozen" in source.checkpoint_items()
    assert len(source.d_variables) == len(source.discriminator.trainable_variables) - 6
    wd = Workdir(config.workdir)
    os.makedirs(wd.path)
    wd.write_config(config)
    RunCheckpoint(wd.checkpoint_dir, source.checkpoint_items()).save(7)
    gan, record = _started(config.replace(workdir=str(tmp_path / "new"),
                                          init_from=wd.path))
    assert record["step"] == 7
    for theirs, ours in ((source.generator, gan.generator),
                         (source.discriminator, gan.discriminator)):
        for a, b in zip(theirs.trainable_variables, ours.trainable_variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
