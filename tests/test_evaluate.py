"""Evaluation metrics against hand-computed cases, and the evaluate command end to end
(classifier features offline; the InceptionV3 path with random weights saved to a file)."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from test_foundation import one_error_line, run_main

from dcgan_tf.metrics import classifier as classifier_module
from dcgan_tf.metrics.frechet import frechet_distance, frechet_distance_of
from dcgan_tf.metrics.inception_score import inception_score
from dcgan_tf.metrics.kid import kernel_inception_distance, polynomial_mmd2
from dcgan_tf.metrics.modes import mode_coverage, stacked_modes
from dcgan_tf.metrics.precision_recall import precision_recall


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6))
    assert frechet_distance_of(x, x) == pytest.approx(0.0, abs=1e-8)
    # Diagonal Gaussians: |mu1 - mu2|^2 + sum (a + b - 2 sqrt(a b)).
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1 + 4 + np.sum(a + b - 2 * np.sqrt(a * b))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    # Full covariances: Tr((S1 S2)^1/2) = sum of the square roots of S1 S2's eigenvalues.
    m1, m2 = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = m1 @ m1.T + np.eye(6), m2 @ m2.T + np.eye(6)
    root_trace = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    reference = np.trace(s1) + np.trace(s2) - 2 * root_trace
    assert frechet_distance(np.zeros(6), s1, np.zeros(6), s2) == pytest.approx(reference)


def test_kid_unbiased_estimator_by_hand():
    # d = 1, k(a, b) = (ab + 1)^3: k_xx off-diagonal 1, k_yy off-diagonal 1, k_xy mean
    # (1 + 27 + 1 + 1) / 4 = 7.5 -> MMD^2 = 1 + 1 - 15 = -13.
    assert polynomial_mmd2([[1.0], [0.0]], [[0.0], [2.0]]) == pytest.approx(-13.0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 4)), rng.normal(size=(400, 4))
    same = kernel_inception_distance(x, y, subsets=20, subset_size=200)
    shifted = kernel_inception_distance(x, y + 1.0, subsets=20, subset_size=200)
    assert same["subset_size"] == 200 and abs(same["value"]) < 4 * same["std_error"] + 1e-3
    assert shifted["value"] > 10 * shifted["std_error"] > 0


def test_inception_score_extremes():
    assert inception_score(np.full((100, 7), 1 / 7))["value"] == pytest.approx(1.0)
    confident = np.tile(np.eye(7), (10, 1))  # every split holds each class once
    assert inception_score(confident, splits=10)["value"] == pytest.approx(7.0, rel=1e-6)


def test_precision_recall_of_a_set_with_itself_and_of_distant_sets():
    x = np.random.default_rng(2).normal(size=(200, 8))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0, "k": 3}
    far = precision_recall(x, x + 100.0)
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_mode_counter_on_constructed_inputs():
    out = mode_coverage([0, 0, 1, 2], num_modes=4)
    assert out["covered"] == 3
    q = np.array([0.5, 0.25, 0.25])
    assert out["kl"] == pytest.approx(np.sum(q * np.log(q / 0.25)))
    assert mode_coverage([3, 3], 4, reference=[0, 0, 0, 5])["kl"] == pytest.approx(0.0)
    assert list(stacked_modes([[1, 2, 3], [9, 0, 9]])) == [123, 909]
    with pytest.raises(ValueError, match="mode indices"):
        mode_coverage([4], 4)


def test_confident_share_and_classes_drawn_from_known_probabilities():
    """Source 003's target: the share of samples with max probability >= 0.9, the real
    images' share, and the classes the samples are drawn from; stacked classifiers multiply
    the per-channel maxima."""
    from dcgan_tf.metrics.catalog import METRICS

    class FakeEvaluation:  # the one thing the metric reads: classifier probabilities
        def __init__(self, real, fake):
            self.probs = {"real": np.asarray(real), "fake": np.asarray(fake)}

        def features(self, kind, which):
            assert kind == "classifier"
            return None, self.probs[which]

    fake = [[0.95, 0.05, 0.0], [0.9, 0.1, 0.0], [0.1, 0.85, 0.05], [0.0, 0.05, 0.95]]
    real = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]
    spec = METRICS["confident"]
    out = spec.fn(FakeEvaluation(real, fake))
    assert out == {"value": 0.75, "real": 0.5, "threshold": 0.9, "classes_drawn": 3,
                   "classes": 3}  # 0.95, 0.9 and 0.95 of 4 (0.85 falls short)
    assert spec.score(out) == 0.75 and spec.higher_is_better and spec.extractor == "classifier"
    one_class = spec.fn(FakeEvaluation(real, [[0.99, 0.01, 0.0]] * 4))
    assert (one_class["value"], one_class["classes_drawn"]) == (1.0, 1)
    # stacked [N, 3 channels, 10 digits]: 0.97^3 = 0.913 passes, 0.97^2 * 0.9 = 0.847 fails
    stacked = np.full((2, 3, 10), 0.03 / 9)
    stacked[:, :, 4] = 0.97
    stacked[1, 2, 4], stacked[1, 2, 7] = 0.9, 0.07 + 0.03 / 9
    out = spec.fn(FakeEvaluation(stacked[:1], stacked))
    assert (out["value"], out["real"], out["classes_drawn"], out["classes"]) == \
        (0.5, 1.0, 1, 1000)


def _images_npz(path, n, side=32, seed=0, labels=True):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 3, n)
    images = np.zeros((n, side, side, 1), np.uint8)
    for i, k in enumerate(classes):  # class = which third of the image is bright
        images[i, :, k * side // 3:(k + 1) * side // 3] = 200 + rng.integers(0, 50)
    images = np.clip(images + rng.integers(0, 30, images.shape), 0, 255).astype(np.uint8)
    np.savez(path, images=images, **({"labels": classes} if labels else {}))
    return images


def test_data_stored_at_another_size_is_refused(tmp_path):
    """Records the builder made, or an .npz, at a size the generator does not make: one
    line (comparing after a silent resize would score the resampling); a folder of photos
    is resized as in training."""
    from dcgan_tf.data.build import BuildOptions, build
    from dcgan_tf.metrics.inputs import check_native_size
    from dcgan_tf.utils.errors import UserError

    _images_npz(tmp_path / "a.npz", 4, side=16)
    check_native_size(str(tmp_path / "a.npz"), 16)
    with pytest.raises(UserError, match="holds 16x16 ones"):
        check_native_size(str(tmp_path / "a.npz"), 32)
    out = str(tmp_path / "built")
    build(BuildOptions(source=str(tmp_path / "a.npz"), out=out, sizes=(8, 16)), progress=False)
    for data in (out, os.path.join(out, "8")):
        check_native_size(data, 8)
    with pytest.raises(UserError, match="holds 8/16-pixel records; build the data at --size=32"):
        check_native_size(out, 32)
    with pytest.raises(UserError, match="holds 16-pixel records"):
        check_native_size(os.path.join(out, "16"), 8)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(photos / "a.png")
    check_native_size(str(photos), 64)


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clf")
    _images_npz(folder / "labelled.npz", 120)
    path = str(folder / "clf.keras")
    code, out, err = run_main("dcgan_tf.evaluate", "train-classifier",
                              f"--data={folder / 'labelled.npz'}", f"--out={path}",
                              "--classifier_epochs=3", "--classifier_resolution=32")
    assert code == 0, err
    return folder, path


def test_train_classifier_writes_the_model_and_its_holdout_accuracy(trained_classifier):
    folder, path = trained_classifier
    info = json.load(open(path + ".json"))
    assert os.path.isfile(path) and info["classes"] == 3 and info["images"] == 120
    assert 0.0 <= info["holdout_accuracy"] <= 1.0
    assert not [n for n in os.listdir(folder) if ".tmp" in n]


def test_evaluate_fake_folder_in_classifier_features(trained_classifier, tmp_path):
    folder, path = trained_classifier
    fake = _images_npz(tmp_path / "fake.npz", 60, seed=5, labels=False)
    os.makedirs(tmp_path / "fake")
    for i, image in enumerate(fake):
        Image.fromarray(image[..., 0]).save(tmp_path / "fake" / f"{i:03d}.png")
    code, out, err = run_main("dcgan_tf.evaluate", f"--fake={tmp_path / 'fake'}",
                              f"--data={folder / 'labelled.npz'}",
                              "--metrics=fd,kd,modes,pr,swd,ms_ssim,confident",
                              f"--features=classifier:{path}")
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])  # stdout holds only the JSON
    m = report["metrics"]
    assert report["generated_images"] == 60 and report["real_images"] == 120
    assert m["fd"]["value"] >= 0 and m["modes"]["num_modes"] == 3
    assert m["modes"]["reference"] == "real labels" and m["modes"]["real_covered"] == 3
    assert 0 <= m["pr"]["precision"] <= 1 and m["swd"]["mean"] > 0
    assert 0 <= m["confident"]["value"] <= 1 and m["confident"]["classes"] == 3
    assert m["kd"]["subset_size"] == 60 and m["kd"]["std_error"] >= 0
    assert report["features"]["classifier"].startswith("classifier:")


def test_kd_is_kid_in_classifier_features_with_the_real_halves_floor():
    """kd: near the real halves' value for the same distribution, far above it for a shifted one."""
    from types import SimpleNamespace

    from dcgan_tf.metrics.catalog import METRICS

    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    for shift, far in ((0.0, False), (1.5, True)):
        fake = rng.normal(size=(300, 8)) + shift
        feats = {"real": (real, None), "fake": (fake, None)}
        ev = SimpleNamespace(seed=3, features=lambda kind, side: feats[side])
        out = METRICS.get("kd").fn(ev)
        assert out["value"] == pytest.approx(
            kernel_inception_distance(real, fake, seed=3)["value"], rel=1e-5)
        assert abs(out["real_halves"]) < 0.05
        assert (out["value"] > 20 * max(abs(out["real_halves"]), 1e-3)) == far


