"""The package's structure and the defects a new user hit: help for every tool, unwritable
outputs, a text file as data, length overrides, builder crops reaching the model unchanged,
divergence the guard used to miss, the run-wide progress line, no import cycles."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from conftest import one_error_line, run_main
from dcgan_tf.config import Config
from dcgan_tf.utils.errors import DivergenceError, UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "dcgan_tf")
TINY = dict(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
            latent_dim=16, batch_size=16, sample_grid=4, log_every=1, seed=3)
ENTRY_POINTS = ["dcgan_tf.train", "dcgan_tf.data.build", "dcgan_tf.export",
                "dcgan_tf.generate", "dcgan_tf.report", "dcgan_tf.serve",
                "dcgan_tf.conditional_accuracy", "dcgan_tf.nearest", "dcgan_tf.evaluate",
                "dcgan_tf.project", "dcgan_tf.directions"]


# ---------------------------------------------------------------------- 1. help


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_prints_help_and_exits_0(module):
    code, out, err = run_main(module, "--help")
    assert code == 0, err
    assert "--" in out and "flagfile" in out and not err.strip()


def test_train_helpfull_through_the_real_command():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "dcgan_tf.train", "--helpfull"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    code, short, err = run_main("dcgan_tf.train", "--help")
    assert code == 0 and not err.strip(), err
    for text in (proc.stdout, short):
        assert "--train_steps" in text and "--update" in text
        assert "python -m dcgan_tf.train --config=NAME" in text and "Shipped configs:" in text
    # --helpfull also lists absl's own flags; --help only the tool's
    assert "absl.logging:" in proc.stdout and "absl.logging:" not in short


# ---------------------------------------------------------------------- 2. unwritable outputs


@pytest.mark.parametrize("where", ["/sys/dcgan_tf/run", "/proc/dcgan_tf/run", "FILE/run"])
def test_unwritable_workdir_is_one_line_and_exit_2(tmp_path, where):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    workdir = where.replace("FILE", str(a_file))
    code, _, err = run_main("dcgan_tf.train", f"--workdir={workdir}", "--train_steps=1",
                            "--model=dcgan64", "--resolution=32", "--channels=1", "--ngf=8",
                            "--ndf=8")
    assert code == 2
    assert "Cannot create --workdir" in one_error_line(err, "dcgan_tf.train")


def test_unwritable_outputs_of_the_other_tools(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    Image.new("RGB", (40, 40), (200, 10, 10)).save(photos / "a.png")
    for out in ("/sys/dcgan_tf/data", str(a_file), str(a_file / "sub")):
        code, _, err = run_main("dcgan_tf.data.build", f"--source={photos}", f"--out={out}",
                                "--size=16")
        assert code == 2, err
        one_error_line(err, "dcgan_tf.data.build")
    for out in ("/sys/dcgan_tf/gen", str(a_file)):
        from dcgan_tf.utils.atomic_files import write_outputs

        with pytest.raises(UserError):
            write_outputs({"x.png": b"1"}, out)
    from dcgan_tf.utils.atomic_files import ensure_parent_writable

    with pytest.raises(UserError, match="Cannot create --out"):
        ensure_parent_writable("/sys/dcgan_tf/export", "--out")


# ---------------------------------------------------------------------- 3. a text file as data


def test_text_file_as_data_is_one_clear_line(tmp_path):
    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import open_source

    text = tmp_path / "notes.txt"
    text.write_text("these are not images\n" * 10)
    with pytest.raises(UserError, match=r"is a file but not an image archive: expected a folder"):
        open_source(str(text), Geometry(32, 1))
    code, _, err = run_main("dcgan_tf.train", f"--workdir={tmp_path / 'w'}", f"--data={text}",
                            "--train_steps=1", "--resolution=32", "--channels=1")
    assert code == 2 and "not an image archive" in one_error_line(err, "dcgan_tf.train")
    assert not (tmp_path / "w").exists()  # the workdir it made for nothing is gone again


# ---------------------------------------------------------------------- 5. length override


def test_length_on_the_command_line_replaces_the_flagfiles(capsys):
    code, out, err = run_main("dcgan_tf.train", "--flagfile=configs/cat64.cfg", "--data=x",
                              "--train_steps=100", "--dry_run")
    assert code == 0, err
    resolved = json.loads(out[: out.index("\n}\n") + 2])
    assert (resolved["train_steps"], resolved["epochs"]) == (100, 0)
    code, out, _ = run_main("dcgan_tf.train", "--flagfile=configs/digits.cfg", "--epochs=3",
                            "--dry_run")
    assert code == 0
    resolved = json.loads(out[: out.index("\n}\n") + 2])
    assert (resolved["train_steps"], resolved["epochs"]) == (0, 3)
    code, _, err = run_main("dcgan_tf.train", "--flagfile=configs/digits.cfg", "--epochs=3",
                            "--train_steps=5", "--dry_run")
    assert code == 2 and "Set exactly one of" in err


# ---------------------------------------------------------------------- 6. builder crops


def test_builder_crops_reach_the_train_step_unchanged(tmp_path):
    """cat64.cfg's resize_then_center (256 -> central 64) must not zoom into records that
    dcgan_tf.data.build already cropped to 64x64: the stream equals the records up to the
    config's flips."""
    from PIL import Image

    from dcgan_tf.data.build import BuildOptions, build
    from built_records import read_records
    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import open_source
    from dcgan_tf.data.stream import Flips, training_stream

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        array = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
        Image.fromarray(array).save(photos / f"p{i}.png")
    data = tmp_path / "data"
    build(BuildOptions(source=str(photos), out=str(data), sizes=(64,), crop="center",
                       format="png"), progress=False)
    records = [np.asarray(Image.open(io.BytesIO(r["image_raw"]))).astype(np.float32)
               for r in read_records(str(data))]
    cat = Geometry(64, 3, "resize_then_center", 256)
    source = open_source(str(data), cat)
    assert source.built_size == 64  # so only resized to the model's size (here: not at all)
    stream = training_stream(source, Flips(lr=True, ud=True), batch_size=4, seed=0,
                             end_step=1)
    batch = next(iter(stream)).numpy()
    seen = [(im + 1.0) * 127.5 for im in batch]
    for image in seen:
        variants = [image, image[:, ::-1], image[::-1], image[::-1, ::-1]]
        best = min(float(np.abs(v - r).max()) for v in variants for r in records)
        assert best < 0.51, best  # identical pixels (up to float rounding)


