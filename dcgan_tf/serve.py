"""The label-slider web app of source 002, for any dcgan_tf export.

    python -m dcgan_tf.serve --model=EXPORT_DIR [--host=127.0.0.1] [--port=8000]

Flask app served by waitress (a multi-threaded production WSGI server in pure Python;
Flask's own server is for development only). Routes:

    GET  /               the page: one slider per class (0-1, step 0.001), presets, seed,
                         "new noise", count; unconditional models get a latent
                         interpolation slider between two seeds instead
    GET  /api/info       image size, channels, classes, latent size, limits
    POST /api/generate   JSON {"labels": [K numbers in [0, 1]], "seed": int, "count": int,
                         "seed_b": int, "t": float in [0, 1], "format": "png" | "json"}
                         -> image/png tile, or JSON {"image": base64 PNG, "width", "height"}

Every field is validated; a bad request gets a 4xx with {"error": "..."}; no request value
touches the filesystem. Image i of a tile comes from seed + i (as in dcgan_tf.generate).
"""

from __future__ import annotations

import base64
import math
import threading

import numpy as np

from dcgan_tf.errors import UserError
from dcgan_tf.labels import parse_label_vector

MAX_SEED = 2**31 - 1
MAX_BODY_BYTES = 16 * 1024
FIELDS = {"labels", "seed", "count", "seed_b", "t", "format", "truncation"}


class BadRequest(ValueError):
    """A request field that is wrong; str(e) is the JSON error message."""


def _int_field(body, name, default, low, high):
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer in [{low}, {high}], got {value!r}.")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be an integer in [{low}, {high}], got {value}.")
    return value


def _float_field(body, name, default, low, high):
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name} must be a number in [{low}, {high}], got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRequest(f"{name} must be a number in [{low}, {high}], got {value}.")
    return value


