"""Issue 22 (a new user's first hour), items 1, 3, 4, 6, 7, 10: README's export snippet on
conditional and unconditional exports, class counts inferred from the data, a model given
on the command line over a flagfile's options, generate's --num/--class/images folder
chained into evaluate --fake, the scored step in evaluate's record, one conditional
accuracy."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SMALL, one_error_line, run_main, run_without_dcgan_tf
from PIL import Image

from dcgan_tf.artifacts.saved_generator import export_generator
from dcgan_tf.models import build_models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["ant", "bee", "cat"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A tiny conditional export (3 classes, named) and a tiny unconditional one, both
    latent 8, 32x32x1, step 7."""
    root = tmp_path_factory.mktemp("exports")
    cond = build_models("dcgan64", **SMALL["dcgan64"], latent_dim=8, num_classes=3)
    export_generator(cond.generator, 8, str(root / "cond"),
                     extra_info={"step": 7, "class_names": NAMES})
    plain = build_models("dcgan64", **SMALL["dcgan64"], latent_dim=8)
    export_generator(plain.generator, 8, str(root / "plain"), extra_info={"step": 7})
    return str(root / "cond"), str(root / "plain")


@pytest.fixture(scope="module")
def labelled_npz(tmp_path_factory):
    """60 labelled 32x32x1 images of 3 classes (a bright band whose place is the class)."""
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    images = rng.integers(0, 60, (60, 32, 32, 1)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 10 * k:10 * k + 10] = 220
    path = tmp_path_factory.mktemp("data") / "labelled.npz"
    np.savez(path, images=images, labels=labels)
    return str(path)


# ------------------------------------------------------------------------- item 1

