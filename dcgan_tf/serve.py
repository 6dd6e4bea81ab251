"""The label-slider web app of source 002, for any dcgan_tf export.

    python -m dcgan_tf.serve --model=EXPORT_DIR [--host=127.0.0.1] [--port=8000]

Flask app served by waitress (dcgan_tf.web.server). Routes:

    GET  /               the page: one slider per class (0-1, step 0.001), presets, an
                         interpolation between two labels (A, B and t: the sliders
                         become (1 - t) one-hot(A) + t one-hot(B)), seed, "new noise",
                         count, truncation, "download PNG" (the tile on screen);
                         unconditional models get a latent interpolation slider between
                         two seeds instead of the label controls; every model gets one
                         slider per latent direction when the export has directions.npz
                         (dcgan-tf directions). The controls live in the URL's hash.
    GET  /api/info       image size, channels, classes, latent size, limits, directions
                         (name, method, range of each), truncation_method
    POST /api/generate   JSON {"labels": [K numbers in [0, 1]], "seed": int, "count": int,
                         "seed_b": int, "t": float in [0, 1], "truncation": float in
                         [0.01, 2], "directions": [one alpha per direction],
                         "format": "png" | "json"}
                         -> image/png tile, or JSON {"image": base64 PNG, "width", "height"}

z of image i: the z of seed + i (models/latent.py), truncated at `truncation` by
--truncation_method (resample: truncated normal; scale: z * t); with seed_b and t > 0,
slerp towards seed_b + i's z (truncated the same way); then + sum_k alpha_k d_k.

Every field is validated (dcgan_tf.web.api); a bad request gets a 4xx with
{"error": "..."}; no request value touches the filesystem. Image i of a tile comes from
seed + i (as in dcgan_tf.generate).
"""

from __future__ import annotations

import base64
import math
import threading

import numpy as np

from dcgan_tf.config import TRUNCATION, TRUNCATION_HELP
from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError
from dcgan_tf.web.api import (DEFAULT_MAX_COUNT, MAX_BODY_BYTES, BadRequest, page_info,
                              parse_json_body, parse_request)
from dcgan_tf.web.server import BODY_TIMEOUT_S, create_server


class Service:
    """The loaded generator plus the image logic of the routes (no Flask inside)."""

    def __init__(self, model_path: str, max_count: int = DEFAULT_MAX_COUNT,
                 truncation_method: str = "resample"):
        from dcgan_tf.artifacts.latent_directions import read_directions
        from dcgan_tf.artifacts.saved_generator import LoadedGenerator

        self.gen = LoadedGenerator(model_path)
        self.directions = read_directions(self.gen.path, self.gen.latent_dim)
        self.num_directions = len(self.directions) if self.directions else 0
        self.max_count = max_count
        self.truncation_method = truncation_method
        self._lock = threading.Lock()

    def info(self) -> dict:
        return page_info(image_shape=self.gen.image_shape, num_classes=self.gen.num_classes,
                         class_names=self.gen.class_names, latent_dim=self.gen.latent_dim,
                         max_count=self.max_count, truncation_method=self.truncation_method,
                         directions=self.directions.listing() if self.directions else [])

    def tile_png(self, req: dict) -> tuple[bytes, int, int]:
        from dcgan_tf.models.latent import slerp
        from dcgan_tf.utils.tiles import encode_png, make_tile

        count = req["count"]
        seeds = range(req["seed"], req["seed"] + count)
        z = self.gen.z_for_seeds(seeds, req["truncation"], self.truncation_method)
        if req["seed_b"] is not None and req["t"] > 0.0:
            zb = self.gen.z_for_seeds(range(req["seed_b"], req["seed_b"] + count),
                                      req["truncation"], self.truncation_method)
            z = np.stack([slerp(a, b, req["t"]) for a, b in zip(z, zb)]).astype(np.float32)
        if req.get("directions"):  # after truncation: the sliders move every z alike
            z = z + self.directions.offset(req["directions"])[None]
        with self._lock:  # one model call at a time; requests queue, never interleave
            images = self.gen.images(z, req.get("labels"))
        tile = make_tile(images, cols=math.ceil(math.sqrt(count)))
        return encode_png(tile), tile.shape[1], tile.shape[0]


def page_html() -> str:
    """The page (dcgan_tf/web/index.html, package data: edit it as an HTML file)."""
    from importlib.resources import files

    return files("dcgan_tf.web").joinpath("index.html").read_text(encoding="utf-8")


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
            req = parse_request(body, service.gen.num_classes, service.max_count,
                                service.num_directions)
        except BadRequest as e:
            return jsonify(error=str(e)), 400
        png, width, height = service.tile_png(req)
        if req["format"] == "json":
            return jsonify(image=base64.b64encode(png).decode("ascii"), width=width,
                           height=height, seeds=[req["seed"], req["seed"] + req["count"] - 1])
        return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})

    return app


def serve(args) -> list[str]:
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        raise UserError("The web app needs Flask and waitress: pip install "
                        "'dcgan_tf[serve]'.") from None
    if not args.model:
        raise UserError("--model is required (an export folder or a workdir with an export).")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be in [0, 65535], got {args.port}.")
    if not 1 <= args.max_count <= 1024:
        raise UserError(f"--max_count must be in [1, 1024], got {args.max_count}.")
    if not 1 <= args.threads <= 64:
        raise UserError(f"--threads must be in [1, 64], got {args.threads}.")
    if not 0.5 <= args.body_timeout <= 600:
        raise UserError(f"--body_timeout must be in [0.5, 600] seconds, got "
                        f"{args.body_timeout}.")
    truncation_method = args.truncation_method
    if truncation_method not in TRUNCATION:
        raise UserError(f"--truncation_method must be one of {', '.join(TRUNCATION)}, got "
                        f"{truncation_method!r}.")
    service = Service(args.model, args.max_count, truncation_method)
    app = create_app(service)
    try:
        server = create_server(app, args.host, args.port, args.threads, args.body_timeout)
    except (OSError, ValueError) as e:  # ValueError: waitress cannot resolve --host
        reason = str(getattr(e, "strerror", None) or e).rstrip(".")
        raise UserError(f"Cannot listen on {args.host}:{args.port}: {reason}.") from None
    print(f"Serving {args.model} on http://{args.host}:{server.effective_port}/ "
          "(Ctrl+C stops).", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl+C is the normal way to stop the server
        print("Interrupted.", flush=True)
    finally:
        server.close()
    return ["Stopped."]


def define_serve_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.serve`."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export.")
    tool.string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface; only "
                "do that on a trusted network).")
    tool.integer("port", 8000, "Port to listen on (0: any free port).")
    tool.integer("max_count", DEFAULT_MAX_COUNT, "Most images one request may ask for.")
    tool.integer("threads", 4, "Request threads of the server.")
    tool.string("truncation_method", TRUNCATION[0], TRUNCATION_HELP + " (The page's "
                "truncation slider sets t.)")
    tool.float("body_timeout", BODY_TIMEOUT_S, "Seconds a request may take to arrive (slow "
               "or silent clients are disconnected).")
    return tool


def main(argv=None):
    run_command("dcgan_tf.serve", define_serve_flags, serve, argv)


if __name__ == "__main__":
    main()
