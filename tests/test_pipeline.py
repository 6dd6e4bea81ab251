"""The input pipeline over data the tests make: sources, preprocessing, the resumable
stream (shape, dtype, range, counts, determinism)."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dcgan_tf.data.pipeline import Preprocess, open_source, to_model_range, training_stream
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
    prep = Preprocess(32, 1)
    source = open_source("digits", prep)
    assert source.num_examples == 1797 and source.has_labels
    stream, per_epoch = training_stream(source, prep, batch_size=64, seed=0)
    assert per_epoch == 1797 // 64
    batch = take(stream, 1)[0]
    assert batch.shape == (64, 32, 32, 1) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0 and batch.min() < -0.9 and batch.max() > 0.9


def test_stream_is_deterministic_and_resumes_at_the_exact_batch():
    prep = Preprocess(16, 1, flip_lr=True, flip_ud=True)
    source = open_source("digits", prep)
    full, per_epoch = training_stream(source, prep, batch_size=100, seed=5)
    first = take(full, per_epoch + 3)  # crosses an epoch boundary
    again = take(training_stream(source, prep, batch_size=100, seed=5)[0], per_epoch + 3)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    for start in (3, per_epoch, per_epoch + 1):
        resumed = take(training_stream(source, prep, batch_size=100, seed=5,
                                       start_step=start)[0], 2)
        np.testing.assert_array_equal(resumed[0], first[start])
        np.testing.assert_array_equal(resumed[1], first[start + 1])
    other = take(training_stream(source, prep, batch_size=100, seed=6)[0], 1)
    assert not np.array_equal(other[0], first[0])
    # epochs are different permutations
    assert not np.array_equal(first[0], first[per_epoch])


def test_each_epoch_visits_every_image_once():
    images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1) * np.ones((1, 8, 8, 1), np.uint8)
    source_path = None
    prep = Preprocess(8, 1)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        source_path = f"{d}/x.npz"
        np.savez(source_path, images=images)
        source = open_source(source_path, prep)
        stream, per_epoch = training_stream(source, prep, batch_size=10, seed=1)
        batches = take(stream, per_epoch * 2)
    ids = lambda bs: sorted(int(round((b[0, 0, 0] + 1) * 127.5)) for batch in bs for b in batch)
    assert ids(batches[:per_epoch]) == list(range(40))
    assert ids(batches[per_epoch:]) == list(range(40))


def test_flips_are_applied_per_image():
    image = np.zeros((1, 8, 8, 1), np.uint8)
    image[0, 0, 0, 0] = 255  # a bright top-left pixel
    prep = Preprocess(8, 1, flip_lr=True, flip_ud=True)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        np.savez(f"{d}/one.npz", images=np.repeat(image, 64, axis=0))
        source = open_source(f"{d}/one.npz", prep)
        batch = take(training_stream(source, prep, batch_size=64, seed=0)[0], 1)[0]
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
    prep = Preprocess(16, 3)
    source = open_source(str(tmp_path), prep)
    assert source.num_examples == 5
    batch = take(training_stream(source, prep, batch_size=5, seed=0)[0], 1)[0]
    assert batch.shape == (5, 16, 16, 3)


def test_tfrecords_with_image_raw_are_read(tmp_path):
    images = _images(6, size=24)
    with tf.io.TFRecordWriter(str(tmp_path / "faces-00000-of-00001.tfrecord")) as w:
        for im in images:
            ex = tf.train.Example(features=tf.train.Features(feature={
                "image_raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_jpeg(im)]))}))
            w.write(ex.SerializeToString())
    prep = Preprocess(12, 3)
    source = open_source(str(tmp_path), prep)
    assert source.num_examples == 6
    batch = take(training_stream(source, prep, batch_size=3, seed=0)[0], 1)[0]
    assert batch.shape == (3, 12, 12, 3) and -1.0 <= batch.min() and batch.max() <= 1.0


def test_resize_then_center_cuts_the_middle():
    # 256x256 with a 64x64 white square in the middle: the centre crop is all white.
    image = np.zeros((256, 256, 3), np.uint8)
    image[96:160, 96:160] = 255
    out = to_model_range(tf.constant(image), Preprocess(64, 3, "resize_then_center", 256))
    assert out.shape == (64, 64, 3)
    np.testing.assert_allclose(out.numpy(), 1.0, atol=1e-5)
    out = to_model_range(tf.constant(image), Preprocess(64, 3, "resize"))
    assert out.numpy().min() == pytest.approx(-1.0)  # whole image: black border remains


def test_center_crop_keeps_aspect_and_channel_conversion():
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, 20:60] = 200  # the central square is uniformly 200
    out = to_model_range(tf.constant(wide), Preprocess(20, 1, "center")).numpy()
    assert out.shape == (20, 20, 1)
    np.testing.assert_allclose(out, 200 / 127.5 - 1.0, atol=1e-3)


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
        open_source(data, Preprocess(16, 1))


def test_empty_folder_and_oversized_batch(tmp_path):
    with pytest.raises(UserError, match="holds no images"):
        open_source(str(tmp_path), Preprocess(16, 1))
    prep = Preprocess(16, 1)
    source = open_source("digits", prep)
    with pytest.raises(UserError, match=r"larger than the dataset \(1797 images"):
        training_stream(source, prep, batch_size=2000, seed=0)
