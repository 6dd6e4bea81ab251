"""The generation tool and the report command: outputs, determinism by seed, bad input."""

import io
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import SMALL, one_error_line, run_main
from PIL import Image

from dcgan_tf import generate as G
from dcgan_tf.artifacts.run_report import read_metrics, smooth, write_animation, write_loss_plot
from dcgan_tf.artifacts.saved_generator import LoadedGenerator, export_generator
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.models import build_models
from dcgan_tf.models.latent import interpolation_path
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.tiles import write_tile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    pair = build_models("dcgan64", **SMALL["dcgan64"], latent_dim=8)
    path = str(tmp_path_factory.mktemp("exp") / "export")
    export_generator(pair.generator, 8, path)
    return path


def png(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def flags(**kw):
    base = dict(model="", out="", mode="sample", num=4, seed=0, tile=True, individual=False,
                seeds="0,1", frames=4, method="slerp", a_seeds="", b_seeds="", c_seeds="",
                variations=3, truncation=None, truncation_method="resample", labels="")
    return types.SimpleNamespace(**{**base, **kw})


def test_sample_is_deterministic_by_seed(export_dir):
    gen = LoadedGenerator(export_dir)
    files = G.sample(gen, num=6, seed=10, individual=True)
    assert set(files) == {"samples.png"} | {f"images/seed_{s:06d}.png" for s in range(10, 16)}
    assert png(files["samples.png"]).shape == (2 * 32 + 3 * 2, 3 * 32 + 4 * 2)  # 2x3 grid, grey
    again = G.sample(gen, num=2, seed=12, individual=True, tile=False)
    assert again["images/seed_000012.png"] == files["images/seed_000012.png"]  # only its seed
    assert files["images/seed_000012.png"] != files["images/seed_000013.png"]
    np.testing.assert_array_equal(png(files["images/seed_000011.png"]),
                                  gen.images(gen.z_for_seeds([11]))[0, ..., 0])
    # truncation_method=scale scales z (resample, the default: tests/test_directions.py)
    np.testing.assert_allclose(gen.z_for_seeds([3], 0.5, "scale"), 0.5 * gen.z_for_seeds([3]),
                               rtol=1e-6)


def test_interpolation_paths_and_files(export_dir):
    gen = LoadedGenerator(export_dir)
    zs = gen.z_for_seeds([1, 2, 3])
    path = interpolation_path(zs, 5, "slerp")
    assert path.shape == (9, 8)  # two legs of 5 sharing the middle point
    np.testing.assert_allclose(path[0], zs[0], atol=1e-5)
    np.testing.assert_allclose(path[4], zs[1], atol=1e-5)
    np.testing.assert_allclose(path[-1], zs[2], atol=1e-5)
    linear = interpolation_path(zs[:2], 5, "linear")
    np.testing.assert_allclose(linear[2], (zs[0] + zs[1]) / 2, atol=1e-6)
    slerp_mid = interpolation_path(zs[:2], 5, "slerp")[2]
    assert np.linalg.norm(slerp_mid) > np.linalg.norm(linear[2])  # slerp keeps the radius up
    files = G.interpolate(gen, seeds=[1, 2, 3], frames=5, method="slerp")
    strip = png(files["interpolation_slerp.png"])
    assert strip.shape == (32 + 2 * 2, 9 * 32 + 10 * 2)
    gif = Image.open(io.BytesIO(files["interpolation_slerp.gif"]))
    assert gif.n_frames == 9
    assert G.interpolate(gen, seeds=[1, 2, 3], frames=5) == files  # deterministic


def test_arithmetic_tile(export_dir):
    gen = LoadedGenerator(export_dir)
    files = G.arithmetic(gen, a_seeds=[1, 2, 3], b_seeds=[4, 5], c_seeds=[6], variations=5)
    tile = png(files["arithmetic.png"])
    # rows A, B, C, result; 6 columns; cells doubled (64 px) so "mean of A" fits under
    # them, each with a 16 px caption band below (tests/test_first_hour_c.py: the captions)
    assert tile.shape == (4 * (64 + 16) + 5 * 2, 6 * 64 + 7 * 2)
    assert G.arithmetic(gen, a_seeds=[1, 2, 3], b_seeds=[4, 5], c_seeds=[6], variations=5) == files


@pytest.mark.parametrize(
    "kw,message",
    [
        (dict(mode="draw"), "Unknown --mode 'draw'"),
        (dict(num=0), "--num must be between 1 and 4096, got 0"),
        (dict(num=100000), "--num must be between 1 and 4096"),
        (dict(mode="interpolate", seeds="4"), "at least two seeds"),
        (dict(mode="interpolate", seeds="1,x"), "must be integers separated by commas"),
        (dict(mode="interpolate", method="cubic"), "Unknown --method 'cubic'"),
        (dict(mode="arithmetic", a_seeds="1"), "--b_seeds needs at least one seed"),
        (dict(truncation=-1.0), "--truncation must be in (0, 2]"),
        (dict(tile=False), "Nothing to write"),
        (dict(labels="1,0"), "is not a conditional generator"),
    ],
)
def test_bad_requests_raise_one_clear_error(export_dir, tmp_path, kw, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        G.run(flags(model=export_dir, out=str(tmp_path / "out"), **kw))
    assert not (tmp_path / "out").exists()
    assert os.listdir(tmp_path) == []  # nothing partial left behind


def test_cli_writes_files_and_fails_cleanly(export_dir, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run = lambda *a: subprocess.run([sys.executable, "-m", "dcgan_tf.generate", *a], cwd=ROOT,
                                    env=env, capture_output=True, text=True, timeout=300)
    ok = run(f"--model={export_dir}", f"--out={tmp_path / 'o'}", "--num=3", "--individual")
    assert ok.returncode == 0, ok.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["images", "samples.png"]
    assert sorted(os.listdir(tmp_path / "o" / "images")) == [
        "seed_000000.png", "seed_000001.png", "seed_000002.png"]
    assert ok.stdout.count("\n") == 1 and "3 images to" in ok.stdout, ok.stdout
    for args, message in [
        ((f"--model={tmp_path}", f"--out={tmp_path / 'x'}"), "neither an export"),
        ((f"--model={export_dir}", f"--out={tmp_path / 'no' / 'such' / 'dir'}"),
         "does not exist"),
        ((f"--model={export_dir}", f"--out={tmp_path / 'o'}", "--num=-1"), "--num must be"),
    ]:  # the error contract of the same command, in this process
        code, _, err = run_main("dcgan_tf.generate", *args)
        assert code == 2 and message in one_error_line(err, "dcgan_tf.generate"), err
    assert not (tmp_path / "x").exists() and not (tmp_path / "no").exists()


def test_report_animation_and_loss_plot(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"loss": "bce"}))
    rng = np.random.default_rng(0)
    for step in (10, 20, 30):
        write_tile(Workdir(str(tmp_path)).sample_path(step),
                   rng.uniform(-1, 1, (4, 8, 8, 3)), rows=2, cols=2)
    write_tile(Workdir(str(tmp_path)).real_batch_path, rng.uniform(-1, 1, (4, 8, 8, 3)))
    with open(tmp_path / "metrics.jsonl", "w") as f:
        for step in range(1, 40):
            f.write(json.dumps({"step": step, "d_loss": 1.0 + 0.01 * step, "g_loss": 2.0}) + "\n")
        f.write('{"step": 40, "d_lo')  # a run killed mid-line
    assert len(read_metrics(str(tmp_path))) == 39
    gif = Image.open(write_animation(str(tmp_path)))
    assert gif.n_frames == 3  # one frame per step tile, not the real batch
    # progress.mp4 beside it (imageio-ffmpeg, in the test extra): it plays, read back
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(tmp_path / "progress.mp4"))
    meta = next(reader)
    frames = list(reader)
    width, height = gif.size
    assert tuple(meta["size"]) == (width + width % 2, height + height % 2)
    assert len(frames) == 3 and len(frames[0]) == meta["size"][0] * meta["size"][1] * 3
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".progress")]
    plot = Image.open(write_loss_plot(str(tmp_path)))
    assert plot.format == "PNG" and plot.size[0] > 400
    np.testing.assert_allclose(smooth([2.0, 2.0, 2.0]), [2.0, 2.0, 2.0])

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_main("dcgan_tf.report", f"--workdir={empty}")
    assert code == 2 and "has no sample tiles yet" in one_error_line(err, "dcgan_tf.report")
