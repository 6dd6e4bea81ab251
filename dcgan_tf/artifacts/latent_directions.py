"""directions.npz in an export folder: found, written and read here.

    found = find_directions(gen, ["sefa", "ganspace"], num=10)   # gen: LoadedGenerator
    write_directions(gen.path, found)      # directions.npz + export.json "directions"
    found = read_directions(export_path)   # None when the export has none

directions.npz (numpy, no pickles) holds, for K directions in z space:
  directions  float32 [K, latent_dim]  unit vectors; apply as z + alpha * directions[k]
  names       str [K]      "sefa 0", "ganspace 2", "class 7", ...
  method      str [K]      the method that found each (config.DIRECTION_METHODS)
  std         float32 [K]  std of sampled z along the direction (1 for normal z)
  range       float32 [K]  suggested slider half-range for alpha (3 std)
  strength    float32 [K]  sefa: eigenvalue of A^T A; ganspace: explained-variance ratio of
                           its component; class_means: number of samples of the class
export.json gains {"directions": {"file", "methods", "count", "names", "apply", ...}}; an
export with the in-browser page (EXPORT/web) gets them in web/model.json too.
The npz is written under a temporary name and renamed; export.json is rewritten the same
way after it, so a crash leaves the old export.json (which does not name the new file).
The maths: dcgan_tf.models.directions.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile

import numpy as np

from dcgan_tf.artifacts.saved_generator import INFO_FILE, read_keras_networks
from dcgan_tf.artifacts.web_page import refresh_web_directions
from dcgan_tf.config import DIRECTION_METHODS
from dcgan_tf.models import directions as maths
from dcgan_tf.utils.atomic_files import atomic_write_bytes, atomic_write_text
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.progress import Progress

DIRECTIONS_FILE = "directions.npz"
RANGE_STDS = 3.0
APPLY = ("z' = z + sum_k alpha_k * directions[k], after z is drawn and truncated (the seed's "
         "z, then truncation, then the directions); alpha_k in [-range[k], range[k]].")


@dataclasses.dataclass
class LatentDirections:
    directions: np.ndarray  # [K, latent_dim] float32
    names: list[str]
    method: list[str]
    std: np.ndarray  # [K]
    strength: np.ndarray  # [K]
    samples: int = 0
    seed: int = 0

    @property
    def range(self) -> np.ndarray:
        return (RANGE_STDS * self.std).astype(np.float32)

    def __len__(self) -> int:
        return len(self.names)

    def offset(self, alphas) -> np.ndarray:
        """sum_k alpha_k d_k: [latent_dim] float32."""
        return (np.asarray(alphas, np.float64) @ self.directions).astype(np.float32)

    def listing(self, vectors: bool = False) -> list[dict]:
        """The page's sliders (web.api.page_info's "directions"): name, method and range of
        each; with `vectors`, each unit vector too (the in-browser page adds them itself)."""
        rows = []
        for k, (name, method, limit) in enumerate(zip(self.names, self.method, self.range,
                                                      strict=True)):
            row = {"name": name, "method": method, "range": round(float(limit), 4)}
            if vectors:
                row["vector"] = [round(float(v), 7) for v in self.directions[k]]
            rows.append(row)
        return rows


def _keras_generator(gen):
    """The generator.keras of `gen`'s export (the directions read its weights)."""
    return read_keras_networks(gen.path, discriminator=False)[0]


def _sample_z(gen, samples: int, seed: int) -> np.ndarray:
    return gen.latent.sample((samples, gen.latent_dim), seed).numpy().astype(np.float64)


def _classes_of(gen, z, classifier: str) -> tuple[np.ndarray, int, list[str]]:
    from dcgan_tf.metrics.classifier import digits_classifier_path
    from dcgan_tf.metrics.features import ClassifierFeatures

    if classifier in ("digits", "classifier:digits"):
        path = digits_classifier_path(gen.image_shape[0])
    else:
        path = classifier.removeprefix("classifier:")
    model = ClassifierFeatures(path)
    model.check_images(gen.image_shape, "The generator's images")
    images = gen.images(z.astype(np.float32))  # shows its own progress
    probs = model(images)[1]
    if probs.ndim == 3:  # RGB through a one-channel classifier: channel 0's class
        probs = probs[:, 0]
    classes = np.argmax(probs, axis=-1)
    names = [str(n) for n in model.info.get("class_names", range(model.num_classes))]
    return classes, model.num_classes, names


def find_directions(gen, methods, *, num: int = 10, samples: int = 2000, seed: int = 0,
                    classifier: str = "") -> LatentDirections:
    """Directions of the LoadedGenerator `gen` by each of `methods` (config.DIRECTION_METHODS),
    up to `num` per method (and the latent size). GANSpace and class_means sample `samples`
    z from `seed`; class_means labels them with `classifier` (a dcgan_tf classifier .keras
    path, or 'digits') and applies to unconditional models only."""
    methods = list(dict.fromkeys(methods))  # each once, in the order given
    unknown = [m for m in methods if m not in DIRECTION_METHODS]
    if unknown or not methods:
        raise UserError(f"Unknown --method {','.join(unknown) or '(none)'}; expected some of "
                        f"{', '.join(DIRECTION_METHODS)}.")
    if num < 1:
        raise UserError(f"--num must be at least 1, got {num}.")
    num = min(num, gen.latent_dim)  # at most one per latent dimension
    if not 100 <= samples <= 100_000:
        raise UserError(f"--samples must be in [100, 100000], got {samples}.")
    if "class_means" in methods:
        if gen.num_classes:
            raise UserError("class_means: this generator is conditional; its label sliders "
                            "are the class directions (class_means is for unconditional "
                            "models, with --classifier).")
        if not classifier:
            raise UserError("class_means needs --classifier=PATH.keras (python -m "
                            "dcgan_tf.evaluate train-classifier), or --classifier=digits.")
    keras_gen = _keras_generator(gen)
    try:
        return _find(gen, keras_gen, methods, num, samples, seed, classifier)
    except ValueError as e:  # a generator the maths cannot read (models/directions.py)
        raise UserError(f"{gen.path}: {e}") from None


