"""Small-data benchmark: the same model trained with and without configs/small_data.cfg's
recipe on datasets of 100-500 images that installed packages ship.

    python tools/bench_small_data.py [--steps 1200] [--seeds 0,1] [--sets lfw100,digits100,...]
        [--subset_seeds 0,1,...] [--settings plain,recipe,...]

Sets: `lfw100` (scikit-image's LFW subset: its 100 face images, 25x25 gray -> 32x32),
`digits100`, `digits200`, `digits500` (seeded subsets of scikit-learn's 1,797 digits,
unconditional; one subset per `--subset_seeds` seed, default 0: the subsets of the earlier
figures; lfw100 is all 100 faces, so it runs once, subset "-"). Each run: dcgan64 at
32x32x1, ngf = ndf = 32, BCE, batch 32, `--steps` generator updates. Reported per set,
subset, setting and training seed:
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
Then, per set and setting, over all (subset, training seed) pairs: the mean FD (SWD for the
faces) and the share of pairs where the setting beats plain (lower FD; SWD for the faces)
on the same subset and seed.
Writes the tables and a JSON file (`--out`, default bench_small_data.json; each result has
its `subset` seed, null for lfw100).
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
    "recipe": RECIPE,  # today the same flags as ema_translation
    "diffaugment_all": dict(diffaugment="color,translation,cutout"),
    "ema": dict(ema_decay=0.999),
    "translation": dict(diffaugment="translation"),
    "ema_diffaugment_all": dict(ema_decay=0.999, diffaugment="color,translation,cutout"),
    "ema_translation": dict(ema_decay=0.999, diffaugment="translation"),
    "ema_translation_cutout": dict(ema_decay=0.999, diffaugment="translation,cutout"),
}


def digits_subset(digits, n, subset_seed):
    """(the `n` training images, the other images) of `digits`, drawn by a permutation
    seeded with `subset_seed` (0: the subsets of the benchmark's earlier figures)."""
    order = np.random.default_rng(subset_seed).permutation(len(digits))
    return digits[order[:n]], digits[order[n:]]


def datasets(names, subset_seeds=(0,)):
    """(name, subset seed) -> (training images uint8 [N, 32, 32, 1], full real set in
    [-1, 1], held-out real images in [-1, 1] or None). A digits set once per subset seed;
    lfw100 (all 100 faces) once, subset seed None."""
    out = {}
    digits = load_digits(32)[0]  # [1797, 32, 32, 1] in [-1, 1]
    for name in names:
        if name.startswith("digits") and name[len("digits"):].isdigit():
            n = int(name[len("digits"):])
            if not 0 < n < len(digits):
                raise SystemExit(f"set {name!r}: between 1 and {len(digits) - 1} digits")
            for subset_seed in subset_seeds:
                train, holdout = digits_subset(digits, n, subset_seed)
                out[name, subset_seed] = (_u8(train), digits, holdout)
        elif name == "lfw100":
            from skimage.data import lfw_subset
            import tensorflow as tf

            faces = lfw_subset()[:100].astype(np.float32)  # [100, 25, 25] in [0, 1]
            faces = tf.image.resize(faces[..., None], [32, 32], antialias=True).numpy()
            faces = np.clip(faces, 0, 1) * 2.0 - 1.0
            out[name, None] = (_u8(faces), faces, None)
        else:
            raise SystemExit(f"unknown set {name!r}")
    return out


def run_one(folder, train_u8, steps, seed, setting, **overrides):
    """Trains the benchmark's model on `train_u8` in `folder`/run; `overrides`: Config
    fields instead of the benchmark's (the tests' small widths)."""
    data = os.path.join(folder, "train.npz")
    np.savez(data, images=train_u8)
    fields = dict(data=data, model="dcgan64", resolution=32, channels=1, ngf=32, ndf=32,
                  loss="bce", batch_size=32, train_steps=steps, seed=seed, log_every=10,
                  sample_every=steps, checkpoint_every=steps, progress="none",
                  workdir=os.path.join(folder, "run"), **SETTINGS[setting])
    config = Config(**{**fields, **overrides})
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


def bench(sets, subset_seeds, settings, seeds, steps, **overrides):
    """Trains and evaluates every (set, subset, setting, training seed): a result dict each,
    also printed as one JSON line on stdout as it comes. `overrides`: as run_one's."""
    results = []
    for (name, subset), (train, real_full, holdout) in datasets(sets, subset_seeds).items():
        for setting in settings:
            for seed in seeds:
                with tempfile.TemporaryDirectory() as folder:
                    _, seconds = run_one(folder, train, steps, seed, setting, **overrides)
                    scores = evaluate(os.path.join(folder, "run"), real_full, train, holdout,
                                      seed, digits=name.startswith("digits"))
                row = dict(set=name, subset=subset, images=len(train), setting=setting,
                           seed=seed, seconds=round(seconds, 1), **scores)
                results.append(row)
                print(json.dumps(row), flush=True)
    return results


def table_lines(results, sets, settings):
    """Per set, subset and setting: each training seed's FD and SWD, and the means."""
    lines = [f"{'set':<11}{'subset':<7}{'setting':<13}{'FD (seeds)':<18}{'FD':>8}  "
             f"{'SWD (seeds)':<14}{'SWD':>7}{'memo px':>8}{'memo ft':>8}{'gap 1st/4':>10}"
             f"{'gap last/4':>11}"]
    for name in sets:
        for subset in dict.fromkeys(r["subset"] for r in results if r["set"] == name):
            for setting in settings:
                rows = [r for r in results if r["set"] == name and r["subset"] == subset
                        and r["setting"] == setting]
                if not rows:
                    continue
                col = {k: [r.get(k, float("nan")) for r in rows] for k in
                       ("fd", "swd", "memorisation_ratio", "memorisation_ratio_features",
                        "gap_first_quarter", "gap_last_quarter")}
                lines.append(
                    f"{name:<11}{'-' if subset is None else subset:<7}{setting:<13}"
                    f"{', '.join(f'{v:.3f}' for v in col['fd']):<18}"
                    f"{np.mean(col['fd']):8.3f}  {', '.join(f'{v:.2f}' for v in col['swd']):<14}"
                    f"{np.mean(col['swd']):7.2f}{np.mean(col['memorisation_ratio']):8.2f}"
                    f"{np.mean(col['memorisation_ratio_features']):8.2f}"
                    f"{np.mean(col['gap_first_quarter']):10.3f}"
                    f"{np.mean(col['gap_last_quarter']):11.3f}")
    return lines


def _score(row):
    """What ranks a run (lower is better): the FD; SWD where there is none (the faces)."""
    return row["fd"] if "fd" in row else row["swd"]


def summary(results, sets, settings):
    """Per set and setting, over all its (subset, training seed) pairs: the mean FD and SWD,
    the mean score (FD; SWD for the faces) against plain's on the same pairs, and the pairs
    where the setting beats plain. [{set, setting, pairs, fd_mean, swd_mean, vs_plain,
    wins, compared}]; vs_plain/wins/compared None without plain runs to compare with."""
    out = []
    for name in sets:
        plain = {(r["subset"], r["seed"]): _score(r) for r in results
                 if r["set"] == name and r["setting"] == "plain"}
        for setting in settings:
            rows = [r for r in results if r["set"] == name and r["setting"] == setting]
            if not rows:
                continue
            paired = [r for r in rows if (r["subset"], r["seed"]) in plain]
            entry = dict(set=name, setting=setting, pairs=len(rows),
                         fd_mean=(float(np.mean([r["fd"] for r in rows]))
                                  if all("fd" in r for r in rows) else None),
                         swd_mean=float(np.mean([r["swd"] for r in rows])),
                         vs_plain=None, wins=None, compared=None)
            if setting != "plain" and paired:
                ours = np.mean([_score(r) for r in paired])
                theirs = np.mean([plain[r["subset"], r["seed"]] for r in paired])
                entry.update(vs_plain=float(ours / theirs - 1.0), compared=len(paired),
                             wins=sum(int(_score(r) < plain[r["subset"], r["seed"]])
                                      for r in paired))
            out.append(entry)
    return out


def summary_lines(entries):
    lines = [f"{'set':<11}{'setting':<23}{'pairs':>6}{'FD mean':>9}{'SWD mean':>9}"
             f"{'vs plain':>10}  beats plain (same subset and seed)"]
    for e in entries:
        vs = "-" if e["vs_plain"] is None else f"{100 * e['vs_plain']:+.1f}%"
        wins = ("-" if e["wins"] is None else
                f"{e['wins']}/{e['compared']} ({e['wins'] / e['compared']:.0%})")
        fd = "-" if e["fd_mean"] is None else f"{e['fd_mean']:.3f}"
        lines.append(f"{e['set']:<11}{e['setting']:<23}{e['pairs']:>6}{fd:>9}"
                     f"{e['swd_mean']:9.2f}{vs:>10}  {wins}")
    return lines


def _ints(text, flag):
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise SystemExit(f"{flag}: a comma list of integers, got {text!r}") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seeds", default="0,1", help="training seeds, comma list")
    parser.add_argument("--subset_seeds", default="0",
                        help="comma list: each digits set is drawn once per seed (0: the "
                        "subsets of the earlier figures); lfw100 runs once")
    parser.add_argument("--sets", default="lfw100,digits100,digits200,digits500")
    parser.add_argument("--settings", default="plain,recipe",
                        help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--out", default="bench_small_data.json")
    args = parser.parse_args()
    seeds = _ints(args.seeds, "--seeds")
    subset_seeds = _ints(args.subset_seeds, "--subset_seeds")
    sets = args.sets.split(",")
    settings = args.settings.split(",")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise SystemExit(f"unknown setting(s) {unknown}; choose from {sorted(SETTINGS)}")
    results = bench(sets, subset_seeds, settings, seeds, args.steps)
    print("\n" + "\n".join(table_lines(results, sets, settings)))
    entries = summary(results, sets, settings)
    print(f"\nOver subsets {args.subset_seeds} x training seeds {args.seeds} (FD; SWD for "
          "lfw100):\n" + "\n".join(summary_lines(entries)))
    with open(args.out, "w") as f:
        json.dump({"steps": args.steps, "seeds": seeds, "subset_seeds": subset_seeds,
                   "settings": settings, "recipe": RECIPE, "results": results,
                   "summary": entries}, f, indent=2)


if __name__ == "__main__":
    main()