@pytest.mark.parametrize("args,expected", [
    (["--metrics=fid,bogus"], "Unknown metric(s) bogus"),
    (["--metrics=fd", "--num_samples=10"], "fd needs at least 50"),
    (["--metrics=fd", "--fake=/nonexistent"], "Give exactly one of --model"),
    (["--metrics=cond_acc"], "cond_acc needs a conditional model"),
])
def test_evaluate_bad_requests_are_one_line(trained_classifier, tmp_path, args, expected):
    folder, path = trained_classifier
    fake = _images_npz(tmp_path / "fake.npz", 60, labels=False)
    os.makedirs(tmp_path / "fake")
    for i, image in enumerate(fake[: (10 if "--num_samples=10" in args else 60)]):
        Image.fromarray(image[..., 0]).save(tmp_path / "fake" / f"{i:03d}.png")
    model = [a for a in args if a.startswith("--fake")]
    extra = [a for a in args if not a.startswith("--fake")]
    fake_args = [f"--fake={tmp_path / 'fake'}"] + (["--model=/x"] if model else [])
    code, _, err = run_main("dcgan_tf.evaluate", *fake_args, f"--data={folder / 'labelled.npz'}",
                            f"--features=classifier:{path}", *extra)
    assert code == 2 and expected in one_error_line(err, "dcgan_tf.evaluate")


