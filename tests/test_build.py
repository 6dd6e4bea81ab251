"""The TFRecord dataset builder (dcgan_tf.data.build) and reading its output back."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dcgan_tf.data import build as build_lib
from dcgan_tf.data import records
from dcgan_tf.data.build import BuildOptions
from dcgan_tf.data.geometry import Geometry
from dcgan_tf.data.sources import open_source
from dcgan_tf.data.stream import Flips, training_stream
from dcgan_tf.utils.errors import UserError
from built_records import read_records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rand_image(rng, h, w, c=3):
    return (rng.random((h, w, c)) * 255).astype(np.uint8)


def exif_rotated_jpeg(array: np.ndarray, orientation: int) -> bytes:
    """JPEG whose stored pixels are `array` rotated so that EXIF `orientation` (6: viewer
    rotates 90 deg clockwise, 8: counter-clockwise) shows the original upright."""
    stored = np.rot90(array, k=1 if orientation == 6 else -1)
    image = Image.fromarray(np.ascontiguousarray(stored))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def photo_tree(tmp_path_factory):
    """A folder of good photos in two class subfolders plus every bad case of the issue.
    Returns (root, good files {relpath: label})."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("photos")
    (root / "cats").mkdir()
    (root / "dogs" / "deeper").mkdir(parents=True)
    good = {}

    def save(rel, array, label, **kw):
        Image.fromarray(array).save(root / rel, **kw)
        good[rel] = label

    save("cats/a.jpg", rand_image(rng, 120, 160), 0, quality=95)
    save("cats/b.png", rand_image(rng, 100, 100), 0)
    save("cats/c.bmp", rand_image(rng, 90, 70), 0)
    (root / "cats" / "rot.jpg").write_bytes(exif_rotated_jpeg(rand_image(rng, 80, 120), 6))
    good["cats/rot.jpg"] = 0
    save("dogs/rgba.png", rand_image(rng, 80, 90, 4), 1)
    Image.fromarray(rand_image(rng, 80, 90)).convert("CMYK").save(root / "dogs" / "cmyk.tiff")
    good["dogs/cmyk.tiff"] = 1
    Image.fromarray((rng.random((80, 90)) * 65535).astype(np.uint16)).save(
        root / "dogs" / "deeper" / "gray16.png")
    good["dogs/deeper/gray16.png"] = 1
    Image.fromarray(rand_image(rng, 70, 70)).convert("P").save(root / "dogs" / "palette.gif")
    good["dogs/palette.gif"] = 1
    frames = [Image.fromarray(rand_image(rng, 70, 70)) for _ in range(3)]
    frames[0].save(root / "dogs" / "anim.gif", save_all=True, append_images=frames[1:])
    good["dogs/anim.gif"] = 1
    save("dogs/w.webp", rand_image(rng, 70, 72), 1)
    # bad cases
    Image.fromarray(rand_image(rng, 30, 40)).save(root / "cats" / "tiny.png")
    (root / "cats" / "empty.jpg").write_bytes(b"")
    (root / "cats" / "text.jpg").write_text("not a picture")
    data = (root / "cats" / "a.jpg").read_bytes()
    (root / "cats" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "cats" / "z_duplicate.jpg").write_bytes(data)
    (root / "readme.txt").write_text("notes")
    Image.fromarray(rand_image(rng, 64, 64)).save(root / "loose.png")  # outside any class
    return root, good


def build(tmp_path, source, name="out", **kw):
    kw.setdefault("workers", 2)
    opts = BuildOptions(source=str(source), out=str(tmp_path / name), **kw)
    return opts, build_lib.build(opts, progress=False)


