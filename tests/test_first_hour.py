"""Issue 22, a new user's first hour: `~` and $VARS in path flags, the exit code of an
interrupted run, progress on stderr without colour codes, the report of a short run, and
one trainer per workdir."""

import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from absl import flags as absl_flags

from conftest import one_error_line, run_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# every tool's flag-defining function (module, function)
TOOL_FLAGS = {"dcgan_tf.flags": "define_flags", "dcgan_tf.data.build": "define_build_flags",
              "dcgan_tf.export": "define_export_flags",
              "dcgan_tf.generate": "define_generate_flags",
              "dcgan_tf.report": "define_report_flags", "dcgan_tf.serve": "define_serve_flags",
              "dcgan_tf.conditional_accuracy": "define_accuracy_flags",
              "dcgan_tf.nearest": "define_nearest_flags",
              "dcgan_tf.evaluate": "define_evaluate_flags",
              "dcgan_tf.project": "define_project_flags"}
ANSI = re.compile(r"\x1b\[")


# ---------------------------------------------------------------------- 2. ~ and $VARS


def _define_every_tools_flags():
    for module, function in TOOL_FLAGS.items():
        getattr(importlib.import_module(module), function)()


def test_every_path_flag_of_every_tool_expands_home_and_variables(monkeypatch, tmp_path):
    from dcgan_tf.flags import config_from_flags
    from dcgan_tf.utils.cli import PATH_FLAGS, PathParser

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RUNS", "/srv/runs")
    _define_every_tools_flags()
    defined = {f.name: f for f in absl_flags.FLAGS.get_flags_for_module("dcgan_tf.utils.cli")}
    # a string flag whose help speaks of a folder or file is a path flag
    for name, flag in defined.items():
        if flag.flag_type() == "string" and re.search(r"folder|file|path|\bdir\b", flag.help,
                                                      re.I):
            assert name in PATH_FLAGS, f"--{name} names a path but is not in PATH_FLAGS"
    for name in PATH_FLAGS:
        assert isinstance(defined[name].parser, PathParser), name
    absl_flags.FLAGS.unparse_flags()
    try:
        absl_flags.FLAGS(["t", "--workdir=~/runs/d", "--data=${RUNS}/photos",
                          "--features=classifier:~/c.keras", "--tfds_data_dir=~",
                          "--inception_weights=$RUNS/w.h5", "--source=~/p", "--out=~/o",
                          "--fake=~/f", "--boxes=~/b.csv"])
        config = config_from_flags(absl_flags.FLAGS, [])
        home = str(tmp_path)
        assert config.workdir == f"{home}/runs/d" and config.data == "/srv/runs/photos"
        assert config.features == f"classifier:{home}/c.keras"
        assert config.tfds_data_dir == home and config.inception_weights == "/srv/runs/w.h5"
        flags = absl_flags.FLAGS
        assert (flags.source, flags.out, flags.fake, flags.boxes) == (
            f"{home}/p", f"{home}/o", f"{home}/f", f"{home}/b.csv")
        absl_flags.FLAGS.unparse_flags()
        # values that are not paths pass unchanged
        absl_flags.FLAGS(["t", "--data=tfds:mnist", "--features=inception", "--model=dcgan64",
                          "--workdir=$NO_SUCH_VARIABLE_22/r"])
        assert (flags.data, flags.features, flags.model) == ("tfds:mnist", "inception",
                                                             "dcgan64")
        assert flags.workdir == "$NO_SUCH_VARIABLE_22/r"  # shown as written in its error
    finally:
        absl_flags.FLAGS.unparse_flags()