# ---------------------------------------------------------------------- 7. simultaneous update


def test_faces96_config_updates_simultaneously():
    code, out, _ = run_main("dcgan_tf.train", "--flagfile=configs/faces96.cfg", "--data=x",
                            "--dry_run")
    assert code == 0
    resolved = json.loads(out[: out.index("\n}\n") + 2])
    assert resolved["update"] == "simultaneous"
    assert "faces96_generator: 2,301,097 trainable parameters" in out  # source 004's count


# ---------------------------------------------------------------------- 9. divergence


def test_exploding_learning_rates_stop_the_run_without_an_export(tmp_path):
    from dcgan_tf.training import trainer

    out = io.StringIO()
    cfg = Config(**{**TINY, "workdir": str(tmp_path / "run"), "train_steps": 200,
                    "checkpoint_every": 20, "g_lr": 1e8, "d_lr": 1e8, "progress": "none"})
    with pytest.raises(DivergenceError, match=r"Training diverged at step \d+: .*restored the "
                                              r"checkpoint of step 0"):
        trainer.run(cfg, out=out)
    assert not (tmp_path / "run" / "export").exists()
    state = tf.train.get_checkpoint_state(str(tmp_path / "run" / "checkpoints"))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-0"]


def test_health_check_rules_explosion_state_and_refused_checkpoints():
    import keras

    from dcgan_tf.training.health import HealthCheck
    from dcgan_tf.gan.model import GAN
    from dcgan_tf.gan.losses import get_loss
    from dcgan_tf.models import build_models

    pair = build_models("dcgan64", resolution=32, channels=1, ngf=8, ndf=8, latent_dim=8)
    gan = GAN(pair.generator, pair.discriminator, latent_dim=8)
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), loss=get_loss("bce"))
    restores = []
    health = HealthCheck(lambda: restores.append(1) or "ckpt", out=io.StringIO())
    health.set_model(gan)
    for step, d_loss in enumerate([1.4, 1.2, 1.3, 1.1, 1.25]):
        gan._last["d_loss"].assign(d_loss)
        health.on_train_batch_end(step)
    assert health.diverged is None and not restores
    gan._last["d_loss"].assign(5e3)  # 1e3 x the running median (1.25) is 1,250
    health.on_train_batch_end(5)
    assert "d_loss exploded to 5e+03" in health.diverged and restores == [1]

    health = HealthCheck(lambda: "ckpt", out=io.StringIO())
    health.set_model(gan)
    gan._last["d_loss"].assign(1.0)
    w = gan.discriminator.trainable_variables[0]
    w.assign(tf.fill(w.shape, np.inf))  # a finite loss, but the state is broken
    health.on_train_batch_end(0)
    assert "holds non-finite values" in health.diverged

    health = HealthCheck(lambda: None, out=io.StringIO())
    health.set_model(gan)
    health.refused_checkpoint(40)
    assert "checkpoint was refused" in health.diverged and "no checkpoint" in health.diverged