def test_folder_build_counts_reasons_labels_and_loses_nothing(photo_tree, tmp_path):
    root, good = photo_tree
    opts, meta = build(tmp_path, root, sizes=(32,), class_subfolders=True, dedup=True)
    assert meta["label_names"] == ["cats", "dogs"]
    expected_reasons = {
        "cats/tiny.png": "smaller than 32 px", "cats/empty.jpg": "empty file",
        "cats/text.jpg": "not an image", "cats/truncated.jpg": "truncated or corrupt",
        "cats/z_duplicate.jpg": "duplicate", "readme.txt": "not an image file name",
        "loose.png": "not in a class subfolder",
    }
    assert {s["file"]: s["reason"] for s in meta["skipped"]} == expected_reasons
    assert meta["count"] == len(good) == meta["sources_written"]
    assert meta["notes"] == [{"file": "dogs/anim.gif", "note": "animated: first frame used"}]
    recs = read_records(opts.out)
    # every readable image was written, with its class label
    assert {r["source_id"].decode(): r["label"] for r in recs} == good
    for r in recs:
        image = tf.io.decode_jpeg(r["image_raw"]).numpy()  # source 004's reader
        assert image.shape == (32, 32, 3) == (r["height"], r["width"], r["channels"])
    assert meta["label_counts"] == {"cats": 4, "dogs": 6}
    assert sum(s["records"] for s in meta["shards"]) == meta["count"]
    # nothing temporary left
    assert not [n for n in os.listdir(opts.out) if n.startswith(".")]


def test_pixels_center_crop_exif_and_alpha(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    src.mkdir()
    wide = rand_image(rng, 40, 60)
    Image.fromarray(wide).save(src / "wide.png")
    upright = np.zeros((40, 60, 3), np.uint8)
    upright[:20] = 255  # top half white, bottom black: upside-down would be obvious
    (src / "rotated.jpg").write_bytes(exif_rotated_jpeg(upright, 8))
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 20:, 3] = 255  # left half fully transparent
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png")
    opts, meta = build(tmp_path, src, sizes=(40,), format="png", background=(0, 0, 255))
    by_id = {r["source_id"].decode(): r for r in read_records(opts.out)}
    wide_out = tf.io.decode_png(by_id["wide.png"]["image_raw"]).numpy()
    np.testing.assert_array_equal(wide_out, wide[:, 10:50])  # centre square, no resampling
    assert by_id["wide.png"]["crop_box"] == [10.0, 0.0, 40.0, 40.0]
    rot = tf.io.decode_png(by_id["rotated.jpg"]["image_raw"]).numpy().astype(int)
    assert rot[:15].mean() > 230 and rot[25:].mean() < 25  # upright after EXIF
    alpha = tf.io.decode_png(by_id["alpha.png"]["image_raw"]).numpy()
    np.testing.assert_array_equal(alpha[5, 5], [0, 0, 255])  # background where transparent
    np.testing.assert_array_equal(alpha[5, 30], [200, 0, 0])
    # grayscale output
    _, meta1 = build(tmp_path, src, name="gray", sizes=(16,), channels=1)
    rec = read_records(str(tmp_path / "gray"))[0]
    assert tf.io.decode_jpeg(rec["image_raw"]).shape == (16, 16, 1)
    assert meta1["channels"] == 1


def test_small_images_skip_or_upscale_and_resize_then_center(tmp_path):
    rng = np.random.default_rng(2)
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(rand_image(rng, 20, 30)).save(src / "small.png")
    Image.fromarray(rand_image(rng, 256, 256)).save(src / "big.png")
    _, meta = build(tmp_path, src, name="skip", sizes=(32,))
    assert meta["count"] == 1 and meta["skipped_by_reason"] == {"smaller than 32 px": 1}
    _, meta = build(tmp_path, src, name="up", sizes=(32,), small="upscale")
    assert meta["count"] == 2 and meta["skipped"] == []
    opts, meta = build(tmp_path, src, name="rtc", sizes=(64,), crop="resize_then_center",
                       load_size=256)
    boxes = {r["source_id"].decode(): r["crop_box"] for r in read_records(opts.out)}
    assert boxes["big.png"] == [96.0, 96.0, 64.0, 64.0]  # central 64 of 256
    with pytest.raises(UserError, match="load_size"):
        build(tmp_path, src, name="bad", sizes=(64,), crop="resize_then_center", load_size=32)


