"""EXPORT/web: the page that generates in the browser, with no server of ours
(`dcgan-tf export --format=...,web`; web implies onnx), written here.

    files = ort_web_files(None)        # onnxruntime-web's files: cache, download or --ort_web
    write_web(tmp / "web", info, onnx_path, files)   # by export_generator (generator.onnx)
    refresh_web_directions(export, found)  # by write_directions: the sliders follow

EXPORT/web holds
  index.html        dcgan_tf/web/index.html, the served page itself, with its backend switched
                    from "server" to "onnx" (one page, two backends: no second copy of the UI)
  onnx_backend.js   dcgan_tf/web/onnx_backend.js: z in JavaScript exactly as TensorFlow draws
                    it for any integer seed (Philox, truncation by resampling), the slerp and
                    the directions of serve.py, model.onnx run by onnxruntime-web's WASM
  model.onnx        a copy of generator.onnx (uint8 NHWC images; checked against TensorFlow)
  model.json        what GET /api/info answers (web.api.page_info), plus the latent
                    distribution, the ONNX file's inputs and each direction's vector
  ort.wasm.min.js, ort-wasm-simd-threaded.mjs, ort-wasm-simd-threaded.wasm
                    onnxruntime-web ORT_VERSION (MIT licence, Microsoft): the WASM-only build,
                    the only files the page loads
  README.txt        how to open the page
Browsers refuse fetch() and WASM from file:// pages, so the folder is opened through any
static web server: `python -m http.server -d EXPORT/web` (or copied to a static host).

The runtime files come from the npm registry's tarball (ORT_URL), fetched once with urllib,
checked against the registry's sha512 (ORT_INTEGRITY) and cached in dcgan_tf's cache
($DCGAN_TF_CACHE, default ~/.cache/dcgan_tf; only the three files, 14 MB); `--ort_web=PATH`
takes the tarball or its unpacked folder instead (machines without the registry).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request

from dcgan_tf.metrics.features import cache_dir
from dcgan_tf.utils.atomic_files import atomic_write_bytes, atomic_write_text
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.progress import Progress
from dcgan_tf.web.api import DEFAULT_MAX_COUNT, page_info

WEB_DIR = "web"
MODEL_FILE = "model.onnx"
INFO_FILE = "model.json"
ORT_VERSION = "1.30.0"
ORT_URL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{ORT_VERSION}.tgz"
# `npm view onnxruntime-web@1.30.0 dist.integrity`
ORT_INTEGRITY = ("sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmR"
                 "MDs1SigqR4CXAfKYQ==")
# The WASM-only build (no WebGL/WebGPU code): the script, the loader it imports, the binary.
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_FILES = ("index.html", "onnx_backend.js")  # package data of dcgan_tf.web
SERVER_BACKEND = 'data-backend="server"'


_HOW = (f"download {ORT_URL} on a machine with internet and pass --ort_web=PATH (that .tgz, "
        "or the folder it unpacks to)")


def ort_cache_dir() -> str:
    return cache_dir(f"onnxruntime-web-{ORT_VERSION}")


# ---------------------------------------------------------------------------------- runtime

def ort_web_files(source: str | None = None) -> dict[str, bytes]:
    """onnxruntime-web's ORT_FILES as {name: bytes}: from `source` (--ort_web: a .tgz of the
    npm package or a folder holding the files, directly or in dist/ or package/dist/), else
    from the cache, else downloaded once into the cache. UserError in one line when they
    cannot be had."""
    if source:
        if os.path.isdir(source):
            return _from_folder(source, f"--ort_web={source}")
        if os.path.isfile(source):
            with open(source, "rb") as f:
                return _from_tarball(f.read(), f"--ort_web={source}")
        raise UserError(f"--ort_web={source} is neither a folder nor a file.")
    cached = ort_cache_dir()
    if all(os.path.isfile(os.path.join(cached, n)) for n in ORT_FILES):
        return _from_folder(cached, cached)
    files = _from_tarball(_download(), ORT_URL, integrity=ORT_INTEGRITY)
    try:
        os.makedirs(cached, exist_ok=True)
        for name, data in files.items():
            atomic_write_bytes(os.path.join(cached, name), data)
    except OSError:
        pass  # a read-only home: the export still gets the files, the next one downloads
    return files


def _download() -> bytes:
    try:
        with urllib.request.urlopen(ORT_URL, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0)
            bar = Progress(max(total // 2**20, 1), f"Downloading onnxruntime-web {ORT_VERSION}",
                           unit="MB")
            chunks = []
            while chunk := response.read(2**20):
                chunks.append(chunk)
                bar.update(min(len(chunks), bar.total))
            bar.close()
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise UserError(f"--format=web needs onnxruntime-web {ORT_VERSION}, not cached in "
                        f"{ort_cache_dir()} and not downloadable ({reason}); "
                        f"{_HOW}.") from None
    return b"".join(chunks)


def _from_tarball(data: bytes, where: str, integrity: str | None = None) -> dict[str, bytes]:
    if integrity:
        algorithm, _, expected = integrity.partition("-")
        digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
        if digest != expected:
            raise UserError(f"{where} does not match the npm registry's {algorithm} of "
                            f"onnxruntime-web {ORT_VERSION} (a damaged or altered download); "
                            f"{_HOW}.")
    files = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if member.isfile() and name in ORT_FILES and name not in files:
                    files[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UserError(f"{where} is not the onnxruntime-web package (.tgz): {e}; "
                        f"{_HOW}.") from None
    return _complete(files, where)


def _from_folder(folder: str, where: str) -> dict[str, bytes]:
    files = {}
    for sub in ("", "dist", os.path.join("package", "dist")):
        for name in ORT_FILES:
            path = os.path.join(folder, sub, name)
            if name not in files and os.path.isfile(path):
                with open(path, "rb") as f:
                    files[name] = f.read()
    return _complete(files, where)


def _complete(files: dict[str, bytes], where: str) -> dict[str, bytes]:
    missing = [n for n in ORT_FILES if n not in files]
    if missing:
        raise UserError(f"{where} lacks onnxruntime-web's {', '.join(missing)}; "
                        f"{_HOW}.")
    return files


# ---------------------------------------------------------------------------------- page

def page_template(name: str) -> str:
    """A file of the page (PAGE_FILES), package data of dcgan_tf.web."""
    from importlib.resources import files

    return files("dcgan_tf.web").joinpath(name).read_text(encoding="utf-8")


def static_page() -> str:
    """index.html with its backend switched to the in-browser one."""
    html = page_template("index.html")
    if html.count(SERVER_BACKEND) != 1:
        raise RuntimeError(f"dcgan_tf/web/index.html must hold {SERVER_BACKEND} once.")
    return html.replace(SERVER_BACKEND, 'data-backend="onnx"')


def model_info(info: dict, directions=None) -> dict:
    """model.json: /api/info's answer for the export described by export.json's `info`, plus
    what the in-browser backend needs (latent, the ONNX inputs, the direction vectors)."""
    k = int(info.get("num_classes") or 0)
    listed = directions.listing(vectors=True) if directions is not None else []
    data = page_info(image_shape=info.get("image_shape"), num_classes=k,
                     class_names=info.get("class_names") or [str(i) for i in range(k)],
                     latent_dim=int(info["latent_dim"]), max_count=DEFAULT_MAX_COUNT,
                     truncation_method="resample", directions=listed)
    data.update(backend="onnx", latent=info.get("latent", "normal"),
                onnx={"file": MODEL_FILE, "inputs": ["z", "labels"] if k else ["z"],
                      "output": "images", "runtime": f"onnxruntime-web {ORT_VERSION} (wasm)"},
                z="TensorFlow's stateless z of each integer seed, drawn in JavaScript "
                  "(onnx_backend.js): the same images as dcgan-tf serve and generate")
    return data


def write_web(folder: str, info: dict, onnx_path: str, runtime_files: dict[str, bytes],
              directions=None) -> dict:
    """Writes the static page folder (module doc) and returns export.json's "web" record."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "index.html"), "w", encoding="utf-8") as f:
        f.write(static_page())
    with open(os.path.join(folder, "onnx_backend.js"), "w", encoding="utf-8") as f:
        f.write(page_template("onnx_backend.js"))
    shutil.copyfile(onnx_path, os.path.join(folder, MODEL_FILE))
    for name, data in runtime_files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    with open(os.path.join(folder, INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(model_info(info, directions), f)
    with open(os.path.join(folder, "README.txt"), "w", encoding="utf-8") as f:
        f.write(README)
    files = sorted(os.listdir(folder))
    return {"folder": WEB_DIR, "files": files,
            "bytes": sum(os.path.getsize(os.path.join(folder, n)) for n in files),
            "runtime": f"onnxruntime-web {ORT_VERSION} (WASM, one thread)",
            "open": f"python -m http.server -d EXPORT/{WEB_DIR}, then http://localhost:8000/ "
                    "(browsers refuse WASM and fetch() from file:// pages)"}


def refresh_web_directions(export_path: str, info: dict, directions) -> bool:
    """Rewrites EXPORT/web/model.json with `directions` when the export has a web folder
    (dcgan-tf directions runs after the export); True when it did."""
    path = os.path.join(export_path, WEB_DIR, INFO_FILE)
    if not os.path.isfile(path):
        return False
    atomic_write_text(path, json.dumps(model_info(info, directions)))
    return True


README = """\
The dcgan_tf generator in the browser (onnxruntime-web, no server process of dcgan_tf).

Browsers refuse WebAssembly and fetch() on file:// pages, so serve this folder with any
static web server, for example:

    python -m http.server -d THIS_FOLDER 8000

then open http://localhost:8000/ . The folder can also be copied to any static host.
Every integer seed gives the same z, and so the same images, as dcgan-tf generate/serve.
"""