# ---------------------------------------------------------------------- 8. progress


def test_run_progress_is_one_line_for_the_whole_run():
    import keras

    from dcgan_tf.training.progress import RunProgress

    class Fake:
        step = keras.Variable(5, dtype="int64")  # a run resumed at step 5 of 10

        values = {"d_loss": 0.5321, "g_loss": 2.1134}

        def last_step_values(self):
            return dict(self.values)

    out = io.StringIO()
    progress = RunProgress(10, out=out, interactive=True, refresh=0.0)
    progress.set_model(Fake())
    progress.on_train_begin()
    for step in range(6, 9):
        Fake.step.assign(step)
        progress.on_train_batch_end(step, {"img_per_s": 412.0})
    line = progress.last_line
    assert line.startswith("step 8/10 [") and "80%" in line and "elapsed, ETA " in line
    assert "412 img/s" in line and "d_loss 0.5321 g_loss 2.113" in line
    assert "ETA ?" not in line and "\n" not in out.getvalue()  # redrawn in place
    assert "D(x)" not in line  # no D outputs in the step's values: none shown
    # source 003's log line: mean D(x), and D(G(z)) before >> after D's update
    Fake.values.update(d_real=0.58341, d_fake=0.27119, d_fake_after=0.18294)
    Fake.step.assign(9)
    progress.on_train_batch_end(9, {"img_per_s": 412.0})
    assert progress.last_line.endswith("g_loss 2.113 D(x) 0.583 D(G(z)) 0.271>>0.183")
    # --update=simultaneous: G reads the same pass, "after" would repeat "before"
    Fake.update_rule = types.SimpleNamespace(order="simultaneous")
    Fake.step.assign(10)
    progress.on_train_batch_end(10, {"img_per_s": 412.0})
    assert progress.last_line.endswith("D(x) 0.583 D(G(z)) 0.271")
    progress.finish()
    assert out.getvalue().endswith("\n")


# ---------------------------------------------------------------------- structure