def test_deterministic_and_multi_resolution(photo_tree, tmp_path):
    root, _ = photo_tree
    kw = dict(sizes=(8, 16), class_subfolders=True, num_shards=3)
    o1, m1 = build(tmp_path, root, name="one", **kw)
    build_lib.build(BuildOptions(source=str(root), out=str(tmp_path / "two"), workers=1, **kw),
                    progress=False)  # one thread instead of two: same bytes
    assert m1["resolutions"] == [8, 16]
    for size in ("8", "16"):
        names = sorted(os.listdir(tmp_path / "one" / size))
        assert names == sorted(os.listdir(tmp_path / "two" / size))
        for name in names:
            if name.endswith(".tfrecord"):
                assert (tmp_path / "one" / size / name).read_bytes() == \
                       (tmp_path / "two" / size / name).read_bytes()
        sub = records.read_metadata(str(tmp_path / "one" / size))
        assert sub["size"] == int(size) and len(sub["shards"]) == 3
    # The training pipeline picks the subfolder of the model's resolution.
    source = open_source(o1.out, Geometry(16, 3))
    assert source.num_examples == m1["count"] and source.has_labels
    images, labels = source.arrays
    assert images.shape[1:] == (16, 16, 3)


def test_clobber_protection_rerun_and_overwrite(tmp_path):
    rng = np.random.default_rng(3)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rand_image(rng, 40, 40)).save(src / f"{i}.png")
    opts, meta = build(tmp_path, src, sizes=(16,))
    first = {n: (tmp_path / "out" / n).read_bytes() for n in os.listdir(opts.out)}
    _, again = build(tmp_path, src, sizes=(16,))  # same options: rebuilt in place
    assert {n: (tmp_path / "out" / n).read_bytes() for n in os.listdir(opts.out)} == first
    with pytest.raises(UserError, match="different dataset"):
        build(tmp_path, src, sizes=(32,))
    assert {n: (tmp_path / "out" / n).read_bytes() for n in os.listdir(opts.out)} == first
    _, meta32 = build(tmp_path, src, sizes=(32,), overwrite=True)
    assert meta32["size"] == 32 and records.read_metadata(opts.out)["size"] == 32
    # a folder of the user's own files is never touched without --overwrite
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    with pytest.raises(UserError, match="other file"):
        build_lib.build(BuildOptions(source=str(src), out=str(mine)), progress=False)
    assert os.listdir(mine) == ["thesis.txt"]


def test_interrupted_build_leaves_nothing_a_reader_takes(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        Image.fromarray(rand_image(rng, 40, 40)).save(src / f"{i}.png")
    calls = {"n": 0}
    real = build_lib.Processor.__call__

    def dying(self, item):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, item)

    monkeypatch.setattr(build_lib.Processor, "__call__", dying)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, src, sizes=(16,), workers=1)
    assert not os.path.exists(tmp_path / "out")  # temporary shards removed, folder too
    # A killed build (no chance to clean up) leaves hidden temporary shards: readers skip
    # them and the next build removes them.
    (tmp_path / "out").mkdir()
    leftover = tmp_path / "out" / ".train-00000-of-00001.tfrecord.tmp-deadbeef"
    leftover.write_bytes(b"partial")
    with pytest.raises(UserError, match="TFRecords|no images"):
        open_source(str(tmp_path / "out"), Geometry(16, 3))
    monkeypatch.setattr(build_lib.Processor, "__call__", real)
    _, meta = build(tmp_path, src, sizes=(16,))
    assert meta["count"] == 6
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith(".")]


def test_nothing_usable_and_empty_folder(tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    (src / "x.jpg").write_text("text")
    with pytest.raises(UserError, match="Nothing usable"):
        build(tmp_path, src)
    assert not os.path.exists(tmp_path / "out")  # not even an empty folder
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="empty"):
        build(tmp_path, empty, name="out2")