@pytest.mark.parametrize("metrics", ["kd", "fd,swd", "pr"])
def test_a_classifier_metric_without_a_classifier_is_refused_before_any_work(
        trained_classifier, tmp_path, monkeypatch, metrics):
    """fd/kd (and pr with --features=classifier) on data with no default classifier: one line
    before a single image is generated or read."""
    from dcgan_tf.metrics import inputs

    folder, _ = trained_classifier
    os.makedirs(tmp_path / "fake")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "fake" / "0.png")

    def no_reading(*args, **kwargs):
        raise AssertionError("images were read before the classifier check")

    monkeypatch.setattr(inputs, "load_images", no_reading)
    features = ["--features=classifier"] if metrics == "pr" else []
    code, _, err = run_main("dcgan_tf.evaluate", f"--fake={tmp_path / 'fake'}",
                            f"--data={folder / 'labelled.npz'}", f"--metrics={metrics}",
                            *features)
    assert code == 2 and "need --features=classifier:PATH" in one_error_line(
        err, "dcgan_tf.evaluate")


def test_export_size_other_than_the_classifier_is_resized_data_size_is_one_line(
        trained_classifier, tmp_path):
    from dcgan_tf.artifacts.saved_generator import export_generator
    from dcgan_tf.models import build_models

    folder, path = trained_classifier
    pair = build_models("dcgan64", resolution=64, channels=1, ngf=4, ndf=4)
    export_generator(pair.generator, 100, str(tmp_path / "export"))
    code, _, err = run_main("dcgan_tf.evaluate", f"--model={tmp_path / 'export'}",
                            "--data=digits", "--metrics=fd",
                            f"--features=classifier:{path}", "--num_samples=50")
    # 64x64 samples and the 32x32 digits, both resized to the classifier's 32x32
    assert code == 0 and "resized to the classifier's 32x32" in err, err
    # data stored at another size than the model's: one line, not a silent resize
    code, _, err = run_main("dcgan_tf.evaluate", f"--model={tmp_path / 'export'}",
                            f"--data={folder / 'labelled.npz'}", "--metrics=swd",
                            "--num_samples=50")
    assert code == 2 and "makes 64x64 images" in one_error_line(err, "dcgan_tf.evaluate")


