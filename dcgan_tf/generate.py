"""Images from a trained generator: seeded samples, latent interpolation, latent arithmetic.

    python -m dcgan_tf.generate --model=EXPORT_OR_WORKDIR --out=DIR [--mode=sample] ...

- sample: `--num` images from seeds `--seed`, `--seed`+1, ... (image i always comes from
  seed + i, so the same seed gives the same image), as one tile and/or single PNGs.
- interpolate: a path through the z of `--seeds=A,B[,C...]` with `--frames` images per leg,
  `--method=slerp` (spherical, the usual choice for Gaussian z) or `linear`; a strip PNG and
  a GIF.
- arithmetic: the DCGAN paper's vector arithmetic. The z of the seeds of each concept
  (`--a_seeds`, `--b_seeds`, `--c_seeds`) are averaged and combined as A - B + C; the tile
  shows each concept's samples with their average, then the result and variations of it
  (small seeded noise added to the result's z).
Conditional generators: `--labels=v0,...,vK-1` (any vector in [0, 1]^K) applies to every
image; without it, `sample` draws `--num` images per class, one class per row, and the
other modes use class 0.
`--truncation=t` scales z by t (temperature). Output files are written into a temporary
folder and moved into `--out` only when all of them are complete.
"""

from __future__ import annotations

import io
import json
import os
import shutil

import numpy as np
import tensorflow as tf
from PIL import Image

from dcgan_tf.utils.errors import UserError
from dcgan_tf.flags import parse_int_list
from dcgan_tf.utils.atomic_files import temp_dir_beside
from dcgan_tf.utils.labels import one_hot, parse_label_vector
from dcgan_tf.models.latent import get_latent
from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.utils.tiles import encode_png, label_rows, make_tile

MAX_IMAGES = 4096
MODES = ("sample", "interpolate", "arithmetic")


class LoadedGenerator:
    """A generator from an export folder (SavedModel) or a training workdir."""

    def __init__(self, path: str):
        if not os.path.isdir(path):
            raise UserError(f"--model {path!r} is not a folder (an export or a workdir).")
        workdir = Workdir(path)
        export = path if os.path.isfile(os.path.join(path, "saved_model.pb")) else workdir.export
        if not os.path.isfile(os.path.join(export, "saved_model.pb")):
            if workdir.has_run():
                raise UserError(f"Workdir {path!r} has no export yet; run "
                                f"python -m dcgan_tf.export --workdir={path} first.")
            raise UserError(f"{path!r} is neither an export (saved_model.pb) nor a workdir.")
        info_path = os.path.join(export, "export.json")
        if not os.path.isfile(info_path):
            raise UserError(f"{export!r} has no export.json; it was not written by dcgan_tf.")
        with open(info_path) as f:
            info = json.load(f)
        self.latent_dim = int(info["latent_dim"])
        self.num_classes = int(info.get("num_classes", 0))
        self.class_names = info.get("class_names") or [str(i) for i in range(self.num_classes)]
        self.image_shape = list(info.get("image_shape", []))
        self.latent = get_latent(info.get("latent", "normal"))
        try:
            self._serve = tf.saved_model.load(export).signatures["serving_default"]
        except (OSError, ValueError, KeyError, tf.errors.OpError) as e:
            raise UserError(f"Cannot load the SavedModel in {export!r}: {e}") from e

    def z_for_seeds(self, seeds, truncation=None) -> np.ndarray:
        """One z per seed, exactly as dcgan_tf draws it for that integer seed."""
        return np.concatenate([
            self.latent.sample((1, self.latent_dim), int(s), truncation).numpy() for s in seeds
        ]).astype(np.float32)

    def labels(self, text) -> np.ndarray | None:
        """--labels text -> [K] vector (UserError when it does not fit this model)."""
        if text in (None, "") and not self.num_classes:
            return None
        if text in (None, ""):
            return one_hot(0, self.num_classes)
        try:
            return parse_label_vector(text, self.num_classes)
        except ValueError as e:
            raise UserError(f"--labels: {e}") from None

    def images(self, z, labels=None) -> np.ndarray:
        """uint8 [N, H, W, C] for z [N, latent_dim] (and labels [K] or [N, K])."""
        out = []
        z = np.asarray(z, np.float32)
        if self.num_classes:
            labels = np.broadcast_to(np.asarray(labels, np.float32),
                                     (len(z), self.num_classes))
        for start in range(0, len(z), 256):
            args = {"z": tf.constant(z[start:start + 256])}
            if self.num_classes:
                args["labels"] = tf.constant(labels[start:start + 256])
            out.append(self._serve(**args)["images"].numpy())
        return np.concatenate(out)


