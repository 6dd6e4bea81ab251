"""Small-data benchmark: the same model trained with and without configs/small_data.cfg's
recipe on datasets of 100-500 images that installed packages ship.

    python tools/bench_small_data.py [--steps 1200] [--seeds 0,1] [--sets lfw100,digits100,...]

Sets: `lfw100` (scikit-image's LFW subset: its 100 face images, 25x25 gray -> 32x32),
`digits100`, `digits200`, `digits500` (seeded subsets of scikit-learn's 1,797 digits,
unconditional). Each run: dcgan64 at 32x32x1, ngf = ndf = 32, BCE, batch 32, `--steps`
generator updates. Reported per set, setting and seed:
- digits: the Fréchet distance in the digits classifier's features (dcgan_tf.evaluate's
  `fd`; the classifier is trained on the 1,797 digits on first use and cached) of 896
  samples of the exported generator against ALL 1,797 digits;
- SWD x 1e3 (mean over pyramid levels) of 896 samples against as many images of the full
  real set (all 1,797 digits; the 100 faces drawn with replacement; SWD is the only
  measure for the unlabelled faces);
- memorisation ratio (dcgan_tf.metrics.memorisation, as dcgan_tf.nearest): median
  nearest-training distance of samples over that of real images outside the training
  subset, in pixels and in the classifier's features (digits only; the 100 faces are all
  used for training);
- the D(x) - D(G(z)) gap in the first and last quarter of training (metrics.jsonl).
Writes the table and a JSON file (`--out`, default bench_small_data.json).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from dcgan_tf.training import trainer  # noqa: E402
from dcgan_tf.config import Config  # noqa: E402
from dcgan_tf.data.digits import load_digits  # noqa: E402
from dcgan_tf.flags import flagfile_values  # noqa: E402
from dcgan_tf.artifacts.saved_generator import LoadedGenerator  # noqa: E402
from dcgan_tf.metrics.classifier import digits_classifier_path  # noqa: E402
from dcgan_tf.metrics.features import ClassifierFeatures  # noqa: E402
from dcgan_tf.metrics.frechet import frechet_distance_of  # noqa: E402
from dcgan_tf.metrics.swd import swd  # noqa: E402
from dcgan_tf.metrics.memorisation import memorisation_report  # noqa: E402
from dcgan_tf.utils.tiles import to_uint8 as _u8  # noqa: E402

# configs/small_data.cfg's flags: the recipe the benchmark measures
RECIPE = flagfile_values(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                      "configs", "small_data.cfg"))
# Settings by name: the two the benchmark compares, and the recipe's parts on their own.
SETTINGS = {
    "plain": {},
    "recipe": RECIPE,
    "diffaugment_all": dict(diffaugment="color,translation,cutout"),
    "ema": dict(ema_decay=0.999),
    "ema_diffaugment_all": dict(ema_decay=0.999, diffaugment="color,translation,cutout"),
    "ema_translation": dict(ema_decay=0.999, diffaugment="translation"),
    "ema_translation_cutout": dict(ema_decay=0.999, diffaugment="translation,cutout"),
}


def datasets(names, seed=0):
    """name -> (training images uint8 [N, 32, 32, 1], full real set in [-1, 1], held-out
    real images in [-1, 1] or None)."""
    out = {}
    digits = load_digits(32)[0]  # [1797, 32, 32, 1] in [-1, 1]
    for name in names:
        if name.startswith("digits"):
            n = int(name[len("digits"):])
            order = np.random.default_rng(seed).permutation(len(digits))
            train = digits[order[:n]]
            out[name] = (_u8(train), digits, digits[order[n:]])
        elif name == "lfw100":
            from skimage.data import lfw_subset
            import tensorflow as tf

            faces = lfw_subset()[:100].astype(np.float32)  # [100, 25, 25] in [0, 1]
            faces = tf.image.resize(faces[..., None], [32, 32], antialias=True).numpy()
            faces = np.clip(faces, 0, 1) * 2.0 - 1.0
            out[name] = (_u8(faces), faces, None)
        else:
            raise SystemExit(f"unknown set {name!r}")
    return out


def run_one(folder, train_u8, steps, seed, setting):
    data = os.path.join(folder, "train.npz")
    np.savez(data, images=train_u8)
    config = Config(data=data, model="dcgan64", resolution=32, channels=1, ngf=32, ndf=32,
                    loss="bce", batch_size=32, train_steps=steps, seed=seed, log_every=10,
                    sample_every=steps, checkpoint_every=steps, progress="none",
                    workdir=os.path.join(folder, "run"), **SETTINGS[setting])
    start = time.perf_counter()
    result = trainer.run(config, out=open(os.devnull, "w"))
    return result, time.perf_counter() - start


def evaluate(workdir, real_full, train, holdout, seed, digits):
    gen = LoadedGenerator(workdir)
    n = 896
    fake_u8 = gen.images(gen.z_for_seeds(range(seed, seed + n)))
    fake = fake_u8.astype(np.float32) / 127.5 - 1
    rng = np.random.default_rng(seed)
    # SWD compares equally large sets: 896 real images, drawn with replacement when the
    # real set is smaller (the 100 faces), so the samples' side is not cut to 100
    real = real_full[rng.permutation(len(real_full))[:n] if len(real_full) >= n
                     else rng.integers(0, len(real_full), n)]
    scores = {"swd": swd(fake, real, seed=seed)["mean"]}
    if digits:  # the evaluation command's Fréchet distance in the digits classifier's features
        extractor = ClassifierFeatures(digits_classifier_path(32))
        real_features = extractor(_u8(real_full))[0]
        scores["fd"] = frechet_distance_of(real_features, extractor(fake_u8)[0])
    if holdout is not None:
        train_f = train.astype(np.float32) / 127.5 - 1.0
        scores["memorisation_ratio"] = memorisation_report(fake, train_f, holdout)["ratio"]
        if digits:
            feats = [extractor(_u8(x))[0] for x in (fake, train_f, holdout)]
            scores["memorisation_ratio_features"] = memorisation_report(*feats)["ratio"]
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    gaps = [r["d_real"] - r["d_fake"] for r in rows]
    q = max(1, len(gaps) // 4)
    scores["gap_first_quarter"] = float(np.mean(gaps[:q]))
    scores["gap_last_quarter"] = float(np.mean(gaps[-q:]))
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--sets", default="lfw100,digits100,digits200,digits500")
    parser.add_argument("--settings", default="plain,recipe",
                        help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--out", default="bench_small_data.json")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = args.settings.split(",")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise SystemExit(f"unknown setting(s) {unknown}; choose from {sorted(SETTINGS)}")
    results = []
    for name, (train, real_full, holdout) in datasets(args.sets.split(",")).items():
        for setting in settings:
            for seed in seeds:
                with tempfile.TemporaryDirectory() as folder:
                    _, seconds = run_one(folder, train, args.steps, seed, setting)
                    scores = evaluate(os.path.join(folder, "run"), real_full, train, holdout,
                                      seed, digits=name.startswith("digits"))
                row = dict(set=name, images=len(train), setting=setting, seed=seed,
                           seconds=round(seconds, 1), **scores)
                results.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{'set':<11}{'setting':<13}{'FD (seeds)':<18}{'FD':>8}  {'SWD (seeds)':<14}"
          f"{'SWD':>7}{'memo px':>8}{'memo ft':>8}{'gap 1st/4':>10}{'gap last/4':>11}")
    for name in args.sets.split(","):
        for setting in settings:
            rows = [r for r in results if r["set"] == name and r["setting"] == setting]
            col = {k: [r.get(k, float("nan")) for r in rows] for k in
                   ("fd", "swd", "memorisation_ratio", "memorisation_ratio_features",
                    "gap_first_quarter", "gap_last_quarter")}
            print(f"{name:<11}{setting:<13}{', '.join(f'{v:.3f}' for v in col['fd']):<18}"
                  f"{np.mean(col['fd']):8.3f}  {', '.join(f'{v:.2f}' for v in col['swd']):<14}"
                  f"{np.mean(col['swd']):7.2f}{np.mean(col['memorisation_ratio']):8.2f}"
                  f"{np.mean(col['memorisation_ratio_features']):8.2f}"
                  f"{np.mean(col['gap_first_quarter']):10.3f}"
                  f"{np.mean(col['gap_last_quarter']):11.3f}")
    with open(args.out, "w") as f:
        json.dump({"steps": args.steps, "seeds": seeds, "settings": settings,
                   "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
