"""Does the generator copy its training images? (the memorisation check)

    python -m dcgan_tf.nearest --model=EXPORT_OR_WORKDIR --data=DATA --out=DIR [--num=1000]

The data (any `--data` the trainer reads, brought to the generator's size) is split once
(seeded) into a training part and a held-out part (`--holdout_fraction`). For `--num`
generated images it finds the nearest training image (RMS pixel distance in [-1, 1]) and
reports the median of those distances next to the median nearest distance of the held-out
real images to the same training part: samples much closer to the training images than
unseen real images are ("ratio" well below 1) are copies. Writes `nearest.png` (pairs of a
sample and its nearest training image, closest pairs first) and `nearest.json`.
The same is reported in the evaluation features (`--features`, as in dcgan_tf.evaluate:
the digits classifier for --data=digits, else InceptionV3 when its weights are at hand,
`classifier:PATH` or `none`), where "close" means alike in content rather than in pixels.
"""

from __future__ import annotations

import json

import numpy as np

from dcgan_tf.utils.errors import UserError


def nearest_distances(queries: np.ndarray, references: np.ndarray,
                      chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """RMS distance from each query to its nearest reference, and that reference's index."""
    q = queries.reshape(len(queries), -1).astype(np.float32)
    r = references.reshape(len(references), -1).astype(np.float32)
    r_sq = np.sum(r * r, axis=1)
    best, index = [], []
    for start in range(0, len(q), chunk):
        block = q[start:start + chunk]
        d2 = np.sum(block * block, axis=1)[:, None] - 2.0 * block @ r.T + r_sq[None, :]
        j = np.argmin(d2, axis=1)
        best.append(np.sqrt(np.maximum(d2[np.arange(len(block)), j], 0.0) / q.shape[1]))
        index.append(j)
    return np.concatenate(best), np.concatenate(index)


def memorisation_report(samples, train, holdout) -> dict:
    """Median nearest-training distances of samples and of held-out reals, and their ratio."""
    sample_d, sample_j = nearest_distances(samples, train)
    holdout_d, _ = nearest_distances(holdout, train)
    median_s, median_h = float(np.median(sample_d)), float(np.median(holdout_d))
    return {"samples": len(samples), "train": len(train), "holdout": len(holdout),
            "median_sample_to_train": median_s, "median_holdout_to_train": median_h,
            "ratio": median_s / median_h if median_h > 0 else float("inf"),
            "distances": sample_d, "nearest": sample_j}


def run(f) -> list[str]:
    from dcgan_tf.data.pipeline import Preprocess, open_source
    from dcgan_tf.generate import LoadedGenerator, write_outputs
    from dcgan_tf.utils.labels import one_hot
    from dcgan_tf.utils.tiles import encode_png, make_tile

    if not f.model or not f.data or not f.out:
        raise UserError("--model, --data and --out are required.")
    if not 0.0 < f.holdout_fraction < 1.0:
        raise UserError(f"--holdout_fraction must be in (0, 1), got {f.holdout_fraction}.")
    if not 1 <= f.num <= 100_000:
        raise UserError(f"--num must be in [1, 100000], got {f.num}.")
    gen = LoadedGenerator(f.model)
    size, channels = gen.image_shape[0], gen.image_shape[2]
    source = open_source(f.data, Preprocess(size, channels), tfds_split=f.tfds_split,
                         tfds_data_dir=f.tfds_data_dir, cache=True)
    if source.arrays is None:
        raise UserError(f"{f.data!r} is too large to hold in memory for the nearest-image "
                        "search; use a subset.")
    real = source.arrays[0].astype(np.float32) / 127.5 - 1.0
    holdout_n = max(1, int(round(len(real) * f.holdout_fraction)))
    if len(real) - holdout_n < 1:
        raise UserError(f"{f.data!r} has too few images ({len(real)}) to hold some out.")
    order = np.random.default_rng(f.seed).permutation(len(real))
    holdout, train = real[order[:holdout_n]], real[order[holdout_n:]]
    z = gen.z_for_seeds(range(f.seed, f.seed + f.num))
    labels = (np.stack([one_hot(i % gen.num_classes, gen.num_classes) for i in range(f.num)])
              if gen.num_classes else None)
    samples = gen.images(z, labels).astype(np.float32) / 127.5 - 1.0
    report = memorisation_report(samples, train, holdout)
    in_features = _feature_report(f, size, samples, train, holdout)
    closest = np.argsort(report["distances"])[:32]
    pairs = np.stack([x for i in closest for x in (samples[i], train[report["nearest"][i]])])
    tile = make_tile(pairs, rows=len(closest) // 4 or 1, cols=8)
    summary = {k: v for k, v in report.items() if k not in ("distances", "nearest")}
    summary.update(model=f.model, data=f.data, seed=f.seed, distance="RMS pixel, [-1, 1]")
    if in_features is not None:
        summary["features"] = in_features
    written = write_outputs({"nearest.png": encode_png(tile),
                             "nearest.json": (json.dumps(summary, indent=2) + "\n").encode()},
                            f.out)
    line = (f"median nearest-training distance: samples {summary['median_sample_to_train']:.4f},"
            f" held-out reals {summary['median_holdout_to_train']:.4f} (ratio "
            f"{summary['ratio']:.2f}; well below 1 means copies)")
    if in_features is not None:
        line += (f"; in {in_features['extractor']}: ratio {in_features['ratio']:.2f}")
    else:
        line += "; no evaluation features (--features=classifier:PATH or --inception_weights)"
    return [line] + [f"Wrote {path}." for path in written]


def _feature_report(f, size, samples, train, holdout) -> dict | None:
    """The memorisation report in the evaluation features, or None when none are at hand."""
    from dcgan_tf.metrics.evaluation import feature_extractor
    from dcgan_tf.utils.tiles import to_uint8

    extractor = feature_extractor(f.features, f.data, size, f.inception_weights,
                                  required=bool(f.features))
    if extractor is None:
        return None

    def feats(images):
        return extractor(to_uint8(images))[0]

    report = memorisation_report(feats(samples), feats(train), feats(holdout))
    out = {k: v for k, v in report.items() if k not in ("distances", "nearest")}
    out["extractor"] = extractor.key
    return out


def main(argv=None):
    from dcgan_tf.utils.cli import run_command
    from dcgan_tf.flags import define_nearest_flags

    run_command("dcgan_tf.nearest", define_nearest_flags, run, argv)


if __name__ == "__main__":
    main()