def slerp(a, b, t):
    """Spherical interpolation between vectors a and b (linear when they are parallel)."""
    a_n, b_n = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(a_n, b_n), -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_path(zs, frames: int, method: str) -> np.ndarray:
    """z along zs[0] -> zs[1] -> ... with `frames` points per leg (ends included once)."""
    if method not in ("slerp", "linear"):
        raise UserError(f"Unknown --method {method!r}. Expected one of ['linear', 'slerp'].")
    path = []
    for i in range(len(zs) - 1):
        for k in range(frames):
            t = k / (frames - 1)
            if i > 0 and k == 0:
                continue  # the joint is the previous leg's last point
            path.append(slerp(zs[i], zs[i + 1], t) if method == "slerp"
                        else (1 - t) * zs[i] + t * zs[i + 1])
    return np.stack(path).astype(np.float32)


def _gif_bytes(images, frame_ms=120) -> bytes:
    frames = [Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im) for im in images]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                   duration=frame_ms, loop=0)
    return buf.getvalue()


def _check_count(name, value, low=1):
    if value is None or value < low or value > MAX_IMAGES:
        raise UserError(f"--{name} must be between {low} and {MAX_IMAGES}, got {value}.")


def sample(gen: LoadedGenerator, *, num: int, seed: int, truncation=None, tile=True,
           individual=False, labels=None) -> dict[str, bytes]:
    """Unconditional, or conditional with a label vector: `num` images from seeds seed+i.
    Conditional without labels: `num` images per class, one class per row (image j of
    every row from seed+j, so the rows show the same noise in each class)."""
    _check_count("num", num)
    seeds = list(range(seed, seed + num))
    z = gen.z_for_seeds(seeds, truncation)
    files = {}
    if gen.num_classes and labels is None:
        if num * gen.num_classes > MAX_IMAGES:
            raise UserError(f"--num x classes must be at most {MAX_IMAGES}, got "
                            f"{num * gen.num_classes}.")
        rows = [gen.images(z, one_hot(k, gen.num_classes)) for k in range(gen.num_classes)]
        if tile:
            files["samples_by_class.png"] = encode_png(
                label_rows(make_tile(np.concatenate(rows), rows=gen.num_classes, cols=num),
                           gen.class_names, rows[0].shape[1]))
        if individual:
            for k, row in enumerate(rows):
                for s, im in zip(seeds, row, strict=True):
                    files[f"class_{k}_seed_{s}.png"] = encode_png(im)
        return files
    images = gen.images(z, labels)
    if tile:
        files["samples.png"] = encode_png(make_tile(images))
    if individual:
        for s, im in zip(seeds, images, strict=True):
            files[f"seed_{s}.png"] = encode_png(im)
    return files


def interpolate(gen: LoadedGenerator, *, seeds, frames: int, method="slerp",
                truncation=None, labels=None) -> dict[str, bytes]:
    if len(seeds) < 2:
        raise UserError(f"--seeds needs at least two seeds to interpolate, got {list(seeds)}.")
    _check_count("frames", frames, low=2)
    path = interpolation_path(gen.z_for_seeds(seeds, truncation), frames, method)
    images = gen.images(path, labels)
    return {f"interpolation_{method}.png": encode_png(make_tile(images, rows=1)),
            f"interpolation_{method}.gif": _gif_bytes(images)}