def test_inception_metrics_from_a_weights_file_and_offline_without_one(tmp_path, monkeypatch):
    import keras

    weights = str(tmp_path / "inception.weights.h5")
    keras.applications.InceptionV3(include_top=True, weights=None).save_weights(weights)
    monkeypatch.setenv("DCGAN_TF_CACHE", str(tmp_path / "cache"))
    real = tmp_path / "real.npz"
    _images_npz(real, 50, side=32, labels=False)
    fake = tmp_path / "fake"
    os.makedirs(fake)
    for i, image in enumerate(_images_npz(tmp_path / "f.npz", 50, seed=3, labels=False)):
        Image.fromarray(image[..., 0]).save(fake / f"{i:03d}.png")
    args = ["dcgan_tf.evaluate", f"--fake={fake}", f"--data={real}", "--metrics=fid,kid"]
    code, out, err = run_main(*args, f"--inception_weights={weights}")
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["metrics"]["fid"] > 0 and "std_error" in report["metrics"]["kid"]
    assert report["features"]["inception"].startswith("inception_v3:")
    assert len(os.listdir(tmp_path / "cache" / "features")) == 1  # real features cached
    # No weights file, an empty Keras cache, no internet: one sentence, exit 2.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("dcgan_tf.data.tfds_source.can_reach", lambda *a, **k: False)
    code, _, err = run_main(*args)
    line = one_error_line(err, "dcgan_tf.evaluate")
    assert code == 2 and "--inception_weights=PATH" in line


def test_digits_classifier_is_trained_on_first_use_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_TF_CACHE", str(tmp_path))
    monkeypatch.setattr(classifier_module, "DIGITS_EPOCHS", 1)
    path = classifier_module.digits_classifier_path(16)
    stamp = os.path.getmtime(path)
    assert json.load(open(path + ".json"))["classes"] == 10
    assert classifier_module.digits_classifier_path(16) == path
    assert os.path.getmtime(path) == stamp  # not trained again


