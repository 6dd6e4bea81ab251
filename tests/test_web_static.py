"""The in-browser page (export --format=web): in headless Chromium from a static server
(no dcgan_tf process), the tile equals TensorFlow's images of the same seeds (truncation,
directions and slerp included), the label and direction sliders move it, the URL keeps the
state; file:// and a missing runtime fail in one line."""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import time
import urllib.error

import numpy as np
import pytest

from dcgan_tf.artifacts import web_page
from dcgan_tf.artifacts.latent_directions import (find_directions, read_directions,
                                                   write_directions)
from dcgan_tf.artifacts.runtimes import TOLERANCE_FRACTION, TOLERANCE_LEVELS, compare
from dcgan_tf.artifacts.saved_generator import LoadedGenerator, export_generator
from dcgan_tf.models import build_models
from dcgan_tf.models.latent import slerp
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.tiles import make_tile

K = 3
TIMINGS = {}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.environ.get("DCGAN_TF_ARTIFACTS", os.path.join(REPO, "test-artifacts"))


def _export(path, num_classes, channels):
    pair = build_models("dcgan64", resolution=32, channels=channels, ngf=8, ndf=8,
                        num_classes=num_classes)
    rng = np.random.default_rng(0)
    for w in pair.generator.weights:  # wider than DCGAN's N(0, 0.02): images with contrast
        if len(w.shape) == 4:  # transposed-convolution kernels [h, w, out, in]
            fan_in = w.shape[0] * w.shape[1] * w.shape[3]
            w.assign(rng.normal(0, 1.5 / np.sqrt(fan_in), w.shape).astype("float32"))
    z = rng.standard_normal((64, pair.latent_dim)).astype("float32")
    inputs = [z, np.eye(num_classes, dtype="float32")[np.arange(64) % num_classes]] \
        if num_classes else z
    for _ in range(30):  # BatchNorm statistics of these weights
        pair.generator(inputs, training=True)
    info = {"class_names": ["zero", "one", "two"]} if num_classes else {}
    start = time.perf_counter()
    export_generator(pair.generator, pair.latent_dim, str(path), extra_info=info,
                     formats=("savedmodel", "keras", "web"))
    TIMINGS[f"export {path.parent.name}"] = time.perf_counter() - start
    # directions after the export, as `dcgan-tf directions` does: web/model.json follows
    write_directions(str(path), find_directions(LoadedGenerator(str(path)), ["sefa"], num=2))
    return str(path)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """{"cond": (export, url), "uncond": ...}: each web folder behind Python's static server."""
    root = tmp_path_factory.mktemp("web")
    out, servers = {}, []
    for name, k, channels in (("cond", K, 3), ("uncond", 0, 1)):
        export = _export(root / name / "export", k, channels)
        handler = functools.partial(_Quiet, directory=os.path.join(export, "web"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        out[name] = (export, f"http://127.0.0.1:{server.server_address[1]}/")
    yield out
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


TILE_RGB = """e => { const c = document.createElement('canvas');
    c.width = e.naturalWidth; c.height = e.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(e, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    return [c.height, c.width, Array.from(d)]; }"""


def tile_rgb(page) -> np.ndarray:
    h, w, data = page.eval_on_selector("#tile", TILE_RGB)
    return np.asarray(data, np.uint8).reshape(h, w, 4)[..., :3]


def open_page(browser, url):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(r.url) if "/api/" in r.url else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function("document.getElementById('tile').dataset.serial === '1' && "
                           "document.getElementById('tile').complete", timeout=60000)
    return page, errors, time.perf_counter() - start


def tile_after(page, action):
    before = page.eval_on_selector("#tile", "e => e.dataset.serial")
    action()
    page.wait_for_function(f"document.getElementById('tile').dataset.serial !== '{before}' && "
                           "document.getElementById('tile').complete")
    return tile_rgb(page)


def tensorflow_tile(gen, z, labels=None):
    tile = make_tile(gen.images(np.asarray(z, np.float32), labels),
                     cols=int(np.ceil(np.sqrt(len(z)))))
    return np.repeat(tile, 3, axis=2) if tile.shape[2] == 1 else tile


def assert_same(expected, got):
    """Within the tolerance of the exported runtimes (TOLERANCE_LEVELS on at most
    TOLERANCE_FRACTION of the values): z agrees with Python's to ~1e-6."""
    result = compare(expected, got)
    assert result["passed"], result
    assert result["max_abs_diff"] <= TOLERANCE_LEVELS, result
    return result


def test_static_page_generates_tensorflows_images(sites, browser):
    export, url = sites["cond"]
    gen = LoadedGenerator(export)
    info = json.load(open(os.path.join(export, "web", "model.json")))
    assert info["backend"] == "onnx" and len(info["directions"]) == 2
    assert len(info["directions"][0]["vector"]) == gen.latent_dim
    page, errors, load_s = open_page(browser, url)
    TIMINGS["page load to first tile"] = load_s
    try:
        first = tile_rgb(page)  # seed 0, 16 images, class "zero", no truncation
        one_hot = np.eye(K, dtype=np.float32)[0]
        TIMINGS["first tile"] = assert_same(
            tensorflow_tile(gen, gen.z_for_seeds(range(16)), one_hot), first)
        assert first[2:34, 2:34].std() > 10  # not flat: the comparison means something
        # a label slider and a direction slider move the image
        moved = tile_after(page, lambda: page.locator("#label2").fill("0.7"))
        assert np.abs(moved.astype(int) - first).max() > 10
        start = time.perf_counter()
        steered = tile_after(page, lambda: page.locator("#dir1").fill("2"))
        TIMINGS["one tile of 16 (direction slider)"] = time.perf_counter() - start
        assert np.abs(steered.astype(int) - moved).max() > 10
        # seed 5000 (beyond any table), 4 images, truncation 0.5 (resampled), two directions
        page.locator("#count").fill("4")
        page.locator("#seed").fill("5000")
        shown = tile_after(page, lambda: page.locator("#truncation").fill("0.5"))
        labels = np.array([1, 0, 0.7], np.float32)
        z = gen.z_for_seeds(range(5000, 5004), 0.5) + read_directions(export).offset([0, 2])
        assert_same(tensorflow_tile(gen, z, labels), shown)
        # the state lives in the URL: a reload restores the controls and the tile
        state = page.evaluate("location.hash")
        for part in ("seed=5000", "count=4", "truncation=0.5", "labels=1,0,0.7",
                     "directions=0,2"):
            assert part in state.replace("#", "").split("&"), state
        page.reload()
        page.wait_for_function("document.getElementById('tile').dataset.serial === '1' && "
                               "document.getElementById('tile').complete")
        assert [page.input_value(s) for s in ("#seed", "#count", "#truncation", "#label2",
                                               "#dir1")] == ["5000", "4", "0.5", "0.7", "2"]
        assert np.array_equal(tile_rgb(page), shown)
        assert "in this browser" in page.inner_text("#meta")
        os.makedirs(ARTIFACTS, exist_ok=True)
        page.screenshot(path=os.path.join(ARTIFACTS, "web_static_page.png"), full_page=True)
        assert not errors, errors
    finally:
        page.close()


def test_static_page_interpolates_like_the_server(sites, browser):
    export, url = sites["uncond"]
    gen = LoadedGenerator(export)
    page, errors, _ = open_page(browser, url + "#seed=3&count=4&seed_b=9&t=0.5")
    try:
        za, zb = gen.z_for_seeds(range(3, 7)), gen.z_for_seeds(range(9, 13))
        z = np.stack([slerp(a, b, 0.5) for a, b in zip(za, zb)])
        assert_same(tensorflow_tile(gen, z), tile_rgb(page))
        assert not errors, errors
    finally:
        page.close()
    print("\n[web timings, s]", {k: (round(v, 2) if isinstance(v, float) else v)
                                 for k, v in TIMINGS.items()})


def test_file_url_says_to_serve_the_folder(sites, browser):
    export, _ = sites["uncond"]
    page = browser.new_page()
    try:
        page.goto("file://" + os.path.join(export, "web", "index.html"))
        page.wait_for_function("document.getElementById('error').textContent.length > 0")
        assert "python -m http.server" in page.inner_text("#error")
    finally:
        page.close()


def test_static_page_refuses_what_the_server_refuses(sites, browser):
    """A typed seed of 2^32 (uint32: seed 0's images) or a count above max_count: the
    server's one-line message and the tile kept, as `dcgan-tf serve` does."""
    export, url = sites["uncond"]
    max_count = json.load(open(os.path.join(export, "web", "model.json")))["max_count"]
    page, errors, _ = open_page(browser, url)
    try:
        for selector, value, message in (
                ("#seed", str(2 ** 32), "seed must be an integer in [0, 2147483647], got"),
                ("#count", str(max_count + 1), f"count must be an integer in [1, {max_count}]"),
                ("#count", "0", "count must be an integer")):
            page.locator(selector).fill(value)
            page.wait_for_function("document.getElementById('error').textContent.length > 0")
            assert message in page.inner_text("#error")
            page.locator(selector).fill("1")
            page.wait_for_function("document.getElementById('error').textContent === ''")
        assert not errors, errors
    finally:
        page.close()


def test_runtime_files_offline_missing_or_altered(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_TF_CACHE", str(tmp_path / "empty_cache"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(web_page.urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as e:
        web_page.ort_web_files(None)
    assert "--ort_web=PATH" in str(e.value) and "no network" in str(e.value)
    assert "\n" not in str(e.value)
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "ort.wasm.min.js").write_text("x")
    with pytest.raises(UserError, match="lacks onnxruntime-web's ort-wasm-simd-threaded.mjs"):
        web_page.ort_web_files(str(tmp_path / "partial"))
    monkeypatch.setattr(web_page, "_download", lambda: b"not the package")
    with pytest.raises(UserError, match="does not match the npm registry's sha512"):
        web_page.ort_web_files(None)
