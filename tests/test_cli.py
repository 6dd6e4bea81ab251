"""The command line: help next to every setting, help lists read from the registries, --help
without TensorFlow, the `dcgan-tf` dispatcher, shipped configs by name, the wheel."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import one_error_line, run_main
from dcgan_tf.config import Config
from dcgan_tf.data.options import BuildOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ["dcgan_tf.train", "dcgan_tf.data.build", "dcgan_tf.export", "dcgan_tf.generate",
         "dcgan_tf.report", "dcgan_tf.serve", "dcgan_tf.conditional_accuracy",
         "dcgan_tf.nearest", "dcgan_tf.evaluate", "dcgan_tf.project", "dcgan_tf.directions"]


def _python(*args, cwd=ROOT, env=None, timeout=120):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", **(env or {}))
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


# ---------------------------------------------------------------------- help texts


@pytest.mark.parametrize("cls", [Config, BuildOptions])
def test_every_setting_carries_its_help(cls):
    for field in dataclasses.fields(cls):
        text = field.metadata.get("help", "")
        assert text.strip().endswith((".", ")")) and len(text) >= 8, (field.name, text)


def test_help_lists_are_the_registries():
    """The names a help text lists are read from the registration calls without importing
    the registries' modules; they must equal the live registries."""
    from dcgan_tf.data.crops import CROPS
    from dcgan_tf.flags import REGISTRIES, choices
    from dcgan_tf.gan.losses import LOSSES
    from dcgan_tf.metrics.catalog import METRICS
    from dcgan_tf.models import MODELS
    from dcgan_tf.utils.cli import registered_names

    live = {"models": MODELS, "losses": LOSSES, "metrics": METRICS}
    assert set(REGISTRIES) == set(live)
    for kind, registry in live.items():
        assert registered_names(*REGISTRIES[kind]) == registry.names(), kind
        assert choices(kind) == ", ".join(registry.names())
    assert registered_names("dcgan_tf.data.crops", "CROPS.register") == CROPS.names()
    code, out, _ = run_main("dcgan_tf.train", "--help")
    assert code == 0 and f"--loss: The GAN loss: {', '.join(LOSSES.names())}" in " ".join(
        out.split())
    code, out, _ = run_main("dcgan_tf.data.build", "--help")
    assert code == 0 and "boxes, cat_face, center" in out


def test_evaluate_usage_describes_exactly_the_registered_metrics():
    """`python -m dcgan_tf.evaluate --help` opens with a table of one line per metric: a
    metric added to the registry needs its line there."""
    import re

    from dcgan_tf import evaluate
    from dcgan_tf.metrics.catalog import METRICS

    assert sorted(re.findall(r"^  (\w+) {2,}\S", evaluate.__doc__, re.M)) == METRICS.names()


# ---------------------------------------------------------------------- --help is fast


def test_help_of_every_tool_does_not_import_tensorflow():
    """--help and flag parsing come before TensorFlow (tens of seconds on a small machine):
    every tool's module and flags import without it."""
    script = (
        "import sys\n"
        "from absl import flags\n"
        f"for module in {TOOLS!r} + ['dcgan_tf.__main__']:\n"
        "    flags.FLAGS.unparse_flags()\n"
        "    try:\n"
        "        __import__(module, fromlist=['main']).main([module, '--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (module, e.code)\n"
        "    assert 'tensorflow' not in sys.modules, module\n"
        "print('ok')\n")
    proc = _python("-c", script)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


@pytest.mark.parametrize("args", [
    ["-m", "dcgan_tf.train", "--help"],
    ["-m", "dcgan_tf", "--help"],
    ["-m", "dcgan_tf", "build", "--help"],
    ["-m", "dcgan_tf", "train", "--config=digits", "--bad_flag"],
])
def test_the_real_commands_answer_without_tensorflow(args):
    proc = _python("-X", "importtime", *args)
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "dcgan_tf" in imported and not [m for m in imported if m.startswith("tensorflow")]
    if "--bad_flag" in args:
        assert proc.returncode == 2 and "Unknown command line flag 'bad_flag'" in proc.stderr
    else:
        assert proc.returncode == 0 and "--" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.slow
def test_a_real_run_still_hides_tensorflows_start_up_lines(tmp_path):
    proc = _python("-m", "dcgan_tf", "train", "--config=digits", "--train_steps=0",
                   f"--workdir={tmp_path}")  # fails Config.validate after TensorFlow loaded
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "dcgan-tf train")