def test_npz_source_with_labels_and_dedup(tmp_path):
    rng = np.random.default_rng(5)
    images = (rng.random((5, 24, 24, 1))).astype(np.float32)  # floats in [0, 1]
    images[4] = images[0]
    path = tmp_path / "d.npz"
    np.savez(path, images=images, labels=np.array([0, 1, 2, 1, 0]),
             label_names=np.array(["a", "b", "c"]))
    opts, meta = build(tmp_path, path, sizes=(24,), channels=1, format="png", dedup=True)
    assert meta["count"] == 4 and meta["skipped_by_reason"] == {"duplicate": 1}
    assert meta["label_names"] == ["a", "b", "c"]
    recs = read_records(opts.out)
    assert [r["label"] for r in recs] == [0, 1, 2, 1]
    first = tf.io.decode_png(recs[0]["image_raw"]).numpy()[..., 0]
    np.testing.assert_array_equal(first, np.round(images[0, ..., 0] * 255).astype(np.uint8))


def test_boxes_csv(tmp_path):
    rng = np.random.default_rng(6)
    src = tmp_path / "src"
    src.mkdir()
    big = rand_image(rng, 100, 100)
    Image.fromarray(big).save(src / "a.png")
    Image.fromarray(big).save(src / "b.png")
    csv_path = tmp_path / "boxes.csv"
    csv_path.write_text("file,x,y,w,h\na.png,10,20,30,30\na.png,50,50,40,20\n")
    opts, meta = build(tmp_path, src, sizes=(30,), crop="boxes", boxes=str(csv_path),
                       format="png", small="upscale")
    assert meta["count"] == 2 and meta["skipped"] == [{"file": "b.png",
                                                      "reason": "no box in the CSV"}]
    recs = read_records(opts.out)
    np.testing.assert_array_equal(tf.io.decode_png(recs[0]["image_raw"]).numpy(),
                                  big[20:50, 10:40])
    assert recs[1]["crop_box"] == [50.0, 40.0, 40.0, 40.0]  # 40x20 squared around its centre
    csv_path.write_text("a.png,1,2,three,4\n")
    with pytest.raises(UserError, match="numbers"):
        build(tmp_path, src, name="o2", crop="boxes", boxes=str(csv_path))


