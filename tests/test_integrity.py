"""Damaged files and concurrent writers (issue 22, items 14 and 16): a checkpoint cut short
(a full disk, a killed copy), a truncated TFRecord, a half-written export or best.json, and
a second builder on one --out. Each is found, said in one line, and does no further harm:
a run resumes from the newest intact checkpoint and the rotation never deletes it."""

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import one_error_line, run_main
from dcgan_tf.artifacts.checkpoint import (MANIFEST_SUFFIX, RunCheckpoint, checkpoint_paths,
                                           read_best)
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.config import Config
from dcgan_tf.utils.errors import UserError

TINY = dict(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
            latent_dim=16, batch_size=16, sample_grid=4, log_every=1, seed=3)
DATA = "ckpt-{}.data-00000-of-00001"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run (checkpoints of steps 0, 2 and 4, and its export), copied by each test."""
    from dcgan_tf.training import trainer

    path = tmp_path_factory.mktemp("integrity") / "run"
    result = trainer.run(Config(**TINY, workdir=str(path), train_steps=4, checkpoint_every=2,
                                keep_checkpoints=3))
    assert result.status == "completed"
    return path


def copy_run(run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def cut(path, keep=1000):
    with open(path, "r+b") as f:
        f.truncate(keep)


def listed_steps(workdir):
    return [int(p.rsplit("-", 1)[1]) for p in checkpoint_paths(str(workdir / "checkpoints"))]


# ---------------------------------------------------------------------- 14. checkpoints


def test_every_kept_checkpoint_was_read_back_and_has_a_manifest(run):
    assert listed_steps(run) == [0, 2, 4]
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-4")
    for step in (0, 2, 4):
        sizes = json.loads((run / "checkpoints" / f"ckpt-{step}{MANIFEST_SUFFIX}").read_text())
        assert sizes["files"][DATA.format(step)] == os.path.getsize(
            run / "checkpoints" / DATA.format(step))


def test_a_cut_newest_checkpoint_is_skipped_in_one_line_and_the_run_resumes(run, tmp_path):
    workdir = copy_run(run, tmp_path)
    cut(workdir / "checkpoints" / DATA.format(4))
    code, out, err = run_main("dcgan_tf.train", f"--flagfile={workdir / 'flags.cfg'}",
                              f"--workdir={workdir}", "--train_steps=5", "--noexport")
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if "damaged" in line]
    assert len(warnings) == 1 and "ckpt-4" in warnings[0] and "1,000 of" in warnings[0], err
    assert "resuming from ckpt-2" in warnings[0]
    assert "from step 2" in out
    # the damaged one left the rotation (rewritten at step 4 by the resumed run)
    assert listed_steps(workdir) == [2, 4, 5]
    assert all(Workdir(str(workdir)).restore_networks(s)[2] == s for s in (2, 4, 5))


def test_with_every_checkpoint_damaged_the_trainer_refuses_in_one_line(run, tmp_path):
    workdir = copy_run(run, tmp_path)
    for step in (0, 2, 4):
        cut(workdir / "checkpoints" / DATA.format(step))
    before = sorted(os.listdir(workdir / "checkpoints"))
    code, out, err = run_main("dcgan_tf.train", f"--flagfile={workdir / 'flags.cfg'}",
                              f"--workdir={workdir}", "--train_steps=6")
    line = one_error_line(err, "dcgan_tf.train")
    assert code == 2 and "Every checkpoint" in line and "ckpt-0" in line, line
    assert sorted(os.listdir(workdir / "checkpoints")) == before  # nothing deleted


def test_the_rotation_never_deletes_the_last_intact_checkpoint(tmp_path):
    directory = str(tmp_path / "ck")
    v = tf.Variable([1.0, 2.0])
    warnings = []
    ckpt = RunCheckpoint(directory, {"v": v}, max_to_keep=2, warn=warnings.append)
    ckpt.save(1)
    v.assign([3.0, 4.0])
    ckpt.save(2)
    cut(os.path.join(directory, DATA.format(2)), 10)
    # resumed: the damaged newest is skipped (one line), the intact one restored
    v.assign([0.0, 0.0])
    ckpt = RunCheckpoint(directory, {"v": v}, max_to_keep=2, warn=warnings.append)
    assert ckpt.restore_latest().endswith("ckpt-1") and len(warnings) == 1
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    # the damaged one does not count among the kept two: step 1 stays
    ckpt.save(3)
    assert [int(p.rsplit("-", 1)[1]) for p in checkpoint_paths(directory)] == [1, 3]
    assert not os.path.exists(os.path.join(directory, DATA.format(2)))
    assert "Removed the damaged checkpoint" in warnings[1]

    # a write that does not read back (a full disk) is refused in one line, unlisted, and
    # displaces nothing, even with one checkpoint kept
    one = RunCheckpoint(str(tmp_path / "one"), {"v": v}, max_to_keep=1)
    one.save(1)
    real_write = one.checkpoint.write

    def short_write(prefix, **kw):
        path = real_write(prefix, **kw)
        cut(path + ".data-00000-of-00001", 5)
        return path

    one.checkpoint.write = short_write
    with pytest.raises(UserError, match="step 2 did not write whole.*the disk is full"):
        one.save(2)
    assert [os.path.basename(p) for p in checkpoint_paths(one.directory)] == ["ckpt-1"]
    assert sorted(os.listdir(one.directory)) == ["checkpoint", "ckpt-1.data-00000-of-00001",
                                                 "ckpt-1.index", "ckpt-1.manifest.json"]


def test_a_checkpoint_without_manifest_that_does_not_read_is_skipped(tmp_path):
    """Checkpoints written before manifests: a read error marks them damaged."""
    directory = str(tmp_path / "ck")
    v = tf.Variable([1.0, 2.0])
    ckpt = RunCheckpoint(directory, {"v": v}, max_to_keep=3, warn=lambda line: None)
    ckpt.save(1)
    ckpt.save(2)
    for step in (1, 2):
        os.remove(os.path.join(directory, f"ckpt-{step}{MANIFEST_SUFFIX}"))
    cut(os.path.join(directory, DATA.format(2)), 10)
    warnings = []
    again = RunCheckpoint(directory, {"v": v}, max_to_keep=2, warn=warnings.append)
    assert again.restore_latest().endswith("ckpt-1")
    assert len(warnings) == 1 and "ckpt-2" in warnings[0]
    again.save(3)  # the unreadable one does not count among the kept: step 1 stays
    assert [os.path.basename(p) for p in checkpoint_paths(directory)] == ["ckpt-1", "ckpt-3"]


def test_export_and_restore_networks_skip_a_damaged_newest_or_refuse_its_step(run, tmp_path):
    workdir = copy_run(run, tmp_path)
    cut(workdir / "checkpoints" / DATA.format(4))
    warnings = []
    _, _, step, _ = Workdir(str(workdir)).restore_networks(warn=warnings.append)
    assert step == 2 and len(warnings) == 1 and "step 4" in warnings[0]
    with pytest.raises(UserError, match=r"checkpoint of step 4 is damaged \(ckpt-4\.data"):
        Workdir(str(workdir)).restore_networks(4)
    code, out, err = run_main("dcgan_tf.export", f"--workdir={workdir}", "--step=4",
                              f"--out={tmp_path / 'e'}")
    assert code == 2 and "is damaged" in one_error_line(err, "dcgan_tf.export")
    assert not (tmp_path / "e").exists()


# ---------------------------------------------------------------------- 16. the same elsewhere


def test_a_half_written_best_json(run, tmp_path):
    workdir = copy_run(run, tmp_path)
    best = workdir / "best"
    v = tf.Variable([1.0])
    RunCheckpoint(str(tmp_path / "ck"), {"v": v}).write_best(str(best), 4, {"metric": "fd",
                                                                          "value": 1.5})
    assert read_best(str(best))["step"] == 4
    assert sorted(os.listdir(best)) == ["best.json", DATA.format(4), "ckpt-4.index",
                                        "ckpt-4.manifest.json"]
    cut(best / DATA.format(4), 3)
    with pytest.raises(UserError, match=r"best checkpoint is damaged \(ckpt-4.data"):
        Workdir(str(workdir)).restore_networks(best=True)
    text = (best / "best.json").read_text()
    (best / "best.json").write_text(text[: len(text) // 2])
    with pytest.raises(UserError, match="best.json is damaged"):
        read_best(str(best))
    warnings = []
    assert Workdir(str(workdir)).best_info(warn=warnings.append) is None  # the trainer's way
    assert len(warnings) == 1 and "best.json is damaged" in warnings[0]
    code, out, err = run_main("dcgan_tf.export", f"--workdir={workdir}", "--best",
                              f"--out={tmp_path / 'e'}")
    assert code == 2 and "best.json is damaged" in one_error_line(err, "dcgan_tf.export")


@pytest.mark.parametrize("damage", ["no export.json", "export.json cut", "variables cut"])
def test_a_half_written_export_is_one_line(run, tmp_path, damage):
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator

    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    if damage == "no export.json":
        os.remove(export / "export.json")
        match = "has no export.json: the export is incomplete"
    elif damage == "export.json cut":
        cut(export / "export.json", 30)
        match = "export.json is damaged"
    else:
        cut(export / "variables" / "variables.data-00000-of-00001", 2000)
        match = "SavedModel .* it is damaged"
    with pytest.raises(UserError, match=match):
        LoadedGenerator(str(export))
    if damage == "variables cut":  # the commands say it in one line
        code, out, err = run_main("dcgan_tf.generate", f"--model={export}",
                                  f"--out={tmp_path / 'g'}", "--num=2")
        assert code == 2 and "is damaged" in one_error_line(err, "dcgan_tf.generate")


def _records(tmp_path):
    """Two TFRecord shards of 20 digits each, with the builder's metadata.json."""
    from dcgan_tf.data.build import BuildOptions, build

    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "data"
    npz = tmp_path / "digits.npz"
    from dcgan_tf.data.digits import load_digits

    images = ((load_digits(16)[0][:40] + 1) * 127.5).round().astype(np.uint8)
    np.savez(npz, images=images)
    build(BuildOptions(source=str(npz), out=str(out), sizes=(16,), channels=1, num_shards=2,
                       format="png", workers=1), progress=False)
    return out