@pytest.mark.slow
def test_output_into_a_closed_pipe_ends_quietly():
    """`dcgan-tf train ... --dry_run | head -1`: the reader goes away after one line; the
    tool stops without a BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "dcgan_tf", "train", "--config=digits",
                             "--dry_run"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "{"
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


# ---------------------------------------------------------------------- dcgan-tf


def test_dispatcher_lists_every_command_and_runs_them():
    from dcgan_tf.__main__ import COMMANDS

    assert sorted(module for module, _ in COMMANDS.values()) == sorted(TOOLS)
    code, out, err = run_main("dcgan_tf.__main__", "--help")
    assert code == 0 and not err
    for name, (_, summary) in COMMANDS.items():
        assert f"  {name}" in out and summary in out
    code, out, err = run_main("dcgan_tf.__main__", "conditional-accuracy", "--help")
    assert code == 0 and "--per_class" in out, err
    code, out, err = run_main("dcgan_tf.__main__", "build", "--help")
    assert code == 0 and "--crop" in out and "--size" in out, err


def test_dispatcher_unknown_command_is_one_line_with_a_suggestion():
    code, out, err = run_main("dcgan_tf.__main__", "genrate", "--num=3")
    line = one_error_line(err, "dcgan-tf")
    assert code == 2 and "Unknown command 'genrate'" in line
    assert "Did you mean 'generate'" in line
    code, out, err = run_main("dcgan_tf.__main__")
    assert code == 2 and "Commands:" in err


def test_a_subcommand_error_names_the_subcommand():
    code, _, err = run_main("dcgan_tf.__main__", "train", "--confg=digits")
    assert code == 2 and "Unknown command line flag 'confg'" in one_error_line(err, "dcgan-tf train")


def test_console_script_is_declared():
    import configparser

    setup = configparser.ConfigParser()
    setup.read(os.path.join(ROOT, "setup.cfg"))
    scripts = setup["options.entry_points"]["console_scripts"]
    assert "dcgan-tf = dcgan_tf.__main__:main" in scripts
    assert "tensorboard" in setup["options"]["install_requires"]


# ---------------------------------------------------------------------- --config


def test_config_by_name_equals_the_repository_flagfile(capsys):
    """--config=NAME reads the shipped file, nested configs included, exactly as
    --flagfile=configs/NAME.cfg reads it in the repository; flags after it override it."""
    from absl import flags as absl_flags

    from dcgan_tf.flags import config_from_flags, define_flags, expand_config

    assert os.path.realpath(os.path.join(ROOT, "configs")) == os.path.realpath(
        os.path.join(ROOT, "dcgan_tf", "configs"))
    define_flags()
    fv = absl_flags.FLAGS
    configs = {}
    try:
        for argv in (["t", "--flagfile=configs/cat64_small_data.cfg", "--train_steps=7"],
                     ["t", "--config=cat64_small_data", "--train_steps=7"],
                     ["t", "--config", os.path.join(ROOT, "configs", "cat64_small_data.cfg"),
                      "--train_steps=7"]):
            fv.unparse_flags()
            cwd = os.getcwd()
            os.chdir(ROOT if "--flagfile" in argv[1] else "/")
            try:
                fv(expand_config(argv))
            finally:
                os.chdir(cwd)
            configs[argv[1]] = config_from_flags(fv, argv[1:])
    finally:
        fv.unparse_flags()
    first, *others = configs.values()
    assert first.train_steps == 7 and first.epochs == 0 and first.diffaugment == "translation"
    assert first.load_size == 256  # from cat64.cfg, the nested config
    assert all(other == first for other in others)


def test_unknown_config_is_one_line():
    code, _, err = run_main("dcgan_tf.train", "--config=nope", "--dry_run")
    line = one_error_line(err, "dcgan_tf.train")
    assert code == 2 and "not a shipped config" in line and "digits" in line


@pytest.mark.slow
def test_wheel_ships_the_configs_and_runs_the_default_by_name(tmp_path):
    """A wheel built from the repository holds the configs and `python -m dcgan_tf train
    --config=digits` resolves from another working directory."""
    source = tmp_path / "src"  # a copy, so that the build leaves no build/ in the repository
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    shutil.copytree(os.path.join(ROOT, "dcgan_tf"), source / "dcgan_tf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    proc = _python("-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                   "-w", str(tmp_path / "dist"), cwd=source, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("dcgan_tf-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "dcgan-tf = dcgan_tf.__main__:main" in archive.read(entry_points).decode()
        archive.extractall(tmp_path / "site")
    shipped = {n for n in os.listdir(os.path.join(ROOT, "configs")) if n.endswith(".cfg")}
    assert {"digits.cfg", "cat64.cfg", "small_data.cfg"} <= shipped
    assert {f"dcgan_tf/configs/{n}" for n in shipped} <= names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _python("-m", "dcgan_tf", "train", "--config=digits", "--dry_run", cwd=elsewhere,
                   env={"PYTHONPATH": str(tmp_path / "site")}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"data": "digits"' in proc.stdout and "trainable parameters" in proc.stdout
    assert str(tmp_path / "site") in _python(
        "-c", "import dcgan_tf; print(dcgan_tf.__file__)", cwd=elsewhere,
        env={"PYTHONPATH": str(tmp_path / "site")}).stdout