def test_metrics_during_training_keep_the_best_checkpoint_and_export_it(tmp_path):
    from dcgan_tf.training import trainer
    from dcgan_tf.config import Config

    base = dict(data="digits", model="dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                latent_dim=16, batch_size=16, sample_grid=4, log_every=1, seed=3,
                progress="none", checkpoint_every=100, export=False, eval_every=3,
                eval_metrics="fd,swd", eval_images=64, eval_best="fd")
    workdir = tmp_path / "run"
    trainer.run(Config(workdir=str(workdir), train_steps=6, **base))
    rows = [json.loads(line) for line in open(workdir / "evaluation.jsonl")]
    assert [r["step"] for r in rows] == [3, 6]
    assert all(r["fd"]["value"] > 0 and r["swd"]["mean"] > 0 for r in rows)
    best = json.load(open(workdir / "best" / "best.json"))
    values = [r["fd"]["value"] for r in rows]
    assert best["metric"] == "fd" and best["value"] == pytest.approx(min(values))
    assert best["step"] == rows[values.index(min(values))]["step"]
    assert [n for n in os.listdir(workdir / "best") if n.startswith("ckpt-")]  # one checkpoint
    assert {n.split(".")[0] for n in os.listdir(workdir / "best") if n.startswith("ckpt-")} == {
        f"ckpt-{best['step']}"}
    code, out, err = run_main("dcgan_tf.export", f"--workdir={workdir}", "--best",
                              f"--out={tmp_path / 'best_export'}")
    assert code == 0, err
    info = json.load(open(tmp_path / "best_export" / "export.json"))
    assert info["step"] == best["step"] and info["best"]["metric"] == "fd"
    # the evaluate command on the workdir, its result appended to evaluation.jsonl
    assert run_main("dcgan_tf.export", f"--workdir={workdir}")[0] == 0
    code, out, err = run_main("dcgan_tf.evaluate", f"--model={workdir}", "--data=digits",
                              "--metrics=swd", "--num_samples=32", "--write")
    assert code == 0 and "Appended to" in out, err
    last = json.loads(open(workdir / "evaluation.jsonl").read().splitlines()[-1])
    assert last["metrics"]["swd"]["mean"] > 0 and last["generated_images"] == 32
    # a resumed run ranks new evaluations against the kept best, not from scratch
    trainer.run(Config(workdir=str(workdir), train_steps=9, **base))
    rows = [json.loads(line) for line in open(workdir / "evaluation.jsonl")]
    rows = [r for r in rows if "fd" in r]  # the training evaluations, not the command's line
    after = json.load(open(workdir / "best" / "best.json"))
    assert after["value"] == pytest.approx(min(r["fd"]["value"] for r in rows))


@pytest.mark.parametrize("flags,expected", [
    (["--eval_metrics=fd,nope"], "Unknown metric(s) nope"),
    (["--eval_metrics=fd,pr", "--eval_best=pr"], "no single number"),
    (["--eval_metrics=swd", "--eval_best=fd"], "is not one of --eval_metrics"),
    (["--eval_metrics=fid", "--data=digits"], "--inception_weights=PATH"),
])
def test_bad_training_evaluation_flags_fail_before_training(tmp_path, monkeypatch, flags,
                                                            expected):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Keras cache of Inception
    monkeypatch.setattr("dcgan_tf.data.tfds_source.can_reach", lambda *a, **k: False)
    code, _, err = run_main("dcgan_tf.train", "--flagfile=configs/digits.cfg",
                            f"--workdir={tmp_path / 'w'}", "--eval_every=5", *flags)
    assert code == 2 and expected in one_error_line(err, "dcgan_tf.train")
    assert not (tmp_path / "w" / "checkpoints").exists()


def test_evaluation_flags_without_eval_every_are_refused():
    from dcgan_tf.config import Config
    from dcgan_tf.utils.errors import UserError

    with pytest.raises(UserError, match="need --eval_every"):
        Config(workdir="w", train_steps=1, eval_best="fd").validate()
