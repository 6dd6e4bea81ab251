"""The memorisation check: does the generator copy its training images?

    python -m dcgan_tf.nearest --model=EXPORT_OR_WORKDIR --data=DATA --out=DIR [--num=1000]

The data (any `--data` the trainer reads, brought to the generator's size) is split once
(seeded) into a training part and a held-out part (`--holdout_fraction`). For `--num`
generated images it finds the nearest training image (RMS pixel distance in [-1, 1]) and
reports the median of those distances next to the median nearest distance of the held-out
real images to the same training part: samples much closer to the training images than
unseen real images are ("ratio" well below 1) are copies. Writes `nearest.png` (pairs of a
sample and its nearest training image, closest pairs first, captioned "generated" and
"nearest real, d = distance") and `nearest.json`.
The same is reported in the evaluation features (`--features`, as in dcgan_tf.evaluate:
the digits classifier for --data=digits, else InceptionV3 when its weights are at hand,
`classifier:PATH` or `none`), where "close" means alike in content rather than in pixels.
The math is dcgan_tf.metrics.memorisation.
"""

from __future__ import annotations

import json

import numpy as np

from dcgan_tf.flags import define_settings
from dcgan_tf.utils.cli import ToolFlags, run_command
from dcgan_tf.utils.errors import UserError


def run(args) -> list[str]:
    from dcgan_tf.artifacts.saved_generator import LoadedGenerator
    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import open_source
    from dcgan_tf.metrics.memorisation import REPORT_FILE, memorisation_report
    from dcgan_tf.utils.atomic_files import write_outputs
    from dcgan_tf.utils.labels import one_hot
    from dcgan_tf.utils.tiles import captioned_tile, encode_png

    if not args.model or not args.data or not args.out:
        raise UserError("--model, --data and --out are required.")
    if not 0.0 < args.holdout_fraction < 1.0:
        raise UserError(f"--holdout_fraction must be in (0, 1), got {args.holdout_fraction}.")
    if not 1 <= args.num <= 100_000:
        raise UserError(f"--num must be in [1, 100000], got {args.num}.")
    gen = LoadedGenerator(args.model)
    size, channels = gen.image_shape[0], gen.image_shape[2]
    source = open_source(args.data, Geometry(size, channels), tfds_split=args.tfds_split,
                         tfds_data_dir=args.tfds_data_dir, cache=True)
    if source.arrays is None:
        raise UserError(f"{args.data!r} is too large to hold in memory for the nearest-image "
                        "search; use a subset.")
    real = source.arrays[0].astype(np.float32) / 127.5 - 1.0
    holdout_n = max(1, int(round(len(real) * args.holdout_fraction)))
    if len(real) - holdout_n < 1:
        raise UserError(f"{args.data!r} has too few images ({len(real)}) to hold some out.")
    order = np.random.default_rng(args.seed).permutation(len(real))
    holdout, train = real[order[:holdout_n]], real[order[holdout_n:]]
    z = gen.z_for_seeds(range(args.seed, args.seed + args.num))
    labels = (np.stack([one_hot(i % gen.num_classes, gen.num_classes)
                        for i in range(args.num)]) if gen.num_classes else None)
    samples = gen.images(z, labels).astype(np.float32) / 127.5 - 1.0
    report = memorisation_report(samples, train, holdout)
    in_features = _feature_report(args, size, samples, train, holdout)
    closest = np.argsort(report["distances"])[:32]
    # Pairs side by side, four to a row: a sample, then its nearest training image with the
    # RMS distance between them.
    pairs = [x for i in closest for x in (samples[i], train[report["nearest"][i]])]
    captions = [x for i in closest
                for x in ("generated", f"nearest real\nd = {report['distances'][i]:.3f}")]
    tile = captioned_tile(pairs, captions, cols=min(8, len(pairs)))
    summary = {k: v for k, v in report.items() if k not in ("distances", "nearest")}
    summary.update(model=args.model, data=args.data, seed=args.seed,
                   distance="RMS pixel, [-1, 1]")
    if in_features is not None:
        summary["features"] = in_features
    written = write_outputs({"nearest.png": encode_png(tile),
                             REPORT_FILE: (json.dumps(summary, indent=2) + "\n").encode()},
                            args.out)
    line = (f"median nearest-training distance: samples {summary['median_sample_to_train']:.4f},"
            f" held-out reals {summary['median_holdout_to_train']:.4f} (ratio "
            f"{summary['ratio']:.2f}; well below 1 means copies)")
    if in_features is not None:
        line += (f"; in {in_features['extractor']}: ratio {in_features['ratio']:.2f}")
    else:
        line += "; no evaluation features (--features=classifier:PATH or --inception_weights)"
    return [line] + [f"Wrote {path}." for path in written]


def _feature_report(args, size, samples, train, holdout) -> dict | None:
    """The memorisation report in the evaluation features, or None when none are at hand."""
    from dcgan_tf.metrics.inputs import feature_extractor
    from dcgan_tf.metrics.memorisation import memorisation_report
    from dcgan_tf.utils.tiles import to_uint8

    extractor = feature_extractor(args.features, args.data, size, args.inception_weights,
                                  required=bool(args.features))
    if extractor is None:
        return None

    from dcgan_tf.utils.progress import Progress

    # Our own progress line on stderr (stdout holds the result): the extractor is fed
    # chunks of at most 4 batches, below the size at which it draws Keras' bar (which
    # writes coloured text to stdout).
    bar = Progress(len(samples) + len(train) + len(holdout), f"Features ({extractor.key})",
                   unit="images")
    chunk = 4 * getattr(extractor, "batch_size", 50)

    def feats(images):
        parts = []
        for i in range(0, len(images), chunk):
            parts.append(extractor(to_uint8(images[i:i + chunk]))[0])
            bar.update(bar.done + len(parts[-1]))
        return np.concatenate(parts)

    report = memorisation_report(feats(samples), feats(train), feats(holdout))
    bar.close()
    out = {k: v for k, v in report.items() if k not in ("distances", "nearest")}
    out["extractor"] = extractor.key
    return out


def define_nearest_flags() -> ToolFlags:
    """Flags of `python -m dcgan_tf.nearest` (the memorisation check)."""
    tool = ToolFlags()
    tool.string("model", "", "An export folder, or a workdir with an export.")
    tool.string("data", "", "The training data (any --data the trainer reads).")
    tool.string("out", "", "Folder for nearest.png and nearest.json.")
    tool.integer("num", 1000, "Generated images to compare.")
    tool.float("holdout_fraction", 0.1, "Share of the data held out as the reference.")
    tool.integer("seed", 0, "Seed of the samples and of the split.")
    tool.string("features", "", "Evaluation features for a second report: classifier:PATH, "
                "inception or none; default the digits classifier for --data=digits, else "
                "InceptionV3 when its weights are at hand.")
    define_settings(tool, "inception_weights", "tfds_split", "tfds_data_dir")
    return tool


def main(argv=None):
    run_command("dcgan_tf.nearest", define_nearest_flags, run, argv)


if __name__ == "__main__":
    main()
