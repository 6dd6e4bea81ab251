"""The request contract of the web app (`python -m dcgan_tf.serve`): what POST
/api/generate accepts, checked field by field before anything reaches the generator.

    body = parse_json_body(raw_bytes)                   # BadRequest: not UTF-8 JSON
    req = parse_request(body, num_classes, max_count)   # BadRequest: a field is wrong

A JSON object with some of FIELDS: "labels" (K numbers in [0, 1], required exactly for a
conditional generator), "seed" and "seed_b" (integers in [0, MAX_SEED]), "count" (1 to
max_count), "t" (in [0, 1]), "truncation" (in [0.01, 2]), "format" ("png" or "json"),
"directions" (one finite number alpha_k in [-MAX_ALPHA, MAX_ALPHA] per direction of the
export's directions.npz: z + sum_k alpha_k d_k). str(BadRequest) is the error message the
client gets back.
"""

from __future__ import annotations

import json
import math

from dcgan_tf.utils.labels import parse_label_vector

MAX_SEED = 2**31 - 1
MAX_BODY_BYTES = 16 * 1024
DEFAULT_MAX_COUNT = 64  # images per tile: serve's --max_count, the in-browser page's limit
MAX_ALPHA = 100.0
FIELDS = {"labels", "seed", "count", "seed_b", "t", "format", "truncation", "directions"}


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


def _directions_field(body, num_directions: int) -> list[float] | None:
    if "directions" not in body:
        return None
    values = body["directions"]
    if not num_directions:
        if values == []:
            return None
        raise BadRequest("This model has no directions (add them with dcgan-tf directions).")
    if (not isinstance(values, list) or len(values) != num_directions or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in values)):
        raise BadRequest(f"directions must be a JSON list of {num_directions} numbers (one "
                         "alpha per direction).")
    values = [float(v) for v in values]
    if not all(math.isfinite(v) and abs(v) <= MAX_ALPHA for v in values):
        raise BadRequest(f"directions must be finite numbers in [-{MAX_ALPHA:g}, "
                         f"{MAX_ALPHA:g}].")
    return values


def parse_request(body, num_classes: int, max_count: int, num_directions: int = 0) -> dict:
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
        "directions": _directions_field(body, num_directions),
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


def page_info(*, image_shape, num_classes: int, class_names, latent_dim: int,
              max_count: int, truncation_method: str, directions: list[dict]) -> dict:
    """What the page's loadInfo() gets (GET /api/info; model.json of the static page):
    image size, classes, latent size, limits, directions ({name, method, range, ...})."""
    shape = list(image_shape or [])
    return {"image_size": shape[0] if shape else None,
            "height": shape[0] if shape else None, "width": shape[1] if shape else None,
            "channels": shape[2] if shape else None,
            "num_classes": num_classes, "class_names": list(class_names),
            "latent_dim": latent_dim, "max_count": max_count,
            "max_seed": MAX_SEED, "truncation_method": truncation_method,
            "directions": directions}


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
