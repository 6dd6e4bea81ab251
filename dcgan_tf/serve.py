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
import json
import math
import threading
import time

import numpy as np

from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.labels import parse_label_vector

MAX_SEED = 2**31 - 1
MAX_BODY_BYTES = 16 * 1024
BODY_TIMEOUT_S = 10.0  # default --body_timeout: most seconds a request body may take
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
        from dcgan_tf.utils.tiles import encode_png, make_tile

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


def page_html() -> str:
    """The page (dcgan_tf/web/index.html, package data: edit it as an HTML file)."""
    from importlib.resources import files

    return files("dcgan_tf.web").joinpath("index.html").read_text(encoding="utf-8")


def parse_json_body(data: bytes):
    """Request bytes -> JSON value; BadRequest for anything a client can get wrong
    (not UTF-8, not JSON, nested deeper than the parser allows)."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("The request body must be UTF-8 JSON.") from None
    except RecursionError:
        raise BadRequest("The JSON body is nested too deeply.") from None
    except ValueError as e:
        raise BadRequest(f"The request body is not valid JSON ({e}).") from None


def create_app(service: Service):
    from flask import Flask, Response, jsonify, request
    from werkzeug.exceptions import HTTPException

    app = Flask("dcgan_tf.serve", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    html = page_html()

    @app.errorhandler(HTTPException)
    def http_error(e):
        return jsonify(error=e.description or e.name), e.code

    @app.errorhandler(Exception)
    def internal_error(e):  # never a stack trace to the client
        app.logger.exception("request failed")
        return jsonify(error="Internal error while generating."), 500

    @app.get("/")
    def page():
        return Response(html, mimetype="text/html")

    @app.get("/api/info")
    def info():
        return jsonify(service.info())

    @app.post("/api/generate")
    def generate():
        if not request.is_json:
            return jsonify(error="Send a JSON object with Content-Type: application/json."), 400
        try:
            body = parse_json_body(request.get_data(cache=False))
            req = parse_request(body, service.gen.num_classes, service.max_count)
        except BadRequest as e:
            return jsonify(error=str(e)), 400
        png, width, height = service.tile_png(req)
        if req["format"] == "json":
            return jsonify(image=base64.b64encode(png).decode("ascii"), width=width,
                           height=height, seeds=[req["seed"], req["seed"] + req["count"] - 1])
        return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})

    return app


def _deadline_channel(body_timeout: float):
    """A waitress channel that drops a connection whose request (headers and body) has
    taken longer than `body_timeout` seconds to arrive, so clients that send a few bytes
    at a time cannot hold connections open (waitress's channel_timeout only sees silence)."""
    from waitress.channel import HTTPChannel

    class DeadlineChannel(HTTPChannel):
        def received(self, data):
            now = time.monotonic()
            if self.request is None or not hasattr(self, "_started"):
                self._started = now  # these bytes begin a new request
            elif now - self._started > body_timeout:
                self.will_close = True
                return False
            return super().received(data)

    return DeadlineChannel


def create_server(app, host: str, port: int, threads: int = 4,
                  body_timeout: float = BODY_TIMEOUT_S):
    """waitress server for `app`: a declared body above the limit is refused at once (413,
    before any of it is read); a connection silent for `body_timeout` seconds, or whose
    request takes longer than that to arrive, is closed."""
    import waitress

    sockets = {}
    server = waitress.create_server(
        app, map=sockets, host=host, port=port, threads=threads,
        max_request_body_size=MAX_BODY_BYTES + 1,
        channel_timeout=max(1, math.ceil(body_timeout)), cleanup_interval=1,
        clear_untrusted_proxy_headers=True)
    channel = _deadline_channel(body_timeout)
    for listener in list(sockets.values()) + [server]:
        if hasattr(listener, "channel_class"):
            listener.channel_class = channel
    return server


def serve(flag_values) -> list[str]:
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
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
    if not 1 <= f.threads <= 64:
        raise UserError(f"--threads must be in [1, 64], got {f.threads}.")
    if not 0.5 <= f.body_timeout <= 600:
        raise UserError(f"--body_timeout must be in [0.5, 600] seconds, got {f.body_timeout}.")
    service = Service(f.model, f.max_count)
    app = create_app(service)
    try:
        server = create_server(app, f.host, f.port, f.threads, f.body_timeout)
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
    from dcgan_tf.utils.cli import run_command
    from dcgan_tf.flags import define_serve_flags

    run_command("dcgan_tf.serve", define_serve_flags, serve, argv)



if __name__ == "__main__":
    main()