def _imports(path: str, module: str) -> set[str]:
    """dcgan_tf modules that `module` imports anywhere in its file (functions included)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dcgan_tf")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dcgan_tf"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _package_graph() -> dict[str, set[str]]:
    modules = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, ".")
                modules[rel.removesuffix(".__init__")] = os.path.join(folder, name)
    graph = {}
    for module, path in modules.items():
        deps = {d for d in _imports(path, module) if d in modules and d != module}
        parent = module.rsplit(".", 1)[0]
        graph[module] = deps - ({parent} if parent != module else set())
    return graph


def test_no_import_cycle_in_the_package():
    graph = _package_graph()
    assert "dcgan_tf.artifacts.workdir" in graph and "dcgan_tf.training.trainer" in graph
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


# The folders are the layers, lowest first; a module may import its own layer or lower ones.
LAYERS = {"utils": 1, "web": 1, "models": 2, "data": 2, "config": 2, "flags": 3, "gan": 3,
          "metrics": 3, "artifacts": 4, "training": 5}
COMMAND_LAYER = 6


def _commands() -> set[str]:
    """Every module that runs as `python -m dcgan_tf.X` (it has a __main__ block)."""
    found = set()
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(folder, name)
            if name.endswith(".py") and '__name__ == "__main__"' in open(path).read():
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found.add(rel.removesuffix(".__init__"))
    return found


def _layer(module: str, commands: set[str]) -> int:
    if module in commands:
        return COMMAND_LAYER
    top = module.split(".")[1]
    assert top in LAYERS, f"{module}: a new folder or top-level module needs a layer in LAYERS"
    return LAYERS[top]


def test_layering_utils_models_data_config_gan_metrics_artifacts_training_commands():
    """utils < models, data, config < flags, gan, metrics < artifacts < training < commands,
    and nothing imports a command (the `dcgan-tf` dispatcher loads them by name)."""
    graph = _package_graph()
    commands = _commands()
    assert set(ENTRY_POINTS) <= commands, set(ENTRY_POINTS) - commands
    assert {"dcgan_tf.gan.model", "dcgan_tf.training.trainer", "dcgan_tf.artifacts.workdir",
            "dcgan_tf.utils.cli", "dcgan_tf.models.layers"} <= set(graph)
    upward = []
    for module, deps in sorted(graph.items()):
        if module == "dcgan_tf":  # the package's __init__: version and environment only
            assert {d.split(".")[1] for d in deps} <= {"utils"}, deps
            continue
        for dep in sorted(deps):
            if dep == "dcgan_tf":
                continue
            if dep in commands:
                upward.append(f"{module} imports the command {dep}")
            elif _layer(dep, commands) > _layer(module, commands):
                upward.append(f"{module} (layer {_layer(module, commands)}) imports {dep} "
                              f"(layer {_layer(dep, commands)})")
    assert not upward, "\n".join(upward)


def test_one_home_for_each_fact():
    """The extension list, tfds reading, subfolder labels, the central-fraction crop, the
    integer-list parser, the IDX reader and the place of the mnist5k file each live in one
    module."""
    checks = {"IMAGE_EXTENSIONS = ": "dcgan_tf/data/files.py",
              "def tfds_builder(": "dcgan_tf/data/tfds_source.py",
              "def class_labels(": "dcgan_tf/data/files.py",
              "def central_fraction(": "dcgan_tf/data/crops.py",
              "def parse_int_list(": "dcgan_tf/utils/cli.py",
              "def read_idx(": "dcgan_tf/data/idx.py",
              "mnist_5k.csv.gz": "dcgan_tf/data/mnist5k.py",
              "lfw_subset.npy": "dcgan_tf/data/lfw100.py",
              "<!doctype html>": "dcgan_tf/web/index.html"}
    for needle, home in checks.items():
        where = []
        for folder, _, names in os.walk(PACKAGE):
            for name in names:
                if name.endswith((".py", ".html")):
                    path = os.path.join(folder, name)
                    if needle in open(path, encoding="utf-8").read():
                        where.append(os.path.relpath(path, ROOT))
        assert where == [home], (needle, where)
    for path in ("flags.py", "utils/cli.py"):
        assert "eval(" not in open(os.path.join(PACKAGE, path)).read()


def test_workdir_finds_checkpoints_written_under_a_relative_path(tmp_path, monkeypatch):
    """The checkpoint index stores paths as the writer named them (here relative to the
    working directory); every tool must still find the files."""
    from dcgan_tf.artifacts.workdir import Workdir

    monkeypatch.chdir(tmp_path)
    variable = tf.Variable(1.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable),
                                         os.path.join("runs", "a", "checkpoints"), 3)
    manager.save(checkpoint_number=7)
    for where in (os.path.join("runs", "a"), str(tmp_path / "runs" / "a")):
        steps = Workdir(where).checkpoint_steps()
        assert list(steps) == [7] and os.path.exists(steps[7] + ".index"), steps
    monkeypatch.chdir(tmp_path / "runs")  # another working directory than the writer's
    steps = Workdir("a").checkpoint_steps()
    assert os.path.exists(steps[7] + ".index"), steps


def test_a_flag_two_tools_define_reads_each_tools_default():
    """--model is an architecture for training (default dcgan64) and an export for the
    other tools (default ''): in one process, an unset --model must read the running tool's
    default, whichever tool defined the flag first."""
    from absl import flags as absl_flags

    from dcgan_tf.evaluate import define_evaluate_flags
    from dcgan_tf.flags import define_flags

    define_flags()
    fv = define_evaluate_flags()
    absl_flags.FLAGS.unparse_flags()
    try:
        absl_flags.FLAGS(["evaluate", "--fake=folder"])
        assert fv.model == "" and fv.fake == "folder" and fv.num_samples == 5000
        absl_flags.FLAGS.unparse_flags()
        absl_flags.FLAGS(["evaluate", "--model=runs/x"])
        assert fv.model == "runs/x"
    finally:
        absl_flags.FLAGS.unparse_flags()
