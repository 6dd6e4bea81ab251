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

from typing import TYPE_CHECKING

import numpy as np

from dcgan_tf.utils.atomic_files import write_outputs
from dcgan_tf.utils.cli import ToolFlags, parse_int_list, run_command
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.labels import one_hot

if TYPE_CHECKING:  # TensorFlow loads after the flags parsed (`--help` answers without it)
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator

MAX_IMAGES = 4096
MODES = ("sample", "interpolate", "arithmetic")


def _check_count(name, value, low=1):
    if value is None or value < low or value > MAX_IMAGES:
        raise UserError(f"--{name} must be between {low} and {MAX_IMAGES}, got {value}.")


def sample(gen: LoadedGenerator, *, num: int, seed: int, truncation=None, tile=True,
           individual=False, labels=None) -> dict[str, bytes]:
    """Unconditional, or conditional with a label vector: `num` images from seeds seed+i.
    Conditional without labels: `num` images per class, one class per row (image j of
    every row from seed+j, so the rows show the same noise in each class)."""
    from dcgan_tf.utils.tiles import encode_png, label_rows, make_tile

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
    from dcgan_tf.models.latent import interpolation_path
    from dcgan_tf.utils.tiles import encode_gif, encode_png, make_tile

    if len(seeds) < 2:
        raise UserError(f"--seeds needs at least two seeds to interpolate, got {list(seeds)}.")
    _check_count("frames", frames, low=2)
    path = interpolation_path(gen.z_for_seeds(seeds, truncation), frames, method)
    images = gen.images(path, labels)
    return {f"interpolation_{method}.png": encode_png(make_tile(images, rows=1)),
            f"interpolation_{method}.gif": encode_gif(images)}


def arithmetic(gen: LoadedGenerator, *, a_seeds, b_seeds, c_seeds, variations=8,
               noise=0.25, seed=0, truncation=None, labels=None) -> dict[str, bytes]:
    """Tile rows: A samples + their mean, B ..., C ..., then result A-B+C and variations."""
    from dcgan_tf.utils.tiles import encode_png, make_tile

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


def run(args) -> list[str]:
    """The files of `python -m dcgan_tf.generate` with the parsed flags `args`."""
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator

    if args.mode not in MODES:
        raise UserError(f"Unknown --mode {args.mode!r}. Expected one of {list(MODES)}.")
    if not args.model:
        raise UserError("--model is required (an export folder or a workdir).")
    if not args.out:
        raise UserError("--out is required (the folder to write images into).")
    if args.truncation is not None and not 0.0 < args.truncation <= 2.0:
        raise UserError(f"--truncation must be in (0, 2], got {args.truncation}.")
    gen = LoadedGenerator(args.model)
    if args.labels and not gen.num_classes:
        raise UserError(f"--labels given, but {args.model!r} is not a conditional generator.")
    if args.mode == "sample":
        labels = gen.labels(args.labels) if args.labels else None
        files = sample(gen, num=args.num, seed=args.seed, truncation=args.truncation,
                       tile=args.tile, individual=args.individual, labels=labels)
    elif args.mode == "interpolate":
        files = interpolate(gen, seeds=list(parse_int_list("seeds", args.seeds)),
                            frames=args.frames, method=args.method, truncation=args.truncation,
                            labels=gen.labels(args.labels))
    else:
        files = arithmetic(gen, a_seeds=list(parse_int_list("a_seeds", args.a_seeds)),
                           b_seeds=list(parse_int_list("b_seeds", args.b_seeds)),
                           c_seeds=list(parse_int_list("c_seeds", args.c_seeds)),
                           variations=args.variations, seed=args.seed,
                           truncation=args.truncation,
                           labels=gen.labels(args.labels))
    if not files:
        raise UserError("Nothing to write: pass --tile or --individual.")
    return write_outputs(files, args.out)


def define_generate_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.generate`."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export.")
    tool.string("out", "", "Folder to write the images into.")
    tool.string("mode", "sample", f"{', '.join(MODES[:-1])} or {MODES[-1]}.")
    tool.integer("num", 64, "sample: how many images.")
    tool.integer("seed", 0, "sample: first seed (image i uses seed + i); arithmetic: seed of "
                 "the variations' noise.")
    tool.boolean("tile", True, "sample: write one tile of all images.")
    tool.boolean("individual", False, "sample: write one PNG per image.")
    tool.string("seeds", "0,1", "interpolate: seeds to pass through, e.g. 3,17,42.")
    tool.integer("frames", 10, "interpolate: images per leg between two seeds.")
    tool.string("method", "slerp", "interpolate: slerp or linear.")
    tool.string("a_seeds", "", "arithmetic: seeds of concept A (averaged).")
    tool.string("b_seeds", "", "arithmetic: seeds of concept B (averaged).")
    tool.string("c_seeds", "", "arithmetic: seeds of concept C (averaged).")
    tool.integer("variations", 8, "arithmetic: noisy variations of A - B + C.")
    tool.float("truncation", None, "Scale z by this factor (temperature), in (0, 2].")
    tool.string("labels", "", "Conditional models: a label vector, one value in [0, 1] per "
                "class, e.g. 0,0,1,0,0,0,0,0,0,0 or mixtures; sample without it: one row per "
                "class.")
    return tool


def main(argv=None):
    """python -m dcgan_tf.generate --model=EXPORT_OR_WORKDIR --out=DIR [...]"""
    run_command("dcgan_tf.generate", define_generate_flags,
                lambda args: [f"Wrote {path}." for path in run(args)], argv)


if __name__ == "__main__":
    main()
