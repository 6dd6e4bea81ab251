"""Latent directions (SeFa, GANSpace) into an export, their use in the web API, and the
truncated-normal truncation. The page's sliders: tests/test_serve.py."""

from __future__ import annotations

import io
import json
import os

import keras
import numpy as np
import pytest
from conftest import one_error_line, run_main
from PIL import Image

from dcgan_tf.artifacts import latent_directions
from dcgan_tf.artifacts.saved_generator import LoadedGenerator, export_generator
from dcgan_tf.models import build_models
from dcgan_tf.models.directions import latent_weight, sefa
from dcgan_tf.models.latent import get_latent
from dcgan_tf.utils.errors import UserError

LATENT = 8
PGGAN = dict(resolution=16, channels=1, fmap_base=64, fmap_max=16)


def calibrated_dcgan(num_classes=0):
    """A tiny dcgan64 whose BatchNorm moving statistics come from a few training-mode
    passes: at initialisation (mean 0, variance 1) its images are flat grey to 1e-5, and
    no direction could change them."""
    keras.utils.set_random_seed(0)
    pair = build_models("dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                        latent_dim=LATENT, num_classes=num_classes)
    z = np.random.default_rng(0).standard_normal((64, LATENT)).astype(np.float32)
    for _ in range(30):
        pair.generator(z, training=True)
    return pair


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """An export with directions written by the command (sefa and ganspace, 4 each)."""
    path = str(tmp_path_factory.mktemp("dirs") / "export")
    export_generator(calibrated_dcgan().generator, LATENT, path)
    with open(os.path.join(path, "export.json")) as f:
        before = json.load(f)
    code, out, err = run_main("dcgan_tf.directions", f"--model={path}", "--num=4",
                              "--samples=200", "--method=sefa,ganspace")
    assert code == 0, err
    return path, before, out


def test_sefa_directions_are_the_top_eigenvectors_of_the_first_layer():
    # dcgan64, conditional: A is the z columns of the first transposed conv's kernel
    pair = build_models("dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                        latent_dim=LATENT, num_classes=3)
    kernel = pair.generator.get_layer(index=-1).get_layer("project").kernel.numpy()
    a = latent_weight(pair.generator, LATENT)
    np.testing.assert_array_equal(a, kernel.reshape(-1, LATENT + 3)[:, :LATENT])
    d, values = sefa(a, 5)
    np.testing.assert_allclose(d @ d.T, np.eye(5), atol=1e-10)  # unit and orthogonal
    expected_values, expected = np.linalg.eigh(a.T @ a)
    np.testing.assert_allclose(values, expected_values[::-1][:5], rtol=1e-10)
    for k in range(5):  # each is an eigenvector of the top eigenvalues (sign aside)
        np.testing.assert_allclose(abs(d[k] @ expected[:, -1 - k]), 1.0, atol=1e-8)
    # pggan: the equalized dense after the pixel norm, with its run-time He scale
    g = build_models("pggan", latent_dim=LATENT, **PGGAN).generator
    np.testing.assert_allclose(latent_weight(g.final_model(), LATENT),
                               g.dense.kernel.numpy().T * g.dense.scale, rtol=1e-6)


def test_top_direction_changes_images_more_than_random_ones():
    """On a freshly initialised tiny pggan (healthy activations from equalized learning
    rates), moving along SeFa's top direction changes the images more than moving the same
    length along random directions orthogonal to it, and those more than its last one."""
    keras.utils.set_random_seed(0)
    g = build_models("pggan", latent_dim=16, **PGGAN).generator.final_model()
    d, _ = sefa(latent_weight(g, 16), 16)
    z = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    base = np.asarray(g(z))

    def change(v):
        return float(np.abs(np.asarray(g((z + 3.0 * v).astype(np.float32))) - base).mean())

    rng = np.random.default_rng(1)
    randoms = []
    for _ in range(8):
        r = rng.standard_normal(16)
        r -= (r @ d[0]) * d[0]
        randoms.append(change(r / np.linalg.norm(r)))
    assert change(d[0]) > np.mean(randoms) > change(d[-1]), (change(d[0]), randoms)


def test_command_writes_directions_npz_and_export_json(export, tmp_path, monkeypatch):
    path, before, out = export
    assert out.count("\n") == 1 and "Wrote 8 directions (4 sefa, 4 ganspace)" in out
    with np.load(os.path.join(path, "directions.npz"), allow_pickle=False) as data:
        d = data["directions"]
        assert d.shape == (8, LATENT) and d.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
        assert list(data["names"][:2]) == ["sefa 0", "sefa 1"]
        assert list(data["method"]) == ["sefa"] * 4 + ["ganspace"] * 4
        np.testing.assert_allclose(data["range"], 3 * data["std"], rtol=1e-6)
        assert 0.7 < data["std"].min() and data["std"].max() < 1.3  # normal z along a unit d
    with open(os.path.join(path, "export.json")) as f:
        info = json.load(f)
    entry = info.pop("directions")
    assert info == before  # nothing else changed
    assert entry["file"] == "directions.npz" and entry["count"] == 8
    assert entry["methods"] == ["sefa", "ganspace"] and "alpha" in entry["apply"]
    assert not [n for n in os.listdir(path) if ".tmp" in n]
    gen = LoadedGenerator(path)
    found = latent_directions.read_directions(path, LATENT)
    assert found.names == list(entry["names"])
    # a failed export.json write leaves the old one whole, and no temporary file
    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(latent_directions, "atomic_write_text", broken)
    with pytest.raises(UserError, match="No space left"):
        latent_directions.write_directions(path, found)
    with open(os.path.join(path, "export.json")) as f:
        assert json.load(f)["directions"] == entry
    monkeypatch.undo()
    # errors are one line: not an export, an unknown method, class_means without labels
    code, _, err = run_main("dcgan_tf.directions", f"--model={tmp_path}")
    assert code == 2 and "neither an export" in one_error_line(err, "dcgan_tf.directions")
    for flag, message in (("--method=pca", "Unknown --method pca"),
                          ("--method=class_means", "class_means needs --classifier"),
                          ("--num=0", "--num must be at least 1")):
        code, _, err = run_main("dcgan_tf.directions", f"--model={path}", flag)
        assert code == 2 and message in one_error_line(err, "dcgan_tf.directions"), err
    # generate --mode=directions: one row per direction, alpha from -range to +range
    from dcgan_tf import generate

    tile = generate.direction_walk(gen, which=[0, 5], seed=2, steps=3)["directions.png"]
    assert tile == generate.direction_walk(gen, which=[0, 5], seed=2, steps=3)["directions.png"]
    width, height = Image.open(io.BytesIO(tile)).size
    assert height == 2 * 32 + 3 * 2 and width > 3 * 32 + 4 * 2  # 2 rows, 3 columns, names
    with pytest.raises(UserError, match=r"--directions \[9\] out of range"):
        generate.direction_walk(gen, which=[9])


def test_truncation_resamples_inside_the_threshold():
    normal = get_latent("normal")
    z = normal.sample((64, 32), 5).numpy()
    t = normal.sample((64, 32), 5, 0.7).numpy()
    assert np.abs(t).max() <= 0.7 and np.abs(z).max() > 1.5
    inside = np.abs(z) <= 0.7
    np.testing.assert_array_equal(t[inside], z[inside])  # only the outside ones are redrawn
    assert np.all(t[~inside] != z[~inside] * 0.7)
    np.testing.assert_array_equal(normal.sample((64, 32), 5, 0.7).numpy(), t)  # same per seed
    assert not np.array_equal(normal.sample((64, 32), 6, 0.7).numpy(), t)
    scaled = normal.sample((64, 32), 5, 0.7, "scale").numpy()
    np.testing.assert_allclose(scaled, 0.7 * z, rtol=1e-6)
    # the truncated normal's spread (std of N(0, 1) within +-0.7: 0.3870), not scaling's 0.7
    assert abs(t.std() - 0.3870) < 0.02
    uniform = get_latent("uniform")  # uniform z: both names shrink the support to [-t, t]
    np.testing.assert_array_equal(uniform.sample((4, 8), 1, 0.5).numpy(),
                                  uniform.sample((4, 8), 1, 0.5, "scale").numpy())
    with pytest.raises(ValueError, match="truncation_method"):
        normal.sample((1, 2), 0, 0.5, "clip")


def test_api_takes_direction_vectors_and_rejects_bad_ones(export):
    from dcgan_tf.serve import Service, create_app

    path = export[0]
    service = Service(path, max_count=4)
    c = create_app(service).test_client()
    info = c.get("/api/info").get_json()
    assert [d["name"] for d in info["directions"]][:2] == ["sefa 0", "sefa 1"]
    assert info["truncation_method"] == "resample"
    plain = c.post("/api/generate", json={"seed": 3, "count": 2}).data
    zero = c.post("/api/generate", json={"seed": 3, "count": 2, "directions": [0] * 8}).data
    moved = c.post("/api/generate", json={"seed": 3, "count": 2,
                                          "directions": [2.5] + [0] * 7}).data
    assert zero == plain and moved != plain
    # the page's z: seed's z, truncated, then + sum alpha_k d_k
    gen, found = service.gen, service.directions
    alphas = [1.0, 0, -2.0, 0, 0, 0.5, 0, 0]
    z = gen.z_for_seeds([3], 0.5) + found.offset(alphas)[None]
    r = c.post("/api/generate", json={"seed": 3, "count": 1, "truncation": 0.5,
                                      "directions": alphas})
    from dcgan_tf.utils.tiles import encode_png, make_tile

    assert r.data == encode_png(make_tile(gen.images(z), cols=1))
    for bad in ([0] * 7, [0] * 9, ["1"] + [0] * 7, [True] + [0] * 7, "0,0", None, {"a": 1},
                [[0]] * 8, [1e9] + [0] * 7):
        r = c.post("/api/generate", json={"seed": 0, "directions": bad})
        assert r.status_code == 400, bad
        assert "directions" in r.get_json()["error"] and "\n" not in r.get_json()["error"]
    for raw in (b'{"directions": [NaN, 0, 0, 0, 0, 0, 0, 0]}',
                b'{"directions": [Infinity, 0, 0, 0, 0, 0, 0, 0]}'):
        r = c.post("/api/generate", data=raw, content_type="application/json")
        assert r.status_code == 400 and "finite" in r.get_json()["error"]


def test_a_damaged_directions_file_is_one_line(tmp_path):
    path = tmp_path / latent_directions.DIRECTIONS_FILE
    path.write_bytes(b"PK\x03\x04" + b"x" * 64)  # a zip cut short
    with pytest.raises(UserError, match="is damaged"):
        latent_directions.read_directions(str(tmp_path), 8)
    np.savez(path, directions=np.eye(2, 8, dtype=np.float32), names=np.array(["a", "b"]),
             method=np.array(["sefa"]), std=np.ones(2, np.float32),
             strength=np.ones(2, np.float32))
    with pytest.raises(UserError, match="arrays disagree"):
        latent_directions.read_directions(str(tmp_path), 8)
