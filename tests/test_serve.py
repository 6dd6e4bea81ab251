"""The label-slider web app: API validation, a real headless Chromium, a loopback load."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from dcgan_tf.utils.errors import UserError
from dcgan_tf.artifacts.saved_generator import export_generator
from dcgan_tf.models import build_models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.environ.get("DCGAN_TF_ARTIFACTS", os.path.join(REPO, "test-artifacts"))
K = 10


def _export(path, num_classes, calibrate=False):
    pair = build_models("dcgan64", resolution=32, channels=1, ngf=8, ndf=8,
                        num_classes=num_classes)
    if calibrate:  # BatchNorm statistics of a few batches: at init the images are flat grey
        z = np.random.default_rng(0).standard_normal((64, pair.latent_dim)).astype("float32")
        for _ in range(30):
            pair.generator(z, training=True)
    info = {"class_names": [f"digit {i}" for i in range(num_classes)]} if num_classes else {}
    return export_generator(pair.generator, pair.latent_dim, str(path), extra_info=info)


@pytest.fixture(scope="module")
def cond_export(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("cond") / "export", K)


@pytest.fixture(scope="module")
def uncond_export(tmp_path_factory):
    """Unconditional, with three SeFa directions (dcgan-tf directions) for the sliders."""
    from dcgan_tf.artifacts.latent_directions import find_directions, write_directions
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator

    path = _export(tmp_path_factory.mktemp("uncond") / "export", 0, calibrate=True)
    write_directions(path, find_directions(LoadedGenerator(path), ["sefa"], num=3))
    return path


@pytest.fixture(scope="module")
def client(cond_export):
    from dcgan_tf.serve import Service, create_app

    return create_app(Service(cond_export, max_count=16)).test_client()


def png_size(data: bytes):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.size


def test_info_and_good_requests(client):
    info = client.get("/api/info").get_json()
    assert info["num_classes"] == K and info["width"] == 32 and info["channels"] == 1
    assert info["class_names"][3] == "digit 3"
    one_hot = [0.0] * K
    one_hot[3] = 1.0
    r = client.post("/api/generate", json={"labels": one_hot, "seed": 5, "count": 4})
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert png_size(r.data) == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)  # 2x2 tile, 2 px padding
    again = client.post("/api/generate", json={"labels": one_hot, "seed": 5, "count": 4})
    assert again.data == r.data  # same seed, same labels -> same image
    mix = client.post("/api/generate", json={"labels": [0.5] * K, "seed": 5, "count": 4})
    assert mix.data != r.data
    j = client.post("/api/generate", json={"labels": [1] * K, "seed": 0, "count": 1,
                                           "format": "json"}).get_json()
    import base64

    assert png_size(base64.b64decode(j["image"])) == (j["width"], j["height"]) == (36, 36)
    page = client.get("/")
    assert page.status_code == 200 and b"/api/generate" in page.data


BAD_BODIES = [
    None, [], "x", 3, {}, {"labels": [0] * (K - 1)}, {"labels": [0] * (K + 1)},
    {"labels": [2] + [0] * (K - 1)}, {"labels": [-0.1] + [0] * (K - 1)},
    {"labels": ["0.5"] * K}, {"labels": [True] + [0] * (K - 1)}, {"labels": "0,0,0"},
    {"labels": None}, {"labels": {"a": 1}}, {"labels": [[0]] * K},
    {"labels": [0] * K, "seed": -1}, {"labels": [0] * K, "seed": 2**40},
    {"labels": [0] * K, "seed": 1.5}, {"labels": [0] * K, "seed": "7"},
    {"labels": [0] * K, "count": 0}, {"labels": [0] * K, "count": 10**9},
    {"labels": [0] * K, "count": 17}, {"labels": [0] * K, "count": None},
    {"labels": [0] * K, "format": "gif"}, {"labels": [0] * K, "path": "/etc/passwd"},
    {"labels": [0] * K, "t": 2}, {"labels": [0] * K, "truncation": 0},
]


def test_bad_requests_get_4xx_json(client):
    for body in BAD_BODIES:
        r = client.post("/api/generate", data=json.dumps(body), content_type="application/json")
        assert 400 <= r.status_code < 500, (body, r.status_code)
        assert isinstance(r.get_json()["error"], str) and "Traceback" not in r.get_data(True)
    for raw in (b"{", b"NaN", b'{"labels": [NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0]}',
                b'{"labels": [Infinity, 0, 0, 0, 0, 0, 0, 0, 0, 0]}', b"\xff\xfe", b""):
        r = client.post("/api/generate", data=raw, content_type="application/json")
        assert 400 <= r.status_code < 500, raw
    assert client.post("/api/generate", data=b"x" * 40_000,
                       content_type="application/json").status_code == 413
    assert client.get("/api/generate").status_code == 405
    assert client.get("/nothing/../../etc/passwd").status_code == 404
    r = client.post("/api/generate", data="labels=1", content_type="text/plain")
    assert r.status_code == 400


def test_bounded_random_fuzz_gets_only_4xx_or_200(client):
    rng = np.random.default_rng(0)
    pool = [None, True, -1, 0, 1, 2**31, 0.5, float("nan"), "a", [], {}, [0.5] * K,
            [0.5] * 3, ["x"] * K, 1e308]
    keys = ["labels", "seed", "count", "seed_b", "t", "format", "truncation", "other"]
    for _ in range(300):
        body = {k: pool[rng.integers(len(pool))] for k in rng.choice(keys, rng.integers(0, 5))}
        text = json.dumps(body)  # NaN goes out as the non-standard literal NaN
        r = client.post("/api/generate", data=text, content_type="application/json")
        assert r.status_code == 200 or 400 <= r.status_code < 500, (body, r.status_code)


def test_unconditional_app_interpolates(uncond_export):
    from dcgan_tf.serve import Service, create_app

    c = create_app(Service(uncond_export)).test_client()
    assert c.get("/api/info").get_json()["num_classes"] == 0
    a = c.post("/api/generate", json={"seed": 1, "count": 1}).data
    b = c.post("/api/generate", json={"seed": 2, "count": 1}).data
    ends = [c.post("/api/generate", json={"seed": 1, "seed_b": 2, "t": t, "count": 1}).data
            for t in (0.0, 0.5, 1.0)]
    assert ends[0] == a and ends[2] == b and ends[1] not in (a, b)
    r = c.post("/api/generate", json={"seed": 1, "labels": [1.0]})
    assert r.status_code == 400 and "not conditional" in r.get_json()["error"]


def test_missing_extra_and_bad_flags(monkeypatch, cond_export):
    from dcgan_tf import serve

    flags = types.SimpleNamespace(model=cond_export, host="127.0.0.1", port=0, max_count=8,
                                  threads=2, body_timeout=10.0, truncation_method="resample")
    monkeypatch.setitem(sys.modules, "waitress", None)
    with pytest.raises(UserError, match=r"dcgan_tf\[serve\]"):
        serve.serve(flags)
    monkeypatch.undo()
    with pytest.raises(UserError, match="--port"):
        serve.serve(types.SimpleNamespace(**dict(vars(flags), port=70000)))
    with pytest.raises(UserError, match="not a folder"):
        serve.serve(types.SimpleNamespace(**dict(vars(flags), model="/nonexistent")))
    with pytest.raises(UserError, match="Cannot listen on nosuchhost.invalid:0"):
        serve.serve(types.SimpleNamespace(**dict(vars(flags), host="nosuchhost.invalid")))


# ---------------------------------------------------------------------- a real server


def start_server(export, *extra):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.Popen([sys.executable, "-m", "dcgan_tf.serve", f"--model={export}",
                             "--port=0", "--max_count=16", *extra], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "Serving ... on http://127.0.0.1:PORT/ ..."
    if "http://" not in line:
        proc.kill()
        pytest.fail(f"server did not start: {line!r} {proc.stderr.read()[-2000:]}")
    url = line.split(" on ", 1)[1].split(" ", 1)[0]
    assert url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
    return proc, url


@pytest.fixture(scope="module")
def server(cond_export):
    proc, url = start_server(cond_export, f"--body_timeout={BODY_TIMEOUT}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def post(url, body, timeout=30):
    req = urllib.request.Request(url + "api/generate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


BODY_TIMEOUT = 2.0


def raw_exchange(url, payload: bytes, wait=5.0, then_close=True):
    """Sends raw bytes to the server; returns (status or None, seconds until the server
    answered or closed)."""
    import socket

    host, port = url.split("//", 1)[1].rstrip("/").split(":")
    start = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(payload)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            return None, time.perf_counter() - start
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None
    return status, time.perf_counter() - start


def good_request_time(url):
    start = time.perf_counter()
    status, data = post(url, {"labels": [0.1] * K, "seed": 3, "count": 4}, timeout=10)
    assert status == 200 and png_size(data) == (70, 70)
    return time.perf_counter() - start


def test_deeply_nested_json_is_a_client_error(client, server):
    for raw in (b"[" * 5000, b'{"labels": ' + b"[" * 100_00 + b"}", b"{" * 3000):
        r = client.post("/api/generate", data=raw, content_type="application/json")
        assert r.status_code in (400, 413), (raw[:20], r.status_code)
        assert "error" in r.get_json()
    req = urllib.request.Request(server + "api/generate", data=b"[" * 5000,
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400 and "nested too deeply" in json.loads(e.value.read())["error"]


def test_hostile_clients_on_loopback_get_4xx_and_never_stall_good_requests(server):
    """A declared huge body is refused at once (413); clients that send a body slowly or
    not at all are dropped after --body_timeout; a burst of malformed requests of many
    kinds gets 4xx (or a closed connection), never a 5xx; good requests stay fast."""
    import socket

    baseline = good_request_time(server)
    head = b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    status, seconds = raw_exchange(server, head + b"Content-Length: 50000000\r\n\r\n{}")
    assert status == 413 and seconds < 2.0, (status, seconds)

    host, port = server.split("//", 1)[1].rstrip("/").split(":")
    stalled = []
    for _ in range(12):  # declare 100 bytes, send 3, then go silent
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(head + b"Content-Length: 100\r\n\r\n{\"a")
        stalled.append(sock)
    drip = socket.create_connection((host, int(port)), timeout=10)
    drip.sendall(head + b"Content-Length: 100\r\n\r\n")
    try:
        during = good_request_time(server)
        assert during < 10 * baseline + 2.0, (baseline, during)
        start = time.perf_counter()
        dropped = False
        while time.perf_counter() - start < 4 * BODY_TIMEOUT + 4:  # drip one byte at a time
            try:
                drip.sendall(b" ")
            except OSError:
                dropped = True
                break
            time.sleep(0.25)
        assert dropped, "a client dripping its body was never disconnected"
        for sock in stalled:  # the silent ones were closed too: recv sees the end
            sock.settimeout(BODY_TIMEOUT + 4)
            assert sock.recv(100) == b""
    finally:
        for sock in stalled + [drip]:
            sock.close()

    burst = [
        b"GARBAGE\r\n\r\n",
        b"POST /api/generate HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/generate HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/generate HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /api/generate HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        head + b"Content-Length: 6\r\n\r\n\xff\xfe\xfd{}[",
        head + b"Content-Length: 5\r\n\r\n[[[[[",
        head + b"Content-Length: 5000\r\n\r\n" + b"[" * 5000,
        head + b"Content-Length: 20\r\n\r\n" + b'{"labels": "x" * 9}',
        b"POST /api/generate HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
        b"DELETE /api/info HTTP/1.1\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(40)),  # a TLS hello
    ]
    for payload in burst * 2:
        status, _ = raw_exchange(server, payload)
        assert status is None or 400 <= status < 500, (payload[:40], status)
    assert good_request_time(server) < 10 * baseline + 2.0


def test_loopback_load_p50_p95(server):
    """A few hundred requests, 4 at a time: no errors; latencies go to BUILD_NOTES.md
    (printed with -s; also written to test-artifacts/serve_load.json)."""
    latencies, failures = [], []
    lock = threading.Lock()

    def worker(n):
        rng = np.random.default_rng(n)
        for i in range(60):
            labels = rng.random(K).round(3).tolist()
            start = time.perf_counter()
            status, data = post(server, {"labels": labels, "seed": int(rng.integers(1000)),
                                         "count": 4})
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if status != 200 or png_size(data) != (70, 70):
                    failures.append(status)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    wall = time.perf_counter() - start
    assert not failures and len(latencies) == 240
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "serve_load.json"), "w") as f:
        json.dump({"requests": 240, "concurrency": 4, "p50_ms": round(p50, 1),
                   "p95_ms": round(p95, 1), "wall_s": round(wall, 2)}, f)
    print(f"\nserve load: 240 requests, 4 concurrent: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"{240 / wall:.0f} requests/s")


TILE_PIXELS = """e => { const c = document.createElement('canvas');
    c.width = e.naturalWidth; c.height = e.naturalHeight;
    c.getContext('2d').drawImage(e, 0, 0); return c.toDataURL(); }"""


def open_page(p, url, chromium):
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("document.getElementById('tile').dataset.serial === '1'")
    page.wait_for_function("document.getElementById('tile').complete")

    def tile_after(action):
        """Runs `action`, waits for the next generated tile, returns its pixels."""
        before = page.eval_on_selector("#tile", "e => e.dataset.serial")
        action()
        page.wait_for_function(f"document.getElementById('tile').dataset.serial !== '{before}'")
        page.wait_for_function("document.getElementById('tile').complete")
        return page.eval_on_selector("#tile", TILE_PIXELS)

    return browser, page, errors, tile_after


def test_page_in_headless_chromium(server, chromium):
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as p:
        browser, page, errors, tile_after = open_page(p, server, chromium)
        try:
            sliders = page.locator("input.label")
            assert sliders.count() == K
            assert page.locator("#label0").get_attribute("step") == "0.001"
            first = page.eval_on_selector("#tile", TILE_PIXELS)
            # moving a slider changes the image
            moved = tile_after(lambda: page.locator("#label7").fill("0.8"))
            assert moved != first
            assert page.locator("#v7").inner_text() == "0.800"
            # presets set every slider
            tile_after(lambda: page.get_by_role("button", name="all 0.5").click())
            assert set(sliders.evaluate_all("ss => ss.map(s => s.value)")) == {"0.5"}
            one = tile_after(lambda: page.get_by_role("button", name="digit 3").click())
            values = sliders.evaluate_all("ss => ss.map(s => Number(s.value))")
            assert values == [1.0 if i == 3 else 0.0 for i in range(K)]
            # new noise draws another seed and another image
            seed = page.input_value("#seed")
            noisy = tile_after(lambda: page.click("#new-noise"))
            assert page.input_value("#seed") != seed and noisy != one
            # truncation (the API's field) scales z: another image
            cooler = tile_after(lambda: page.locator("#truncation").fill("0.5"))
            assert cooler != noisy and page.locator("#vtruncation").inner_text() == "0.50"
            # the download button saves the tile on screen as a PNG
            with page.expect_download() as saved:
                page.click("#download")
            data = open(saved.value.path(), "rb").read()
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
            shown = page.eval_on_selector("#tile", "e => [e.naturalWidth, e.naturalHeight]")
            assert list(png_size(data)) == shown
            assert saved.value.suggested_filename.endswith(".png")
            # interpolation between two labels: (1 - t) one-hot(A) + t one-hot(B)
            page.select_option("#label_a", "2")
            page.select_option("#label_b", "5")
            page.locator("#label_t").fill("0.25")
            values = sliders.evaluate_all("ss => ss.map(s => Number(s.value))")
            assert values == [0.75 if i == 2 else 0.25 if i == 5 else 0.0 for i in range(K)]
            page.screenshot(path=os.path.join(ARTIFACTS, "serve_page.png"), full_page=True)
            # the labels, seed and truncation live in the URL: a reload restores them
            page.wait_for_function("location.hash.includes('labels=0,0,0.75,0,0,0.25,')")
            seed = page.input_value("#seed")
            page.reload()
            page.wait_for_function("document.getElementById('tile').dataset.serial === '1'")
            assert sliders.evaluate_all("ss => ss.map(s => Number(s.value))") == values
            assert page.input_value("#seed") == seed and page.input_value("#truncation") == "0.5"
            # a phone-sized screen: controls stack, nothing overflows sideways
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert not errors, errors
        finally:
            browser.close()
    assert os.path.getsize(os.path.join(ARTIFACTS, "serve_page.png")) > 1000


def test_unconditional_page_interpolation_slider(uncond_export, chromium):
    from playwright.sync_api import sync_playwright

    proc, url = start_server(uncond_export)
    try:
        with sync_playwright() as p:
            browser, page, errors, tile_after = open_page(p, url, chromium)
            try:
                assert page.locator("input.label").count() == 0
                start = page.eval_on_selector("#tile", TILE_PIXELS)
                middle = tile_after(lambda: page.locator("#t").fill("0.5"))
                end = tile_after(lambda: page.locator("#t").fill("1"))
                assert len({start, middle, end}) == 3
                again = tile_after(lambda: page.locator("#seed").fill("1"))
                assert again == end  # at t = 1 the tile is seed_b's images, whatever the seed
                # one slider per latent direction; moving one changes the image
                assert page.locator("input.direction").count() == 3
                moved = tile_after(lambda: page.locator("#dir0").fill("2"))
                assert moved != again and page.locator("#vdir0").inner_text() == "2.00"
                shown = tile_after(lambda: page.locator("#truncation").fill("0.5"))
                assert page.is_checked("#truncate")  # moving the slider switches it on
                state = page.evaluate("location.hash")
                for part in ("seed=1", "truncation=0.5", "t=1", "directions=2,0,0"):
                    assert part in state.split("&") or "#" + part in state.split("&"), state
                page.screenshot(path=os.path.join(ARTIFACTS, "serve_page_unconditional.png"))
                # a reload restores every control from the URL, and the same tile
                page.reload()
                page.wait_for_function(
                    "document.getElementById('tile').dataset.serial === '1'")
                page.wait_for_function("document.getElementById('tile').complete")
                assert [page.input_value(s) for s in ("#seed", "#t", "#truncation", "#dir0",
                                                       "#dir1")] == ["1", "1", "0.5", "2", "0"]
                assert page.is_checked("#truncate")
                assert page.eval_on_selector("#tile", TILE_PIXELS) == shown
                # a phone-sized screen: controls stack, nothing overflows sideways
                page.set_viewport_size({"width": 390, "height": 844})
                assert page.evaluate(
                    "document.documentElement.scrollWidth <= window.innerWidth")
                assert page.eval_on_selector(
                    "#tile", "e => e.getBoundingClientRect().right") <= 390
                page.screenshot(path=os.path.join(ARTIFACTS, "serve_page_phone.png"),
                                full_page=True)
                assert not errors, errors
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