def test_builder_source_with_tilde_is_expanded(monkeypatch, tmp_path):
    """README's `--source=~/...` (bash does not expand ~ after =) reaches the builder as
    the home folder's path."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "photos").mkdir()
    code, out, err = run_main("dcgan_tf.data.build", "--source=~/photos", "--out=~/data")
    line = one_error_line(err, "dcgan_tf.data.build")
    assert code == 2 and f"'{tmp_path}/photos' is empty" in line, line


def test_config_and_flagfile_paths_expand(monkeypatch, tmp_path):
    from dcgan_tf.flags import expand_config

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CFGS", str(tmp_path))
    (tmp_path / "mine.cfg").write_text("--train_steps=7\n")
    assert expand_config(["t", "--config=~/mine.cfg"]) == ["t", "--train_steps=7"]
    assert expand_config(["t", "--config=$CFGS/mine.cfg"]) == ["t", "--train_steps=7"]
    from dcgan_tf.flags import define_flags
    from dcgan_tf.utils.cli import parse_flags_or_fail

    define_flags()
    absl_flags.FLAGS.unparse_flags()
    try:
        parse_flags_or_fail("t", ["t", "--flagfile=$CFGS/mine.cfg"])
        assert absl_flags.FLAGS.train_steps == 7
    finally:
        absl_flags.FLAGS.unparse_flags()


# ---------------------------------------------------------------------- 8, 11: stopped, short runs

TINY_ARGS = ["--data=digits", "--model=dcgan64", "--resolution=32", "--channels=1", "--ngf=8",
             "--ndf=8", "--latent_dim=16", "--batch_size=16", "--sample_grid=4", "--noexport"]


def _signal_when(path, sig, timeout=120):
    """Sends `sig` to this process once `path` exists (training has begun)."""
    import threading

    def send():
        end = time.time() + timeout
        while not os.path.exists(path) and time.time() < end:
            time.sleep(0.05)
        if os.path.exists(path):  # never into a later test when this run failed early
            os.kill(os.getpid(), sig)

    threading.Thread(target=send, daemon=True).start()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_saves_says_how_to_resume_and_exits_128_plus_signal(tmp_path, sig):
    workdir = tmp_path / "run"
    _signal_when(workdir / "metrics.jsonl", sig)
    code, out, err = run_main("dcgan_tf.train", *TINY_ARGS, "--log_every=1",
                              "--train_steps=100000", f"--workdir={workdir}")
    assert code == 128 + sig, (code, out, err[-2000:])  # 130 for Ctrl-C, 143 for SIGTERM
    lines = [line for line in out.splitlines() if line.startswith("Stopped by")]
    assert len(lines) == 1, out
    step = int(lines[0].split("at step ")[1].split(";")[0])
    assert lines[0].endswith(f"checkpoint saved. To resume, run the same command: python -m "
                             f"dcgan_tf.train {' '.join(TINY_ARGS)} --log_every=1 "
                             f"--train_steps=100000 --workdir={workdir}"), lines[0]
    import tensorflow as tf

    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith(f"ckpt-{step}")
    assert not (workdir / "trainer.lock").exists()  # released


def test_resume_command_quotes_what_a_shell_would_split():
    from dcgan_tf.train import resume_command

    assert resume_command(["x/train.py", "--workdir=my runs/d", "--config=digits"]) == \
        "python -m dcgan_tf.train '--workdir=my runs/d' --config=digits"
    assert resume_command(["dcgan-tf train", "--workdir=r"]) == "dcgan-tf train --workdir=r"


def test_a_run_shorter_than_log_every_logs_its_last_step_and_writes_its_report(tmp_path):
    from dcgan_tf.config import Config
    from dcgan_tf.training import trainer

    workdir = tmp_path / "short"
    config = Config(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                    latent_dim=16, batch_size=16, sample_grid=4, workdir=str(workdir),
                    train_steps=3, log_every=50, sample_every=50, export=False)
    import io

    out = io.StringIO()
    assert trainer.run(config, out=out).status == "completed"
    with open(workdir / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert [r["step"] for r in rows] == [3] and isinstance(rows[0]["d_loss"], float)
    assert (workdir / "losses.png").exists() and (workdir / "progress.gif").exists()
    assert "No report" not in out.getvalue()


def test_report_writes_what_a_run_has(tmp_path):
    """Tiles but no metrics yet: the animation is written, not refused."""
    from dcgan_tf.artifacts.run_report import write_report
    from dcgan_tf.utils.tiles import write_tile
    import numpy as np

    (tmp_path / "samples").mkdir()
    write_tile(str(tmp_path / "samples" / "step_00000001.png"),
               np.zeros((4, 8, 8, 1), np.float32), rows=2, cols=2)
    written = write_report(str(tmp_path))
    assert written and written[0].endswith("progress.gif")
    assert not (tmp_path / "losses.png").exists()


# ---------------------------------------------------------------------- 15. one trainer per workdir


def _lock_of(pid, host=None):
    from dcgan_tf.artifacts.lock import _start_time

    return json.dumps({"pid": pid, "host": host or socket.gethostname(),
                       "started": "2026-12-02 04:00:00 UTC", "proc_start": _start_time(pid)})


def test_a_second_trainer_on_a_busy_workdir_refuses_at_once(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (workdir / "trainer.lock").write_text(_lock_of(other.pid))
        code, out, err = run_main("dcgan_tf.train", *TINY_ARGS, "--train_steps=5",
                                  f"--workdir={workdir}")
        line = one_error_line(err, "dcgan_tf.train")
        assert code == 2 and f"in use by another trainer (pid {other.pid} on " in line, line
        assert os.listdir(workdir) == ["trainer.lock"]  # nothing read or written
    finally:
        other.kill()
        other.wait()


def test_workdir_lock_is_atomic_exclusive_released_and_taken_over_when_stale(tmp_path):
    from dcgan_tf.artifacts.workdir import Workdir
    from dcgan_tf.utils.errors import UserError

    wd = Workdir(str(tmp_path / "new"))
    lock = wd.lock()
    held = json.loads(open(wd.lock_path).read())
    assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
    with pytest.raises(UserError, match=f"pid {os.getpid()} on"):
        wd.lock()  # a second run, even in this process
    assert sorted(os.listdir(wd.path)) == ["trainer.lock"]  # no temporary left
    lock.release()
    assert not os.path.exists(wd.path)  # the folder the lock made, empty again

    # a dead process's lock on this host is taken over, with one warning line
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    os.makedirs(wd.path)
    with open(wd.lock_path, "w") as f:
        f.write(_lock_of(dead.pid))
    warnings = []
    lock = wd.lock(warn=warnings.append)
    assert len(warnings) == 1 and f"pid {dead.pid}" in warnings[0] and "no longer" in warnings[0]
    assert json.loads(open(wd.lock_path).read())["pid"] == os.getpid()
    lock.release()
    assert os.listdir(wd.path) == []  # the folder existed before: kept

    # an unreadable lock: being written (fresh: refused) or left over (old: taken over)
    with open(wd.lock_path, "w") as f:
        f.write("")
    with pytest.raises(UserError, match="in use by another trainer"):
        wd.lock()
    os.utime(wd.lock_path, (time.time() - 60, time.time() - 60))
    warnings.clear()
    wd.lock(warn=warnings.append).release()
    assert len(warnings) == 1 and "(unreadable)" in warnings[0]

    # another host's lock is never guessed about
    with open(wd.lock_path, "w") as f:
        f.write(_lock_of(1, host="elsewhere.example"))
    with pytest.raises(UserError, match="pid 1 on elsewhere.example.*delete .*trainer.lock"):
        wd.lock()


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    workdir = tmp_path / "bad"
    code, _, err = run_main("dcgan_tf.train", *TINY_ARGS, "--train_steps=5",
                            f"--data={tmp_path}/no_such_folder", f"--workdir={workdir}")
    assert code == 2 and "does not exist" in one_error_line(err, "dcgan_tf.train")
    assert not workdir.exists()  # the data failed after the lock: lock and folder gone


# ---------------------------------------------------------------------- 9. progress on stderr


def test_progress_line_is_plain_on_a_log_and_redrawn_on_a_terminal():
    import io

    from dcgan_tf.utils.progress import Progress

    log = io.StringIO()
    bar = Progress(3, "Building", unit="files", out=log, delay=0, log_seconds=0)
    for i in (1, 2, 3):
        bar.update(i, f"{i} skipped")
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("Building 1/3 files 33% | 0:00 elapsed, ETA ")
    assert lines[-1].startswith("Building 3/3 files 100% | ")
    assert lines[-1].endswith("ETA 0:00 | 3 skipped")
    assert "\r" not in log.getvalue() and not ANSI.search(log.getvalue())
    tty = io.StringIO()
    bar = Progress(2, "Work", out=tty, interactive=True, delay=0, refresh=0)
    bar.update(1)
    bar.update(2)
    bar.close()
    assert tty.getvalue().count("\r") == 3 and tty.getvalue().endswith("\n")
    assert not ANSI.search(tty.getvalue())
    quiet = io.StringIO()
    bar = Progress(2, "Quick", out=quiet)  # done within the 1 s delay: says nothing
    bar.update(2)
    bar.close()
    assert quiet.getvalue() == ""


def test_builder_prints_only_its_summary_on_stdout(tmp_path):
    from PIL import Image

    src = tmp_path / "photos"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 40), (i * 60, 0, 0)).save(src / f"{i}.png")
    code, out, err = run_main("dcgan_tf.data.build", f"--source={src}",
                              f"--out={tmp_path / 'data'}", "--size=32")
    assert code == 0, err
    assert out.splitlines() == [out.strip()] and out.startswith("Found 3 files: wrote 3")
    assert not ANSI.search(out + err)


def test_nearest_keeps_stdout_for_its_result(tmp_path):
    from dcgan_tf.artifacts.saved_generator import export_generator
    from dcgan_tf.models import build_models

    pair = build_models("dcgan64", resolution=32, channels=1, ngf=8, ndf=8)
    export = export_generator(pair.generator, pair.latent_dim, str(tmp_path / "export"))
    code, out, err = run_main("dcgan_tf.nearest", f"--model={export}", "--data=digits",
                              f"--out={tmp_path / 'near'}", "--num=300")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("median nearest-training distance: samples")
    assert all(line.startswith("Wrote ") for line in lines[1:]) and len(lines) == 3, out
    assert not ANSI.search(out + err) and "\x08" not in out + err


def test_classifier_training_shows_its_progress_on_stderr_only(tmp_path):
    import io

    import keras
    import numpy as np

    from dcgan_tf.utils.progress import fit_progress

    log = io.StringIO()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 2), np.float32), np.array([0, 1] * 4)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0,
              callbacks=[fit_progress("Training", 2, 2, out=log, delay=0, log_seconds=0)])
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("Training 1/4 steps 25% | ") and "epoch 1/2 loss " in lines[0]
    assert lines[-1].startswith("Training 4/4 steps 100% | ") and "epoch 2/2" in lines[-1]
    assert "accuracy " in lines[-1] and not ANSI.search(log.getvalue())

    # the command: its result alone on stdout (Keras' bar wrote to stdout before)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "l.npz", images=rng.integers(0, 255, (40, 16, 16, 1), np.uint8),
             labels=np.arange(40) % 2)
    code, out, err = run_main("dcgan_tf.evaluate", "train-classifier",
                              f"--data={tmp_path / 'l.npz'}", f"--out={tmp_path / 'c.keras'}",
                              "--classifier_epochs=1", "--classifier_resolution=16")
    assert code == 0, err
    assert out.startswith("Holdout accuracy ") and len(out.splitlines()) == 1, out
    assert not ANSI.search(out + err)


def test_workdir_lock_without_hard_links(tmp_path, monkeypatch):
    from dcgan_tf.artifacts.workdir import Workdir
    from dcgan_tf.utils.errors import UserError

    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    wd = Workdir(str(tmp_path / "w"))
    lock = wd.lock()
    assert json.loads(open(wd.lock_path).read())["pid"] == os.getpid()
    with pytest.raises(UserError, match="in use by another trainer"):
        wd.lock()
    lock.release()
    assert not os.path.exists(wd.path)