def _find(gen, keras_gen, methods, num, samples, seed, classifier) -> LatentDirections:
    found = []  # (method, directions, strengths, names)
    z = _sample_z(gen, samples, seed)  # ganspace, class_means; and each direction's std
    for method in methods:
        if method == "sefa":
            d, strength = maths.sefa(maths.latent_weight(keras_gen, gen.latent_dim), num)
            found.append((method, d, strength, [f"sefa {i}" for i in range(len(d))]))
        elif method == "ganspace":
            labels = None
            if gen.num_classes:  # one-hot labels of classes drawn uniformly
                rng = np.random.default_rng(seed)
                labels = np.eye(gen.num_classes)[rng.integers(0, gen.num_classes, len(z))]
            features = maths.early_features(keras_gen, gen.latent_dim)
            bar = Progress(len(z), "GANSpace: first-block activations", unit="samples")
            parts = []
            for start in range(0, len(z), 500):
                parts.append(features(z[start:start + 500], None if labels is None
                                      else labels[start:start + 500]))
                bar.update(min(start + 500, len(z)))
            bar.close()
            d, ratio = maths.ganspace(z, np.concatenate(parts), num)
            found.append((method, d, ratio, [f"ganspace {i}" for i in range(len(d))]))
        else:
            classes, k, class_names = _classes_of(gen, z, classifier)
            d, kept, counts = maths.class_mean_directions(z, classes, k)
            d, kept, counts = d[:num], kept[:num], counts[:num]
            found.append((method, d, counts, [f"class {class_names[c]}" for c in kept]))
    if not sum(len(f[1]) for f in found):
        raise UserError(f"No directions found: no class had 10 of the {samples} samples; "
                        "raise --samples.")
    directions = np.concatenate([f[1] for f in found]).astype(np.float32)
    return LatentDirections(
        directions=directions,
        names=[n for f in found for n in f[3]],
        method=[f[0] for f in found for _ in f[3]],
        std=(z @ directions.T.astype(np.float64)).std(axis=0).astype(np.float32),
        strength=np.concatenate([np.asarray(f[2], np.float64) for f in found]).astype(
            np.float32),
        samples=samples, seed=seed)


def write_directions(export_path: str, found: LatentDirections) -> str:
    """Writes EXPORT/directions.npz and the "directions" entry of EXPORT/export.json (each
    atomically, the npz first); returns the npz path."""
    info_path = os.path.join(export_path, INFO_FILE)
    with open(info_path) as f:
        info = json.load(f)
    buffer = io.BytesIO()
    np.savez(buffer, directions=found.directions.astype(np.float32),
             names=np.array(found.names, dtype=str), method=np.array(found.method, dtype=str),
             std=found.std.astype(np.float32), range=found.range,
             strength=found.strength.astype(np.float32))
    path = os.path.join(export_path, DIRECTIONS_FILE)
    try:
        atomic_write_bytes(path, buffer.getvalue())
        methods = list(dict.fromkeys(found.method))
        info["directions"] = {
            "file": DIRECTIONS_FILE, "methods": methods, "count": len(found),
            "names": list(found.names), "apply": APPLY,
            "arrays": "directions [K, latent_dim] unit vectors, names [K], method [K], std "
                      "[K] (of z along each), range [K] (suggested |alpha|, 3 std), "
                      "strength [K] (sefa: eigenvalue; ganspace: explained variance ratio; "
                      "class_means: samples of the class)",
            "samples": found.samples, "seed": found.seed,
        }
        atomic_write_text(info_path, json.dumps(info, indent=2))
        refresh_web_directions(export_path, info, found)  # EXPORT/web's sliders, if any
    except OSError as e:
        raise UserError(f"Cannot write the directions into {export_path!r}: "
                        f"{e.strerror or e}.") from None
    return path


def read_directions(export_path: str, latent_dim: int | None = None) -> LatentDirections | None:
    """The directions of an export, or None when it has none. UserError when the file is
    damaged or does not fit the latent size."""
    path = os.path.join(export_path, DIRECTIONS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            found = LatentDirections(
                directions=np.asarray(data["directions"], np.float32),
                names=[str(n) for n in data["names"]], method=[str(m) for m in data["method"]],
                std=np.asarray(data["std"], np.float32),
                strength=np.asarray(data["strength"], np.float32))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise UserError(f"{path} is damaged ({str(e).splitlines()[0][:120]}); write it again "
                        "with dcgan-tf directions.") from None
    k = len(found.names)
    if (found.directions.ndim != 2 or found.std.shape != (k,) or found.strength.shape != (k,)
            or len(found.directions) != k or len(found.method) != k
            or (latent_dim is not None and found.directions.shape[1] != latent_dim)):
        raise UserError(f"{path} does not fit this export or its arrays disagree "
                        f"(directions {list(found.directions.shape)}, {k} names, "
                        f"{len(found.method)} methods, std {list(found.std.shape)}, strength "
                        f"{list(found.strength.shape)}; latent size {latent_dim}); write it "
                        "again with dcgan-tf directions.")
    return found
