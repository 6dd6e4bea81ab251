"""The input pipeline over data the tests make: sources, preprocessing, the resumable
stream (shape, dtype, range, counts, determinism)."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dcgan_tf.data.geometry import Geometry, fit_geometry
from dcgan_tf.data.sources import open_source
from dcgan_tf.data.stream import Flips, training_stream
from dcgan_tf.utils.errors import UserError


def _png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _images(n, size=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def take(stream, n):
    return [b.numpy() for b in stream.take(n)]


def test_digits_stream_shapes_range_and_epoch_length():
    source = open_source("digits", Geometry(32, 1))
    assert source.num_examples == 1797 and source.has_labels
    stream = training_stream(source, batch_size=64, seed=0)
    assert source.steps_per_epoch(64) == 1797 // 64
    batch = take(stream, 1)[0]
    assert batch.shape == (64, 32, 32, 1) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0 and batch.min() < -0.9 and batch.max() > 0.9


def test_stream_is_deterministic_and_resumes_at_the_exact_batch():
    flips = Flips(lr=True, ud=True)
    source = open_source("digits", Geometry(16, 1))
    full = training_stream(source, flips, batch_size=100, seed=5)
    per_epoch = source.steps_per_epoch(100)
    first = take(full, per_epoch + 3)  # crosses an epoch boundary
    again = take(training_stream(source, flips, batch_size=100, seed=5), per_epoch + 3)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    for start in (3, per_epoch, per_epoch + 1):
        resumed = take(training_stream(source, flips, batch_size=100, seed=5,
                                       start_step=start), 2)
        np.testing.assert_array_equal(resumed[0], first[start])
        np.testing.assert_array_equal(resumed[1], first[start + 1])
    other = take(training_stream(source, flips, batch_size=100, seed=6), 1)
    assert not np.array_equal(other[0], first[0])
    # epochs are different permutations
    assert not np.array_equal(first[0], first[per_epoch])


def test_each_epoch_visits_every_image_once():
    images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1) * np.ones((1, 8, 8, 1), np.uint8)
    source_path = None
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        source_path = f"{d}/x.npz"
        np.savez(source_path, images=images)
        source = open_source(source_path, Geometry(8, 1))
        stream = training_stream(source, batch_size=10, seed=1)
        per_epoch = source.steps_per_epoch(10)
        batches = take(stream, per_epoch * 2)
    ids = lambda bs: sorted(int(round((b[0, 0, 0] + 1) * 127.5)) for batch in bs for b in batch)
    assert ids(batches[:per_epoch]) == list(range(40))
    assert ids(batches[per_epoch:]) == list(range(40))


def test_flips_are_applied_per_image():
    image = np.zeros((1, 8, 8, 1), np.uint8)
    image[0, 0, 0, 0] = 255  # a bright top-left pixel
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        np.savez(f"{d}/one.npz", images=np.repeat(image, 64, axis=0))
        source = open_source(f"{d}/one.npz", Geometry(8, 1))
        batch = take(training_stream(source, Flips(lr=True, ud=True), batch_size=64, seed=0),
                     1)[0]
    corners = {(int(np.argmax(b[..., 0]) // 8), int(np.argmax(b[..., 0]) % 8)) for b in batch}
    assert corners == {(0, 0), (0, 7), (7, 0), (7, 7)}  # all four flip combinations occur


def test_folder_source_skips_bad_files_and_keeps_every_good_one(tmp_path):
    good = _images(5)
    for i, im in enumerate(good[:3]):
        (tmp_path / f"a{i}.png").write_bytes(_png(im))
    sub = tmp_path / "sub"
    sub.mkdir()
    for i, im in enumerate(good[3:]):
        (sub / f"b{i}.jpg").write_bytes(_jpeg(im))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "truncated.jpg").write_bytes(_jpeg(good[0])[:200])
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path), Geometry(16, 3))
    assert source.num_examples == 5
    batch = take(training_stream(source, batch_size=5, seed=0), 1)[0]
    assert batch.shape == (5, 16, 16, 3)


def test_tfrecords_with_image_raw_are_read(tmp_path):
    images = _images(6, size=24)
    with tf.io.TFRecordWriter(str(tmp_path / "faces-00000-of-00001.tfrecord")) as w:
        for im in images:
            ex = tf.train.Example(features=tf.train.Features(feature={
                "image_raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_jpeg(im)]))}))
            w.write(ex.SerializeToString())
    source = open_source(str(tmp_path), Geometry(12, 3))
    assert source.num_examples == 6
    batch = take(training_stream(source, batch_size=3, seed=0), 1)[0]
    assert batch.shape == (3, 12, 12, 3) and -1.0 <= batch.min() and batch.max() <= 1.0


def test_resize_then_center_cuts_the_middle():
    # 256x256 with a 64x64 white square in the middle: the centre crop is all white.
    image = np.zeros((256, 256, 3), np.uint8)
    image[96:160, 96:160] = 255
    out = fit_geometry(tf.constant(image), Geometry(64, 3, "resize_then_center", 256))
    assert out.shape == (64, 64, 3) and out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), 255.0, atol=1e-5 * 127.5)
    out = fit_geometry(tf.constant(image), Geometry(64, 3, "resize"))
    assert out.numpy().min() == pytest.approx(0.0)  # whole image: black border remains


def test_center_crop_keeps_aspect_and_channel_conversion():
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, 20:60] = 200  # the central square is uniformly 200
    out = fit_geometry(tf.constant(wide), Geometry(20, 1, "center")).numpy()
    assert out.shape == (20, 20, 1)
    np.testing.assert_allclose(out, 200.0, atol=1e-3 * 127.5)


@pytest.mark.parametrize(
    "data,message",
    [
        ("", "--data is empty"),
        ("/no/such/place", "does not exist"),
        ("missing.npz", "does not exist"),
    ],
)
def test_bad_sources_raise_user_errors(data, message):
    with pytest.raises(UserError, match=message):
        open_source(data, Geometry(16, 1))


def test_empty_folder_and_oversized_batch(tmp_path):
    with pytest.raises(UserError, match="holds no images"):
        open_source(str(tmp_path), Geometry(16, 1))
    source = open_source("digits", Geometry(16, 1))
    with pytest.raises(UserError, match=r"larger than the dataset \(1797 images"):
        training_stream(source, batch_size=2000, seed=0)


def test_source_checks_labels_and_hands_out_a_seeded_subset(tmp_path):
    images = np.arange(30, dtype=np.uint8).reshape(30, 1, 1, 1) * np.ones((1, 8, 8, 1), np.uint8)
    np.savez(tmp_path / "l.npz", images=images, labels=np.arange(30) % 3,
             label_names=np.array(["a", "b", "c"]))
    source = open_source(str(tmp_path / "l.npz"), Geometry(8, 1))
    assert source.check_labels(4) == ["a", "b", "c", "3"]
    with pytest.raises(UserError, match=r"labels 0..2 but --num_classes=2"):
        source.check_labels(2)
    picked, labels = source.images(limit=10, seed=1)
    assert picked.shape == (10, 8, 8, 1) and picked.dtype == np.uint8
    assert list(labels) == [int(p) % 3 for p in picked[:, 0, 0, 0]]  # pairs kept
    assert list(picked[:, 0, 0, 0]) == sorted(picked[:, 0, 0, 0])  # in source order
    np.testing.assert_array_equal(source.images(limit=10, seed=1)[0], picked)
    unlabelled = open_source("digits", Geometry(8, 1))
    unlabelled.has_labels = False
    with pytest.raises(UserError, match="has no labels"):
        unlabelled.check_labels(10)


def test_streamed_source_matches_the_in_memory_one(tmp_path):
    """cache=False (or data above the memory budget) streams float pixels from disk: the
    same images in [-1, 1] as the in-memory uint8 arrays, up to their rounding."""
    for i, im in enumerate(_images(6, size=20)):
        (tmp_path / f"{i}.png").write_bytes(_png(im))
    memory = open_source(str(tmp_path), Geometry(12, 3))
    streamed = open_source(str(tmp_path), Geometry(12, 3), cache=False)
    assert streamed.arrays is None and streamed.num_examples == 6
    batch = take(training_stream(streamed, batch_size=6, seed=0, end_step=1), 1)[0]
    assert batch.dtype == np.float32 and -1.0 <= batch.min() and batch.max() <= 1.0
    expected = memory.arrays[0].astype(np.float32) / 127.5 - 1.0
    got = np.sort(batch.reshape(6, -1), axis=0)  # the shuffle order differs
    np.testing.assert_allclose(got, np.sort(expected.reshape(6, -1), axis=0),
                               atol=0.5 / 127.5 + 1e-6)
    np.testing.assert_array_equal(streamed.images(limit=6, seed=0)[0], memory.arrays[0])
