"""Images from a trained generator: seeded samples, latent interpolation, latent arithmetic.

    python -m dcgan_tf.generate --model=EXPORT_OR_WORKDIR --out=DIR [--mode=sample] ...

- sample: `--num` images in all from seeds `--seed`, `--seed`+1, ... (image i always comes
  from seed + i, so the same seed gives the same image), as one tile and/or single PNGs in
  OUT/images/ (zero-padded names; a folder `evaluate --fake` reads as it is, replaced whole
  on every run so no image of an earlier run stays in it).
- interpolate: a path through the z of `--seeds=A,B[,C...]` with `--frames` images per leg,
  `--method=slerp` (spherical, the usual choice for Gaussian z) or `linear`; a strip PNG and
  a GIF.
- arithmetic: the DCGAN paper's vector arithmetic. The z of the seeds of each concept
  (`--a_seeds`, `--b_seeds`, `--c_seeds`) are averaged and combined as A - B + C; the tile
  shows each concept's samples with their average, then the result and variations of it
  (small seeded noise added to the result's z), each image captioned ("A: seed 1", "mean
  of A", "A - B + C", "+ noise 1"; images under 50 px are enlarged so the captions fit).
Conditional generators: `--labels=v0,...,vK-1` (any vector in [0, 1]^K) applies to every
image; `--class=7` (an index or a class name) draws one class, and in `sample` a list
(`--class=7,3`) takes its classes in turn. Without either, `sample` takes every class in
turn (image i has class i mod K, as `evaluate --model` draws them), one class per tile
row, and the other modes use class 0 (their summary line says which class).
- directions: the export's latent directions (`dcgan-tf directions`): one row per
  direction of `--directions` (indices, default the first 8), `--steps` images from
  alpha = -range to +range (z of `--seed` + alpha d), rows named.
`--truncation=t` shortens z: `--truncation_method=resample` (default; components beyond +-t
redrawn inside, the truncated normal of BigGAN) or `scale` (z * t, temperature); see
dcgan_tf.models.latent. Output files are written into a temporary folder and moved into
`--out` only when all of them are complete.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from dcgan_tf.config import TRUNCATION, TRUNCATION_HELP
from dcgan_tf.utils.atomic_files import write_outputs
from dcgan_tf.utils.cli import ToolFlags, parse_int_list, run_command
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.labels import one_hot

if TYPE_CHECKING:  # TensorFlow loads after the flags parsed (`--help` answers without it)
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator

MAX_IMAGES = 4096
MODES = ("sample", "interpolate", "arithmetic", "directions")


def _check_count(name, value, low=1):
    if value is None or value < low or value > MAX_IMAGES:
        raise UserError(f"--{name} must be between {low} and {MAX_IMAGES}, got {value}.")


def parse_classes(text: str, gen: LoadedGenerator) -> list[int] | None:
    """--class text ('7', '7,3', or class names as in classes.json) -> class indices."""
    if not text:
        return None
    if not gen.num_classes:
        raise UserError("--class given, but the model is not a conditional generator.")
    names = [str(n) for n in gen.class_names]
    classes = []
    for item in (part.strip() for part in str(text).split(",")):
        if item in names:  # a name first: names may be numbers ("0".."9" for the digits)
            classes.append(names.index(item))
        elif item.isdigit() and int(item) < gen.num_classes:
            classes.append(int(item))
        else:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise UserError(f"--class {item!r} is not a class of this model: give an index "
                            f"0..{gen.num_classes - 1} or a name ({shown}).")
    return classes


def sample_names(seeds, classes=None, num_classes=0) -> list[str]:
    """Zero-padded file names of individual samples (they sort as the images were drawn):
    images/seed_000012.png, or images/class_7_seed_000012.png with a class per image."""
    width = max(6, len(str(max(seeds))))
    if classes is None:
        return [f"images/seed_{s:0{width}d}.png" for s in seeds]
    k_width = len(str(max(num_classes - 1, 0)))
    return [f"images/class_{k:0{k_width}d}_seed_{s:0{width}d}.png"
            for k, s in zip(classes, seeds, strict=True)]


def sample(gen: LoadedGenerator, *, num: int, seed: int, truncation=None, tile=True,
           individual=False, labels=None, classes=None,
           truncation_method="resample") -> dict[str, bytes]:
    """`num` images in all, image i from seed + i. Unconditional, or conditional with one
    label vector `labels` for all: a square tile. Conditional otherwise: image i has class
    `classes[i % len(classes)]` (default: every class in turn, as evaluate --model draws
    them), tiled one class per row. Individual images go to images/ (file names:
    `sample_names`), a folder `evaluate --fake` reads as it is."""
    from dcgan_tf.utils.tiles import encode_png, label_rows, make_tile

    _check_count("num", num)
    seeds = list(range(seed, seed + num))
    z = gen.z_for_seeds(seeds, truncation, truncation_method)
    files = {}
    if gen.num_classes and labels is None:
        classes = list(range(gen.num_classes)) if classes is None else list(classes)
        per_image = [classes[i % len(classes)] for i in range(num)]
        images = gen.images(z, np.stack([one_hot(k, gen.num_classes) for k in per_image]))
        if tile and len(classes) == 1:
            files["samples.png"] = encode_png(make_tile(images))
        elif tile:  # row r holds images r, r + R, r + 2R, ... (all of one class)
            rows = min(len(classes), num)
            cols = -(-num // rows)
            blank = np.full_like(images[0], 255)
            cells = [images[c * rows + r] if c * rows + r < num else blank
                     for r in range(rows) for c in range(cols)]
            files["samples_by_class.png"] = encode_png(
                label_rows(make_tile(np.stack(cells), rows=rows, cols=cols),
                           [gen.class_names[k] for k in classes[:rows]], images.shape[1]))
        if individual:
            names = sample_names(seeds, per_image, gen.num_classes)
            files.update((n, encode_png(im)) for n, im in zip(names, images, strict=True))
        return files
    images = gen.images(z, labels)
    if tile:
        files["samples.png"] = encode_png(make_tile(images))
    if individual:
        files.update((n, encode_png(im)) for n, im in zip(sample_names(seeds), images,
                                                             strict=True))
    return files


def interpolate(gen: LoadedGenerator, *, seeds, frames: int, method="slerp",
                truncation=None, labels=None, truncation_method="resample") -> dict[str, bytes]:
    from dcgan_tf.models.latent import interpolation_path
    from dcgan_tf.utils.tiles import encode_gif, encode_png, make_tile

    if len(seeds) < 2:
        raise UserError(f"--seeds needs at least two seeds to interpolate, got {list(seeds)}.")
    _check_count("frames", frames, low=2)
    path = interpolation_path(gen.z_for_seeds(seeds, truncation, truncation_method), frames,
                              method)
    images = gen.images(path, labels)
    return {f"interpolation_{method}.png": encode_png(make_tile(images, rows=1)),
            f"interpolation_{method}.gif": encode_gif(images)}


def arithmetic(gen: LoadedGenerator, *, a_seeds, b_seeds, c_seeds, variations=8,
               noise=0.25, seed=0, truncation=None, labels=None,
               truncation_method="resample") -> dict[str, bytes]:
    """Tile rows: A samples + their mean, B ..., C ..., then result A-B+C and variations,
    each cell captioned ("A: seed 1", "mean of A", "A - B + C", "+ noise 1"); unused cells
    stay background."""
    from dcgan_tf.utils.tiles import captioned_tile, encode_png

    for name, seeds in (("a_seeds", a_seeds), ("b_seeds", b_seeds), ("c_seeds", c_seeds)):
        if not seeds:
            raise UserError(f"--{name} needs at least one seed.")
    _check_count("variations", variations, low=0)
    zs = [gen.z_for_seeds(s, truncation, truncation_method)
          for s in (a_seeds, b_seeds, c_seeds)]
    means = [z.mean(axis=0) for z in zs]
    result = means[0] - means[1] + means[2]
    rng = np.random.default_rng(seed)
    variants = result + noise * rng.standard_normal((variations, gen.latent_dim))
    cols = max(max(len(s) for s in (a_seeds, b_seeds, c_seeds)) + 1, variations + 1)
    rows = []
    for z, mean in zip(zs, means, strict=True):
        rows.append(np.concatenate([z, mean[None]]))
    rows.append(np.concatenate([result[None], variants]).astype(np.float32))
    names = [[f"{c}: seed {s}" for s in seeds] + [f"mean of {c}"]
             for c, seeds in zip("ABC", (a_seeds, b_seeds, c_seeds), strict=True)]
    names.append(["A - B + C"] + [f"+ noise {i + 1}" for i in range(variations)])
    cells, captions = [], []
    for row, row_names in zip(rows, names, strict=True):
        images = gen.images(row, labels)
        cells.extend(list(images) + [None] * (cols - len(images)))
        captions.extend(row_names + [""] * (cols - len(row_names)))
    tile = captioned_tile(cells, captions, rows=len(rows), cols=cols)
    return {"arithmetic.png": encode_png(tile)}


def direction_walk(gen: LoadedGenerator, *, which=None, seed=0, steps=7, truncation=None,
                   labels=None, truncation_method="resample") -> dict[str, bytes]:
    """Tile: row r moves the z of `seed` along direction which[r] from alpha = -range to
    +range in `steps` images (the middle one is the seed's own image when steps is odd)."""
    from dcgan_tf.artifacts.latent_directions import read_directions
    from dcgan_tf.utils.tiles import encode_png, label_rows, make_tile

    found = read_directions(gen.path, gen.latent_dim)
    if found is None:
        raise UserError(f"{gen.path!r} has no directions; find them first with dcgan-tf "
                        f"directions --model={gen.path}.")
    which = list(range(min(8, len(found)))) if not which else list(which)
    bad = [k for k in which if not 0 <= k < len(found)]
    if bad:
        raise UserError(f"--directions {bad} out of range: the export has {len(found)} "
                        f"directions (0..{len(found) - 1}).")
    _check_count("steps", steps, low=2)
    z = gen.z_for_seeds([seed], truncation, truncation_method)[0]
    rows = [z + a * found.directions[k] for k in which
            for a in np.linspace(-found.range[k], found.range[k], steps)]
    images = gen.images(np.stack(rows).astype(np.float32), labels)
    tile = make_tile(images, rows=len(which), cols=steps)
    names = [found.names[k] for k in which]
    return {"directions.png": encode_png(label_rows(tile, names, images.shape[1]))}


def _one_class_labels(gen: LoadedGenerator, args, classes):
    """interpolate/arithmetic: (label vector, what the summary says about it)."""
    if not gen.num_classes:
        return None, ""
    if args.labels:
        return gen.labels(args.labels), " (labels --labels)"
    if classes and len(classes) > 1:
        raise UserError(f"--mode={args.mode} uses one class; --class names {len(classes)}.")
    k = classes[0] if classes else 0
    note = "" if classes else "; --class=K for another"
    return one_hot(k, gen.num_classes), f" (class {k} {gen.class_names[k]!r}{note})"


def run(args) -> list[str]:
    """`python -m dcgan_tf.generate` with the parsed flags `args`: writes the files and
    returns the one summary line."""
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator

    if args.mode not in MODES:
        raise UserError(f"Unknown --mode {args.mode!r}. Expected one of {list(MODES)}.")
    if not args.model:
        raise UserError("--model is required (an export folder or a workdir).")
    if not args.out:
        raise UserError("--out is required (the folder to write images into).")
    if args.truncation is not None and not 0.0 < args.truncation <= 2.0:
        raise UserError(f"--truncation must be in (0, 2], got {args.truncation}.")
    method = args.truncation_method
    if method not in TRUNCATION:
        raise UserError(f"--truncation_method must be one of {', '.join(TRUNCATION)}, got "
                        f"{method!r}.")
    gen = LoadedGenerator(args.model)
    if args.labels and not gen.num_classes:
        raise UserError(f"--labels given, but {args.model!r} is not a conditional generator.")
    class_text = getattr(args, "class", "")  # `class` is a Python keyword
    if args.labels and class_text:
        raise UserError("Give --labels or --class, not both.")
    classes = parse_classes(class_text, gen)
    if args.mode == "sample":
        labels = gen.labels(args.labels) if args.labels else None
        files = sample(gen, num=args.num, seed=args.seed, truncation=args.truncation,
                       tile=args.tile, individual=args.individual, labels=labels,
                       classes=classes, truncation_method=method)
        note = ""
    elif args.mode == "interpolate":
        labels, note = _one_class_labels(gen, args, classes)
        files = interpolate(gen, seeds=list(parse_int_list("seeds", args.seeds)),
                            frames=args.frames, method=args.method, truncation=args.truncation,
                            labels=labels, truncation_method=method)
    elif args.mode == "directions":
        labels, note = _one_class_labels(gen, args, classes)
        files = direction_walk(gen, which=parse_int_list("directions", args.directions),
                               seed=args.seed, steps=args.steps, truncation=args.truncation,
                               labels=labels, truncation_method=method)
    else:
        labels, note = _one_class_labels(gen, args, classes)
        files = arithmetic(gen, a_seeds=list(parse_int_list("a_seeds", args.a_seeds)),
                           b_seeds=list(parse_int_list("b_seeds", args.b_seeds)),
                           c_seeds=list(parse_int_list("c_seeds", args.c_seeds)),
                           variations=args.variations, seed=args.seed,
                           truncation=args.truncation, labels=labels,
                           truncation_method=method)
    if not files:
        raise UserError("Nothing to write: pass --tile or --individual.")
    written = write_outputs(files, args.out)
    folder = os.path.join(args.out, "images")
    singles = [p for p in written if os.path.dirname(p) == folder]
    others = [p for p in written if os.path.dirname(p) != folder]
    parts = []
    if singles:
        parts.append(f"{len(singles)} images to {folder}/ (score them with evaluate "
                     f"--fake={folder})")
    if others:
        parts.append(", ".join(others))
    return [f"Wrote {' and '.join(parts)}{note}."]


def define_generate_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.generate`."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export.")
    tool.string("out", "", "Folder to write the images into.")
    tool.string("mode", "sample", f"{', '.join(MODES[:-1])} or {MODES[-1]}.")
    tool.integer("num", 64, "sample: how many images in all (a conditional model's classes "
                 "in turn: image i has class i mod K, or of the --class list).")
    tool.integer("seed", 0, "sample: first seed (image i uses seed + i); arithmetic: seed of "
                 "the variations' noise.")
    tool.boolean("tile", True, "sample: write one tile of all images.")
    tool.boolean("individual", False, "sample: write one PNG per image into OUT/images/ "
                 "(what evaluate --fake=OUT/images reads).")
    tool.string("seeds", "0,1", "interpolate: seeds to pass through, e.g. 3,17,42.")
    tool.integer("frames", 10, "interpolate: images per leg between two seeds.")
    tool.string("method", "slerp", "interpolate: slerp or linear.")
    tool.string("a_seeds", "", "arithmetic: seeds of concept A (averaged).")
    tool.string("b_seeds", "", "arithmetic: seeds of concept B (averaged).")
    tool.string("c_seeds", "", "arithmetic: seeds of concept C (averaged).")
    tool.integer("variations", 8, "arithmetic: noisy variations of A - B + C.")
    tool.float("truncation", None, "Shorten z to this threshold t in (0, 2] "
               "(--truncation_method).")
    tool.string("truncation_method", TRUNCATION[0], TRUNCATION_HELP)
    tool.string("directions", "", "directions: indices of the export's latent directions "
                "(dcgan-tf directions), e.g. 0,1,2; default the first 8.")
    tool.integer("steps", 7, "directions: images per direction, alpha from -range to +range.")
    tool.string("labels", "", "Conditional models: a label vector, one value in [0, 1] per "
                "class, e.g. 0,0,1,0,0,0,0,0,0,0 or mixtures; sample without it: one row per "
                "class.")
    tool.string("class", "", "Conditional models: the class to draw, an index or a name of "
                "classes.json, e.g. 7; sample also takes a list (7,3: classes in turn, one row "
                "each); interpolate and arithmetic use class 0 without it.")
    return tool


def main(argv=None):
    """python -m dcgan_tf.generate --model=EXPORT_OR_WORKDIR --out=DIR [...]"""
    run_command("dcgan_tf.generate", define_generate_flags, run, argv)


if __name__ == "__main__":
    main()