def test_missing_detector_extra_says_what_to_install(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(src / "a.png")
    monkeypatch.setitem(sys.modules, "mtcnn", None)
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(UserError, match=r"dcgan_tf\[faces\]"):
        build(tmp_path, src, crop="face")
    with pytest.raises(UserError, match=r"dcgan_tf\[cats\]"):
        build(tmp_path, src, crop="cat_face")
    assert not os.path.exists(tmp_path / "out")


# ---------------------------------------------------------------------- detectors


def face_center(detector, image):
    found = [f for f in detector.detect_faces(image) if f["confidence"] > 0.9]
    assert len(found) == 1
    x, y, w, h = found[0]["box"]
    return np.array([x + w / 2, y + h / 2]), max(w, h)


@pytest.mark.slow
def test_face_crop_centres_the_astronaut_in_canvas_and_after_exif(tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    from mtcnn import MTCNN

    astronaut = skimage_data.astronaut()  # 512x512, one face, MTCNN confidence > 0.99
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(astronaut).save(src / "plain.png")
    canvas = np.full((900, 1200, 3), 90, np.uint8)
    canvas[250:762, 400:912] = astronaut  # pasted at (x=400, y=250)
    Image.fromarray(canvas).save(src / "canvas.png")
    (src / "exif.jpg").write_bytes(exif_rotated_jpeg(astronaut, 6))
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(src / "no_face.png")
    opts, meta = build(tmp_path, src, sizes=(64,), crop="face", format="png")
    assert meta["count"] == 3
    assert meta["skipped"] == [{"file": "no_face.png", "reason": "no face found"}]
    by_id = {r["source_id"].decode(): r for r in read_records(opts.out)}
    detector = MTCNN()
    truth, side = face_center(detector, astronaut)
    for key, offset in (("plain.png", (0, 0)), ("canvas.png", (400, 250)), ("exif.jpg", (0, 0))):
        x, y, w, h = by_id[key]["crop_box"]
        centre = np.array([x + w / 2, y + h / 2])
        assert np.abs(centre - (truth + offset)).max() < 0.1 * side, key
        assert 1.2 * side < w < 2.0 * side  # 25% margin on each side
        crop = tf.io.decode_png(by_id[key]["image_raw"]).numpy()
        big = np.asarray(Image.fromarray(crop).resize((256, 256), Image.LANCZOS))
        c, s = face_center(detector, big)  # the face is in the crop, centred
        assert np.abs(c - 128).max() < 0.12 * 256, (key, c)
    # on_no_face=center keeps the face-less photo as a centre square
    _, meta2 = build(tmp_path, src, name="fallback", sizes=(64,), crop="face",
                     on_no_face="center")
    assert meta2["count"] == 4


@pytest.mark.slow
def test_cat_face_crop_on_chelsea(tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    chelsea = skimage_data.chelsea()  # 451x300 close-up of a tabby cat
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(chelsea).save(src / "chelsea.png")
    Image.fromarray(np.full((300, 300, 3), 40, np.uint8)).save(src / "blank.png")
    opts, meta = build(tmp_path, src, sizes=(64,), crop="cat_face", min_face_size=24,
                       small="upscale")
    # What OpenCV 4.x's cascade finds on chelsea is a box on the nose and mouth (BUILD_NOTES):
    # it lies on the cat's lower face, inside the photo's face area.
    assert meta["skipped"] == [{"file": "blank.png", "reason": "no cat face found"}]
    (rec,) = read_records(opts.out)
    x, y, w, h = rec["crop_box"]
    assert 150 < x + w / 2 < 330 and 150 < y + h / 2 < 300
    _, meta2 = build(tmp_path, src, name="fallback", sizes=(64,), crop="cat_face",
                     on_no_face="center")
    assert meta2["count"] == 2


# ---------------------------------------------------------------------- reading back


def test_pipeline_reads_built_records_with_labels_and_counts_bad_records(tmp_path):
    src = tmp_path / "src"
    for cls in ("zero", "one"):
        (src / cls).mkdir(parents=True)
    value = {"zero": 0, "one": 255}
    for cls in ("zero", "one"):
        for i in range(6):
            Image.fromarray(np.full((40, 40, 3), value[cls], np.uint8)).save(src / cls / f"{i}.png")
    opts, meta = build(tmp_path, src, sizes=(32,), class_subfolders=True, num_shards=2)
    assert meta["label_names"] == ["one", "zero"]
    geometry, flips = Geometry(32, 3), Flips(lr=True)
    source = open_source(opts.out, geometry)
    ds = training_stream(source, flips, batch_size=4, seed=3, end_step=3, with_labels=True)
    for images, labels in ds:
        assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
        assert labels.dtype == tf.int32
        means = tf.reduce_mean(images, axis=[1, 2, 3]).numpy()
        # label 0 = "one" (white, +1), label 1 = "zero" (black, -1): aligned per example
        np.testing.assert_allclose(means, np.where(labels.numpy() == 0, 1.0, -1.0), atol=0.02)
    again = training_stream(source, flips, batch_size=4, seed=3, end_step=3, with_labels=True)
    for (a, la), (b, lb) in zip(ds, again):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(la.numpy(), lb.numpy())
    # A record whose image bytes do not decode is skipped and counted.
    bad = os.path.join(opts.out, "train-00000-of-00002.tfrecord")
    with tf.io.TFRecordWriter(os.path.join(opts.out, "extra-bad.tfrecord")) as w:
        w.write(records.make_example(b"garbage", (32, 32, 3), 0, "bad", 0))
    meta_path = os.path.join(opts.out, "metadata.json")
    info = json.load(open(meta_path))
    info["count"] += 1
    json.dump(info, open(meta_path, "w"))
    source = open_source(opts.out, geometry)
    assert source.num_examples == 12 and source.skipped == 1
    assert os.path.exists(bad)


def test_reads_foreign_image_raw_records(tmp_path):
    """TFRecords written by another tool with only `image_raw` (source 004's convention)."""
    path = tmp_path / "faces.tfrecords"
    with tf.io.TFRecordWriter(str(path)) as w:
        for v in (10, 200):
            raw = tf.io.encode_jpeg(np.full((50, 50, 3), v, np.uint8)).numpy()
            ex = tf.train.Example(features=tf.train.Features(feature={
                "image_raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw]))}))
            w.write(ex.SerializeToString())
    source = open_source(str(path), Geometry(24, 3))
    assert source.num_examples == 2 and not source.has_labels
    assert source.arrays[0].shape == (2, 24, 24, 3)


# ---------------------------------------------------------------------- the command


def run_build(*args, timeout=300):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it (conftest sets it to 2)
    return subprocess.run([sys.executable, "-m", "dcgan_tf.data.build", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def test_cli_summary_and_bad_input(photo_tree, tmp_path):
    root, good = photo_tree
    proc = run_build(f"--source={root}", f"--out={tmp_path / 'o'}", "--size=16",
                     "--class_subfolders", "--dedup")
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    # tiny.png (30x40) is big enough for 16 px: written too
    assert f"wrote {len(good) + 1} records" in last and "skipped 6" in last
    # The command's error contract (one line on stderr, exit 2), in this process.
    from conftest import one_error_line, run_main

    for args, message in [
        ([f"--source={root}", f"--out={tmp_path / 'o'}", "--size=8"], "different dataset"),
        (["--source=tfds:mnist", f"--out={tmp_path / 'x'}"], "cannot reach the internet"),
    ]:
        code, _, err = run_main("dcgan_tf.data.build", *args)
        assert code == 2 and message in one_error_line(err, "dcgan_tf.data.build"), (args, err)
    # The same contract in-process for the rest (every UserError becomes that line).
    base = {f.name: f.default for f in dataclasses.fields(BuildOptions)}
    for kw, message in [
        (dict(source=str(tmp_path / "missing"), out=str(tmp_path / "x")), "not a folder"),
        (dict(source=str(root), out=str(tmp_path / "x"), crop="squash"), "Unknown crop"),
        (dict(source=str(root), out=str(root / "inside")), "must not be inside"),
        (dict(source=str(root), out=str(tmp_path / "x"), channels=2), "--channels"),
    ]:
        with pytest.raises(UserError, match=message):
            build_lib.build(BuildOptions(**dict(base, **kw)), progress=False)
    fv = types.SimpleNamespace(**dict(base, size=["big"]))
    with pytest.raises(UserError, match="--size must be"):
        build_lib.options_from_flags(fv)
    assert not os.path.exists(tmp_path / "x")


def test_stream_splits_across_replicas(tmp_path):
    """Under MirroredStrategy (2 logical CPUs, in a fresh process) every replica gets its
    half of each global batch, images and labels together, nothing repeated."""
    script = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from dcgan_tf.data.geometry import Geometry
from dcgan_tf.data.sources import open_source
from dcgan_tf.data.stream import training_stream
source = open_source("digits", Geometry(16, 1))
ds = training_stream(source, batch_size=8, seed=0, end_step=3, with_labels=True)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
dist = strategy.experimental_distribute_dataset(ds)
for (images, labels), (gi, gl) in zip(dist, ds):
    parts = strategy.experimental_local_results(images)
    lparts = strategy.experimental_local_results(labels)
    assert [p.shape[0] for p in parts] == [4, 4], [p.shape for p in parts]
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts]), gi.numpy())
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in lparts]), gl.numpy())
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def test_stacked_digits_put_one_labelled_digit_in_each_channel(tmp_path):
    # three "digits": constant images of grey 0, 100 and 200, labelled 0, 1, 2
    images = np.repeat(np.array([0, 100, 200], np.uint8)[:, None, None], 8, 1)
    images = np.repeat(images, 8, 2)[..., None]
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([0, 1, 2]))
    opts, meta = build(tmp_path, tmp_path / "d.npz", sizes=(8,), channels=3, stack_digits=40,
                       format="png")
    recs = read_records(opts.out)
    assert meta["count"] == 40 and len(recs) == 40
    for r in recs:
        image = tf.io.decode_png(r["image_raw"]).numpy()
        digits = [int(image[..., c].mean()) // 100 for c in range(3)]
        assert r["label"] == digits[0] * 100 + digits[1] * 10 + digits[2]
    assert len({r["label"] for r in recs}) > 10  # random combinations
    with pytest.raises(UserError, match="--channels=3"):
        build(tmp_path, tmp_path / "d.npz", name="x", channels=1, stack_digits=5)
