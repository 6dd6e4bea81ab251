"""tf.distribute: the same update on two replicas as on one device, two workers that train,
checkpoint, are killed and resume, and the errors a user can cause."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import pytest
import tensorflow as tf

from dcgan_tf.config import Config
from dcgan_tf.training.distribute import WorkerRole, check_batch, make_strategy
from dcgan_tf.utils.errors import UserError
from dcgan_tf.gan.assemble import build_from_config
from dcgan_tf.artifacts.workdir import resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


@pytest.mark.slow
def test_two_mirrored_replicas_make_the_one_device_update():
    """MirroredStrategy over two logical CPUs, synchronised BatchNorm, EMA kept: the weights
    after one step equal one device's on the same global batch and noise, the logged losses
    and gradient norms are the whole batch's, and each replica draws its own z."""
    fields = {"ema_decay": 0.9, "loss": "hinge"}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "helpers",
                                                        "mirrored_step.py"), json.dumps(fields)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["step"] == 1
    assert report["max_update"] > 1e-3  # the step changed the weights...
    assert report["max_difference"] < 1e-5  # ...and by the same amount on both set-ups
    for name, value in report["one_device_logs"].items():
        assert report["mirrored_logs"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    assert report["z_replicas_differ"]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _workers(workdir, steps, ports):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(len(ports)):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster,
                                              "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dcgan_tf.train", "--strategy=multi_worker", "--data=digits",
             "--model=dcgan64", "--resolution=32", "--channels=1", "--ngf=4", "--ndf=4",
             "--latent_dim=8", "--batch_size=8", "--log_every=1", "--sample_grid=2",
             "--sample_every=1000", f"--train_steps={steps}", "--checkpoint_every=2",
             "--progress=none", f"--workdir={workdir}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


@pytest.mark.slow
def test_two_workers_train_checkpoint_are_killed_and_resume(tmp_path):
    workdir = tmp_path / "run"
    procs = _workers(workdir, 100000, _free_ports(2))
    try:
        deadline = time.time() + 240
        latest = None
        while time.time() < deadline and not (latest and not latest.endswith("ckpt-0")):
            assert all(p.poll() is None for p in procs), procs[0].communicate()[1][-2000:]
            latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
            time.sleep(0.2)
        assert latest and not latest.endswith("ckpt-0"), "no checkpoint after training began"
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.communicate(timeout=60)
    killed_at = int(tf.train.latest_checkpoint(str(workdir / "checkpoints")).split("-")[-1])
    assert killed_at >= 2

    procs = _workers(workdir, killed_at + 2, _free_ports(2))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        assert f"from step {killed_at}" in out
    assert "this process is the chief" in outs[0][0] and "worker-1" in outs[1][0]
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith(
        f"ckpt-{killed_at + 2}")
    lines = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    steps = [line["step"] for line in lines]
    assert steps[-2:] == [killed_at + 1, killed_at + 2]
    assert steps.count(killed_at + 2) == 1  # one writer: the other worker wrote to scratch
    # the chief's export (written after the strategy's scope): SavedModel and Keras files
    images = tf.saved_model.load(str(workdir / "export")).signatures["serving_default"](
        z=tf.zeros([2, 8]))["images"]
    assert images.shape == (2, 32, 32, 1)
    import keras

    plain = keras.saving.load_model(str(workdir / "export" / "generator.keras"))
    assert "FusedBatchNormalization" not in {type(l).__name__ for l in plain.layers}


def test_strategy_errors_are_one_line(monkeypatch):
    with pytest.raises(UserError, match="Unknown --strategy 'gpu'"):
        Config(strategy="gpu", workdir="w", train_steps=1).validate()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="TF_CONFIG must be JSON"):
        make_strategy("multi_worker")


def test_global_batch_must_split_over_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

    check_batch(TwoReplicas(), 64)
    with pytest.raises(UserError, match="multiple of 2"):
        check_batch(TwoReplicas(), 7)


def test_only_the_chief_writes_the_workdir(tmp_path):
    assert WorkerRole.of(tf.distribute.get_strategy()).chief
    other = WorkerRole(False, "worker-1")
    scratch = other.write_path(str(tmp_path))
    assert scratch != str(tmp_path) and os.path.isdir(scratch)
    other.cleanup()
    assert not os.path.exists(scratch)
    assert WorkerRole(True).write_path(str(tmp_path)) == str(tmp_path)


def test_sync_batchnorm_flag_reaches_every_batchnorm():
    config = Config(model="dcgan64", resolution=32, channels=1, ngf=4, ndf=4,
                    sync_batchnorm=True, workdir="w", train_steps=1)
    pair = build_from_config(resolve(config.validate()))
    norms = [layer for model in (pair.generator, pair.discriminator)
             for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.synchronized for layer in norms)