def test_a_truncated_tfrecord_is_named_in_one_line(tmp_path):
    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import open_source

    data = _records(tmp_path)
    assert open_source(str(data), Geometry(16, 1)).num_examples == 40
    shard = data / "train-00001-of-00002.tfrecord"
    whole = shard.read_bytes()
    shard.write_bytes(whole[: len(whole) // 2 + 7])  # mid-record
    with pytest.raises(UserError, match=r"train-00001-of-00002.tfrecord is damaged \(trunc"):
        open_source(str(data), Geometry(16, 1))
    os.remove(data / "metadata.json")  # foreign records: counted by reading them
    with pytest.raises(UserError, match=r"train-00001-of-00002.tfrecord is damaged"):
        open_source(str(data), Geometry(16, 1))
    one = tmp_path / "one.tfrecord"  # one file, cut inside its first record
    one.write_bytes(whole[:5])
    with pytest.raises(UserError, match=r"one.tfrecord is damaged"):
        open_source(str(one), Geometry(16, 1))

    # cut at a record boundary: the records read, but fewer than metadata.json lists
    data = _records(tmp_path / "b")
    shard = data / "train-00001-of-00002.tfrecord"
    first = [r.numpy() for r in tf.data.TFRecordDataset(str(shard)).take(5)]
    with tf.io.TFRecordWriter(str(shard)) as writer:
        for record in first:
            writer.write(record)
    with pytest.raises(UserError, match=r"train-00001-of-00002.tfrecord is cut short: 5 of "
                                        r"the 20 records"):
        open_source(str(data), Geometry(16, 1))
    code, out, err = run_main("dcgan_tf.train", f"--data={data}", "--model=dcgan64",
                              "--resolution=32", "--channels=1", "--ngf=8", "--ndf=8",
                              "--train_steps=1", "--batch_size=4",
                              f"--workdir={tmp_path / 'w'}")
    assert code == 2 and "is cut short" in one_error_line(err, "dcgan_tf.train")


def test_a_second_builder_on_one_out_refuses_in_one_line(tmp_path):
    from dcgan_tf.artifacts.lock import _start_time

    data = _records(tmp_path)
    assert not (data / "build.lock").exists()  # released after the build
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (data / "build.lock").write_text(json.dumps(
            {"pid": other.pid, "host": socket.gethostname(), "started": "now",
             "proc_start": _start_time(other.pid)}))
        before = sorted(os.listdir(data))
        code, out, err = run_main("dcgan_tf.data.build", f"--source={tmp_path / 'digits.npz'}",
                                  f"--out={data}", "--size=16", "--channels=1")
        line = one_error_line(err, "dcgan_tf.data.build")
        assert code == 2 and f"in use by another builder (pid {other.pid} on" in line, line
        assert sorted(os.listdir(data)) == before
    finally:
        other.kill()
        other.wait()
