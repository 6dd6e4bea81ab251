"""Issue 22, the first hour (part c): captions on arithmetic / nearest tiles and on the
frames of progress.gif, and the run's hyperparameters in TensorBoard's HParams dashboard.
(The web page's truncation, download and label interpolation: tests/test_serve.py.)"""

import io

import numpy as np
import pytest
from test_generate import export_dir  # noqa: F401  (the module fixture: a tiny export)
from PIL import Image

from dcgan_tf import generate as G
from dcgan_tf.artifacts.run_report import write_animation
from dcgan_tf.artifacts.saved_generator import LoadedGenerator
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.utils.tiles import (add_caption, captioned_tile, make_tile, text_width,
                                  write_tile)

BAND = 16  # one line of caption: 12 px of text + 4


def dark(pixels) -> int:
    """How many pixels are clearly darker than the white background."""
    return int((np.asarray(pixels) < 128).sum())




def test_captioned_tile_adds_a_band_under_every_cell_and_draws_in_it():
    images = np.zeros((4, 32, 32, 1), np.float32)  # mid-gray cells: the text is darker
    plain = make_tile(images, cols=4)
    caps = captioned_tile(list(images), ["generated", "nearest real\nd = 0.125", "", "x"],
                          cols=4)
    scale = 2  # "nearest real" (55 px) does not fit 32 px: cells are doubled
    assert caps.shape == (64 + 2 * 12 + 4 + 2 * 2, 4 * 64 + 5 * 2, 1)
    assert plain.shape == (32 + 2 * 2, 4 * 32 + 5 * 2, 1)
    top = 2 + 32 * scale  # the band of the one row starts below the (enlarged) cells
    for k, text in enumerate(["generated", "nearest real", "", "x"]):
        x = 2 + k * (64 + 2)
        band = caps[top:top + 28, x:x + 64]
        assert (dark(band) > 0) == bool(text), (k, text)
    # the cells are the images, enlarged by whole pixels
    np.testing.assert_array_equal(caps[2:66, 2:66, 0], np.full((64, 64), 128, np.uint8))
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        captioned_tile(list(images[:2]), ["a"])


def test_arithmetic_tile_says_which_image_is_which(export_dir):
    gen = LoadedGenerator(export_dir)
    files = G.arithmetic(gen, a_seeds=[1, 2], b_seeds=[3], c_seeds=[4], variations=2)
    tile = np.asarray(Image.open(io.BytesIO(files["arithmetic.png"])))
    cell = 64  # 32 px images doubled: "mean of A" is 45 px wide
    assert tile.shape[:2] == (4 * (cell + BAND) + 5 * 2, 3 * cell + 4 * 2)
    for r, used in enumerate([3, 2, 2, 3]):  # A: 2 seeds + mean; B, C: 1 + mean; result + 2
        top = 2 + r * (cell + BAND + 2) + cell
        for k in range(3):
            x = 2 + k * (cell + 2)
            band = tile[top:top + BAND, x:x + cell]
            assert (dark(band) > 0) == (k < used), (r, k)
            if k >= used:  # an unused cell is background, not a black square
                assert (tile[top - cell:top, x:x + cell] == 255).all()


def test_progress_gif_frames_carry_their_step(tmp_path):
    rng = np.random.default_rng(0)
    wd = Workdir(str(tmp_path))
    for step in (10, 20000):
        write_tile(wd.sample_path(step), rng.uniform(-1, 1, (4, 8, 8, 1)))
    gif = Image.open(write_animation(str(tmp_path)))
    tile_h = 2 * 8 + 3 * 2
    # the 22 px tile is narrower than "step 20000": every frame is widened to fit it
    assert gif.size == (text_width("step 20000") + 4, tile_h + BAND)
    bands = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frame = np.asarray(gif.convert("L"))
        bands.append(frame[tile_h:])
        assert dark(bands[-1]) > 0  # "step N" drawn in the band
    assert not np.array_equal(bands[0], bands[1])  # "step 10" vs "step 20000"
    assert dark(bands[1]) > dark(bands[0])


def test_add_caption_keeps_the_tile_and_centres_the_text():
    tile = np.full((20, 120, 3), 255, np.uint8)
    out = add_caption(tile, "step 7")
    assert out.shape == (20 + BAND, 120, 3)
    np.testing.assert_array_equal(out[:20], tile)
    cols = np.nonzero((out[20:, :, 0] < 128).any(axis=0))[0]
    assert cols.size and abs((cols[0] + cols[-1]) / 2 - 60) < 6  # centred


def hparams_sessions(logdir) -> list[dict]:
    """The HParams plugin's session-start records in the event files under `logdir`: one
    {name: value} per record."""
    import glob
    import os

    import tensorflow as tf
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    found = []
    for path in sorted(glob.glob(os.path.join(str(logdir), "**", "events.out.tfevents.*"),
                                 recursive=True)):
        for record in tf.data.TFRecordDataset(path):
            for value in Event.FromString(record.numpy()).summary.value:
                if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(
                    value.metadata.plugin_data.content)
                if data.HasField("session_start_info"):
                    hp = data.session_start_info.hparams
                    found.append({k: (v.string_value or v.number_value or v.bool_value)
                                  for k, v in hp.items()})
    return found


def test_hparams_are_written_for_the_dashboard(tmp_path):
    import tensorflow as tf

    from dcgan_tf.config import Config
    from dcgan_tf.training.callbacks import hparams_of, write_hparams

    config = Config(workdir=str(tmp_path), model="dcgan64", loss="hinge", d_lr=3e-4,
                    batch_size=16, spectral_norm=True)
    writer = tf.summary.create_file_writer(str(tmp_path / "tensorboard"))
    write_hparams(writer, config)
    sessions = hparams_sessions(tmp_path / "tensorboard")
    assert len(sessions) == 1
    got = sessions[0]
    assert got["model"] == "dcgan64" and got["loss"] == "hinge"
    assert got["batch_size"] == 16 and got["d_lr"] == pytest.approx(3e-4)
    assert got["spectral_norm"] is True
    assert "workdir" not in got and "ngf" not in got  # a path; None (the builder's default)
    assert set(got) == set(hparams_of(config))
