"""Directions in latent space, written into an export for the web app and generate.

    python -m dcgan_tf.directions --model=EXPORT_OR_WORKDIR [--method=sefa,ganspace]
        [--num=10] [--samples=2000] [--seed=0] [--classifier=PATH|digits]

Methods (dcgan_tf.models.directions): sefa (closed form, from the first layer's weight on
z), ganspace (PCA of the first block's activations over --samples z, regressed back to z),
class_means (unconditional models: samples labelled by --classifier, class-mean z minus
the mean z). Writes EXPORT/directions.npz and its entry in export.json
(dcgan_tf.artifacts.latent_directions); a workdir means its export. `dcgan-tf serve` shows
one slider per direction; `dcgan-tf generate --mode=directions` draws them.
"""

from __future__ import annotations

import time

from dcgan_tf.config import DIRECTION_METHODS
from dcgan_tf.utils.cli import ToolFlags, run_command


def run(args) -> list[str]:
    from dcgan_tf.artifacts.latent_directions import find_directions, write_directions
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator
    from dcgan_tf.utils.errors import UserError

    if not args.model:
        raise UserError("--model is required (an export folder or a workdir with an export).")
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    start = time.perf_counter()
    gen = LoadedGenerator(args.model)
    found = find_directions(gen, methods, num=args.num, samples=args.samples, seed=args.seed,
                            classifier=args.classifier)
    path = write_directions(gen.path, found)
    counts = ", ".join(f"{found.method.count(m)} {m}" for m in dict.fromkeys(found.method))
    return [f"Wrote {len(found)} directions ({counts}) to {path} in "
            f"{time.perf_counter() - start:.1f} s; dcgan-tf serve --model={args.model} shows "
            "them as sliders."]


def define_directions_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.directions`."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export (the directions "
                "are written into it).")
    tool.string("method", "sefa,ganspace", f"Comma-separated, some of "
                f"{', '.join(DIRECTION_METHODS)}.")
    tool.integer("num", 10, "Directions per method (at most the latent size).")
    tool.integer("samples", 2000, "ganspace, class_means: how many z to sample.")
    tool.integer("seed", 0, "Seed of the sampled z.")
    tool.string("classifier", "", "class_means: a classifier .keras (python -m "
                "dcgan_tf.evaluate train-classifier) or 'digits'.")
    return tool


def main(argv=None):
    """python -m dcgan_tf.directions --model=EXPORT_OR_WORKDIR [...]"""
    run_command("dcgan_tf.directions", define_directions_flags, run, argv)


if __name__ == "__main__":
    main()