def parse_request(body, num_classes: int, max_count: int) -> dict:
    """Validates a /api/generate body -> dict of clean values (raises BadRequest)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BadRequest(f"Unknown field(s) {unknown}; expected some of {sorted(FIELDS)}.")
    req = {
        "seed": _int_field(body, "seed", 0, 0, MAX_SEED),
        "count": _int_field(body, "count", 1, 1, max_count),
        "seed_b": _int_field(body, "seed_b", None, 0, MAX_SEED) if "seed_b" in body else None,
        "t": _float_field(body, "t", 0.0, 0.0, 1.0),
        "truncation": (_float_field(body, "truncation", 1.0, 0.01, 2.0)
                       if "truncation" in body else None),
    }
    fmt = body.get("format", "png")
    if fmt not in ("png", "json"):
        raise BadRequest(f"format must be 'png' or 'json', got {fmt!r}.")
    req["format"] = fmt
    if num_classes:
        if "labels" not in body:
            raise BadRequest(f"labels is required: a list of {num_classes} numbers in [0, 1].")
        values = body["labels"]
        if not isinstance(values, list) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            raise BadRequest(f"labels must be a JSON list of {num_classes} numbers in [0, 1].")
        try:
            req["labels"] = parse_label_vector(values, num_classes)
        except ValueError as e:
            raise BadRequest(str(e)) from None
    elif "labels" in body:
        raise BadRequest("This generator is not conditional: it takes no labels.")
    return req


class Service:
    """The loaded generator plus the image logic of the routes (no Flask inside)."""

    def __init__(self, model_path: str, max_count: int = 64):
        from dcgan_tf.generate import LoadedGenerator

        self.gen = LoadedGenerator(model_path)
        self.max_count = max_count
        self._lock = threading.Lock()

    def info(self) -> dict:
        shape = self.gen.image_shape
        return {"image_size": shape[0] if shape else None,
                "height": shape[0] if shape else None, "width": shape[1] if shape else None,
                "channels": shape[2] if shape else None,
                "num_classes": self.gen.num_classes, "class_names": self.gen.class_names,
                "latent_dim": self.gen.latent_dim, "max_count": self.max_count,
                "max_seed": MAX_SEED}

    def tile_png(self, req: dict) -> tuple[bytes, int, int]:
        from dcgan_tf.generate import slerp
        from dcgan_tf.tiles import encode_png, make_tile

        count = req["count"]
        seeds = range(req["seed"], req["seed"] + count)
        z = self.gen.z_for_seeds(seeds, req["truncation"])
        if req["seed_b"] is not None and req["t"] > 0.0:
            zb = self.gen.z_for_seeds(range(req["seed_b"], req["seed_b"] + count),
                                      req["truncation"])
            z = np.stack([slerp(a, b, req["t"]) for a, b in zip(z, zb)]).astype(np.float32)
        with self._lock:  # one model call at a time; requests queue, never interleave
            images = self.gen.images(z, req.get("labels"))
        tile = make_tile(images, cols=math.ceil(math.sqrt(count)))
        return encode_png(tile), tile.shape[1], tile.shape[0]


def create_app(service: Service):
    from flask import Flask, Response, jsonify, request
    from werkzeug.exceptions import HTTPException

    app = Flask("dcgan_tf.serve")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.errorhandler(HTTPException)
    def http_error(e):
        return jsonify(error=e.description or e.name), e.code

    @app.errorhandler(Exception)
    def internal_error(e):  # never a stack trace to the client
        app.logger.exception("request failed")
        return jsonify(error="Internal error while generating."), 500

    @app.get("/")
    def page():
        return Response(PAGE, mimetype="text/html")

    @app.get("/api/info")
    def info():
        return jsonify(service.info())

    @app.post("/api/generate")
    def generate():
        body = request.get_json(silent=True)
        if body is None:
            return jsonify(error="Send a JSON object with Content-Type: application/json."), 400
        try:
            req = parse_request(body, service.gen.num_classes, service.max_count)
        except BadRequest as e:
            return jsonify(error=str(e)), 400
        png, width, height = service.tile_png(req)
        if req["format"] == "json":
            return jsonify(image=base64.b64encode(png).decode("ascii"), width=width,
                           height=height, seeds=[req["seed"], req["seed"] + req["count"] - 1])
        return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})

    return app


def serve(flag_values) -> list[str]:
    try:
        import flask  # noqa: F401
        import waitress
    except ImportError:
        raise UserError("The web app needs Flask and waitress: pip install "
                        "'dcgan_tf[serve]'.") from None
    f = flag_values
    if not f.model:
        raise UserError("--model is required (an export folder or a workdir with an export).")
    if not 0 <= f.port <= 65535:
        raise UserError(f"--port must be in [0, 65535], got {f.port}.")
    if not 1 <= f.max_count <= 1024:
        raise UserError(f"--max_count must be in [1, 1024], got {f.max_count}.")
    service = Service(f.model, f.max_count)
    app = create_app(service)
    try:
        server = waitress.create_server(app, host=f.host, port=f.port, threads=f.threads)
    except OSError as e:
        raise UserError(f"Cannot listen on {f.host}:{f.port}: {e.strerror or e}.") from None
    print(f"Serving {f.model} on http://{f.host}:{server.effective_port}/ (Ctrl+C stops).",
          flush=True)
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl+C is the normal way to stop the server
        print("Interrupted.", flush=True)
    finally:
        server.close()
    return ["Stopped."]


def main(argv=None):
    from dcgan_tf.cli import run_command
    from dcgan_tf.flags import define_serve_flags

    run_command("dcgan_tf.serve", define_serve_flags, serve, argv)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dcgan_tf generator</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
 #controls { display: grid; grid-template-columns: 5em 20em 4em; gap: .3em .6em;
             align-items: center; }
 #tile { image-rendering: pixelated; border: 1px solid #ccc; width: min(90vw, 480px); }
 .row { margin: .6em 0; } button { margin: .15em; } #error { color: #b00; }
</style></head>
<body>
<h1>dcgan_tf generator</h1>
<div id="meta"></div>
<div class="row" id="presets"></div>
<div id="controls"></div>
<div class="row">
 <label>seed <input id="seed" type="number" min="0" value="0" style="width:8em"></label>
 <button id="new-noise">new noise</button>
 <label>count <input id="count" type="number" min="1" value="16" style="width:5em"></label>
</div>
<div class="row" id="error"></div>
<img id="tile" alt="generated images">
<script>
"use strict";
let info = null, timer = null, pending = null, serial = 0;
const $ = (id) => document.getElementById(id);

function labels() {
  return Array.from(document.querySelectorAll("input.label")).map((s) => Number(s.value));
}
function setLabels(values) {
  document.querySelectorAll("input.label").forEach((s, i) => {
    s.value = values[i]; $("v" + i).textContent = Number(values[i]).toFixed(3);
  });
  refresh();
}
function body() {
  const b = {seed: Number($("seed").value), count: Number($("count").value)};
  if (info.num_classes > 0) b.labels = labels();
  else { b.seed_b = Number($("seed_b").value); b.t = Number($("t").value); }
  return b;
}
async function generate() {
  const mine = ++serial;
  const r = await fetch("/api/generate", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body())});
  if (mine !== serial) return;  // a newer request was sent meanwhile
  if (!r.ok) { $("error").textContent = (await r.json()).error; return; }
  $("error").textContent = "";
  const url = URL.createObjectURL(await r.blob());
  const old = $("tile").src;
  $("tile").src = url;
  $("tile").dataset.serial = String(mine);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}
function refresh() { clearTimeout(timer); timer = setTimeout(generate, 120); }  // debounce

function addSlider(id, name, value, cls) {
  const c = $("controls");
  const lab = document.createElement("label"); lab.textContent = name; lab.htmlFor = id;
  const s = document.createElement("input");
  Object.assign(s, {type: "range", min: "0", max: "1", step: "0.001", id: id, value: value});
  if (cls) s.className = cls;
  const v = document.createElement("span"); v.id = "v" + id.replace(/^label/, "");
  v.textContent = Number(value).toFixed(3);
  s.addEventListener("input", () => { v.textContent = Number(s.value).toFixed(3); refresh(); });
  c.append(lab, s, v);
}
function preset(text, values) {
  const b = document.createElement("button"); b.textContent = text;
  b.addEventListener("click", () => setLabels(values)); $("presets").append(b);
}
async function start() {
  info = await (await fetch("/api/info")).json();
  $("count").max = info.max_count;
  $("meta").textContent = `${info.width}x${info.height} images, latent ${info.latent_dim}` +
    (info.num_classes ? `, ${info.num_classes} classes` : ", unconditional");
  const k = info.num_classes;
  if (k > 0) {
    info.class_names.forEach((n, i) => addSlider("label" + i, n, i === 0 ? 1 : 0, "label"));
    info.class_names.forEach((n, i) =>
      preset(n, Array.from({length: k}, (_, j) => (j === i ? 1 : 0))));
    preset("all 0", Array(k).fill(0)); preset("all 1", Array(k).fill(1));
    preset("all 0.5", Array(k).fill(0.5));
  } else {
    const row = document.createElement("div"); row.className = "row";
    row.innerHTML = 'interpolate to seed <input id="seed_b" type="number" min="0" value="1"' +
      ' style="width:8em">';
    $("presets").append(row);
    addSlider("t", "t", 0, "");
    $("seed_b").addEventListener("input", refresh);
  }
  $("seed").addEventListener("input", refresh);
  $("count").addEventListener("input", refresh);
  $("new-noise").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 1000000); refresh();
  });
  generate();
}
start();
</script>
</body></html>
"""

if __name__ == "__main__":
    main()