def arithmetic(gen: LoadedGenerator, *, a_seeds, b_seeds, c_seeds, variations=8,
               noise=0.25, seed=0, truncation=None, labels=None) -> dict[str, bytes]:
    """Tile rows: A samples + their mean, B ..., C ..., then result A-B+C and variations."""
    for name, seeds in (("a_seeds", a_seeds), ("b_seeds", b_seeds), ("c_seeds", c_seeds)):
        if not seeds:
            raise UserError(f"--{name} needs at least one seed.")
    _check_count("variations", variations, low=0)
    zs = [gen.z_for_seeds(s, truncation) for s in (a_seeds, b_seeds, c_seeds)]
    means = [z.mean(axis=0) for z in zs]
    result = means[0] - means[1] + means[2]
    rng = np.random.default_rng(seed)
    variants = result + noise * rng.standard_normal((variations, gen.latent_dim))
    cols = max(max(len(s) for s in (a_seeds, b_seeds, c_seeds)) + 1, variations + 1)
    rows = []
    for z, mean in zip(zs, means, strict=True):
        rows.append(np.concatenate([z, mean[None]]))
    rows.append(np.concatenate([result[None], variants]).astype(np.float32))
    blank = None
    cells = []
    for row in rows:
        images = gen.images(row, labels)
        if blank is None:
            blank = np.zeros_like(images[0])
        cells.extend(list(images) + [blank] * (cols - len(images)))
    tile = make_tile(np.stack(cells), rows=len(rows), cols=cols)
    return {"arithmetic.png": encode_png(tile)}


def write_outputs(files: dict[str, bytes], out: str) -> list[str]:
    """Writes all files into a temporary folder, then moves them into `out`."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out!r} exists and is not a folder.")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise UserError(f"Cannot write to {out!r}: folder {parent!r} does not exist.")
    tmp = temp_dir_beside(os.path.abspath(out))
    try:
        os.makedirs(tmp)
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        os.makedirs(out, exist_ok=True)
        written = []
        for name in files:
            target = os.path.join(out, name)
            os.replace(os.path.join(tmp, name), target)
            written.append(target)
        return written
    except OSError as e:
        raise UserError(f"Cannot write to {out!r}: {e.strerror or e}.") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(flag_values) -> list[str]:
    f = flag_values
    if f.mode not in MODES:
        raise UserError(f"Unknown --mode {f.mode!r}. Expected one of {list(MODES)}.")
    if not f.model:
        raise UserError("--model is required (an export folder or a workdir).")
    if not f.out:
        raise UserError("--out is required (the folder to write images into).")
    if f.truncation is not None and not 0.0 < f.truncation <= 2.0:
        raise UserError(f"--truncation must be in (0, 2], got {f.truncation}.")
    gen = LoadedGenerator(f.model)
    if f.labels and not gen.num_classes:
        raise UserError(f"--labels given, but {f.model!r} is not a conditional generator.")
    if f.mode == "sample":
        labels = gen.labels(f.labels) if f.labels else None
        files = sample(gen, num=f.num, seed=f.seed, truncation=f.truncation, tile=f.tile,
                       individual=f.individual, labels=labels)
    elif f.mode == "interpolate":
        files = interpolate(gen, seeds=list(parse_int_list("seeds", f.seeds)), frames=f.frames,
                            method=f.method, truncation=f.truncation,
                            labels=gen.labels(f.labels))
    else:
        files = arithmetic(gen, a_seeds=list(parse_int_list("a_seeds", f.a_seeds)),
                           b_seeds=list(parse_int_list("b_seeds", f.b_seeds)),
                           c_seeds=list(parse_int_list("c_seeds", f.c_seeds)),
                           variations=f.variations, seed=f.seed, truncation=f.truncation,
                           labels=gen.labels(f.labels))
    if not files:
        raise UserError("Nothing to write: pass --tile or --individual.")
    return write_outputs(files, f.out)


def main(argv=None):
    """python -m dcgan_tf.generate --model=EXPORT_OR_WORKDIR --out=DIR [...]"""
    from dcgan_tf.utils.cli import run_command
    from dcgan_tf.flags import define_generate_flags

    run_command("dcgan_tf.generate", define_generate_flags,
                lambda f: [f"Wrote {path}." for path in run(f)], argv)

if __name__ == "__main__":
    main()
