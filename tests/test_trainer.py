"""The trainer: workdir contents, resume that restores everything, signals, divergence,
and bad input, through the library (`trainer.run`) and, for exit codes, the CLI."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import one_error_line, run_main
from dcgan_tf.training import trainer
from dcgan_tf.config import Config
from dcgan_tf.utils.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = dict(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
            latent_dim=16, batch_size=16, sample_grid=4, log_every=1, seed=3)


def tiny(workdir, **overrides):
    return Config(**{**TINY, "workdir": str(workdir), **overrides})


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def train_main(*args):
    """`python -m dcgan_tf.train ARGS` in this process (no TensorFlow start-up per call):
    (exit code, stdout, stderr). Config paths are made absolute."""
    args = [a.replace("--flagfile=configs/", f"--flagfile={ROOT}/configs/") for a in args]
    return run_main("dcgan_tf.train", *args)


def cli(*args, timeout=300, **popen):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "dcgan_tf.train", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env, **popen)


def test_dry_run_prints_config_and_parameter_counts(capsys):
    result = trainer.run(Config(model="mnist28", loss="bce", dry_run=True, epochs=1))
    out = capsys.readouterr().out
    assert result.status == "dry_run"
    assert '"model": "mnist28"' in out and '"d_head": "sigmoid"' in out
    assert "mnist28_generator: 2,169,473 trainable parameters" in out
    assert "mnist28_discriminator: 1,713,025 trainable parameters" in out
    assert "FusedBatchNormalization" in out

    # tools/ measure the fused layer against Keras' own through this door, not a patch
    trainer.run(Config(model="mnist28", dry_run=True, epochs=1), plain_batchnorm=True)
    out = capsys.readouterr().out
    assert "BatchNormalization" in out and "FusedBatchNormalization" not in out
    assert "mnist28_generator: 2,169,473 trainable parameters" in out


@pytest.mark.slow
def test_a_run_records_everything_and_exports(tmp_path):
    cfg = tiny(tmp_path / "run", train_steps=6, checkpoint_every=3, sample_every=3)
    result = trainer.run(cfg)
    assert result.status == "completed" and result.step == 6
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"] == "dcgan64" and saved["d_head"] == "sigmoid"  # resolved default
    # flags.cfg is a flagfile that reproduces the same Config
    code, out, err = train_main(f"--flagfile={run / 'flags.cfg'}", "--dry_run")
    assert code == 0, err
    printed = json.loads(out[: out.index("\n}\n") + 2])
    assert Config.from_dict(printed) == Config.from_dict(saved).replace(dry_run=True)
    ckpts = tf.train.get_checkpoint_state(str(run / "checkpoints"))
    assert ckpts.model_checkpoint_path.endswith("ckpt-6")
    tiles = sorted(os.listdir(run / "samples"))
    assert tiles == ["real_batch.png", "step_00000003.png", "step_00000006.png"]
    real = tf.io.decode_png(tf.io.read_file(str(run / "samples" / "real_batch.png"))).numpy()
    assert real.shape == (4 * 32 + 5 * 2, 4 * 32 + 5 * 2, 1)
    # the animation has one frame per saved tile; the loss plot is a PNG
    from PIL import Image
    gif = Image.open(run / "progress.gif")
    assert gif.n_frames == 2 and gif.size == (138, 138 + 16)  # the tile and its "step N" band
    assert Image.open(run / "losses.png").format == "PNG"
    png = tf.io.decode_png(tf.io.read_file(str(run / "samples" / tiles[-1]))).numpy()
    assert png.shape == (4 * 32 + 5 * 2, 4 * 32 + 5 * 2, 1)
    lines = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_fake_after", "d_lr", "g_lr"} <= set(lines[0])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake_after",
            "train/g_lr", "train/d_lr", "train/d_grad_norm", "train/g_grad_norm",
            "train/img_per_s", "samples/fixed_noise"} <= tags
    assert [e.step for e in events.Tensors("train/g_loss")] == [1, 2, 3, 4, 5, 6]
    loaded = tf.saved_model.load(str(run / "export"))
    out = loaded.signatures["serving_default"](z=tf.zeros([3, 16]))
    assert out["images"].dtype == tf.uint8 and out["images"].shape == (3, 32, 32, 1)
    assert not [f for f in os.listdir(run) if ".tmp-" in f]  # nothing half-written left
    # re-running a finished run changes nothing and says so
    again = trainer.run(cfg)
    assert again.status == "already_complete" and again.step == 6
    # the settings in TensorBoard's HParams dashboard, written once (not by the re-run)
    from test_first_hour_c import hparams_sessions

    sessions = hparams_sessions(run / "tensorboard")
    assert len(sessions) == 1 and sessions[0]["train_steps"] == 6
    assert sessions[0]["resolution"] == 32  # the resolved Config


def _state(workdir):
    """Everything a resume must restore, read back from the newest checkpoint."""
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}


@pytest.mark.slow
def test_resume_matches_an_uninterrupted_run(tmp_path):
    # 1797 digits / 16 = 112 steps per epoch: 5 + 5 steps stay inside epoch 0, and a
    # mid-epoch resume is the hard case (data position, RNG state, optimizer moments).
    common = dict(checkpoint_every=5, label_flip=0.1, instance_noise=0.05)
    straight = tiny(tmp_path / "a", train_steps=10, **common)
    trainer.run(straight)
    trainer.run(tiny(tmp_path / "b", train_steps=5, **common))
    resumed = trainer.run(tiny(tmp_path / "b", train_steps=10, **common))
    assert resumed.status == "completed" and resumed.step == 10

    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    assert set(a) == set(b)
    for opt in ("d_optimizer", "g_optimizer"):  # both optimizers' Adam moments and counts
        assert len([k for k in a if k.startswith(f"{opt}/_variables/")]) > 10
        assert a[f"{opt}/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 10
    assert a["step/.ATTRIBUTES/VARIABLE_VALUE"] == 10
    for key in a:
        if key.startswith("_CHECKPOINTABLE_OBJECT_GRAPH"):
            continue
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)
    la, lb = read_jsonl(tmp_path / "a" / "metrics.jsonl"), read_jsonl(tmp_path / "b" / "metrics.jsonl")
    after = lambda rows: [r for r in rows if r["step"] > 5]
    for ra, rb in zip(after(la), after(lb), strict=True):
        for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_fake_after"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-5), (ra["step"], key)


def _wait_for(path, timeout=240):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.2)
    return False


def _cli_args(workdir, steps):
    return ["-m", "dcgan_tf.train", "--data=digits", "--model=dcgan64", "--resolution=32",
            "--channels=1", "--ngf=8", "--ndf=8", "--latent_dim=16", "--batch_size=16",
            "--log_every=1", "--sample_grid=4", f"--train_steps={steps}",
            "--checkpoint_every=20", f"--workdir={workdir}"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_save_then_exit_cleanly(tmp_path, sig):
    workdir = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, *_cli_args(workdir, 100000)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(workdir / "metrics.jsonl"), "training never started"
        time.sleep(1.0)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err  # saved, then 130 / 143 as shells expect
    assert "Traceback" not in err
    assert f"Stopped by {signal.Signals(sig).name} at step" in out
    assert "To resume, run the same command: python -m dcgan_tf.train " in out
    step = int(out.split("at step ")[1].split(";")[0])
    assert step > 0
    ckpt = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    assert ckpt.endswith(f"ckpt-{step}")


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_resumable_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, *_cli_args(workdir, 100000)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(workdir / "metrics.jsonl")
        # kill while checkpoints are being written every 20 steps
        deadline = time.time() + 120
        while time.time() < deadline:
            state = tf.train.get_checkpoint_state(str(workdir / "checkpoints"))
            if state and len(state.all_model_checkpoint_paths) >= 2:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    killed_at = int(tf.train.latest_checkpoint(str(workdir / "checkpoints")).split("-")[-1])
    result = trainer.run(tiny(workdir, train_steps=killed_at + 3, checkpoint_every=20))
    assert result.status == "completed" and result.step == killed_at + 3


def test_checkpoint_refuses_non_finite_values(tmp_path):
    from dcgan_tf.artifacts.checkpoint import RunCheckpoint

    v = tf.Variable([1.0, 2.0])
    ckpt = RunCheckpoint(str(tmp_path), {"v": v})
    assert ckpt.save(1) is not None
    v.assign([1.0, np.nan])
    assert ckpt.save(2) is None
    assert ckpt.latest.endswith("ckpt-1")
    assert ckpt.restore_latest().endswith("ckpt-1")
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


def _health_fixture(tmp_path, **kwargs):
    from dcgan_tf.artifacts.checkpoint import RunCheckpoint
    from dcgan_tf.gan.assemble import build_gan, resolve_config
    from dcgan_tf.training.health import HealthCheck

    gan = build_gan(resolve_config(tiny(tmp_path, train_steps=1)))
    ckpt = RunCheckpoint(str(tmp_path / "ck"), gan.checkpoint_items())
    ckpt.save(0)
    health = HealthCheck(ckpt.restore_latest, **kwargs)
    health.set_model(gan)
    return gan, health


def test_health_check_restores_and_retries_with_lower_learning_rates(tmp_path, capsys):
    gan, health = _health_fixture(tmp_path, on_divergence="retry", max_retries=1, lr_backoff=0.5)
    good = [w.copy() for w in gan.discriminator.get_weights()]
    gan.step.assign(7)
    gan.discriminator.weights[0].assign(gan.discriminator.weights[0] * np.nan)
    gan._last["g_loss"].assign(float("nan"))
    health.on_train_batch_end(0, {})
    err = capsys.readouterr().err
    assert "g_loss became nan" in err and "retry 1 of 1" in err
    assert health.retries == 1 and not gan.stop_training and health.diverged is None
    assert int(gan.step.numpy()) == 0  # back to the checkpoint
    for w, g in zip(gan.discriminator.get_weights(), good):
        np.testing.assert_array_equal(w, g)
    assert float(gan.d_optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    assert float(gan.g_optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    # the next divergence exceeds max_retries: stop with one clear message
    gan._last["d_loss"].assign(float("inf"))
    health.on_train_batch_end(1, {})
    assert gan.stop_training and "Training diverged at step" in health.diverged


def test_health_check_warns_once_when_d_wins_outright(tmp_path, capsys):
    gan, health = _health_fixture(tmp_path, span=3, d_win_threshold=0.05)
    gan._last["d_real"].assign(0.999)
    gan._last["d_fake"].assign(0.001)
    for i in range(6):
        health.on_train_batch_end(i, {})
    err = capsys.readouterr().err
    assert err.count("discriminator has won outright for 3 steps") == 1
    assert "--label_flip" in err and not gan.stop_training


@pytest.mark.slow
def test_non_finite_data_stops_with_exit_1_and_no_bad_checkpoint(tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (64, 32, 32, 1)).astype(np.float32)
    images[:] = np.nan
    np.savez(tmp_path / "bad.npz", images=images)
    workdir = tmp_path / "run"
    proc = cli(f"--data={tmp_path / 'bad.npz'}", "--nocache", "--model=dcgan64",
               "--resolution=32", "--channels=1", "--ngf=8", "--ndf=8", "--batch_size=16",
               "--train_steps=20", f"--workdir={workdir}")
    assert proc.returncode == 1, proc.stderr
    assert "Training diverged at step 1: d_loss became nan" in proc.stderr
    assert "Traceback" not in proc.stderr
    state = tf.train.get_checkpoint_state(str(workdir / "checkpoints"))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-0"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--bogus=1"], "Unknown command line flag 'bogus'"),
        (["--flagfile=configs/nope.cfg"], "Unable to open flagfile"),
        (["--model=dcgan65", "--epochs=1"], "Unknown model 'dcgan65'. Expected one of"),
        (["--loss=wgan", "--epochs=1"], "Unknown loss 'wgan'"),
        (["--loss=wgan_gp", "--d_head=softmax2", "--epochs=1"], "does not fit loss 'wgan_gp'"),
        (["--mixed_precision=fp8", "--epochs=1"], "Unknown --mixed_precision 'fp8'"),
        (["--epochs=1", "--train_steps=5"], "Set exactly one of --train_steps"),
        (["--epochs=1", "--batch_size=0"], "--batch_size must be a positive integer"),
        (["--epochs=1", "--batch_size=5000"], "larger than the dataset (1797 images"),
        (["--epochs=1", "--resolution=48"], "cannot make resolution 48"),
        (["--epochs=1", "--data=/no/such/folder"], "does not exist"),
        (["--epochs=1", "--data=tfds:mnist", "--model=mnist28"], "cannot reach the internet"),
        (["--epochs=1", "--g_depths=1,x,3,4", "--model=faces96"], "must be integers"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    code, out, err = train_main(f"--workdir={tmp_path / 'w'}", *args)
    assert code == 2, (out, err)
    assert message in one_error_line(err, "dcgan_tf.train")
    assert not (tmp_path / "w" / "checkpoints").exists()


@pytest.mark.slow
def test_workdir_of_other_networks_is_refused_untouched(tmp_path):
    workdir = tmp_path / "run"
    trainer.run(tiny(workdir, train_steps=2))
    before = {p: os.path.getmtime(workdir / p) for p in ("config.json", "flags.cfg")}
    with pytest.raises(UserError, match=r"holds a run of different networks \(ngf: 8 there, 16 now\)"):
        trainer.run(tiny(workdir, train_steps=4, ngf=16))
    assert before == {p: os.path.getmtime(workdir / p) for p in before}
    code, _, err = train_main(f"--workdir={workdir}", "--data=digits", "--resolution=32",
                              "--channels=1", "--ngf=16", "--ndf=8", "--latent_dim=16",
                              "--train_steps=4")
    assert code == 2 and "different networks" in one_error_line(err, "dcgan_tf.train")


@pytest.mark.parametrize("name", sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "configs"))
                                        if f.endswith(".cfg")))
def test_every_config_resolves_and_builds(name, capsys):
    proc_args = [f"--flagfile=configs/{name}.cfg", "--dry_run"]
    if name == "small_data":  # a recipe of flags only: applied after a full config
        proc_args.insert(0, "--flagfile=configs/digits.cfg")
    code, out, err = train_main(*proc_args)
    assert code == 0, err
    assert "trainable parameters" in out
    if "small_data" in name:
        resolved = json.loads(out[: out.index("\n}\n") + 2])
        assert resolved["diffaugment"] == "translation"
        assert resolved["ema_decay"] == 0.999


def test_interval_never_misses_a_boundary():
    from dcgan_tf.training.callbacks import Interval

    every5 = Interval(5)
    seen = [s for s in (2, 4, 6, 8, 10, 12, 14, 15, 16) if every5.due(s)]
    assert seen == [6, 10, 15]
    resumed = Interval(5)  # a resumed run starting exactly on a boundary
    assert [s for s in (10, 11, 15) if resumed.due(s)] == [10, 15]


@pytest.mark.slow
def test_fp16_xla_and_steps_per_execution_through_the_trainer(tmp_path):
    cfg = tiny(tmp_path / "run", train_steps=6, mixed_precision="fp16", jit_compile=True,
               steps_per_execution=2, checkpoint_every=3, sample_every=3, log_every=3)
    result = trainer.run(cfg)
    assert result.status == "completed" and result.step == 6
    assert sorted(os.listdir(tmp_path / "run" / "samples")) == \
        ["real_batch.png", "step_00000004.png", "step_00000006.png"]  # crossed at 4 and 6
    state = _state(tmp_path / "run")
    for opt in ("d_optimizer", "g_optimizer"):  # loss scales and inner Adam are checkpointed
        assert 1.0 <= state[f"{opt}/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"] <= 2.0**15
        assert 1 <= state[f"{opt}/inner_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] <= 6
        assert len([k for k in state if k.startswith(f"{opt}/inner_optimizer/_variables/")]) > 10
    loaded = tf.saved_model.load(str(tmp_path / "run" / "export"))
    fn = loaded.signatures["serving_default"]
    assert fn.structured_input_signature[1]["z"].dtype == tf.float32
    images = fn(z=tf.random.normal([2, 16]))["images"]
    assert images.dtype == tf.uint8 and images.shape == (2, 32, 32, 1)


@pytest.mark.slow
def test_cat64_and_faces96_configs_train_on_user_data(tmp_path):
    from test_pipeline import _images, _jpeg, _png

    photos = tmp_path / "cat"
    photos.mkdir()
    for i, im in enumerate(_images(6, size=300)):
        (photos / f"IMG_{i}.png").write_bytes(_png(im))
    # a length on the command line replaces the flagfile's --epochs=400
    code, _, err = train_main("--flagfile=configs/cat64.cfg", f"--data={photos}",
                              "--train_steps=2", f"--workdir={tmp_path / 'cat_run'}",
                              "--progress=none")
    assert code == 0, err[-2000:]
    assert (tmp_path / "cat_run" / "export" / "saved_model.pb").exists()

    faces = tmp_path / "faces"
    faces.mkdir()
    with tf.io.TFRecordWriter(str(faces / "faces.tfrecord")) as w:
        for im in _images(8, size=112):
            ex = tf.train.Example(features=tf.train.Features(feature={
                "image_raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_jpeg(im)]))}))
            w.write(ex.SerializeToString())
    code, _, err = train_main("--flagfile=configs/faces96.cfg", f"--data={faces}",
                              "--train_steps=1", "--batch_size=4",
                              f"--workdir={tmp_path / 'faces_run'}", "--progress=none")
    assert code == 0, err[-2000:]
    saved = json.loads((tmp_path / "faces_run" / "config.json").read_text())
    assert saved["d_head"] == "softmax2" and saved["latent"] == "uniform"


def test_offline_mnist_config_fails_with_one_sentence(tmp_path):
    proc = cli("--flagfile=configs/mnist28.cfg", f"--workdir={tmp_path / 'w'}")
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "needs a download" in lines[0]
    assert "--tfds_data_dir" in lines[0]