def readme_block(after: str) -> str:
    """The first ```python block of README.md after the line holding `after`."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("```python\n", text.index(after)) + len("```python\n")
    return text[start:text.index("```", start)]


def test_readme_load_snippet_runs_on_conditional_and_unconditional_exports(exports, tmp_path):
    """README's "loads without dcgan_tf" block, as written (its path replaced), in a
    process without dcgan_tf, on both kinds of export."""
    snippet = readme_block("It loads without dcgan_tf")
    assert '"runs/digits/export"' in snippet
    for path in exports:
        run_without_dcgan_tf(snippet.replace('"runs/digits/export"', repr(path))
                             + "\nassert images.shape == (16, 32, 32, 1), images.shape\n",
                             tmp_path)


def test_a_wrong_labels_call_says_what_the_signature_needs(exports):
    cond, plain = exports
    serve = tf.saved_model.load(cond).signatures["serving_default"]
    z = tf.zeros([2, 8])
    assert serve(z=z, labels=tf.one_hot([0, 2], 3))["images"].shape == (2, 32, 32, 1)
    for labels in (tf.zeros([2, 10]), tf.constant([1.0, 2.0]), tf.zeros([5, 3])):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"labels must be float32 \[N, 3\].*not class indices"):
            serve(z=z, labels=labels)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z must be float32 \[N, 8\]"):
        tf.saved_model.load(plain).signatures["serving_default"](z=tf.zeros([2, 9]))
    sample = tf.saved_model.load(cond).signatures["sample"]
    seed = tf.constant(1, tf.int64)
    assert sample(num=tf.constant(4), seed=seed, labels=tf.zeros([4, 3]))["images"].shape[0] == 4
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be"):
        sample(num=tf.constant(4), seed=seed, labels=tf.zeros([2, 3]))
    info = json.load(open(os.path.join(cond, "export.json")))
    assert "one-hot" in info["signatures"]["serving_default"]["inputs"]["labels"]["doc"]
    assert info["signatures"]["sample"]["call"].endswith("labels=tf.one_hot([0] * 1, 3))")


# ------------------------------------------------------------------------- items 6, 7

def _png_shape(path):
    with Image.open(path) as image:
        return image.size[1], image.size[0]


def test_generate_num_is_the_total_and_class_picks_classes(exports, tmp_path):
    cond, _ = exports
    out = tmp_path / "gen"
    code, stdout, err = run_main("dcgan_tf.generate", f"--model={cond}", f"--out={out}",
                                 "--num=7", "--seed=3", "--individual")
    assert code == 0, err
    names = sorted(os.listdir(out / "images"))
    assert len(names) == 7  # not 7 per class
    assert names[:3] == ["class_0_seed_000003.png", "class_0_seed_000006.png",
                         "class_0_seed_000009.png"]  # image i: seed 3 + i, class i mod 3
    assert "class_1_seed_000004.png" in names and "class_2_seed_000005.png" in names
    assert _png_shape(out / "samples_by_class.png")[0] == 3 * 32 + 4 * 2  # a row per class
    lines = stdout.splitlines()
    assert len(lines) == 1 and f"7 images to {out}/images/" in lines[0], stdout
    assert f"--fake={out}/images" in lines[0]
    # a class list by name and index, in turn; a second run replaces the images folder
    code, stdout, err = run_main("dcgan_tf.generate", f"--model={cond}", f"--out={out}",
                                 "--num=4", "--class=cat,1", "--individual")
    assert code == 0, err
    assert sorted(os.listdir(out / "images")) == [
        "class_1_seed_000001.png", "class_1_seed_000003.png", "class_2_seed_000000.png",
        "class_2_seed_000002.png"]
    # interpolation and arithmetic say which class they draw, and take --class
    code, stdout, _ = run_main("dcgan_tf.generate", f"--model={cond}", f"--out={out}",
                               "--mode=interpolate", "--seeds=1,2", "--frames=3")
    assert code == 0 and "(class 0 'ant'; --class=K for another)" in stdout, stdout
    code, stdout, _ = run_main("dcgan_tf.generate", f"--model={cond}", f"--out={out}",
                               "--mode=arithmetic", "--a_seeds=1", "--b_seeds=2",
                               "--c_seeds=3", "--class=bee")
    assert code == 0 and "(class 1 'bee')" in stdout, stdout
    for args, message in ((["--class=dog"], "--class 'dog' is not a class of this model"),
                          (["--class=3"], "give an index 0..2 or a name (ant, bee, cat)"),
                          (["--class=1", "--labels=0,1,0"], "Give --labels or --class"),
                          (["--mode=interpolate", "--class=0,1"], "uses one class")):
        code, _, err = run_main("dcgan_tf.generate", f"--model={cond}",
                                f"--out={tmp_path / 'bad'}", *args)
        assert code == 2 and message in one_error_line(err, "dcgan_tf.generate"), err
    assert not (tmp_path / "bad").exists()


def test_generate_output_goes_straight_into_evaluate_fake(exports, labelled_npz, tmp_path):
    _, plain = exports
    out = tmp_path / "gen"
    code, stdout, err = run_main("dcgan_tf.generate", f"--model={plain}", f"--out={out}",
                                 "--num=20", "--individual")
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["images", "samples.png"]
    fake = stdout.split("--fake=")[1].split(")")[0]
    code, stdout, err = run_main("dcgan_tf.evaluate", f"--fake={fake}",
                                 f"--data={labelled_npz}", "--metrics=swd")
    assert code == 0, err
    report = json.loads(stdout.splitlines()[0])
    assert report["generated_images"] == 20 and report["metrics"]["swd"]["mean"] > 0
    # the folder above it (tiles) is refused, and the message names the images folder
    code, _, err = run_main("dcgan_tf.evaluate", f"--fake={out}", f"--data={labelled_npz}",
                            "--metrics=swd")
    assert code == 2 and f"--fake={out}/images" in one_error_line(err, "dcgan_tf.evaluate")


# ------------------------------------------------------------------------- item 10

def test_evaluate_write_records_the_scored_step(exports, labelled_npz, tmp_path):
    import shutil

    _, plain = exports
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text("{}")
    shutil.copytree(plain, workdir / "export")
    code, stdout, err = run_main("dcgan_tf.evaluate", f"--model={workdir}",
                                 f"--data={labelled_npz}", "--metrics=swd",
                                 "--num_samples=20", "--write")
    assert code == 0, err
    record = json.loads((workdir / "evaluation.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 7 and record["export"] == str(workdir / "export")


def test_conditional_accuracy_is_an_alias_of_evaluate_cond_acc(exports, labelled_npz,
                                                               tmp_path):
    cond, _ = exports
    clf = str(tmp_path / "clf.keras")
    code, _, err = run_main("dcgan_tf.evaluate", "train-classifier", f"--data={labelled_npz}",
                            f"--out={clf}", "--classifier_epochs=1")
    assert code == 0, err
    common = [f"--model={cond}", f"--data={labelled_npz}", f"--features=classifier:{clf}",
              "--seed=2"]
    code, stdout, err = run_main("dcgan_tf.evaluate", *common, "--metrics=cond_acc",
                                 "--num_samples=30")
    assert code == 0, err
    value = json.loads(stdout.splitlines()[0])["metrics"]["cond_acc"]["value"]
    code, alias_out, alias_err = run_main("dcgan_tf.conditional_accuracy", *common,
                                          "--per_class=10")
    assert code == 0, alias_err
    assert alias_out.startswith(f"conditional accuracy {value:.3f} over 30 samples"), alias_out
    assert "alias of: python -m dcgan_tf.evaluate" in alias_err
    assert "--metrics=cond_acc --num_samples=30 --seed=2" in alias_err


# ------------------------------------------------------------------------- items 3, 4

@pytest.fixture(scope="module")
def four_class_npz(tmp_path_factory):
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("four") / "four.npz"
    np.savez(path, images=rng.integers(0, 255, (80, 32, 32, 1)).astype(np.uint8),
             labels=np.arange(80) % 4)
    return str(path)


def _dry_run_config(stdout: str) -> dict:
    return json.loads(stdout[:stdout.index("\n}") + 2])


def test_a_configs_num_classes_yields_to_the_data_and_a_typed_one_is_checked(four_class_npz,
                                                                            tmp_path):
    code, out, err = run_main("dcgan_tf.train", "--config=digits", f"--data={four_class_npz}",
                              f"--workdir={tmp_path / 'a'}", "--dry_run")
    assert code == 0, err
    assert _dry_run_config(out)["num_classes"] == 4
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"--num_classes=10 (from the flagfile) replaced by the 4 classes of "
                     f"{four_class_npz!r}."], err
    # typed on the command line: kept, and the run refuses the mismatch in one line
    code, _, err = run_main("dcgan_tf.train", "--config=digits", f"--data={four_class_npz}",
                            "--num_classes=10", f"--workdir={tmp_path / 'b'}",
                            "--train_steps=1", "--batch_size=8", "--noexport")
    line = one_error_line(err, "dcgan_tf.train")
    assert code == 2 and "--num_classes=10 but" in line and "has 4 classes" in line, err
    # the digits themselves keep their 10 classes, silently
    code, out, err = run_main("dcgan_tf.train", "--config=digits",
                              f"--workdir={tmp_path / 'c'}", "--dry_run")
    assert code == 0 and _dry_run_config(out)["num_classes"] == 10 and not err.strip(), err


def test_a_typed_model_drops_the_flagfiles_options_it_does_not_take(tmp_path):
    code, out, err = run_main("dcgan_tf.train", "--config=digits", "--model=mnist28",
                              f"--workdir={tmp_path / 'm'}", "--dry_run")
    assert code == 0, err
    config = _dry_run_config(out)
    assert config["model"] == "mnist28" and config["ngf"] is None and config["ndf"] is None
    assert config["resolution"] == 28
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["--model=mnist28 does not take the flagfile's --ngf=32, --ndf=32, "
                     "--mbstd_group_size=4, --resolution=32: dropped (the model's defaults "
                     "instead)."], err
    assert config["mbstd_group_size"] is None
    # typed options stay, and the model's error names them
    code, _, err = run_main("dcgan_tf.train", "--config=digits", "--model=mnist28",
                            "--ngf=8", f"--workdir={tmp_path / 'n'}", "--dry_run")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 2 and "flagfile's --ndf=32, --mbstd_group_size=4, --resolution=32" in lines[0]
    assert lines[1].startswith("dcgan_tf.train: error: Model 'mnist28' has no option(s) "
                               "['ngf']"), err
